//! The error type of the metrics crate.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading predictions or computing metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// An IO error; `fs-err` puts the path into the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The Parquet library failed on a file.
    #[error("{path}: {action}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What we were doing (`reading`, `writing`).
        action: &'static str,
        /// What the Parquet library said.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// Arrow failed on a file (building or casting a column).
    #[error("{path}: {action}: {source}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// What we were doing.
        action: String,
        /// What Arrow said.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// A predictions file lacks a column or holds it with the wrong type.
    #[error("{path}: column `{column}`: {problem}")]
    Column {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// What is wrong, with the expected and found type.
        problem: String,
    },

    /// A predictions file or value set that breaks the schema's rules.
    #[error("{place}: {message}")]
    Invalid {
        /// File and row, or the name of the in-memory input.
        place: String,
        /// What was expected and what was found.
        message: String,
    },

    /// Inputs to a metric that do not fit together (lengths, labels, schemes).
    #[error("{0}")]
    Input(String),

    /// A tag that the chosen tag scheme does not allow (strict mode).
    #[error(
        "sentence {sentence}, position {position}: tag `{tag}` is not valid in scheme {scheme}: {why}"
    )]
    Tag {
        /// Index of the sentence (0-based).
        sentence: usize,
        /// Index of the tag inside the sentence (0-based).
        position: usize,
        /// The tag.
        tag: String,
        /// The scheme name.
        scheme: String,
        /// What is wrong.
        why: String,
    },

    /// A metrics JSON document that `compare` cannot read.
    #[error("{what}: invalid metrics JSON: {source}")]
    Json {
        /// Which document (file name or `a`/`b`).
        what: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}
