//! The findings of a multi-label analysis: per-label recall, precision, ranking and
//! calibration, tuned thresholds far from 0.5, co-occurrence errors, gold pairs predicted
//! apart, empty predictions and the baseline comparison, ranked like every other finding;
//! with the training-fit findings of every task kind (dev curve, underfitting, from the train
//! history) and collapsed label sets (`training.collapsed`) from the `training` rules.

use std::fmt::Write as _;

use metrics::multilabel::DEFAULT_THRESHOLD;

use super::rank;
use super::training::{self, Versus};
use super::types::{Evidence, Finding, Severity, finding, pct, wilson};
use crate::analysis::multilabel::{LabelDiff, MultilabelAnalysis};
use crate::params::ReflectParams;
use crate::stats::proportion::share;

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
/// Examples with gold labels but an empty predicted set: this share is a medium finding (when
/// the label sets have not collapsed: then the finding is `training.collapsed`)...
pub const EMPTY_PRED_MEDIUM: f64 = 0.1;
/// ...and this share a low one.
pub const EMPTY_PRED_LOW: f64 = 0.03;
/// A headline interval wider than this (in F1) makes the headline finding medium: smaller
/// differences between models are noise on this split.
pub const WIDE_CI: f64 = 0.10;
/// Significance level of the baseline comparison.
pub const ALPHA: f64 = 0.05;

/// `95 %` for a confidence level of 0.95.
pub(crate) fn level_text(level: f64) -> String {
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
            f.number(&m.name.replace(' ', "_").to_lowercase(), m.ci.estimate);
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
            f.number("support", row.support as f64);
            f.number("missed", row.missed as f64);
            f.number("tp", row.tp as f64);
            f.number("recall", row.recall);
            f.number("threshold", row.threshold);
            let mut detail = format!(
                "precision {:.3}, F1 {:.3}, threshold {:.3}, in {} of the examples",
                row.precision,
                row.f1,
                row.threshold,
                pct(row.prevalence)
            );
            if let Some(auc) = row.roc_auc {
                f.number("roc_auc", auc);
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
            f.number("predicted", row.predicted as f64);
            f.number("added", row.added as f64);
            f.number("precision", row.precision);
            f.number("threshold", row.threshold);
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
            f.number("roc_auc", auc);
            f.number("support", row.support as f64);
            if let Some(ap) = row.average_precision {
                f.number("average_precision", ap);
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
                f.number("ece", ece.estimate);
                f.number("mce", c.report.mce);
                f.number("mean_prob", c.mean_prob);
                f.number("positive_rate", c.positive_rate);
                f.detail = format!(
                    "mean probability {:.3} against a positive rate of {:.3}; MCE {:.3}, Brier {:.4}",
                    c.mean_prob,
                    c.positive_rate,
                    c.report.mce,
                    c.report.brier.unwrap_or(f64::NAN)
                );
                f.action = match (&c.temperature, &c.report.after) {
                    (Some(t), Some(after)) if after.ece.estimate < ece.lo => {
                        f.number("temperature", t.t);
                        f.number("ece_after_temperature", after.ece.estimate);
                        format!(
                            "Divide the logit of `{l}` by T = {:.2} (fitted on {}): its ECE drops from {:.3} to {:.3}; then re-tune its threshold on the scaled probabilities.",
                            t.t,
                            a.temperature_split.as_deref().unwrap_or("dev"),
                            ece.estimate,
                            after.ece.estimate
                        )
                    }
                    (Some(t), Some(after)) => {
                        f.number("temperature", t.t);
                        f.number("ece_after_temperature", after.ece.estimate);
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
                f.number("threshold", row.threshold);
                f.number("precision", row.precision);
                f.number("recall", row.recall);
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
        f.number("count", c.count as f64);
        f.number("missed", misses as f64);
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
        f.number("together", p.together as f64);
        f.number("both_predicted", p.both_predicted as f64);
        f.number("independent", p.independent);
        f.detail = format!(
            "joint recall {:.3} against {:.3} if the two labels' misses were independent",
            p.joint_recall, p.independent
        );
        f.evidence = evidence(&a.file, p.examples.iter());
        f.action = "The model tends to keep one label of the pair: check that training used one sigmoid per label (BCE), not a softmax, and add training examples with both labels.".into();
        out.push(f);
    }

    // Collapsed label sets (a training cause) or, short of that, empty predictions (a
    // decision one): one finding per cause.
    out.extend(training::collapsed(a).or_else(|| empty_prediction(a)));

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
            f.number("model", paired.a.estimate);
            f.number("baseline", paired.b.estimate);
            f.number("diff", d.estimate);
            f.number("p_value", p);
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

    // The dev curve and underfitting, by the rules every task kind shares.
    let versus = a.baseline.as_ref().map(|b| Versus {
        metric: "micro F1",
        paired: &b.micro_f1,
    });
    out.extend(training::fit(a.history.as_ref(), versus));

    rank(&mut out);
    out
}

/// Examples with gold labels but an empty prediction, when they are too many to ignore and
/// the label sets have not collapsed as a whole (that is [`training::collapsed`]).
fn empty_prediction(a: &MultilabelAnalysis) -> Option<Finding> {
    let with_gold = a.examples - a.counts.empty_gold;
    let empty_share = share(a.counts.empty_pred_with_gold, with_gold);
    if with_gold == 0 || empty_share < EMPTY_PRED_LOW {
        return None;
    }
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
    f.number("empty_pred_with_gold", a.counts.empty_pred_with_gold as f64);
    f.number("with_gold", with_gold as f64);
    f.detail = format!(
        "{:.2} gold labels per example against {:.2} predicted",
        a.counts.mean_gold_labels, a.counts.mean_pred_labels
    );
    f.evidence = evidence(&a.file, a.counts.empty_pred_examples.iter());
    f.action = "Fall back to the most probable label when no probability passes its threshold (when every example has a label), or tune per-label thresholds on dev.".into();
    Some(f)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::multilabel::analyze;
    use crate::analysis::multilabel::fixture::*;

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
}
