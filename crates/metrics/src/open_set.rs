//! Many-class decisions with a "none of these" way out: top-k accuracy, the most-confused
//! class pairs, out-of-scope rejection with CLINC150's metrics (Larson et al. 2019), the choice
//! of a rejection threshold on dev, and the risk–coverage curve.
//!
//! The rejection rule: an example is *rejected* (decided out of scope) when its most probable
//! label is the out-of-scope label, or when that label's probability — its *confidence* — is
//! below the threshold `t`; otherwise the answer is the most probable label (the first on
//! ties, as `argmax`). Gold examples of the out-of-scope label count as out of scope whether or
//! not the model was trained on that label. The Python reference (`scripts/peers/open_set.py`,
//! scikit-learn for every score) made the fixture these functions are tested against.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::numpy::format_fixed;
use crate::predictions::Predictions;
use crate::report::nan_as_null;

/// The `k` of the top-k accuracies reported by default.
pub const DEFAULT_TOP_K: [usize; 3] = [1, 3, 5];

/// Most-confused pairs listed in a summary.
pub const CONFUSED_PAIRS: usize = 10;

/// Index of the largest probability, the first on ties.
pub fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in p.iter().enumerate() {
        if x > p[best] {
            best = i;
        }
    }
    best
}

/// Probability vectors of every row, or an error naming what lacks them.
fn probs_of<'a>(preds: &'a Predictions, what: &str) -> Result<Vec<&'a [f32]>> {
    preds
        .rows
        .iter()
        .map(|r| match &r.probs {
            Some(p) if p.len() == preds.labels.len() => Ok(p.as_slice()),
            _ => Err(MetricsError::Input(format!(
                "{what} needs a probability per label on every example; example `{}` has none",
                r.id
            ))),
        })
        .collect()
}

/// Top-k accuracy for each `k` below the number of labels, equal to scikit-learn's
/// `top_k_accuracy_score(y_true, y_score, k=k, labels=range(n))`: an example counts when its
/// gold label is among the `k` highest scores, ties ordered as scikit-learn's stable
/// descending sort orders them (the higher label index first). Examples whose gold label is
/// not in the label list never count. `None` when a row has no probabilities.
pub fn top_k_accuracy(preds: &Predictions, ks: &[usize]) -> Option<BTreeMap<String, f64>> {
    let probs = probs_of(preds, "top-k accuracy").ok()?;
    let n_labels = preds.labels.len();
    let ks: Vec<usize> = ks
        .iter()
        .copied()
        .filter(|&k| k >= 1 && k < n_labels)
        .collect();
    if ks.is_empty() || probs.is_empty() {
        return None;
    }
    let index: BTreeMap<&str, usize> = preds
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut hits = vec![0usize; ks.len()];
    for (row, p) in preds.rows.iter().zip(&probs) {
        let Some(&g) = index.get(row.gold.as_str()) else {
            continue;
        };
        // Rank of the gold label: labels scoring higher, plus tied labels of higher index.
        let rank = p
            .iter()
            .enumerate()
            .filter(|&(j, &x)| x > p[g] || (x == p[g] && j > g))
            .count();
        for (h, &k) in hits.iter_mut().zip(&ks) {
            *h += usize::from(rank < k);
        }
    }
    let n = probs.len() as f64;
    Some(
        ks.iter()
            .zip(hits)
            .map(|(k, h)| (k.to_string(), h as f64 / n))
            .collect(),
    )
}

/// One off-diagonal cell of the confusion matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusedPair {
    /// Gold label.
    pub gold: String,
    /// Predicted label.
    pub pred: String,
    /// Examples of `gold` predicted as `pred`.
    pub count: usize,
}

/// The `n` largest off-diagonal cells of a confusion matrix (rows gold, columns predicted),
/// largest first, ties in label order.
pub fn most_confused(labels: &[String], counts: &[Vec<usize>], n: usize) -> Vec<ConfusedPair> {
    let mut cells: Vec<(usize, usize, usize)> = counts
        .iter()
        .enumerate()
        .flat_map(|(g, row)| {
            row.iter()
                .enumerate()
                .filter(move |&(p, &c)| p != g && c > 0)
                .map(move |(p, &c)| (g, p, c))
        })
        .collect();
    cells.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    cells
        .into_iter()
        .take(n)
        .map(|(g, p, count)| ConfusedPair {
            gold: labels[g].clone(),
            pred: labels[p].clone(),
            count,
        })
        .collect()
}

/// What a rejection threshold chosen on dev must reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum RejectTarget {
    /// Share of the out-of-scope examples rejected.
    OutOfScopeRecall(f64),
    /// Share of the answered examples whose answer is the gold label (the precision of the
    /// in-scope answers: a wrong intent and an answered out-of-scope question both count
    /// against it).
    InScopePrecision(f64),
}

impl RejectTarget {
    /// The metric's name (`out_of_scope_recall`, `in_scope_precision`).
    pub fn metric(self) -> &'static str {
        match self {
            Self::OutOfScopeRecall(_) => "out_of_scope_recall",
            Self::InScopePrecision(_) => "in_scope_precision",
        }
    }

    /// The wanted value.
    pub fn value(self) -> f64 {
        match self {
            Self::OutOfScopeRecall(v) | Self::InScopePrecision(v) => v,
        }
    }

    /// Reads `out_of_scope_recall=0.8` or `in_scope_precision=0.95` (a command-line form).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let (metric, value) = s.split_once('=').ok_or_else(|| {
            format!(
                "`{s}`: expected out_of_scope_recall=<fraction> or in_scope_precision=<fraction>"
            )
        })?;
        let v: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: `{value}` is not a number"))?;
        let target = match metric.trim() {
            "out_of_scope_recall" => Self::OutOfScopeRecall(v),
            "in_scope_precision" => Self::InScopePrecision(v),
            other => {
                return Err(format!(
                    "`{s}`: unknown target `{other}` (out_of_scope_recall or in_scope_precision)"
                ));
            }
        };
        target.check()?;
        Ok(target)
    }

    /// An error unless the wanted value is a fraction in (0, 1].
    pub fn check(self) -> std::result::Result<(), String> {
        let v = self.value();
        if v > 0.0 && v <= 1.0 {
            Ok(())
        } else {
            Err(format!(
                "{} = {v} is not a fraction in (0, 1]",
                self.metric()
            ))
        }
    }
}

/// How a rejection threshold was chosen on dev.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// The split it was chosen on.
    pub split: String,
    /// The target metric (`out_of_scope_recall`, `in_scope_precision`).
    pub target: String,
    /// The wanted value.
    pub wanted: f64,
    /// Whether some threshold reached it; when none did, the threshold with the best value.
    pub reached: bool,
    /// The value at the chosen threshold on that split.
    pub achieved: f64,
}

/// The rejection rule applied to a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectRule {
    /// The out-of-scope label.
    pub label: String,
    /// The confidence below which an answer is rejected (0: only predicted out-of-scope
    /// labels are rejected).
    pub threshold: f64,
    /// How the threshold was chosen, when it was chosen on data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<ThresholdChoice>,
}

/// CLINC150's metrics of a split under a rejection rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenSetMetrics {
    /// The rule.
    pub rule: RejectRule,
    /// Examples.
    pub examples: usize,
    /// Examples whose gold label is not the out-of-scope label.
    pub in_scope: usize,
    /// Examples whose gold label is the out-of-scope label.
    pub out_of_scope: usize,
    /// Share of in-scope examples answered with their gold label.
    #[serde(with = "nan_as_null")]
    pub in_scope_accuracy: f64,
    /// Share of out-of-scope examples rejected.
    #[serde(with = "nan_as_null")]
    pub out_of_scope_recall: f64,
    /// Share of rejected examples that are out of scope (0 when nothing is rejected).
    pub out_of_scope_precision: f64,
    /// F1 of the two (0 when both are 0).
    pub out_of_scope_f1: f64,
    /// Share of all examples answered (not rejected).
    pub coverage: f64,
    /// Share of answered examples answered with their gold label.
    #[serde(with = "nan_as_null")]
    pub in_scope_precision: f64,
    /// Examples rejected because the model's most probable label is the out-of-scope label.
    pub predicted_out_of_scope: usize,
    /// Examples rejected because their confidence is below the threshold.
    pub below_threshold: usize,
}

/// One example as the rejection rule sees it.
#[derive(Debug, Clone, Copy)]
struct Seen {
    conf: f64,
    /// The most probable label is the out-of-scope label.
    says_oos: bool,
    gold_oos: bool,
    /// The most probable label is the gold label.
    right: bool,
}

fn seen(preds: &Predictions, oos: Option<&str>, what: &str) -> Result<Vec<Seen>> {
    let oos_id = match oos {
        Some(l) => Some(preds.labels.iter().position(|x| x == l).ok_or_else(|| {
            MetricsError::Input(format!(
                "out-of-scope label `{l}` is not one of the labels ({})",
                label_list(&preds.labels)
            ))
        })?),
        None => None,
    };
    let probs = probs_of(preds, what)?;
    Ok(preds
        .rows
        .iter()
        .zip(probs)
        .map(|(r, p)| {
            let best = argmax(p);
            Seen {
                conf: f64::from(p[best]),
                says_oos: Some(best) == oos_id,
                gold_oos: oos == Some(r.gold.as_str()),
                right: preds.labels[best] == r.gold,
            }
        })
        .collect())
}

fn label_list(labels: &[String]) -> String {
    let mut shown: Vec<&str> = labels.iter().take(12).map(String::as_str).collect();
    if labels.len() > shown.len() {
        shown.push("...");
    }
    shown.join(", ")
}

/// CLINC150's metrics of `preds` under `rule`.
pub fn open_set_metrics(preds: &Predictions, rule: &RejectRule) -> Result<OpenSetMetrics> {
    let seen = seen(preds, Some(&rule.label), "out-of-scope rejection")?;
    let mut c = Counts::default();
    for s in &seen {
        c.add(s, s.says_oos || s.conf < rule.threshold);
    }
    let in_scope = seen.iter().filter(|s| !s.gold_oos).count();
    let out_of_scope = seen.len() - in_scope;
    let precision = ratio_or_zero(c.oos_caught, c.rejected);
    let recall = ratio(c.oos_caught, out_of_scope);
    let f1 = if recall.is_nan() || precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Ok(OpenSetMetrics {
        rule: rule.clone(),
        examples: seen.len(),
        in_scope,
        out_of_scope,
        in_scope_accuracy: ratio(c.in_scope_right, in_scope),
        out_of_scope_recall: recall,
        out_of_scope_precision: precision,
        out_of_scope_f1: f1,
        coverage: ratio(c.answered, seen.len()),
        in_scope_precision: ratio(c.answered_right, c.answered),
        predicted_out_of_scope: seen.iter().filter(|s| s.says_oos).count(),
        below_threshold: seen
            .iter()
            .filter(|s| !s.says_oos && s.conf < rule.threshold)
            .count(),
    })
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn ratio_or_zero(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Running counts of a rejection rule.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    answered: usize,
    answered_right: usize,
    in_scope_right: usize,
    rejected: usize,
    oos_caught: usize,
}

impl Counts {
    fn add(&mut self, s: &Seen, rejected: bool) {
        if rejected {
            self.rejected += 1;
            self.oos_caught += usize::from(s.gold_oos);
        } else {
            self.answered += 1;
            // An answer is right when it is the gold label, which an out-of-scope gold never is.
            let right = s.right && !s.gold_oos;
            self.answered_right += usize::from(right);
            self.in_scope_right += usize::from(right);
        }
    }

    /// Moves an answered example to the rejected ones.
    fn reject(&mut self, s: &Seen) {
        let right = s.right && !s.gold_oos;
        self.answered -= 1;
        self.answered_right -= usize::from(right);
        self.in_scope_right -= usize::from(right);
        self.rejected += 1;
        self.oos_caught += usize::from(s.gold_oos);
    }
}

/// One threshold of a sweep: what the rule does on the split at that threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Confidence threshold (answers below it are rejected).
    pub threshold: f64,
    /// Share of examples answered.
    pub coverage: f64,
    /// Share of the answered examples answered right (NaN when none is answered).
    #[serde(with = "nan_as_null")]
    pub accuracy: f64,
    /// Share of out-of-scope examples rejected (NaN without an out-of-scope label or example).
    #[serde(with = "nan_as_null")]
    pub out_of_scope_recall: f64,
}

/// The rule at every candidate threshold — 0 and each distinct confidence, ascending — in one
/// pass over the examples sorted by confidence. Without an out-of-scope label only the
/// threshold rejects (the selective-classification risk–coverage curve).
pub fn sweep(preds: &Predictions, oos: Option<&str>) -> Result<Vec<SweepPoint>> {
    let seen = seen(preds, oos, "a rejection threshold")?;
    let mut order: Vec<usize> = (0..seen.len()).collect();
    order.sort_by(|&a, &b| seen[a].conf.total_cmp(&seen[b].conf));
    let mut c = Counts::default();
    for s in &seen {
        c.add(s, s.says_oos);
    }
    let n_oos = seen.iter().filter(|s| s.gold_oos).count();
    let mut candidates: Vec<f64> = std::iter::once(0.0)
        .chain(order.iter().map(|&i| seen[i].conf))
        .collect();
    candidates.dedup();
    let mut next = 0;
    let mut points = Vec::with_capacity(candidates.len());
    for t in candidates {
        while next < order.len() && seen[order[next]].conf < t {
            let s = &seen[order[next]];
            if !s.says_oos {
                c.reject(s);
            }
            next += 1;
        }
        points.push(SweepPoint {
            threshold: t,
            coverage: ratio(c.answered, seen.len()),
            accuracy: ratio(c.answered_right, c.answered),
            out_of_scope_recall: ratio(c.oos_caught, n_oos),
        });
    }
    Ok(points)
}

/// The smallest candidate threshold (0 or a confidence of `split`) whose `target` reaches its
/// wanted value — the one that answers the most while reaching it; when none does, the one
/// with the best value (the smallest on ties), marked not reached.
pub fn choose_threshold(
    preds: &Predictions,
    oos: &str,
    target: RejectTarget,
    split: &str,
) -> Result<RejectRule> {
    let n_oos = preds.rows.iter().filter(|r| r.gold == oos).count();
    if matches!(target, RejectTarget::OutOfScopeRecall(_)) && n_oos == 0 {
        return Err(MetricsError::Input(format!(
            "reject_target {} needs out-of-scope examples (gold `{oos}`) in `{split}`, which has none",
            target.metric()
        )));
    }
    let points = sweep(preds, Some(oos))?;
    let value = |p: &SweepPoint| match target {
        RejectTarget::OutOfScopeRecall(_) => p.out_of_scope_recall,
        RejectTarget::InScopePrecision(_) => p.accuracy,
    };
    let mut best: Option<(f64, f64)> = None;
    let mut reached = None;
    for p in &points {
        let v = value(p);
        if v.is_nan() {
            continue;
        }
        if v >= target.value() {
            reached = Some((p.threshold, v));
            break;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((p.threshold, v));
        }
    }
    let (threshold, achieved) = reached.or(best).ok_or_else(|| {
        MetricsError::Input(format!(
            "no threshold gives a defined {} on `{split}`",
            target.metric()
        ))
    })?;
    Ok(RejectRule {
        label: oos.to_string(),
        threshold,
        chosen: Some(ThresholdChoice {
            split: split.to_string(),
            target: target.metric().to_string(),
            wanted: target.value(),
            reached: reached.is_some(),
            achieved,
        }),
    })
}

impl OpenSetMetrics {
    /// The report lines of these metrics.
    pub fn to_text(&self, digits: usize) -> String {
        let f = |x: f64| format_fixed(x, digits);
        let r = &self.rule;
        let mut out = String::new();
        let _ = write!(
            out,
            "Out-of-scope rejection (label `{}`, reject below confidence {}",
            r.label,
            f(r.threshold)
        );
        if let Some(c) = &r.chosen {
            let _ = write!(
                out,
                "; chosen on {} for {} >= {}: {} {}",
                c.split,
                c.target,
                f(c.wanted),
                if c.reached {
                    "reached"
                } else {
                    "NOT reached, best"
                },
                f(c.achieved)
            );
        }
        let _ = writeln!(
            out,
            "):\n  {} examples: {} in scope, {} out of scope",
            self.examples, self.in_scope, self.out_of_scope
        );
        let _ = writeln!(
            out,
            "  in-scope accuracy {}, out-of-scope recall {}, precision {}, F1 {}",
            f(self.in_scope_accuracy),
            f(self.out_of_scope_recall),
            f(self.out_of_scope_precision),
            f(self.out_of_scope_f1)
        );
        let _ = writeln!(
            out,
            "  coverage {} (answered), precision of the answers {}; rejected: {} predicted `{}`, {} below the threshold",
            f(self.coverage),
            f(self.in_scope_precision),
            self.predicted_out_of_scope,
            r.label,
            self.below_threshold
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predictions::PredictionRow;
    use flowcore::TaskKind;

    fn preds(rows: &[(&str, [f32; 3])]) -> Predictions {
        let labels = ["a", "b", "oos"].map(String::from).to_vec();
        let mut p = Predictions::new(TaskKind::Sequence, labels.clone());
        for (i, (gold, probs)) in rows.iter().enumerate() {
            p.rows.push(PredictionRow {
                id: i.to_string(),
                word: None,
                token: None,
                gold: gold.to_string(),
                pred: labels[argmax(probs)].clone(),
                probs: Some(probs.to_vec()),
            });
        }
        p
    }

    fn example() -> Predictions {
        preds(&[
            ("a", [0.9, 0.05, 0.05]),   // right, confident
            ("a", [0.4, 0.35, 0.25]),   // right, unsure
            ("b", [0.6, 0.3, 0.1]),     // wrong
            ("oos", [0.2, 0.7, 0.1]),   // out of scope answered confidently
            ("oos", [0.45, 0.1, 0.45]), // out of scope, unsure (a wins the tie)
            ("oos", [0.1, 0.1, 0.8]),   // out of scope, predicted so
        ])
    }

    #[test]
    fn metrics_follow_the_rule() {
        let rule = RejectRule {
            label: "oos".into(),
            threshold: 0.5,
            chosen: None,
        };
        let m = open_set_metrics(&example(), &rule).unwrap();
        // Rejected: #2 (0.4), #5 (0.45), #6 (predicted oos); answered: #1 right, #3 wrong, #4 wrong.
        assert_eq!((m.in_scope, m.out_of_scope), (3, 3));
        assert_eq!(m.in_scope_accuracy, 1.0 / 3.0);
        assert_eq!(m.out_of_scope_recall, 2.0 / 3.0);
        assert_eq!(m.out_of_scope_precision, 2.0 / 3.0);
        assert!((m.out_of_scope_f1 - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(m.coverage, 0.5);
        assert_eq!(m.in_scope_precision, 1.0 / 3.0);
        assert_eq!((m.predicted_out_of_scope, m.below_threshold), (1, 2));
    }

    #[test]
    fn sweep_equals_the_rule_at_every_threshold() {
        let p = example();
        let points = sweep(&p, Some("oos")).unwrap();
        let ts: Vec<f64> = points.iter().map(|x| x.threshold).collect();
        assert_eq!(ts[0], 0.0);
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
        for pt in &points {
            let rule = RejectRule {
                label: "oos".into(),
                threshold: pt.threshold,
                chosen: None,
            };
            let m = open_set_metrics(&p, &rule).unwrap();
            assert_eq!(pt.coverage, m.coverage, "{pt:?}");
            assert_eq!(pt.out_of_scope_recall, m.out_of_scope_recall, "{pt:?}");
            assert!(
                pt.accuracy == m.in_scope_precision
                    || (pt.accuracy.is_nan() && m.in_scope_precision.is_nan())
            );
        }
    }

    #[test]
    fn the_threshold_is_the_smallest_that_reaches_the_target() {
        let p = example();
        let r = choose_threshold(&p, "oos", RejectTarget::OutOfScopeRecall(0.6), "dev").unwrap();
        // 1/3 at 0; #5 (0.45) joins at 0.6 (> 0.45): 2/3; the candidate after 0.45 is 0.6.
        assert_eq!(r.threshold, f64::from(0.6f32));
        let c = r.chosen.unwrap();
        assert!(c.reached);
        assert_eq!(c.achieved, 2.0 / 3.0);
        let r = choose_threshold(&p, "oos", RejectTarget::InScopePrecision(1.0), "dev").unwrap();
        // Answering only #1 (0.9) is all right; the smallest threshold doing so is #6's
        // confidence (0.8), which #6 does not pass through: it is rejected as predicted `oos`.
        assert_eq!(r.threshold, f64::from(0.8f32));
        // Unreachable: the best value with its threshold, marked.
        let r = choose_threshold(&p, "oos", RejectTarget::OutOfScopeRecall(1.0), "dev").unwrap();
        let c = r.chosen.unwrap();
        assert!(
            c.reached,
            "recall 1 is reached by rejecting everything below 0.8"
        );
        assert_eq!(r.threshold, f64::from(0.8f32));
        let no_oos = preds(&[("a", [0.9, 0.05, 0.05])]);
        let err = choose_threshold(&no_oos, "oos", RejectTarget::OutOfScopeRecall(0.5), "dev")
            .unwrap_err()
            .to_string();
        assert!(err.contains("has none"), "{err}");
        let err = open_set_metrics(
            &no_oos,
            &RejectRule {
                label: "none".into(),
                threshold: 0.0,
                chosen: None,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`none` is not one of the labels (a, b, oos)"),
            "{err}"
        );
    }

    #[test]
    fn an_unreachable_target_takes_the_best_threshold() {
        // Every answer is wrong at every threshold but the last, which answers nothing more.
        let p = preds(&[("b", [0.9, 0.05, 0.05]), ("b", [0.8, 0.1, 0.1])]);
        let r = choose_threshold(&p, "oos", RejectTarget::InScopePrecision(0.5), "dev").unwrap();
        let c = r.chosen.unwrap();
        assert!(!c.reached);
        assert_eq!((r.threshold, c.achieved), (0.0, 0.0));
    }

    #[test]
    fn targets_read_from_the_command_line() {
        assert_eq!(
            RejectTarget::parse("out_of_scope_recall=0.8"),
            Ok(RejectTarget::OutOfScopeRecall(0.8))
        );
        assert_eq!(
            RejectTarget::parse("in_scope_precision = 0.95"),
            Ok(RejectTarget::InScopePrecision(0.95))
        );
        for bad in [
            "recall=0.8",
            "out_of_scope_recall",
            "in_scope_precision=x",
            "out_of_scope_recall=1.5",
        ] {
            assert!(RejectTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn top_k_counts_ties_like_scikit_learn() {
        // Gold `a` (index 0) tied with `b` (index 1): scikit-learn ranks `b` first.
        let p = preds(&[("a", [0.4, 0.4, 0.2]), ("b", [0.4, 0.4, 0.2])]);
        let t = top_k_accuracy(&p, &[1, 2, 5]).unwrap();
        assert_eq!(t["1"], 0.5);
        assert_eq!(t["2"], 1.0);
        assert!(!t.contains_key("5"), "k >= labels is left out");
    }

    #[test]
    fn most_confused_pairs_are_the_largest_off_diagonal_cells() {
        let labels = ["a", "b", "c"].map(String::from).to_vec();
        let counts = vec![vec![5, 2, 0], vec![3, 4, 2], vec![0, 0, 9]];
        let pairs = most_confused(&labels, &counts, 2);
        assert_eq!(
            pairs,
            vec![
                ConfusedPair {
                    gold: "b".into(),
                    pred: "a".into(),
                    count: 3
                },
                ConfusedPair {
                    gold: "a".into(),
                    pred: "b".into(),
                    count: 2
                },
            ]
        );
    }
}
