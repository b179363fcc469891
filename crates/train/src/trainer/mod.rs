//! The training loop: batches, loss, AdamW, schedule, clipping, accumulation, dev
//! evaluation, checkpoints, history and resume.
//!
//! Independent of the artifact store: [`train`] takes windows, labels and directories, so
//! tests run it on tiny in-memory data and the stage wraps it.
//!
//! [`train`] sets a run up (`setup`) and drives the loop (`Loop`); each optimizer step
//! takes its micro-batches (`batching`), runs the forward and backward passes and applies
//! the update (`step`, with the `loss`), exchanges gradients with the other ranks
//! (`sync`), logs (`progress`), evaluates when due (`evaluation`), saves by the
//! checkpoint policy (`checkpointing`) and checks the stop conditions (`stop`). Those
//! parts never use this file; of each other, `step` uses `batching` and `loss`, `setup`
//! uses `batching`, `evaluation` uses `progress`.

mod batching;
mod checkpointing;
mod evaluation;
mod loss;
mod progress;
mod setup;
mod step;
mod stop;
mod sync;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use bert::BertClassifier;
use flowcore::progress::Progress;
use tch::{Device, nn};

use self::batching::Batching;
use self::checkpointing::{Checkpoints, Snapshot, automatic_resume};
pub use self::evaluation::{dev_metrics, metric_value};
use self::loss::Loss;
pub use self::progress::peak_rss_mib;
use self::progress::{LogWindow, progress_bar, round4};
use self::setup::{Plan, Start};
pub use self::setup::{recipe_fingerprint, select_device};
use self::step::Checked;
use self::sync::StepSync;
pub use crate::checkpoint::{BEST, LAST};
use crate::checkpoint::{Best, TrainerState};
use crate::collective::Dist;
use crate::error::{Result, TrainError};
pub use crate::inputs::TrainData;
use crate::optim::AdamW;
use crate::params::{ReportTo, TrainParams};
use crate::signal::Training;
/// The process-wide lock on libtorch's generator (see [`bert::torch_rng_lock`]).
pub use bert::torch_rng_lock;

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
    /// Sees every dev evaluation and may stop the run there (`pipeline improve`'s halving):
    /// the run then saves `last` and ends with [`TrainError::Halted`]. Single-process runs
    /// only; a data-parallel run ignores it.
    pub watch: Option<flowcore::Watch>,
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
    /// The selection metric on the training sample at the last evaluation.
    pub last_train_score: Option<f64>,
    /// Whether the dev score rose (by more than 0.005) between the last two evaluations:
    /// training stopped while the model was still improving.
    pub dev_rising_at_end: Option<bool>,
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
    /// The CPU threading the run had (libtorch's threads, the CPUs, the OpenMP and MKL
    /// settings): the thread count can change results in the last bits.
    pub threading: torch_link::threading::Threading,
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
    let mut run = Loop::start(data, params, paths, opts)?;
    run.epochs()?;
    run.finish(wall)
}

/// What follows an optimizer step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// The next step of this epoch.
    Step,
    /// The first step of the next epoch (its own order).
    Epoch,
    /// The end of training.
    End,
}

/// A run in progress: what it was given, the model and optimizer, the trainer state and
/// what it has recorded.
#[derive(Debug)]
struct Loop<'a> {
    data: &'a TrainData,
    params: &'a TrainParams,
    opts: &'a RunOptions,
    dist: Option<&'a Dist>,
    world: usize,
    device: Device,
    batching: Batching,
    loss: Loss,
    plan: Plan,
    checkpoints: Checkpoints,
    model: BertClassifier,
    vs: nn::VarStore,
    opt: AdamW,
    state: TrainerState,
    history: Vec<serde_json::Value>,
    log: LogWindow,
    sync: StepSync,
    bar: Progress,
    last_dev: Option<serde_json::Value>,
    stopped_early: Option<String>,
    /// Why the monitor stopped the run, at the evaluation that just ended.
    halted: Option<String>,
    /// Training examples scored at each evaluation (see [`evaluation::TRAIN_SAMPLE`]).
    train_sample: Vec<tokenize::Window>,
    resumed_from_step: Option<u64>,
    resumed_automatically: bool,
    /// TensorBoard events of the history (`report_to`; rank 0 only).
    board: Option<crate::tensorboard::Board>,
}

impl<'a> Loop<'a> {
    /// Sets a run up: device, loss, checkpoints directory, model, optimizer and state (fresh
    /// or resumed; on every rank rank 0's), batching and plan.
    fn start(
        data: &'a TrainData,
        params: &'a TrainParams,
        paths: &'a RunPaths,
        opts: &'a RunOptions,
    ) -> Result<Self> {
        let dist = opts.dist.as_deref();
        let (rank, world) = dist.map_or((0, 1), |d| (d.rank(), d.world_size()));
        let writer = rank == 0;
        let device = setup::device(params.device, dist)?;
        let loss = Loss::new(params, data, device)?;
        let root = paths.work_dir.as_deref().unwrap_or(&paths.out_dir);
        let checkpoints =
            Checkpoints::new(root, &paths.out_dir, paths.tokenizer_from.clone(), writer)?;
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
        let resume_from = resume_from.as_deref();
        let Start {
            model,
            vs,
            mut state,
            history,
            mut resumed_from_step,
        } = setup::load(params, data, &paths.model_dir, &recipe, resume_from, device)?;
        if let Some(dir) = resume_from {
            checkpoints.adopt_best(dir, state.best.is_some())?;
        }
        let mut opt = setup::optimizer(&vs, params, resume_from, state.global_step)?;
        let batching = Batching::new(data, params, rank, world);
        if let Some(d) = dist {
            sync::start_from_rank0(d, &mut opt, &mut state)?;
            if !writer && state.global_step > 0 {
                resumed_from_step = Some(state.global_step);
            }
        }
        let plan = Plan::new(params, data, &batching);
        state.total_steps = plan.total_steps;
        plan.announce(data, device, &batching, world);
        let bar = progress_bar(plan.total_steps, state.global_step, opts.progress && writer);
        let board = if writer && params.report_to.contains(&ReportTo::Tensorboard) {
            Some(crate::tensorboard::Board::start(root, &paths.out_dir)?)
        } else {
            None
        };
        Ok(Self {
            data,
            params,
            opts,
            dist,
            world,
            device,
            batching,
            loss,
            plan,
            checkpoints,
            model,
            vs,
            opt,
            state,
            history,
            log: LogWindow::default(),
            sync: StepSync::default(),
            bar,
            last_dev: None,
            stopped_early: None,
            halted: None,
            train_sample: evaluation::train_sample(&data.train, evaluation::TRAIN_SAMPLE),
            resumed_from_step,
            resumed_automatically: automatic.is_some(),
            board,
        })
    }

    /// Trains epoch by epoch, from the state's position, until the end or a stop.
    fn epochs(&mut self) -> Result<()> {
        while self.state.global_step < self.plan.total_steps {
            let order = self.batching.epoch(self.state.epoch);
            let steps = self.batching.steps(&order);
            while self.state.group < steps.len() {
                match self.step(steps[self.state.group], steps.len())? {
                    Next::Step => {}
                    Next::Epoch => break,
                    Next::End => return Ok(()),
                }
            }
        }
        Ok(())
    }

    /// One optimizer step on the micro-batches `group` (of `groups` in the epoch), then what
    /// follows it: log, evaluation, checkpoints, stop conditions.
    fn step(&mut self, group: &[Vec<usize>], groups: usize) -> Result<Next> {
        if let Some(err) = stop::aborted(self.opts.abort_after, self.state.global_step) {
            self.bar.abandon();
            return Err(err);
        }
        let clock = Instant::now();
        let lr = self.plan.schedule.lr(self.state.global_step);
        let data = self.data;
        let batch = self.batching.step_batch(group, &data.train);
        let pad_to = self.batching.pad_to;
        let (params, device, at) = (self.params, self.device, self.state.global_step);
        let mut loss =
            match step::accumulate(&self.model, &batch, &self.loss, params, device, pad_to, at)? {
                Checked::Finite(loss) => loss,
                Checked::NonFinite { what, value } => return Err(self.non_finite(what, value)),
            };
        let mut asked = stop::asked(self.opts.stop.as_deref());
        if let Some(d) = self.dist {
            (asked, loss) = self.sync.gradients(d, &mut self.opt, asked, loss)?;
        }
        let grad_norm = match step::apply(&mut self.opt, params.max_grad_norm, lr)? {
            Checked::Finite(norm) => norm,
            Checked::NonFinite { what, value } => return Err(self.non_finite(what, value)),
        };
        self.state.global_step += 1;
        self.state.group += 1;
        self.state.tokens += batch.tokens as u64;
        let seconds = clock.elapsed().as_secs_f64();
        self.state.train_seconds += seconds;
        self.log.add(loss, batch.tokens as u64, seconds);
        self.after_step(lr, grad_norm, asked, groups)
    }

    /// After the update of a step: the history line when due, then evaluation, checkpoints
    /// and the stop conditions; `asked`: a rank was asked to stop.
    fn after_step(&mut self, lr: f64, grad_norm: f64, asked: bool, groups: usize) -> Result<Next> {
        let (step, total) = (self.state.global_step, self.plan.total_steps);
        self.bar.set_position(step);
        let epoch = self.state.epoch as f64 + self.state.group as f64 / groups as f64;
        if step % self.params.log_every == 0 || step == total {
            let line = self.log.close(step, epoch, lr, grad_norm, &self.bar);
            self.history.push(line);
            self.report_last()?;
        }
        let end_of_epoch = self.state.group == groups;
        let due = evaluation::due(self.params.eval_every, step, end_of_epoch, total);
        if end_of_epoch {
            self.state.epoch += 1;
            self.state.group = 0;
        }
        if due {
            self.evaluate(epoch)?;
        }
        let terminated = stop::terminates(asked || self.halted.is_some(), step, total);
        if self
            .checkpoints
            .last_due(due, terminated, self.params.save_every, step)
        {
            self.checkpoints.save(LAST, &self.snapshot())?;
        }
        if due && self.stops_early()? {
            return Ok(Next::End);
        }
        if terminated {
            self.bar.abandon();
            let kept = self.checkpoints.kept_last();
            if let Some(reason) = self.halted.take() {
                return Err(TrainError::Halted { step, reason, kept });
            }
            return Err(TrainError::Terminated { step, kept });
        }
        Ok(if step >= total {
            Next::End
        } else if end_of_epoch {
            Next::Epoch
        } else {
            Next::Step
        })
    }

    /// An evaluation point: dev metrics (rank 0), the record, and `best` when it improved.
    fn evaluate(&mut self, epoch: f64) -> Result<()> {
        if !self.plan.evaluate_dev {
            return Ok(());
        }
        let dev = evaluation::score(
            &self.model,
            &self.data.dev,
            &self.data.labels,
            self.params.eval_batch_size,
            self.device,
            self.dist,
        )?;
        let Some(dev) = dev else { return Ok(()) };
        let scored =
            evaluation::record(&dev, self.params, &mut self.state, &mut self.history, epoch)?;
        if self.checkpoints.writer {
            self.score_train_sample()?;
        }
        self.report_last()?;
        self.bar.println(format!(
            "step {}: dev {} = {:.4}{}",
            self.state.global_step,
            self.params.metric,
            scored.value,
            if scored.improved_best { " (best)" } else { "" }
        ));
        let point = flowcore::EvalPoint {
            step: self.state.global_step,
            total_steps: self.plan.total_steps,
            metric: self.params.metric.clone(),
            value: scored.value,
        };
        self.halted = stop::watched(self.opts.watch.as_ref(), self.dist.is_some(), &point);
        let save_best = scored.is_best() && self.params.save_best;
        self.last_dev = Some(scored.dev);
        if save_best {
            self.checkpoints.save(BEST, &self.snapshot())?;
        }
        Ok(())
    }

    /// The history line just recorded, to the reporters of `report_to`.
    fn report_last(&mut self) -> Result<()> {
        match (&mut self.board, self.history.last()) {
            (Some(board), Some(line)) => board.line(line),
            _ => Ok(()),
        }
    }

    /// The selection metric on the training sample, added to the evaluation's history line
    /// (`train_score`, `train_examples`): how well the model fits what it trains on.
    fn score_train_sample(&mut self) -> Result<()> {
        if self.train_sample.is_empty() {
            return Ok(());
        }
        let m = evaluation::dev_metrics(
            &self.model,
            &self.train_sample,
            &self.data.labels,
            self.params.eval_batch_size,
            self.device,
        )?;
        let value = evaluation::metric_value(&m, &self.params.metric)?;
        if let Some(serde_json::Value::Object(line)) = self.history.last_mut() {
            line.insert("train_score".into(), serde_json::json!(value));
            line.insert(
                "train_examples".into(),
                serde_json::json!(self.train_sample.iter().filter(|w| w.window == 0).count()),
            );
        }
        Ok(())
    }

    /// Early stopping at an evaluation point: rank 0 decides, every rank follows (and the
    /// ranks' weights are checked to be the same).
    fn stops_early(&mut self) -> Result<bool> {
        let step = self.state.global_step;
        let writer = self.checkpoints.writer;
        let mut stop = stop::early(
            self.params,
            self.plan.evaluate_dev,
            writer,
            self.state.stale_evals,
        );
        if let Some(d) = self.dist {
            stop = sync::after_evaluation(d, &self.opt, stop, step)?;
        }
        if stop {
            self.stopped_early = Some(stop::early_reason(self.params, step));
        }
        Ok(stop)
    }

    /// The error ending a run on a non-finite `what`, after keeping the last good weights.
    fn non_finite(&self, what: &'static str, value: f64) -> TrainError {
        self.bar.abandon();
        match self.checkpoints.keep_good(&self.snapshot()) {
            Ok(kept) => TrainError::NonFinite {
                what,
                value,
                step: self.state.global_step + 1,
                kept,
            },
            Err(err) => err,
        }
    }

    /// What a checkpoint of the run now holds.
    fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            model: &self.model,
            vs: &self.vs,
            opt: &self.opt,
            state: &self.state,
            history: &self.history,
        }
    }

    /// The end of a run: checkpoints into the output directory, and the summary.
    fn finish(self, wall: Instant) -> Result<TrainSummary> {
        self.bar.finish_and_clear();
        if let Some(reason) = &self.stopped_early {
            tracing::info!("{reason}");
        }
        self.checkpoints
            .finish(self.params.save_last, &self.history)?;
        if let Some(board) = self.board {
            board.finish()?;
        }
        let state = &self.state;
        let dist = self.dist;
        Ok(TrainSummary {
            steps: state.global_step,
            total_steps: self.plan.total_steps,
            epochs: round4(state.global_step as f64 / self.plan.steps_per_epoch.max(1) as f64),
            best: state.best.clone(),
            last_dev: self.last_dev,
            train_tokens: state.tokens,
            train_seconds: state.train_seconds,
            tokens_per_second: state.tokens as f64 / state.train_seconds.max(1e-9),
            wall_seconds: wall.elapsed().as_secs_f64(),
            peak_rss_mib: peak_rss_mib(),
            stopped_early: self.stopped_early,
            last_train_score: evaluation::last(&self.history, "train_score"),
            dev_rising_at_end: evaluation::rising_at_end(&self.history),
            resumed_from_step: self.resumed_from_step,
            device: format!("{:?}", self.device),
            final_loss: self.log.final_loss,
            batch_order: self.batching.order_name(),
            world_size: self.world,
            backend: dist.map(|_| "gloo"),
            resumed_automatically: self.resumed_automatically,
            allreduce_seconds: dist.map(|_| self.sync.allreduce_seconds),
            rank_wait_seconds: dist.map(|_| self.sync.rank_wait_seconds),
            threading: torch_link::threading::Threading::current(
                tch::get_num_threads().max(1) as usize
            ),
        })
    }
}
