//! The optimisation step: dropout seeding, forward and backward passes of this rank's
//! micro-batches (accumulated gradients, bf16 autocast, out-of-memory as an error), then
//! clipping, AdamW and the learning rate of the schedule.

use bert::BertClassifier;
use tch::{Device, Kind};

use super::batching::StepBatch;
use super::loss::Loss;
use crate::data::collate;
use crate::error::{Result, TrainError};
use crate::optim::AdamW;
use crate::params::{Precision, TrainParams};

/// A finite value of a step, or the non-finite one that ends the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Checked {
    /// The value (loss or gradient norm).
    Finite(f64),
    /// `what` (`loss` or `gradient norm`) was `value`: nothing was applied.
    NonFinite { what: &'static str, value: f64 },
}

/// The seed of the dropout masks of micro-batch `index` of the global batch of optimizer
/// step `step`: a function of `(seed, step, index)` only, whichever rank computes it, which
/// is what makes resume and N processes exact.
fn dropout_seed(seed: u64, step: u64, index: usize) -> i64 {
    (seed as i64)
        .wrapping_add(1_000_003i64.wrapping_mul(step as i64 + 1))
        .wrapping_add(7_919i64.wrapping_mul(index as i64))
}

/// Forward and backward passes of this rank's micro-batches of optimizer step `step`,
/// gradients accumulating in the model; returns the sum of their losses, each divided by the
/// global batch's denominator, or stops at the first non-finite loss (before its backward).
pub(super) fn accumulate(
    model: &BertClassifier,
    batch: &StepBatch<'_>,
    loss: &Loss,
    params: &TrainParams,
    device: Device,
    pad_to: Option<usize>,
    step: u64,
) -> Result<Checked> {
    // The dropout draws come from libtorch's process-global generator, so the step holds it
    // from the seeding to the end of its backward passes: another run or model
    // initialisation in a parallel thread would otherwise reseed it or take draws in
    // between, and the step's masks would depend on thread timing.
    let _rng = bert::torch_rng_lock();
    tch::manual_seed(dropout_seed(params.seed, step, 0));
    let denom = loss.denominator(&batch.micro);
    let mut sum = 0.0;
    let micro = batch.micro.iter().enumerate();
    for (index, windows) in micro.take(batch.mine.end).skip(batch.mine.start) {
        if denom <= 0.0 {
            continue;
        }
        if index > 0 {
            tch::manual_seed(dropout_seed(params.seed, step, index));
        }
        let batch = collate(windows, loss.task, loss.labels, pad_to, device)?;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<f64> {
            // bf16: the forward pass under autocast (weights, gradients and optimizer state
            // stay fp32); the loss is taken in fp32.
            let term = {
                let _autocast = (params.precision == Precision::Bf16)
                    .then(|| bert::Autocast::enter(device, Kind::BFloat16));
                let out = model.forward_t(&batch.inputs, true)?;
                loss.sum(&out.logits, &batch) / denom
            };
            let value = term
                .f_double_value(&[])
                .map_err(TrainError::torch("reading the loss"))?;
            if value.is_finite() {
                term.f_backward()
                    .map_err(TrainError::torch("backward pass"))?;
            }
            Ok(value)
        }));
        let value = match outcome {
            Ok(v) => v?,
            Err(payload) => match oom_error(&*payload, params.batch_size, params.grad_accum) {
                Some(err) => return Err(err),
                None => std::panic::resume_unwind(payload),
            },
        };
        if !value.is_finite() {
            return Ok(Checked::NonFinite {
                what: "loss",
                value,
            });
        }
        sum += value;
    }
    Ok(Checked::Finite(sum))
}

/// Clips the accumulated gradients to `max_grad_norm` and takes the AdamW step at `lr`;
/// returns the gradient norm before clipping. A non-finite norm applies nothing (the
/// gradients are dropped).
pub(super) fn apply(opt: &mut AdamW, max_grad_norm: f64, lr: f64) -> Result<Checked> {
    let grad_norm = opt.clip_grad_norm(max_grad_norm)?;
    if !grad_norm.is_finite() {
        opt.zero_grad()?;
        return Ok(Checked::NonFinite {
            what: "gradient norm",
            value: grad_norm,
        });
    }
    opt.step(lr)?;
    opt.zero_grad()?;
    Ok(Checked::Finite(grad_norm))
}

/// Reads an OOM out of a libtorch panic message.
fn oom_error(
    payload: &(dyn std::any::Any + Send),
    batch_size: usize,
    accum: usize,
) -> Option<TrainError> {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))?;
    let lower = message.to_lowercase();
    if !(lower.contains("out of memory") || lower.contains("can't allocate memory")) {
        return None;
    }
    let suggestion = (batch_size / 2).max(1);
    Some(TrainError::OutOfMemory {
        batch_size,
        suggestion,
        accum: accum * batch_size.div_ceil(suggestion),
        message: message.lines().next().unwrap_or_default().to_string(),
    })
}
