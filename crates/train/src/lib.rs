//! Fine-tuning of BERT classifiers (the `train` pipeline stage).
//!
//! - [`params`]: the recipe ([`TrainParams`]) with Hugging Face `Trainer`'s defaults.
//! - [`data`]: the length-grouped sampler and dynamic padding.
//! - [`optim`]: AdamW with saveable moments, the learning-rate schedule, gradient clipping.
//! - [`checkpoint`]: `checkpoints/{best,last}` = HF model directory + `trainer_state/`.
//! - [`trainer`]: the loop ([`train`]): accumulation, loss normalisation, dev evaluation
//!   through the `infer` crate (the same code as the evaluate stage), early stopping,
//!   history, NaN guard, resume.
//! - [`distributed`]: data-parallel training across processes (torch.distributed, Gloo),
//!   the torchrun/Slurm launch contract, local workers.
//! - [`stage`]: [`TrainStage`], the `Stage` implementation the pipeline runner registers.

pub mod checkpoint;
pub mod data;
pub mod distributed;
pub mod error;
pub mod optim;
pub mod params;
pub mod stage;
pub mod trainer;

pub use error::{Result, TrainError};
pub use params::{
    ClassWeights, DeviceChoice, DistBackend, EarlyStopping, EvalEvery, Precision, Scheduler,
    TrainParams,
};
pub use stage::TrainStage;
pub use trainer::{
    RunOptions, RunPaths, TrainData, TrainSummary, termination_flag, torch_rng_lock, train,
};
