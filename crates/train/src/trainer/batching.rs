//! How the training windows become optimizer steps: each epoch's micro-batches (the
//! sampler in [`crate::data`]), `grad_accum * world` of them per step, this rank's share
//! of a step, and the padding length.

use std::ops::Range;

use tokenize::Window;

use crate::data::epoch_batches;
use crate::inputs::TrainData;
use crate::params::TrainParams;

/// The batching of a run.
#[derive(Debug)]
pub(super) struct Batching {
    /// Window lengths in tokens, in `data.train` order.
    lengths: Vec<usize>,
    batch_size: usize,
    grad_accum: usize,
    /// Micro-batches per optimizer step, over all ranks.
    per_step: usize,
    rank: usize,
    seed: u64,
    /// Length-grouped batches (else a plain shuffle).
    pub(super) grouped: bool,
    /// The length every batch is padded to (`pad_to_max_length`), else the longest window.
    pub(super) pad_to: Option<usize>,
}

/// The micro-batches of one optimizer step.
#[derive(Debug)]
pub(super) struct StepBatch<'d> {
    /// Every micro-batch of the global batch, in order (all ranks).
    pub(super) micro: Vec<Vec<&'d Window>>,
    /// The indices into `micro` this rank computes: `rank * grad_accum ..`.
    pub(super) mine: Range<usize>,
    /// Tokens of the global batch, padding excluded.
    pub(super) tokens: usize,
}

impl Batching {
    /// The batching of `data` for this rank of `world`.
    pub(super) fn new(data: &TrainData, params: &TrainParams, rank: usize, world: usize) -> Self {
        let lengths: Vec<usize> = data.train.iter().map(|w| w.input_ids.len()).collect();
        let pad_to = if params.pad_to_max_length {
            Some(
                data.max_length
                    .unwrap_or_else(|| lengths.iter().copied().max().unwrap_or(0)),
            )
        } else {
            None
        };
        Self {
            lengths,
            batch_size: params.batch_size,
            grad_accum: params.grad_accum,
            per_step: params.grad_accum * world,
            rank,
            seed: params.seed,
            grouped: params.groups_by_length(data.labels.task),
            pad_to,
        }
    }

    /// Optimizer steps in one epoch.
    pub(super) fn steps_per_epoch(&self) -> u64 {
        let batches_per_epoch = self.lengths.len().div_ceil(self.batch_size);
        batches_per_epoch.div_ceil(self.per_step) as u64
    }

    /// `length-grouped` or `random`: how the batches of an epoch are formed.
    pub(super) fn order_name(&self) -> &'static str {
        if self.grouped {
            "length-grouped"
        } else {
            "random"
        }
    }

    /// The micro-batches of `epoch`, a function of `(seed, epoch)` only.
    pub(super) fn epoch(&self, epoch: u64) -> Vec<Vec<usize>> {
        epoch_batches(
            &self.lengths,
            self.batch_size,
            self.grouped,
            self.seed,
            epoch,
        )
    }

    /// An epoch's micro-batches cut into optimizer steps (the last may hold fewer).
    pub(super) fn steps<'o>(&self, epoch: &'o [Vec<usize>]) -> Vec<&'o [Vec<usize>]> {
        epoch.chunks(self.per_step).collect()
    }

    /// The windows of one step's micro-batches and this rank's share of them.
    pub(super) fn step_batch<'d>(&self, step: &[Vec<usize>], train: &'d [Window]) -> StepBatch<'d> {
        let micro: Vec<Vec<&Window>> = step
            .iter()
            .map(|b| b.iter().map(|&i| &train[i]).collect())
            .collect();
        let first = (self.rank * self.grad_accum).min(micro.len());
        let mine = first..(first + self.grad_accum).min(micro.len());
        let tokens = micro.iter().flatten().map(|win| win.input_ids.len()).sum();
        StepBatch {
            micro,
            mine,
            tokens,
        }
    }
}
