//! Metrics on label sequences and the predictions format shared by the stages.
//!
//! No libtorch: train (dev metric), evaluate, baseline and reflect all depend on this crate.
//!
//! - [`predictions`]: the `predictions-<split>.parquet` schema, writer and strict reader.
//! - [`entity`]: entity-level precision/recall/F1 equal to seqeval 1.2.2 (default and strict
//!   modes, six tag schemes), its text report, token accuracy.
//! - [`classification`]: scikit-learn's classification report (text and dict), confusion
//!   matrix, accuracy, macro-F1, ROC-AUC, average precision, and cost-weighted error.
//! - [`summary`]: the metric set and text report of one split (`metrics.json`, `report.txt`).
//! - [`multilabel`]: micro / macro / weighted / samples P/R/F1, the multilabel report text,
//!   Hamming loss, subset accuracy, per-label ROC-AUC and AP, thresholds tuned per label.
//! - [`open_set`]: top-k accuracy, most-confused pairs, out-of-scope rejection (CLINC150's
//!   metrics), thresholds chosen on dev, the risk–coverage sweep.
//! - [`calibration`]: temperature scaling — fitted on dev, applied to probabilities.
//! - [`compare`]: differences between two metric sets, like `dvc metrics diff`.
//! - [`numpy`]: sums and formatting in NumPy's and Python's exact order, so our numbers and
//!   reports equal the reference libraries' bit for bit.

pub mod calibration;
pub mod classification;
pub mod compare;
pub mod entity;
pub mod error;
pub mod multilabel;
pub mod numpy;
pub mod open_set;
pub mod predictions;
pub mod ranking;
pub mod report;
pub mod summary;

pub use classification::{
    ClassReport, CostMatrix, CostSummary, CostThreshold, classification_report, tune_cost_threshold,
};
pub use compare::{Comparison, MetricDiff, compare, compare_str};
pub use entity::{EntityReport, Mode, entity_report, token_accuracy};
pub use error::{MetricsError, Result};
pub use predictions::{PredictionRow, Predictions, Sentence};
pub use report::{Prfs, ZeroDivision};
pub use summary::{
    MinCostDecision, MultilabelMetrics, SplitMetrics, Summary, SummaryOptions, ThresholdRecord,
    summarize,
};
