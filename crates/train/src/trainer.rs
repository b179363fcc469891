//! The training loop: batches, loss, AdamW, schedule, clipping, accumulation, dev
//! evaluation, checkpoints, history and resume.
//!
//! Independent of the artifact store: [`train`] takes windows, labels and directories, so
//! tests run it on tiny in-memory data and the stage wraps it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bert::{BertClassifier, ConfigOverrides};
use flowcore::progress::Progress;
use flowcore::{LabelMap, TaskKind};
use metrics::{SplitMetrics, SummaryOptions};
use serde_json::json;
use tch::{Device, Kind, Reduction, Tensor, nn};
use tokenize::Window;

pub use crate::checkpoint::{BEST, LAST};
use crate::checkpoint::{
    Best, CheckpointDir, OPTIMIZER_FILE, STATE_VERSION, TrainerState, history_text, replace_dir,
    write_state,
};
use crate::collective::{Dist, sharded_infer};
use crate::data::{Batch, collate, epoch_batches};
use crate::error::{Result, TrainError};
pub use crate::inputs::TrainData;
use crate::optim::{AdamW, AdamWConfig, LrSchedule};
use crate::params::{ClassWeights, DeviceChoice, EvalEvery, Precision, TrainParams};
use crate::signal::Training;

/// Where a run reads and writes, besides its params.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// Pretrained model directory (ignored when resuming: the checkpoint has the weights).
    pub model_dir: PathBuf,
    /// Directory whose tokenizer files are copied into every checkpoint.
    pub tokenizer_from: Option<PathBuf>,
    /// Output directory: `checkpoints/{best,last}` and `history.jsonl` go here.
    pub out_dir: PathBuf,
    /// A directory that outlives a failed run (the stage's per-fingerprint work directory):
    /// when set, checkpoints are written to `work_dir/checkpoints` while training and moved
    /// into `out_dir` at the end, and a run finding a `last` checkpoint of the same recipe
    /// there resumes from it by itself.
    pub work_dir: Option<PathBuf>,
}

/// Switches for callers other than the stage.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The process group of a data-parallel run (this process's rank in it).
    pub dist: Option<Arc<Dist>>,
    /// Set (by SIGTERM, see [`crate::signal::termination_flag`]) to stop after the current step with a
    /// checkpoint to resume from.
    pub stop: Option<Arc<AtomicBool>>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Stop abruptly after this many optimizer steps, saving nothing, the way a killed
    /// process stops (to test resume).
    pub abort_after: Option<u64>,
}

/// What a finished run reports (recorded as manifest metrics).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainSummary {
    /// Optimizer steps done.
    pub steps: u64,
    /// Planned optimizer steps.
    pub total_steps: u64,
    /// Epochs (fractional) done.
    pub epochs: f64,
    /// Best dev score, when there was an evaluation.
    pub best: Option<Best>,
    /// Dev metrics of the last evaluation.
    pub last_dev: Option<serde_json::Value>,
    /// Non-padding training tokens processed.
    pub train_tokens: u64,
    /// Seconds in training steps (evaluation and checkpointing excluded).
    pub train_seconds: f64,
    /// `train_tokens / train_seconds`.
    pub tokens_per_second: f64,
    /// Wall-clock seconds of this process's run (resumed runs: this part only).
    pub wall_seconds: f64,
    /// Peak resident memory of the process in MiB (`VmHWM`), when known.
    pub peak_rss_mib: Option<f64>,
    /// Why training ended before `total_steps` (early stopping), if it did.
    pub stopped_early: Option<String>,
    /// The step the run resumed from, if it did.
    pub resumed_from_step: Option<u64>,
    /// The device trained on.
    pub device: String,
    /// Mean training loss over the last logging interval.
    pub final_loss: Option<f64>,
    /// How the batches of an epoch were formed: `length-grouped` or `random`.
    pub batch_order: &'static str,
    /// Processes of a data-parallel run (1: none).
    pub world_size: usize,
    /// Its collective backend, when there was one.
    pub backend: Option<&'static str>,
    /// Whether the run resumed by itself from its work directory's checkpoint.
    pub resumed_automatically: bool,
    /// Seconds this rank spent in the gradient all-reduce (data-parallel runs; this
    /// process's part of a resumed run): its share of `train_seconds` is the communication
    /// cost of a step.
    pub allreduce_seconds: Option<f64>,
    /// Seconds this rank waited for the others before the all-reduce (their micro-batches
    /// took longer): the load imbalance of data parallelism, apart from the transfer.
    pub rank_wait_seconds: Option<f64>,
}

/// The `last` checkpoint a run left in its work directory, when its recipe is this one's.
fn automatic_resume(work_dir: &Path, recipe: &str) -> Option<PathBuf> {
    let checkpoints = work_dir.join(flowcore::schema::train::CHECKPOINTS_DIR);
    // A kill between the two renames of a checkpoint replacement leaves only `last.old`.
    let last = [
        checkpoints.join(LAST),
        checkpoints.join(LAST).with_extension("old"),
    ]
    .into_iter()
    .find(|d| d.join(crate::checkpoint::STATE_DIR).is_dir())?;
    let state = CheckpointDir::new(&last).read_state().ok()?;
    if state.recipe != recipe {
        tracing::warn!(
            "ignoring {}: it was trained with another recipe",
            last.display()
        );
        return None;
    }
    tracing::info!(
        step = state.global_step,
        "resuming automatically from {} (an interrupted run of this stage)",
        last.display()
    );
    Some(last)
}

fn batch_order(grouped: bool) -> &'static str {
    if grouped { "length-grouped" } else { "random" }
}

/// The process-wide lock on libtorch's generator (see [`bert::torch_rng_lock`]).
pub use bert::torch_rng_lock;

/// The libtorch device the params ask for.
pub fn select_device(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(TrainError::Param {
            key: "device".into(),
            message: "cuda requested but libtorch sees no CUDA device (use `auto` or `cpu`)".into(),
        }),
    }
}

/// Fingerprint of the params that change the trained weights; a resume must match it.
pub fn recipe_fingerprint(params: &TrainParams) -> String {
    let mut value = serde_json::to_value(params).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        // Where and how fast the run goes, not what it computes (up to float reordering).
        for key in [
            "resume_from",
            "threads",
            "device",
            "log_every",
            "save_last",
            "save_best",
            "model",
            "save_every",
            "backend",
            "dist_timeout_s",
        ] {
            map.remove(key);
        }
    }
    flowcore::hash::fingerprint(&value)
}

/// Peak resident set size of this process in MiB, from `/proc/self/status` (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Checks that the model's head labels are the data's; generic `LABEL_i` names (no head
/// trained yet) pass.
fn check_labels(
    data: &LabelMap,
    data_source: &str,
    model: Option<Vec<String>>,
    model_source: &Path,
) -> Result<()> {
    let Some(model) = model else { return Ok(()) };
    let generic = model
        .iter()
        .enumerate()
        .all(|(i, l)| *l == format!("LABEL_{i}"));
    if generic || model == data.labels {
        return Ok(());
    }
    Err(TrainError::LabelMismatch {
        data_source: data_source.to_string(),
        data: data.labels.clone(),
        model_source: model_source.display().to_string(),
        model,
    })
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

/// Fine-tunes a model on `data` with the recipe in `params`, writing checkpoints and history
/// under `paths.out_dir`. Resumes from `params.resume_from` when set.
pub fn train(
    data: &TrainData,
    params: &TrainParams,
    paths: &RunPaths,
    opts: &RunOptions,
) -> Result<TrainSummary> {
    params.validate()?;
    let wall = Instant::now();
    let task = data.labels.task;
    if data.train.is_empty() {
        return Err(TrainError::Data {
            place: "train split".into(),
            message: "no windows to train on".into(),
        });
    }
    if let Some(n) = params.threads {
        tch::set_num_threads(n as i32);
    }
    let _training = opts.stop.is_some().then(Training::start);
    let dist = opts.dist.as_deref();
    let (rank, world) = dist.map_or((0, 1), |d| (d.rank(), d.world_size()));
    let writer = rank == 0;
    let device = match (select_device(params.device)?, dist) {
        // One GPU per local rank.
        (Device::Cuda(_), Some(d)) => Device::Cuda(d.launch.local_rank),
        (device, _) => device,
    };
    let weights = class_weights(params, data)?;
    let weights_t = weights.as_ref().map(|w| {
        Tensor::from_slice(&w.iter().map(|&x| x as f32).collect::<Vec<_>>()).to_device(device)
    });
    let data_source = "tokenize artifact labels.json";
    let checkpoints = paths
        .work_dir
        .as_deref()
        .unwrap_or(&paths.out_dir)
        .join(flowcore::schema::train::CHECKPOINTS_DIR);
    if writer {
        fs_err::create_dir_all(&checkpoints)?;
    }
    let recipe = recipe_fingerprint(params);
    // Only rank 0 reads a checkpoint; it hands its state to the others below.
    let automatic = match (&params.resume_from, &paths.work_dir) {
        (None, Some(work)) if writer => automatic_resume(work, &recipe),
        _ => None,
    };
    let resume_from = if writer {
        params.resume_from.clone().or_else(|| automatic.clone())
    } else {
        None
    };

    // Model, optimizer and state: fresh, or restored from a checkpoint. A fresh head is drawn
    // from the seeded generator, so no other thread may seed or draw meanwhile.
    let rng = torch_rng_lock();
    tch::manual_seed(params.seed as i64);
    let (model, vs, mut state, mut history, mut resumed_from_step) = match &resume_from {
        None => {
            let config = bert::BertConfig::from_file(&paths.model_dir.join("config.json"))?;
            if bert::task_from_config(&config) == Some(task) {
                check_labels(&data.labels, data_source, config.labels(), &paths.model_dir)?;
            }
            let overrides = ConfigOverrides {
                hidden_dropout_prob: params.dropout,
                attention_probs_dropout_prob: params.dropout,
                classifier_dropout: params.dropout,
            };
            let (model, vs, report) = bert::load_with(
                &paths.model_dir,
                task,
                &data.labels.labels,
                device,
                &overrides,
            )?;
            tracing::info!(new_head = ?report.new_head, "model loaded from {}", paths.model_dir.display());
            let state = TrainerState {
                version: STATE_VERSION,
                global_step: 0,
                epoch: 0,
                group: 0,
                total_steps: 0,
                seed: params.seed,
                recipe: recipe.clone(),
                labels: data.labels.labels.clone(),
                best: None,
                stale_evals: 0,
                tokens: 0,
                train_seconds: 0.0,
                last_eval_step: None,
            };
            (model, vs, state, Vec::new(), None)
        }
        Some(dir) => {
            let ckpt = CheckpointDir::new(dir);
            let state = ckpt.read_state()?;
            if state.recipe != recipe {
                return Err(TrainError::Resume {
                    path: dir.clone(),
                    message: format!(
                        "the checkpoint was trained with another recipe (fingerprint {}, these params {recipe}); resume with the params it was started with",
                        state.recipe
                    ),
                });
            }
            let (model, vs, _) = bert::load(dir, task, &[], device)?;
            check_labels(&data.labels, data_source, model.config().labels(), dir)?;
            let history = ckpt.read_history()?;
            tracing::info!(
                step = state.global_step,
                epoch = state.epoch,
                "resuming from {}",
                dir.display()
            );
            let step = state.global_step;
            (model, vs, state, history, Some(step))
        }
    };
    drop(rng);
    if let Some(dir) = &resume_from {
        // The best checkpoint of the interrupted run, when it sits next to `last`.
        let best_src = dir.parent().map(|p| p.join(BEST));
        if let Some(src) = best_src.filter(|p| p.is_dir() && state.best.is_some())
            && src != checkpoints.join(BEST)
        {
            crate::checkpoint::copy_dir(&src, &checkpoints.join(BEST))?;
        }
    }

    let mut opt = AdamW::new(
        vs.variables(),
        AdamWConfig {
            beta1: params.adam_beta1,
            beta2: params.adam_beta2,
            eps: params.adam_epsilon,
            weight_decay: params.weight_decay,
        },
    );
    if let Some(dir) = &resume_from {
        opt.load(
            &CheckpointDir::new(dir).state_dir().join(OPTIMIZER_FILE),
            state.global_step,
        )?;
    }

    let lengths: Vec<usize> = data.train.iter().map(|w| w.input_ids.len()).collect();
    if let Some(d) = dist {
        // Everyone starts from rank 0's weights, moments and position (a resumed rank 0
        // brings its checkpoint); the data order follows from the position.
        opt.broadcast_state(&d.pg)?;
        let position = Tensor::from_slice(&[
            state.global_step as f64,
            state.epoch as f64,
            state.group as f64,
            state.tokens as f64,
        ]);
        d.pg.broadcast(&[&position], 0)
            .map_err(|e| TrainError::Distributed(format!("broadcasting the position: {e}")))?;
        let p =
            Vec::<f64>::try_from(&position).map_err(TrainError::torch("reading the position"))?;
        (state.global_step, state.epoch, state.group, state.tokens) =
            (p[0] as u64, p[1] as u64, p[2] as usize, p[3] as u64);
        if !writer && state.global_step > 0 {
            resumed_from_step = Some(state.global_step);
        }
    }
    // Micro-batches per optimizer step, over all ranks.
    let per_step = params.grad_accum * world;
    let batches_per_epoch = data.train.len().div_ceil(params.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(per_step) as u64;
    let total_steps = params
        .max_steps
        .unwrap_or(u64::from(params.epochs) * steps_per_epoch);
    state.total_steps = total_steps;
    let schedule = LrSchedule {
        base: params.learning_rate,
        warmup: LrSchedule::warmup_steps(total_steps, params.warmup_steps, params.warmup_ratio),
        total: total_steps,
        kind: params.scheduler,
    };
    let pad_to = if params.pad_to_max_length {
        Some(
            data.max_length
                .unwrap_or_else(|| lengths.iter().copied().max().unwrap_or(0)),
        )
    } else {
        None
    };
    let evaluate_dev = params.eval_every != EvalEvery::Never && !data.dev.is_empty();
    if params.eval_every != EvalEvery::Never && data.dev.is_empty() {
        tracing::warn!("no dev windows: training without evaluation, `best` is not written");
    }
    let grouped = params.groups_by_length(task);
    tracing::info!(
        train_windows = data.train.len(),
        dev_windows = data.dev.len(),
        steps_per_epoch,
        total_steps,
        warmup = schedule.warmup,
        device = ?device,
        batch_order = batch_order(grouped),
        world_size = world,
        "training"
    );

    let bar = progress_bar(total_steps, state.global_step, opts.progress && writer);
    let mut last_dev: Option<serde_json::Value> = None;
    let mut window_loss = 0.0;
    let mut window_steps = 0u64;
    let mut window_tokens = 0u64;
    let mut window_seconds = 0.0;
    let mut final_loss = None;
    let mut stopped_early = None;
    let mut allreduce_seconds = 0.0;
    let mut rank_wait_seconds = 0.0;

    'epochs: while state.global_step < total_steps {
        let order = epoch_batches(
            &lengths,
            params.batch_size,
            grouped,
            params.seed,
            state.epoch,
        );
        let groups: Vec<&[Vec<usize>]> = order.chunks(per_step).collect();
        while state.group < groups.len() {
            if opts.abort_after.is_some_and(|k| state.global_step >= k) {
                bar.abandon();
                return Err(TrainError::Aborted {
                    step: state.global_step,
                });
            }
            let group = groups[state.group];
            let clock = Instant::now();
            let lr = schedule.lr(state.global_step);
            // Dropout draws of this step depend on (seed, step) only: what makes resume exact.
            // They come from libtorch's process-global generator, so the step holds it from
            // the seeding to the end of its backward passes: another run or model
            // initialisation in a parallel thread would otherwise reseed it or take draws in
            // between, and the step's masks would depend on thread timing.
            let rng = torch_rng_lock();
            tch::manual_seed(
                (params.seed as i64)
                    .wrapping_add(1_000_003i64.wrapping_mul(state.global_step as i64 + 1)),
            );
            let micro: Vec<Vec<&Window>> = group
                .iter()
                .map(|b| b.iter().map(|&i| &data.train[i]).collect())
                .collect();
            // This rank's share of the global batch: micro-batches r * grad_accum ...
            let first = (rank * params.grad_accum).min(micro.len());
            let mine = first..(first + params.grad_accum).min(micro.len());
            let step_tokens: usize = micro.iter().flatten().map(|win| win.input_ids.len()).sum();
            let denom: f64 = match (&weights, task) {
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
                    (micro.iter().map(Vec::len).sum::<usize>() * data.labels.len()) as f64
                }
            };
            let mut step_loss = 0.0;
            for (index, windows) in micro.iter().enumerate().take(mine.end).skip(mine.start) {
                if denom <= 0.0 {
                    continue;
                }
                // Each micro-batch's dropout masks depend on (seed, step, its place in the
                // global batch) only, whichever rank computes it.
                if index > 0 {
                    tch::manual_seed(
                        (params.seed as i64)
                            .wrapping_add(1_000_003i64.wrapping_mul(state.global_step as i64 + 1))
                            .wrapping_add(7_919i64.wrapping_mul(index as i64)),
                    );
                }
                let batch = collate(windows, task, data.labels.len(), pad_to, device)?;
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<f64> {
                        // bf16: the forward pass under autocast (weights, gradients and
                        // optimizer state stay fp32); the loss is taken in fp32.
                        let loss = {
                            let _autocast = (params.precision == Precision::Bf16)
                                .then(|| bert::Autocast::enter(device, Kind::BFloat16));
                            let out = model.forward_t(&batch.inputs, true)?;
                            loss_sum(&out.logits, &batch, task, weights_t.as_ref()) / denom
                        };
                        let value = loss
                            .f_double_value(&[])
                            .map_err(TrainError::torch("reading the loss"))?;
                        if value.is_finite() {
                            loss.f_backward()
                                .map_err(TrainError::torch("backward pass"))?;
                        }
                        Ok(value)
                    }));
                let value = match outcome {
                    Ok(v) => v?,
                    Err(payload) => {
                        match oom_error(&*payload, params.batch_size, params.grad_accum) {
                            Some(err) => return Err(err),
                            None => std::panic::resume_unwind(payload),
                        }
                    }
                };
                if !value.is_finite() {
                    bar.abandon();
                    let kept = keep_good_checkpoint(
                        writer,
                        &model,
                        &vs,
                        &opt,
                        &state,
                        &history,
                        paths,
                        &checkpoints,
                    )?;
                    return Err(TrainError::NonFinite {
                        what: "loss",
                        value,
                        step: state.global_step + 1,
                        kept,
                    });
                }
                step_loss += value;
            }
            drop(rng);
            let stop_here = opts.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst));
            let stop_here = match dist {
                Some(d) => {
                    // Waiting for the slowest rank (its micro-batch was longer) is measured
                    // apart from the transfer: a one-element all-reduce first.
                    let wait = Instant::now();
                    let one = Tensor::from_slice(&[1f32]);
                    d.pg.all_reduce(&[&one], bert::torch_ext::ReduceOp::Sum)
                        .map_err(|e| {
                            TrainError::Distributed(format!("waiting for the ranks: {e}"))
                        })?;
                    rank_wait_seconds += wait.elapsed().as_secs_f64();
                    let comm = Instant::now();
                    // The loss of the global batch and "a rank was asked to stop" ride along.
                    let flags =
                        opt.all_reduce_grads(&d.pg, &[f64::from(u8::from(stop_here)), step_loss])?;
                    step_loss = flags[1];
                    allreduce_seconds += comm.elapsed().as_secs_f64();
                    flags[0] > 0.0
                }
                None => stop_here,
            };
            let grad_norm = opt.clip_grad_norm(params.max_grad_norm)?;
            if !grad_norm.is_finite() {
                bar.abandon();
                opt.zero_grad()?;
                let kept = keep_good_checkpoint(
                    writer,
                    &model,
                    &vs,
                    &opt,
                    &state,
                    &history,
                    paths,
                    &checkpoints,
                )?;
                return Err(TrainError::NonFinite {
                    what: "gradient norm",
                    value: grad_norm,
                    step: state.global_step + 1,
                    kept,
                });
            }
            opt.step(lr)?;
            opt.zero_grad()?;
            state.global_step += 1;
            state.group += 1;
            state.tokens += step_tokens as u64;
            let seconds = clock.elapsed().as_secs_f64();
            state.train_seconds += seconds;
            window_loss += step_loss;
            window_steps += 1;
            window_tokens += step_tokens as u64;
            window_seconds += seconds;
            bar.set_position(state.global_step);

            let epoch_f = state.epoch as f64 + state.group as f64 / groups.len() as f64;
            if state.global_step % params.log_every == 0 || state.global_step == total_steps {
                let mean = window_loss / window_steps.max(1) as f64;
                let tps = window_tokens as f64 / window_seconds.max(1e-9);
                final_loss = Some(mean);
                history.push(json!({
                    "step": state.global_step,
                    "epoch": round4(epoch_f),
                    "loss": mean,
                    "lr": lr,
                    "grad_norm": grad_norm,
                    "tokens_per_s": tps.round(),
                }));
                bar.set_message(format!("loss {mean:.4} lr {lr:.2e} {tps:.0} tok/s"));
                tracing::debug!(
                    step = state.global_step,
                    loss = mean,
                    lr,
                    grad_norm,
                    tps,
                    "train"
                );
                (window_loss, window_steps, window_tokens, window_seconds) = (0.0, 0, 0, 0.0);
            }

            let end_of_epoch = state.group == groups.len();
            let due = match params.eval_every {
                EvalEvery::Steps(n) => state.global_step % n == 0,
                EvalEvery::Epoch => end_of_epoch,
                EvalEvery::Never => false,
            } || state.global_step == total_steps;
            if end_of_epoch {
                state.epoch += 1;
                state.group = 0;
            }
            if due {
                // Every rank scores its shard of dev; rank 0 gathers and keeps the score.
                let dev = match (evaluate_dev, dist) {
                    (false, _) => None,
                    (true, None) => Some(dev_metrics(
                        &model,
                        &data.dev,
                        &data.labels,
                        params.eval_batch_size,
                        device,
                    )?),
                    (true, Some(d)) => {
                        let opts = infer::InferOptions {
                            batch_size: params.eval_batch_size,
                            device,
                            progress: false,
                        };
                        match sharded_infer(d, &model, &data.dev, &opts)? {
                            Some(outputs) => {
                                Some(metrics_of_outputs(&data.dev, &outputs, &data.labels)?)
                            }
                            None => None,
                        }
                    }
                };
                if let Some(dev) = dev {
                    let value = metric_value(&dev, &params.metric)?;
                    let dev_json = serde_json::to_value(&dev).unwrap_or_default();
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
                        "epoch": round4(epoch_f),
                        "dev_metric": params.metric,
                        "dev_score": value,
                        "dev": dev_json,
                    }));
                    bar.println(format!(
                        "step {}: dev {} = {value:.4}{}",
                        state.global_step,
                        params.metric,
                        if improved_best { " (best)" } else { "" }
                    ));
                    last_dev = Some(dev_json);
                    if improved_best && value.is_finite() && params.save_best {
                        save_checkpoint(
                            &model,
                            &vs,
                            &opt,
                            &state,
                            &history,
                            paths,
                            &checkpoints.join(BEST),
                        )?;
                    }
                }
            }
            // `last` at every evaluation point, every `save_every` steps, and before stopping
            // on SIGTERM: what a re-run resumes from.
            let terminated = stop_here && state.global_step < total_steps;
            if writer
                && (due
                    || terminated
                    || params
                        .save_every
                        .is_some_and(|n| state.global_step % n == 0))
            {
                save_checkpoint(
                    &model,
                    &vs,
                    &opt,
                    &state,
                    &history,
                    paths,
                    &checkpoints.join(LAST),
                )?;
            }
            if due {
                let mut stop_early = params
                    .early_stopping
                    .as_ref()
                    .is_some_and(|es| evaluate_dev && writer && state.stale_evals >= es.patience);
                if let Some(d) = dist {
                    // Rank 0's early-stopping decision reaches everyone, and the weights
                    // are checked to be the same on every rank.
                    stop_early = sync_after_evaluation(d, &opt, stop_early, state.global_step)?;
                }
                if stop_early {
                    stopped_early = Some(format!(
                        "early stopping at step {}: dev {} did not improve by more than {} in {} evaluations",
                        state.global_step,
                        params.metric,
                        params.early_stopping.as_ref().map_or(0.0, |e| e.threshold),
                        params.early_stopping.as_ref().map_or(0, |e| e.patience)
                    ));
                    break 'epochs;
                }
            }
            if terminated {
                bar.abandon();
                return Err(TrainError::Terminated {
                    step: state.global_step,
                    kept: writer.then(|| checkpoints.join(LAST)),
                });
            }
            if state.global_step >= total_steps {
                break 'epochs;
            }
            if end_of_epoch {
                // The next epoch has its own order.
                continue 'epochs;
            }
        }
    }
    bar.finish_and_clear();
    if let Some(reason) = &stopped_early {
        tracing::info!("{reason}");
    }
    if writer {
        // The final weights are `last` (saved at the last evaluation point, which includes
        // the final step); without `save_last` only `best` is kept.
        if !params.save_last {
            let last = checkpoints.join(LAST);
            if last.exists() {
                fs_err::remove_dir_all(&last)?;
            }
        }
        let final_dir = paths.out_dir.join(flowcore::schema::train::CHECKPOINTS_DIR);
        if checkpoints != final_dir {
            fs_err::create_dir_all(&paths.out_dir)?;
            if final_dir.exists() {
                fs_err::remove_dir_all(&final_dir)?;
            }
            fs_err::rename(&checkpoints, &final_dir)?;
        }
        fs_err::write(
            paths.out_dir.join(flowcore::schema::train::HISTORY_FILE),
            history_text(&history),
        )?;
    }
    Ok(TrainSummary {
        steps: state.global_step,
        total_steps,
        epochs: round4(state.global_step as f64 / steps_per_epoch.max(1) as f64),
        best: state.best.clone(),
        last_dev,
        train_tokens: state.tokens,
        train_seconds: state.train_seconds,
        tokens_per_second: state.tokens as f64 / state.train_seconds.max(1e-9),
        wall_seconds: wall.elapsed().as_secs_f64(),
        peak_rss_mib: peak_rss_mib(),
        stopped_early,
        resumed_from_step,
        device: format!("{device:?}"),
        final_loss,
        batch_order: batch_order(grouped),
        world_size: world,
        backend: dist.map(|_| "gloo"),
        resumed_automatically: automatic.is_some(),
        allreduce_seconds: dist.map(|_| allreduce_seconds),
        rank_wait_seconds: dist.map(|_| rank_wait_seconds),
    })
}

/// After an evaluation point of a data-parallel run: shares rank 0's early-stopping decision
/// and compares the weight checksums of all ranks (they must be equal: every rank applies the
/// same update to the same weights). Returns whether to stop.
fn sync_after_evaluation(dist: &Dist, opt: &AdamW, stop: bool, step: u64) -> Result<bool> {
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

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn progress_bar(total: u64, done: u64, enabled: bool) -> Progress {
    let bar = Progress::new(
        "train",
        "step",
        total,
        "train {bar:30} step {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
        enabled,
    );
    bar.set_position(done);
    bar.reset_eta();
    bar
}

/// Writes a checkpoint (model directory + trainer state) atomically at `dst`.
fn save_checkpoint(
    model: &BertClassifier,
    vs: &nn::VarStore,
    opt: &AdamW,
    state: &TrainerState,
    history: &[serde_json::Value],
    paths: &RunPaths,
    dst: &Path,
) -> Result<()> {
    let tmp = dst.with_extension("tmp");
    if tmp.exists() {
        fs_err::remove_dir_all(&tmp)?;
    }
    bert::save(model, vs, &tmp, paths.tokenizer_from.as_deref())?;
    let ckpt = CheckpointDir::new(&tmp);
    write_state(&ckpt.state_dir(), state, history)?;
    opt.save(&ckpt.state_dir().join(OPTIMIZER_FILE))?;
    replace_dir(&tmp, dst)
}

/// On a non-finite loss: the weights are still those of the last good step (nothing was
/// applied), so save them as `last` and copy the checkpoints next to the output directory,
/// where they survive the failed run's clean-up. Returns where they are (`None` on a rank
/// that does not write: only rank 0 keeps checkpoints).
#[allow(clippy::too_many_arguments)]
fn keep_good_checkpoint(
    writer: bool,
    model: &BertClassifier,
    vs: &nn::VarStore,
    opt: &AdamW,
    state: &TrainerState,
    history: &[serde_json::Value],
    paths: &RunPaths,
    checkpoints: &Path,
) -> Result<Option<PathBuf>> {
    if !writer {
        return Ok(None);
    }
    save_checkpoint(
        model,
        vs,
        opt,
        state,
        history,
        paths,
        &checkpoints.join(LAST),
    )?;
    let Some(parent) = paths.out_dir.parent() else {
        return Ok(Some(checkpoints.to_path_buf()));
    };
    let name = paths
        .out_dir
        .file_name()
        .map(|n| n.to_string_lossy().trim_start_matches('.').to_string())
        .unwrap_or_default();
    let kept = parent.join(format!(".failed-{name}"));
    crate::checkpoint::copy_dir(checkpoints, &kept)?;
    Ok(Some(kept.join(LAST)))
}
