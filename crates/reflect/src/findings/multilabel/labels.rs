//! The per-label rules of the multi-label findings: a label the model misses, one it adds
//! where it is absent, one its probabilities barely rank, one whose probabilities are
//! miscalibrated and one whose tuned threshold is far from 0.5.

use std::fmt::Write as _;

use metrics::multilabel::DEFAULT_THRESHOLD;

use super::{
    ECE_HIGH, ECE_MEDIUM, PRECISION_MEDIUM, RANKING_POOR, RANKS_WELL, RECALL_HIGH, RECALL_MEDIUM,
    THRESHOLD_EXTREME, THRESHOLD_FAR, evidence,
};
use crate::analysis::multilabel::{LabelCalibration, LabelErrors, LabelRow, MultilabelAnalysis};
use crate::findings::types::{Evidence, Finding, Severity, finding, pct, wilson};

/// One label's row with what the analysis holds about it: the input every rule here reads.
struct Label<'a> {
    a: &'a MultilabelAnalysis,
    row: &'a LabelRow,
    /// Its gold cases the model did not predict, with examples.
    missed: Option<&'a LabelErrors>,
    /// Its predictions where it is absent, with examples.
    added: Option<&'a LabelErrors>,
    /// Gold cases (or predictions) a label needs before its rate is a finding.
    min_support: usize,
}

/// The findings of label `j` (an index into `a.per_label`), always in this order: missed,
/// added, ranking, calibration, threshold.
pub(super) fn findings(
    a: &MultilabelAnalysis,
    j: usize,
    min_support: usize,
) -> impl Iterator<Item = Finding> {
    let row = &a.per_label[j];
    let l = Label {
        a,
        row,
        missed: a.missed.iter().find(|e| e.label == row.label),
        added: a.added.iter().find(|e| e.label == row.label),
        min_support,
    };
    [
        missed(&l),
        added(&l),
        ranking(&l),
        a.calibration.get(j).and_then(|c| calibration(&l, c)),
        threshold(&l),
    ]
    .into_iter()
    .flatten()
}

/// Evidence rows of a label's error examples.
fn examples_of(file: &str, errors: Option<&LabelErrors>) -> Vec<Evidence> {
    evidence(
        file,
        errors.into_iter().flat_map(|e| &e.examples).map(|e| &e.id),
    )
}

/// `recall.<label>`: a label with enough gold cases that the model misses in more than
/// 30 % of them (high below 50 % recall).
fn missed(l: &Label) -> Option<Finding> {
    let (row, name) = (l.row, &l.row.label);
    let wanted = row.support >= l.min_support && row.recall < RECALL_MEDIUM;
    if !wanted {
        return None;
    }
    let high = row.recall < RECALL_HIGH;
    let mut f = finding(
        format!("recall.{name}"),
        if high {
            Severity::High
        } else {
            Severity::Medium
        },
        "per-label",
        format!(
            "The model misses `{name}` in {} of {} gold cases (recall {:.3})",
            row.missed, row.support, row.recall
        ),
    );
    f.metric = format!("recall of `{name}`");
    f.value = row.recall;
    f.ci = Some(row.recall_ci);
    f.score = 1.0 - row.recall;
    f.number("support", row.support as f64);
    f.number("missed", row.missed as f64);
    f.number("tp", row.tp as f64);
    f.number("recall", row.recall);
    f.number("threshold", row.threshold);
    if let Some(auc) = row.roc_auc {
        f.number("roc_auc", auc);
    }
    f.detail = missed_detail(l);
    f.evidence = examples_of(&l.a.file, l.missed);
    f.action = missed_action(l);
    Some(f)
}

/// The detail of a missed label: its other rates, its ranking and what it is most often
/// read as.
fn missed_detail(l: &Label) -> String {
    let row = l.row;
    let mut detail = format!(
        "precision {:.3}, F1 {:.3}, threshold {:.3}, in {} of the examples",
        row.precision,
        row.f1,
        row.threshold,
        pct(row.prevalence)
    );
    if let Some(auc) = row.roc_auc {
        let _ = write!(detail, ", ROC-AUC {auc:.3}");
    }
    let errors = &l.a.cooccurrence_errors;
    if let Some(c) = errors.iter().find(|c| c.missed == row.label) {
        let _ = write!(
            detail,
            "; most often read as `{}` ({} examples)",
            c.added, c.count
        );
    }
    detail
}

/// What to do about a missed label: a threshold to move when its probabilities rank it
/// well, more (or weighted) training examples when they do not.
fn missed_action(l: &Label) -> String {
    let (row, name) = (l.row, &l.row.label);
    match (row.roc_auc, &l.a.decision.tuned_on) {
        (Some(auc), None) if auc >= RANKS_WELL => format!(
            "The probabilities rank `{name}` well (ROC-AUC {auc:.3}) but too few pass the threshold {:.2}: tune per-label thresholds on dev (evaluate `tune_thresholds = true`) or lower this one.",
            row.threshold
        ),
        (Some(auc), Some(dev)) if auc >= RANKS_WELL => format!(
            "The probabilities rank `{name}` fairly (ROC-AUC {auc:.3}), but the threshold {:.3} that gives the best F1 on {dev} lets only this share of the gold cases through (F1 trades recall for precision on a label in {} of the examples): if a missed `{name}` costs more than a false alarm, lower its threshold; more training examples of `{name}` raise what any threshold can reach.",
            row.threshold,
            pct(row.prevalence)
        ),
        _ => format!(
            "The probabilities do not separate `{name}` well: add training examples of `{name}` (it is in {} of the examples), weight it in the loss (pos_weight), and see what it is read as (co-occurrence errors).",
            pct(row.prevalence)
        ),
    }
}

/// `precision.<label>`: a label predicted often enough that most of its predictions are
/// wrong.
fn added(l: &Label) -> Option<Finding> {
    let (row, name) = (l.row, &l.row.label);
    let wanted = row.predicted >= l.min_support && row.precision < PRECISION_MEDIUM;
    if !wanted {
        return None;
    }
    let mut f = finding(
        format!("precision.{name}"),
        Severity::Medium,
        "per-label",
        format!(
            "The model adds `{name}` where it is absent: {} of its {} predictions are wrong (precision {:.3})",
            row.added, row.predicted, row.precision
        ),
    );
    f.metric = format!("precision of `{name}`");
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
    let errors = &l.a.cooccurrence_errors;
    if let Some(c) = errors.iter().find(|c| c.added == row.label) {
        let _ = write!(
            f.detail,
            "; most often instead of `{}` ({} examples)",
            c.missed, c.count
        );
    }
    f.evidence = examples_of(&l.a.file, l.added);
    f.action = format!(
        "Raise the threshold of `{name}` (tune it on dev) and review which gold label it replaces (co-occurrence errors); if the added cases look right, the gold labels may be incomplete."
    );
    Some(f)
}

/// `ranking.<label>`: a label with enough gold cases whose probabilities barely separate it
/// from its absence (ROC-AUC below [`RANKING_POOR`]): no threshold can fix it.
fn ranking(l: &Label) -> Option<Finding> {
    let (row, name) = (l.row, &l.row.label);
    let auc = row
        .roc_auc
        .filter(|&x| x < RANKING_POOR && row.support >= l.min_support)?;
    let mut f = finding(
        format!("ranking.{name}"),
        Severity::Medium,
        "per-label",
        format!("The probabilities of `{name}` barely rank it: ROC-AUC {auc:.3}"),
    );
    f.metric = format!("ROC-AUC of `{name}`");
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
    f.evidence = examples_of(&l.a.file, l.missed);
    f.action = format!(
        "No threshold can fix this: `{name}` needs more (or cleaner) training examples, or it is confused with a similar label — review its annotation guidelines."
    );
    Some(f)
}

/// `calibration.<label>`: a label whose probabilities are off by more than [`ECE_MEDIUM`]
/// on average (high when the whole interval is above [`ECE_HIGH`]).
fn calibration(l: &Label, c: &LabelCalibration) -> Option<Finding> {
    let (a, name) = (l.a, &l.row.label);
    let ece = c.report.ece;
    let wanted = ece.estimate > ECE_MEDIUM;
    if !wanted {
        return None;
    }
    let high = ece.lo > ECE_HIGH;
    let mut f = finding(
        format!("calibration.{name}"),
        if high {
            Severity::High
        } else {
            Severity::Medium
        },
        "calibration",
        format!(
            "Probabilities of `{name}` are off by {:.3} on average (ECE {}, {} bins)",
            ece.estimate,
            ece.display(3),
            a.bins
        ),
    );
    f.metric = format!("ECE of `{name}`");
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
    f.action = calibration_action(l, c, &mut f);
    // Overconfident: the evidence is what it adds; underconfident: what it misses.
    let ev = if c.mean_prob > c.positive_rate {
        l.added
    } else {
        l.missed
    };
    f.evidence = examples_of(&a.file, ev);
    Some(f)
}

/// What to do about a miscalibrated label: the fitted temperature when it fixes the
/// calibration, Platt scaling or isotonic regression when it does not, dev predictions when
/// there is no temperature. Records the temperature and the ECE after it in `f`'s numbers.
fn calibration_action(l: &Label, c: &LabelCalibration, f: &mut Finding) -> String {
    let name = &l.row.label;
    let ece = c.report.ece;
    match (&c.temperature, &c.report.after) {
        (Some(t), Some(after)) if after.ece.estimate < ece.lo => {
            f.number("temperature", t.t);
            f.number("ece_after_temperature", after.ece.estimate);
            format!(
                "Divide the logit of `{name}` by T = {:.2} (fitted on {}): its ECE drops from {:.3} to {:.3}; then re-tune its threshold on the scaled probabilities.",
                t.t,
                l.a.temperature_split.as_deref().unwrap_or("dev"),
                ece.estimate,
                after.ece.estimate
            )
        }
        (Some(t), Some(after)) => {
            f.number("temperature", t.t);
            f.number("ece_after_temperature", after.ece.estimate);
            format!(
                "A temperature does not fix it (T = {:.2}: ECE {:.3} -> {:.3}): the probabilities of `{name}` are shifted, not just over- or underconfident; fit Platt scaling (slope and bias) or isotonic regression per label on dev, and tune its threshold there.",
                t.t, ece.estimate, after.ece.estimate
            )
        }
        _ => format!(
            "Do not read the probabilities of `{name}` as chances: fit a per-label temperature or Platt scaling on dev (give reflect the dev predictions) and tune its threshold on dev."
        ),
    }
}

/// `threshold.<label>`: a threshold tuned on dev farther than [`THRESHOLD_FAR`] from 0.5
/// (medium beyond [`THRESHOLD_EXTREME`]): the label's probabilities are shifted.
fn threshold(l: &Label) -> Option<Finding> {
    let (a, row, name) = (l.a, l.row, &l.row.label);
    let dev = a.decision.tuned_on.as_ref()?;
    let gap = (row.threshold - DEFAULT_THRESHOLD).abs();
    let wanted = gap > THRESHOLD_FAR;
    if !wanted {
        return None;
    }
    let mut f = finding(
        format!("threshold.{name}"),
        if gap > THRESHOLD_EXTREME {
            Severity::Medium
        } else {
            Severity::Low
        },
        "decision",
        format!(
            "The threshold of `{name}` tuned on {dev} is {:.3}, far from {DEFAULT_THRESHOLD}",
            row.threshold
        ),
    );
    f.metric = format!("threshold of `{name}`");
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
        "The probabilities of `{name}` are {} than its frequency warrants: calibrate it (per-label temperature or Platt scaling on {dev}) so one threshold means the same for every label, and check that {dev} holds enough `{name}` examples for a stable threshold.",
        if row.threshold < DEFAULT_THRESHOLD {
            "lower"
        } else {
            "higher"
        }
    );
    Some(f)
}
