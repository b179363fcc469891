//! Calibration: reliability bins, ECE (with a bootstrap interval), MCE, Brier and NLL of the
//! words / examples and of predicted entities, before and after temperature scaling fitted
//! on the dev predictions.

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use super::prepared::Prepared;
use crate::data::Split;
use crate::error::Result;
use crate::ner::{self, Spans};
use crate::params::Options;
use crate::stats::bootstrap::{Interval, Units};
use crate::stats::calibration::{self, Binning, Reliability, Temperature};

/// Calibration at one level (word, entity or example).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// `word`, `entity` or `example`.
    pub level: String,
    /// Items scored.
    pub items: usize,
    /// Equal-width ECE with bootstrap CI.
    pub ece: Interval,
    /// Equal-mass ECE.
    pub ece_mass: f64,
    /// Maximum calibration error (equal-width bins).
    pub mce: f64,
    /// Multi-class Brier score (not for entities).
    pub brier: Option<f64>,
    /// NLL (not for entities).
    pub nll: Option<f64>,
    /// Equal-width reliability bins.
    pub reliability: Reliability,
    /// The same after temperature scaling, when a temperature was fitted.
    pub after: Option<Box<CalibrationReport>>,
}
/// The calibration section: both levels and the temperature.
#[derive(Debug, Clone, Default)]
pub struct CalibrationSection {
    /// Words (token task) or examples (sequence task).
    pub calibration: Option<CalibrationReport>,
    /// Predicted entities (token task).
    pub entity_calibration: Option<CalibrationReport>,
    /// The temperature fitted on the dev predictions.
    pub temperature: Option<Temperature>,
    /// The split it was fitted on.
    pub temperature_split: Option<String>,
}

/// Calibration of the evaluated split (skipped, with a note, without probabilities).
pub fn run(
    p: &Prepared<'_>,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Result<CalibrationSection> {
    let split = p.split;
    let inputs = p.inputs;
    let boot = opts.bootstrap;
    let spans = &p.spans;
    let cluster = |u: &Units| p.cluster(u);
    let (mut calibration, mut entity_calibration, mut temperature, mut temperature_split) =
        (None, None, None, None);
    if split.has_probs {
        let probs: Vec<Vec<Vec<f64>>> = split.examples.iter().map(|e| e.probs.clone()).collect();
        if let Some(fit) = inputs.fit.as_ref().filter(|f| f.has_probs) {
            let mut lg = Vec::new();
            let mut gold = Vec::new();
            for ex in &fit.examples {
                for (p, &g) in ex.probs.iter().zip(&ex.gold) {
                    lg.push(calibration::logits(p));
                    gold.push(g);
                }
            }
            temperature = Some(calibration::fit_temperature(&lg, &gold));
            temperature_split = Some(fit.name.clone());
        } else {
            notes.push("no dev predictions with probabilities: temperature scaling skipped".into());
        }
        let scaled: Option<Vec<Vec<Vec<f64>>>> = temperature.map(|t| {
            probs
                .iter()
                .map(|p| calibration::apply_temperature(p, t.t))
                .collect()
        });
        let level = match split.task {
            TaskKind::Token => "word",
            TaskKind::Sequence | TaskKind::Multilabel => "example",
        };
        let report_for = |probs: &[Vec<Vec<f64>>]| -> CalibrationReport {
            let (conf, ok) = confidences(split, probs);
            let mut per_unit = Units::new(3 * opts.bins);
            for (ex, ps) in split.examples.iter().zip(probs) {
                let c: Vec<f64> = ex
                    .pred
                    .iter()
                    .zip(ps)
                    .map(|(&p, v)| v.get(p).copied().unwrap_or(0.0))
                    .collect();
                let k: Vec<bool> = ex.gold.iter().zip(&ex.pred).map(|(g, p)| g == p).collect();
                per_unit.push(&calibration::ece_stats(&c, &k, opts.bins));
            }
            let flat: Vec<Vec<f64>> = probs.iter().flatten().cloned().collect();
            let gold: Vec<usize> = split
                .examples
                .iter()
                .flat_map(|e| e.gold.iter().copied())
                .collect();
            let rel = calibration::reliability(&conf, &ok, opts.bins, Binning::EqualWidth);
            CalibrationReport {
                level: level.to_string(),
                items: conf.len(),
                ece: boot.ci(&cluster(&per_unit), calibration::ece_from_stats),
                ece_mass: calibration::reliability(&conf, &ok, opts.bins, Binning::EqualMass).ece,
                mce: rel.mce,
                brier: Some(calibration::brier(&flat, &gold)),
                nll: Some(calibration::nll(&flat, &gold)),
                reliability: rel,
                after: None,
            }
        };
        let mut cal = report_for(&probs);
        if let Some(sc) = &scaled {
            cal.after = Some(Box::new(report_for(sc)));
        }
        calibration = Some(cal);

        if let Some(spans) = &spans {
            let entity_report = |probs: &[Vec<Vec<f64>>]| -> CalibrationReport {
                let (conf, ok) = ner::entity_confidences(spans, probs, opts.entity_confidence);
                // Per-sentence statistics for the bootstrap: an entity belongs to its sentence.
                let mut per_unit = Units::new(3 * opts.bins);
                for i in 0..split.examples.len() {
                    let one = Spans {
                        gold: vec![spans.gold[i].clone()],
                        pred: vec![spans.pred[i].clone()],
                    };
                    let (c, k) =
                        ner::entity_confidences(&one, &probs[i..=i], opts.entity_confidence);
                    per_unit.push(&calibration::ece_stats(&c, &k, opts.bins));
                }
                let rel = calibration::reliability(&conf, &ok, opts.bins, Binning::EqualWidth);
                CalibrationReport {
                    level: "entity".into(),
                    items: conf.len(),
                    ece: boot.ci(&cluster(&per_unit), calibration::ece_from_stats),
                    ece_mass: calibration::reliability(&conf, &ok, opts.bins, Binning::EqualMass)
                        .ece,
                    mce: rel.mce,
                    brier: None,
                    nll: None,
                    reliability: rel,
                    after: None,
                }
            };
            let mut ec = entity_report(&probs);
            if let Some(sc) = &scaled {
                ec.after = Some(Box::new(entity_report(sc)));
            }
            entity_calibration = Some(ec);
        }
    } else {
        notes.push(format!(
            "{} has no probabilities: calibration and suspect labels skipped",
            split.path.display()
        ));
    }

    Ok(CalibrationSection {
        calibration,
        entity_calibration,
        temperature,
        temperature_split,
    })
}

/// Top-1 confidence (probability of the predicted label) and correctness of every item.
fn confidences(split: &Split, probs: &[Vec<Vec<f64>>]) -> (Vec<f64>, Vec<bool>) {
    let (mut c, mut ok) = (Vec::new(), Vec::new());
    for (ex, ps) in split.examples.iter().zip(probs) {
        for ((&g, &p), v) in ex.gold.iter().zip(&ex.pred).zip(ps) {
            c.push(v.get(p).copied().unwrap_or(0.0));
            ok.push(g == p);
        }
    }
    (c, ok)
}
