//! The model worker: one std thread owns the [`Predictor`] (libtorch inference is blocking and
//! the model is not shared between threads) and answers queued jobs in token-bounded batches.
//!
//! A batch starts with the oldest queued job and takes more until its jobs hold
//! `max_batch_tokens` sub-words or `max_wait` has passed since it started; the job that would
//! overflow it opens the next batch. Jobs whose client has gone (disconnected, timed out) are
//! dropped unrun. The batch's inputs go through `Predictor::predict_lines` (token task) or
//! `predict_json_lines` (sequence tasks) in one call, the code `evaluate predict` runs, and
//! each job gets its own results back with `line` numbered from 1 within the request. A
//! batch that fails is retried job by job, so one bad request cannot fail its neighbours; a
//! panic in the model is caught and answered as an error.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evaluate::{InferOptions, Predictor};
use flowcore::TaskKind;
use metrics::open_set::RejectRule;
use serde_json::Value;
use tokenize::Encoder;
use tokio::sync::oneshot;

use crate::config::{Limits, ModelSpec};
use crate::error::{Result, ServeError};
use crate::prometheus::{BatchStats, Metrics};
use crate::request::Input;

/// What a job's client receives: one JSON result per input.
pub type Answer = Result<Vec<Value>>;

/// One request's inputs waiting for the model.
#[derive(Debug)]
pub struct Job {
    /// The inputs, in request order.
    pub inputs: Vec<Input>,
    /// Their sub-words ([`Input::tokens`]).
    pub tokens: usize,
    /// Where the answer goes; closed when the client has gone.
    pub reply: oneshot::Sender<Answer>,
}

/// What the loaded checkpoint is and how it decides, for `/info` and request checks.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The checkpoint's task.
    pub task: TaskKind,
    /// Its labels, in its order.
    pub labels: Vec<String>,
    /// Multi-label decision thresholds (recorded by the evaluation, or 0.5 each).
    pub thresholds: Option<Vec<f64>>,
    /// The out-of-scope rejection rule applied, if any.
    pub reject: Option<RejectRule>,
    /// The binary cost threshold applied (the evaluation's `tune_cost_threshold`), if any.
    pub cost: Option<metrics::CostThreshold>,
    /// The temperature applied to the probabilities (the evaluation's `temperature`), if any.
    pub temperature: Option<metrics::calibration::TemperatureRecord>,
    /// Candidates can be ranked (two labels or a positive label given).
    pub ranking: bool,
    /// The encoder the model reads text with (to count a request's sub-words).
    pub encoder: Encoder,
}

/// What `/health` knows of the model thread: whether it still runs, and since when it has
/// been on its current batch.
#[derive(Debug)]
pub struct Liveness {
    epoch: Instant,
    /// Milliseconds from `epoch` to the start of the batch being run, plus 1; 0 when idle.
    busy_since: AtomicU64,
    ended: AtomicBool,
}

/// The model thread's state as `/health` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Health {
    /// Waiting for requests, or on a batch for less than the request timeout.
    Ok {
        /// How long the current batch has run (zero when idle).
        busy: Duration,
    },
    /// On one batch for longer than a request may wait: every queued request will time out.
    Stuck {
        /// How long the batch has run.
        busy: Duration,
    },
    /// The model thread has ended: nothing will be answered.
    Down,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        }
    }
}

impl Liveness {
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn busy_from(&self, at: Instant) {
        self.busy_since
            .store(self.millis(at).saturating_add(1), Ordering::Relaxed);
    }

    fn idle(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// The state at `now`, a batch running longer than `timeout` counting as stuck.
    pub fn check_at(&self, now: Instant, timeout: Duration) -> Health {
        if self.ended.load(Ordering::Relaxed) {
            return Health::Down;
        }
        let busy = match self.busy_since.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => Duration::from_millis(self.millis(now).saturating_sub(since - 1)),
        };
        if busy > timeout {
            Health::Stuck { busy }
        } else {
            Health::Ok { busy }
        }
    }
}

/// Marks the model thread ended when it returns or unwinds.
struct EndGuard(Arc<Liveness>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Relaxed);
    }
}

/// The handle of the running worker: submit jobs, then [`Worker::stop`] it.
#[derive(Debug)]
pub struct Worker {
    tx: SyncSender<Job>,
    thread: JoinHandle<()>,
    queue: usize,
    metrics: Arc<Metrics>,
    liveness: Arc<Liveness>,
}

/// The sender side of the worker's queue, cloneable into request handlers.
#[derive(Debug, Clone)]
pub struct Submitter {
    tx: SyncSender<Job>,
    queue: usize,
    metrics: Arc<Metrics>,
}

impl Submitter {
    /// Queues a job, or answers [`ServeError::Busy`] at once when the queue is full.
    pub fn submit(&self, job: Job) -> Result<()> {
        self.metrics.enqueued();
        self.tx.try_send(job).map_err(|e| {
            self.metrics.dequeued();
            match e {
                TrySendError::Full(_) => ServeError::Busy { queued: self.queue },
                TrySendError::Disconnected(_) => ServeError::WorkerGone,
            }
        })
    }
}

impl Worker {
    /// Loads the checkpoint on a new thread and starts answering jobs there. Returns once the
    /// model is loaded (or failed to load).
    pub fn start(
        spec: &ModelSpec,
        limits: Limits,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, Loaded)> {
        let (tx, rx) = mpsc::sync_channel::<Job>(limits.queue.max(1));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Loaded>>();
        let spec = spec.clone();
        let worker_metrics = Arc::clone(&metrics);
        let liveness = Arc::new(Liveness::default());
        let guard = EndGuard(Arc::clone(&liveness));
        let thread = std::thread::Builder::new()
            .name("model".into())
            .spawn(move || {
                let guard = guard;
                let predictor = match load(&spec) {
                    Ok((p, loaded)) => {
                        let _ = ready_tx.send(Ok(loaded));
                        p
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                run(&predictor, &rx, limits, &worker_metrics, &guard.0);
                tracing::debug!("model worker stopped");
            })?;
        let loaded = ready_rx
            .recv()
            .map_err(|_| ServeError::Predict("the model thread ended while loading".into()))?;
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok((
            Self {
                tx,
                thread,
                queue: limits.queue.max(1),
                metrics,
                liveness,
            },
            loaded,
        ))
    }

    /// What `/health` reads of the model thread.
    pub fn liveness(&self) -> Arc<Liveness> {
        Arc::clone(&self.liveness)
    }

    /// A sender for request handlers.
    pub fn submitter(&self) -> Submitter {
        Submitter {
            tx: self.tx.clone(),
            queue: self.queue,
            metrics: Arc::clone(&self.metrics),
        }
    }

    /// Closes the queue and waits for the worker to answer what is queued and end. Every
    /// [`Submitter`] must be dropped first, or this waits for them.
    pub fn stop(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("the model worker panicked");
        }
    }
}

/// Loads and configures the predictor the way `evaluate predict` does with the same flags.
fn load(spec: &ModelSpec) -> Result<(Predictor, Loaded)> {
    let opts = InferOptions {
        batch_size: spec.batch_size,
        device: spec.device,
        progress: false,
    };
    let predictor = Predictor::load(&spec.checkpoint, spec.max_length, opts)?
        .with_top_k(spec.top_k)
        .with_positive(spec.positive_label.clone())?;
    let source = evaluate::predict::DecisionSource {
        evaluation: spec.evaluation.clone(),
        out_of_scope_label: spec.out_of_scope_label.clone(),
        reject_below: spec.reject_below,
    };
    let (predictor, applied) = predictor
        .with_decisions(&source)
        .map_err(|e| ServeError::Config(format!("{}: {e}", spec.checkpoint.display())))?;
    let task = predictor.task();
    let labels = predictor.labels().to_vec();
    let ranking = task != TaskKind::Token && (spec.positive_label.is_some() || labels.len() == 2);
    let loaded = Loaded {
        task,
        labels,
        thresholds: applied.thresholds,
        reject: applied.reject,
        cost: applied.cost,
        temperature: applied.temperature,
        ranking,
        encoder: predictor.encoder().clone(),
    };
    Ok((predictor, loaded))
}

/// The worker loop: batches until the queue is closed and empty.
fn run(
    predictor: &Predictor,
    rx: &Receiver<Job>,
    limits: Limits,
    metrics: &Metrics,
    liveness: &Liveness,
) {
    let mut next: Option<Job> = None;
    let mut chooser = ThreadChooser::new(limits.batch_threads, tch::get_num_threads());
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => {
                    metrics.dequeued();
                    job
                }
                Err(_) => return,
            },
        };
        let started = Instant::now();
        let mut tokens = first.tokens;
        let mut batch = vec![first];
        while tokens < limits.max_batch_tokens {
            let left = limits.max_wait().saturating_sub(started.elapsed());
            let job = match rx.try_recv() {
                Ok(job) => job,
                Err(_) if left.is_zero() => break,
                Err(_) => match rx.recv_timeout(left) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                },
            };
            metrics.dequeued();
            if job.reply.is_closed() {
                metrics.cancelled(1);
                continue;
            }
            if tokens + job.tokens > limits.max_batch_tokens {
                next = Some(job);
                break;
            }
            tokens += job.tokens;
            batch.push(job);
        }
        let before = batch.len();
        batch.retain(|j| !j.reply.is_closed());
        metrics.cancelled(before - batch.len());
        if batch.is_empty() {
            continue;
        }
        liveness.busy_from(Instant::now());
        let one = chooser.one_thread(tokens);
        let narrow = Narrow::enter(one);
        let t0 = Instant::now();
        answer(predictor, batch, metrics);
        drop(narrow);
        chooser.record(tokens, one, t0.elapsed().as_secs_f64());
        liveness.idle();
    }
}

/// Chooses, batch by batch, between all libtorch threads and one: per batch-size class
/// (powers of two of sub-words) it keeps a moving average of the seconds per sub-word of
/// each choice, takes the faster, and re-measures the other every [`EXPLORE_EVERY`]th batch
/// of the class, so it follows the machine's load as it changes. Idle, a batch is faster on
/// all threads; beside a busy process, one thread waits for no second core and wins.
#[derive(Debug)]
struct ThreadChooser {
    adaptive: bool,
    /// Per size class: (batches seen, [average seconds per sub-word on all threads, on one]).
    classes: std::collections::HashMap<u32, (u64, [Option<f64>; 2])>,
}

/// Every this many batches of a size class, the slower choice is measured again.
const EXPLORE_EVERY: u64 = 16;
/// Weight of the newest measurement in the moving averages.
const EWMA_WEIGHT: f64 = 0.3;

impl ThreadChooser {
    fn new(mode: crate::config::BatchThreads, threads: i32) -> Self {
        Self {
            adaptive: mode == crate::config::BatchThreads::Adaptive && threads > 1,
            classes: std::collections::HashMap::new(),
        }
    }

    fn class(tokens: usize) -> u32 {
        tokens.max(1).ilog2()
    }

    /// Whether a batch of `tokens` sub-words runs on one thread.
    fn one_thread(&mut self, tokens: usize) -> bool {
        if !self.adaptive {
            return false;
        }
        let (seen, avg) = self.classes.entry(Self::class(tokens)).or_default();
        *seen += 1;
        match *avg {
            [None, _] => false,
            [_, None] => true,
            [Some(all), Some(one)] => {
                let one_faster = one < all;
                if *seen % EXPLORE_EVERY == 0 {
                    !one_faster
                } else {
                    one_faster
                }
            }
        }
    }

    /// Records how long a batch took.
    fn record(&mut self, tokens: usize, one: bool, seconds: f64) {
        if !self.adaptive {
            return;
        }
        let per_token = seconds / tokens.max(1) as f64;
        let (_, avg) = self.classes.entry(Self::class(tokens)).or_default();
        let slot = &mut avg[usize::from(one)];
        *slot = Some(match *slot {
            None => per_token,
            Some(a) => a + EWMA_WEIGHT * (per_token - a),
        });
    }
}

/// A batch on one libtorch thread: the thread count drops to 1 while it lives and is
/// restored after. libtorch's count is per OS thread under OpenMP, and only the model thread
/// runs the model.
struct Narrow(Option<i32>);

impl Narrow {
    fn enter(one: bool) -> Self {
        let threads = tch::get_num_threads();
        if one && threads > 1 {
            tch::set_num_threads(1);
            Self(Some(threads))
        } else {
            Self(None)
        }
    }
}

impl Drop for Narrow {
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            tch::set_num_threads(n);
        }
    }
}

/// Runs one batch and sends each job its answer.
fn answer(predictor: &Predictor, batch: Vec<Job>, metrics: &Metrics) {
    let t0 = Instant::now();
    let inputs: Vec<&[Input]> = batch.iter().map(|j| j.inputs.as_slice()).collect();
    let results: Vec<Answer> = match guarded(predictor, &inputs) {
        Ok(r) => r.into_iter().map(Ok).collect(),
        Err(_) if batch.len() > 1 => inputs
            .iter()
            .map(|one| guarded(predictor, std::slice::from_ref(one)).map(|mut r| r.remove(0)))
            .collect(),
        Err(e) => vec![Err(e)],
    };
    metrics.batch(BatchStats {
        requests: batch.len(),
        inputs: inputs.iter().map(|i| i.len()).sum(),
        tokens: batch.iter().map(|j| j.tokens).sum(),
        seconds: t0.elapsed().as_secs_f64(),
    });
    for (job, result) in batch.into_iter().zip(results) {
        // The client may have gone meanwhile; nothing to do then.
        let _ = job.reply.send(result);
    }
}

/// [`predict`] with panics caught.
fn guarded(predictor: &Predictor, jobs: &[&[Input]]) -> Result<Vec<Vec<Value>>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| predict(predictor, jobs))).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Err(ServeError::Predict(format!("the model panicked: {what}")))
    })
}

/// The results of several jobs' inputs, predicted in one call, split back per job with
/// `line` counted from 1 within each.
fn predict(predictor: &Predictor, jobs: &[&[Input]]) -> Result<Vec<Vec<Value>>> {
    let all: Vec<&Input> = jobs.iter().flat_map(|j| j.iter()).collect();
    let lines = match predictor.task() {
        TaskKind::Token => {
            let texts: Vec<&str> = all
                .iter()
                .map(|i| match i {
                    Input::Text(t) => Ok(t.as_str()),
                    _ => Err(ServeError::BadRequest(
                        "a token classifier labels plain texts".into(),
                    )),
                })
                .collect::<Result<_>>()?;
            predictor.predict_lines(&texts, 1)?
        }
        TaskKind::Sequence | TaskKind::Multilabel => {
            let json: Vec<String> = all.iter().map(|i| i.json_line()).collect();
            let refs: Vec<&str> = json.iter().map(String::as_str).collect();
            predictor.predict_json_lines(&refs, 1, "request")?
        }
    };
    if lines.len() != all.len() {
        return Err(ServeError::Predict(format!(
            "{} results for {} inputs",
            lines.len(),
            all.len()
        )));
    }
    let mut lines = lines.into_iter();
    jobs.iter()
        .map(|job| {
            (1..=job.len())
                .map(|n| {
                    let line = lines.next().unwrap_or_default();
                    let mut value: Value = serde_json::from_str(&line)
                        .map_err(|e| ServeError::Predict(format!("unreadable result: {e}")))?;
                    if let Some(obj) = value.as_object_mut() {
                        obj.insert("line".into(), Value::from(n));
                    }
                    Ok(value)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A narrowed batch runs on one thread, and the count comes back after it.
    #[test]
    fn a_narrowed_batch_runs_on_one_thread_and_restores_the_count() {
        tch::set_num_threads(2);
        let narrow = Narrow::enter(true);
        assert_eq!(tch::get_num_threads(), 1);
        drop(narrow);
        assert_eq!(tch::get_num_threads(), 2);
        let wide = Narrow::enter(false);
        assert_eq!(tch::get_num_threads(), 2);
        drop(wide);
    }

    /// The chooser measures both choices, keeps the faster, re-measures the other now and
    /// then, and follows a change of which is faster; per size class; `all` never narrows.
    #[test]
    fn the_chooser_takes_the_faster_choice_and_follows_a_change() {
        let mut c = ThreadChooser::new(crate::config::BatchThreads::Adaptive, 2);
        // Seconds per batch of 20 sub-words: one thread 1 ms, all threads 2 ms (a busy core).
        let run = |c: &mut ThreadChooser, n: usize, one_ms: f64, all_ms: f64| {
            let mut ones = 0;
            for _ in 0..n {
                let one = c.one_thread(20);
                ones += usize::from(one);
                c.record(20, one, if one { one_ms } else { all_ms } / 1000.0);
            }
            ones
        };
        let ones = run(&mut c, 64, 1.0, 2.0);
        assert!((58..64).contains(&ones), "one thread in {ones} of 64");
        // The neighbour leaves: all threads become faster, and the chooser follows.
        // (A re-measurement every 16th batch moves the average 30 % of the way: about four
        // of them, 64 batches, to switch.)
        run(&mut c, 96, 1.0, 0.5);
        let ones = run(&mut c, 64, 1.0, 0.5);
        assert!(ones <= 6, "one thread in {ones} of 64 after the change");
        // Another size class starts from its own measurements.
        assert!(!c.one_thread(500));
        let mut off = ThreadChooser::new(crate::config::BatchThreads::All, 2);
        assert!((0..32).all(|_| !off.one_thread(20)));
    }

    #[test]
    fn health_is_ok_idle_or_briefly_busy_stuck_past_the_timeout_and_down_once_ended() {
        let live = Arc::new(Liveness::default());
        let t0 = live.epoch + Duration::from_secs(5);
        let timeout = Duration::from_secs(30);
        assert_eq!(
            live.check_at(t0, timeout),
            Health::Ok {
                busy: Duration::ZERO
            }
        );
        live.busy_from(t0);
        assert_eq!(
            live.check_at(t0 + Duration::from_secs(2), timeout),
            Health::Ok {
                busy: Duration::from_secs(2)
            }
        );
        assert_eq!(
            live.check_at(t0 + Duration::from_secs(31), timeout),
            Health::Stuck {
                busy: Duration::from_secs(31)
            }
        );
        live.idle();
        assert_eq!(
            live.check_at(t0 + Duration::from_secs(40), timeout),
            Health::Ok {
                busy: Duration::ZERO
            }
        );
        drop(EndGuard(Arc::clone(&live)));
        assert_eq!(live.check_at(t0, timeout), Health::Down);
    }

    #[test]
    fn a_panicking_model_thread_reads_as_down() {
        let live = Arc::new(Liveness::default());
        let guard = EndGuard(Arc::clone(&live));
        let thread = std::thread::spawn(move || {
            let _guard = guard;
            panic!("model thread failure");
        });
        assert!(thread.join().is_err());
        assert_eq!(live.check_at(Instant::now(), Duration::MAX), Health::Down);
    }
}
