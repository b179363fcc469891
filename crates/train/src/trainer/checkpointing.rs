//! Where and when a run writes checkpoints: `last` at every evaluation point, every
//! `save_every` steps and before stopping on SIGTERM; `best` at a new best dev score; the
//! last good weights kept outside the run's directory when a non-finite value ends it; the
//! automatic resume from a work directory; and the move into the output directory at the
//! end. Only rank 0 writes.

use std::path::{Path, PathBuf};

use bert::BertClassifier;
use tch::nn;

use crate::checkpoint::{
    BEST, CheckpointDir, LAST, OPTIMIZER_FILE, STATE_DIR, TrainerState, copy_dir, history_text,
    replace_dir, write_state,
};
use crate::error::Result;
use crate::optim::AdamW;

/// Everything a checkpoint holds, borrowed from the loop.
#[derive(Debug)]
pub(super) struct Snapshot<'a> {
    pub(super) model: &'a BertClassifier,
    pub(super) vs: &'a nn::VarStore,
    pub(super) opt: &'a AdamW,
    pub(super) state: &'a TrainerState,
    pub(super) history: &'a [serde_json::Value],
}

/// The checkpoints directory of a run.
#[derive(Debug)]
pub(super) struct Checkpoints {
    /// Where checkpoints are written while training (`<work or out>/checkpoints`).
    dir: PathBuf,
    /// The output directory they end in.
    out_dir: PathBuf,
    /// Directory whose tokenizer files are copied into every checkpoint.
    tokenizer_from: Option<PathBuf>,
    /// This process writes (rank 0).
    pub(super) writer: bool,
}

impl Checkpoints {
    /// The checkpoints of a run under `root` (the work directory, else `out_dir`), created
    /// when this process writes.
    pub(super) fn new(
        root: &Path,
        out_dir: &Path,
        tokenizer_from: Option<PathBuf>,
        writer: bool,
    ) -> Result<Self> {
        let dir = root.join(flowcore::schema::train::CHECKPOINTS_DIR);
        if writer {
            fs_err::create_dir_all(&dir)?;
        }
        Ok(Self {
            dir,
            out_dir: out_dir.to_path_buf(),
            tokenizer_from,
            writer,
        })
    }

    /// On resume: the best checkpoint of the interrupted run, when it sits next to the
    /// `last` resumed from (`resume_from`) and the run had a best score.
    pub(super) fn adopt_best(&self, resume_from: &Path, has_best: bool) -> Result<()> {
        let best_src = resume_from.parent().map(|p| p.join(BEST));
        if let Some(src) = best_src.filter(|p| p.is_dir() && has_best)
            && src != self.dir.join(BEST)
        {
            copy_dir(&src, &self.dir.join(BEST))?;
        }
        Ok(())
    }

    /// Whether step `step` saves `last`: at evaluation points, every `save_every` steps and
    /// before stopping on request (what a re-run resumes from).
    pub(super) fn last_due(
        &self,
        evaluated: bool,
        terminated: bool,
        save_every: Option<u64>,
        step: u64,
    ) -> bool {
        self.writer
            && (evaluated || terminated || save_every.is_some_and(|n| step.is_multiple_of(n)))
    }

    /// Where a run stopped on request left its `last` checkpoint (`None` on a rank that
    /// does not write).
    pub(super) fn kept_last(&self) -> Option<PathBuf> {
        self.writer.then(|| self.dir.join(LAST))
    }

    /// Writes checkpoint `name` (`best` or `last`: model directory + trainer state)
    /// atomically.
    pub(super) fn save(&self, name: &str, snap: &Snapshot<'_>) -> Result<()> {
        let dst = self.dir.join(name);
        let tmp = dst.with_extension("tmp");
        if tmp.exists() {
            fs_err::remove_dir_all(&tmp)?;
        }
        bert::save(snap.model, snap.vs, &tmp, self.tokenizer_from.as_deref())?;
        let ckpt = CheckpointDir::new(&tmp);
        write_state(&ckpt.state_dir(), snap.state, snap.history)?;
        snap.opt.save(&ckpt.state_dir().join(OPTIMIZER_FILE))?;
        replace_dir(&tmp, &dst)
    }

    /// On a non-finite loss: the weights are still those of the last good step (nothing was
    /// applied), so save them as `last` and copy the checkpoints next to the output
    /// directory, where they survive the failed run's clean-up. Returns where they are
    /// (`None` on a rank that does not write).
    pub(super) fn keep_good(&self, snap: &Snapshot<'_>) -> Result<Option<PathBuf>> {
        if !self.writer {
            return Ok(None);
        }
        self.save(LAST, snap)?;
        let Some(parent) = self.out_dir.parent() else {
            return Ok(Some(self.dir.clone()));
        };
        let name = self
            .out_dir
            .file_name()
            .map(|n| n.to_string_lossy().trim_start_matches('.').to_string())
            .unwrap_or_default();
        let kept = parent.join(format!(".failed-{name}"));
        copy_dir(&self.dir, &kept)?;
        Ok(Some(kept.join(LAST)))
    }

    /// At the end of a run: the final weights are `last` (saved at the last evaluation
    /// point, which includes the final step); without `save_last` only `best` is kept. The
    /// checkpoints move into the output directory, next to `history.jsonl`.
    pub(super) fn finish(&self, save_last: bool, history: &[serde_json::Value]) -> Result<()> {
        if !self.writer {
            return Ok(());
        }
        if !save_last {
            let last = self.dir.join(LAST);
            if last.exists() {
                fs_err::remove_dir_all(&last)?;
            }
        }
        let final_dir = self.out_dir.join(flowcore::schema::train::CHECKPOINTS_DIR);
        if self.dir != final_dir {
            fs_err::create_dir_all(&self.out_dir)?;
            if final_dir.exists() {
                fs_err::remove_dir_all(&final_dir)?;
            }
            fs_err::rename(&self.dir, &final_dir)?;
        }
        fs_err::write(
            self.out_dir.join(flowcore::schema::train::HISTORY_FILE),
            history_text(history),
        )?;
        Ok(())
    }
}

/// The `last` checkpoint a run left in its work directory, when its recipe is this one's.
pub(super) fn automatic_resume(work_dir: &Path, recipe: &str) -> Option<PathBuf> {
    let checkpoints = work_dir.join(flowcore::schema::train::CHECKPOINTS_DIR);
    // A kill between the two renames of a checkpoint replacement leaves only `last.old`.
    let last = [
        checkpoints.join(LAST),
        checkpoints.join(LAST).with_extension("old"),
    ]
    .into_iter()
    .find(|d| d.join(STATE_DIR).is_dir())?;
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
