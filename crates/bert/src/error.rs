//! The one error type of this crate.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = BertError> = std::result::Result<T, E>;

/// Everything that can go wrong while building, loading, running or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    /// A file could not be read or written (`fs-err` puts the path in the message).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A JSON file did not parse or did not have the expected fields.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        #[source]
        source: serde_json::Error,
    },

    /// `config.json` parsed but describes something this crate does not implement.
    #[error("{path}: {message}")]
    Config {
        /// The `config.json` (or a description of where the config came from).
        path: PathBuf,
        /// What is wrong and what was expected.
        message: String,
    },

    /// Neither the caller nor `config.json` named the labels.
    #[error(
        "{path}: no labels: `id2label` is missing and no label list was given (a fine-tuned model's config.json must carry id2label)"
    )]
    MissingLabels {
        /// The `config.json`.
        path: PathBuf,
    },

    /// The directory only has a PyTorch pickle, which cannot be read without Python.
    #[error(
        "{dir}: only pytorch_model.bin found; convert it once to safetensors, e.g.\n  python -c \"from transformers import AutoModel; m = AutoModel.from_pretrained('{dir}'); m.save_pretrained('{dir}', safe_serialization=True)\"\n(use the task's class, e.g. AutoModelForTokenClassification, to keep a fine-tuned head)"
    )]
    PytorchBinOnly {
        /// The model directory.
        dir: PathBuf,
    },

    /// No weight file at all.
    #[error("{dir}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")]
    NoWeights {
        /// The model directory.
        dir: PathBuf,
    },

    /// A safetensors file could not be parsed or written.
    #[error("{path}: safetensors: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The library's error.
        #[source]
        source: safetensors::SafeTensorError,
    },

    /// A checkpoint tensor has a dtype we cannot convert to fp32.
    #[error("{path}: tensor `{name}` has dtype {dtype:?}; expected F32, F16, BF16 or F64")]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor name in the file.
        name: String,
        /// Its dtype.
        dtype: safetensors::Dtype,
    },

    /// Encoder weights are absent from the checkpoint (only a new head may be missing).
    #[error("{dir}: checkpoint lacks {} encoder weight(s): {}", names.len(), names.join(", "))]
    MissingWeights {
        /// The model directory.
        dir: PathBuf,
        /// Missing weight names, as this model names them.
        names: Vec<String>,
    },

    /// A checkpoint tensor's shape differs from the model's (outside the head).
    #[error(
        "{path}: tensor `{name}` has shape {found:?}, the model (from config.json) expects {expected:?}"
    )]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor name in the file.
        name: String,
        /// The model's shape.
        expected: Vec<i64>,
        /// The checkpoint's shape.
        found: Vec<i64>,
    },

    /// The model inputs are inconsistent.
    #[error("bad model input: {0}")]
    Input(String),

    /// libtorch reported an error.
    #[error("{context}: {source}")]
    Torch {
        /// What we were doing.
        context: String,
        /// libtorch's error.
        #[source]
        source: tch::TchError,
    },
}

impl BertError {
    /// Wraps a libtorch error with what we were doing.
    pub(crate) fn torch(context: impl Into<String>) -> impl FnOnce(tch::TchError) -> Self {
        let context = context.into();
        move |source| Self::Torch { context, source }
    }
}
