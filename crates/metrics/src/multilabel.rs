//! Multi-label classification metrics (several labels per example, a probability per label),
//! equal to scikit-learn's on label-indicator matrices: precision / recall / F1 with the
//! `micro`, `macro`, `weighted` and `samples` averages, the multilabel
//! `classification_report` text, Hamming loss, subset accuracy (`accuracy_score`), and per
//! label ROC-AUC and average precision; plus decisions at a global threshold or at one tuned
//! per label on dev.
//!
//! A label is predicted when its probability is **above** the threshold (`p > t`, as HF's
//! multi-label examples decide `sigmoid(logit) > 0.5`). The fixture
//! (`tests/fixtures/multilabel_cases.json`, made by `scripts/fixtures/metrics/make_fixtures.py`
//! with scikit-learn) holds the reference numbers.

use serde::{Deserialize, Serialize};

use crate::classification::{average_precision, roc_auc};
use crate::error::{MetricsError, Result};
use crate::numpy;
use crate::report::{self, Prfs, ZeroDivision, nan_as_null};

/// The decision threshold of every label unless tuned: `p > 0.5`, as HF's examples decide.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// Indicator rows: `y[i][j]` is whether example `i` has label `j`.
pub type Indicators = [Vec<bool>];

/// The multi-label metric set of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultilabelReport {
    /// Label names, in column order.
    pub labels: Vec<String>,
    /// Scores per label.
    pub per_label: Vec<Prfs>,
    /// Micro average (counts pooled over labels and examples).
    pub micro: Prfs,
    /// Macro average (mean over labels).
    #[serde(rename = "macro")]
    pub macro_avg: Prfs,
    /// Support-weighted average over labels.
    pub weighted: Prfs,
    /// Mean over examples of each example's precision, recall and F1.
    pub samples: Prfs,
    /// Share of label decisions that are wrong.
    pub hamming_loss: f64,
    /// Share of examples whose whole label set is right.
    pub subset_accuracy: f64,
    /// Examples.
    pub examples: usize,
    /// Examples with no gold label.
    pub empty_gold: usize,
}

/// Per-label ranking quality of the probabilities (NaN where a label has one class only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelRanking {
    /// The label.
    pub label: String,
    /// ROC-AUC of its probability.
    #[serde(with = "nan_as_null")]
    pub roc_auc: f64,
    /// Average precision of its probability.
    #[serde(with = "nan_as_null")]
    pub average_precision: f64,
}

fn check_shape(y_true: &Indicators, y_pred: &Indicators, n_labels: usize) -> Result<()> {
    if y_true.len() != y_pred.len() {
        return Err(MetricsError::Input(format!(
            "{} gold rows but {} predicted rows",
            y_true.len(),
            y_pred.len()
        )));
    }
    for (i, (t, p)) in y_true.iter().zip(y_pred).enumerate() {
        if t.len() != n_labels || p.len() != n_labels {
            return Err(MetricsError::Input(format!(
                "row {i}: {} gold and {} predicted indicators for {n_labels} labels",
                t.len(),
                p.len()
            )));
        }
    }
    Ok(())
}

/// scikit-learn's `_prf_divide` and F-score for counts.
fn prf(tp: f64, pred: f64, true_: f64, support: usize, zd: f64) -> Prfs {
    let div = |a: f64, b: f64| if b == 0.0 { zd } else { a / b };
    Prfs {
        precision: div(tp, pred),
        recall: div(tp, true_),
        f1: div(2.0 * tp, true_ + pred),
        support,
    }
}

/// The report of predicted indicators against gold ones (`labels` names the columns).
pub fn multilabel_report(
    y_true: &Indicators,
    y_pred: &Indicators,
    labels: &[String],
    zero_division: ZeroDivision,
) -> Result<MultilabelReport> {
    let l = labels.len();
    check_shape(y_true, y_pred, l)?;
    if y_true.is_empty() {
        return Err(MetricsError::Input("no examples".into()));
    }
    let zd = zero_division.value();
    let (mut tp, mut pred, mut true_) = (vec![0usize; l], vec![0usize; l], vec![0usize; l]);
    let (mut sp, mut sr, mut sf) = (Vec::new(), Vec::new(), Vec::new());
    let (mut wrong_cells, mut exact, mut empty_gold) = (0usize, 0usize, 0usize);
    for (t, p) in y_true.iter().zip(y_pred) {
        let (mut etp, mut epred, mut etrue) = (0usize, 0usize, 0usize);
        for j in 0..l {
            let (a, b) = (t[j], p[j]);
            tp[j] += usize::from(a && b);
            pred[j] += usize::from(b);
            true_[j] += usize::from(a);
            etp += usize::from(a && b);
            epred += usize::from(b);
            etrue += usize::from(a);
            wrong_cells += usize::from(a != b);
        }
        exact += usize::from(t == p);
        empty_gold += usize::from(etrue == 0);
        let s = prf(etp as f64, epred as f64, etrue as f64, 0, zd);
        sp.push(s.precision);
        sr.push(s.recall);
        sf.push(s.f1);
    }
    let per_label: Vec<Prfs> = (0..l)
        .map(|j| prf(tp[j] as f64, pred[j] as f64, true_[j] as f64, true_[j], zd))
        .collect();
    let total: usize = true_.iter().sum();
    let micro = prf(
        tp.iter().sum::<usize>() as f64,
        pred.iter().sum::<usize>() as f64,
        total as f64,
        total,
        zd,
    );
    let col = |f: fn(&Prfs) -> f64| per_label.iter().map(f).collect::<Vec<f64>>();
    let (ps, rs, fs) = (col(|x| x.precision), col(|x| x.recall), col(|x| x.f1));
    let wavg = |a: &[f64]| numpy::weighted_average(a, &true_).unwrap_or_else(|| numpy::mean(a));
    let n = y_true.len();
    Ok(MultilabelReport {
        labels: labels.to_vec(),
        micro,
        macro_avg: Prfs {
            precision: numpy::mean(&ps),
            recall: numpy::mean(&rs),
            f1: numpy::mean(&fs),
            support: total,
        },
        weighted: Prfs {
            precision: wavg(&ps),
            recall: wavg(&rs),
            f1: wavg(&fs),
            support: total,
        },
        samples: Prfs {
            precision: numpy::mean(&sp),
            recall: numpy::mean(&sr),
            f1: numpy::mean(&sf),
            support: total,
        },
        per_label,
        hamming_loss: wrong_cells as f64 / (n * l) as f64,
        subset_accuracy: exact as f64 / n as f64,
        examples: n,
        empty_gold,
    })
}

impl MultilabelReport {
    /// The text scikit-learn's `classification_report` prints for label-indicator input.
    pub fn to_text(&self, digits: usize) -> String {
        let (mut out, width) = report::label_rows(&self.labels, &self.per_label, digits);
        for (name, s) in [
            ("micro avg", &self.micro),
            ("macro avg", &self.macro_avg),
            ("weighted avg", &self.weighted),
            ("samples avg", &self.samples),
        ] {
            out.push_str(&report::row(name, s, width, digits));
            out.push('\n');
        }
        out
    }
}

/// Indicators of `probs > thresholds[j]` (one threshold per label).
pub fn decide(probs: &[Vec<f32>], thresholds: &[f64]) -> Vec<Vec<bool>> {
    probs
        .iter()
        .map(|p| {
            p.iter()
                .zip(thresholds)
                .map(|(&x, &t)| f64::from(x) > t)
                .collect()
        })
        .collect()
}

/// Per-label ROC-AUC and average precision of `probs` against `y_true`.
pub fn label_ranking(
    y_true: &Indicators,
    probs: &[Vec<f32>],
    labels: &[String],
) -> Result<Vec<LabelRanking>> {
    labels
        .iter()
        .enumerate()
        .map(|(j, label)| {
            let y: Vec<bool> = y_true.iter().map(|r| r[j]).collect();
            let s: Vec<f64> = probs.iter().map(|p| f64::from(p[j])).collect();
            Ok(LabelRanking {
                label: label.clone(),
                roc_auc: roc_auc(&y, &s)?,
                average_precision: average_precision(&y, &s)?,
            })
        })
        .collect()
}

/// For each label, the threshold (0 or one of its probabilities on this split) that gives
/// the best F1 under `p > t`; ties go to the threshold nearest `default` (then the lower). A
/// label without a gold example keeps `default`.
pub fn tune_thresholds(y_true: &Indicators, probs: &[Vec<f32>], default: f64) -> Vec<f64> {
    let l = probs.first().map_or(0, Vec::len);
    (0..l)
        .map(|j| {
            let mut pairs: Vec<(f64, bool)> = probs
                .iter()
                .zip(y_true)
                .map(|(p, t)| (f64::from(p[j]), t[j]))
                .collect();
            let positives = pairs.iter().filter(|x| x.1).count();
            if positives == 0 {
                return default;
            }
            // Descending scores: with threshold t = score k, the predicted positives are the
            // scores strictly above it.
            pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut best = (f64::NEG_INFINITY, default);
            let consider = |f1: f64, t: f64, best: &mut (f64, f64)| {
                let better = f1 > best.0
                    || (f1 == best.0
                        && ((t - default).abs() < (best.1 - default).abs()
                            || ((t - default).abs() == (best.1 - default).abs() && t < best.1)));
                if better {
                    *best = (f1, t);
                }
            };
            let (mut tp, mut pred) = (0usize, 0usize);
            let mut i = 0;
            // t at or above the top score: nothing predicted, F1 0.
            consider(0.0, pairs[0].0, &mut best);
            while i < pairs.len() {
                let s = pairs[i].0;
                while i < pairs.len() && pairs[i].0 == s {
                    tp += usize::from(pairs[i].1);
                    pred += 1;
                    i += 1;
                }
                // Everything down to score s is above the next lower score (or 0).
                let t = if i < pairs.len() { pairs[i].0 } else { 0.0 };
                if t < s {
                    let f1 = 2.0 * tp as f64 / (positives + pred) as f64;
                    consider(f1, t, &mut best);
                }
            }
            best.1
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[&[u8]]) -> Vec<Vec<bool>> {
        v.iter()
            .map(|r| r.iter().map(|&x| x == 1).collect())
            .collect()
    }

    #[test]
    fn averages_follow_scikit_learns_definitions() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let t = rows(&[&[1, 0, 1], &[0, 1, 0], &[1, 1, 0], &[0, 0, 0]]);
        let p = rows(&[&[1, 0, 0], &[0, 1, 1], &[1, 0, 0], &[0, 0, 0]]);
        let r = multilabel_report(&t, &p, &labels, ZeroDivision::Zero).unwrap();
        // Micro: tp 3, predicted 4, gold 5.
        assert_eq!(r.micro.precision, 0.75);
        assert_eq!(r.micro.recall, 0.6);
        assert_eq!(r.hamming_loss, 3.0 / 12.0);
        assert_eq!(r.subset_accuracy, 0.25);
        assert_eq!(r.empty_gold, 1);
        // Samples: the empty example scores 0 everywhere (zero_division 0).
        assert_eq!(r.samples.precision, (1.0 + 0.5 + 1.0 + 0.0) / 4.0);
        assert!(r.to_text(2).contains("samples avg"));
    }

    #[test]
    fn tuned_thresholds_maximise_each_labels_f1() {
        // Label 0: positives at 0.9 and 0.4, a negative at 0.6: best F1 keeps all three
        // (t below 0.4: F1 0.8) against t = 0.6 (only 0.9: F1 0.667).
        let probs = vec![vec![0.9f32], vec![0.6], vec![0.4], vec![0.1]];
        let t = rows(&[&[1], &[0], &[1], &[0]]);
        let th = tune_thresholds(&t, &probs, 0.5);
        assert_eq!(th, vec![0.1f32 as f64]);
        let d = decide(&probs, &th);
        assert_eq!(d, rows(&[&[1], &[1], &[1], &[0]]));
        // No positive: the default.
        let none = rows(&[&[0], &[0], &[0], &[0]]);
        assert_eq!(tune_thresholds(&none, &probs, 0.5), vec![0.5]);
    }
}
