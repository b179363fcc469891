//! Data-parallel training across processes with `torch.distributed` (the process group
//! itself is [`crate::collective`]): starting the workers of a run on one machine and running
//! a non-zero rank.
//!
//! - **Launch contract**: the torchrun variables (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//!   `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`), or Slurm's (`SLURM_PROCID`,
//!   `SLURM_NTASKS`, `SLURM_LOCALID`, `SLURM_NTASKS_PER_NODE`, with `MASTER_ADDR` set by the
//!   job script) when those are absent ([`Launch::from_env`]). So `torchrun --no-python
//!   train …`, `srun train …` and a Kubernetes PyTorchJob start a run unchanged.
//! - **One machine**: `train.processes = N` makes the stage (rank 0) start `N - 1` workers of
//!   its own executable with those variables set ([`spawn_workers`]); each worker runs
//!   [`worker_main`], reads the same tokenize artifact and trains its shard, writing nothing.
//! - **Semantics** (in [`crate::trainer`]): an optimizer step takes `grad_accum * world`
//!   micro-batches from the same sampler as one process; rank `r` computes micro-batches
//!   `r * grad_accum ..` of them, the loss is divided by the labelled tokens (or examples) of
//!   the whole global batch, gradients are summed across ranks, clipping sees the global norm
//!   and every rank takes the same step. Dropout is seeded per micro-batch from
//!   `(seed, step, index in the global batch)`, so N processes follow one process with
//!   accumulation N exactly. Only rank 0 evaluates and writes checkpoints; at every
//!   evaluation point the ranks compare a weight checksum.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::collective::{Dist, Launch, sharded_infer};
use crate::error::{Result, TrainError};
use crate::params::TrainParams;
use crate::trainer::{RunOptions, RunPaths, train};

/// Environment variable naming a worker's job file; a binary that sees it runs
/// [`worker_main`] instead of its command line.
pub const WORKER_ENV: &str = "BERTFLOW_TRAIN_WORKER";

/// What a spawned worker needs to train its shard (written as JSON next to the run).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WorkerJob {
    /// The tokenize artifact directory.
    pub tokenize_dir: PathBuf,
    /// The resolved train params (`model` set).
    pub params: serde_json::Value,
}

/// The CPU threads each of `processes` local workers gets.
pub fn threads_per_process(threads: Option<usize>, processes: usize) -> usize {
    let total = threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    (total / processes.max(1)).max(1)
}

/// A free TCP port on 127.0.0.1 for the rendezvous of local workers.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The executable workers run: `BERTFLOW_WORKER_EXE`, else this process's own.
fn worker_exe() -> Result<PathBuf> {
    match std::env::var_os("BERTFLOW_WORKER_EXE") {
        Some(p) => Ok(PathBuf::from(p)),
        None => Ok(std::env::current_exe()?),
    }
}

/// Local workers of a run started by the stage; killed when dropped.
#[derive(Debug)]
pub struct Workers {
    children: Vec<(usize, Child)>,
}

impl Workers {
    /// Waits up to `timeout` for every worker to exit; an error names the ranks that failed.
    pub fn finish(mut self, timeout: Duration) -> Result<()> {
        let failures = self.reap(timeout);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TrainError::Distributed(failures.join("; ")))
        }
    }

    /// After rank 0 failed: what became of the workers (they exit once rank 0's sockets
    /// close; any still running after `timeout` is killed).
    pub fn explain(mut self, timeout: Duration) -> String {
        let failures = self.reap(timeout);
        if failures.is_empty() {
            String::new()
        } else {
            format!(" ({})", failures.join("; "))
        }
    }

    fn reap(&mut self, timeout: Duration) -> Vec<String> {
        let clock = Instant::now();
        let mut failures = Vec::new();
        for (rank, child) in &mut self.children {
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if clock.elapsed() < timeout => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Ok(None) | Err(_) => break None,
                }
            };
            match status {
                Some(s) if s.success() => {}
                Some(s) => failures.push(format!(
                    "worker rank {rank} (pid {}) {}",
                    child.id(),
                    describe(s)
                )),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!(
                        "worker rank {rank} (pid {}) did not exit within {:.0} s and was killed",
                        child.id(),
                        timeout.as_secs_f64()
                    ));
                }
            }
        }
        self.children.clear();
        failures
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(9)) => "was killed (SIGKILL)".into(),
        (None, Some(15)) => "was terminated (SIGTERM)".into(),
        (None, Some(sig)) => format!("died of signal {sig}"),
        (None, None) => "ended abnormally".into(),
    }
}

/// Starts ranks `1..launch.world_size` of a local run: this executable with the torchrun
/// variables and [`WORKER_ENV`] pointing at `job` (written to `job_file`).
pub fn spawn_workers(launch: &Launch, job: &WorkerJob, job_file: &Path) -> Result<Workers> {
    let text = serde_json::to_string_pretty(job).map_err(|source| TrainError::Json {
        path: job_file.to_path_buf(),
        source,
    })?;
    fs_err::write(job_file, text)?;
    let exe = worker_exe()?;
    let mut workers = Workers {
        children: Vec::new(),
    };
    for rank in 1..launch.world_size {
        let me = Launch {
            rank,
            local_rank: rank,
            ..launch.clone()
        };
        let mut cmd = Command::new(&exe);
        cmd.env(WORKER_ENV, job_file)
            .envs(me.vars())
            .stdin(std::process::Stdio::null());
        let child = cmd.spawn().map_err(|e| {
            TrainError::Distributed(format!(
                "starting worker rank {rank} ({}): {e}",
                exe.display()
            ))
        })?;
        tracing::debug!(rank, pid = child.id(), "worker started");
        workers.children.push((rank, child));
    }
    Ok(workers)
}

/// Entry point of a worker process: when [`WORKER_ENV`] is set, trains this rank's shard of
/// the job and returns the exit code; `None` when this process is not a worker. Binaries
/// that run the train stage call it first thing in `main`.
pub fn worker_main() -> Option<ExitCode> {
    let job_file = std::env::var_os(WORKER_ENV)?;
    flowcore::logging::init(0, true);
    let rank = std::env::var("RANK").unwrap_or_else(|_| "?".into());
    match run_worker(Path::new(&job_file)) {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(err) => {
            eprintln!("error: worker rank {rank}: {err}");
            Some(ExitCode::FAILURE)
        }
    }
}

fn run_worker(job_file: &Path) -> Result<()> {
    let _ = tch::get_num_threads();
    torch_link::check_libtorch().map_err(TrainError::Distributed)?;
    let text = fs_err::read_to_string(job_file)?;
    let job: WorkerJob = serde_json::from_str(&text).map_err(|source| TrainError::Json {
        path: job_file.to_path_buf(),
        source,
    })?;
    let params: TrainParams = flowcore::params::parse(&job.params)?;
    run_rank(&job.tokenize_dir, &params)
}

/// Trains this process's shard as a non-zero rank of the launch in the environment: reads
/// the tokenize artifact, joins the group, follows rank 0 and writes nothing.
pub fn run_rank(tokenize_dir: &Path, params: &TrainParams) -> Result<()> {
    let launch = Launch::from_env()?.ok_or_else(|| {
        TrainError::Distributed("a worker needs the torchrun variables (WORLD_SIZE > 1)".into())
    })?;
    let data = crate::inputs::read_data(tokenize_dir)?;
    let model_dir = params.model.clone().ok_or_else(|| TrainError::Param {
        key: "model".into(),
        message: "the worker's params lack the resolved model directory".into(),
    })?;
    let scratch = std::env::temp_dir().join(format!(
        "bertflow-rank{}-{}",
        launch.rank,
        std::process::id()
    ));
    let paths = RunPaths {
        model_dir,
        tokenizer_from: None,
        out_dir: scratch,
        work_dir: None,
    };
    let dist = Dist::join(&launch, Duration::from_secs(params.dist_timeout_s))?;
    let opts = RunOptions {
        dist: Some(Arc::new(dist)),
        stop: Some(crate::signal::termination_flag()),
        ..Default::default()
    };
    train(&data, params, &paths, &opts).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_split_between_local_processes() {
        assert_eq!(threads_per_process(Some(8), 2), 4);
        assert_eq!(threads_per_process(Some(2), 4), 1);
        assert_eq!(threads_per_process(Some(3), 1), 3);
    }
}
