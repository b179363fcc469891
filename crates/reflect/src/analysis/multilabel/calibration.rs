//! Calibration of each label's probability against its gold indicator: equal-width ECE
//! with bootstrap intervals (one pass over the resamples for every label), equal-mass ECE,
//! MCE, Brier score, NLL, and a temperature of the label's logit fitted on the dev split.

use serde::{Deserialize, Serialize};

use crate::analysis::CalibrationReport;
use crate::data::multilabel::Table;
use crate::stats::bootstrap::{Bootstrap, Interval};
use crate::stats::calibration::{self, Binning, Temperature};
use crate::stats::proportion::share;

/// Calibration of one label's probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelCalibration {
    /// The label.
    pub label: String,
    /// Mean probability.
    pub mean_prob: f64,
    /// Share of examples that have the label.
    pub positive_rate: f64,
    /// Reliability of `p` against the gold indicator (`level` is the label): equal-width ECE
    /// with a bootstrap interval, equal-mass ECE, MCE, Brier `mean (p - y)^2`, binary NLL;
    /// `after` the fitted temperature.
    pub report: CalibrationReport,
    /// Temperature of its logit fitted on the fit split (binary NLL).
    pub temperature: Option<Temperature>,
}

/// The calibration of every label of `t` (empty without probabilities), with a temperature
/// per label fitted on `fit` (the split's name and predictions) when given; returns them and
/// the split the temperatures were fitted on.
pub(crate) fn run(
    t: &Table,
    fit: Option<(&str, &Table)>,
    bins: usize,
    boot: Bootstrap,
    notes: &mut Vec<String>,
) -> (Vec<LabelCalibration>, Option<String>) {
    let (l, n) = (t.labels.len(), t.len());
    let mut calib = Vec::new();
    let mut temperature_split = None;
    if t.probs.is_some() {
        let cols: Vec<Vec<f64>> = (0..l).filter_map(|j| t.column(j)).collect();
        let ys: Vec<Vec<bool>> = (0..l).map(|j| t.gold_column(j)).collect();
        let temps: Vec<Option<Temperature>> = match fit {
            Some((name, f)) => {
                temperature_split = Some(name.to_string());
                (0..l)
                    .map(|j| {
                        let y = f.gold_column(j);
                        let pos = y.iter().filter(|&&b| b).count();
                        if pos == 0 || pos == y.len() {
                            notes.push(format!(
                                "`{}` is {} in every {name} example: no temperature fitted for it",
                                t.labels[j],
                                if pos == 0 { "absent" } else { "present" }
                            ));
                            return None;
                        }
                        let p = f.column(j).unwrap_or_default();
                        let lg: Vec<Vec<f64>> = p.iter().map(|&p| binary_logits(p)).collect();
                        let g: Vec<usize> = y.iter().map(|&b| usize::from(b)).collect();
                        Some(calibration::fit_temperature(&lg, &g))
                    })
                    .collect()
            }
            None => {
                notes.push(
                    "no dev predictions with probabilities: per-label temperatures skipped".into(),
                );
                vec![None; l]
            }
        };
        let before = ece_intervals(&cols, &ys, bins, boot);
        let scaled: Vec<Vec<f64>> = cols
            .iter()
            .zip(&temps)
            .map(|(c, tp)| match tp {
                Some(tp) => c.iter().map(|&p| scale(p, tp.t)).collect(),
                None => c.clone(),
            })
            .collect();
        let after = if temps.iter().any(Option::is_some) {
            ece_intervals(&scaled, &ys, bins, boot)
        } else {
            before.clone()
        };
        for j in 0..l {
            let mut report = label_reliability(&t.labels[j], &cols[j], &ys[j], before[j], bins);
            if temps[j].is_some() {
                report.after = Some(Box::new(label_reliability(
                    &t.labels[j],
                    &scaled[j],
                    &ys[j],
                    after[j],
                    bins,
                )));
            }
            calib.push(LabelCalibration {
                label: t.labels[j].clone(),
                mean_prob: cols[j].iter().sum::<f64>() / n as f64,
                positive_rate: share(ys[j].iter().filter(|&&b| b).count(), n),
                report,
                temperature: temps[j],
            });
        }
    }
    (calib, temperature_split)
}

/// Equal-width ECE intervals of every label's probability against its gold indicator,
/// resampling examples. An example adds to one bin per label, so a resample costs
/// `examples × labels` rather than `examples × labels × 3 bins` as dense units would (the
/// draws, and so the intervals, are those of `Bootstrap::ci` on [`calibration::ece_stats`]
/// units).
pub(crate) fn ece_intervals(
    p: &[Vec<f64>],
    y: &[Vec<bool>],
    bins: usize,
    boot: Bootstrap,
) -> Vec<Interval> {
    let l = p.len();
    let n = p.first().map_or(0, Vec::len);
    let bin: Vec<Vec<usize>> = p
        .iter()
        .map(|c| c.iter().map(|&x| calibration::width_bin(x, bins)).collect())
        .collect();
    let w = 3 * bins;
    let mut stats = vec![0.0; l * w];
    let mut reps: Vec<Vec<f64>> = vec![Vec::with_capacity(boot.resamples); l];
    boot.for_each_resample(n, |idx| {
        stats.iter_mut().for_each(|s| *s = 0.0);
        for &i in idx {
            for j in 0..l {
                let b = j * w + 3 * bin[j][i];
                stats[b] += 1.0;
                stats[b + 1] += p[j][i];
                stats[b + 2] += f64::from(u8::from(y[j][i]));
            }
        }
        for (j, r) in reps.iter_mut().enumerate() {
            r.push(calibration::ece_from_stats(&stats[j * w..(j + 1) * w]));
        }
    });
    (0..l)
        .zip(reps)
        .map(|(j, r)| {
            let est = calibration::ece_from_stats(&calibration::ece_stats(&p[j], &y[j], bins));
            boot.interval(est, r)
        })
        .collect()
}

/// `[ln(1 - p), ln p]`: softmax of these over a temperature is the sigmoid of the logit over
/// it, so the multi-class temperature fit serves a binary probability.
fn binary_logits(p: f64) -> Vec<f64> {
    calibration::logits(&[1.0 - p, p])
}

/// `p` with its logit divided by `t`.
fn scale(p: f64, t: f64) -> f64 {
    calibration::softmax_t(&binary_logits(p), t)[1]
}

/// Reliability of one label's probabilities `p` against gold indicators `y`; `ece` is the
/// interval from [`ece_intervals`].
fn label_reliability(
    label: &str,
    p: &[f64],
    y: &[bool],
    ece: Interval,
    bins: usize,
) -> CalibrationReport {
    let rel = calibration::reliability(p, y, bins, Binning::EqualWidth);
    let n = p.len().max(1) as f64;
    let brier = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2))
        .sum::<f64>()
        / n;
    let pairs: Vec<Vec<f64>> = p.iter().map(|&p| vec![1.0 - p, p]).collect();
    let gold: Vec<usize> = y.iter().map(|&y| usize::from(y)).collect();
    CalibrationReport {
        level: label.to_string(),
        items: p.len(),
        ece,
        ece_mass: calibration::reliability(p, y, bins, Binning::EqualMass).ece,
        mce: rel.mce,
        brier: Some(brier),
        nll: Some(calibration::nll(&pairs, &gold)),
        reliability: rel,
        after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_is_near_zero_when_calibrated_and_large_when_overconfident() {
        let boot = Bootstrap {
            resamples: 200,
            ..Bootstrap::default()
        };
        // p = 0.25 on 20 items with 5 positives, 0.75 on 20 with 15: calibrated.
        let p: Vec<f64> = (0..40).map(|i| if i < 20 { 0.25 } else { 0.75 }).collect();
        let y: Vec<bool> = (0..40).map(|i| (i < 5) || (20..35).contains(&i)).collect();
        // p = 0.95 everywhere, half positive: overconfident by 0.45.
        let q = vec![0.95; 40];
        let z: Vec<bool> = (0..40).map(|i| i % 2 == 0).collect();
        let e = ece_intervals(&[p.clone(), q.clone()], &[y.clone(), z.clone()], 10, boot);
        assert!(e[0].estimate < 1e-12, "{:?}", e[0]);
        assert!((e[1].estimate - 0.45).abs() < 1e-9, "{:?}", e[1]);
        let r = label_reliability("x", &q, &z, e[1], 10);
        assert!((r.brier.unwrap() - (0.5 * 0.05f64.powi(2) + 0.5 * 0.95f64.powi(2))).abs() < 1e-12);
        // A temperature fitted on overconfident scores pulls them towards 0.5.
        let lg: Vec<Vec<f64>> = q.iter().map(|&p| binary_logits(p)).collect();
        let g: Vec<usize> = z.iter().map(|&b| usize::from(b)).collect();
        let t = calibration::fit_temperature(&lg, &g);
        assert!(t.t > 10.0, "{t:?}");
        assert!((scale(0.95, t.t) - 0.5).abs() < 0.01);
    }
}
