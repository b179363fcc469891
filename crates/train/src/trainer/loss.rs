//! The loss: cross-entropy (token and sequence tasks) or BCE-with-logits (multi-label),
//! summed over a micro-batch and divided by the count of the whole global batch, so
//! accumulation and data parallelism compute what one big batch would; class weights.

use flowcore::TaskKind;
use tch::{Device, Kind, Reduction, Tensor};
use tokenize::Window;

use crate::data::Batch;
use crate::error::{Result, TrainError};
use crate::inputs::TrainData;
use crate::params::{ClassWeights, TrainParams};

/// The loss of a run.
#[derive(Debug)]
pub(super) struct Loss {
    /// The task, which decides the loss.
    pub(super) task: TaskKind,
    /// Number of labels.
    pub(super) labels: usize,
    /// Class weights (multi-label: `pos_weight`), in label order.
    weights: Option<Vec<f64>>,
    /// The same on the training device.
    weights_t: Option<Tensor>,
}

impl Loss {
    /// The loss of `data`'s task with the class weights of `params`.
    pub(super) fn new(params: &TrainParams, data: &TrainData, device: Device) -> Result<Self> {
        let weights = class_weights(params, data)?;
        let weights_t = weights.as_ref().map(|w| {
            Tensor::from_slice(&w.iter().map(|&x| x as f32).collect::<Vec<_>>()).to_device(device)
        });
        Ok(Self {
            task: data.labels.task,
            labels: data.labels.len(),
            weights,
            weights_t,
        })
    }

    /// The denominator of a global batch (`micro`: its micro-batches): labelled sub-words
    /// (token task), examples or their class weights (sequence task), example x label cells
    /// (multi-label task).
    pub(super) fn denominator(&self, micro: &[Vec<&Window>]) -> f64 {
        match (&self.weights, self.task) {
            (Some(w), TaskKind::Sequence) => micro
                .iter()
                .flatten()
                .filter_map(|win| win.label.and_then(|l| usize::try_from(l).ok()))
                .map(|l| w.get(l).copied().unwrap_or(0.0))
                .sum(),
            (_, TaskKind::Token) => micro
                .iter()
                .flatten()
                .map(|win| {
                    win.labels
                        .iter()
                        .filter(|&&l| l != tokenize::IGNORE)
                        .count()
                })
                .sum::<usize>() as f64,
            (None, TaskKind::Sequence) => micro.iter().map(Vec::len).sum::<usize>() as f64,
            // HF's BCEWithLogitsLoss: the mean over every (example, label) cell; a
            // `pos_weight` scales terms, not the count.
            (_, TaskKind::Multilabel) => {
                (micro.iter().map(Vec::len).sum::<usize>() * self.labels) as f64
            }
        }
    }

    /// The sum of the loss terms of one micro-batch (see [`loss_sum`]).
    pub(super) fn sum(&self, logits: &Tensor, batch: &Batch) -> Tensor {
        loss_sum(logits, batch, self.task, self.weights_t.as_ref())
    }
}

/// Class weights of the sequence loss, in label order; for the multi-label task, the
/// `pos_weight` of each label's BCE term (`balanced`: negatives / positives in train, as
/// PyTorch's documentation suggests).
fn class_weights(params: &TrainParams, data: &TrainData) -> Result<Option<Vec<f64>>> {
    let Some(spec) = &params.class_weights else {
        return Ok(None);
    };
    if data.labels.task == TaskKind::Token {
        return Err(TrainError::Param {
            key: "class_weights".into(),
            message: "class weights apply to sequence and multi-label tasks only".into(),
        });
    }
    if data.labels.task == TaskKind::Multilabel
        && let ClassWeights::Balanced = spec
    {
        let k = data.labels.len();
        let mut positives = vec![0usize; k];
        for w in &data.train {
            for &l in w.label_set.iter().flatten() {
                if let Some(c) = usize::try_from(l).ok().and_then(|l| positives.get_mut(l)) {
                    *c += 1;
                }
            }
        }
        let n = data.train.len();
        return Ok(Some(
            positives
                .iter()
                .map(|&p| (n - p) as f64 / p.max(1) as f64)
                .collect(),
        ));
    }
    let k = data.labels.len();
    match spec {
        ClassWeights::Explicit(w) if w.len() != k => Err(TrainError::Param {
            key: "class_weights".into(),
            message: format!(
                "{} weights for {k} labels {:?}",
                w.len(),
                data.labels.labels
            ),
        }),
        ClassWeights::Explicit(w) => Ok(Some(w.clone())),
        ClassWeights::Balanced => {
            let mut counts = vec![0usize; k];
            for w in &data.train {
                if let Some(l) = w
                    .label
                    .and_then(|l| usize::try_from(l).ok())
                    .filter(|&l| l < k)
                {
                    counts[l] += 1;
                }
            }
            let n = data.train.len() as f64;
            Ok(Some(
                counts
                    .iter()
                    .map(|&c| n / (k as f64 * c.max(1) as f64))
                    .collect(),
            ))
        }
    }
}

/// The sum of the loss terms of one micro-batch (to be divided by the accumulated batch's
/// denominator): token task, cross-entropy summed over labelled sub-words; sequence task,
/// (weighted) cross-entropy summed over examples; multi-label task, BCE-with-logits summed
/// over every (example, label) cell, class weights as `pos_weight`.
fn loss_sum(logits: &Tensor, batch: &Batch, task: TaskKind, weights: Option<&Tensor>) -> Tensor {
    let logits = logits.to_kind(Kind::Float);
    match task {
        TaskKind::Token => {
            let c = logits.size().last().copied().unwrap_or(1);
            logits.view([-1, c]).cross_entropy_loss::<Tensor>(
                &batch.labels.view(-1),
                None,
                Reduction::Sum,
                -100,
                0.0,
            )
        }
        TaskKind::Sequence => {
            logits.cross_entropy_loss(&batch.labels, weights, Reduction::Sum, -100, 0.0)
        }
        TaskKind::Multilabel => logits.binary_cross_entropy_with_logits::<&Tensor>(
            &batch.labels,
            None,
            weights,
            Reduction::Sum,
        ),
    }
}
