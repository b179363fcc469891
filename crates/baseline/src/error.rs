//! The error type of the baseline stage.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = BaselineError> = std::result::Result<T, E>;

/// What can go wrong while reading the ingest splits or writing the baseline's outputs.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// An IO error; `fs-err` puts the path into the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A Parquet file that cannot be read.
    #[error("{path}: cannot read Parquet")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A column of the wrong type (or one that cannot be converted to the expected one).
    #[error("{path}: column `{column}`: expected {expected}")]
    ColumnType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The expected Arrow type.
        expected: &'static str,
        /// Why the conversion failed.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// A required column is absent.
    #[error("{path}: no column `{column}` ({task} task); columns found: {found}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The task the file was read for.
        task: flowcore::TaskKind,
        /// The columns that are there.
        found: String,
    },

    /// A row that breaks the ingest schema.
    #[error("{path}, row {row}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// Zero-based row number in the file.
        row: usize,
        /// What was expected.
        message: String,
    },

    /// A problem with the training data that makes a model impossible.
    #[error("{0}")]
    Data(String),

    /// From the artifact store (labels.json, params).
    #[error(transparent)]
    Core(#[from] flowcore::CoreError),

    /// From the metrics crate (predictions format, scores).
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
}
