//! Fine-tuning of BERT classifiers (the `train` pipeline stage).
//!
//! Modules from the bottom up; each uses only modules above it in this list (and [`error`]):
//!
//! - [`params`]: the recipe ([`TrainParams`]) with Hugging Face `Trainer`'s defaults.
//! - [`inputs`]: the data of a run ([`TrainData`]) and its reading from a tokenize artifact.
//! - [`data`]: the length-grouped sampler and dynamic padding.
//! - [`optim`]: AdamW with saveable moments, the learning-rate schedule, gradient clipping.
//! - [`checkpoint`]: `checkpoints/{best,last}` = HF model directory + `trainer_state/`.
//! - [`signal`]: SIGTERM during training ([`termination_flag`]): checkpoint, then stop.
//! - [`collective`]: the process group of a data-parallel run (torch.distributed, Gloo), the
//!   torchrun/Slurm launch contract, dev inference sharded over the ranks.
//! - [`tensorboard`]: TensorBoard event files of the history (`report_to`).
//! - [`trainer`]: the loop ([`train`]): accumulation, loss normalisation, dev evaluation
//!   through the `infer` crate (the same code as the evaluate stage), early stopping,
//!   history, NaN guard, resume.
//! - [`distributed`]: local worker processes and the run of a non-zero rank.
//! - [`stage`]: [`TrainStage`], the `Stage` implementation the pipeline runner registers.

pub mod checkpoint;
pub mod collective;
pub mod data;
pub mod distributed;
pub mod error;
pub mod inputs;
pub mod optim;
pub mod params;
pub mod signal;
pub mod stage;
pub mod tensorboard;
pub mod trainer;

pub use error::{Result, TrainError};
pub use inputs::TrainData;
pub use params::{
    ClassWeights, DeviceChoice, DistBackend, EarlyStopping, EvalEvery, Precision, ReportTo,
    Scheduler, TrainParams,
};
pub use signal::termination_flag;
pub use stage::TrainStage;
pub use trainer::{RunOptions, RunPaths, TrainSummary, torch_rng_lock, train};
