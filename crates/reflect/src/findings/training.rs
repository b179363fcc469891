//! Training: the dev curve (never scored, overfitting, still rising, levelled off), the
//! signals of an underfit model gathered into one finding, and a multi-label model whose
//! predicted label sets collapsed.
//!
//! Every task kind gets its training-fit findings from one function, [`fit`], given the train
//! history and the comparison with the baseline: the generic rules call it through
//! [`training`], the multi-label findings with the baseline's micro F1 comparison.

use std::fmt::Write as _;

use super::builder::Builder;
use super::types::{Evidence, Finding, Severity, finding, pct};
use crate::analysis::multilabel::MultilabelAnalysis;
use crate::history::History;
use crate::stats::bootstrap::Paired;
use crate::stats::proportion::{share, wilson};

/// Significance level at which the baseline counts as ahead.
const ALPHA: f64 = 0.05;
/// Dev metric changes up to this size are noise in the curve (and a best score this close to
/// 0 is no score at all).
const FLAT: f64 = 0.005;
/// A multi-label model that predicts fewer than this many labels per gold label has
/// collapsed...
pub const COLLAPSE_CARDINALITY: f64 = 0.5;
/// ...and so has one that predicts nothing for this share of the examples with gold labels.
pub const COLLAPSE_EMPTY: f64 = 0.5;

/// The comparison with the baseline the training rules read: the metric and its paired
/// bootstrap (model minus baseline).
#[derive(Debug, Clone, Copy)]
pub(super) struct Versus<'a> {
    /// The metric compared (`micro F1`).
    pub(super) metric: &'a str,
    /// Its paired bootstrap, model minus baseline.
    pub(super) paired: &'a Paired,
}

impl Versus<'_> {
    /// The baseline is significantly ahead of the model.
    fn ahead(&self) -> bool {
        self.paired.p_value < ALPHA && self.paired.diff.hi < 0.0
    }
}

/// The generic rules' training-fit findings: [`fit`] on the analysis' history and baseline
/// comparison.
pub(super) fn training(b: &mut Builder<'_>) {
    let a = b.a;
    let versus = a.baseline.as_ref().map(|c| Versus {
        metric: &c.metric,
        paired: &c.paired,
    });
    for f in fit(a.history.as_ref(), versus) {
        b.push(f);
    }
}

/// The training-fit findings of any task kind: the dev curve of `history` and, when the
/// signals add up, an underfit model (`baseline` is the comparison with the baseline).
pub(super) fn fit(history: Option<&History>, baseline: Option<Versus<'_>>) -> Vec<Finding> {
    let mut out: Vec<Finding> = history.and_then(curve).into_iter().collect();
    out.extend(underfit(history, baseline));
    out
}

/// The dev curve of training: never scored, overfitting, still rising, or levelled off.
fn curve(h: &History) -> Option<Finding> {
    let series_key = h.selection_key()?;
    let series = h.series(&series_key);
    let key = h.label(&series_key);
    if series.len() < 2 {
        return None;
    }
    let (best_i, &(best_x, best_y)) = series
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| a.1.total_cmp(&b.1).then(j.cmp(i)))
        .unwrap_or((0, &series[0]));
    let &(last_x, last_y) = &series[series.len() - 1];
    let prev_y = series[series.len() - 2].1;
    let x_key = h.x_key();
    let mut f = finding(
        "training.curve".into(),
        Severity::Low,
        "training",
        String::new(),
    );
    f.metric = key.clone();
    f.value = best_y;
    f.evidence = vec![Evidence {
        file: "history.jsonl".into(),
        id: format!("{x_key} {best_x}"),
        word: None,
    }];
    if best_y.abs() <= FLAT {
        // A curve flat at zero has not converged: the model never scored on dev.
        f.title = format!(
            "{key} stayed at {best_y:.3} in all {} evaluations: the model never scored on dev",
            series.len()
        );
        f.score = 1.0;
        f.action = "Training never started to fit the task (not convergence): see the underfitting and collapse findings for what to change.".into();
    } else if best_i + 1 < series.len() && best_y - last_y > FLAT {
        f.title = format!(
            "{key} peaked at {best_y:.3} ({x_key} {best_x}) and ended at {last_y:.3} ({x_key} {last_x})"
        );
        f.score = best_y - last_y;
        f.action = "Later training hurt the dev metric (overfitting): keep the best checkpoint, stop earlier, or add regularisation.".into();
    } else if last_y - prev_y > FLAT {
        f.title =
            format!("{key} was still rising at the end of training ({prev_y:.3} -> {last_y:.3})");
        f.score = last_y - prev_y;
        f.action = "Train longer: the dev metric had not levelled off.".into();
    } else {
        f.severity = Severity::Info;
        f.title = format!("{key} levelled off at {best_y:.3} ({x_key} {best_x})");
        f.action = "Training converged; more epochs are unlikely to help.".into();
    }
    f.detail = format!("{} evaluations in history.jsonl", series.len());
    Some(f)
}

/// An underfit model: the signals that the recipe stopped before the model learned the task
/// (the baseline significantly better, dev still rising at the end, a low score on a sample
/// of the training data, the training loss far from its floor). One finding gathers them, so
/// its remedies (longer, faster, less regularised training) are proposed once.
fn underfit(history: Option<&History>, baseline: Option<Versus<'_>>) -> Option<Finding> {
    let mut signals = Vec::new();
    let mut numbers = Vec::new();
    let baseline_ahead = baseline.filter(Versus::ahead);
    if let Some(c) = baseline_ahead {
        signals.push(format!(
            "the baseline is ahead by {:.1} points of {} (p = {:.4})",
            -100.0 * c.paired.diff.estimate,
            c.metric,
            c.paired.p_value
        ));
        numbers.push(("baseline_gap", -c.paired.diff.estimate));
    }
    if let Some(h) = history {
        if let Some(series_key) = h.selection_key() {
            let dev = h.series(&series_key);
            let key = h.label(&series_key);
            if let [.., (_, prev), (x, last)] = dev[..]
                && last - prev > FLAT
            {
                signals.push(format!(
                    "{key} was still rising at the last evaluation ({prev:.3} -> {last:.3} at {} {x})",
                    h.x_key()
                ));
                numbers.push(("dev_rise", last - prev));
            }
        }
        if let Some(&(x, fit)) = h.series("train_score").last() {
            numbers.push(("train_score", fit));
            if fit < 0.9 {
                signals.push(format!(
                    "on a sample of its own training data it scores only {fit:.3} at {} {x}",
                    h.x_key()
                ));
            }
        }
        let loss = h.series("loss");
        if let (Some(&(_, first)), Some(&(_, last))) = (loss.first(), loss.last())
            && first > 0.0
            && loss.len() >= 3
        {
            let share = last / first;
            numbers.push(("train_loss_share", share));
            if share > 0.25 {
                signals.push(format!(
                    "the training loss ended at {last:.3}, {:.0} % of its first logged value {first:.3}",
                    100.0 * share
                ));
            }
        }
    }
    let strong = baseline_ahead.is_some();
    if !(strong || signals.len() >= 2) {
        return None;
    }
    let mut f = finding(
        "training.underfit".into(),
        if strong {
            Severity::High
        } else {
            Severity::Medium
        },
        "training",
        format!("The model looks underfit: {}", signals.join("; ")),
    );
    f.metric = "signals of underfitting".into();
    f.value = signals.len() as f64;
    f.score = signals.len() as f64;
    for (k, v) in numbers {
        f.number(k, v);
    }
    f.detail = "Underfitting shows as a model that has not yet fitted its own training data: a classical baseline ahead of it, a dev metric still climbing when training stopped, a training loss far above zero. The HF default recipe (3 epochs, lr 5e-5, dropout 0.1) underfits many-class tasks.".into();
    f.action = "Train longer, with a higher learning rate, or without dropout, and compare on dev (`pipeline improve` runs these as trials).".into();
    Some(f)
}

/// A multi-label model whose label sets collapsed: it predicts fewer than
/// [`COLLAPSE_CARDINALITY`] labels per gold label, or nothing for at least [`COLLAPSE_EMPTY`]
/// of the examples that have a label. The finding names the cause (the positive class
/// vanishing under BCE); high when the baseline's micro F1 is significantly ahead.
pub(super) fn collapsed(a: &MultilabelAnalysis) -> Option<Finding> {
    let c = &a.counts;
    let with_gold = a.examples - c.empty_gold;
    if with_gold == 0 || c.mean_gold_labels <= 0.0 {
        return None;
    }
    let ratio = c.mean_pred_labels / c.mean_gold_labels;
    let empty_share = share(c.empty_pred_with_gold, with_gold);
    if ratio >= COLLAPSE_CARDINALITY && empty_share < COLLAPSE_EMPTY {
        return None;
    }
    let labels = a.labels.len();
    let prevalence = c.mean_gold_labels / labels.max(1) as f64;
    let behind = a
        .baseline
        .as_ref()
        .map(|b| Versus {
            metric: "micro F1",
            paired: &b.micro_f1,
        })
        .filter(Versus::ahead);
    let mut f = finding(
        "training.collapsed".into(),
        if behind.is_some() {
            Severity::High
        } else {
            Severity::Medium
        },
        "training",
        format!(
            "The model has collapsed to predicting almost nothing: {:.2} labels per example against {:.2} gold, none for {} of {} examples that have one",
            c.mean_pred_labels, c.mean_gold_labels, c.empty_pred_with_gold, with_gold
        ),
    );
    f.metric = "predicted labels per gold label".into();
    f.value = ratio;
    // The labels' worth of predictions missing: a collapse explains every per-label recall
    // finding (score at most 1 each), so it ranks above them.
    f.score = labels as f64 * (1.0 - ratio.min(1.0));
    f.number("mean_pred_labels", c.mean_pred_labels);
    f.number("mean_gold_labels", c.mean_gold_labels);
    f.number("empty_pred_with_gold", c.empty_pred_with_gold as f64);
    f.number("with_gold", with_gold as f64);
    f.number("empty_share", empty_share);
    let [lo, hi] = wilson(c.empty_pred_with_gold, with_gold);
    f.detail = format!(
        "The positive class vanished under the loss: BCE weighs every (example, label) cell alike, and with {labels} labels each present in {} of the examples on average, \"absent\" is right in {} of the cells, so every sigmoid is pulled toward \"absent\" and a model that predicts nothing already reaches a low loss — it learns to predict nothing. {} of the examples with gold labels ([{}, {}]) get an empty prediction.",
        pct(prevalence),
        pct(1.0 - prevalence),
        pct(empty_share),
        pct(lo),
        pct(hi)
    );
    if let Some(v) = behind {
        f.number("baseline_gap", -v.paired.diff.estimate);
        let _ = write!(
            f.detail,
            " The baseline, which fits one classifier per label, is ahead by {:.1} points of micro F1 (p = {:.4}).",
            -100.0 * v.paired.diff.estimate,
            v.paired.p_value
        );
    }
    f.evidence = c
        .empty_pred_examples
        .iter()
        .map(|id| Evidence {
            file: a.file.clone(),
            id: id.clone(),
            word: None,
        })
        .collect();
    f.action = "Give the positive labels weight in the loss (`pos_weight`: train `class_weights = \"balanced\"`), train longer or with a higher learning rate so the rare positives are learned, and tune per-label thresholds on dev (evaluate `tune_thresholds = true`) instead of reading p > 0.5.".into();
    Some(f)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::stats::bootstrap::Interval;

    fn history(text: &str) -> History {
        History::parse(text, Path::new("history.jsonl")).unwrap()
    }

    const RISING: &str = r#"{"step": 10, "loss": 0.69}
{"step": 20, "dev": {"micro": {"f1": 0.05}}, "train_score": 0.04}
{"step": 30, "loss": 0.2}
{"step": 40, "dev": {"micro": {"f1": 0.12}}, "train_score": 0.11}
{"step": 50, "loss": 0.15}
"#;

    fn paired(diff: f64, p_value: f64) -> Paired {
        let i = |x: f64| Interval {
            estimate: x,
            lo: x - 0.02,
            hi: x + 0.02,
        };
        Paired {
            a: i(0.3),
            b: i(0.3 - diff),
            diff: i(diff),
            p_value,
        }
    }

    /// The train stage's own selection metric (`dev_score`, named by `dev_metric`) is the
    /// curve judged, not a guessed key: here macro F1 is flat while the selected micro F1
    /// rises.
    #[test]
    fn the_curve_judged_is_the_metric_training_selected_by() {
        let h = history(
            r#"{"step": 10, "dev_metric": "primary", "dev_score": 0.30, "dev": {"entity": {"macro": {"f1": 0.2}, "micro": {"f1": 0.30}}}}
{"step": 20, "dev_metric": "primary", "dev_score": 0.45, "dev": {"entity": {"macro": {"f1": 0.2}, "micro": {"f1": 0.45}}}}
"#,
        );
        let found = fit(Some(&h), None);
        assert_eq!(found[0].id, "training.curve");
        assert_eq!(
            found[0].title,
            "dev primary was still rising at the end of training (0.300 -> 0.450)"
        );
        assert_eq!(found[0].metric, "dev primary");
    }

    #[test]
    fn still_rising_low_train_score_and_a_baseline_ahead_are_one_underfit_finding() {
        let h = history(RISING);
        let p = paired(-0.3, 0.001);
        let found = fit(
            Some(&h),
            Some(Versus {
                metric: "micro F1",
                paired: &p,
            }),
        );
        let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["training.curve", "training.underfit"]);
        assert!(
            found[0].title.contains("still rising"),
            "{}",
            found[0].title
        );
        let u = &found[1];
        assert_eq!(u.severity, Severity::High);
        assert_eq!(u.value, 3.0, "{}", u.title);
        assert!(
            u.title.contains("ahead by 30.0 points of micro F1"),
            "{}",
            u.title
        );
        // Without the baseline, dev still rising and the low training score are enough.
        let u = &fit(Some(&h), None)[1];
        assert_eq!((u.severity, u.value), (Severity::Medium, 2.0));
        // A curve flat at zero is no convergence.
        let flat = history(
            "{\"step\": 34, \"dev\": {\"macro\": {\"f1\": 0.0}}}\n{\"step\": 68, \"dev\": {\"macro\": {\"f1\": 0.0}}}\n",
        );
        let c = &fit(Some(&flat), None)[0];
        assert_eq!(
            c.title,
            "dev.macro.f1 stayed at 0.000 in all 2 evaluations: the model never scored on dev"
        );
        assert_eq!(c.severity, Severity::Low);
        // A baseline that is not significantly ahead is no signal.
        let close = paired(-0.01, 0.4);
        let v = Versus {
            metric: "micro F1",
            paired: &close,
        };
        assert!(fit(None, Some(v)).is_empty());
    }
}
