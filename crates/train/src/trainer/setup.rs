//! What a run starts from: the device, the model, optimizer and trainer state (fresh from
//! the pretrained model, or restored from a checkpoint whose recipe matches), and the plan
//! (steps, schedule, evaluation).

use std::path::Path;

use bert::{BertClassifier, ConfigOverrides};
use flowcore::LabelMap;
use tch::{Device, nn};

use super::batching::Batching;
use crate::checkpoint::{CheckpointDir, OPTIMIZER_FILE, STATE_VERSION, TrainerState};
use crate::collective::Dist;
use crate::error::{Result, TrainError};
use crate::inputs::TrainData;
use crate::optim::{AdamW, AdamWConfig, LrSchedule};
use crate::params::{DeviceChoice, EvalEvery, TrainParams};

/// Where the labels of the data come from, for errors.
const DATA_SOURCE: &str = "tokenize artifact labels.json";

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
            "report_to",
        ] {
            map.remove(key);
        }
    }
    flowcore::hash::fingerprint(&value)
}

/// The device of this process: the params' choice, and on CUDA one GPU per local rank.
pub(super) fn device(choice: DeviceChoice, dist: Option<&Dist>) -> Result<Device> {
    Ok(match (select_device(choice)?, dist) {
        (Device::Cuda(_), Some(d)) => Device::Cuda(d.launch.local_rank),
        (device, _) => device,
    })
}

/// A model and trainer state to continue from.
pub(super) struct Start {
    pub(super) model: BertClassifier,
    pub(super) vs: nn::VarStore,
    pub(super) state: TrainerState,
    pub(super) history: Vec<serde_json::Value>,
    /// The step of the checkpoint resumed from.
    pub(super) resumed_from_step: Option<u64>,
}

/// The model and state of a run: from `resume_from` when set, else fresh from the pretrained
/// model in `model_dir` (`recipe`: the fingerprint of `params`).
pub(super) fn load(
    params: &TrainParams,
    data: &TrainData,
    model_dir: &Path,
    recipe: &str,
    resume_from: Option<&Path>,
    device: Device,
) -> Result<Start> {
    // A fresh head is drawn from the seeded generator, so no other thread may seed or draw
    // meanwhile.
    let _rng = bert::torch_rng_lock();
    tch::manual_seed(params.seed as i64);
    match resume_from {
        None => fresh(params, data, model_dir, recipe, device),
        Some(dir) => resumed(data, dir, recipe, device),
    }
}

/// The pretrained model with a new head (unless it has this task's), at step 0.
fn fresh(
    params: &TrainParams,
    data: &TrainData,
    model_dir: &Path,
    recipe: &str,
    device: Device,
) -> Result<Start> {
    let task = data.labels.task;
    let config = bert::BertConfig::from_file(&model_dir.join("config.json"))?;
    if bert::task_from_config(&config) == Some(task) {
        check_labels(&data.labels, DATA_SOURCE, config.labels(), model_dir)?;
    }
    let overrides = ConfigOverrides {
        hidden_dropout_prob: params.dropout,
        attention_probs_dropout_prob: params.dropout,
        classifier_dropout: params.dropout,
    };
    let (model, vs, report) =
        bert::load_with(model_dir, task, &data.labels.labels, device, &overrides)?;
    tracing::info!(new_head = ?report.new_head, "model loaded from {}", model_dir.display());
    let state = TrainerState {
        version: STATE_VERSION,
        global_step: 0,
        epoch: 0,
        group: 0,
        total_steps: 0,
        seed: params.seed,
        recipe: recipe.to_string(),
        labels: data.labels.labels.clone(),
        best: None,
        stale_evals: 0,
        tokens: 0,
        train_seconds: 0.0,
        last_eval_step: None,
    };
    Ok(Start {
        model,
        vs,
        state,
        history: Vec::new(),
        resumed_from_step: None,
    })
}

/// The model, state and history of checkpoint `dir`, which must have been trained with
/// this recipe.
fn resumed(data: &TrainData, dir: &Path, recipe: &str, device: Device) -> Result<Start> {
    let ckpt = CheckpointDir::new(dir);
    let state = ckpt.read_state()?;
    if state.recipe != recipe {
        return Err(TrainError::Resume {
            path: dir.to_path_buf(),
            message: format!(
                "the checkpoint was trained with another recipe (fingerprint {}, these params {recipe}); resume with the params it was started with",
                state.recipe
            ),
        });
    }
    let (model, vs, _) = bert::load(dir, data.labels.task, &[], device)?;
    check_labels(&data.labels, DATA_SOURCE, model.config().labels(), dir)?;
    let history = ckpt.read_history()?;
    tracing::info!(
        step = state.global_step,
        epoch = state.epoch,
        "resuming from {}",
        dir.display()
    );
    let step = state.global_step;
    Ok(Start {
        model,
        vs,
        state,
        history,
        resumed_from_step: Some(step),
    })
}

/// AdamW over the model's variables, with the moments of `resume_from` at `step`.
pub(super) fn optimizer(
    vs: &nn::VarStore,
    params: &TrainParams,
    resume_from: Option<&Path>,
    step: u64,
) -> Result<AdamW> {
    let mut opt = AdamW::new(
        vs.variables(),
        AdamWConfig {
            beta1: params.adam_beta1,
            beta2: params.adam_beta2,
            eps: params.adam_epsilon,
            weight_decay: params.weight_decay,
        },
    );
    if let Some(dir) = resume_from {
        opt.load(
            &CheckpointDir::new(dir).state_dir().join(OPTIMIZER_FILE),
            step,
        )?;
    }
    Ok(opt)
}

/// The shape of a run: its length, learning-rate schedule and whether it evaluates.
#[derive(Debug)]
pub(super) struct Plan {
    /// Optimizer steps per epoch.
    pub(super) steps_per_epoch: u64,
    /// Optimizer steps of the whole run.
    pub(super) total_steps: u64,
    /// The learning rate of each step.
    pub(super) schedule: LrSchedule,
    /// Whether there is dev data to evaluate on, and evaluation points.
    pub(super) evaluate_dev: bool,
}

impl Plan {
    /// The plan of `params` on `data` batched by `batching`.
    pub(super) fn new(params: &TrainParams, data: &TrainData, batching: &Batching) -> Self {
        let steps_per_epoch = batching.steps_per_epoch();
        let total_steps = params
            .max_steps
            .unwrap_or(u64::from(params.epochs) * steps_per_epoch);
        let schedule = LrSchedule {
            base: params.learning_rate,
            warmup: LrSchedule::warmup_steps(total_steps, params.warmup_steps, params.warmup_ratio),
            total: total_steps,
            kind: params.scheduler,
        };
        let evaluate_dev = params.eval_every != EvalEvery::Never && !data.dev.is_empty();
        if params.eval_every != EvalEvery::Never && data.dev.is_empty() {
            tracing::warn!("no dev windows: training without evaluation, `best` is not written");
        }
        Self {
            steps_per_epoch,
            total_steps,
            schedule,
            evaluate_dev,
        }
    }

    /// Logs the plan of a run on `data` of `world` processes.
    pub(super) fn announce(
        &self,
        data: &TrainData,
        device: Device,
        batching: &Batching,
        world: usize,
    ) {
        tracing::info!(
            train_windows = data.train.len(),
            dev_windows = data.dev.len(),
            steps_per_epoch = self.steps_per_epoch,
            total_steps = self.total_steps,
            warmup = self.schedule.warmup,
            device = ?device,
            batch_order = batching.order_name(),
            world_size = world,
            "training"
        );
    }
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
