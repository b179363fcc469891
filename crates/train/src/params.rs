//! The params of the train stage: the fine-tuning recipe, with Hugging Face `Trainer`'s
//! defaults (`TrainingArguments`) wherever it has one.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Params of the train stage (`[stages.train]` in a pipeline file).
///
/// Defaults are those of HF `TrainingArguments`: AdamW lr 5e-5, betas (0.9, 0.999), eps 1e-8,
/// no weight decay, linear schedule without warmup, gradient-norm clipping at 1.0, 3 epochs,
/// batch 8, seed 42.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    /// Pretrained model directory; defaults to the pipeline's `model`.
    pub model: Option<PathBuf>,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// AdamW beta1.
    pub adam_beta1: f64,
    /// AdamW beta2.
    pub adam_beta2: f64,
    /// AdamW epsilon.
    pub adam_epsilon: f64,
    /// Decoupled weight decay of every weight except biases and LayerNorm parameters.
    pub weight_decay: f64,
    /// Learning-rate schedule after warmup.
    pub scheduler: Scheduler,
    /// Warmup steps (linear from 0); wins over `warmup_ratio` when positive.
    pub warmup_steps: u64,
    /// Warmup as a fraction of the total optimizer steps (rounded up, as HF does).
    pub warmup_ratio: f64,
    /// Gradient-norm clipping threshold; 0 switches clipping off.
    pub max_grad_norm: f64,
    /// Passes over the training data.
    pub epochs: u32,
    /// Optimizer steps to run; when set, wins over `epochs`.
    pub max_steps: Option<u64>,
    /// Windows per forward/backward pass (HF `per_device_train_batch_size`).
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed before one optimizer step.
    pub grad_accum: usize,
    /// Windows per forward pass on the dev split.
    pub eval_batch_size: usize,
    /// Seed of the head initialisation, the data order and dropout.
    pub seed: u64,
    /// Dropout override: replaces `hidden_dropout_prob`, `attention_probs_dropout_prob` and
    /// `classifier_dropout` of the pretrained config.
    pub dropout: Option<f64>,
    /// `fp32`, or `bf16` (autocast of the forward pass).
    pub precision: Precision,
    /// `auto` (CUDA when available), `cpu` or `cuda`.
    pub device: DeviceChoice,
    /// CPU threads of libtorch; default: libtorch's choice (the physical cores).
    pub threads: Option<usize>,
    /// When to evaluate on dev: `"epoch"`, `"no"`, or every N optimizer steps.
    pub eval_every: EvalEvery,
    /// The dev metric that picks `best` and drives early stopping: `"primary"` (entity micro
    /// F1 for token tasks, macro F1 for sequence and multi-label tasks) or a dotted path into
    /// the metrics JSON
    /// (`"entity.micro.f1"`, `"accuracy"`, `"token_accuracy"`). Higher is better.
    pub metric: String,
    /// Stop when the dev metric has not improved for a while.
    pub early_stopping: Option<EarlyStopping>,
    /// Sequence task: class weights of the cross-entropy, a list in label order or
    /// `"balanced"` (n_samples / (n_classes * count), scikit-learn's rule).
    pub class_weights: Option<ClassWeights>,
    /// Pad every batch to the data's `max_length` instead of its longest window (only to
    /// measure what dynamic padding saves).
    pub pad_to_max_length: bool,
    /// Group windows of similar length into batches (shuffle, sort inside mega-batches of
    /// 50 batches, shuffle the batches), as HF's `group_by_length`. Unset: grouped for token
    /// tasks, HF's default random order for sequence tasks (see
    /// [`TrainParams::groups_by_length`]).
    pub group_by_length: Option<bool>,
    /// Keep `checkpoints/last`.
    pub save_last: bool,
    /// Keep `checkpoints/best` (needs a dev split and evaluation).
    pub save_best: bool,
    /// Optimizer steps between two `history.jsonl` records (and progress updates of the loss).
    pub log_every: u64,
    /// Continue a killed run from this checkpoint directory (a `checkpoints/last` holding
    /// `trainer_state/`).
    pub resume_from: Option<PathBuf>,
    /// Also save a resumable `checkpoints/last` every N optimizer steps (besides every
    /// evaluation), so a killed run loses at most N steps; the next run of the same
    /// fingerprint picks it up by itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_every: Option<u64>,
    /// Data-parallel worker processes on this machine (torch.distributed, one process group):
    /// the stage starts `processes - 1` workers besides itself, each with `threads /
    /// processes` CPU threads. Global batch = `batch_size * grad_accum * processes`. Ignored
    /// when the process was started by a launcher (`torchrun`, Slurm), whose `WORLD_SIZE`
    /// wins.
    #[serde(skip_serializing_if = "is_one")]
    pub processes: usize,
    /// Collective backend: `auto` or `gloo` (c10d's Gloo, CPU and CUDA tensors); `nccl` is
    /// refused with an explanation (not built into this version).
    #[serde(skip_serializing_if = "DistBackend::is_auto")]
    pub backend: DistBackend,
    /// Seconds a rendezvous or collective may wait for the other ranks before every rank
    /// fails (a dead or hung worker).
    #[serde(skip_serializing_if = "is_default_timeout")]
    pub dist_timeout_s: u64,
    /// Where the history also goes while training: `["tensorboard"]` writes TensorBoard event
    /// files (loss, learning rate, gradient norm, tokens/s, dev metrics) into the artifact's
    /// `tensorboard/` (see [`crate::tensorboard`]); empty (the default): `history.jsonl` only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub report_to: Vec<ReportTo>,
}

/// A place the training history is reported to besides `history.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportTo {
    /// TensorBoard event files in the artifact's `tensorboard/`.
    Tensorboard,
}

/// Default of [`TrainParams::dist_timeout_s`] (PyTorch's default process-group timeout).
pub const DEFAULT_DIST_TIMEOUT_S: u64 = 1800;

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn is_default_timeout(s: &u64) -> bool {
    *s == DEFAULT_DIST_TIMEOUT_S
}

/// The collective backend of a data-parallel run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DistBackend {
    /// Gloo (the one built in).
    #[default]
    Auto,
    /// c10d's Gloo.
    Gloo,
    /// NCCL (not built into this version: refused).
    Nccl,
}

impl DistBackend {
    fn is_auto(&self) -> bool {
        *self == Self::Auto
    }
}

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            model: None,
            learning_rate: 5e-5,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            weight_decay: 0.0,
            scheduler: Scheduler::Linear,
            warmup_steps: 0,
            warmup_ratio: 0.0,
            max_grad_norm: 1.0,
            epochs: 3,
            max_steps: None,
            batch_size: 8,
            grad_accum: 1,
            eval_batch_size: 32,
            seed: 42,
            dropout: None,
            precision: Precision::Fp32,
            device: DeviceChoice::Auto,
            threads: None,
            eval_every: EvalEvery::Epoch,
            metric: "primary".into(),
            early_stopping: None,
            class_weights: None,
            pad_to_max_length: false,
            group_by_length: None,
            save_last: true,
            save_best: true,
            log_every: 50,
            resume_from: None,
            save_every: None,
            processes: 1,
            backend: DistBackend::Auto,
            dist_timeout_s: DEFAULT_DIST_TIMEOUT_S,
            report_to: Vec::new(),
        }
    }
}

/// Learning-rate schedule after warmup (as HF's `get_scheduler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Linear decay to 0 at the last step.
    Linear,
    /// Constant after warmup.
    Constant,
    /// Half a cosine period down to 0.
    Cosine,
}

/// Numeric precision of the forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32.
    Fp32,
    /// Autocast of the training forward pass to bf16 (as HF `Trainer`'s `bf16=True`);
    /// weights, gradients, optimizer state, the loss and dev evaluation stay fp32. Meant for
    /// CUDA; it runs on the CPU too, where it is faster only with native bf16 instructions
    /// (AVX512-BF16, AMX).
    Bf16,
}

/// Where to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device 0 (an error when there is none).
    Cuda,
}

/// When to evaluate on dev.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalEvery {
    /// At the end of every epoch (and at the end of training).
    Epoch,
    /// Every N optimizer steps (and at the end of training).
    Steps(u64),
    /// Never (no `best` checkpoint, no early stopping).
    Never,
}

impl Serialize for EvalEvery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Epoch => s.serialize_str("epoch"),
            Self::Never => s.serialize_str("no"),
            Self::Steps(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for EvalEvery {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Steps(u64),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Steps(0) => Err(serde::de::Error::custom(
                "expected a positive number of steps, \"epoch\" or \"no\", found 0",
            )),
            Raw::Steps(n) => Ok(Self::Steps(n)),
            Raw::Word(w) if w == "epoch" => Ok(Self::Epoch),
            Raw::Word(w) if w == "no" || w == "never" => Ok(Self::Never),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "expected a number of steps, \"epoch\" or \"no\", found \"{w}\""
            ))),
        }
    }
}

/// Early stopping on the dev metric (HF `EarlyStoppingCallback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    /// Evaluations without improvement after which training stops.
    pub patience: u32,
    /// Smallest increase of the metric that counts as an improvement.
    pub threshold: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            patience: 3,
            threshold: 0.0,
        }
    }
}

/// Class weights of the sequence-task loss.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassWeights {
    /// n_samples / (n_classes * count of the class) over the training split.
    Balanced,
    /// One weight per label, in label order.
    Explicit(Vec<f64>),
}

impl Serialize for ClassWeights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Balanced => s.serialize_str("balanced"),
            Self::Explicit(w) => w.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ClassWeights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<f64>),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::List(w) => Ok(Self::Explicit(w)),
            Raw::Word(w) if w == "balanced" => Ok(Self::Balanced),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "expected a list of weights or \"balanced\", found \"{w}\""
            ))),
        }
    }
}

impl TrainParams {
    /// Whether batches are length-grouped for `task`: `group_by_length` when set; otherwise
    /// only for token tasks. Sequence tasks default to HF `Trainer`'s own default, a random
    /// order, so the same recipe means the same sampler on both sides: on CLINC150 a random
    /// order ends 0.07 nats lower in training loss than length grouping, in HF as in ours
    /// (docs/clinc150.md, "Many classes"). Token tasks keep grouping: sentence lengths vary far more,
    /// padding is what grouping saves, and WNUT-17 / CoNLL-2003 match HF with it.
    pub fn groups_by_length(&self, task: flowcore::TaskKind) -> bool {
        self.group_by_length
            .unwrap_or(task == flowcore::TaskKind::Token)
    }

    /// Checks values serde cannot: ranges and combinations. Errors name the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, message: String| {
            Err(TrainError::Param {
                key: key.into(),
                message,
            })
        };
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(
                "learning_rate",
                format!("expected a positive number, found {}", self.learning_rate),
            );
        }
        for (key, b) in [
            ("adam_beta1", self.adam_beta1),
            ("adam_beta2", self.adam_beta2),
        ] {
            if !(0.0..1.0).contains(&b) {
                return bad(key, format!("expected a value in [0, 1), found {b}"));
            }
        }
        if self.adam_epsilon <= 0.0 {
            return bad(
                "adam_epsilon",
                format!("expected a positive number, found {}", self.adam_epsilon),
            );
        }
        if self.weight_decay < 0.0 {
            return bad(
                "weight_decay",
                format!("expected 0 or more, found {}", self.weight_decay),
            );
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad(
                "warmup_ratio",
                format!("expected a value in [0, 1], found {}", self.warmup_ratio),
            );
        }
        if self.max_grad_norm < 0.0 {
            return bad(
                "max_grad_norm",
                format!("expected 0 (off) or more, found {}", self.max_grad_norm),
            );
        }
        if self.epochs == 0 && self.max_steps.is_none() {
            return bad("epochs", "expected at least 1 (or set max_steps)".into());
        }
        if self.max_steps == Some(0) {
            return bad("max_steps", "expected at least 1".into());
        }
        for (key, n) in [
            ("batch_size", self.batch_size),
            ("grad_accum", self.grad_accum),
            ("eval_batch_size", self.eval_batch_size),
            ("processes", self.processes),
        ] {
            if n == 0 {
                return bad(key, "expected at least 1".into());
            }
        }
        if let Some(p) = self.dropout
            && !(0.0..1.0).contains(&p)
        {
            return bad(
                "dropout",
                format!("expected a probability in [0, 1), found {p}"),
            );
        }
        if self.threads == Some(0) {
            return bad("threads", "expected at least 1".into());
        }
        if self.log_every == 0 {
            return bad("log_every", "expected at least 1".into());
        }
        if self.save_every == Some(0) {
            return bad(
                "save_every",
                "expected at least 1 (or leave it unset)".into(),
            );
        }
        if self.dist_timeout_s == 0 {
            return bad("dist_timeout_s", "expected at least 1 second".into());
        }
        if self.backend == DistBackend::Nccl {
            return bad(
                "backend",
                "nccl is not built into this version (the shim reaches c10d's Gloo only); use `auto` or `gloo`, which also all-reduce CUDA tensors".into(),
            );
        }
        if let Some(ClassWeights::Explicit(w)) = &self.class_weights
            && let Some(x) = w.iter().find(|x| !(x.is_finite() && **x >= 0.0))
        {
            return bad(
                "class_weights",
                format!("expected non-negative weights, found {x}"),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_hf_trainer_defaults() {
        let p: TrainParams = flowcore::params::parse(&serde_json::json!({})).unwrap();
        assert_eq!(p.learning_rate, 5e-5);
        assert_eq!(
            (p.adam_beta1, p.adam_beta2, p.adam_epsilon),
            (0.9, 0.999, 1e-8)
        );
        assert_eq!(p.weight_decay, 0.0);
        assert_eq!(p.max_grad_norm, 1.0);
        assert_eq!((p.epochs, p.batch_size, p.seed), (3, 8, 42));
        assert_eq!(p.scheduler, Scheduler::Linear);
        p.validate().unwrap();
    }

    /// The cause of the CLINC150 gap (issue 21): length-grouped batches on a sequence task.
    /// A sequence task must train in HF's default random order unless grouping is asked for.
    #[test]
    fn sequence_tasks_train_in_random_order_unless_grouping_is_asked_for() {
        use flowcore::TaskKind::{Sequence, Token};
        let p: TrainParams = flowcore::params::parse(&serde_json::json!({})).unwrap();
        assert!(!p.groups_by_length(Sequence));
        assert!(p.groups_by_length(Token));
        for (asked, want) in [(true, true), (false, false)] {
            let p: TrainParams =
                flowcore::params::parse(&serde_json::json!({ "group_by_length": asked })).unwrap();
            assert_eq!(p.groups_by_length(Sequence), want);
            assert_eq!(p.groups_by_length(Token), want);
        }
    }

    #[test]
    fn eval_every_and_class_weights_take_words_or_numbers() {
        let p: TrainParams = flowcore::params::parse(&serde_json::json!({
            "eval_every": 100, "class_weights": "balanced"
        }))
        .unwrap();
        assert_eq!(p.eval_every, EvalEvery::Steps(100));
        assert_eq!(p.class_weights, Some(ClassWeights::Balanced));
        let p: TrainParams = flowcore::params::parse(&serde_json::json!({
            "eval_every": "epoch", "class_weights": [1.0, 5.0]
        }))
        .unwrap();
        assert_eq!(p.eval_every, EvalEvery::Epoch);
        assert_eq!(
            p.class_weights,
            Some(ClassWeights::Explicit(vec![1.0, 5.0]))
        );
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["eval_every"], "epoch");
        assert_eq!(back["class_weights"], serde_json::json!([1.0, 5.0]));
        let err =
            flowcore::params::parse::<TrainParams>(&serde_json::json!({"eval_every": "often"}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("eval_every") && err.contains("often"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let p = TrainParams {
            warmup_ratio: 1.5,
            ..Default::default()
        };
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("warmup_ratio") && err.contains("1.5"), "{err}");
    }
}
