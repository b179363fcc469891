//! Calibration: how far the model's confidences are from its accuracy, and whether a
//! temperature fitted on dev fixes it.

use super::builder::Builder;
use super::types::{Severity, ci, finding};
use crate::analysis::CalibrationReport;

/// How far confidences are from accuracy at one level, and whether a temperature fixes it.
pub(super) fn calibration(b: &mut Builder<'_>, c: &CalibrationReport, id: &str) {
    let a = b.a;
    let ece = c.ece.estimate;
    let severity = if c.ece.lo >= 0.10 {
        Severity::High
    } else if c.ece.lo >= 0.03 {
        Severity::Medium
    } else if ece >= 0.02 {
        Severity::Low
    } else {
        Severity::Info
    };
    let t = a.temperature;
    let direction = match t {
        Some(t) if t.t > 1.05 => " (overconfident)",
        Some(t) if t.t < 0.95 => " (underconfident)",
        _ => "",
    };
    let mut f = finding(
        id.to_string(),
        severity,
        "calibration",
        format!(
            "{}-level ECE is {}{} over {} items",
            c.level,
            c.ece.display(3),
            direction,
            c.items
        ),
    );
    f.metric = format!(
        "ECE ({} equal-width bins, {} level)",
        c.reliability.bins.len(),
        c.level
    );
    f.value = ece;
    f.ci = ci(&c.ece);
    f.score = ece;
    f.number("ece", ece);
    if let (Some(t), Some(after)) = (t, &c.after) {
        f.number("temperature", t.t);
        f.number("ece_after_temperature", after.ece.estimate);
    }
    let mut detail = format!("equal-mass ECE {:.3}, MCE {:.3}", c.ece_mass, c.mce);
    if let (Some(br), Some(nll)) = (c.brier, c.nll) {
        detail.push_str(&format!(", Brier {br:.4}, NLL {nll:.4}"));
    }
    f.action = match (t, &c.after) {
        // Only an action that changes something measurably: a temperature away from 1 whose
        // ECE falls below the current ECE's interval.
        (Some(t), Some(after)) if after.ece.estimate < c.ece.lo && (t.t - 1.0).abs() >= 0.05 => {
            detail.push_str(&format!("; after T = {:.3}: ECE {}", t.t, after.ece.display(3)));
            format!(
                "Apply temperature T = {:.2} (fitted on {} NLL) to the logits: {} ECE drops from {:.3} to {:.3}.",
                t.t,
                a.temperature_split.as_deref().unwrap_or("dev"),
                c.level,
                ece,
                after.ece.estimate
            )
        }
        (Some(t), Some(after)) if after.ece.estimate < ece => {
            detail.push_str(&format!(
                "; after T = {:.3}: ECE {} (inside the current interval: no measurable change)",
                t.t,
                after.ece.display(3)
            ));
            format!(
                "Temperature scaling changes nothing measurable here (T = {:.2}; {} ECE {:.3} -> {:.3}, inside the interval {}): the miscalibration is not a global scale; consider histogram binning or isotonic regression on dev, or more dev data.",
                t.t,
                c.level,
                ece,
                after.ece.estimate,
                c.ece.display(3)
            )
        }
        (Some(t), Some(after)) => {
            detail.push_str(&format!("; after T = {:.3}: ECE {}", t.t, after.ece.display(3)));
            format!(
                "Temperature scaling (T = {:.2}) does not lower {} ECE ({:.3} -> {:.3}); the miscalibration is not a global scale: consider histogram binning or more dev data.",
                t.t, c.level, ece, after.ece.estimate
            )
        }
        _ => "Fit a temperature on dev predictions (give reflect the dev split) before using the probabilities as confidences.".into(),
    };
    if severity == Severity::Info {
        f.action = "Confidences can be read as probabilities at this level.".into();
    }
    f.detail = detail;
    b.push(f);
}
