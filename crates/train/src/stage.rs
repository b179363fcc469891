//! The `train` pipeline stage: tokenize artifact + pretrained model in, checkpoints out.
//!
//! Writes `checkpoints/best` and `checkpoints/last` (HF model directories with
//! `trainer_state/`) and `history.jsonl`; the manifest metrics carry the best dev score,
//! steps, wall time, tokens/s and peak RSS.

use std::path::{Path, PathBuf};

use anyhow::Context;
use flowcore::schema;
use flowcore::{CoreError, Globals, InputSpec, Resolved, Stage, StageContext, StageOutcome};

use crate::collective::{Dist, Launch};
use crate::distributed::{WorkerJob, free_port, spawn_workers, threads_per_process};
use crate::error::{Result, TrainError};
/// The training data of a tokenize artifact (the stage's input), for callers that read it
/// themselves.
pub use crate::inputs::read_data;
use crate::params::TrainParams;
use crate::signal::termination_flag;
use crate::trainer::{RunOptions, RunPaths, TrainSummary, train};

/// Output format version of the stage; bump when the files change meaning.
pub const STAGE_VERSION: u32 = 1;

/// The train stage (kind `"train"`), registered with the pipeline runner.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainStage;

/// The files of a model directory whose content decides the training result: `config.json`
/// and the weights (single file or shards).
pub fn model_files(dir: &Path) -> flowcore::Result<Vec<PathBuf>> {
    let config = dir.join(bert::checkpoint::CONFIG_FILE);
    if !config.is_file() {
        return Err(CoreError::Param {
            key: "model".into(),
            message: format!(
                "{}: no config.json; expected an HF model directory",
                dir.display()
            ),
        });
    }
    let mut files = vec![config];
    files.extend(
        bert::checkpoint::weight_files(dir).map_err(|e| CoreError::Param {
            key: "model".into(),
            message: e.to_string(),
        })?,
    );
    Ok(files)
}

impl Stage for TrainStage {
    fn kind(&self) -> &'static str {
        "train"
    }

    fn version(&self) -> u32 {
        STAGE_VERSION
    }

    fn inputs(&self) -> &'static [InputSpec] {
        &[InputSpec {
            kind: "tokenize",
            required: true,
        }]
    }

    fn resolve(&self, raw: &serde_json::Value, globals: &Globals) -> flowcore::Result<Resolved> {
        let mut params: TrainParams = flowcore::params::parse(raw)?;
        params.validate().map_err(|e| match e {
            TrainError::Param { key, message } => CoreError::Param { key, message },
            other => CoreError::Invalid(other.to_string()),
        })?;
        let model = params
            .model
            .clone()
            .or_else(|| globals.model.clone())
            .ok_or_else(|| CoreError::Param {
                key: "model".into(),
                message: "no pretrained model directory: set `model` in the pipeline or in the stage's params".into(),
            })?;
        let mut raw_inputs = model_files(&model)?;
        params.model = Some(model);
        if let Some(dir) = &params.resume_from {
            raw_inputs.push(dir.clone());
        }
        Ok(Resolved {
            params: flowcore::params::to_value(&params)?,
            raw_inputs,
        })
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let params: TrainParams = ctx.params()?;
        let tokenized = ctx.input("tokenize")?;
        // Verifies the labels file against the manifest before reading.
        tokenized.file(schema::LABELS_FILE)?;
        let data = read_data(&tokenized.dir)
            .with_context(|| format!("reading {}", tokenized.dir.display()))?;
        if let Some(task) = ctx.globals.task
            && task != data.labels.task
        {
            anyhow::bail!(
                "the pipeline's task is `{task}` but the tokenize artifact {} holds `{}` data",
                tokenized.dir.display(),
                data.labels.task
            );
        }
        let model_dir = params
            .model
            .clone()
            .context("params lack the resolved `model` (resolve was skipped)")?;
        let paths = RunPaths {
            tokenizer_from: Some(model_dir.clone()),
            model_dir,
            out_dir: ctx.out_dir.to_path_buf(),
            work_dir: Some(ctx.work_dir.to_path_buf()),
        };
        let mut params = params;
        // A launcher (torchrun, Slurm) decides the world; else `processes` local workers.
        let (launch, local) = match Launch::from_env()? {
            Some(launch) => (Some(launch), false),
            None if params.processes > 1 => {
                params.threads = Some(threads_per_process(params.threads, params.processes));
                let launch = Launch {
                    rank: 0,
                    world_size: params.processes,
                    local_rank: 0,
                    local_world_size: params.processes,
                    master_addr: "127.0.0.1".into(),
                    master_port: free_port()?,
                };
                (Some(launch), true)
            }
            None => (None, false),
        };
        if let Some(l) = &launch
            && l.rank != 0
        {
            anyhow::bail!(
                "rank {} of a launched run reached the store; non-zero ranks run `train` (which trains without writing)",
                l.rank
            );
        }
        let timeout = std::time::Duration::from_secs(params.dist_timeout_s);
        let workers = match &launch {
            Some(l) if local => {
                let job = WorkerJob {
                    tokenize_dir: tokenized.dir.clone(),
                    params: serde_json::to_value(&params)?,
                };
                tracing::info!(
                    processes = l.world_size,
                    threads_each = params.threads,
                    "starting {} local worker process(es)",
                    l.world_size - 1
                );
                Some(spawn_workers(
                    l,
                    &job,
                    &ctx.work_dir.join("worker-job.json"),
                )?)
            }
            _ => None,
        };
        let run = || -> Result<TrainSummary> {
            let dist = launch
                .as_ref()
                .map(|l| Dist::join(l, timeout).map(std::sync::Arc::new))
                .transpose()?;
            train(
                &data,
                &params,
                &paths,
                &RunOptions {
                    progress: true,
                    abort_after: None,
                    dist,
                    stop: Some(termination_flag()),
                    watch: ctx.watch.clone(),
                },
            )
        };
        let summary = match (run(), workers) {
            (Ok(summary), Some(workers)) => {
                workers.finish(timeout)?;
                summary
            }
            (Ok(summary), None) => summary,
            (Err(err), Some(workers)) => {
                let why = workers.explain(std::time::Duration::from_secs(10));
                return Err(anyhow::anyhow!("{err}{why}"));
            }
            (Err(err), None) => return Err(err.into()),
        };
        tracing::info!(
            steps = summary.steps,
            best = ?summary.best.as_ref().map(|b| b.value),
            tokens_per_s = format!("{:.0}", summary.tokens_per_second),
            "training done"
        );
        Ok(StageOutcome {
            metrics: serde_json::to_value(&summary)?,
            rows: Default::default(),
        })
    }
}
