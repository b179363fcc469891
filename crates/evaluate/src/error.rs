//! The error type of the evaluate library.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = EvaluateError> = std::result::Result<T, E>;

/// What can go wrong while evaluating, probing or predicting.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// A file could not be read or written (`fs-err` puts the path in the message).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The artifact store or a shared type failed.
    #[error(transparent)]
    Core(#[from] flowcore::CoreError),

    /// The model failed to load or to run.
    #[error(transparent)]
    Bert(#[from] bert::BertError),

    /// Inference or the merge of windows failed.
    #[error(transparent)]
    Infer(#[from] infer::InferError),

    /// Encoding or reading tokenized data failed.
    #[error(transparent)]
    Tokenize(#[from] tokenize::TokenizeError),

    /// A metric or the predictions file failed.
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),

    /// libtorch raised an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),

    /// A JSON file did not parse.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        #[source]
        source: serde_json::Error,
    },

    /// The checkpoint's labels cannot be matched with the data's.
    #[error(
        "the checkpoint's labels ({checkpoint}) do not match the data's ({data}): only in the checkpoint: {only_checkpoint:?}; only in the data: {only_data:?}"
    )]
    LabelMismatch {
        /// Where the checkpoint labels come from (its `config.json`).
        checkpoint: String,
        /// Where the data labels come from (`labels.json`).
        data: String,
        /// Labels the checkpoint has and the data lacks.
        only_checkpoint: Vec<String>,
        /// Labels the data has and the checkpoint lacks.
        only_data: Vec<String>,
    },

    /// A split asked for is not in the tokenize artifact.
    #[error("split `{split}` is not in {dir} (no {file}); splits present: {present:?}")]
    MissingSplit {
        /// The split name.
        split: String,
        /// The artifact directory.
        dir: PathBuf,
        /// The file that was looked for.
        file: String,
        /// The splits that do exist.
        present: Vec<String>,
    },

    /// Inputs that do not fit together (windows vs. labels, ids, lengths).
    #[error("{0}")]
    Invalid(String),
}
