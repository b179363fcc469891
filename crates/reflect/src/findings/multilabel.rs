//! The findings of a multi-label analysis: per-label recall, precision, ranking and
//! calibration, tuned thresholds far from 0.5, co-occurrence errors, gold pairs predicted
//! apart, empty predictions and the baseline comparison, ranked like every other finding;
//! with the training-fit findings of every task kind (dev curve, underfitting, from the train
//! history) and collapsed label sets (`training.collapsed`) from the `training` rules.
//!
//! Each rule is a function named for what it finds; the rules about one label (missed,
//! added, ranking, calibration, threshold) are in `labels`. [`findings`] runs them in a
//! fixed order and ranks the result.

use std::fmt::Write as _;

use super::rank;
use super::training::{self, Versus};
use super::types::{Evidence, Finding, Severity, finding, pct, wilson};
use crate::analysis::multilabel::{
    BaselineComparison, CooccurrenceError, LabelDiff, MultilabelAnalysis, PairRecall,
};
use crate::params::ReflectParams;
use crate::stats::bootstrap::Paired;
use crate::stats::proportion::share;

mod labels;

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
///
/// The rules run in a fixed order (ranking breaks ties by id, but the order is kept so
/// the unranked list reads the same): the headline, each label's own findings, co-occurrence
/// errors, gold pairs, collapsed or empty predictions, the baseline and the training fit.
pub fn findings(a: &MultilabelAnalysis, params: &ReflectParams) -> Vec<Finding> {
    let min_support = params.min_slice_support;
    let mut out: Vec<Finding> = headline(a).into_iter().collect();
    for j in 0..a.per_label.len() {
        out.extend(labels::findings(a, j, min_support));
    }
    out.extend(cooccurrence_errors(a));
    out.extend(gold_pairs(a, min_support));
    // Collapsed label sets (a training cause) or, short of that, empty predictions (a
    // decision one): one finding per cause.
    out.extend(training::collapsed(a).or_else(|| empty_prediction(a)));
    out.extend(baseline(a));
    out.extend(training_fit(a));
    rank(&mut out);
    out
}

/// `headline`: micro and macro F1 with every headline metric as a number; medium when the
/// micro F1 interval is wider than [`WIDE_CI`].
fn headline(a: &MultilabelAnalysis) -> Option<Finding> {
    let (Some(micro), Some(macro_)) = (a.metric("micro F1"), a.metric("macro F1")) else {
        return None;
    };
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
    Some(f)
}

/// `cooccurrence.<A>.<B>`: the most frequent co-occurrence errors ("`A` read as `B`") with
/// at least [`CONFUSION_MIN_COUNT`] examples and [`CONFUSION_MIN_SHARE`] of `A`'s misses, at
/// most [`CONFUSION_FINDINGS`] of them.
fn cooccurrence_errors(a: &MultilabelAnalysis) -> impl Iterator<Item = Finding> {
    a.cooccurrence_errors
        .iter()
        .filter(|c| c.count >= CONFUSION_MIN_COUNT && c.share_of_missed >= CONFUSION_MIN_SHARE)
        .take(CONFUSION_FINDINGS)
        .map(move |c| cooccurrence_error(a, c))
}

/// The finding of one co-occurrence error: its share of the missed label's misses.
fn cooccurrence_error(a: &MultilabelAnalysis, c: &CooccurrenceError) -> Finding {
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
    f
}

/// `gold_pair.<A>.<B>`: gold pairs with at least `min_support` examples that the model
/// predicts together less often than [`PAIR_RECALL_LOW`] and less often than independent
/// errors of the two labels would give.
fn gold_pairs(a: &MultilabelAnalysis, min_support: usize) -> impl Iterator<Item = Finding> {
    a.gold_pairs
        .iter()
        .filter(move |p| {
            p.together >= min_support
                && p.joint_recall < PAIR_RECALL_LOW
                && p.joint_recall < p.independent
        })
        .map(move |p| gold_pair(a, p))
}

/// The finding of one gold pair predicted apart: its joint recall against the independent
/// one.
fn gold_pair(a: &MultilabelAnalysis, p: &PairRecall) -> Finding {
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
    f
}

/// `baseline.micro_f1` and `baseline.macro_f1`: the paired bootstrap of the model against
/// the baseline, when there is one.
fn baseline(a: &MultilabelAnalysis) -> Vec<Finding> {
    let Some(b) = &a.baseline else {
        return Vec::new();
    };
    [
        ("micro_f1", "micro F1", &b.micro_f1, true),
        ("macro_f1", "macro F1", &b.macro_f1, false),
    ]
    .into_iter()
    .map(|(key, name, paired, primary)| baseline_metric(a, b, key, name, paired, primary))
    .collect()
}

/// The baseline finding of one metric (`key` in the id, `name` in the text); the `primary`
/// metric's non-significant difference is high, the other's medium.
fn baseline_metric(
    a: &MultilabelAnalysis,
    b: &BaselineComparison,
    key: &str,
    name: &str,
    paired: &Paired,
    primary: bool,
) -> Finding {
    let d = &paired.diff;
    let p = paired.p_value;
    let (severity, title, action) = baseline_verdict(name, paired, primary);
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
                .map(|x| format!("`{}` ({:.3} vs {:.3})", x.label, x.baseline_f1, x.model_f1))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    f.action = action;
    f
}

/// Severity, title and action of a baseline comparison: the model significantly better,
/// significantly worse, or within noise (at level [`ALPHA`]).
fn baseline_verdict(name: &str, paired: &Paired, primary: bool) -> (Severity, String, String) {
    let d = &paired.diff;
    let p = paired.p_value;
    let significant = p < ALPHA && (d.lo > 0.0 || d.hi < 0.0);
    if significant && d.estimate > 0.0 {
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
    }
}

/// The dev curve and underfitting, by the rules every task kind shares, against the
/// baseline's micro F1 when there is one.
fn training_fit(a: &MultilabelAnalysis) -> Vec<Finding> {
    let versus = a.baseline.as_ref().map(|b| Versus {
        metric: "micro F1",
        paired: &b.micro_f1,
    });
    training::fit(a.history.as_ref(), versus)
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
