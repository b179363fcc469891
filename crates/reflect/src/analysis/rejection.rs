//! Answering less to answer better (sequence tasks with probabilities): the risk–coverage
//! curve — the accuracy of the answered part against the share answered as the confidence
//! threshold rises — with the evaluation's rejection rule marked, and the answers a threshold
//! cannot take back: wrong ones given with high confidence, out-of-scope questions above all.
//!
//! The curve is [`metrics::open_set::sweep`] on the evaluated split, the code that chose the
//! threshold in evaluate, so the marked point equals the evaluate stage's `open_set` numbers.

use flowcore::TaskKind;
use metrics::open_set::{RejectRule, SweepPoint, open_set_metrics, sweep};
use metrics::{PredictionRow, Predictions};
use serde::{Deserialize, Serialize};

use super::prepared::Prepared;
use crate::data::Split;
use crate::error::{ReflectError, Result};
use crate::params::Options;

/// Coverages at which the report tabulates the curve.
pub const COVERAGES: [f64; 7] = [1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5];

/// The confidence from which an answer counts as confident (at least the rule's threshold).
pub const CONFIDENT: f64 = 0.9;

/// One answer given with high confidence that is wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidentError {
    /// Example id.
    pub id: String,
    /// The text (the ingest artifact's words, joined), when known.
    pub text: Option<String>,
    /// Gold label.
    pub gold: String,
    /// The answer.
    pub pred: String,
    /// Its probability.
    pub confidence: f64,
}

/// The risk–coverage analysis of the evaluated split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The evaluation's rejection rule, when it had one.
    pub rule: Option<RejectRule>,
    /// The curve at every distinct confidence (coverage falls, accuracy of the answers rises).
    pub curve: Vec<SweepPoint>,
    /// The rule's own point on this split (equal to the evaluate stage's `open_set`).
    pub at_rule: Option<SweepPoint>,
    /// The curve at [`COVERAGES`]: the first point whose coverage is at most each.
    pub table: Vec<SweepPoint>,
    /// Area under the risk–coverage curve (mean error of the answered part over coverage;
    /// lower is better): the mean over the curve's points weighted by the coverage each adds.
    pub aurc: f64,
    /// Confidence from which an answer counts as confident.
    pub confident_from: f64,
    /// Answers given with at least that confidence.
    pub confident: usize,
    /// Of those, wrong ones.
    pub confident_wrong: usize,
    /// Of the wrong ones, out-of-scope questions answered as in scope.
    pub confident_out_of_scope: usize,
    /// Out-of-scope questions in the split.
    pub out_of_scope: usize,
    /// The most confident wrong answers (at most `max_examples`).
    pub examples: Vec<ConfidentError>,
}

/// Predictions of the split as the evaluate stage wrote them (probabilities back to f32,
/// exact, so the decisions are the same).
fn predictions(split: &Split) -> Result<Predictions> {
    let mut p = Predictions::new(split.task, split.labels.clone());
    for ex in &split.examples {
        let (Some(&gold), Some(&pred), Some(probs)) =
            (ex.gold.first(), ex.pred.first(), ex.probs.first())
        else {
            return Err(ReflectError::Invalid {
                place: split.path.display().to_string(),
                message: format!("example `{}` has no label or probabilities", ex.id),
            });
        };
        p.rows.push(PredictionRow {
            id: ex.id.clone(),
            word: None,
            token: ex.words.first().cloned(),
            gold: split.label(gold).to_string(),
            pred: split.label(pred).to_string(),
            probs: Some(probs.iter().map(|&x| x as f32).collect()),
        });
    }
    Ok(p)
}

/// The analysis; `None` for token tasks or without probabilities.
pub fn run(p: &Prepared<'_>, opts: &Options, notes: &mut Vec<String>) -> Result<Option<Rejection>> {
    let split = p.split;
    if split.task != TaskKind::Sequence || split.examples.is_empty() {
        return Ok(None);
    }
    if !split.has_probs {
        notes.push("risk–coverage: the predictions carry no probabilities".into());
        return Ok(None);
    }
    let rule = p.inputs.reject.clone();
    if let Some(r) = &rule
        && !split.labels.contains(&r.label)
    {
        notes.push(format!(
            "risk–coverage: the rejection rule's label `{}` is not a label of the split; drawn without it",
            r.label
        ));
    }
    let oos = rule
        .as_ref()
        .map(|r| r.label.as_str())
        .filter(|l| split.labels.iter().any(|x| x == l));
    let preds = predictions(split)?;
    let metric_err = |source| ReflectError::Metrics {
        place: format!("risk–coverage of {}", split.path.display()),
        source,
    };
    let curve = sweep(&preds, oos).map_err(metric_err)?;
    // The rule's own point (its threshold is a dev confidence, not one of this split's).
    let at_rule = match &rule {
        Some(r) if oos.is_some() => {
            let m = open_set_metrics(&preds, r).map_err(metric_err)?;
            Some(SweepPoint {
                threshold: r.threshold,
                coverage: m.coverage,
                accuracy: m.in_scope_precision,
                out_of_scope_recall: m.out_of_scope_recall,
            })
        }
        _ => None,
    };
    let table = COVERAGES
        .iter()
        .filter_map(|&c| curve.iter().find(|pt| pt.coverage <= c + 1e-12).copied())
        .collect();
    let aurc = aurc(&curve);

    let confident_from = rule
        .as_ref()
        .map_or(CONFIDENT, |r| r.threshold.max(CONFIDENT));
    let oos_id = oos.and_then(|l| split.labels.iter().position(|x| x == l));
    let mut confident = 0;
    let mut wrong: Vec<ConfidentError> = Vec::new();
    let mut confident_out_of_scope = 0;
    let mut out_of_scope = 0;
    for ex in &split.examples {
        let probs = &ex.probs[0];
        let best = metrics::open_set::argmax(&probs.iter().map(|&x| x as f32).collect::<Vec<_>>());
        let conf = probs[best];
        let gold = ex.gold[0];
        out_of_scope += usize::from(Some(gold) == oos_id);
        if Some(best) == oos_id || conf < confident_from {
            continue;
        }
        confident += 1;
        if best != gold {
            confident_out_of_scope += usize::from(Some(gold) == oos_id);
            wrong.push(ConfidentError {
                id: ex.id.clone(),
                text: ex.words.first().cloned().or_else(|| {
                    let words = p.inputs.context.as_ref()?.words.get(&ex.id)?;
                    Some(words.join(" "))
                }),
                gold: split.label(gold).to_string(),
                pred: split.label(best).to_string(),
                confidence: conf,
            });
        }
    }
    let confident_wrong = wrong.len();
    wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.id.cmp(&b.id)));
    wrong.truncate(opts.max_examples);
    Ok(Some(Rejection {
        rule,
        curve,
        at_rule,
        table,
        aurc,
        confident_from,
        confident,
        confident_wrong,
        confident_out_of_scope,
        out_of_scope,
        examples: wrong,
    }))
}

/// Area under the risk (1 − accuracy of the answers) – coverage curve, as a step function
/// from coverage 0 to the full coverage of the first point.
fn aurc(curve: &[SweepPoint]) -> f64 {
    let mut area = 0.0;
    for (i, pt) in curve.iter().enumerate() {
        let next = curve.get(i + 1).map_or(0.0, |n| n.coverage);
        if pt.accuracy.is_finite() {
            area += (pt.coverage - next) * (1.0 - pt.accuracy);
        }
    }
    area
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(coverage: f64, accuracy: f64) -> SweepPoint {
        SweepPoint {
            threshold: 0.0,
            coverage,
            accuracy,
            out_of_scope_recall: f64::NAN,
        }
    }

    #[test]
    fn aurc_is_the_area_under_the_risk_steps() {
        // Risk 0.5 on (0.5, 1], 0 on (0, 0.5]: area 0.25.
        let curve = [pt(1.0, 0.5), pt(0.5, 1.0)];
        assert!((aurc(&curve) - 0.25).abs() < 1e-15);
        // A perfect model has no area.
        assert_eq!(aurc(&[pt(1.0, 1.0), pt(0.3, 1.0)]), 0.0);
    }
}
