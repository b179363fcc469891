//! Findings: what the analyses mean, ranked, each with its number, interval, evidence rows and
//! a suggested action.
//!
//! Ranking is deterministic: severity first, then how far the number is from acceptable
//! (`score`), then the finding's stable id.
//!
//! What every finding shares ([`Finding`], [`Severity`], [`Evidence`], [`Remedy`]) is in
//! `types`; the generic rules push into a `Builder` and live by area (`headline`,
//! `calibration`, `decisions`, `data`, `model_fit`, `errors`, `training`). This module runs
//! them in a fixed order ([`findings`]) and ranks the result; [`multilabel`] derives the
//! findings of a multi-label analysis, its training-fit findings from the same `training`
//! rules.

mod builder;
mod calibration;
mod data;
mod decisions;
mod errors;
mod headline;
mod model_fit;
pub mod multilabel;
mod training;
mod types;

use crate::analysis::Analysis;
use crate::stats::bootstrap::Bootstrap;
use builder::Builder;
pub(crate) use types::pct;
pub use types::{Evidence, Finding, Remedy, Severity, wilson};
// Other modules' tests build findings by hand.
#[cfg(test)]
pub(crate) use types::finding;

/// Derive the ranked findings of an analysis. `predictions_file` names the evaluated split's
/// file in evidence rows; `boot` is used for interval of shares.
pub fn findings(a: &Analysis, predictions_file: &str, boot: Bootstrap) -> Vec<Finding> {
    let mut b = Builder {
        a,
        file: predictions_file.to_string(),
        out: Vec::new(),
    };
    headline::headline(&mut b);
    headline::dev_gap(&mut b);
    if let Some(c) = &a.calibration {
        calibration::calibration(&mut b, c, "calibration.word");
    }
    if let Some(c) = &a.entity_calibration {
        calibration::calibration(&mut b, c, "calibration.entity");
    }
    headline::baseline(&mut b);
    decisions::cost_decisions(&mut b);
    decisions::rejection(&mut b);
    data::split_quality(&mut b);
    data::unseen_entities(&mut b);
    model_fit::model_fit(&mut b);
    errors::slices(&mut b);
    errors::taxonomy(&mut b, boot);
    data::suspects(&mut b);
    errors::probes(&mut b);
    training::training(&mut b);
    let mut out = b.out;
    rank(&mut out);
    out
}

/// Sorts findings severity first, then by score (larger first), then by id, and numbers them
/// from 1.
pub(crate) fn rank(found: &mut [Finding]) {
    found.sort_by(|x, y| {
        x.severity
            .cmp(&y.severity)
            .then(y.score.total_cmp(&x.score))
            .then_with(|| x.id.cmp(&y.id))
    });
    for (i, f) in found.iter_mut().enumerate() {
        f.rank = i + 1;
    }
}
