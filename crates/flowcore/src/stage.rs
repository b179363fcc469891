//! The stage interface and the one code path that plans and executes a stage run.
//!
//! A stage says who it is ([`Stage::kind`], [`Stage::version`]), what it reads
//! ([`Stage::inputs`]), how to validate its params ([`Stage::resolve`]) and how to run
//! ([`Stage::run`]). [`plan`] turns params and input fingerprints into a fingerprint without
//! running anything (so `status` and `--dry-run` are exact); [`execute`] runs a plan into the
//! store, or skips it when the artifact already exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;

use crate::hash::{fingerprint, sha256_path};
use crate::store::{Artifact, Host, InputRef, LAYOUT_VERSION, Manifest, RawInput, Store};
use crate::{CoreError, Result, TaskKind};

/// Pipeline-level settings every stage may read; a stage folds the ones it uses into its
/// resolved params so they count in its fingerprint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Globals {
    /// Pipeline name (the store's sub-directory).
    pub pipeline: String,
    /// Token or sequence classification.
    pub task: Option<TaskKind>,
    /// Pretrained model directory.
    pub model: Option<PathBuf>,
}

/// An upstream stage kind a stage reads.
#[derive(Debug, Clone, Copy)]
pub struct InputSpec {
    /// The kind of stage (e.g. `"ingest"`).
    pub kind: &'static str,
    /// Whether the stage cannot run without it.
    pub required: bool,
}

/// Params after validation, with defaults filled in, plus the raw files they name.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The resolved params (what goes into the manifest and the fingerprint).
    pub params: serde_json::Value,
    /// Files or directories read directly (not through artifacts); hashed before running.
    pub raw_inputs: Vec<PathBuf>,
}

/// What a run reports back besides its files.
#[derive(Debug, Clone, Default)]
pub struct StageOutcome {
    /// Metrics recorded in the manifest.
    pub metrics: serde_json::Value,
    /// Row counts of table files, by path relative to the output directory.
    pub rows: BTreeMap<String, u64>,
}

/// Everything a running stage may look at.
#[derive(Debug)]
pub struct StageContext<'a> {
    /// Instance name of the stage in the pipeline.
    pub name: &'a str,
    /// Resolved params.
    pub params: &'a serde_json::Value,
    /// Pipeline-level settings.
    pub globals: &'a Globals,
    /// Input artifacts by upstream instance name.
    pub inputs: &'a BTreeMap<String, Artifact>,
    /// The (temporary) directory to write outputs into.
    pub out_dir: &'a Path,
    /// A directory of this run's fingerprint that survives a failed or killed run and is
    /// removed after a successful commit: where a long stage keeps what a re-run can resume
    /// from (see [`Store::work_dir`]).
    pub work_dir: &'a Path,
    /// Who watches the run's evaluation points and may stop it (see [`Monitor`]); `None` in
    /// an ordinary run.
    pub watch: Option<Watch>,
}

/// One evaluation of a run in progress: what a training stage tells its [`Monitor`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalPoint {
    /// Optimizer steps done.
    pub step: u64,
    /// Steps the run will make in all.
    pub total_steps: u64,
    /// Name of the dev metric (`primary`, the metric the run keeps its best checkpoint by).
    pub metric: String,
    /// Its value (higher is better).
    pub value: f64,
}

/// The monitor's answer at an evaluation point.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go on.
    Continue,
    /// Stop now, for this reason: the stage returns an error naming it and commits nothing
    /// (its work directory keeps what a later full run resumes from).
    Stop(String),
}

/// Watches the evaluation points of a long stage: the hook through which a scheduler
/// (successive halving in `pipeline improve`) stops runs that trail. Not part of a stage's
/// params or fingerprint: a stopped run commits no artifact, so what is committed is always
/// the run its params describe.
pub trait Monitor: Send + Sync + std::fmt::Debug {
    /// Called after each dev evaluation of stage instance `stage`.
    fn evaluated(&self, stage: &str, point: &EvalPoint) -> Verdict;
}

/// A [`Monitor`] and the stage instance it watches: what a stage hands down to its loop.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The stage instance's name.
    pub stage: String,
    /// The monitor.
    pub monitor: Arc<dyn Monitor>,
}

impl Watch {
    /// The monitor's verdict on `point`.
    pub fn evaluated(&self, point: &EvalPoint) -> Verdict {
        self.monitor.evaluated(&self.stage, point)
    }
}

impl StageContext<'_> {
    /// The params as the stage's typed struct.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T> {
        crate::params::parse(self.params)
    }

    /// The input artifact produced by a stage of `kind` (or the instance named `kind`).
    pub fn input(&self, kind: &str) -> Result<&Artifact> {
        self.optional_input(kind)
            .ok_or_else(|| CoreError::MissingInput {
                stage: self.name.to_string(),
                kind: kind.to_string(),
            })
    }

    /// Like [`Self::input`], `None` when absent.
    pub fn optional_input(&self, kind: &str) -> Option<&Artifact> {
        self.inputs
            .get(kind)
            .or_else(|| self.inputs.values().find(|a| a.manifest.kind == kind))
    }
}

/// One pipeline stage. Implementations live in the stage crates.
pub trait Stage: Send + Sync {
    /// The stage kind, e.g. `"ingest"`.
    fn kind(&self) -> &'static str;
    /// Output format version; bump it when the files a stage writes change meaning.
    fn version(&self) -> u32;
    /// Upstream stage kinds this stage reads by default.
    fn inputs(&self) -> &'static [InputSpec];
    /// Validate raw params (from the pipeline file or the command line) into resolved params.
    /// Errors name the key and what was expected (see [`crate::params::parse`]).
    fn resolve(&self, raw: &serde_json::Value, globals: &Globals) -> Result<Resolved>;
    /// Run: read `ctx.inputs`, write files into `ctx.out_dir`.
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome>;
}

/// A stage run worked out but not executed: what would be its fingerprint and why.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Instance name.
    pub instance: String,
    /// Stage kind.
    pub kind: String,
    /// Stage version.
    pub version: u32,
    /// Resolved params.
    pub resolved: Resolved,
    /// Upstream instances and their fingerprints.
    pub inputs: Vec<InputRef>,
    /// Raw inputs with content hashes.
    pub raw: Vec<RawInput>,
    /// The fingerprint.
    pub fingerprint: String,
}

/// Resolve params, hash raw inputs and compute the fingerprint of a stage run.
pub fn plan(
    stage: &dyn Stage,
    instance: &str,
    raw_params: &serde_json::Value,
    globals: &Globals,
    inputs: Vec<InputRef>,
) -> Result<Plan> {
    let resolved = stage.resolve(raw_params, globals)?;
    let mut raw = Vec::new();
    for path in &resolved.raw_inputs {
        if !path.exists() {
            return Err(CoreError::Param {
                key: "(input file)".into(),
                message: format!("{}: no such file or directory", path.display()),
            });
        }
        raw.push(RawInput {
            path: path.clone(),
            sha256: sha256_path(path)?,
        });
    }
    let fp = fingerprint(&serde_json::json!({
        "kind": stage.kind(),
        "version": stage.version(),
        "params": resolved.params,
        "inputs": inputs.iter().map(|i| (i.stage.clone(), i.fingerprint.clone())).collect::<BTreeMap<_, _>>(),
        "raw": raw.iter().map(|r| r.sha256.clone()).collect::<Vec<_>>(),
    }));
    Ok(Plan {
        instance: instance.to_string(),
        kind: stage.kind().to_string(),
        version: stage.version(),
        resolved,
        inputs,
        raw,
        fingerprint: fp,
    })
}

/// The result of [`execute`].
#[derive(Debug)]
pub struct Executed {
    /// The artifact (new or existing).
    pub artifact: Artifact,
    /// Whether the stage actually ran.
    pub ran: bool,
}

/// Run a planned stage into the store unless its artifact exists (or `force`).
///
/// Holds the stage's lock from the existence check to the commit, so two concurrent runs of
/// one pipeline neither run the same stage twice nor corrupt each other's directories.
pub fn execute(
    store: &Store,
    stage: &dyn Stage,
    plan: &Plan,
    globals: &Globals,
    inputs: &BTreeMap<String, Artifact>,
    force: bool,
) -> Result<Executed> {
    execute_watched(store, stage, plan, globals, inputs, force, None)
}

/// [`execute`] with a [`Monitor`] that sees the stage's evaluation points and may stop it.
pub fn execute_watched(
    store: &Store,
    stage: &dyn Stage,
    plan: &Plan,
    globals: &Globals,
    inputs: &BTreeMap<String, Artifact>,
    force: bool,
    monitor: Option<Arc<dyn Monitor>>,
) -> Result<Executed> {
    let lock = store.lock(&plan.instance)?;
    if !force && store.exists(&plan.instance, &plan.fingerprint) {
        let artifact =
            Artifact::open_unverified(&store.artifact_dir(&plan.instance, &plan.fingerprint))?;
        store.set_latest(&plan.instance, &plan.fingerprint)?;
        return Ok(Executed {
            artifact,
            ran: false,
        });
    }
    let tmp = store.begin(&plan.instance, &plan.fingerprint, &lock)?;
    let work_dir = store.work_dir(&plan.instance, &plan.fingerprint);
    fs_err::create_dir_all(&work_dir)?;
    let started = crate::store::now_rfc3339();
    let clock = Instant::now();
    tracing::info!(stage = %plan.instance, fingerprint = %plan.fingerprint, "running");
    let ctx = StageContext {
        name: &plan.instance,
        params: &plan.resolved.params,
        globals,
        inputs,
        out_dir: &tmp,
        work_dir: &work_dir,
        watch: monitor.map(|monitor| Watch {
            stage: plan.instance.clone(),
            monitor,
        }),
    };
    let outcome = match stage.run(&ctx) {
        Ok(outcome) => outcome,
        Err(source) => {
            // Leave nothing half-written behind; the error is what matters.
            let _ = fs_err::remove_dir_all(&tmp);
            return Err(CoreError::Stage {
                stage: plan.instance.clone(),
                source,
            });
        }
    };
    let manifest = Manifest {
        layout_version: LAYOUT_VERSION,
        stage: plan.instance.clone(),
        kind: plan.kind.clone(),
        stage_version: plan.version,
        fingerprint: plan.fingerprint.clone(),
        params: plan.resolved.params.clone(),
        inputs: plan.inputs.clone(),
        raw_inputs: plan.raw.clone(),
        files: Vec::new(),
        started,
        finished: crate::store::now_rfc3339(),
        duration_s: clock.elapsed().as_secs_f64(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        host: Host::current(),
        metrics: outcome.metrics,
    };
    let artifact = store.commit(&tmp, manifest, &outcome.rows, &lock)?;
    if let Err(e) = fs_err::remove_dir_all(&work_dir) {
        tracing::warn!("could not remove the work directory: {e}");
    }
    tracing::info!(
        stage = %plan.instance,
        dir = %artifact.dir.display(),
        seconds = format!("{:.1}", artifact.manifest.duration_s),
        "committed"
    );
    Ok(Executed {
        artifact,
        ran: true,
    })
}

/// Run one stage alone on explicit input artifact directories: what each stage binary does.
/// Writes into `<artifacts_root>/<globals.pipeline>/<instance>/<fingerprint>/`.
pub fn run_standalone(
    stage: &dyn Stage,
    artifacts_root: &Path,
    instance: &str,
    raw_params: &serde_json::Value,
    globals: &Globals,
    input_dirs: &[PathBuf],
    force: bool,
) -> Result<Executed> {
    let mut inputs = BTreeMap::new();
    let mut refs = Vec::new();
    for dir in input_dirs {
        let artifact = Artifact::open(dir)?;
        refs.push(InputRef {
            stage: artifact.manifest.stage.clone(),
            fingerprint: artifact.manifest.fingerprint.clone(),
        });
        inputs.insert(artifact.manifest.stage.clone(), artifact);
    }
    for spec in stage.inputs() {
        if spec.required && !inputs.values().any(|a| a.manifest.kind == spec.kind) {
            return Err(CoreError::MissingInput {
                stage: instance.to_string(),
                kind: spec.kind.to_string(),
            });
        }
    }
    let store = Store::new(artifacts_root, &globals.pipeline);
    let plan = plan(stage, instance, raw_params, globals, refs)?;
    execute(&store, stage, &plan, globals, &inputs, force)
}
