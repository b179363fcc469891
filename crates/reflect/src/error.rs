//! The error type of the reflect library.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = ReflectError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading inputs or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum ReflectError {
    /// An IO error; `fs-err` puts the path into the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The artifact store refused an input.
    #[error(transparent)]
    Core(#[from] flowcore::CoreError),

    /// A predictions file that the metrics crate could not read or score.
    #[error("{place}")]
    Metrics {
        /// The file or data being processed.
        place: String,
        /// What the metrics crate said.
        #[source]
        source: metrics::MetricsError,
    },

    /// A Parquet or Arrow failure on an input table.
    #[error("{path}: {action}")]
    Table {
        /// The file.
        path: PathBuf,
        /// What we were doing.
        action: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An input whose content breaks what the report needs (names the file and row).
    #[error("{place}: {message}")]
    Invalid {
        /// File (and row or line).
        place: String,
        /// What was expected and found.
        message: String,
    },

    /// A JSON line that does not parse.
    #[error("{path}:{line}: invalid JSON: {source}")]
    JsonLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },

    /// Rendering a plot failed.
    #[error("drawing the {plot} plot: {message}")]
    Plot {
        /// Which plot.
        plot: &'static str,
        /// What plotters said.
        message: String,
    },
}
