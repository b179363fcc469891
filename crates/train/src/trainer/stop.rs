//! Why a run stops before its planned steps: `abort_after` (tests of resume: stop as a killed
//! process would, saving nothing), SIGTERM or a caller's stop flag (checkpoint, then stop),
//! early stopping on the dev metric, and a monitor's verdict at an evaluation point
//! (`pipeline improve`'s halving). The planned end, `total_steps`, is the loop's own
//! condition.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::TrainError;
use crate::params::TrainParams;

/// The error of a run stopped abruptly before step `step + 1` (`abort_after`), if it is.
pub(super) fn aborted(abort_after: Option<u64>, step: u64) -> Option<TrainError> {
    abort_after
        .is_some_and(|k| step >= k)
        .then_some(TrainError::Aborted { step })
}

/// Whether this process was asked to stop (SIGTERM sets `flag`).
pub(super) fn asked(flag: Option<&AtomicBool>) -> bool {
    flag.is_some_and(|f| f.load(Ordering::SeqCst))
}

/// Whether a stop request ends the run at `step` (at the last step it just ends), which then
/// saves `last` first.
pub(super) fn terminates(asked: bool, step: u64, total_steps: u64) -> bool {
    asked && step < total_steps
}

/// Why the monitor stops the run at `point` (`None`: go on). A data-parallel run is never
/// stopped by a monitor: the ranks would have to agree on it, and improve runs one process.
pub(super) fn watched(
    watch: Option<&flowcore::Watch>,
    distributed: bool,
    point: &flowcore::EvalPoint,
) -> Option<String> {
    let w = watch?;
    if distributed {
        tracing::debug!("a data-parallel run ignores its monitor");
        return None;
    }
    match w.evaluated(point) {
        flowcore::Verdict::Continue => None,
        flowcore::Verdict::Stop(reason) => Some(reason),
    }
}

/// Rank 0's early-stopping decision at an evaluation point: `patience` evaluations in a row
/// did not beat the best by more than `threshold` (never without dev evaluation).
pub(super) fn early(params: &TrainParams, evaluate_dev: bool, writer: bool, stale: u32) -> bool {
    params
        .early_stopping
        .as_ref()
        .is_some_and(|es| evaluate_dev && writer && stale >= es.patience)
}

/// Why early stopping ended the run at `step` (the summary's `stopped_early`).
pub(super) fn early_reason(params: &TrainParams, step: u64) -> String {
    format!(
        "early stopping at step {step}: dev {} did not improve by more than {} in {} evaluations",
        params.metric,
        params.early_stopping.as_ref().map_or(0.0, |e| e.threshold),
        params.early_stopping.as_ref().map_or(0, |e| e.patience)
    )
}
