//! Dev evaluation and the records it keeps: when an evaluation is due, the dev metrics
//! through the `infer` crate (the same code as the evaluate stage; sharded over the ranks of
//! a data-parallel run), the selection metric, the best score, stale evaluations for early
//! stopping, and the evaluation's history line.

use bert::BertClassifier;
use flowcore::LabelMap;
use metrics::{SplitMetrics, SummaryOptions};
use serde_json::json;
use tch::Device;
use tokenize::Window;

use super::progress::round4;
use crate::checkpoint::{Best, TrainerState};
use crate::collective::{Dist, sharded_infer};
use crate::error::{Result, TrainError};
use crate::params::{EvalEvery, TrainParams};

/// Training examples scored at each evaluation (all of them when fewer): the fit to the
/// training data that tells underfitting (low) from overfitting (high, with dev falling).
pub(super) const TRAIN_SAMPLE: usize = 1000;

/// About `n` training examples spread evenly over the split, each with all its windows (so
/// they merge into whole examples as dev's do).
pub(super) fn train_sample(train: &[Window], n: usize) -> Vec<Window> {
    let mut starts = Vec::new();
    for (i, w) in train.iter().enumerate() {
        if i == 0 || train[i - 1].id != w.id {
            starts.push(i);
        }
    }
    let stride = starts.len().div_ceil(n.max(1)).max(1);
    let mut out = Vec::new();
    for k in (0..starts.len()).step_by(stride) {
        let end = starts.get(k + 1).copied().unwrap_or(train.len());
        out.extend_from_slice(&train[starts[k]..end]);
    }
    out
}

/// The last value of `key` in the history.
pub(super) fn last(history: &[serde_json::Value], key: &str) -> Option<f64> {
    history.iter().rev().find_map(|l| l.get(key)?.as_f64())
}

/// Whether the last two dev scores rose by more than 0.005 (`None` with fewer than two).
pub(super) fn rising_at_end(history: &[serde_json::Value]) -> Option<bool> {
    let dev: Vec<f64> = history
        .iter()
        .filter_map(|l| l.get("dev_score")?.as_f64())
        .collect();
    match dev[..] {
        [.., prev, last] => Some(last - prev > 0.005),
        _ => None,
    }
}

/// Whether the step that just ended is an evaluation point: every `eval_every` steps, at the
/// end of an epoch, and at the last step.
pub(super) fn due(eval_every: EvalEvery, step: u64, end_of_epoch: bool, total_steps: u64) -> bool {
    (match eval_every {
        EvalEvery::Steps(n) => step.is_multiple_of(n),
        EvalEvery::Epoch => end_of_epoch,
        EvalEvery::Never => false,
    }) || step == total_steps
}

/// The dev metrics of `model`. In a data-parallel run every rank scores its shard of dev and
/// rank 0 gets the metrics (`None` on the others).
pub(super) fn score(
    model: &BertClassifier,
    dev: &[Window],
    labels: &LabelMap,
    batch_size: usize,
    device: Device,
    dist: Option<&Dist>,
) -> Result<Option<SplitMetrics>> {
    let Some(d) = dist else {
        return dev_metrics(model, dev, labels, batch_size, device).map(Some);
    };
    let opts = infer::InferOptions {
        batch_size,
        device,
        progress: false,
    };
    match sharded_infer(d, model, dev, &opts)? {
        Some(outputs) => Ok(Some(metrics_of_outputs(dev, &outputs, labels)?)),
        None => Ok(None),
    }
}

/// What an evaluation found.
#[derive(Debug)]
pub(super) struct Scored {
    /// The selection metric's value.
    pub(super) value: f64,
    /// Above the best so far (or the first).
    pub(super) improved_best: bool,
    /// The dev metrics as JSON.
    pub(super) dev: serde_json::Value,
}

impl Scored {
    /// Whether this is the new best (a NaN score never is).
    pub(super) fn is_best(&self) -> bool {
        self.improved_best && self.value.is_finite()
    }
}

/// Records the dev metrics of the step in `state` (best score, stale evaluations, last
/// evaluation step) and as a history line.
pub(super) fn record(
    dev: &SplitMetrics,
    params: &TrainParams,
    state: &mut TrainerState,
    history: &mut Vec<serde_json::Value>,
    epoch: f64,
) -> Result<Scored> {
    let value = metric_value(dev, &params.metric)?;
    let dev_json = serde_json::to_value(dev).unwrap_or_default();
    state.last_eval_step = Some(state.global_step);
    let improved_best = state.best.as_ref().is_none_or(|b| value > b.value);
    let threshold = params.early_stopping.as_ref().map_or(0.0, |e| e.threshold);
    let improved = state
        .best
        .as_ref()
        .is_none_or(|b| value > b.value + threshold);
    if improved {
        state.stale_evals = 0;
    } else {
        state.stale_evals += 1;
    }
    if improved_best && value.is_finite() {
        state.best = Some(Best {
            step: state.global_step,
            metric: params.metric.clone(),
            value,
        });
    }
    history.push(json!({
        "step": state.global_step,
        "epoch": round4(epoch),
        "dev_metric": params.metric,
        "dev_score": value,
        "dev": dev_json,
    }));
    Ok(Scored {
        value,
        improved_best,
        dev: dev_json,
    })
}

/// A value inside the dev metrics: `primary`, or a dotted path into their JSON form.
pub fn metric_value(metrics: &SplitMetrics, name: &str) -> Result<f64> {
    if name == "primary" {
        return Ok(metrics.primary().1);
    }
    let json = serde_json::to_value(metrics).map_err(|e| TrainError::Param {
        key: "metric".into(),
        message: format!("cannot read the dev metrics: {e}"),
    })?;
    let mut at = &json;
    for part in name.split('.') {
        at = at.get(part).ok_or_else(|| TrainError::Param {
            key: "metric".into(),
            message: format!("`{name}` is not in the dev metrics (`{part}` not found); e.g. `primary`, `entity.micro.f1`, `token_accuracy`, `accuracy`, `macro_f1`"),
        })?;
    }
    // A NaN score (e.g. no entities) is serialised as null: it never counts as best.
    Ok(at.as_f64().unwrap_or(f64::NAN))
}

/// Dev metrics of the model on `dev` through evaluate's inference and merge, so the score is
/// exactly what the evaluate stage reports.
pub fn dev_metrics(
    model: &BertClassifier,
    dev: &[Window],
    labels: &LabelMap,
    batch_size: usize,
    device: Device,
) -> Result<SplitMetrics> {
    let opts = infer::InferOptions {
        batch_size,
        device,
        progress: false,
    };
    let preds = infer::predict_windows(model, dev, labels, &opts)?;
    Ok(metrics::summarize(&preds, &SummaryOptions::default())?.metrics)
}

/// Dev metrics of outputs already computed (gathered from the ranks of a data-parallel run),
/// through the same merge and summary as [`dev_metrics`].
fn metrics_of_outputs(
    dev: &[Window],
    outputs: &[infer::WindowOutput],
    labels: &LabelMap,
) -> Result<SplitMetrics> {
    let merged = infer::merge(labels.task, dev, outputs)?;
    let preds = infer::to_predictions(&merged, labels, None)?;
    Ok(metrics::summarize(&preds, &SummaryOptions::default())?.metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(id: &str, k: u32) -> Window {
        Window {
            id: id.into(),
            window: k,
            ..Window::default()
        }
    }

    #[test]
    fn the_training_sample_is_spread_and_keeps_every_window_of_an_example() {
        let mut train = Vec::new();
        for e in 0..10 {
            train.push(window(&format!("e{e}"), 0));
            if e % 3 == 0 {
                train.push(window(&format!("e{e}"), 1));
            }
        }
        let ids = |ws: &[Window]| {
            ws.iter()
                .map(|w| format!("{}/{}", w.id, w.window))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&train_sample(&train, 4)),
            [
                "e0/0", "e0/1", "e3/0", "e3/1", "e6/0", "e6/1", "e9/0", "e9/1"
            ]
        );
        assert_eq!(train_sample(&train, 100).len(), train.len());
        assert!(train_sample(&[], 5).is_empty());
    }
}
