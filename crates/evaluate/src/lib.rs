//! The evaluate stage: predictions from a saved checkpoint, merged windows, metric reports,
//! robustness probes, `compare`, and `predict` on new text.
//!
//! Batched inference and the merge of windows into word- or example-level predictions live
//! one level down, in the `infer` crate (re-exported here), which train also uses for its dev
//! metric.
//!
//! - [`labels`]: mapping a checkpoint's label order onto the data's by name.
//! - [`stage`]: [`EvaluateStage`] and [`evaluate_dirs`], which write the predictions,
//!   `metrics.json` and `report.txt` of every split (metrics come from the `metrics` crate).
//! - [`scorer`]: a checkpoint loaded with its labels reconciled with the data's ([`Scorer`]).
//! - [`split_text`]: the words, texts and gold labels of an ingest split, by id.
//! - [`probes`]: robustness probes (case, typo, entity swap, punctuation) on the test split.
//! - [`predict`]: [`Predictor`], labelling raw text lines as JSONL.
//! - [`text`]: punctuation and word splitting with character offsets.

pub mod error;
pub mod labels;
pub mod predict;
pub mod probes;
pub mod scorer;
pub mod split_text;
pub mod stage;
pub mod text;

pub use error::{EvaluateError, Result};
pub use infer::{
    ExampleOutput, InferError, InferOptions, WindowOutput, argmax, infer, merge, predict_windows,
    to_predictions,
};
pub use predict::{InputFormat, Predictor};
pub use probes::Probe;
pub use stage::{
    CheckpointChoice, DeviceChoice, EntityMode, EvaluateParams, EvaluateStage, Evaluated, Scorer,
    Sources, evaluate_dirs,
};
