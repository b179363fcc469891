//! The error type of the tokenize library.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = TokenizeError> = std::result::Result<T, E>;

/// The boxed error the `tokenizers` crate returns.
pub type TokenizersError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong while loading a tokenizer, encoding, or reading and writing
/// the Parquet files of the stage.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// An IO error; `fs-err` puts the path into the message.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// An error of the artifact store or a shared type.
    #[error(transparent)]
    Core(#[from] flowcore::CoreError),

    /// No tokenizer file where one was expected.
    #[error(
        "{dir}: no tokenizer found (expected `tokenizer.json`, or `vocab.txt` with `tokenizer_config.json`)"
    )]
    NoTokenizer {
        /// The model directory searched.
        dir: PathBuf,
    },

    /// A tokenizer file that exists but cannot be loaded.
    #[error("{path}: cannot load tokenizer")]
    LoadTokenizer {
        /// The file.
        path: PathBuf,
        /// What `tokenizers` said.
        #[source]
        source: TokenizersError,
    },

    /// A JSON file (config, tokenizer config, encoding options) that does not parse.
    #[error("{path}: invalid JSON")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },

    /// The tokenizer failed on an input.
    #[error("example `{id}`: tokenizer failed")]
    Encode {
        /// The example id.
        id: String,
        /// What `tokenizers` said.
        #[source]
        source: TokenizersError,
    },

    /// Options that cannot work together (e.g. a stride that leaves no room to advance).
    #[error("invalid encoding options: {0}")]
    Options(String),

    /// A gold label missing from the label map.
    #[error("example `{id}`: label `{label}` is not in the label map ({known})")]
    UnknownLabel {
        /// The example id.
        id: String,
        /// The label found.
        label: String,
        /// The labels the map knows, abbreviated.
        known: String,
    },

    /// A Parquet file that cannot be read or written.
    #[error("{path}: {what}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The Parquet error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// An Arrow error while building or casting columns.
    #[error("{path}: {what}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The Arrow error.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// A table without a required column, or with one of an unusable type or value.
    #[error("{path}: {what}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// What was expected.
        what: String,
    },
}
