//! The per-label table (support, P/R/F1, missed and added counts, ranking, threshold and
//! calibration of each label) and the labels most often missed and added, with the most
//! confident example rows.

use metrics::multilabel::{LabelRanking, MultilabelReport};
use metrics::predictions::join_set;
use serde::{Deserialize, Serialize};

use super::calibration::LabelCalibration;
use crate::data::multilabel::Table;
use crate::stats::proportion::{share, wilson};

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

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// One row per label of `t`, in label order.
pub(crate) fn rows(
    t: &Table,
    report: &MultilabelReport,
    ranking: Option<&[LabelRanking]>,
    thresholds: &[f64],
    calib: &[LabelCalibration],
) -> Vec<LabelRow> {
    let (l, n) = (t.labels.len(), t.len());
    (0..l)
        .map(|j| {
            let s = &report.per_label[j];
            let tp = (0..n).filter(|&i| t.gold[i][j] && t.pred[i][j]).count();
            let support = s.support;
            let predicted = (0..n).filter(|&i| t.pred[i][j]).count();
            let (missed, added) = (support - tp, predicted - tp);
            let rank = ranking.map(|r| &r[j]);
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
                threshold: thresholds[j],
                mean_prob: cal.map(|c| c.mean_prob),
                ece: cal.map(|c| c.report.ece.estimate),
                brier: cal.and_then(|c| c.report.brier),
            }
        })
        .collect()
}

/// Example `i` as evidence of an error on label `j` (and `other`, the added label of a
/// co-occurrence error).
pub(crate) fn example(t: &Table, i: usize, j: usize, other: Option<usize>) -> ErrorExample {
    ErrorExample {
        id: t.ids[i].clone(),
        text: t.text[i].clone(),
        gold: join_set(&t.labels, &t.gold[i]),
        pred: join_set(&t.labels, &t.pred[i]),
        prob: t.prob(i, j),
        prob_added: other.and_then(|k| t.prob(i, k)),
    }
}

/// Sorts example rows most confident first for label `j`: lowest p for a miss (`ascending`),
/// highest for an addition; then file order.
pub(crate) fn by_prob(t: &Table, rows: &mut [usize], j: usize, ascending: bool) {
    rows.sort_by(|&a, &b| {
        let (pa, pb) = (t.prob(a, j).unwrap_or(0.0), t.prob(b, j).unwrap_or(0.0));
        let c = if ascending {
            pa.total_cmp(&pb)
        } else {
            pb.total_cmp(&pa)
        };
        c.then(a.cmp(&b))
    });
}

/// The labels with false negatives (`missed`) or false positives, most first, each with its
/// `max` most confident examples.
pub(crate) fn errors(
    t: &Table,
    per_label: &[LabelRow],
    missed: bool,
    max: usize,
) -> Vec<LabelErrors> {
    let (l, n) = (t.labels.len(), t.len());
    let mut out: Vec<LabelErrors> = (0..l)
        .map(|j| {
            let mut rows: Vec<usize> = (0..n)
                .filter(|&i| {
                    let (g, p) = (t.gold[i][j], t.pred[i][j]);
                    if missed { g && !p } else { p && !g }
                })
                .collect();
            by_prob(t, &mut rows, j, missed);
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
                    .map(|&i| example(t, i, j, None))
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
}
