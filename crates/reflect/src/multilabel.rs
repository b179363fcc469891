//! The reflect stage for multi-label predictions ([`TaskKind::Multilabel`]): several labels
//! per example, one sigmoid probability per label.
//!
//! The generic path ([`crate::analysis`]) scores one label per item; a multi-label split is
//! read here instead, straight from the predictions file (label sets as indicator rows), and
//! analysed per label:
//!
//! - headline metrics (micro / macro / samples F1, Hamming loss, subset accuracy) with
//!   percentile bootstrap intervals over examples; the point estimates are
//!   [`metrics::multilabel::multilabel_report`]'s;
//! - a per-label table: support, P/R/F1, missed (false negatives) and added (false
//!   positives), ROC-AUC / AP, the decision threshold, and the calibration of the label's
//!   probability: ECE over equal-width bins of `p` against the gold indicator, Brier score,
//!   and a temperature fitted on the dev predictions when there are some;
//! - the labels most often missed and added, with the most confident example rows;
//! - co-occurrence errors: gold `A` missed while `B` is added in the same example ("`A` read
//!   as `B`"), and gold pairs the model rarely predicts together;
//! - the paired bootstrap of micro and macro F1 against a baseline's predictions, matched by
//!   example id;
//!
//! then ranked [`Finding`]s and the same four files as the generic path (`report.html`,
//! `report.md`, `findings.json`, `analysis.json`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use flowcore::schema::{self, predictions as pcol};
use flowcore::{Artifact, LabelMap, TaskKind};
use metrics::multilabel::{self as ml, DEFAULT_THRESHOLD};
use metrics::predictions::join_set;
use metrics::{Predictions, ThresholdRecord, ZeroDivision};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::analysis::{CalibrationReport, MetricCi};
use crate::error::{ReflectError, Result};
use crate::findings::{Evidence, Finding, Severity, finding, wilson};
use crate::report::{ci_text, esc, md, plots};
use crate::stage::{ANALYSIS_JSON, FINDINGS_JSON, REPORT_HTML, REPORT_MD, ReflectParams};
use crate::stats::bootstrap::{Bootstrap, Interval, Paired, Units, f1_from_counts};
use crate::stats::calibration::{self, Binning, Temperature};

/// A label whose recall is below this, with at least `min_slice_support` gold cases, is a
/// high-severity finding: the model misses it more often than it finds it.
pub const RECALL_HIGH: f64 = 0.5;
/// A label whose recall is below this (but not below [`RECALL_HIGH`]) is a medium finding.
pub const RECALL_MEDIUM: f64 = 0.7;
/// A label whose precision is below this, with at least `min_slice_support` predictions, is a
/// medium finding: most of its predictions are wrong.
pub const PRECISION_MEDIUM: f64 = 0.5;
/// A label's ECE above this is a medium finding (its probabilities are off by more than ten
/// points on average).
pub const ECE_MEDIUM: f64 = 0.1;
/// A label whose ECE interval lies entirely above this is a high finding.
pub const ECE_HIGH: f64 = 0.2;
/// ROC-AUC at or above this: the probabilities rank the label well, so low recall is a
/// threshold problem rather than a representation problem.
pub const RANKS_WELL: f64 = 0.85;
/// ROC-AUC below this, with at least `min_slice_support` gold cases, is a medium finding: the
/// probabilities barely separate the label from its absence.
pub const RANKING_POOR: f64 = 0.7;
/// A co-occurrence error ("`A` read as `B`") is a finding from this many examples on...
pub const CONFUSION_MIN_COUNT: usize = 5;
/// ...when it is at least this share of `A`'s misses.
pub const CONFUSION_MIN_SHARE: f64 = 0.25;
/// At most this many co-occurrence errors become findings (the most frequent).
pub const CONFUSION_FINDINGS: usize = 5;
/// A gold pair (with at least `min_slice_support` examples) whose joint recall is below
/// this, and below what the two labels' own recalls would give if their errors were
/// independent, is a low finding.
pub const PAIR_RECALL_LOW: f64 = 0.5;
/// A threshold tuned on dev farther than this from 0.5 is a low finding (the label's
/// probabilities are shifted)...
pub const THRESHOLD_FAR: f64 = 0.25;
/// ...and farther than this a medium one.
pub const THRESHOLD_EXTREME: f64 = 0.4;
/// Examples with gold labels but an empty predicted set: this share is a medium finding...
pub const EMPTY_PRED_MEDIUM: f64 = 0.1;
/// ...and this share a low one.
pub const EMPTY_PRED_LOW: f64 = 0.03;
/// A headline interval wider than this (in F1) makes the headline finding medium: smaller
/// differences between models are noise on this split.
pub const WIDE_CI: f64 = 0.10;
/// Significance level of the baseline comparison.
pub const ALPHA: f64 = 0.05;

// ---------------------------------------------------------------------------------------
// Inputs

/// One predictions file as indicator rows.
#[derive(Debug, Clone)]
struct Table {
    path: PathBuf,
    labels: Vec<String>,
    ids: Vec<String>,
    text: Vec<Option<String>>,
    /// `(examples, labels)`.
    gold: Vec<Vec<bool>>,
    /// `(examples, labels)`.
    pred: Vec<Vec<bool>>,
    /// `(examples, labels)`, when every row has probabilities.
    probs: Option<Vec<Vec<f32>>>,
}

fn invalid(place: impl Into<String>, message: String) -> ReflectError {
    ReflectError::Invalid {
        place: place.into(),
        message,
    }
}

impl Table {
    fn read(path: &Path) -> Result<Self> {
        let preds = Predictions::read(path).map_err(|source| ReflectError::Metrics {
            place: format!("reading predictions {}", path.display()),
            source,
        })?;
        Self::from_predictions(path, &preds)
    }

    fn from_predictions(path: &Path, preds: &Predictions) -> Result<Self> {
        let place = path.display().to_string();
        if preds.task != TaskKind::Multilabel {
            return Err(invalid(
                &place,
                format!(
                    "holds {} predictions; the multi-label report needs multilabel ones",
                    preds.task
                ),
            ));
        }
        if preds.rows.is_empty() {
            return Err(invalid(&place, "no examples".into()));
        }
        let indicators = |gold| {
            preds
                .indicators(gold)
                .map_err(|source| ReflectError::Metrics {
                    place: place.clone(),
                    source,
                })
        };
        let (gold, pred) = (indicators(true)?, indicators(false)?);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, r) in preds.rows.iter().enumerate() {
            if let Some(j) = seen.insert(r.id.as_str(), i) {
                return Err(invalid(
                    format!("{place}, row {i}"),
                    format!(
                        "example id `{}` repeats row {j}; multi-label rows are one per example",
                        r.id
                    ),
                ));
            }
            if let Some(p) = r.probs.iter().flatten().find(|p| !(0.0..=1.0).contains(*p)) {
                return Err(invalid(
                    format!("{place}, row {i} (id `{}`)", r.id),
                    format!("probability {p} is not in [0, 1]"),
                ));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            labels: preds.labels.clone(),
            ids: preds.rows.iter().map(|r| r.id.clone()).collect(),
            text: preds.rows.iter().map(|r| r.token.clone()).collect(),
            gold,
            pred,
            probs: preds
                .has_probs()
                .then(|| preds.rows.iter().filter_map(|r| r.probs.clone()).collect()),
        })
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn file_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    fn prob(&self, i: usize, j: usize) -> Option<f64> {
        self.probs.as_ref().map(|p| f64::from(p[i][j]))
    }

    /// The probabilities of label `j` over all examples.
    fn column(&self, j: usize) -> Option<Vec<f64>> {
        self.probs
            .as_ref()
            .map(|p| p.iter().map(|r| f64::from(r[j])).collect())
    }

    /// Label `j`'s gold indicator over all examples.
    fn gold_column(&self, j: usize) -> Vec<bool> {
        self.gold.iter().map(|r| r[j]).collect()
    }

    /// The same table with columns in `labels`' order; an error when the label sets differ.
    fn with_label_order(&self, labels: &[String], other: &Path) -> Result<Self> {
        let mut ours: Vec<&String> = self.labels.iter().collect();
        let mut theirs: Vec<&String> = labels.iter().collect();
        ours.sort();
        theirs.sort();
        if ours != theirs {
            return Err(invalid(
                self.path.display().to_string(),
                format!(
                    "labels {:?} differ from those of {} ({:?})",
                    self.labels,
                    other.display(),
                    labels
                ),
            ));
        }
        let map: Vec<usize> = labels
            .iter()
            .map(|l| self.labels.iter().position(|m| m == l).unwrap_or(0))
            .collect();
        let reorder = |rows: &[Vec<bool>]| -> Vec<Vec<bool>> {
            rows.iter()
                .map(|r| map.iter().map(|&k| r[k]).collect())
                .collect()
        };
        Ok(Self {
            labels: labels.to_vec(),
            gold: reorder(&self.gold),
            pred: reorder(&self.pred),
            probs: self.probs.as_ref().map(|ps| {
                ps.iter()
                    .map(|r| map.iter().map(|&k| r[k]).collect())
                    .collect()
            }),
            ..self.clone()
        })
    }

    /// The rows of `self` in the order of `model`'s ids, columns in its label order; an error
    /// naming both files when the id sets or the gold sets differ.
    fn aligned_to(&self, model: &Table) -> Result<Self> {
        let t = self.with_label_order(&model.labels, &model.path)?;
        let index: HashMap<&str, usize> = t
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let ours: HashSet<&str> = model.ids.iter().map(String::as_str).collect();
        let only_model: Vec<&str> = model
            .ids
            .iter()
            .map(String::as_str)
            .filter(|id| !index.contains_key(id))
            .collect();
        let only_base: Vec<&str> = t
            .ids
            .iter()
            .map(String::as_str)
            .filter(|id| !ours.contains(id))
            .collect();
        if !only_model.is_empty() || !only_base.is_empty() {
            let few = |v: &[&str]| {
                v.iter()
                    .take(5)
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(invalid(
                self.path.display().to_string(),
                format!(
                    "the examples differ from those of {}: {} ids only there ({}), {} only here ({}); the comparison needs the same examples",
                    model.path.display(),
                    only_model.len(),
                    few(&only_model),
                    only_base.len(),
                    few(&only_base)
                ),
            ));
        }
        let order: Vec<usize> = model.ids.iter().map(|id| index[id.as_str()]).collect();
        for (i, &k) in order.iter().enumerate() {
            if t.gold[k] != model.gold[i] {
                return Err(invalid(
                    format!("{}, example `{}`", self.path.display(), model.ids[i]),
                    format!(
                        "gold labels `{}` differ from `{}` in {}",
                        join_set(&model.labels, &t.gold[k]),
                        join_set(&model.labels, &model.gold[i]),
                        model.path.display()
                    ),
                ));
            }
        }
        let pick = |rows: &[Vec<bool>]| -> Vec<Vec<bool>> {
            order.iter().map(|&k| rows[k].clone()).collect()
        };
        Ok(Self {
            path: t.path.clone(),
            labels: t.labels.clone(),
            ids: model.ids.clone(),
            text: order.iter().map(|&k| t.text[k].clone()).collect(),
            gold: pick(&t.gold),
            pred: pick(&t.pred),
            probs: t
                .probs
                .as_ref()
                .map(|p| order.iter().map(|&k| p[k].clone()).collect()),
        })
    }
}

/// The files the multi-label report reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    /// The model's predictions on the reported split.
    pub split: PathBuf,
    /// The model's predictions on the split per-label temperatures are fitted on.
    pub fit: Option<PathBuf>,
    /// A baseline's predictions on the reported split.
    pub baseline: Option<PathBuf>,
    /// The evaluate artifact's `metrics.json` (the decision thresholds).
    pub metrics: Option<PathBuf>,
}

impl Sources {
    /// The files of an evaluate artifact (and optionally a baseline artifact) for `params`.
    pub fn of(
        evaluate: &Artifact,
        baseline: Option<&Artifact>,
        params: &ReflectParams,
    ) -> Result<Self> {
        let split = evaluate.file(&pcol::file(&params.split))?;
        let fit = if params.fit_split.is_empty() || params.fit_split == params.split {
            None
        } else if evaluate.has(&pcol::file(&params.fit_split)) {
            Some(evaluate.file(&pcol::file(&params.fit_split))?)
        } else {
            tracing::warn!(split = %params.fit_split, "evaluate artifact has no predictions for the fit split; per-label temperatures skipped");
            None
        };
        let baseline = match baseline {
            Some(b) if b.has(&pcol::file(&params.split)) => {
                Some(b.file(&pcol::file(&params.split))?)
            }
            Some(b) => {
                tracing::warn!(dir = %b.dir.display(), "baseline artifact has no predictions for the split; comparison skipped");
                None
            }
            None => None,
        };
        let metrics = if evaluate.has(pcol::METRICS_FILE) {
            Some(evaluate.file(pcol::METRICS_FILE)?)
        } else {
            None
        };
        Ok(Self {
            split,
            fit,
            baseline,
            metrics,
        })
    }
}

/// Whether an evaluate artifact holds multi-label predictions (its `labels.json` says so).
pub fn is_multilabel(evaluate: &Artifact) -> Result<bool> {
    if !evaluate.has(schema::LABELS_FILE) {
        return Ok(false);
    }
    let map = LabelMap::read(&evaluate.file(schema::LABELS_FILE)?)?;
    Ok(map.task == TaskKind::Multilabel)
}

/// The decision record of `split` in an evaluate `metrics.json` (`<split>.decision`).
fn read_decision(path: &Path, split: &str, labels: usize) -> Result<Option<ThresholdRecord>> {
    let place = path.display().to_string();
    let doc: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(path)?)
        .map_err(|e| invalid(&place, format!("invalid JSON: {e}")))?;
    let Some(v) = doc.get(split).and_then(|m| m.get("decision")) else {
        return Ok(None);
    };
    let record: ThresholdRecord = serde_json::from_value(v.clone())
        .map_err(|e| invalid(format!("{place}: `{split}.decision`"), e.to_string()))?;
    if record.thresholds.len() != labels {
        return Err(invalid(
            format!("{place}: `{split}.decision.thresholds`"),
            format!("{} thresholds for {labels} labels", record.thresholds.len()),
        ));
    }
    Ok(Some(record))
}

// ---------------------------------------------------------------------------------------
// Analysis results

/// How the predicted label sets were decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The threshold of each label (`p > threshold`), in label order.
    pub thresholds: Vec<f64>,
    /// The split the thresholds were tuned on; `None` for one global threshold.
    pub tuned_on: Option<String>,
    /// Whether the thresholds come from the evaluate artifact's `metrics.json` (otherwise
    /// they are the default 0.5).
    pub recorded: bool,
    /// Label decisions in `pred` that differ from `p > threshold` (`None` without
    /// probabilities).
    pub inconsistent: Option<usize>,
}

/// Example counts behind the headline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Examples without a gold label.
    pub empty_gold: usize,
    /// Examples with an empty predicted set.
    pub empty_pred: usize,
    /// Examples with gold labels but an empty predicted set.
    pub empty_pred_with_gold: usize,
    /// Mean gold labels per example.
    pub mean_gold_labels: f64,
    /// Mean predicted labels per example.
    pub mean_pred_labels: f64,
}

/// One label's row of the per-label table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    /// The label.
    pub label: String,
    /// Examples that have it (gold).
    pub support: usize,
    /// Examples it is predicted for.
    pub predicted: usize,
    /// Examples that have it and get it.
    pub tp: usize,
    /// Gold cases it is not predicted for (false negatives).
    pub missed: usize,
    /// Predictions of it where it is absent (false positives).
    pub added: usize,
    /// `tp / predicted` (0 when never predicted).
    pub precision: f64,
    /// `tp / support` (0 without gold cases).
    pub recall: f64,
    /// F1 (0 when neither predicted nor gold).
    pub f1: f64,
    /// Wilson 95 % interval of the recall.
    pub recall_ci: [f64; 2],
    /// `missed / support`; `None` without gold cases.
    pub miss_rate: Option<f64>,
    /// `added / predicted`: the share of its predictions that are wrong; `None` when never
    /// predicted.
    pub added_share: Option<f64>,
    /// `added / examples without it`.
    pub false_positive_rate: Option<f64>,
    /// `support / examples`.
    pub prevalence: f64,
    /// ROC-AUC of its probability (`None` without probabilities or with one class only).
    pub roc_auc: Option<f64>,
    /// Average precision of its probability.
    pub average_precision: Option<f64>,
    /// Its decision threshold.
    pub threshold: f64,
    /// Mean probability.
    pub mean_prob: Option<f64>,
    /// Equal-width ECE of its probability against its gold indicator.
    pub ece: Option<f64>,
    /// Brier score `mean (p - y)^2`.
    pub brier: Option<f64>,
}

/// An example behind an error count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorExample {
    /// Example id.
    pub id: String,
    /// Its text, when the predictions carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Gold set (`|`-joined).
    pub gold: String,
    /// Predicted set.
    pub pred: String,
    /// Probability of the label in question (the missed one for a co-occurrence error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob: Option<f64>,
    /// Probability of the added label of a co-occurrence error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prob_added: Option<f64>,
}

/// How often a label is missed (or added), with the most confident examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelErrors {
    /// The label.
    pub label: String,
    /// Missed: false negatives; added: false positives.
    pub count: usize,
    /// Missed: its gold cases; added: its predictions.
    pub of: usize,
    /// `count / of` (0 when `of` is 0).
    pub rate: f64,
    /// Missed: lowest probability first; added: highest first.
    pub examples: Vec<ErrorExample>,
}

/// Gold `missed` not predicted while `added` is predicted without being gold, in the same
/// example: "`missed` read as `added`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CooccurrenceError {
    /// The gold label the model missed.
    pub missed: String,
    /// The label it added instead.
    pub added: String,
    /// Examples with both errors.
    pub count: usize,
    /// `count / misses of `missed``.
    pub share_of_missed: f64,
    /// Highest `p(added)` first.
    pub examples: Vec<ErrorExample>,
}

/// Two labels gold together, and how often the model predicts both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRecall {
    /// First label (label order).
    pub a: String,
    /// Second label.
    pub b: String,
    /// Examples with both gold.
    pub together: usize,
    /// Of those, examples where both are predicted.
    pub both_predicted: usize,
    /// `both_predicted / together`.
    pub joint_recall: f64,
    /// `recall(a) * recall(b)` over all examples: the joint recall if the two labels' misses
    /// were independent.
    pub independent: f64,
    /// Ids of examples where not both are predicted.
    pub examples: Vec<String>,
}

/// Calibration of one label's probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelCalibration {
    /// The label.
    pub label: String,
    /// Mean probability.
    pub mean_prob: f64,
    /// Share of examples that have the label.
    pub positive_rate: f64,
    /// Reliability of `p` against the gold indicator (`level` is the label): equal-width ECE
    /// with a bootstrap interval, equal-mass ECE, MCE, Brier `mean (p - y)^2`, binary NLL;
    /// `after` the fitted temperature.
    pub report: CalibrationReport,
    /// Temperature of its logit fitted on the fit split (binary NLL).
    pub temperature: Option<Temperature>,
}

/// One label's F1 for the model and the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelDiff {
    /// The label.
    pub label: String,
    /// The model's F1.
    pub model_f1: f64,
    /// The baseline's F1.
    pub baseline_f1: f64,
}

/// The paired comparison with a baseline on the same examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The baseline's predictions file.
    pub file: String,
    /// Examples compared (all of them: ids must match).
    pub shared: usize,
    /// Paired bootstrap of micro F1, model minus baseline.
    pub micro_f1: Paired,
    /// Paired bootstrap of macro F1, model minus baseline.
    pub macro_f1: Paired,
    /// F1 per label.
    pub per_label: Vec<LabelDiff>,
}

/// Everything the multi-label report computed; written as `analysis.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultilabelAnalysis {
    /// Always [`TaskKind::Multilabel`].
    pub task: TaskKind,
    /// The reported split.
    pub split: String,
    /// Its predictions file.
    pub file: String,
    /// Examples.
    pub examples: usize,
    /// The resampling unit (`example`).
    pub unit: String,
    /// Label names, in column order.
    pub labels: Vec<String>,
    /// Bootstrap settings of every interval.
    pub bootstrap: Bootstrap,
    /// Calibration bins.
    pub bins: usize,
    /// How `pred` was decided.
    pub decision: Decision,
    /// Micro F1, macro F1, samples F1, Hamming loss, subset accuracy, micro precision and
    /// micro recall, with intervals.
    pub headline: Vec<MetricCi>,
    /// Empty sets and set sizes.
    pub counts: Counts,
    /// One row per label, in label order.
    pub per_label: Vec<LabelRow>,
    /// Labels by false negatives, most first.
    pub missed: Vec<LabelErrors>,
    /// Labels by false positives, most first.
    pub added: Vec<LabelErrors>,
    /// "`A` read as `B`" counts, most first.
    pub cooccurrence_errors: Vec<CooccurrenceError>,
    /// Gold pairs, lowest joint recall first.
    pub gold_pairs: Vec<PairRecall>,
    /// Per-label calibration (empty without probabilities).
    pub calibration: Vec<LabelCalibration>,
    /// The split the temperatures were fitted on.
    pub temperature_split: Option<String>,
    /// The comparison with the baseline, when one was given.
    pub baseline: Option<BaselineComparison>,
    /// What was skipped, and why.
    pub notes: Vec<String>,
}

impl MultilabelAnalysis {
    /// The headline metric called `name`.
    pub fn metric(&self, name: &str) -> Option<&Interval> {
        self.headline.iter().find(|m| m.name == name).map(|m| &m.ci)
    }
}

// ---------------------------------------------------------------------------------------
// Statistics

/// The headline statistics, computed from summed per-example columns (see [`units`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    MicroF1,
    MacroF1,
    SamplesF1,
    HammingLoss,
    SubsetAccuracy,
    MicroPrecision,
    MicroRecall,
}

impl Stat {
    const ALL: [Self; 7] = [
        Self::MicroF1,
        Self::MacroF1,
        Self::SamplesF1,
        Self::HammingLoss,
        Self::SubsetAccuracy,
        Self::MicroPrecision,
        Self::MicroRecall,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::MicroF1 => "micro F1",
            Self::MacroF1 => "macro F1",
            Self::SamplesF1 => "samples F1",
            Self::HammingLoss => "Hamming loss",
            Self::SubsetAccuracy => "subset accuracy",
            Self::MicroPrecision => "micro precision",
            Self::MicroRecall => "micro recall",
        }
    }

    /// The statistic of summed columns `s` for `l` labels; scikit-learn's conventions with
    /// `zero_division = 0`.
    fn eval(self, s: &[f64], l: usize) -> f64 {
        let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        let (mut tp, mut pred, mut gold) = (0.0, 0.0, 0.0);
        for j in 0..l {
            tp += s[3 * j];
            pred += s[3 * j + 1];
            gold += s[3 * j + 2];
        }
        let n = s[3 * l + 3];
        match self {
            Self::MicroF1 => f1_from_counts(tp, pred, gold),
            Self::MacroF1 => {
                (0..l)
                    .map(|j| f1_from_counts(s[3 * j], s[3 * j + 1], s[3 * j + 2]))
                    .sum::<f64>()
                    / l as f64
            }
            Self::SamplesF1 => div(s[3 * l], n),
            Self::HammingLoss => div(s[3 * l + 1], n * l as f64),
            Self::SubsetAccuracy => div(s[3 * l + 2], n),
            Self::MicroPrecision => div(tp, pred),
            Self::MicroRecall => div(tp, gold),
        }
    }
}

/// Per-example columns for the bootstrap: `(tp, predicted, gold)` of every label, then the
/// example's F1 (for the samples average), its wrong label decisions, whether its whole set
/// is right, and 1 (the example count). Every headline statistic is a function of their sums.
fn units(gold: &[Vec<bool>], pred: &[Vec<bool>], l: usize) -> Units {
    let f = |b: bool| f64::from(u8::from(b));
    let mut u = Units::new(3 * l + 4);
    let mut row = vec![0.0; 3 * l + 4];
    for (g, p) in gold.iter().zip(pred) {
        let (mut tp, mut np, mut ng, mut wrong) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..l {
            row[3 * j] = f(g[j] && p[j]);
            row[3 * j + 1] = f(p[j]);
            row[3 * j + 2] = f(g[j]);
            tp += row[3 * j];
            np += row[3 * j + 1];
            ng += row[3 * j + 2];
            wrong += f(g[j] != p[j]);
        }
        row[3 * l] = f1_from_counts(tp, np, ng);
        row[3 * l + 1] = wrong;
        row[3 * l + 2] = f(g == p);
        row[3 * l + 3] = 1.0;
        u.push(&row);
    }
    u
}

/// Calls `each` with the unit indices of every resample, drawn exactly as
/// [`Bootstrap::ci`] draws them (same seed, same order), so that an interval computed from
/// these draws equals `Bootstrap::ci`'s; lets one pass serve several statistics.
fn for_each_resample(n: usize, boot: Bootstrap, mut each: impl FnMut(&[usize])) {
    if n == 0 {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(boot.seed);
    let mut idx = vec![0usize; n];
    for _ in 0..boot.resamples {
        for x in &mut idx {
            *x = rng.random_range(0..n);
        }
        each(&idx);
    }
}

/// Intervals of every [`Stat`] over one set of resamples of `u`.
fn headline_intervals(u: &Units, l: usize, boot: Bootstrap) -> Vec<Interval> {
    let total = u.total();
    let mut reps: Vec<Vec<f64>> = vec![Vec::with_capacity(boot.resamples); Stat::ALL.len()];
    let mut sum = vec![0.0; u.dim()];
    for_each_resample(u.len(), boot, |idx| {
        sum.iter_mut().for_each(|s| *s = 0.0);
        for &i in idx {
            for (s, r) in sum.iter_mut().zip(u.row(i)) {
                *s += r;
            }
        }
        for (k, stat) in Stat::ALL.iter().enumerate() {
            let v = stat.eval(&sum, l);
            if v.is_finite() {
                reps[k].push(v);
            }
        }
    });
    Stat::ALL
        .iter()
        .zip(reps)
        .map(|(stat, r)| boot.interval(stat.eval(&total, l), r))
        .collect()
}

/// Equal-width ECE intervals of every label's probability against its gold indicator,
/// resampling examples. An example adds to one bin per label, so a resample costs
/// `examples × labels` rather than `examples × labels × 3 bins` as dense units would (the
/// draws, and so the intervals, are those of `Bootstrap::ci` on [`calibration::ece_stats`]
/// units).
fn ece_intervals(p: &[Vec<f64>], y: &[Vec<bool>], bins: usize, boot: Bootstrap) -> Vec<Interval> {
    let l = p.len();
    let n = p.first().map_or(0, Vec::len);
    let bin: Vec<Vec<usize>> = p
        .iter()
        .map(|c| c.iter().map(|&x| calibration::width_bin(x, bins)).collect())
        .collect();
    let w = 3 * bins;
    let mut stats = vec![0.0; l * w];
    let mut reps: Vec<Vec<f64>> = vec![Vec::with_capacity(boot.resamples); l];
    for_each_resample(n, boot, |idx| {
        stats.iter_mut().for_each(|s| *s = 0.0);
        for &i in idx {
            for j in 0..l {
                let b = j * w + 3 * bin[j][i];
                stats[b] += 1.0;
                stats[b + 1] += p[j][i];
                stats[b + 2] += f64::from(u8::from(y[j][i]));
            }
        }
        for (j, r) in reps.iter_mut().enumerate() {
            r.push(calibration::ece_from_stats(&stats[j * w..(j + 1) * w]));
        }
    });
    (0..l)
        .zip(reps)
        .map(|(j, r)| {
            let est = calibration::ece_from_stats(&calibration::ece_stats(&p[j], &y[j], bins));
            boot.interval(est, r)
        })
        .collect()
}

/// `[ln(1 - p), ln p]`: softmax of these over a temperature is the sigmoid of the logit over
/// it, so the multi-class temperature fit serves a binary probability.
fn binary_logits(p: f64) -> Vec<f64> {
    calibration::logits(&[1.0 - p, p])
}

/// `p` with its logit divided by `t`.
fn scale(p: f64, t: f64) -> f64 {
    calibration::softmax_t(&binary_logits(p), t)[1]
}

/// Reliability of one label's probabilities `p` against gold indicators `y`; `ece` is the
/// interval from [`ece_intervals`].
fn label_reliability(
    label: &str,
    p: &[f64],
    y: &[bool],
    ece: Interval,
    bins: usize,
) -> CalibrationReport {
    let rel = calibration::reliability(p, y, bins, Binning::EqualWidth);
    let n = p.len().max(1) as f64;
    let brier = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2))
        .sum::<f64>()
        / n;
    let pairs: Vec<Vec<f64>> = p.iter().map(|&p| vec![1.0 - p, p]).collect();
    let gold: Vec<usize> = y.iter().map(|&y| usize::from(y)).collect();
    CalibrationReport {
        level: label.to_string(),
        items: p.len(),
        ece,
        ece_mass: calibration::reliability(p, y, bins, Binning::EqualMass).ece,
        mce: rel.mce,
        brier: Some(brier),
        nll: Some(calibration::nll(&pairs, &gold)),
        reliability: rel,
        after: None,
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn share(k: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

// ---------------------------------------------------------------------------------------
// Analysis

/// Read the inputs and run every multi-label analysis on `params.split`.
pub fn analyze(sources: &Sources, params: &ReflectParams) -> Result<MultilabelAnalysis> {
    let model = Table::read(&sources.split)?;
    tracing::info!(split = %params.split, examples = model.len(), labels = model.labels.len(), "read multi-label predictions");
    let mut notes = Vec::new();
    let fit = match &sources.fit {
        Some(path) => match Table::read(path)?.with_label_order(&model.labels, &model.path) {
            Ok(t) if t.probs.is_some() => Some((params.fit_split.clone(), t)),
            Ok(_) => {
                notes.push(format!(
                    "{} has no probabilities: per-label temperatures skipped",
                    path.display()
                ));
                None
            }
            Err(e) => {
                notes.push(format!("per-label temperatures skipped: {e}"));
                None
            }
        },
        None => None,
    };
    let baseline = sources
        .baseline
        .as_deref()
        .map(|p| Table::read(p)?.aligned_to(&model))
        .transpose()?;
    let record = match &sources.metrics {
        Some(path) => read_decision(path, &params.split, model.labels.len())?,
        None => None,
    };
    analyze_tables(
        &model,
        fit.as_ref().map(|(s, t)| (s.as_str(), t)),
        baseline.as_ref(),
        record,
        params,
        notes,
    )
}

fn analyze_tables(
    t: &Table,
    fit: Option<(&str, &Table)>,
    baseline: Option<&Table>,
    record: Option<ThresholdRecord>,
    params: &ReflectParams,
    mut notes: Vec<String>,
) -> Result<MultilabelAnalysis> {
    let boot = params.options().bootstrap;
    let l = t.labels.len();
    let n = t.len();
    let place = t.path.display().to_string();
    let metrics_err = |source| ReflectError::Metrics {
        place: place.clone(),
        source,
    };
    let report = ml::multilabel_report(&t.gold, &t.pred, &t.labels, ZeroDivision::Zero)
        .map_err(metrics_err)?;
    let ranking = match &t.probs {
        Some(p) => Some(ml::label_ranking(&t.gold, p, &t.labels).map_err(metrics_err)?),
        None => {
            notes.push(format!(
                "{} has no probabilities: ranking, calibration and the consistency of the decision skipped",
                t.path.display()
            ));
            None
        }
    };

    // Decision thresholds.
    let recorded = record.is_some();
    let record = record.unwrap_or_else(|| {
        notes.push(format!(
            "no decision thresholds recorded for `{}` (evaluate metrics.json): assuming p > {DEFAULT_THRESHOLD} for every label",
            params.split
        ));
        ThresholdRecord {
            thresholds: vec![DEFAULT_THRESHOLD; l],
            tuned_on: None,
        }
    });
    let inconsistent = t.probs.as_ref().map(|p| {
        ml::decide(p, &record.thresholds)
            .iter()
            .zip(&t.pred)
            .map(|(a, b)| a.iter().zip(b).filter(|(x, y)| x != y).count())
            .sum::<usize>()
    });
    if let Some(k) = inconsistent.filter(|&k| k > 0) {
        notes.push(format!(
            "{k} of {} label decisions in {} differ from p > threshold with the thresholds above: the predictions were decided otherwise",
            n * l,
            t.file_name()
        ));
    }
    let decision = Decision {
        thresholds: record.thresholds.clone(),
        tuned_on: record.tuned_on.clone(),
        recorded,
        inconsistent,
    };

    // Headline.
    let u = units(&t.gold, &t.pred, l);
    let headline: Vec<MetricCi> = Stat::ALL
        .iter()
        .zip(headline_intervals(&u, l, boot))
        .map(|(s, ci)| MetricCi {
            name: s.name().to_string(),
            ci,
        })
        .collect();
    let sizes = |rows: &[Vec<bool>]| -> Vec<usize> {
        rows.iter()
            .map(|r| r.iter().filter(|&&b| b).count())
            .collect()
    };
    let (gs, ps) = (sizes(&t.gold), sizes(&t.pred));
    let counts = Counts {
        empty_gold: gs.iter().filter(|&&k| k == 0).count(),
        empty_pred: ps.iter().filter(|&&k| k == 0).count(),
        empty_pred_with_gold: gs
            .iter()
            .zip(&ps)
            .filter(|&(&g, &p)| g > 0 && p == 0)
            .count(),
        mean_gold_labels: gs.iter().sum::<usize>() as f64 / n as f64,
        mean_pred_labels: ps.iter().sum::<usize>() as f64 / n as f64,
    };

    // Calibration.
    let mut calib = Vec::new();
    let mut temperature_split = None;
    if t.probs.is_some() {
        let cols: Vec<Vec<f64>> = (0..l).filter_map(|j| t.column(j)).collect();
        let ys: Vec<Vec<bool>> = (0..l).map(|j| t.gold_column(j)).collect();
        let temps: Vec<Option<Temperature>> = match fit {
            Some((name, f)) => {
                temperature_split = Some(name.to_string());
                (0..l)
                    .map(|j| {
                        let y = f.gold_column(j);
                        let pos = y.iter().filter(|&&b| b).count();
                        if pos == 0 || pos == y.len() {
                            notes.push(format!(
                                "`{}` is {} in every {name} example: no temperature fitted for it",
                                t.labels[j],
                                if pos == 0 { "absent" } else { "present" }
                            ));
                            return None;
                        }
                        let p = f.column(j).unwrap_or_default();
                        let lg: Vec<Vec<f64>> = p.iter().map(|&p| binary_logits(p)).collect();
                        let g: Vec<usize> = y.iter().map(|&b| usize::from(b)).collect();
                        Some(calibration::fit_temperature(&lg, &g))
                    })
                    .collect()
            }
            None => {
                notes.push(
                    "no dev predictions with probabilities: per-label temperatures skipped".into(),
                );
                vec![None; l]
            }
        };
        let before = ece_intervals(&cols, &ys, params.bins, boot);
        let scaled: Vec<Vec<f64>> = cols
            .iter()
            .zip(&temps)
            .map(|(c, tp)| match tp {
                Some(tp) => c.iter().map(|&p| scale(p, tp.t)).collect(),
                None => c.clone(),
            })
            .collect();
        let after = if temps.iter().any(Option::is_some) {
            ece_intervals(&scaled, &ys, params.bins, boot)
        } else {
            before.clone()
        };
        for j in 0..l {
            let mut report =
                label_reliability(&t.labels[j], &cols[j], &ys[j], before[j], params.bins);
            if temps[j].is_some() {
                report.after = Some(Box::new(label_reliability(
                    &t.labels[j],
                    &scaled[j],
                    &ys[j],
                    after[j],
                    params.bins,
                )));
            }
            calib.push(LabelCalibration {
                label: t.labels[j].clone(),
                mean_prob: cols[j].iter().sum::<f64>() / n as f64,
                positive_rate: share(ys[j].iter().filter(|&&b| b).count(), n),
                report,
                temperature: temps[j],
            });
        }
    }

    // Per-label table.
    let per_label: Vec<LabelRow> = (0..l)
        .map(|j| {
            let s = &report.per_label[j];
            let tp = (0..n).filter(|&i| t.gold[i][j] && t.pred[i][j]).count();
            let support = s.support;
            let predicted = (0..n).filter(|&i| t.pred[i][j]).count();
            let (missed, added) = (support - tp, predicted - tp);
            let rank = ranking.as_ref().map(|r| &r[j]);
            let cal = calib.get(j);
            LabelRow {
                label: t.labels[j].clone(),
                support,
                predicted,
                tp,
                missed,
                added,
                precision: s.precision,
                recall: s.recall,
                f1: s.f1,
                recall_ci: wilson(tp, support),
                miss_rate: (support > 0).then(|| share(missed, support)),
                added_share: (predicted > 0).then(|| share(added, predicted)),
                false_positive_rate: (n > support).then(|| share(added, n - support)),
                prevalence: share(support, n),
                roc_auc: rank.and_then(|r| finite(r.roc_auc)),
                average_precision: rank.and_then(|r| finite(r.average_precision)),
                threshold: decision.thresholds[j],
                mean_prob: cal.map(|c| c.mean_prob),
                ece: cal.map(|c| c.report.ece.estimate),
                brier: cal.and_then(|c| c.report.brier),
            }
        })
        .collect();

    let max = params.max_examples;
    let example = |i: usize, j: usize, other: Option<usize>| ErrorExample {
        id: t.ids[i].clone(),
        text: t.text[i].clone(),
        gold: join_set(&t.labels, &t.gold[i]),
        pred: join_set(&t.labels, &t.pred[i]),
        prob: t.prob(i, j),
        prob_added: other.and_then(|k| t.prob(i, k)),
    };
    // Most confident first: lowest p for a miss, highest for an addition; then file order.
    let by_prob = |rows: &mut Vec<usize>, j: usize, ascending: bool| {
        rows.sort_by(|&a, &b| {
            let (pa, pb) = (t.prob(a, j).unwrap_or(0.0), t.prob(b, j).unwrap_or(0.0));
            let c = if ascending {
                pa.total_cmp(&pb)
            } else {
                pb.total_cmp(&pa)
            };
            c.then(a.cmp(&b))
        });
    };
    let errors = |missed: bool| -> Vec<LabelErrors> {
        let mut out: Vec<LabelErrors> = (0..l)
            .map(|j| {
                let mut rows: Vec<usize> = (0..n)
                    .filter(|&i| {
                        let (g, p) = (t.gold[i][j], t.pred[i][j]);
                        if missed { g && !p } else { p && !g }
                    })
                    .collect();
                by_prob(&mut rows, j, missed);
                let of = if missed {
                    per_label[j].support
                } else {
                    per_label[j].predicted
                };
                LabelErrors {
                    label: t.labels[j].clone(),
                    count: rows.len(),
                    of,
                    rate: share(rows.len(), of),
                    examples: rows
                        .iter()
                        .take(max)
                        .map(|&i| example(i, j, None))
                        .collect(),
                }
            })
            .filter(|e| e.count > 0)
            .collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.rate.total_cmp(&a.rate))
                .then_with(|| a.label.cmp(&b.label))
        });
        out
    };
    let (missed, added) = (errors(true), errors(false));

    // Co-occurrence errors: gold a missed while b is added.
    let mut pairs: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let (g, p) = (&t.gold[i], &t.pred[i]);
        for a in (0..l).filter(|&a| g[a] && !p[a]) {
            for b in (0..l).filter(|&b| p[b] && !g[b]) {
                pairs.entry((a, b)).or_default().push(i);
            }
        }
    }
    let mut cooccurrence_errors: Vec<CooccurrenceError> = pairs
        .into_iter()
        .map(|((a, b), mut rows)| {
            by_prob(&mut rows, b, false);
            CooccurrenceError {
                missed: t.labels[a].clone(),
                added: t.labels[b].clone(),
                count: rows.len(),
                share_of_missed: share(rows.len(), per_label[a].missed),
                examples: rows
                    .iter()
                    .take(max)
                    .map(|&i| example(i, a, Some(b)))
                    .collect(),
            }
        })
        .collect();
    cooccurrence_errors.sort_by(|x, y| {
        y.count
            .cmp(&x.count)
            .then(y.share_of_missed.total_cmp(&x.share_of_missed))
            .then_with(|| (&x.missed, &x.added).cmp(&(&y.missed, &y.added)))
    });

    // Gold pairs and their joint recall.
    let mut gold_pairs = Vec::new();
    for a in 0..l {
        for b in a + 1..l {
            let rows: Vec<usize> = (0..n).filter(|&i| t.gold[i][a] && t.gold[i][b]).collect();
            if rows.is_empty() {
                continue;
            }
            let (hit, miss): (Vec<usize>, Vec<usize>) =
                rows.iter().partition(|&&i| t.pred[i][a] && t.pred[i][b]);
            gold_pairs.push(PairRecall {
                a: t.labels[a].clone(),
                b: t.labels[b].clone(),
                together: rows.len(),
                both_predicted: hit.len(),
                joint_recall: share(hit.len(), rows.len()),
                independent: per_label[a].recall * per_label[b].recall,
                examples: miss.iter().take(max).map(|&i| t.ids[i].clone()).collect(),
            });
        }
    }
    gold_pairs.sort_by(|x, y| {
        x.joint_recall
            .total_cmp(&y.joint_recall)
            .then(y.together.cmp(&x.together))
            .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
    });

    let baseline = baseline.map(|b| compare_baseline(t, &u, b, boot));

    Ok(MultilabelAnalysis {
        task: TaskKind::Multilabel,
        split: params.split.clone(),
        file: t.file_name(),
        examples: n,
        unit: "example".into(),
        labels: t.labels.clone(),
        bootstrap: boot,
        bins: params.bins,
        decision,
        headline,
        counts,
        per_label,
        missed,
        added,
        cooccurrence_errors,
        gold_pairs,
        calibration: calib,
        temperature_split,
        baseline,
        notes,
    })
}

/// Paired bootstrap of micro and macro F1, model minus baseline, on the same examples (the
/// baseline already aligned to the model's rows and labels).
fn compare_baseline(t: &Table, ours: &Units, b: &Table, boot: Bootstrap) -> BaselineComparison {
    let l = t.labels.len();
    let theirs = units(&b.gold, &b.pred, l);
    let micro_f1 = boot.paired(ours, &theirs, |s| Stat::MicroF1.eval(s, l));
    let macro_f1 = boot.paired(ours, &theirs, |s| Stat::MacroF1.eval(s, l));
    let label_f1 = |s: &[f64], j: usize| f1_from_counts(s[3 * j], s[3 * j + 1], s[3 * j + 2]);
    let (sa, sb) = (ours.total(), theirs.total());
    BaselineComparison {
        file: b.path.display().to_string(),
        shared: t.len(),
        micro_f1,
        macro_f1,
        per_label: (0..l)
            .map(|j| LabelDiff {
                label: t.labels[j].clone(),
                model_f1: label_f1(&sa, j),
                baseline_f1: label_f1(&sb, j),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Findings

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn level_text(level: f64) -> String {
    format!("{:.0} %", 100.0 * level)
}

/// The ranked findings of a multi-label analysis: severity first, then how far the number
/// is from acceptable, then the stable id.
pub fn findings(a: &MultilabelAnalysis, params: &ReflectParams) -> Vec<Finding> {
    let min_support = params.min_slice_support;
    let mut out = Vec::new();

    // Headline.
    if let (Some(micro), Some(macro_)) = (a.metric("micro F1"), a.metric("macro F1")) {
        let width = micro.hi - micro.lo;
        let wide = width > WIDE_CI;
        let mut f = finding(
            "headline".into(),
            if wide {
                Severity::Medium
            } else {
                Severity::Info
            },
            "headline",
            format!(
                "micro F1 on {} is {}, macro F1 {} ({} examples, {} labels)",
                a.split,
                micro.display(3),
                macro_.display(3),
                a.examples,
                a.labels.len()
            ),
        );
        f.metric = "micro F1".into();
        f.value = micro.estimate;
        f.ci = Some([micro.lo, micro.hi]);
        f.score = width;
        for m in &a.headline {
            f.put(&m.name.replace(' ', "_").to_lowercase(), m.ci.estimate);
        }
        f.detail = a
            .headline
            .iter()
            .skip(2)
            .map(|m| format!("{} {}", m.name, m.ci.display(3)))
            .collect::<Vec<_>>()
            .join("; ");
        f.action = if wide {
            format!(
                "The {} interval of micro F1 is {:.1} points wide: differences smaller than that are noise on this split; collect more {} data before comparing models.",
                level_text(a.bootstrap.level),
                100.0 * width,
                a.split
            )
        } else {
            format!(
                "Quote the interval with the number: changes smaller than ±{:.1} points are not distinguishable on this split.",
                50.0 * width
            )
        };
        out.push(f);
    }

    for (j, row) in a.per_label.iter().enumerate() {
        let l = &row.label;
        let missed = a.missed.iter().find(|e| &e.label == l);
        let added = a.added.iter().find(|e| &e.label == l);

        // Missed labels.
        if row.support >= min_support && row.recall < RECALL_MEDIUM {
            let high = row.recall < RECALL_HIGH;
            let mut f = finding(
                format!("recall.{l}"),
                if high {
                    Severity::High
                } else {
                    Severity::Medium
                },
                "per-label",
                format!(
                    "The model misses `{l}` in {} of {} gold cases (recall {:.3})",
                    row.missed, row.support, row.recall
                ),
            );
            f.metric = format!("recall of `{l}`");
            f.value = row.recall;
            f.ci = Some(row.recall_ci);
            f.score = 1.0 - row.recall;
            f.put("support", row.support as f64);
            f.put("missed", row.missed as f64);
            f.put("tp", row.tp as f64);
            f.put("recall", row.recall);
            f.put("threshold", row.threshold);
            let mut detail = format!(
                "precision {:.3}, F1 {:.3}, threshold {:.3}, in {} of the examples",
                row.precision,
                row.f1,
                row.threshold,
                pct(row.prevalence)
            );
            if let Some(auc) = row.roc_auc {
                f.put("roc_auc", auc);
                let _ = write!(detail, ", ROC-AUC {auc:.3}");
            }
            if let Some(c) = a.cooccurrence_errors.iter().find(|c| &c.missed == l) {
                let _ = write!(
                    detail,
                    "; most often read as `{}` ({} examples)",
                    c.added, c.count
                );
            }
            f.detail = detail;
            f.evidence = evidence(
                &a.file,
                missed.into_iter().flat_map(|e| &e.examples).map(|e| &e.id),
            );
            f.action = match (row.roc_auc, &a.decision.tuned_on) {
                (Some(auc), None) if auc >= RANKS_WELL => format!(
                    "The probabilities rank `{l}` well (ROC-AUC {auc:.3}) but too few pass the threshold {:.2}: tune per-label thresholds on dev (evaluate `tune_thresholds = true`) or lower this one.",
                    row.threshold
                ),
                (Some(auc), Some(dev)) if auc >= RANKS_WELL => format!(
                    "The probabilities rank `{l}` fairly (ROC-AUC {auc:.3}), but the threshold {:.3} that gives the best F1 on {dev} lets only this share of the gold cases through (F1 trades recall for precision on a label in {} of the examples): if a missed `{l}` costs more than a false alarm, lower its threshold; more training examples of `{l}` raise what any threshold can reach.",
                    row.threshold,
                    pct(row.prevalence)
                ),
                _ => format!(
                    "The probabilities do not separate `{l}` well: add training examples of `{l}` (it is in {} of the examples), weight it in the loss (pos_weight), and see what it is read as (co-occurrence errors).",
                    pct(row.prevalence)
                ),
            };
            out.push(f);
        }

        // Added labels.
        if row.predicted >= min_support && row.precision < PRECISION_MEDIUM {
            let mut f = finding(
                format!("precision.{l}"),
                Severity::Medium,
                "per-label",
                format!(
                    "The model adds `{l}` where it is absent: {} of its {} predictions are wrong (precision {:.3})",
                    row.added, row.predicted, row.precision
                ),
            );
            f.metric = format!("precision of `{l}`");
            f.value = row.precision;
            f.ci = Some(wilson(row.tp, row.predicted));
            f.score = 1.0 - row.precision;
            f.put("predicted", row.predicted as f64);
            f.put("added", row.added as f64);
            f.put("precision", row.precision);
            f.put("threshold", row.threshold);
            f.detail = format!(
                "recall {:.3}, threshold {:.3}, false-positive rate {}",
                row.recall,
                row.threshold,
                row.false_positive_rate.map_or("–".into(), pct)
            );
            if let Some(c) = a.cooccurrence_errors.iter().find(|c| &c.added == l) {
                let _ = write!(
                    f.detail,
                    "; most often instead of `{}` ({} examples)",
                    c.missed, c.count
                );
            }
            f.evidence = evidence(
                &a.file,
                added.into_iter().flat_map(|e| &e.examples).map(|e| &e.id),
            );
            f.action = format!(
                "Raise the threshold of `{l}` (tune it on dev) and review which gold label it replaces (co-occurrence errors); if the added cases look right, the gold labels may be incomplete."
            );
            out.push(f);
        }

        // Ranking.
        if let Some(auc) = row
            .roc_auc
            .filter(|&x| x < RANKING_POOR && row.support >= min_support)
        {
            let mut f = finding(
                format!("ranking.{l}"),
                Severity::Medium,
                "per-label",
                format!("The probabilities of `{l}` barely rank it: ROC-AUC {auc:.3}"),
            );
            f.metric = format!("ROC-AUC of `{l}`");
            f.value = auc;
            f.score = 1.0 - auc;
            f.put("roc_auc", auc);
            f.put("support", row.support as f64);
            if let Some(ap) = row.average_precision {
                f.put("average_precision", ap);
                f.detail = format!(
                    "average precision {ap:.3} against a prevalence of {}",
                    pct(row.prevalence)
                );
            }
            f.evidence = evidence(
                &a.file,
                missed.into_iter().flat_map(|e| &e.examples).map(|e| &e.id),
            );
            f.action = format!(
                "No threshold can fix this: `{l}` needs more (or cleaner) training examples, or it is confused with a similar label — review its annotation guidelines."
            );
            out.push(f);
        }

        // Calibration.
        if let Some(c) = a.calibration.get(j) {
            let ece = c.report.ece;
            if ece.estimate > ECE_MEDIUM {
                let high = ece.lo > ECE_HIGH;
                let mut f = finding(
                    format!("calibration.{l}"),
                    if high {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    "calibration",
                    format!(
                        "Probabilities of `{l}` are off by {:.3} on average (ECE {}, {} bins)",
                        ece.estimate,
                        ece.display(3),
                        a.bins
                    ),
                );
                f.metric = format!("ECE of `{l}`");
                f.value = ece.estimate;
                f.ci = Some([ece.lo, ece.hi]);
                f.score = ece.estimate;
                f.put("ece", ece.estimate);
                f.put("mce", c.report.mce);
                f.put("mean_prob", c.mean_prob);
                f.put("positive_rate", c.positive_rate);
                f.detail = format!(
                    "mean probability {:.3} against a positive rate of {:.3}; MCE {:.3}, Brier {:.4}",
                    c.mean_prob,
                    c.positive_rate,
                    c.report.mce,
                    c.report.brier.unwrap_or(f64::NAN)
                );
                f.action = match (&c.temperature, &c.report.after) {
                    (Some(t), Some(after)) if after.ece.estimate < ece.lo => {
                        f.put("temperature", t.t);
                        f.put("ece_after_temperature", after.ece.estimate);
                        format!(
                            "Divide the logit of `{l}` by T = {:.2} (fitted on {}): its ECE drops from {:.3} to {:.3}; then re-tune its threshold on the scaled probabilities.",
                            t.t,
                            a.temperature_split.as_deref().unwrap_or("dev"),
                            ece.estimate,
                            after.ece.estimate
                        )
                    }
                    (Some(t), Some(after)) => {
                        f.put("temperature", t.t);
                        f.put("ece_after_temperature", after.ece.estimate);
                        format!(
                            "A temperature does not fix it (T = {:.2}: ECE {:.3} -> {:.3}): the probabilities of `{l}` are shifted, not just over- or underconfident; fit Platt scaling (slope and bias) or isotonic regression per label on dev, and tune its threshold there.",
                            t.t, ece.estimate, after.ece.estimate
                        )
                    }
                    _ => format!(
                        "Do not read the probabilities of `{l}` as chances: fit a per-label temperature or Platt scaling on dev (give reflect the dev predictions) and tune its threshold on dev."
                    ),
                };
                let ev = if c.mean_prob > c.positive_rate {
                    added
                } else {
                    missed
                };
                f.evidence = evidence(
                    &a.file,
                    ev.into_iter().flat_map(|e| &e.examples).map(|e| &e.id),
                );
                out.push(f);
            }
        }

        // Tuned thresholds far from 0.5.
        if let Some(dev) = &a.decision.tuned_on {
            let gap = (row.threshold - DEFAULT_THRESHOLD).abs();
            if gap > THRESHOLD_FAR {
                let mut f = finding(
                    format!("threshold.{l}"),
                    if gap > THRESHOLD_EXTREME {
                        Severity::Medium
                    } else {
                        Severity::Low
                    },
                    "decision",
                    format!(
                        "The threshold of `{l}` tuned on {dev} is {:.3}, far from {DEFAULT_THRESHOLD}",
                        row.threshold
                    ),
                );
                f.metric = format!("threshold of `{l}`");
                f.value = row.threshold;
                f.score = gap;
                f.put("threshold", row.threshold);
                f.put("precision", row.precision);
                f.put("recall", row.recall);
                f.detail = format!(
                    "on {}: precision {:.3}, recall {:.3}, F1 {:.3}{}",
                    a.split,
                    row.precision,
                    row.recall,
                    row.f1,
                    row.mean_prob.map_or(String::new(), |m| format!(
                        "; mean probability {m:.3} against a prevalence of {:.3}",
                        row.prevalence
                    ))
                );
                f.action = format!(
                    "The probabilities of `{l}` are {} than its frequency warrants: calibrate it (per-label temperature or Platt scaling on {dev}) so one threshold means the same for every label, and check that {dev} holds enough `{l}` examples for a stable threshold.",
                    if row.threshold < DEFAULT_THRESHOLD {
                        "lower"
                    } else {
                        "higher"
                    }
                );
                out.push(f);
            }
        }
    }

    // Co-occurrence errors.
    for c in a
        .cooccurrence_errors
        .iter()
        .filter(|c| c.count >= CONFUSION_MIN_COUNT && c.share_of_missed >= CONFUSION_MIN_SHARE)
        .take(CONFUSION_FINDINGS)
    {
        let misses = a
            .per_label
            .iter()
            .find(|r| r.label == c.missed)
            .map_or(0, |r| r.missed);
        let mut f = finding(
            format!("cooccurrence.{}.{}", c.missed, c.added),
            Severity::Medium,
            "co-occurrence",
            format!(
                "`{}` read as `{}` in {} examples ({} of the misses of `{}`)",
                c.missed,
                c.added,
                c.count,
                pct(c.share_of_missed),
                c.missed
            ),
        );
        f.metric = format!("share of `{}` misses with `{}` added", c.missed, c.added);
        f.value = c.share_of_missed;
        f.ci = Some(wilson(c.count, misses));
        f.score = c.count as f64;
        f.put("count", c.count as f64);
        f.put("missed", misses as f64);
        f.detail = format!(
            "in these examples the gold set has `{}` and the prediction `{}` instead",
            c.missed, c.added
        );
        f.evidence = evidence(&a.file, c.examples.iter().map(|e| &e.id));
        f.action = format!(
            "The model swaps `{}` for `{}`: review the examples and the annotation guidelines for the two (do annotators tell them apart?), and add contrastive training examples.",
            c.missed, c.added
        );
        out.push(f);
    }

    // Gold pairs predicted together less often than independent errors would give.
    for p in a.gold_pairs.iter().filter(|p| {
        p.together >= min_support
            && p.joint_recall < PAIR_RECALL_LOW
            && p.joint_recall < p.independent
    }) {
        let mut f = finding(
            format!("gold_pair.{}.{}", p.a, p.b),
            Severity::Low,
            "co-occurrence",
            format!(
                "When `{}` and `{}` occur together the model predicts both in {} of {} examples",
                p.a, p.b, p.both_predicted, p.together
            ),
        );
        f.metric = "joint recall".into();
        f.value = p.joint_recall;
        f.ci = Some(wilson(p.both_predicted, p.together));
        f.score = p.independent - p.joint_recall;
        f.put("together", p.together as f64);
        f.put("both_predicted", p.both_predicted as f64);
        f.put("independent", p.independent);
        f.detail = format!(
            "joint recall {:.3} against {:.3} if the two labels' misses were independent",
            p.joint_recall, p.independent
        );
        f.evidence = evidence(&a.file, p.examples.iter());
        f.action = "The model tends to keep one label of the pair: check that training used one sigmoid per label (BCE), not a softmax, and add training examples with both labels.".into();
        out.push(f);
    }

    // Empty predictions.
    let with_gold = a.examples - a.counts.empty_gold;
    let empty_share = share(a.counts.empty_pred_with_gold, with_gold);
    if with_gold > 0 && empty_share >= EMPTY_PRED_LOW {
        let mut f = finding(
            "empty_prediction".into(),
            if empty_share >= EMPTY_PRED_MEDIUM {
                Severity::Medium
            } else {
                Severity::Low
            },
            "decision",
            format!(
                "The model predicts no label for {} of {} examples that have one",
                a.counts.empty_pred_with_gold, with_gold
            ),
        );
        f.metric = "share of examples with gold labels and an empty prediction".into();
        f.value = empty_share;
        f.ci = Some(wilson(a.counts.empty_pred_with_gold, with_gold));
        f.score = empty_share;
        f.put("empty_pred_with_gold", a.counts.empty_pred_with_gold as f64);
        f.put("with_gold", with_gold as f64);
        f.detail = format!(
            "{:.2} gold labels per example against {:.2} predicted",
            a.counts.mean_gold_labels, a.counts.mean_pred_labels
        );
        f.action = "Fall back to the most probable label when no probability passes its threshold (when every example has a label), or tune per-label thresholds on dev.".into();
        out.push(f);
    }

    // Baseline.
    if let Some(b) = &a.baseline {
        for (key, name, paired, primary) in [
            ("micro_f1", "micro F1", &b.micro_f1, true),
            ("macro_f1", "macro F1", &b.macro_f1, false),
        ] {
            let d = &paired.diff;
            let p = paired.p_value;
            let significant = p < ALPHA && (d.lo > 0.0 || d.hi < 0.0);
            let (severity, title, action) = if significant && d.estimate > 0.0 {
                (
                    Severity::Info,
                    format!(
                        "The model beats the baseline on {name}: {:+.1} points",
                        100.0 * d.estimate
                    ),
                    "The fine-tuned model's advantage is significant: keep it.".to_string(),
                )
            } else if significant {
                (
                    Severity::High,
                    format!(
                        "The baseline beats the model on {name}: {:+.1} points",
                        100.0 * d.estimate
                    ),
                    "The simpler baseline is significantly better: ship the baseline, or find what the model gets wrong (per-label recall, co-occurrence errors).".to_string(),
                )
            } else {
                (
                    if primary { Severity::High } else { Severity::Medium },
                    format!(
                        "The baseline is not significantly worse on {name}: difference {:+.1} points (p = {p:.3})",
                        100.0 * d.estimate
                    ),
                    "The model's advantage is within noise: prefer the cheaper baseline, or collect more test data to separate them.".to_string(),
                )
            };
            let mut f = finding(format!("baseline.{key}"), severity, "significance", title);
            f.metric = format!("{name} difference (model minus baseline)");
            f.value = d.estimate;
            f.ci = Some([d.lo, d.hi]);
            f.score = (1.0 - p).max(0.0);
            f.put("model", paired.a.estimate);
            f.put("baseline", paired.b.estimate);
            f.put("diff", d.estimate);
            f.put("p_value", p);
            f.detail = format!(
                "model {}, baseline {}, difference {} (paired bootstrap over {} examples, {} resamples, p = {p:.4})",
                paired.a.display(3),
                paired.b.display(3),
                d.display(3),
                b.shared,
                a.bootstrap.resamples
            );
            let worse: Vec<&LabelDiff> = b
                .per_label
                .iter()
                .filter(|x| x.baseline_f1 > x.model_f1)
                .collect();
            if !worse.is_empty() {
                let _ = write!(
                    f.detail,
                    "; the baseline has the higher F1 on {}",
                    worse
                        .iter()
                        .map(|x| format!(
                            "`{}` ({:.3} vs {:.3})",
                            x.label, x.baseline_f1, x.model_f1
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            f.action = action;
            out.push(f);
        }
    }

    out.sort_by(|x, y| {
        x.severity
            .cmp(&y.severity)
            .then(y.score.total_cmp(&x.score))
            .then_with(|| x.id.cmp(&y.id))
    });
    for (i, f) in out.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    out
}

/// Sets a named number of a finding (the numbers behind it, for comparing runs).
trait Numbers {
    fn put(&mut self, name: &str, value: f64);
}

impl Numbers for Finding {
    fn put(&mut self, name: &str, value: f64) {
        self.numbers.insert(name.to_string(), value);
    }
}

/// Evidence rows of example ids in the reported predictions file.
fn evidence<'a>(file: &str, ids: impl Iterator<Item = &'a String>) -> Vec<Evidence> {
    ids.map(|id| Evidence {
        file: file.to_string(),
        id: id.clone(),
        word: None,
    })
    .collect()
}

// ---------------------------------------------------------------------------------------
// Rendering

/// Section headings of the reports, in order.
pub const SECTIONS: [&str; 8] = [
    "Headline metrics",
    "Findings",
    "Per-label metrics",
    "Missed and added labels",
    "Co-occurrence errors",
    "Calibration per label",
    "Baseline comparison",
    "Notes",
];

/// A few lines for the end of a pipeline run: the headline metrics with intervals, the worst
/// calibrated label, the baseline comparison and the findings count.
pub fn headline_lines(a: &MultilabelAnalysis, found: &[Finding]) -> Vec<String> {
    let mut lines = Vec::new();
    for m in a.headline.iter().take(5) {
        lines.push(format!(
            "{} ({}): {} ({} CI, {} examples, {} resamples)",
            m.name,
            a.split,
            m.ci.display(3),
            level_text(a.bootstrap.level),
            a.examples,
            a.bootstrap.resamples
        ));
    }
    if let Some(worst) = a
        .calibration
        .iter()
        .max_by(|x, y| x.report.ece.estimate.total_cmp(&y.report.ece.estimate))
    {
        let mean = a
            .calibration
            .iter()
            .map(|c| c.report.ece.estimate)
            .sum::<f64>()
            / a.calibration.len() as f64;
        lines.push(format!(
            "per-label ECE: mean {mean:.3}, worst `{}` {}",
            worst.label,
            worst.report.ece.display(3)
        ));
    }
    if let Some(b) = &a.baseline {
        lines.push(format!(
            "vs baseline: micro F1 difference {} (p = {:.4}), macro F1 difference {} (p = {:.4})",
            b.micro_f1.diff.display(3),
            b.micro_f1.p_value,
            b.macro_f1.diff.display(3),
            b.macro_f1.p_value
        ));
    }
    let count = |s: Severity| found.iter().filter(|f| f.severity == s).count();
    lines.push(format!(
        "{} findings ({} high, {} medium)",
        found.len(),
        count(Severity::High),
        count(Severity::Medium)
    ));
    if let Some(top) = found.first() {
        lines.push(format!(
            "top finding [{}]: {}",
            top.severity.name(),
            top.title
        ));
    }
    lines
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn evidence_text(f: &Finding) -> String {
    f.evidence
        .iter()
        .take(5)
        .map(|e| format!("{}#{}", e.file, e.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A rendered table: header and rows of cell text (not yet escaped).
struct TableText {
    head: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl TableText {
    fn markdown(&self, o: &mut String) {
        let _ = writeln!(o, "| {} |", self.head.join(" | "));
        let _ = writeln!(o, "|{}", "---|".repeat(self.head.len()));
        for r in &self.rows {
            let cells: Vec<String> = r.iter().map(|c| md(c)).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
        }
        o.push('\n');
    }

    fn html(&self, o: &mut String) {
        o.push_str("<table><tr>");
        for h in &self.head {
            let _ = write!(o, "<th>{}</th>", esc(h));
        }
        o.push_str("</tr>\n");
        for r in &self.rows {
            o.push_str("<tr>");
            for c in r {
                let _ = write!(o, "<td>{}</td>", esc(c));
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</table>\n");
    }
}

fn example_text(e: &ErrorExample) -> String {
    let set = |v: &str| {
        if v.is_empty() {
            "∅".to_string()
        } else {
            format!("`{v}`")
        }
    };
    let mut s = format!(
        "{}: gold {}, predicted {}",
        e.id,
        set(&e.gold),
        set(&e.pred)
    );
    if let Some(p) = e.prob {
        let _ = write!(s, ", p {p:.3}");
    }
    if let Some(p) = e.prob_added {
        let _ = write!(s, " / {p:.3}");
    }
    if let Some(t) = &e.text {
        let short: String = t.chars().take(120).collect();
        let _ = write!(
            s,
            " — “{short}{}”",
            if short.len() < t.len() { "…" } else { "" }
        );
    }
    s
}

/// The report's content as paragraphs and tables, rendered to Markdown or HTML.
enum Block {
    Heading(&'static str),
    Para(String),
    Table(TableText),
    /// Reliability diagrams (HTML only).
    Plots,
}

fn blocks(a: &MultilabelAnalysis, found: &[Finding]) -> Vec<Block> {
    let mut b = Vec::new();
    let level = level_text(a.bootstrap.level);
    b.push(Block::Heading(SECTIONS[0]));
    b.push(Block::Para(format!(
        "Multi-label task, {} examples of {}, {} labels; intervals are {level} percentile bootstrap over examples ({} resamples, seed {}). Decision: p > threshold per label{}.",
        a.examples,
        a.file,
        a.labels.len(),
        a.bootstrap.resamples,
        a.bootstrap.seed,
        match (&a.decision.tuned_on, a.decision.recorded) {
            (Some(s), _) => format!(", thresholds tuned on {s}"),
            (None, true) => format!(", threshold {:.3}", a.decision.thresholds.first().copied().unwrap_or(DEFAULT_THRESHOLD)),
            (None, false) => format!(", assumed {DEFAULT_THRESHOLD} (none recorded)"),
        }
    )));
    b.push(Block::Table(TableText {
        head: vec!["metric", "value", "CI"],
        rows: a
            .headline
            .iter()
            .map(|m| {
                vec![
                    m.name.clone(),
                    format!("{:.4}", m.ci.estimate),
                    format!("[{:.4}, {:.4}]", m.ci.lo, m.ci.hi),
                ]
            })
            .collect(),
    }));
    b.push(Block::Para(format!(
        "{:.2} gold and {:.2} predicted labels per example; {} examples without a gold label, {} with an empty prediction ({} of them with gold labels).",
        a.counts.mean_gold_labels,
        a.counts.mean_pred_labels,
        a.counts.empty_gold,
        a.counts.empty_pred,
        a.counts.empty_pred_with_gold
    )));

    b.push(Block::Heading(SECTIONS[1]));
    b.push(Block::Table(TableText {
        head: vec![
            "#",
            "severity",
            "finding",
            "value [95 % CI]",
            "detail",
            "action",
            "evidence",
        ],
        rows: found
            .iter()
            .map(|f| {
                vec![
                    f.rank.to_string(),
                    f.severity.name().to_string(),
                    f.title.clone(),
                    ci_text(f),
                    f.detail.clone(),
                    f.action.clone(),
                    evidence_text(f),
                ]
            })
            .collect(),
    }));

    b.push(Block::Heading(SECTIONS[2]));
    b.push(Block::Table(TableText {
        head: vec![
            "label",
            "support",
            "predicted",
            "precision",
            "recall [95 % CI]",
            "F1",
            "missed (rate)",
            "added (share of predictions)",
            "ROC-AUC",
            "AP",
            "threshold",
            "ECE",
            "Brier",
        ],
        rows: a
            .per_label
            .iter()
            .map(|r| {
                vec![
                    r.label.clone(),
                    r.support.to_string(),
                    r.predicted.to_string(),
                    format!("{:.3}", r.precision),
                    format!(
                        "{:.3} [{:.3}, {:.3}]",
                        r.recall, r.recall_ci[0], r.recall_ci[1]
                    ),
                    format!("{:.3}", r.f1),
                    format!("{} ({})", r.missed, r.miss_rate.map_or("–".into(), pct)),
                    format!("{} ({})", r.added, r.added_share.map_or("–".into(), pct)),
                    opt(r.roc_auc, 3),
                    opt(r.average_precision, 3),
                    format!("{:.3}", r.threshold),
                    opt(r.ece, 3),
                    opt(r.brier, 4),
                ]
            })
            .collect(),
    }));

    b.push(Block::Heading(SECTIONS[3]));
    for (what, list, order) in [
        (
            "missed (gold, not predicted)",
            &a.missed,
            "lowest probability first",
        ),
        (
            "added (predicted, not gold)",
            &a.added,
            "highest probability first",
        ),
    ] {
        if list.is_empty() {
            b.push(Block::Para(format!("No label is {what}.")));
            continue;
        }
        b.push(Block::Para(format!(
            "Labels most often {what}; examples {order}:"
        )));
        b.push(Block::Table(TableText {
            head: vec!["label", "count", "of", "rate", "examples"],
            rows: list
                .iter()
                .map(|e| {
                    vec![
                        e.label.clone(),
                        e.count.to_string(),
                        e.of.to_string(),
                        pct(e.rate),
                        e.examples
                            .iter()
                            .map(example_text)
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect(),
        }));
    }

    b.push(Block::Heading(SECTIONS[4]));
    if a.cooccurrence_errors.is_empty() {
        b.push(Block::Para(
            "No example misses one label while adding another.".into(),
        ));
    } else {
        b.push(Block::Para(
            "Gold label missed while another is added in the same example (\"A read as B\"); probabilities are p(A) / p(B):".into(),
        ));
        b.push(Block::Table(TableText {
            head: vec![
                "missed (A)",
                "added (B)",
                "count",
                "share of A's misses",
                "examples",
            ],
            rows: a
                .cooccurrence_errors
                .iter()
                .take(20)
                .map(|c| {
                    vec![
                        c.missed.clone(),
                        c.added.clone(),
                        c.count.to_string(),
                        pct(c.share_of_missed),
                        c.examples
                            .iter()
                            .map(example_text)
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect(),
        }));
    }
    if !a.gold_pairs.is_empty() {
        b.push(Block::Para(
            "Gold pairs, lowest joint recall first (both labels predicted when both are gold):"
                .into(),
        ));
        b.push(Block::Table(TableText {
            head: vec![
                "A",
                "B",
                "together",
                "both predicted",
                "joint recall",
                "if independent",
                "ids",
            ],
            rows: a
                .gold_pairs
                .iter()
                .take(20)
                .map(|p| {
                    vec![
                        p.a.clone(),
                        p.b.clone(),
                        p.together.to_string(),
                        p.both_predicted.to_string(),
                        format!("{:.3}", p.joint_recall),
                        format!("{:.3}", p.independent),
                        p.examples.join(", "),
                    ]
                })
                .collect(),
        }));
    }

    b.push(Block::Heading(SECTIONS[5]));
    if a.calibration.is_empty() {
        b.push(Block::Para("No probabilities: calibration skipped.".into()));
    } else {
        b.push(Block::Para(format!(
            "Reliability of each label's probability against its gold indicator: ECE over {} equal-width bins of p ({level} CI), positive rate = share of examples with the label{}.",
            a.bins,
            a.temperature_split
                .as_ref()
                .map_or(String::new(), |s| format!("; T = temperature of the label's logit fitted on {s}"))
        )));
        b.push(Block::Table(TableText {
            head: vec![
                "label",
                "mean p",
                "positive rate",
                "ECE [CI]",
                "ECE (equal mass)",
                "MCE",
                "Brier",
                "NLL",
                "T",
                "ECE after T",
            ],
            rows: a
                .calibration
                .iter()
                .map(|c| {
                    vec![
                        c.label.clone(),
                        format!("{:.3}", c.mean_prob),
                        format!("{:.3}", c.positive_rate),
                        c.report.ece.display(3),
                        format!("{:.3}", c.report.ece_mass),
                        format!("{:.3}", c.report.mce),
                        opt(c.report.brier, 4),
                        opt(c.report.nll, 4),
                        opt(c.temperature.map(|t| t.t), 3),
                        c.report
                            .after
                            .as_ref()
                            .map_or("–".into(), |x| x.ece.display(3)),
                    ]
                })
                .collect(),
        }));
        b.push(Block::Plots);
    }

    b.push(Block::Heading(SECTIONS[6]));
    match &a.baseline {
        None => b.push(Block::Para(
            "No baseline predictions for this split.".into(),
        )),
        Some(c) => {
            b.push(Block::Para(format!(
                "Paired bootstrap over the {} examples of both (matched by id), model minus baseline ({}); p is twice the smaller share of resamples on either side of 0.",
                c.shared, c.file
            )));
            b.push(Block::Table(TableText {
                head: vec!["metric", "model", "baseline", "difference", "p"],
                rows: [("micro F1", &c.micro_f1), ("macro F1", &c.macro_f1)]
                    .iter()
                    .map(|(name, p)| {
                        vec![
                            (*name).to_string(),
                            p.a.display(4),
                            p.b.display(4),
                            p.diff.display(4),
                            format!("{:.4}", p.p_value),
                        ]
                    })
                    .collect(),
            }));
            b.push(Block::Table(TableText {
                head: vec!["label", "model F1", "baseline F1", "difference"],
                rows: c
                    .per_label
                    .iter()
                    .map(|d| {
                        vec![
                            d.label.clone(),
                            format!("{:.3}", d.model_f1),
                            format!("{:.3}", d.baseline_f1),
                            format!("{:+.3}", d.model_f1 - d.baseline_f1),
                        ]
                    })
                    .collect(),
            }));
        }
    }

    if !a.notes.is_empty() {
        b.push(Block::Heading(SECTIONS[7]));
        for n in &a.notes {
            b.push(Block::Para(n.clone()));
        }
    }
    b
}

/// The Markdown report.
pub fn markdown(a: &MultilabelAnalysis, found: &[Finding]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Validation report ({} split, multi-label)\n", a.split);
    for l in headline_lines(a, found) {
        let _ = writeln!(o, "- {}", md(&l));
    }
    o.push('\n');
    for block in blocks(a, found) {
        match block {
            Block::Heading(h) => {
                let _ = writeln!(o, "## {h}\n");
            }
            Block::Para(p) => {
                let _ = writeln!(o, "{}\n", p.replace('\n', " "));
            }
            Block::Table(t) => t.markdown(&mut o),
            Block::Plots => {}
        }
    }
    o
}

const CSS: &str = "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}\
th{background:#f0f0f0}.high{background:#f8d0d0}.medium{background:#fbe8c8}.low{background:#eef4fb}.info{background:#f4f4f4}\
figure{margin:0.5em 0 1.5em}.plots{display:flex;flex-wrap:wrap;gap:1em}.note{color:#666;font-size:13px}";

/// The HTML report: one file, inline CSS and SVG reliability diagrams, no scripts.
pub fn html(a: &MultilabelAnalysis, found: &[Finding]) -> Result<String> {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Validation report ({}, multi-label)</title><style>{CSS}</style></head><body>\n",
        esc(&a.split)
    );
    let _ = writeln!(
        o,
        "<h1>Validation report ({} split, multi-label)</h1><ul>",
        esc(&a.split)
    );
    for l in headline_lines(a, found) {
        let _ = writeln!(o, "<li>{}</li>", esc(&l));
    }
    o.push_str("</ul>\n");
    for block in blocks(a, found) {
        match block {
            Block::Heading(h) => {
                let _ = writeln!(o, "<h2>{}</h2>", esc(h));
            }
            Block::Para(p) => {
                let _ = writeln!(o, "<p>{}</p>", esc(&p));
            }
            Block::Table(t) if t.head.first() == Some(&"#") => {
                // The findings table: rows coloured by severity.
                o.push_str("<table><tr>");
                for h in &t.head {
                    let _ = write!(o, "<th>{}</th>", esc(h));
                }
                o.push_str("</tr>\n");
                for (r, f) in t.rows.iter().zip(found) {
                    let _ = write!(o, "<tr class=\"{}\">", f.severity.name());
                    for c in r {
                        let _ = write!(o, "<td>{}</td>", esc(c));
                    }
                    o.push_str("</tr>\n");
                }
                o.push_str("</table>\n");
            }
            Block::Table(t) => t.html(&mut o),
            Block::Plots => {
                o.push_str("<p class=\"note\">Reliability diagrams: x = the label's probability, y = share of examples that have the label.</p><div class=\"plots\">");
                for c in &a.calibration {
                    let _ = write!(
                        o,
                        "<figure>{}</figure>",
                        plots::reliability(&c.report, &format!("reliability of {}", c.label))?
                    );
                }
                o.push_str("</div>\n");
            }
        }
    }
    o.push_str("</body></html>\n");
    Ok(o)
}

/// The numbers recorded in the reflect artifact's manifest.
pub fn manifest_metrics(a: &MultilabelAnalysis, found: &[Finding]) -> serde_json::Value {
    let num = |x: f64| {
        if x.is_finite() {
            json!(x)
        } else {
            serde_json::Value::Null
        }
    };
    let headline: Vec<serde_json::Value> = a
        .headline
        .iter()
        .map(|h| json!({"metric": h.name, "value": num(h.ci.estimate), "lo": num(h.ci.lo), "hi": num(h.ci.hi)}))
        .collect();
    let cal = (!a.calibration.is_empty()).then(|| {
        let worst = a
            .calibration
            .iter()
            .max_by(|x, y| x.report.ece.estimate.total_cmp(&y.report.ece.estimate));
        json!({
            "level": "label",
            "ece_mean": num(a.calibration.iter().map(|c| c.report.ece.estimate).sum::<f64>() / a.calibration.len() as f64),
            "ece_max": worst.map(|w| num(w.report.ece.estimate)),
            "ece_max_label": worst.map(|w| w.label.clone()),
        })
    });
    let paired = |p: &Paired| {
        json!({
            "diff": num(p.diff.estimate),
            "lo": num(p.diff.lo),
            "hi": num(p.diff.hi),
            "p_value": num(p.p_value),
        })
    };
    let base = a.baseline.as_ref().map(|b| {
        json!({
            "metric": "micro F1",
            "diff": num(b.micro_f1.diff.estimate),
            "lo": num(b.micro_f1.diff.lo),
            "hi": num(b.micro_f1.diff.hi),
            "p_value": num(b.micro_f1.p_value),
            "micro_f1": paired(&b.micro_f1),
            "macro_f1": paired(&b.macro_f1),
        })
    });
    json!({
        "split": a.split,
        "task": a.task,
        "examples": a.examples,
        "labels": a.labels.len(),
        "unit": a.unit,
        "resamples": a.bootstrap.resamples,
        "headline": headline,
        "calibration": cal,
        "baseline": base,
        "findings": found.len(),
        "findings_high": found.iter().filter(|f| f.severity == Severity::High).count(),
        "findings_medium": found.iter().filter(|f| f.severity == Severity::Medium).count(),
        "headline_lines": headline_lines(a, found),
        "report": REPORT_HTML,
    })
}

/// Analyse `sources` and write `report.html`, `report.md`, `findings.json` and
/// `analysis.json` into `out_dir`; returns the manifest metrics.
pub fn write_report_from(
    sources: &Sources,
    params: &ReflectParams,
    out_dir: &Path,
) -> anyhow::Result<serde_json::Value> {
    let a = analyze(sources, params)?;
    let found = findings(&a, params);
    fs_err::write(out_dir.join(REPORT_HTML), html(&a, &found)?)?;
    fs_err::write(out_dir.join(REPORT_MD), markdown(&a, &found))?;
    fs_err::write(
        out_dir.join(FINDINGS_JSON),
        serde_json::to_string_pretty(&found)? + "\n",
    )?;
    fs_err::write(
        out_dir.join(ANALYSIS_JSON),
        serde_json::to_string_pretty(&a)? + "\n",
    )?;
    for line in headline_lines(&a, &found) {
        tracing::info!("{line}");
    }
    Ok(manifest_metrics(&a, &found))
}

/// The multi-label report of an evaluate artifact (and optionally a baseline artifact's
/// predictions on the same split): what [`crate::ReflectStage`] runs when
/// [`is_multilabel`] says so.
pub fn write_report(
    evaluate: &Artifact,
    baseline: Option<&Artifact>,
    params: &ReflectParams,
    out_dir: &Path,
) -> anyhow::Result<serde_json::Value> {
    let sources = Sources::of(evaluate, baseline, params)?;
    write_report_from(&sources, params, out_dir)
}

#[cfg(test)]
mod tests {
    use metrics::PredictionRow;

    use super::*;

    const LABELS: [&str; 3] = ["anger", "fear", "joy"];

    fn labels() -> Vec<String> {
        LABELS.map(String::from).to_vec()
    }

    /// 40 examples: `anger` (0..10) is always missed, `fear` (10..20) is always read as
    /// `joy`, `joy` (20..40) is always found; 36..40 also have gold `anger`, missed.
    fn examples() -> Vec<(Vec<bool>, Vec<bool>, Vec<f32>)> {
        (0..40)
            .map(|i| match i {
                0..10 => (
                    vec![true, false, false],
                    vec![false, false, false],
                    vec![0.1, 0.05, 0.05],
                ),
                10..20 => (
                    vec![false, true, false],
                    vec![false, false, true],
                    vec![0.05, 0.2, 0.8],
                ),
                20..36 => (
                    vec![false, false, true],
                    vec![false, false, true],
                    vec![0.05, 0.05, 0.9],
                ),
                _ => (
                    vec![true, false, true],
                    vec![false, false, true],
                    vec![0.3, 0.05, 0.9],
                ),
            })
            .collect()
    }

    fn write(path: &Path, rows: &[(Vec<bool>, Vec<bool>, Vec<f32>)]) {
        let labels = labels();
        let mut p = Predictions::new(TaskKind::Multilabel, labels.clone());
        for (i, (g, pr, probs)) in rows.iter().enumerate() {
            p.rows.push(PredictionRow {
                id: format!("ex{i}"),
                word: None,
                token: Some(format!("text of example {i}")),
                gold: join_set(&labels, g),
                pred: join_set(&labels, pr),
                probs: Some(probs.clone()),
            });
        }
        p.write(path).unwrap();
    }

    fn params() -> ReflectParams {
        ReflectParams {
            resamples: 200,
            min_slice_support: 5,
            ..ReflectParams::default()
        }
    }

    fn sources(dir: &Path) -> Sources {
        let split = dir.join("predictions-test.parquet");
        write(&split, &examples());
        Sources {
            split,
            ..Sources::default()
        }
    }

    fn find<'a>(found: &'a [Finding], id: &str) -> &'a Finding {
        found.iter().find(|f| f.id == id).unwrap_or_else(|| {
            panic!(
                "no finding `{id}` in {:?}",
                found.iter().map(|f| &f.id).collect::<Vec<_>>()
            )
        })
    }

    #[test]
    fn headline_point_estimates_equal_multilabel_report_and_lie_in_their_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let a = analyze(&sources(dir.path()), &params()).unwrap();
        let rows = examples();
        let gold: Vec<Vec<bool>> = rows.iter().map(|r| r.0.clone()).collect();
        let pred: Vec<Vec<bool>> = rows.iter().map(|r| r.1.clone()).collect();
        let r = ml::multilabel_report(&gold, &pred, &labels(), ZeroDivision::Zero).unwrap();
        let expected = [
            ("micro F1", r.micro.f1),
            ("macro F1", r.macro_avg.f1),
            ("samples F1", r.samples.f1),
            ("Hamming loss", r.hamming_loss),
            ("subset accuracy", r.subset_accuracy),
            ("micro precision", r.micro.precision),
            ("micro recall", r.micro.recall),
        ];
        for (name, want) in expected {
            let ci = a.metric(name).unwrap();
            assert!(
                (ci.estimate - want).abs() < 1e-12,
                "{name}: {} vs {want}",
                ci.estimate
            );
            assert!(
                ci.lo <= ci.estimate && ci.estimate <= ci.hi,
                "{name}: {ci:?}"
            );
        }
        // A hand check: tp 20 (joy), predicted 30, gold 14 + 10 + 20 -> micro F1 40 / 74.
        assert_eq!(a.metric("micro F1").unwrap().estimate, 40.0 / 74.0);
        assert!(a.metric("micro F1").unwrap().hi > a.metric("micro F1").unwrap().lo);
        for (row, prfs) in a.per_label.iter().zip(&r.per_label) {
            assert_eq!(
                (row.precision, row.recall, row.f1),
                (prfs.precision, prfs.recall, prfs.f1)
            );
        }
    }

    #[test]
    fn one_pass_intervals_equal_bootstrap_ci() {
        let rows = examples();
        let gold: Vec<Vec<bool>> = rows.iter().map(|r| r.0.clone()).collect();
        let pred: Vec<Vec<bool>> = rows.iter().map(|r| r.1.clone()).collect();
        let u = units(&gold, &pred, 3);
        let boot = Bootstrap {
            resamples: 300,
            seed: 9,
            level: 0.9,
        };
        let ours = headline_intervals(&u, 3, boot);
        for (k, stat) in Stat::ALL.iter().enumerate() {
            assert_eq!(ours[k], boot.ci(&u, |s| stat.eval(s, 3)), "{}", stat.name());
        }
        // ECE: the sparse resampler against dense per-example bin statistics.
        let p: Vec<f64> = rows.iter().map(|r| f64::from(r.2[2])).collect();
        let y: Vec<bool> = gold.iter().map(|g| g[2]).collect();
        let mut dense = Units::new(3 * 10);
        for (&pi, &yi) in p.iter().zip(&y) {
            dense.push(&calibration::ece_stats(&[pi], &[yi], 10));
        }
        let sparse = ece_intervals(&[p], &[y], 10, boot);
        let want = boot.ci(&dense, calibration::ece_from_stats);
        assert!((sparse[0].estimate - want.estimate).abs() < 1e-12);
        assert!((sparse[0].lo - want.lo).abs() < 1e-12 && (sparse[0].hi - want.hi).abs() < 1e-12);
    }

    #[test]
    fn always_missed_label_is_a_high_finding_with_its_counts() {
        let dir = tempfile::tempdir().unwrap();
        let a = analyze(&sources(dir.path()), &params()).unwrap();
        let found = findings(&a, &params());
        let f = find(&found, "recall.anger");
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.numbers["support"], 14.0);
        assert_eq!(f.numbers["missed"], 14.0);
        assert_eq!(f.value, 0.0);
        assert!(f.title.contains("14 of 14"), "{}", f.title);
        assert_eq!(f.evidence.len(), params().max_examples);
        assert!(
            f.evidence
                .iter()
                .all(|e| e.file == "predictions-test.parquet")
        );
        // Most confident misses first: p(anger) 0.1 (ex0..ex9) before 0.3 (ex36..).
        assert_eq!(f.evidence[0].id, "ex0");
        let missed = &a.missed[0];
        assert_eq!(
            (missed.label.as_str(), missed.count, missed.of),
            ("anger", 14, 14)
        );
        assert_eq!(
            missed.examples[0].text.as_deref(),
            Some("text of example 0")
        );
        // `fear` is missed too (read as `joy`); `joy` is found and not a recall finding.
        assert_eq!(find(&found, "recall.fear").severity, Severity::High);
        assert!(found.iter().all(|f| f.id != "recall.joy"));
        // Ranks are 1..n, severity first.
        assert!(found.windows(2).all(|w| w[0].severity <= w[1].severity));
        assert!(found.iter().enumerate().all(|(i, f)| f.rank == i + 1));
    }

    #[test]
    fn confused_pair_is_counted_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let a = analyze(&sources(dir.path()), &params()).unwrap();
        assert_eq!(
            a.cooccurrence_errors.len(),
            1,
            "{:?}",
            a.cooccurrence_errors
        );
        let c = &a.cooccurrence_errors[0];
        assert_eq!(
            (c.missed.as_str(), c.added.as_str(), c.count),
            ("fear", "joy", 10)
        );
        assert_eq!(c.share_of_missed, 1.0);
        assert_eq!(c.examples[0].prob, Some(f64::from(0.2f32)));
        assert_eq!(c.examples[0].prob_added, Some(f64::from(0.8f32)));
        let added = a.added.iter().find(|e| e.label == "joy").unwrap();
        assert_eq!((added.count, added.of), (10, 30));
        let found = findings(&a, &params());
        let f = find(&found, "cooccurrence.fear.joy");
        assert_eq!(f.numbers["count"], 10.0);
        assert_eq!(f.evidence.len(), params().max_examples);
        assert!(f.evidence.iter().all(|e| {
            let i: usize = e.id[2..].parse().unwrap();
            (10..20).contains(&i)
        }));
        // Gold pair (anger, joy): together in 4 examples, never both predicted.
        let p = &a.gold_pairs[0];
        assert_eq!(
            (p.a.as_str(), p.b.as_str(), p.together, p.both_predicted),
            ("anger", "joy", 4, 0)
        );
    }

    #[test]
    fn ece_is_near_zero_when_calibrated_and_large_when_overconfident() {
        let boot = Bootstrap {
            resamples: 200,
            ..Bootstrap::default()
        };
        // p = 0.25 on 20 items with 5 positives, 0.75 on 20 with 15: calibrated.
        let p: Vec<f64> = (0..40).map(|i| if i < 20 { 0.25 } else { 0.75 }).collect();
        let y: Vec<bool> = (0..40).map(|i| (i < 5) || (20..35).contains(&i)).collect();
        // p = 0.95 everywhere, half positive: overconfident by 0.45.
        let q = vec![0.95; 40];
        let z: Vec<bool> = (0..40).map(|i| i % 2 == 0).collect();
        let e = ece_intervals(&[p.clone(), q.clone()], &[y.clone(), z.clone()], 10, boot);
        assert!(e[0].estimate < 1e-12, "{:?}", e[0]);
        assert!((e[1].estimate - 0.45).abs() < 1e-9, "{:?}", e[1]);
        let r = label_reliability("x", &q, &z, e[1], 10);
        assert!((r.brier.unwrap() - (0.5 * 0.05f64.powi(2) + 0.5 * 0.95f64.powi(2))).abs() < 1e-12);
        // A temperature fitted on overconfident scores pulls them towards 0.5.
        let lg: Vec<Vec<f64>> = q.iter().map(|&p| binary_logits(p)).collect();
        let g: Vec<usize> = z.iter().map(|&b| usize::from(b)).collect();
        let t = calibration::fit_temperature(&lg, &g);
        assert!(t.t > 10.0, "{t:?}");
        assert!((scale(0.95, t.t) - 0.5).abs() < 0.01);
    }

    #[test]
    fn miscalibrated_label_is_a_finding_and_a_dev_temperature_fixes_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources(dir.path());
        let dev = dir.path().join("predictions-dev.parquet");
        write(&dev, &examples());
        s.fit = Some(dev);
        let params = ReflectParams {
            fit_split: "dev".into(),
            ..params()
        };
        let a = analyze(&s, &params).unwrap();
        assert_eq!(a.temperature_split.as_deref(), Some("dev"));
        // joy: p 0.8 on 10 negatives, 0.9 on 20 positives, 0.05 on 10 negatives.
        let joy = &a.calibration[2];
        let want = (10.0 * f64::from(0.8f32)
            + 20.0 * (1.0 - f64::from(0.9f32))
            + 10.0 * f64::from(0.05f32))
            / 40.0;
        assert!(
            (joy.report.ece.estimate - want).abs() < 1e-9,
            "{}",
            joy.report.ece.estimate
        );
        assert_eq!(a.per_label[2].ece, Some(joy.report.ece.estimate));
        let found = findings(&a, &params);
        let f = find(&found, "calibration.joy");
        assert!(matches!(f.severity, Severity::Medium | Severity::High));
        assert!(f.numbers.contains_key("temperature"));
        // fear never has p above 0.2 and is present in a quarter of the examples.
        assert!(a.calibration[1].temperature.is_some());
    }

    fn baseline_sources(dir: &Path, rows: &[(Vec<bool>, Vec<bool>, Vec<f32>)]) -> Sources {
        let mut s = sources(dir);
        let base_dir = dir.join("baseline");
        fs_err::create_dir_all(&base_dir).unwrap();
        let b = base_dir.join("predictions-test.parquet");
        write(&b, rows);
        s.baseline = Some(b);
        s
    }

    #[test]
    fn baseline_difference_has_the_right_sign() {
        let dir = tempfile::tempdir().unwrap();
        // A perfect baseline beats the model.
        let perfect: Vec<_> = examples()
            .into_iter()
            .map(|(g, _, p)| (g.clone(), g, p))
            .collect();
        let a = analyze(&baseline_sources(dir.path(), &perfect), &params()).unwrap();
        let b = a.baseline.as_ref().unwrap();
        assert_eq!(b.micro_f1.b.estimate, 1.0);
        assert!(
            b.micro_f1.diff.estimate < 0.0 && b.micro_f1.diff.hi < 0.0,
            "{:?}",
            b.micro_f1
        );
        assert!(b.macro_f1.diff.hi < 0.0);
        let found = findings(&a, &params());
        let f = find(&found, "baseline.micro_f1");
        assert_eq!(f.severity, Severity::High);
        assert!(f.title.contains("baseline beats"), "{}", f.title);
        // A baseline that predicts nothing loses.
        let dir = tempfile::tempdir().unwrap();
        let empty: Vec<_> = examples()
            .into_iter()
            .map(|(g, _, p)| (g, vec![false; 3], p))
            .collect();
        let a = analyze(&baseline_sources(dir.path(), &empty), &params()).unwrap();
        let b = a.baseline.as_ref().unwrap();
        assert!(b.micro_f1.diff.lo > 0.0, "{:?}", b.micro_f1);
        assert_eq!(
            find(&findings(&a, &params()), "baseline.micro_f1").severity,
            Severity::Info
        );
    }

    #[test]
    fn baseline_with_other_examples_is_an_error_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = examples();
        rows.pop();
        let err = analyze(&baseline_sources(dir.path(), &rows), &params())
            .unwrap_err()
            .to_string();
        assert!(err.contains("baseline/predictions-test.parquet"), "{err}");
        assert!(err.contains("1 ids only there (`ex39`)"), "{err}");
    }

    /// A manifest listing `files` (only the listing matters to `Artifact::file`).
    fn artifact(dir: &Path, kind: &str, files: &[&str]) -> Artifact {
        let manifest = serde_json::from_value(json!({
            "layout_version": flowcore::store::LAYOUT_VERSION,
            "stage": kind, "kind": kind, "stage_version": 1, "fingerprint": "f",
            "params": {}, "inputs": [], "raw_inputs": [],
            "files": files.iter().map(|f| json!({"path": f, "bytes": 0, "sha256": ""})).collect::<Vec<_>>(),
            "started": "", "finished": "", "duration_s": 0.0, "tool_version": "",
            "host": {"hostname": "", "os": "", "cpus": 1}, "metrics": {},
        }))
        .unwrap();
        Artifact {
            dir: dir.to_path_buf(),
            manifest,
        }
    }

    #[test]
    fn report_from_artifacts_writes_the_four_files_with_tuned_thresholds() {
        let dir = tempfile::tempdir().unwrap();
        let eval = dir.path().join("evaluate");
        fs_err::create_dir_all(&eval).unwrap();
        write(&eval.join("predictions-test.parquet"), &examples());
        LabelMap::new(TaskKind::Multilabel, labels())
            .write(&eval.join(schema::LABELS_FILE))
            .unwrap();
        fs_err::write(
            eval.join(pcol::METRICS_FILE),
            json!({"test": {"task": "multilabel", "decision": {"thresholds": [0.5, 0.5, 0.06], "tuned_on": "dev"}}}).to_string(),
        )
        .unwrap();
        let evaluate = artifact(
            &eval,
            "evaluate",
            &[
                "predictions-test.parquet",
                schema::LABELS_FILE,
                pcol::METRICS_FILE,
            ],
        );
        assert!(is_multilabel(&evaluate).unwrap());
        let out = dir.path().join("out");
        fs_err::create_dir_all(&out).unwrap();
        let m = write_report(&evaluate, None, &params(), &out).unwrap();
        let found: Vec<Finding> =
            serde_json::from_str(&fs_err::read_to_string(out.join(FINDINGS_JSON)).unwrap())
                .unwrap();
        assert_eq!(m["findings"], found.len());
        assert_eq!(m["task"], "multilabel");
        assert_eq!(m["examples"], 40);
        assert!(
            m["headline_lines"][0]
                .as_str()
                .unwrap()
                .starts_with("micro F1 (test): 0.541 [")
        );
        let t = find(&found, "threshold.joy");
        assert_eq!((t.severity, t.value), (Severity::Medium, 0.06));
        let analysis: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(out.join(ANALYSIS_JSON)).unwrap())
                .unwrap();
        assert_eq!(analysis["decision"]["tuned_on"], "dev");
        // `pred` is what these thresholds decide: no inconsistency noted.
        assert_eq!(analysis["decision"]["inconsistent"], 0);
        let md = fs_err::read_to_string(out.join(REPORT_MD)).unwrap();
        for s in &SECTIONS[..7] {
            assert!(md.contains(&format!("## {s}\n")), "missing section {s}");
        }
        assert!(
            md.contains(
                "| fear | joy | 10 | 100.0 % | ex10: gold `fear`, predicted `joy`, p 0.200 / 0.800"
            ),
            "{md}"
        );
        assert!(
            md.contains("ex0: gold `anger`, predicted ∅, p 0.100 — “text of example 0”"),
            "{md}"
        );
        let html = fs_err::read_to_string(out.join(REPORT_HTML)).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
        assert_eq!(html.matches("<h2>").count(), md.matches("\n## ").count());
        // The stage's headline reader works on these metrics.
        assert!(m["headline_lines"].as_array().unwrap().len() >= 6);
    }
}
