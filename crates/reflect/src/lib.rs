//! The reflect stage: a validation report that says whether to trust a model, and why.
//!
//! Reads the evaluate stage's predictions (with probability vectors) and, when given, a
//! baseline's predictions, the ingest tables and the train history, then computes:
//!
//! - [`stats`]: calibration (ECE, MCE, Brier, NLL, temperature scaling), seeded bootstrap
//!   intervals and paired bootstrap, the exact McNemar test — IO-free and tested against known
//!   values;
//! - [`analysis`]: headline metrics with CIs, word/entity/example calibration, significance
//!   against the baseline, slices, the NER error taxonomy ([`ner`]), confident-learning suspect
//!   labels, robustness-probe flip rates, learning curves ([`history`]);
//! - [`findings`]: a ranked list of what it all means, each with its number, interval,
//!   evidence rows and a suggested action;
//! - [`report`]: `report.html` (self-contained, inline SVG drawn with plotters), `report.md`.
//!
//! Multi-label predictions (several labels per example) are read, analysed, judged and
//! rendered by the `multilabel` module beside each generic one ([`data::multilabel`],
//! [`analysis::multilabel`], [`findings::multilabel`], [`report::multilabel`]): per-label
//! metrics, calibration and errors, co-occurrence errors, bootstrap intervals of micro / macro
//! F1 and the paired comparison with a baseline. Both kinds leave through one report path,
//! [`reflection`], into the same output files.
//!
//! [`ReflectStage`] is the pipeline stage (kind `reflect`); its params are in [`params`];
//! [`headline`] renders the few lines a pipeline prints at the end of a run.

pub mod analysis;
pub mod data;
pub mod error;
pub mod findings;
pub mod history;
pub mod ner;
pub mod params;
pub mod reflection;
pub mod remedies;
pub mod report;
pub mod scores;
pub mod stage;
pub mod stats;

pub use error::{ReflectError, Result};
pub use params::ReflectParams;
pub use stage::{ReflectStage, headline};

/// The multi-label path's public items under the path they had before it was split over
/// [`data`], [`analysis`], [`findings`] and [`report`].
pub mod multilabel {
    pub use crate::analysis::multilabel::{
        BaselineComparison, CooccurrenceError, Counts, Decision, ErrorExample, LabelCalibration,
        LabelDiff, LabelErrors, LabelRow, MultilabelAnalysis, PairRecall, analyze,
    };
    pub use crate::data::multilabel::{Sources, is_multilabel};
    pub use crate::findings::multilabel::*;
    pub use crate::report::multilabel::{SECTIONS, headline_lines, html, markdown};
}
