//! The ingest library's error type: every variant names the file (and line where there is
//! one) and says what was expected, so a user can fix the input without reading our code.

use std::path::PathBuf;

/// Errors of the ingest stage that stop the run (as opposed to counted rejects).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading or writing a file failed (`fs-err` puts the path in the message).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A byte sequence that is not UTF-8 under `encoding = "utf-8"`.
    #[error(
        "{}:{line}: invalid UTF-8 at byte {column} of the line (bytes {bytes}); expected UTF-8 text. \
         If the file uses another encoding, set `encoding` to \"latin1\", \"windows-1252\" or \"auto\"",
        path.display()
    )]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// 1-based byte offset inside the line.
        column: usize,
        /// The offending bytes in hex.
        bytes: String,
    },

    /// A file without a single example.
    #[error("{}: {what}; expected {expected}", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What was found (e.g. "the file is empty").
        what: String,
        /// What the format needs.
        expected: String,
    },

    /// A structural problem at a known line that makes the whole file unreadable.
    #[error("{}:{line}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong and what was expected.
        message: String,
    },

    /// A configured column that the file does not have.
    #[error("{}: column `{column}` (param `{key}`) does not exist; the file has: {available}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The param naming the column.
        key: String,
        /// The column asked for.
        column: String,
        /// The columns present.
        available: String,
    },

    /// Polars failed on a file.
    #[error("{}: {context}", path.display())]
    Polars {
        /// The file (or the output being computed).
        path: PathBuf,
        /// What we were doing.
        context: String,
        /// The polars error.
        #[source]
        source: polars::error::PolarsError,
    },

    /// A bad parameter value discovered while running (e.g. a template naming no column).
    #[error("param `{key}`: {message}")]
    Param {
        /// The dotted key.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },

    /// The codebook file is malformed.
    #[error("{}: {message}", path.display())]
    Codebook {
        /// The codebook file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// Writing a Parquet output failed.
    #[error("writing {}", path.display())]
    Parquet {
        /// The output file.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// Building an Arrow batch failed.
    #[error("building the Arrow batch for {}", path.display())]
    Arrow {
        /// The output file.
        path: PathBuf,
        /// The Arrow error.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// Read = kept + rejected + duplicates does not hold: a bug, never silently accepted.
    #[error(
        "row accounting does not reconcile for `{pool}`: read {read} != kept {kept} + rejected {rejected} + duplicates removed {duplicates}"
    )]
    Accounting {
        /// The split or pool.
        pool: String,
        /// Examples read.
        read: u64,
        /// Examples written.
        kept: u64,
        /// Examples rejected.
        rejected: u64,
        /// Exact duplicates removed.
        duplicates: u64,
    },

    /// Nothing is left to write for a split.
    #[error("split `{split}` has no examples after cleaning ({detail})")]
    EmptySplit {
        /// The split.
        split: String,
        /// Why (counts).
        detail: String,
    },

    /// An error from the shared core (params, label map).
    #[error(transparent)]
    Core(#[from] flowcore::CoreError),
}

/// Result alias of the ingest library.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
