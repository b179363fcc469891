//! Checkpoints: an HF model directory plus `trainer_state/`, everything a resumed run needs
//! to continue exactly where the saved one was.
//!
//! ```text
//! checkpoints/last/
//!     config.json, model.safetensors, tokenizer files      (bert::save; transformers loads it)
//!     trainer_state/state.json                              step, data position, best, counters
//!     trainer_state/optimizer.safetensors                   AdamW moments by parameter name
//!     trainer_state/history.jsonl                           history up to this step
//! ```
//! The RNG state is not stored as bytes: dropout is re-seeded from `(seed, step)` before
//! every optimizer step and the data order is a function of `(seed, epoch)`, so `seed`,
//! `global_step`, `epoch` and `group` determine every random draw that follows. (libtorch's
//! generator is process-global: the trainer holds [`bert::torch_rng_lock`] from each
//! reseeding to the step's last draw, so parallel runs in one process cannot shift the draws.)
//!
//! A checkpoint is written into a temporary sibling and renamed into place, so a run killed
//! while saving leaves the previous checkpoint intact.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Name of the `best` checkpoint inside the checkpoints directory.
pub const BEST: &str = "best";
/// Name of the `last` checkpoint inside the checkpoints directory.
pub const LAST: &str = "last";
/// Sub-directory of a checkpoint holding the trainer state.
pub const STATE_DIR: &str = "trainer_state";
/// Scalars of the trainer state.
pub const STATE_FILE: &str = "state.json";
/// AdamW moments.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// History up to the checkpoint.
pub const HISTORY_FILE: &str = "history.jsonl";
/// Version of the trainer-state format.
pub const STATE_VERSION: u32 = 1;

/// The best dev score so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Optimizer step of the evaluation.
    pub step: u64,
    /// Metric name.
    pub metric: String,
    /// Its value.
    pub value: f64,
}

/// Everything besides weights and moments that a resumed run restores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Optimizer steps done (also the scheduler's step and the AdamW bias-correction count).
    pub global_step: u64,
    /// Epoch the next step belongs to (0-based).
    pub epoch: u64,
    /// Index of the next accumulation group of micro-batches inside the epoch's order.
    pub group: usize,
    /// Total optimizer steps of the run.
    pub total_steps: u64,
    /// The run's seed.
    pub seed: u64,
    /// Fingerprint of the recipe (params that change the result); a resume with another
    /// recipe is refused.
    pub recipe: String,
    /// Label names in id order.
    pub labels: Vec<String>,
    /// Best dev score so far.
    pub best: Option<Best>,
    /// Evaluations in a row without improvement (early stopping).
    pub stale_evals: u32,
    /// Non-padding training tokens processed so far.
    pub tokens: u64,
    /// Seconds spent in training steps so far (evaluation and saving excluded).
    pub train_seconds: f64,
    /// Step of the last evaluation.
    pub last_eval_step: Option<u64>,
}

/// Paths of one checkpoint directory.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    /// The HF model directory.
    pub dir: PathBuf,
}

impl CheckpointDir {
    /// A checkpoint at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `trainer_state/`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join(STATE_DIR)
    }

    /// Reads `trainer_state/state.json`.
    pub fn read_state(&self) -> Result<TrainerState> {
        let path = self.state_dir().join(STATE_FILE);
        if !path.is_file() {
            return Err(TrainError::Resume {
                path: self.dir.clone(),
                message: format!(
                    "no {STATE_DIR}/{STATE_FILE}; expected a checkpoint written by the train stage (checkpoints/last)"
                ),
            });
        }
        let text = fs_err::read_to_string(&path)?;
        let state: TrainerState =
            serde_json::from_str(&text).map_err(|source| TrainError::Json {
                path: path.clone(),
                source,
            })?;
        if state.version != STATE_VERSION {
            return Err(TrainError::Resume {
                path,
                message: format!(
                    "trainer state version {}, this build reads {STATE_VERSION}",
                    state.version
                ),
            });
        }
        Ok(state)
    }

    /// Reads the history lines saved with the checkpoint (empty when absent).
    pub fn read_history(&self) -> Result<Vec<serde_json::Value>> {
        let path = self.state_dir().join(HISTORY_FILE);
        if !path.is_file() {
            return Ok(Vec::new());
        }
        let text = fs_err::read_to_string(&path)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|source| TrainError::Json {
                    path: path.clone(),
                    source,
                })
            })
            .collect()
    }
}

/// Writes `state.json` and `history.jsonl` into a checkpoint's `trainer_state/`.
pub fn write_state(
    state_dir: &Path,
    state: &TrainerState,
    history: &[serde_json::Value],
) -> Result<()> {
    fs_err::create_dir_all(state_dir)?;
    let text = serde_json::to_string_pretty(state).map_err(|source| TrainError::Json {
        path: state_dir.join(STATE_FILE),
        source,
    })?;
    fs_err::write(state_dir.join(STATE_FILE), text + "\n")?;
    fs_err::write(state_dir.join(HISTORY_FILE), history_text(history))?;
    Ok(())
}

/// History records as JSON lines.
pub fn history_text(history: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for record in history {
        out.push_str(&record.to_string());
        out.push('\n');
    }
    out
}

/// Replaces `dst` by the fully written directory `tmp` (remove, then rename).
pub fn replace_dir(tmp: &Path, dst: &Path) -> Result<()> {
    if dst.exists() {
        let old = dst.with_extension("old");
        if old.exists() {
            fs_err::remove_dir_all(&old)?;
        }
        fs_err::rename(dst, &old)?;
        fs_err::rename(tmp, dst)?;
        fs_err::remove_dir_all(&old)?;
    } else {
        fs_err::rename(tmp, dst)?;
    }
    Ok(())
}

/// Copies a directory tree (checkpoints are flat but for `trainer_state/`).
pub fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    fs_err::create_dir_all(dst)?;
    for entry in fs_err::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            fs_err::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
