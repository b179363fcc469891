//! BERT and the encoders built like it (RoBERTa, XLM-RoBERTa, CamemBERT, DistilBERT, ELECTRA,
//! DeBERTa-v2/v3 with its disentangled attention in [`deberta`], ModernBERT with rotary positions,
//! GeGLU and local/global attention in [`modernbert`]; see [`Family`]) in `tch`: the encoder and two classification heads, numerically equal to
//! Hugging Face `transformers`, loading and saving HF model directories by weight name.
//!
//! - [`config`]: [`BertConfig`], a serde mirror of HF's `config.json`.
//! - Blocks, bottom-up, each at its HF var-store path: [`embeddings`] → [`attention`] →
//!   [`layer`] (feed-forward, layer, encoder) → [`model`] ([`BertModel`], pooler, [`Inputs`])
//!   → [`heads`] ([`BertForTokenClassification`], [`BertForSequenceClassification`],
//!   [`BertClassifier`]).
//! - [`checkpoint`]: [`load`] / [`save`] of HF directories with a [`LoadReport`].
//! - [`tiny`]: tiny random model directories for tests and benchmarks.
//!
//! ```no_run
//! # fn main() -> Result<(), bert::BertError> {
//! use bert::{Inputs, TaskKind};
//! let labels = vec!["O".to_string(), "B-PER".into(), "I-PER".into()];
//! let (model, _vs, report) = bert::load(
//!     std::path::Path::new("models/all-MiniLM-L6-v2"),
//!     TaskKind::Token,
//!     &labels,
//!     tch::Device::Cpu,
//! )?;
//! assert_eq!(report.new_head, ["classifier.bias", "classifier.weight"]);
//! let ids = tch::Tensor::from_slice2(&[[101i64, 7592, 102]]);
//! let out = model.forward_t(&Inputs::new(ids.shallow_clone(), ids.ones_like()), false)?;
//! assert_eq!(out.logits.size(), [1, 3, 3]);
//! # Ok(()) }
//! ```

pub mod attention;
pub mod autocast;
pub mod checkpoint;
pub mod config;
pub mod deberta;
pub mod embeddings;
pub mod error;
pub mod heads;
mod init;
pub mod layer;
pub mod model;
pub mod modernbert;
pub mod settings;
pub mod tiny;
pub mod torch_ext;

pub use autocast::Autocast;
pub use checkpoint::{ConfigOverrides, LoadReport, load, load_encoder, load_with, save};
pub use config::{BertConfig, Family, HiddenAct, MODEL_TYPES};
pub use error::{BertError, Result};
pub use flowcore::TaskKind;
pub use heads::{
    BertClassifier, BertForSequenceClassification, BertForTokenClassification, ClassifierOutput,
    architecture, architecture_of, task_from_config,
};
pub use init::NO_DECAY_GROUP;
pub use model::{BertModel, EncoderOutput, Inputs};
pub use tiny::{write_random, write_tiny_random};

/// Exclusive use of libtorch's random generator until the guard drops.
///
/// libtorch draws dropout masks and weight initialisations from one process-global generator
/// (tch binds no per-call generator), and [`tch::manual_seed`] reseeds that one generator. A
/// seeded computation is reproducible only if nothing else in the process seeds or draws
/// between its `manual_seed` and its last draw: [`write_tiny_random`], [`load`] (building a
/// model draws initial weights before the checkpoint overwrites them) and the trainer hold
/// this lock over each seeded section, and any other code that seeds or draws while such a
/// section may run in another thread (tests building models in parallel) must hold it as
/// well. The lock is re-entrant within a thread: a section that already holds it (the trainer
/// seeding, then loading a model whose new head draws from that seed) may call [`load`].
pub fn torch_rng_lock() -> TorchRngGuard {
    static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if RNG_HELD.with(|h| h.get()) {
        return TorchRngGuard { guard: None };
    }
    // A panic under the lock leaves no state to repair: every holder reseeds before drawing.
    let guard = TORCH_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    RNG_HELD.with(|h| h.set(true));
    TorchRngGuard { guard: Some(guard) }
}

thread_local! {
    /// Whether this thread holds [`torch_rng_lock`].
    static RNG_HELD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Held use of libtorch's generator (see [`torch_rng_lock`]); released on drop by the
/// outermost guard of the thread.
pub struct TorchRngGuard {
    guard: Option<std::sync::MutexGuard<'static, ()>>,
}

impl Drop for TorchRngGuard {
    fn drop(&mut self) {
        if self.guard.take().is_some() {
            RNG_HELD.with(|h| h.set(false));
        }
    }
}
