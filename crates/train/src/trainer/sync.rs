//! What the ranks of a data-parallel run exchange inside the loop: rank 0's starting point,
//! the gradients, loss and stop requests of every step, and the early-stopping decision and
//! weight checksums at evaluation points. (Dev outputs travel through
//! [`crate::collective::sharded_infer`].)

use std::time::Instant;

use tch::Tensor;

use crate::checkpoint::TrainerState;
use crate::collective::Dist;
use crate::error::{Result, TrainError};
use crate::optim::AdamW;

/// Everyone starts from rank 0's weights, moments and position (a resumed rank 0 brings its
/// checkpoint); the data order follows from the position.
pub(super) fn start_from_rank0(
    dist: &Dist,
    opt: &mut AdamW,
    state: &mut TrainerState,
) -> Result<()> {
    opt.broadcast_state(&dist.pg)?;
    let position = Tensor::from_slice(&[
        state.global_step as f64,
        state.epoch as f64,
        state.group as f64,
        state.tokens as f64,
    ]);
    dist.pg
        .broadcast(&[&position], 0)
        .map_err(|e| TrainError::Distributed(format!("broadcasting the position: {e}")))?;
    let p = Vec::<f64>::try_from(&position).map_err(TrainError::torch("reading the position"))?;
    (state.global_step, state.epoch, state.group, state.tokens) =
        (p[0] as u64, p[1] as u64, p[2] as usize, p[3] as u64);
    Ok(())
}

/// Seconds this rank spent in the per-step exchange.
#[derive(Debug, Default)]
pub(super) struct StepSync {
    /// In the gradient all-reduce.
    pub(super) allreduce_seconds: f64,
    /// Waiting for the other ranks before it (their micro-batches took longer).
    pub(super) rank_wait_seconds: f64,
}

impl StepSync {
    /// After this rank's backward passes: sums the gradients and the loss over the ranks and
    /// tells whether any rank was asked to stop. Returns `(stop, loss of the global batch)`.
    pub(super) fn gradients(
        &mut self,
        dist: &Dist,
        opt: &mut AdamW,
        stop: bool,
        loss: f64,
    ) -> Result<(bool, f64)> {
        // Waiting for the slowest rank is measured apart from the transfer: a one-element
        // all-reduce first.
        let wait = Instant::now();
        let one = Tensor::from_slice(&[1f32]);
        dist.pg
            .all_reduce(&[&one], bert::torch_ext::ReduceOp::Sum)
            .map_err(|e| TrainError::Distributed(format!("waiting for the ranks: {e}")))?;
        self.rank_wait_seconds += wait.elapsed().as_secs_f64();
        let comm = Instant::now();
        // The loss and the stop flag ride along with the gradients.
        let flags = opt.all_reduce_grads(&dist.pg, &[f64::from(u8::from(stop)), loss])?;
        self.allreduce_seconds += comm.elapsed().as_secs_f64();
        Ok((flags[0] > 0.0, flags[1]))
    }
}

/// After an evaluation point of a data-parallel run: shares rank 0's early-stopping decision
/// and compares the weight checksums of all ranks (they must be equal: every rank applies the
/// same update to the same weights). Returns whether to stop.
pub(super) fn after_evaluation(dist: &Dist, opt: &AdamW, stop: bool, step: u64) -> Result<bool> {
    let checksum = opt.weight_checksum();
    let v = Tensor::from_slice(&[f64::from(u8::from(stop)), checksum, -checksum]);
    dist.pg
        .all_reduce(&[&v], bert::torch_ext::ReduceOp::Max)
        .map_err(|e| TrainError::Distributed(format!("after step {step}: {e}")))?;
    let v = Vec::<f64>::try_from(&v).map_err(TrainError::torch("reading the checksums"))?;
    let (high, low) = (v[1], -v[2]);
    if high != low {
        return Err(TrainError::Distributed(format!(
            "the weights diverged across ranks at step {step}: checksums from {low} to {high} (rank {} has {checksum})",
            dist.rank()
        )));
    }
    Ok(v[0] > 0.0)
}
