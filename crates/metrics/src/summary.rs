//! The metric set of one split, computed from its [`Predictions`]: what evaluate writes to
//! `metrics.json` / `report.txt` and what baseline and train (dev metric) reuse.
//!
//! - token task: entity P/R/F1 (micro, macro, weighted, per type) in seqeval's default mode
//!   and in strict mode under a tag scheme, plus token accuracy;
//! - sequence task: accuracy, macro- and weighted-F1, per-class scores, the confusion matrix
//!   (rows gold, columns predicted, in label order), and with probabilities and a positive
//!   class, ROC-AUC and PR-AUC (average precision); with a cost matrix, the cost-weighted error.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use flowcore::{TagScheme, TaskKind};
use serde::{Deserialize, Serialize};

use crate::classification::{
    self, ClassReport, CostMatrix, CostSummary, average_precision, confusion_matrix, roc_auc,
};
use crate::entity::{self, EntityReport, Mode};
use crate::error::{MetricsError, Result};
use crate::multilabel::{LabelRanking, MultilabelReport, label_ranking, multilabel_report};
use crate::numpy::format_fixed;
use crate::open_set::{
    CONFUSED_PAIRS, ConfusedPair, DEFAULT_TOP_K, OpenSetMetrics, RejectRule, most_confused,
    open_set_metrics, top_k_accuracy,
};
use crate::predictions::Predictions;
use crate::report::{Prfs, ZeroDivision, nan_as_null};

/// How a split is summarised; usually part of a stage's params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummaryOptions {
    /// Decimal places in the text report.
    pub digits: usize,
    /// Tag scheme of the strict entity mode (token tasks).
    pub scheme: TagScheme,
    /// Value of a precision/recall whose denominator is zero.
    pub zero_division: ZeroDivision,
    /// The positive class of the binary metrics; default: the second label of the label list
    /// when there are two (scikit-learn's convention for `0/1` labels).
    pub positive: Option<String>,
    /// Misclassification costs, gold label → predicted label → cost (sequence tasks).
    pub cost_matrix: Option<CostMatrix>,
    /// The `k` of the top-k accuracies (sequence tasks with probabilities; each `k` below the
    /// number of labels).
    #[serde(skip_serializing_if = "is_default_top_k")]
    pub top_k: Vec<usize>,
    /// Out-of-scope rejection: CLINC150's metrics under this rule (sequence tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject: Option<RejectRule>,
}

fn is_default_top_k(k: &[usize]) -> bool {
    k == DEFAULT_TOP_K
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            digits: 4,
            scheme: TagScheme::Iob2,
            zero_division: ZeroDivision::Zero,
            positive: None,
            cost_matrix: None,
            top_k: DEFAULT_TOP_K.to_vec(),
            reject: None,
        }
    }
}

/// The metrics of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum SplitMetrics {
    /// Token classification.
    Token(TokenMetrics),
    /// Sequence classification.
    Sequence(SequenceMetrics),
    /// Multi-label classification.
    Multilabel(MultilabelMetrics),
}

/// Metrics of a multi-label split: scikit-learn's multi-label scores of the decided label
/// sets (`pred`), and the ranking quality of the per-label probabilities when present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultilabelMetrics {
    /// P/R/F1 per label and averaged, Hamming loss, subset accuracy.
    #[serde(flatten)]
    pub report: MultilabelReport,
    /// Per-label ROC-AUC and average precision of the probabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranking: Vec<LabelRanking>,
    /// Mean per-label ROC-AUC over the labels where it is defined (`null` without
    /// probabilities).
    #[serde(with = "nan_as_null")]
    pub mean_roc_auc: f64,
    /// The decision thresholds that made `pred` (set by the stage that decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ThresholdRecord>,
}

/// How a multi-label split's label sets were decided: `p > threshold` per label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRecord {
    /// The threshold of each label, in label order.
    pub thresholds: Vec<f64>,
    /// The split the thresholds were tuned on (best F1 per label); `None` for one global
    /// threshold.
    pub tuned_on: Option<String>,
}

impl ThresholdRecord {
    /// The record as report lines.
    pub fn to_text(&self, labels: &[String], digits: usize) -> String {
        let mut out = match &self.tuned_on {
            Some(split) => format!("Decision: p > threshold, tuned per label on {split}:\n"),
            None => format!(
                "Decision: p > {}\n",
                format_fixed(self.thresholds.first().copied().unwrap_or(f64::NAN), digits)
            ),
        };
        if self.tuned_on.is_some() {
            for (l, t) in labels.iter().zip(&self.thresholds) {
                let _ = writeln!(out, "  {l}: {}", format_fixed(*t, digits));
            }
        }
        out
    }
}

/// Metrics of a token-classification split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenMetrics {
    /// Number of sentences.
    pub sentences: usize,
    /// Number of words.
    pub words: usize,
    /// Fraction of words whose tag is right.
    #[serde(with = "nan_as_null")]
    pub token_accuracy: f64,
    /// Entities read the lenient, conlleval-compatible way (seqeval's default).
    pub entity: EntityReport,
    /// The scheme of the strict reading.
    pub scheme: TagScheme,
    /// Entities read strictly under `scheme`.
    pub strict: EntityReport,
}

/// Metrics of a sequence-classification split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceMetrics {
    /// Number of examples.
    pub examples: usize,
    /// Fraction of examples whose label is right.
    #[serde(with = "nan_as_null")]
    pub accuracy: f64,
    /// Unweighted mean F1 over all labels of the label list.
    #[serde(with = "nan_as_null")]
    pub macro_f1: f64,
    /// Support-weighted mean F1.
    #[serde(with = "nan_as_null")]
    pub weighted_f1: f64,
    /// Scores per label.
    pub per_class: BTreeMap<String, Prfs>,
    /// Macro averages (precision, recall, F1).
    #[serde(rename = "macro")]
    pub macro_avg: Prfs,
    /// Support-weighted averages.
    pub weighted: Prfs,
    /// Confusion matrix.
    pub confusion: Confusion,
    /// Binary metrics, when there are probabilities and a positive class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<BinaryMetrics>,
    /// Cost-weighted error, when a cost matrix was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSummary>,
    /// With a cost matrix and probabilities: the same examples decided by least expected
    /// cost instead of the most probable class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cost: Option<MinCostDecision>,
    /// The decision rule of the predictions when it is a cost threshold chosen on dev (set by
    /// the stage that chose it: evaluate's `tune_cost_threshold`); `None`: the most probable
    /// class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_decision: Option<crate::classification::CostThreshold>,
    /// Top-k accuracy by `k`, with probabilities and more than `k` labels (scikit-learn's
    /// `top_k_accuracy_score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<BTreeMap<String, f64>>,
    /// The most-confused (gold, predicted) pairs, with three labels or more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confused: Vec<ConfusedPair>,
    /// CLINC150's out-of-scope metrics, under a rejection rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_set: Option<Box<OpenSetMetrics>>,
    /// Ranking metrics over groups of examples (one query's candidates), set by the stage
    /// that knows the groups (evaluate's `group_column`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Box<crate::ranking::RankingMetrics>>,
}

/// Predictions re-decided by least expected cost under the model's probabilities (for a
/// binary task with costs c(bad→good) and c(good→bad): predict bad when P(bad) exceeds
/// c(good→bad) / (c(good→bad) + c(bad→good)), 1/6 for German Credit's 1 and 5). Only as good
/// as the probabilities' calibration, which the reflect report measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinCostDecision {
    /// The cost of the re-decided predictions.
    pub cost: CostSummary,
    /// Their accuracy.
    pub accuracy: f64,
    /// How many predictions differ from the most probable class.
    pub changed: usize,
}

/// A confusion matrix with its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Label order of rows (gold) and columns (predicted).
    pub labels: Vec<String>,
    /// `counts[gold][pred]`.
    pub counts: Vec<Vec<usize>>,
}

/// Ranking metrics of the positive class's probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    /// The positive class.
    pub positive: String,
    /// Area under the ROC curve (NaN when a split holds one class only).
    #[serde(with = "nan_as_null")]
    pub roc_auc: f64,
    /// Area under the precision-recall curve as average precision.
    #[serde(with = "nan_as_null")]
    pub pr_auc: f64,
}

/// The metrics of a split and their human-readable report.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Machine-readable metrics (serialise with serde).
    pub metrics: SplitMetrics,
    /// The text report.
    pub report: String,
}

impl SplitMetrics {
    /// The one number that ranks models: entity micro F1 (default mode) for token tasks,
    /// macro F1 for sequence tasks. Returned with its path in the JSON form.
    pub fn primary(&self) -> (&'static str, f64) {
        match self {
            Self::Token(t) => ("entity.micro.f1", t.entity.micro.f1),
            Self::Sequence(s) => ("macro_f1", s.macro_f1),
            Self::Multilabel(m) => ("macro.f1", m.report.macro_avg.f1),
        }
    }
}

/// Computes the metric set and the text report of one split's predictions.
pub fn summarize(preds: &Predictions, opts: &SummaryOptions) -> Result<Summary> {
    if preds.rows.is_empty() {
        return Err(MetricsError::Input(
            "no predictions to summarise (empty split)".into(),
        ));
    }
    match preds.task {
        TaskKind::Token => summarize_token(preds, opts),
        TaskKind::Sequence => summarize_sequence(preds, opts),
        TaskKind::Multilabel => summarize_multilabel(preds, opts),
    }
}

fn summarize_multilabel(preds: &Predictions, opts: &SummaryOptions) -> Result<Summary> {
    if opts.cost_matrix.is_some() || opts.reject.is_some() || opts.positive.is_some() {
        return Err(MetricsError::Input(
            "cost matrices, rejection rules and a positive class apply to single-label sequence tasks only".into(),
        ));
    }
    let gold = preds.indicators(true)?;
    let pred = preds.indicators(false)?;
    let report = multilabel_report(&gold, &pred, &preds.labels, opts.zero_division)?;
    let ranking = if preds.has_probs() {
        let probs: Vec<Vec<f32>> = preds
            .rows
            .iter()
            .map(|r| r.probs.clone().unwrap_or_default())
            .collect();
        label_ranking(&gold, &probs, &preds.labels)?
    } else {
        Vec::new()
    };
    let defined: Vec<f64> = ranking
        .iter()
        .map(|r| r.roc_auc)
        .filter(|v| v.is_finite())
        .collect();
    let mean_roc_auc = if defined.is_empty() {
        f64::NAN
    } else {
        defined.iter().sum::<f64>() / defined.len() as f64
    };
    let d = opts.digits;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Multi-label classification: {} examples, {} labels ({} examples without a gold label)\n",
        report.examples,
        preds.labels.len(),
        report.empty_gold
    );
    text.push_str(&report.to_text(d));
    let _ = writeln!(
        text,
        "\nHamming loss: {}\nSubset accuracy: {}",
        format_fixed(report.hamming_loss, d),
        format_fixed(report.subset_accuracy, d)
    );
    if !ranking.is_empty() {
        let _ = writeln!(text, "\nRanking of the probabilities per label:");
        let width = preds
            .labels
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(text, "{:>width$}  {:>9}  {:>9}", "label", "ROC-AUC", "AP");
        for r in &ranking {
            let _ = writeln!(
                text,
                "{:>width$}  {:>9}  {:>9}",
                r.label,
                format_fixed(r.roc_auc, d),
                format_fixed(r.average_precision, d)
            );
        }
        let _ = writeln!(text, "Mean ROC-AUC: {}", format_fixed(mean_roc_auc, d));
    }
    Ok(Summary {
        metrics: SplitMetrics::Multilabel(MultilabelMetrics {
            report,
            ranking,
            mean_roc_auc,
            decision: None,
        }),
        report: text,
    })
}

fn summarize_token(preds: &Predictions, opts: &SummaryOptions) -> Result<Summary> {
    if opts.cost_matrix.is_some() {
        return Err(MetricsError::Input(
            "a cost matrix applies to sequence tasks only".into(),
        ));
    }
    let sentences = preds.sentences()?;
    let gold: Vec<Vec<&str>> = sentences.iter().map(|s| s.gold.clone()).collect();
    let pred: Vec<Vec<&str>> = sentences.iter().map(|s| s.pred.clone()).collect();
    let words = preds.rows.len();
    let token_accuracy = entity::token_accuracy(&gold, &pred)?;
    let lenient = entity::entity_report(&gold, &pred, Mode::Default, opts.zero_division)?;
    let strict =
        entity::entity_report(&gold, &pred, Mode::Strict(opts.scheme), opts.zero_division)?;
    let mut report = String::new();
    let d = opts.digits;
    let _ = writeln!(
        report,
        "Token classification: {} sentences, {words} words",
        sentences.len()
    );
    let _ = writeln!(
        report,
        "Token accuracy: {}\n",
        format_fixed(token_accuracy, d)
    );
    let _ = writeln!(report, "Entities, default mode (conlleval-compatible):");
    report.push_str(&lenient.to_text(d));
    let _ = writeln!(report, "\nEntities, {}:", Mode::Strict(opts.scheme));
    report.push_str(&strict.to_text(d));
    Ok(Summary {
        metrics: SplitMetrics::Token(TokenMetrics {
            sentences: sentences.len(),
            words,
            token_accuracy,
            entity: lenient,
            scheme: opts.scheme,
            strict,
        }),
        report,
    })
}

fn summarize_sequence(preds: &Predictions, opts: &SummaryOptions) -> Result<Summary> {
    let gold = preds.gold();
    let pred = preds.pred();
    let labels: Vec<&str> = preds.labels.iter().map(String::as_str).collect();
    let cr: ClassReport =
        classification::classification_report(&gold, &pred, Some(&labels), opts.zero_division)?;
    let accuracy = classification::accuracy(&gold, &pred)?;
    let counts = confusion_matrix(&gold, &pred, &labels)?;
    let binary = binary_metrics(preds, opts)?;
    let cost = match &opts.cost_matrix {
        Some(m) => {
            m.validate(&preds.labels)?;
            Some(m.evaluate(&gold, &pred)?)
        }
        None => None,
    };
    let min_cost = match &opts.cost_matrix {
        Some(m) => min_cost_decision(preds, m)?,
        None => None,
    };
    let top_k = top_k_accuracy(preds, &opts.top_k);
    let confused = if preds.labels.len() > 2 {
        most_confused(&preds.labels, &counts, CONFUSED_PAIRS)
    } else {
        Vec::new()
    };
    let open_set = opts
        .reject
        .as_ref()
        .map(|rule| open_set_metrics(preds, rule).map(Box::new))
        .transpose()?;

    let d = opts.digits;
    let mut report = String::new();
    let _ = writeln!(report, "Sequence classification: {} examples\n", gold.len());
    report.push_str(&cr.to_text(d));
    if preds.labels.len() <= CONFUSION_TEXT_LABELS {
        report.push_str("\nConfusion matrix (rows: gold, columns: predicted):\n");
        report.push_str(&confusion_text(&preds.labels, &counts));
    } else {
        let _ = writeln!(
            report,
            "\nConfusion matrix: {} labels, in metrics.json (`confusion`)",
            preds.labels.len()
        );
    }
    if let Some(t) = &top_k {
        let parts: Vec<String> = t
            .iter()
            .map(|(k, v)| (k.parse::<usize>().unwrap_or(0), v))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .map(|(k, v)| format!("top-{k} {}", format_fixed(*v, d)))
            .collect();
        let _ = writeln!(report, "\nTop-k accuracy: {}", parts.join(", "));
    }
    if !confused.is_empty() {
        let _ = writeln!(
            report,
            "\nMost-confused pairs (gold -> predicted: examples):"
        );
        for c in &confused {
            let _ = writeln!(report, "  {} -> {}: {}", c.gold, c.pred, c.count);
        }
    }
    if let Some(o) = &open_set {
        report.push('\n');
        report.push_str(&o.to_text(d));
    }
    if let Some(b) = &binary {
        let _ = writeln!(
            report,
            "\nPositive class `{}`: ROC-AUC {}, PR-AUC (average precision) {}",
            b.positive,
            format_fixed(b.roc_auc, d),
            format_fixed(b.pr_auc, d)
        );
    }
    if let (Some(c), Some(m)) = (&cost, &opts.cost_matrix) {
        let _ = writeln!(
            report,
            "\nCost-weighted error: {} per example (total {} over {} examples; costs gold -> predicted: {})",
            format_fixed(c.mean, d),
            c.total,
            c.n,
            cost_text(m)
        );
    }
    if let Some(mc) = &min_cost {
        let _ = writeln!(
            report,
            "At the decision of least expected cost under the model's probabilities (sound only if they are calibrated): {} per example, accuracy {}, {} of {} predictions changed",
            format_fixed(mc.cost.mean, d),
            format_fixed(mc.accuracy, d),
            mc.changed,
            mc.cost.n
        );
    }
    Ok(Summary {
        metrics: SplitMetrics::Sequence(SequenceMetrics {
            examples: gold.len(),
            accuracy,
            macro_f1: cr.macro_avg.f1,
            weighted_f1: cr.weighted.f1,
            per_class: cr
                .labels
                .iter()
                .cloned()
                .zip(cr.per_class.iter().copied())
                .collect(),
            macro_avg: cr.macro_avg,
            weighted: cr.weighted,
            confusion: Confusion {
                labels: preds.labels.clone(),
                counts,
            },
            binary,
            cost,
            min_cost,
            cost_decision: None,
            top_k,
            confused,
            open_set,
            ranking: None,
        }),
        report,
    })
}

/// Labels up to which the text report prints the whole confusion matrix.
const CONFUSION_TEXT_LABELS: usize = 20;

/// [`MinCostDecision`] of a split; `None` when a row has no probabilities.
fn min_cost_decision(preds: &Predictions, m: &CostMatrix) -> Result<Option<MinCostDecision>> {
    let mut decided = Vec::with_capacity(preds.rows.len());
    for r in &preds.rows {
        match &r.probs {
            Some(p) if p.len() == preds.labels.len() => {
                decided.push(preds.labels[m.least_expected_cost(&preds.labels, p)].as_str());
            }
            _ => return Ok(None),
        }
    }
    let gold = preds.gold();
    let changed = decided
        .iter()
        .zip(&preds.rows)
        .filter(|(d, r)| **d != r.pred)
        .count();
    Ok(Some(MinCostDecision {
        cost: m.evaluate(&gold, &decided)?,
        accuracy: classification::accuracy(&gold, &decided)?,
        changed,
    }))
}

fn binary_metrics(preds: &Predictions, opts: &SummaryOptions) -> Result<Option<BinaryMetrics>> {
    let positive = match (&opts.positive, preds.labels.len()) {
        (Some(p), _) => p.clone(),
        (None, 2) => preds.labels[1].clone(),
        (None, _) => return Ok(None),
    };
    let index = preds
        .labels
        .iter()
        .position(|l| *l == positive)
        .ok_or_else(|| {
            MetricsError::Input(format!(
                "positive class `{positive}` is not one of the labels {:?}",
                preds.labels
            ))
        })?;
    if !preds.has_probs() {
        return Ok(None);
    }
    let y: Vec<bool> = preds.rows.iter().map(|r| r.gold == positive).collect();
    let scores: Vec<f64> = preds
        .rows
        .iter()
        .map(|r| {
            r.probs
                .as_ref()
                .and_then(|p| p.get(index))
                .map_or(f64::NAN, |&x| f64::from(x))
        })
        .collect();
    Ok(Some(BinaryMetrics {
        positive,
        roc_auc: roc_auc(&y, &scores)?,
        pr_auc: average_precision(&y, &scores)?,
    }))
}

/// A right-aligned count table with gold labels down and predicted labels across.
fn confusion_text(labels: &[String], counts: &[Vec<usize>]) -> String {
    let name_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let cell_w = counts
        .iter()
        .flatten()
        .map(|c| c.to_string().len())
        .chain(labels.iter().map(|l| l.chars().count()))
        .max()
        .unwrap_or(1);
    let mut out = format!("{:>name_w$}", "");
    for l in labels {
        out.push_str(&format!("  {l:>cell_w$}"));
    }
    out.push('\n');
    for (l, row) in labels.iter().zip(counts) {
        out.push_str(&format!("{l:>name_w$}"));
        for c in row {
            out.push_str(&format!("  {c:>cell_w$}"));
        }
        out.push('\n');
    }
    out
}

fn cost_text(m: &CostMatrix) -> String {
    let parts: Vec<String> = m
        .costs
        .iter()
        .flat_map(|(g, row)| row.iter().map(move |(p, c)| format!("{g} -> {p}: {c}")))
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predictions::PredictionRow;

    fn row(
        id: &str,
        word: Option<u32>,
        gold: &str,
        pred: &str,
        probs: Option<Vec<f32>>,
    ) -> PredictionRow {
        PredictionRow {
            id: id.into(),
            word,
            token: None,
            gold: gold.into(),
            pred: pred.into(),
            probs,
        }
    }

    #[test]
    fn token_summary_has_both_modes() {
        let labels = ["O", "B-PER", "I-PER"].map(String::from).to_vec();
        let mut p = Predictions::new(TaskKind::Token, labels);
        // Gold: one PER entity; predicted: an orphan I-PER over the same words.
        p.rows.push(row("s", Some(0), "B-PER", "I-PER", None));
        p.rows.push(row("s", Some(1), "I-PER", "I-PER", None));
        p.rows.push(row("s", Some(2), "O", "O", None));
        let s = summarize(&p, &SummaryOptions::default()).unwrap();
        let SplitMetrics::Token(t) = &s.metrics else {
            panic!("token metrics expected")
        };
        // Lenient mode reads the orphan as an entity, strict IOB2 does not.
        assert_eq!(t.entity.micro.f1, 1.0);
        assert_eq!(t.strict.micro.f1, 0.0);
        assert_eq!(t.words, 3);
        assert!((t.token_accuracy - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(s.metrics.primary(), ("entity.micro.f1", 1.0));
        assert!(s.report.contains("strict (IOB2)"), "{}", s.report);
        let json = serde_json::to_value(&s.metrics).unwrap();
        assert_eq!(json["task"], "token");
        assert_eq!(json["strict"]["micro"]["f1"], 0.0);
        let back: SplitMetrics = serde_json::from_value(json).unwrap();
        assert_eq!(back, s.metrics);
    }

    #[test]
    fn binary_sequence_summary_with_costs() {
        let labels = ["good", "bad"].map(String::from).to_vec();
        let mut p = Predictions::new(TaskKind::Sequence, labels);
        for (i, (g, pr, pb)) in [
            // scikit-learn's roc_auc_score docstring example: AUC 0.75.
            ("good", "good", 0.1f32),
            ("good", "bad", 0.4),
            ("bad", "good", 0.35),
            ("bad", "bad", 0.8),
        ]
        .into_iter()
        .enumerate()
        {
            p.rows
                .push(row(&i.to_string(), None, g, pr, Some(vec![1.0 - pb, pb])));
        }
        let opts = SummaryOptions {
            cost_matrix: Some(CostMatrix::german_credit("good", "bad")),
            ..SummaryOptions::default()
        };
        let s = summarize(&p, &opts).unwrap();
        let SplitMetrics::Sequence(m) = &s.metrics else {
            panic!("sequence metrics expected")
        };
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.confusion.counts, vec![vec![1, 1], vec![1, 1]]);
        let b = m.binary.as_ref().unwrap();
        assert_eq!(b.positive, "bad");
        assert_eq!(b.roc_auc, 0.75);
        let cost = m.cost.as_ref().unwrap();
        assert_eq!((cost.total, cost.mean), (6.0, 1.5));
        assert!(
            s.report.contains("Cost-weighted error: 1.5000"),
            "{}",
            s.report
        );
        // Least expected cost: predict bad when P(bad) > 1/6, which re-decides the third
        // example (gold bad, P(bad) 0.35): costs 0 + 1 + 0 + 0.
        let mc = m.min_cost.as_ref().unwrap();
        assert_eq!((mc.cost.total, mc.cost.mean), (1.0, 0.25));
        assert_eq!((mc.accuracy, mc.changed), (0.75, 1));
        assert!(
            s.report
                .contains("0.2500 per example, accuracy 0.7500, 1 of 4 predictions changed"),
            "{}",
            s.report
        );
        let json = serde_json::to_value(&s.metrics).unwrap();
        let back: SplitMetrics = serde_json::from_value(json).unwrap();
        assert_eq!(back, s.metrics);
    }

    #[test]
    fn unknown_positive_class_is_an_error() {
        let mut p = Predictions::new(TaskKind::Sequence, vec!["a".into(), "b".into()]);
        p.rows.push(row("0", None, "a", "a", Some(vec![0.5, 0.5])));
        let opts = SummaryOptions {
            positive: Some("c".into()),
            ..SummaryOptions::default()
        };
        let err = summarize(&p, &opts).unwrap_err().to_string();
        assert!(err.contains("`c`"), "{err}");
    }
}
