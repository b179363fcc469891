//! What the server loads and how it batches and bounds requests.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// The model to serve and how its answers are decided: the same choices as `evaluate
/// predict`'s flags.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Fine-tuned HF checkpoint directory (a train artifact's `checkpoints/best`).
    pub checkpoint: PathBuf,
    /// An evaluate artifact (or its `metrics.json`) whose recorded decision rule is applied:
    /// a binary model's tuned cost threshold, a multi-label model's per-label thresholds, or
    /// the out-of-scope rejection rule.
    pub evaluation: Option<PathBuf>,
    /// Out-of-scope label of the checkpoint, without `evaluation`.
    pub out_of_scope_label: Option<String>,
    /// Rejection threshold, without `evaluation`.
    pub reject_below: Option<f64>,
    /// Most sub-words per window (default: the checkpoint's `encoding.json`, else 128).
    pub max_length: Option<usize>,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// The device the model runs on.
    pub device: tch::Device,
    /// Add the `top_k` most probable labels to sequence results (0: none).
    pub top_k: usize,
    /// The label whose probability ranks candidates (default: the second of two labels).
    pub positive_label: Option<String>,
}

impl ModelSpec {
    /// A spec with `evaluate predict`'s defaults for `checkpoint`, on the CPU.
    pub fn new(checkpoint: impl Into<PathBuf>) -> Self {
        Self {
            checkpoint: checkpoint.into(),
            evaluation: None,
            out_of_scope_label: None,
            reject_below: None,
            max_length: None,
            batch_size: 32,
            device: tch::Device::Cpu,
            top_k: 0,
            positive_label: None,
        }
    }
}

/// Batching and the bounds that keep the server's memory and latency bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// A batch closes once its requests hold this many sub-words (a larger single request
    /// runs alone).
    pub max_batch_tokens: usize,
    /// How long the worker waits for more requests after the first of a batch, in ms. At 0
    /// (the default) a batch is what queued while the previous one ran: no added latency
    /// when idle, batches that grow with the load.
    pub max_wait_ms: u64,
    /// Requests that may wait for the model; beyond that `/predict` answers 503.
    pub queue: usize,
    /// Largest request body, in bytes; beyond that 413.
    pub max_body_bytes: usize,
    /// Time from a request's arrival to its answer, in ms; beyond that 504.
    pub timeout_ms: u64,
    /// How many libtorch threads a batch runs on: `adaptive` (the default) measures both
    /// all threads and one per batch size and takes the faster; `all` never narrows.
    pub batch_threads: BatchThreads,
}

/// How many libtorch threads the model thread gives a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BatchThreads {
    /// All threads or one, whichever has been faster per sub-word for batches of this size
    /// lately (each is re-measured now and then). On an idle machine that is all threads; beside a busy process
    /// one, which waits for no second core (bench-results/serve-threads.md).
    Adaptive,
    /// Always all threads (the answers are then bit-identical to `evaluate predict`).
    All,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_tokens: 16_384,
            max_wait_ms: 0,
            queue: 256,
            max_body_bytes: 1 << 20,
            timeout_ms: 30_000,
            batch_threads: BatchThreads::Adaptive,
        }
    }
}

impl Limits {
    /// The batching wait.
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}
