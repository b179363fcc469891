//! Classification metrics equal to scikit-learn's: `classification_report` (text and dict),
//! `confusion_matrix`, `accuracy_score`, macro-F1, `roc_auc_score`,
//! `average_precision_score`, and a cost-weighted error from a cost matrix.
//!
//! Labels are strings in a fixed order given by the caller (normally `labels.json`); without
//! one, the sorted union of gold and predicted labels is used, as scikit-learn does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{MetricsError, Result};
use crate::numpy::{self, format_fixed};
use crate::report::{self, Prfs, ZeroDivision};

/// scikit-learn's `classification_report` as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// The labels reported on, in report order.
    pub labels: Vec<String>,
    /// Scores per label, in `labels` order.
    pub per_class: Vec<Prfs>,
    /// Accuracy, when the report prints it (every observed label is in `labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Micro average, when the report prints it instead of accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub micro: Option<Prfs>,
    /// Unweighted mean over labels.
    #[serde(rename = "macro")]
    pub macro_avg: Prfs,
    /// Mean weighted by support.
    pub weighted: Prfs,
}

/// Counts of one label against all others.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    tp: usize,
    pred: usize,
    true_: usize,
}

/// The label list to report on: the given one, or the sorted union of observed labels.
fn resolve_labels<S: AsRef<str>>(
    y_true: &[S],
    y_pred: &[S],
    labels: Option<&[S]>,
) -> Result<(Vec<String>, bool)> {
    if y_true.len() != y_pred.len() {
        return Err(MetricsError::Input(format!(
            "{} gold labels but {} predicted",
            y_true.len(),
            y_pred.len()
        )));
    }
    if y_true.is_empty() {
        return Err(MetricsError::Input("no examples to score".into()));
    }
    match labels {
        Some(l) => {
            let list: Vec<String> = l.iter().map(|s| s.as_ref().to_owned()).collect();
            let unique: BTreeSet<&String> = list.iter().collect();
            if list.is_empty() || unique.len() != list.len() {
                return Err(MetricsError::Input(format!(
                    "the label list must be non-empty and without duplicates: {list:?}"
                )));
            }
            Ok((list, true))
        }
        None => {
            let set: BTreeSet<&str> = y_true.iter().chain(y_pred).map(AsRef::as_ref).collect();
            Ok((set.into_iter().map(str::to_owned).collect(), false))
        }
    }
}

fn count<S: AsRef<str>>(y_true: &[S], y_pred: &[S], labels: &[String]) -> Vec<Counts> {
    let index: HashMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut counts = vec![Counts::default(); labels.len()];
    for (t, p) in y_true.iter().zip(y_pred) {
        let (t, p) = (t.as_ref(), p.as_ref());
        if let Some(&i) = index.get(t) {
            counts[i].true_ += 1;
        }
        if let Some(&i) = index.get(p) {
            counts[i].pred += 1;
            if t == p {
                counts[i].tp += 1;
            }
        }
    }
    counts
}

/// Precision, recall and F1 in scikit-learn's formulas: F1 = 2·tp / (true + pred).
fn prf(c: Counts, zd: f64) -> Prfs {
    // scikit-learn: F = (1 + β²)·tp / (β²·true + pred) with β = 1; exact in f64 for counts.
    let ratio = |num: f64, den: usize| if den == 0 { zd } else { num / den as f64 };
    let f_den = c.true_ as f64 + c.pred as f64;
    Prfs {
        precision: ratio(c.tp as f64, c.pred),
        recall: ratio(c.tp as f64, c.true_),
        f1: if f_den == 0.0 {
            zd
        } else {
            2.0 * c.tp as f64 / f_den
        },
        support: c.true_,
    }
}

/// scikit-learn's `classification_report` (`labels` optional, as there).
pub fn classification_report<S: AsRef<str>>(
    y_true: &[S],
    y_pred: &[S],
    labels: Option<&[S]>,
    zero_division: ZeroDivision,
) -> Result<ClassReport> {
    let (labels, given) = resolve_labels(y_true, y_pred, labels)?;
    let zd = zero_division.value();
    let counts = count(y_true, y_pred, &labels);
    let per_class: Vec<Prfs> = counts.iter().map(|&c| prf(c, zd)).collect();
    let total: usize = counts.iter().map(|c| c.true_).sum();
    let micro = prf(
        Counts {
            tp: counts.iter().map(|c| c.tp).sum(),
            pred: counts.iter().map(|c| c.pred).sum(),
            true_: total,
        },
        zd,
    );
    let micro = Prfs {
        support: total,
        ..micro
    };
    let micro_is_accuracy = !given || {
        let set: BTreeSet<&str> = labels.iter().map(String::as_str).collect();
        y_true
            .iter()
            .chain(y_pred)
            .all(|l| set.contains(l.as_ref()))
    };
    let col = |f: fn(&Prfs) -> f64| per_class.iter().map(f).collect::<Vec<f64>>();
    let (ps, rs, fs) = (col(|x| x.precision), col(|x| x.recall), col(|x| x.f1));
    let supports: Vec<usize> = counts.iter().map(|c| c.true_).collect();
    // `_nanaverage` falls back to the plain mean when all weights are zero.
    let wavg = |a: &[f64]| numpy::weighted_average(a, &supports).unwrap_or_else(|| numpy::mean(a));
    Ok(ClassReport {
        labels,
        accuracy: micro_is_accuracy.then_some(micro.precision),
        micro: (!micro_is_accuracy).then_some(micro),
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
        per_class,
    })
}

impl ClassReport {
    /// The text report exactly as scikit-learn's `classification_report(digits=…)` prints it.
    pub fn to_text(&self, digits: usize) -> String {
        let (mut out, width) = report::label_rows(&self.labels, &self.per_class, digits);
        // When every label is reported, micro P = R = F1 = accuracy; scikit-learn prints the
        // F1 column (2·tp / 2n, bit-identical to tp / n) on an `accuracy` line.
        match (self.accuracy, &self.micro) {
            (Some(acc), _) => {
                out.push_str(&format!("{:>width$} ", "accuracy"));
                out.push_str(&format!(" {:>9} {:>9}", "", ""));
                out.push_str(&format!(" {:>9}", format_fixed(acc, digits)));
                out.push_str(&format!(" {:>9}\n", self.macro_avg.support));
            }
            (None, Some(micro)) => {
                out.push_str(&report::row("micro avg", micro, width, digits));
                out.push('\n');
            }
            (None, None) => {}
        }
        out.push_str(&report::row("macro avg", &self.macro_avg, width, digits));
        out.push('\n');
        out.push_str(&report::row("weighted avg", &self.weighted, width, digits));
        out.push('\n');
        out
    }

    /// The dict scikit-learn returns with `output_dict=True`: one entry per label and
    /// average with `precision`, `recall`, `f1-score`, `support` (a float, as there), and
    /// `accuracy` as a bare number.
    pub fn to_dict(&self) -> Value {
        let entry = |s: &Prfs| {
            json!({
                "precision": num(s.precision),
                "recall": num(s.recall),
                "f1-score": num(s.f1),
                "support": s.support as f64,
            })
        };
        let mut map = Map::new();
        for (name, s) in self.labels.iter().zip(&self.per_class) {
            map.insert(name.clone(), entry(s));
        }
        if let Some(a) = self.accuracy {
            map.insert("accuracy".into(), num(a));
        }
        if let Some(m) = &self.micro {
            map.insert("micro avg".into(), entry(m));
        }
        map.insert("macro avg".into(), entry(&self.macro_avg));
        map.insert("weighted avg".into(), entry(&self.weighted));
        Value::Object(map)
    }
}

/// A float as JSON, NaN as `null`.
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// scikit-learn's `confusion_matrix(y_true, y_pred, labels=labels)`: rows are gold labels,
/// columns predicted labels, both in `labels` order; pairs with a label outside the list are
/// left out.
pub fn confusion_matrix<S: AsRef<str>>(
    y_true: &[S],
    y_pred: &[S],
    labels: &[S],
) -> Result<Vec<Vec<usize>>> {
    resolve_labels(y_true, y_pred, Some(labels))?;
    let index: HashMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_ref(), i))
        .collect();
    let mut m = vec![vec![0usize; labels.len()]; labels.len()];
    for (t, p) in y_true.iter().zip(y_pred) {
        if let (Some(&i), Some(&j)) = (index.get(t.as_ref()), index.get(p.as_ref())) {
            m[i][j] += 1;
        }
    }
    Ok(m)
}

/// scikit-learn's `accuracy_score`: the fraction of exact matches.
pub fn accuracy<S: AsRef<str>>(y_true: &[S], y_pred: &[S]) -> Result<f64> {
    resolve_labels(y_true, y_pred, None)?;
    let correct = y_true
        .iter()
        .zip(y_pred)
        .filter(|(a, b)| a.as_ref() == b.as_ref())
        .count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// scikit-learn's `f1_score(average="macro")` over `labels` (or the observed labels).
pub fn macro_f1<S: AsRef<str>>(
    y_true: &[S],
    y_pred: &[S],
    labels: Option<&[S]>,
    zero_division: ZeroDivision,
) -> Result<f64> {
    Ok(
        classification_report(y_true, y_pred, labels, zero_division)?
            .macro_avg
            .f1,
    )
}

/// Cumulative true and false positives at each distinct score, highest score first
/// (scikit-learn's `confusion_matrix_at_thresholds`).
fn binary_clf_curve(y_true: &[bool], scores: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    if y_true.len() != scores.len() {
        return Err(MetricsError::Input(format!(
            "{} labels but {} scores",
            y_true.len(),
            scores.len()
        )));
    }
    if y_true.is_empty() {
        return Err(MetricsError::Input("no examples to score".into()));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::Input(format!(
            "score {i} is {}; scores must be finite",
            scores[i]
        )));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Descending; order within ties does not matter because only tie-block ends are kept.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tps, mut fps) = (Vec::new(), Vec::new());
    let mut tp = 0.0;
    for (k, &i) in order.iter().enumerate() {
        if y_true[i] {
            tp += 1.0;
        }
        let last_of_block = k + 1 == order.len() || scores[order[k + 1]] != scores[i];
        if last_of_block {
            tps.push(tp);
            fps.push(1.0 + k as f64 - tp);
        }
    }
    Ok((tps, fps))
}

/// Points of scikit-learn's `roc_curve` (`drop_intermediate=True`): `(fpr, tpr)`.
pub fn roc_curve(y_true: &[bool], scores: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
    let (mut tps, mut fps) = binary_clf_curve(y_true, scores)?;
    if fps.len() > 2 {
        // Keep corners only: a point collinear with its neighbours adds nothing to the area.
        let n = fps.len();
        let keep: Vec<bool> = (0..n)
            .map(|k| {
                k == 0
                    || k == n - 1
                    || (fps[k + 1] - fps[k]) - (fps[k] - fps[k - 1]) != 0.0
                    || (tps[k + 1] - tps[k]) - (tps[k] - tps[k - 1]) != 0.0
            })
            .collect();
        let filter = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .zip(&keep)
                .filter_map(|(x, &k)| k.then_some(*x))
                .collect()
        };
        tps = filter(&tps);
        fps = filter(&fps);
    }
    tps.insert(0, 0.0);
    fps.insert(0, 0.0);
    let normalise = |v: &[f64]| -> Vec<f64> {
        let last = v[v.len() - 1];
        if last <= 0.0 {
            vec![f64::NAN; v.len()]
        } else {
            v.iter().map(|x| x / last).collect()
        }
    };
    Ok((normalise(&fps), normalise(&tps)))
}

/// scikit-learn's `roc_auc_score` for a binary task (`y_true`: is the positive class).
/// NaN when only one class is present, as scikit-learn returns.
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    let (fpr, tpr) = roc_curve(y_true, scores)?;
    if y_true.iter().all(|&y| y) || y_true.iter().all(|&y| !y) {
        return Ok(f64::NAN);
    }
    // `np.trapezoid(tpr, fpr)`: the terms, then NumPy's pairwise sum.
    let terms: Vec<f64> = (1..fpr.len())
        .map(|i| (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2.0)
        .collect();
    Ok(numpy::sum(&terms))
}

/// scikit-learn's `average_precision_score` for a binary task: the step-wise area under the
/// precision-recall curve, `Σ (Rₙ − Rₙ₋₁) Pₙ` (no interpolation).
pub fn average_precision(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    let (tps, fps) = binary_clf_curve(y_true, scores)?;
    let last_tp = tps[tps.len() - 1];
    let precision: Vec<f64> = tps
        .iter()
        .zip(&fps)
        .map(|(t, f)| if t + f != 0.0 { t / (t + f) } else { 0.0 })
        .collect();
    let recall: Vec<f64> = if last_tp == 0.0 {
        vec![1.0; tps.len()]
    } else {
        tps.iter().map(|t| t / last_tp).collect()
    };
    // scikit-learn reverses both curves and appends (recall 0, precision 1).
    let rev_p: Vec<f64> = precision.iter().rev().copied().collect();
    let mut rev_r: Vec<f64> = recall.iter().rev().copied().collect();
    rev_r.push(0.0);
    let terms: Vec<f64> = (0..rev_p.len())
        .map(|k| (rev_r[k + 1] - rev_r[k]) * rev_p[k])
        .collect();
    Ok(0.0f64.max(-numpy::sum(&terms)))
}

/// Misclassification costs: `costs[gold][pred]`, zero where not given.
///
/// German Credit documents a cost of 5 for a bad customer predicted good and 1 for a good
/// customer predicted bad: `{"bad": {"good": 5}, "good": {"bad": 1}}`, built by
/// [`CostMatrix::german_credit`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CostMatrix {
    /// Gold label → predicted label → cost.
    pub costs: BTreeMap<String, BTreeMap<String, f64>>,
}

/// The cost of a set of predictions under a [`CostMatrix`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    /// Sum of the costs of every example.
    pub total: f64,
    /// Mean cost per example (the cost-weighted error).
    pub mean: f64,
    /// Number of examples.
    pub n: usize,
}

impl CostMatrix {
    /// German Credit's documented costs, with the names its labels have in the data.
    pub fn german_credit(good: &str, bad: &str) -> Self {
        let mut costs = BTreeMap::new();
        costs.insert(bad.to_owned(), BTreeMap::from([(good.to_owned(), 5.0)]));
        costs.insert(good.to_owned(), BTreeMap::from([(bad.to_owned(), 1.0)]));
        Self { costs }
    }

    /// The cost of predicting `pred` for an example whose gold label is `gold`.
    pub fn cost(&self, gold: &str, pred: &str) -> f64 {
        self.costs
            .get(gold)
            .and_then(|row| row.get(pred))
            .copied()
            .unwrap_or(0.0)
    }

    /// Checks that every label named is in `labels` and every cost is finite and >= 0.
    pub fn validate(&self, labels: &[String]) -> Result<()> {
        for (gold, row) in &self.costs {
            for (pred, c) in row {
                for l in [gold, pred] {
                    if !labels.contains(l) {
                        return Err(MetricsError::Input(format!(
                            "cost matrix: label `{l}` is not one of {labels:?}"
                        )));
                    }
                }
                if !c.is_finite() || *c < 0.0 {
                    return Err(MetricsError::Input(format!(
                        "cost matrix: cost of gold `{gold}` predicted `{pred}` is {c}; expected a finite number >= 0"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The label of least expected cost for one example: the `k` minimising
    /// `sum_j probs[j] * cost(labels[j], labels[k])` (the Bayes decision under the model's
    /// probabilities; `probs` follow `labels`). Ties go to the earlier label.
    pub fn least_expected_cost(&self, labels: &[String], probs: &[f32]) -> usize {
        let expected = |k: usize| -> f64 {
            labels
                .iter()
                .zip(probs)
                .map(|(gold, &p)| f64::from(p) * self.cost(gold, &labels[k]))
                .sum()
        };
        (0..labels.len()).fold(0, |best, k| {
            if expected(k) < expected(best) {
                k
            } else {
                best
            }
        })
    }

    /// Total and mean cost of predictions.
    pub fn evaluate<S: AsRef<str>>(&self, y_true: &[S], y_pred: &[S]) -> Result<CostSummary> {
        resolve_labels(y_true, y_pred, None)?;
        let costs: Vec<f64> = y_true
            .iter()
            .zip(y_pred)
            .map(|(t, p)| self.cost(t.as_ref(), p.as_ref()))
            .collect();
        let total = numpy::sum(&costs);
        Ok(CostSummary {
            total,
            mean: total / costs.len() as f64,
            n: costs.len(),
        })
    }
}

/// A binary decision rule: predict `positive` when its probability is at least `threshold`,
/// the threshold chosen on a split (dev) to minimise the mean cost under a [`CostMatrix`].
/// Unlike the least-expected-cost rule it does not trust the probabilities' scale, only their
/// order, so it survives miscalibration (class weights, label smoothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostThreshold {
    /// The label decided when `P(positive) >= threshold`.
    pub positive: String,
    /// The other label.
    pub negative: String,
    /// The threshold on `P(positive)`.
    pub threshold: f64,
    /// The split it was chosen on.
    pub tuned_on: String,
    /// The mean cost per example it reached there.
    pub tuned_cost: f64,
    /// The least-expected-cost threshold the costs imply for calibrated probabilities,
    /// `c(negative→positive) / (c(negative→positive) + c(positive→negative))`; ties between
    /// equally cheap thresholds go to the one nearest it.
    pub bayes_threshold: f64,
}

impl CostThreshold {
    /// The label this rule decides for a probability of the positive label.
    pub fn decide(&self, p_positive: f64) -> &str {
        if p_positive >= self.threshold {
            &self.positive
        } else {
            &self.negative
        }
    }

    /// The rule as a report line.
    pub fn to_text(&self, digits: usize) -> String {
        format!(
            "Decision: `{}` when P({}) >= {}, tuned on {} for least mean cost ({} per example there; calibrated probabilities would put it at {})\n",
            self.positive,
            self.positive,
            format_fixed(self.threshold, digits),
            self.tuned_on,
            format_fixed(self.tuned_cost, digits),
            format_fixed(self.bayes_threshold, digits),
        )
    }
}

/// The threshold on `P(positive)` that minimises the mean cost of `gold` under `m`, deciding
/// `positive` when `p >= threshold` and `negative` otherwise. Candidates: 0 (always
/// positive), the midpoints between consecutive distinct probabilities, and a value above the
/// largest (never positive); among equally cheap ones the nearest the Bayes threshold wins.
pub fn tune_cost_threshold<S: AsRef<str>>(
    gold: &[S],
    p_positive: &[f64],
    positive: &str,
    negative: &str,
    m: &CostMatrix,
    split: &str,
) -> Result<CostThreshold> {
    if gold.len() != p_positive.len() {
        return Err(MetricsError::Input(format!(
            "tune_cost_threshold: {} gold labels but {} probabilities",
            gold.len(),
            p_positive.len()
        )));
    }
    if gold.is_empty() {
        return Err(MetricsError::Input(format!(
            "tune_cost_threshold: `{split}` has no examples"
        )));
    }
    if let Some(p) = p_positive.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(MetricsError::Input(format!(
            "tune_cost_threshold: probability {p} is outside [0, 1]"
        )));
    }
    let (c_fp, c_fn) = (m.cost(negative, positive), m.cost(positive, negative));
    let bayes = if c_fp + c_fn > 0.0 {
        c_fp / (c_fp + c_fn)
    } else {
        0.5
    };
    // Sorted by probability: deciding positive from index k on costs
    // sum(c_fn over gold-positive below k) + sum(c_fp over gold-negative from k on).
    let mut order: Vec<usize> = (0..gold.len()).collect();
    order.sort_by(|&a, &b| p_positive[a].total_cmp(&p_positive[b]));
    let cost_if = |i: usize, pos: bool| {
        let g = gold[i].as_ref();
        m.cost(g, if pos { positive } else { negative })
    };
    let mut cost: f64 = order.iter().map(|&i| cost_if(i, true)).sum();
    let n = gold.len() as f64;
    let mut best = (0.0, cost);
    let consider = |t: f64, c: f64, best: &mut (f64, f64)| {
        let cheaper = c < best.1 - 1e-12;
        let tie_nearer = (c - best.1).abs() <= 1e-12 && (t - bayes).abs() < (best.0 - bayes).abs();
        if cheaper || tie_nearer {
            *best = (t, c);
        }
    };
    for k in 0..order.len() {
        let i = order[k];
        cost += cost_if(i, false) - cost_if(i, true);
        let here = p_positive[i];
        let t = match order.get(k + 1) {
            Some(&j) if p_positive[j] == here => continue,
            Some(&j) => 0.5 * (here + p_positive[j]),
            None if here < 1.0 => 0.5 * (here + 1.0),
            // Above every probability, 1.0 included: never positive.
            None => f64::from_bits(1f64.to_bits() + 1),
        };
        consider(t, cost, &mut best);
    }
    Ok(CostThreshold {
        positive: positive.to_string(),
        negative: negative.to_string(),
        threshold: best.0,
        tuned_on: split.to_string(),
        tuned_cost: best.1 / n,
        bayes_threshold: bayes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sklearn_docstring_roc_and_ap() {
        let y = [false, false, true, true];
        let s = [0.1, 0.4, 0.35, 0.8];
        assert_eq!(roc_auc(&y, &s).unwrap(), 0.75);
        assert!((average_precision(&y, &s).unwrap() - 0.8333333333333333).abs() < 1e-15);
    }

    #[test]
    fn the_cost_threshold_is_the_cheapest_cut_on_dev_and_ties_go_nearest_bayes() {
        let m = CostMatrix::german_credit("good", "bad");
        // P(bad) of six applicants; bad predicted good costs 5, good predicted bad 1.
        let gold = ["good", "good", "bad", "good", "bad", "good"];
        let p = [0.05, 0.10, 0.20, 0.30, 0.60, 0.70];
        let t = tune_cost_threshold(&gold, &p, "bad", "good", &m, "dev").unwrap();
        assert!((t.bayes_threshold - 1.0 / 6.0).abs() < 1e-12);
        // Brute force over every cut: bad from index k on.
        let cost_at = |thr: f64| -> f64 {
            gold.iter()
                .zip(p)
                .map(|(g, q)| m.cost(g, if q >= thr { "bad" } else { "good" }))
                .sum::<f64>()
                / 6.0
        };
        let best = (0..=6)
            .map(|k| cost_at(if k == 6 { 2.0 } else { p[k] }))
            .fold(f64::INFINITY, f64::min);
        assert_eq!(t.tuned_cost, best);
        assert_eq!(cost_at(t.threshold), best);
        // Cutting at 0.15 (between 0.10 and 0.20) costs 2 goods wrongly refused = 2/6.
        assert!((t.threshold - 0.15).abs() < 1e-12, "{t:?}");
        assert_eq!(t.decide(0.2), "bad");
        assert_eq!(t.decide(0.1), "good");
        // Every applicant bad with certainty: never deciding bad is impossible to beat at 1.0.
        let all =
            tune_cost_threshold(&["good", "good"], &[1.0, 1.0], "bad", "good", &m, "dev").unwrap();
        assert!(all.threshold > 1.0 && all.tuned_cost == 0.0);
        assert!(tune_cost_threshold(&["good"], &[1.5], "bad", "good", &m, "dev").is_err());
        assert!(tune_cost_threshold::<&str>(&[], &[], "bad", "good", &m, "dev").is_err());
    }

    #[test]
    fn german_credit_costs() {
        let m = CostMatrix::german_credit("good", "bad");
        let gold = ["good", "bad", "bad", "good"];
        let pred = ["bad", "good", "bad", "good"];
        let c = m.evaluate(&gold, &pred).unwrap();
        assert_eq!(c.total, 6.0);
        assert_eq!(c.mean, 1.5);
        assert!(m.validate(&["good".into()]).is_err());
    }

    #[test]
    fn confusion_rows_are_gold() {
        let m = confusion_matrix(&["a", "a", "b"], &["b", "a", "b"], &["a", "b"]).unwrap();
        assert_eq!(m, vec![vec![1, 1], vec![0, 1]]);
    }

    #[test]
    fn report_text_matches_sklearn_layout() {
        let r = classification_report(&["a", "b", "a"], &["a", "a", "a"], None, ZeroDivision::Zero)
            .unwrap();
        let expected = "              precision    recall  f1-score   support\n\n           a       0.67      1.00      0.80         2\n           b       0.00      0.00      0.00         1\n\n    accuracy                           0.67         3\n   macro avg       0.33      0.50      0.40         3\nweighted avg       0.44      0.67      0.53         3\n";
        assert_eq!(r.to_text(2), expected);
    }
}
