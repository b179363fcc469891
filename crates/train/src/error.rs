//! The one error type of this crate.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// Everything that can go wrong while preparing, running or checkpointing a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written (`fs-err` puts the path in the message).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A param with a value outside its range, or a combination that cannot work.
    #[error("parameter `{key}`: {message}")]
    Param {
        /// The param's key.
        key: String,
        /// What was expected and what was found.
        message: String,
    },

    /// The training data and the model's head disagree on the labels.
    #[error(
        "labels differ: the data ({data_source}) has {} labels {data:?}, the model ({model_source}) has {} labels {model:?}",
        data.len(),
        model.len()
    )]
    LabelMismatch {
        /// Where the data's labels come from.
        data_source: String,
        /// The data's labels in id order.
        data: Vec<String>,
        /// Where the model's labels come from.
        model_source: String,
        /// The head's `id2label` in id order.
        model: Vec<String>,
    },

    /// The data cannot be trained on (empty split, bad label id, mismatched lengths).
    #[error("{place}: {message}")]
    Data {
        /// File or split and row.
        place: String,
        /// What is wrong.
        message: String,
    },

    /// A JSON file did not parse.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde's error with line and column.
        #[source]
        source: serde_json::Error,
    },

    /// A checkpoint to resume from is incomplete or belongs to another run.
    #[error("{path}: cannot resume: {message}")]
    Resume {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is missing or different.
        message: String,
    },

    /// The loss or the gradient norm became NaN or infinite.
    #[error(
        "non-finite {what} ({value}) at step {step}; training stopped. The last good checkpoint is kept{}. Try a lower learning_rate, more warmup or max_grad_norm",
        kept.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default()
    )]
    NonFinite {
        /// `loss` or `gradient norm`.
        what: &'static str,
        /// The value.
        value: f64,
        /// The optimizer step (1-based) that produced it.
        step: u64,
        /// Where the last good checkpoint was kept.
        kept: Option<PathBuf>,
    },

    /// The run was stopped on purpose after a number of steps ([`crate::RunOptions::abort_after`]).
    #[error("aborted after step {step} as requested")]
    Aborted {
        /// Optimizer steps done.
        step: u64,
    },

    /// A data-parallel run failed: a rank died, hung past the timeout, or diverged.
    #[error("data-parallel training: {0}")]
    Distributed(String),

    /// The run was asked to stop (SIGTERM) and saved a checkpoint to resume from.
    #[error(
        "stopped by a termination signal after step {step}{}; the next run of this stage resumes from it",
        kept.as_ref().map(|p| format!(", checkpoint saved in {}", p.display())).unwrap_or_default()
    )]
    Terminated {
        /// Optimizer steps done.
        step: u64,
        /// Where the checkpoint went.
        kept: Option<PathBuf>,
    },

    /// A monitor (`pipeline improve`'s successive halving) stopped the run at an evaluation
    /// point; a checkpoint to resume from was saved.
    #[error(
        "stopped by its monitor after step {step}: {reason}{}",
        kept.as_ref().map(|p| format!("; checkpoint saved in {}, a full run of the same recipe resumes from it", p.display())).unwrap_or_default()
    )]
    Halted {
        /// Optimizer steps done.
        step: u64,
        /// The monitor's reason.
        reason: String,
        /// Where the checkpoint went.
        kept: Option<PathBuf>,
    },

    /// The device ran out of memory.
    #[error(
        "out of memory with batch_size {batch_size}: {message}. Try batch_size {suggestion} with grad_accum {accum} (same effective batch)"
    )]
    OutOfMemory {
        /// The batch size that failed.
        batch_size: usize,
        /// A smaller one to try.
        suggestion: usize,
        /// The gradient accumulation that keeps the effective batch.
        accum: usize,
        /// libtorch's message.
        message: String,
    },

    /// The model crate failed (loading, forward pass, saving).
    #[error(transparent)]
    Bert(#[from] bert::BertError),

    /// The tokenize artifact could not be read.
    #[error(transparent)]
    Tokenize(#[from] tokenize::TokenizeError),

    /// Dev inference failed.
    #[error(transparent)]
    Infer(#[from] infer::InferError),

    /// The metric code failed.
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),

    /// The artifact store failed.
    #[error(transparent)]
    Core(#[from] flowcore::CoreError),

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

impl TrainError {
    /// Wraps a libtorch error with what we were doing.
    pub(crate) fn torch(context: impl Into<String>) -> impl FnOnce(tch::TchError) -> Self {
        let context = context.into();
        move |source| Self::Torch { context, source }
    }
}
