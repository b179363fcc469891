//! Text both generic reports (Markdown and HTML) render: the headline lines a pipeline
//! prints, and the sentence and rows of the risk–coverage table.

use std::fmt::Write as _;

use super::text::finding_lines;
use crate::analysis::{Analysis, Rejection};
use crate::findings::Finding;

/// A few lines for the end of a pipeline run: headline metric with CI, calibration, baseline
/// significance, findings count.
pub fn headline_lines(a: &Analysis, findings: &[Finding]) -> Vec<String> {
    let mut lines = Vec::new();
    for h in &a.headline {
        lines.push(format!(
            "{} ({}): {} (95 % CI, {} {}s, {} resamples)",
            h.name,
            a.split,
            h.ci.display(3),
            a.units,
            a.unit,
            a.bootstrap.resamples
        ));
    }
    if let Some(c) = &a.calibration {
        let mut l = format!("{}-level ECE {}", c.level, c.ece.display(3));
        if let (Some(t), Some(after)) = (a.temperature, &c.after) {
            let _ = write!(
                l,
                " -> {:.3} after temperature T = {:.3}",
                after.ece.estimate, t.t
            );
        }
        lines.push(l);
    }
    if let Some(b) = &a.baseline {
        lines.push(format!(
            "vs baseline: {} difference {} (p = {:.4}{})",
            b.metric,
            b.paired.diff.display(3),
            b.paired.p_value,
            b.mcnemar
                .map_or(String::new(), |m| format!(", McNemar p = {:.4}", m.p_value))
        ));
    }
    lines.extend(finding_lines(findings));
    lines
}

/// The sentence above the risk–coverage table.
pub(super) fn rejection_intro(r: &Rejection) -> String {
    let mut t = format!(
        "Answers below a confidence threshold are rejected (handed over); the table follows the threshold up. Area under the risk–coverage curve (mean error over coverage, lower is better): {:.4}.",
        r.aurc
    );
    if let Some(rule) = &r.rule {
        t.push_str(&format!(
            " The evaluation's rule: reject `{}` and below {:.4}",
            rule.label, rule.threshold
        ));
        match &rule.chosen {
            Some(c) => t.push_str(&format!(
                ", chosen on {} for {} >= {} ({}, {:.4} there).",
                c.split,
                c.target,
                c.wanted,
                if c.reached { "reached" } else { "not reached" },
                c.achieved
            )),
            None => t.push('.'),
        }
    }
    t
}

/// The rows of the risk–coverage table: the evaluation's rule first, then fixed coverages.
pub(super) fn rejection_rows(r: &Rejection) -> Vec<(String, metrics::open_set::SweepPoint)> {
    r.at_rule
        .iter()
        .map(|pt| ("the evaluation's threshold".to_string(), *pt))
        .chain(r.table.iter().map(|pt| {
            (
                format!("coverage <= {:.0} %", 100.0 * pt.coverage.max(0.0)),
                *pt,
            )
        }))
        .collect()
}

/// A number for a table cell: empty when not finite.
pub(super) fn opt_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        String::new()
    }
}
