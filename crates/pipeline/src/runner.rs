//! Planning and running a pipeline: dependency order, staleness with reasons, execution.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use flowcore::stage::{Plan, execute_watched, plan};
use flowcore::store::InputRef;
use flowcore::{Artifact, Stage, Store};

use crate::spec::{PipelineSpec, SpecError};

/// The stage kinds a runner knows.
#[derive(Default)]
pub struct Registry {
    stages: BTreeMap<&'static str, Box<dyn Stage>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a stage kind.
    pub fn add(&mut self, stage: Box<dyn Stage>) -> &mut Self {
        self.stages.insert(stage.kind(), stage);
        self
    }

    /// The stage of a kind.
    pub fn get(&self, kind: &str) -> Option<&dyn Stage> {
        self.stages.get(kind).map(|s| s.as_ref())
    }

    /// Registered kinds, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.stages.keys().copied().collect()
    }
}

/// What the runner may do.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Show what would run, run nothing.
    pub dry_run: bool,
    /// Re-run these stages (and what depends on them) even if up to date.
    pub force: Vec<String>,
    /// Run only this stage (its inputs must be up to date).
    pub only: Option<String>,
    /// Run this stage and what it depends on, nothing downstream.
    pub until: Option<String>,
    /// Watches the evaluation points of the stages that run and may stop them (successive
    /// halving); a stopped stage fails the run and commits nothing.
    pub monitor: Option<std::sync::Arc<dyn flowcore::Monitor>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("dry_run", &self.dry_run)
            .field("force", &self.force)
            .field("only", &self.only)
            .field("until", &self.until)
            .field("monitor", &self.monitor.is_some())
            .finish()
    }
}

/// Whether a stage's artifact is current, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// The artifact for this fingerprint exists.
    UpToDate,
    /// It must run, for these reasons.
    Stale(Vec<String>),
}

/// One stage of a planned pipeline.
#[derive(Debug, Clone)]
pub struct PlannedStage {
    /// The plan (fingerprint, params, inputs).
    pub plan: Plan,
    /// Instance names of its upstream stages.
    pub upstream: Vec<String>,
    /// Current state.
    pub state: State,
}

/// A whole pipeline with every stage planned, in dependency order.
pub struct PipelinePlan<'r> {
    /// The pipeline file.
    pub spec: PipelineSpec,
    /// The store it writes to.
    pub store: Store,
    /// Stages in execution order.
    pub stages: Vec<PlannedStage>,
    registry: &'r Registry,
}

/// What a run did to one stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// It ran.
    Ran,
    /// Up to date, skipped.
    Skipped,
    /// Excluded by `--only`/`--until`.
    Excluded,
    /// `--dry-run`: would run.
    WouldRun,
}

/// One line of a run's summary.
#[derive(Debug, Clone)]
pub struct StageReport {
    /// Instance name.
    pub stage: String,
    /// What happened.
    pub action: Action,
    /// Fingerprint.
    pub fingerprint: String,
    /// Artifact directory (when it exists).
    pub dir: Option<PathBuf>,
    /// Seconds the stage ran.
    pub seconds: Option<f64>,
    /// Why it ran (or would run).
    pub reasons: Vec<String>,
}

/// Resolve every stage's inputs, order them and plan each one (no stage runs).
pub fn plan_pipeline<'r>(
    spec: PipelineSpec,
    registry: &'r Registry,
    artifacts_root: &Path,
) -> Result<PipelinePlan<'r>> {
    let err = |key: String, message: String| SpecError {
        file: spec.file.clone(),
        key,
        message,
    };
    // Upstream instances of every stage.
    let mut upstream: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &spec.stages {
        let stage = registry.get(&s.kind).ok_or_else(|| {
            err(
                format!("[stages.{}]", s.name),
                format!(
                    "unknown stage kind `{}`; expected one of: {}",
                    s.kind,
                    registry.kinds().join(", ")
                ),
            )
        })?;
        let ups = match &s.inputs {
            Some(names) => {
                for n in names {
                    if spec.stage(n).is_none() {
                        return Err(err(
                            format!("[stages.{}] inputs", s.name),
                            format!("no stage named `{n}` in this pipeline"),
                        )
                        .into());
                    }
                }
                names.clone()
            }
            None => {
                let mut ups = Vec::new();
                for input in stage.inputs() {
                    let candidates: Vec<&str> = spec
                        .stages
                        .iter()
                        .filter(|o| o.kind == input.kind && o.name != s.name)
                        .map(|o| o.name.as_str())
                        .collect();
                    match candidates.as_slice() {
                        [] if input.required => {
                            return Err(err(
                                format!("[stages.{}]", s.name),
                                format!(
                                    "needs a `{}` stage as input, and the pipeline has none",
                                    input.kind
                                ),
                            )
                            .into());
                        }
                        [] => {}
                        [one] => ups.push(one.to_string()),
                        many => {
                            return Err(err(
                                format!("[stages.{}] inputs", s.name),
                                format!(
                                    "several `{}` stages ({}); say which with `inputs = [...]`",
                                    input.kind,
                                    many.join(", ")
                                ),
                            )
                            .into());
                        }
                    }
                }
                ups
            }
        };
        upstream.insert(s.name.clone(), ups);
    }

    // Topological order, stable with respect to file order.
    let mut order: Vec<String> = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    while order.len() < spec.stages.len() {
        let next = spec.stages.iter().find(|s| {
            !done.contains(&s.name) && upstream[&s.name].iter().all(|u| done.contains(u))
        });
        match next {
            Some(s) => {
                done.insert(s.name.clone());
                order.push(s.name.clone());
            }
            None => {
                let stuck: Vec<&str> = spec
                    .stages
                    .iter()
                    .filter(|s| !done.contains(&s.name))
                    .map(|s| s.name.as_str())
                    .collect();
                return Err(err(
                    "[stages] inputs".into(),
                    format!(
                        "the inputs of stages {} form a cycle; expected a directed acyclic graph",
                        stuck.join(", ")
                    ),
                )
                .into());
            }
        }
    }

    let store = Store::new(artifacts_root, &spec.globals.pipeline);
    let mut planned: Vec<PlannedStage> = Vec::new();
    let mut fingerprints: BTreeMap<String, String> = BTreeMap::new();
    for name in &order {
        let s = spec.stage(name).context("stage vanished")?;
        let stage = registry.get(&s.kind).context("kind vanished")?;
        let inputs: Vec<InputRef> = upstream[name]
            .iter()
            .map(|u| InputRef {
                stage: u.clone(),
                fingerprint: fingerprints[u].clone(),
            })
            .collect();
        let p = plan(stage, name, &s.params, &spec.globals, inputs).map_err(|e| {
            let (key, message) = match e {
                flowcore::CoreError::Param { key, message } => {
                    (format!("[stages.{name}] {key}"), message)
                }
                other => (format!("[stages.{name}]"), other.to_string()),
            };
            err(key, message)
        })?;
        fingerprints.insert(name.clone(), p.fingerprint.clone());
        let state = state_of(&store, &p, &planned);
        planned.push(PlannedStage {
            plan: p,
            upstream: upstream[name].clone(),
            state,
        });
    }
    Ok(PipelinePlan {
        spec,
        store,
        stages: planned,
        registry,
    })
}

/// Up to date when the fingerprint's artifact exists; otherwise explain against `latest`.
fn state_of(store: &Store, p: &Plan, earlier: &[PlannedStage]) -> State {
    if store.exists(&p.instance, &p.fingerprint) {
        return State::UpToDate;
    }
    let Some(prev) = store.latest_manifest(&p.instance) else {
        return State::Stale(vec!["never run".into()]);
    };
    let mut reasons = Vec::new();
    if prev.kind != p.kind || prev.stage_version != p.version {
        reasons.push(format!(
            "stage {} v{} -> {} v{}",
            prev.kind, prev.stage_version, p.kind, p.version
        ));
    }
    for change in flowcore::params::diff(&prev.params, &p.resolved.params) {
        reasons.push(format!("param {change}"));
    }
    for input in &p.inputs {
        match prev.inputs.iter().find(|i| i.stage == input.stage) {
            Some(old) if old.fingerprint == input.fingerprint => {}
            _ => {
                let upstream_stale = earlier
                    .iter()
                    .any(|e| e.plan.instance == input.stage && e.state != State::UpToDate);
                reasons.push(if upstream_stale {
                    format!("input `{}` is stale", input.stage)
                } else {
                    format!("input `{}` changed", input.stage)
                });
            }
        }
    }
    for old in &prev.inputs {
        if !p.inputs.iter().any(|i| i.stage == old.stage) {
            reasons.push(format!("input `{}` removed", old.stage));
        }
    }
    for raw in &p.raw {
        match prev.raw_inputs.iter().find(|r| r.path == raw.path) {
            Some(old) if old.sha256 == raw.sha256 => {}
            Some(_) => reasons.push(format!("file {} changed", raw.path.display())),
            None => reasons.push(format!("new input file {}", raw.path.display())),
        }
    }
    if reasons.is_empty() {
        reasons.push("artifact missing".into());
    }
    State::Stale(reasons)
}

impl PipelinePlan<'_> {
    /// The planned stage by instance name.
    pub fn stage(&self, name: &str) -> Option<&PlannedStage> {
        self.stages.iter().find(|s| s.plan.instance == name)
    }

    fn check_stage_name(&self, name: &str, flag: &str) -> Result<()> {
        if self.stage(name).is_none() {
            bail!(
                "{flag} {name}: no such stage in {}; stages: {}",
                self.spec.file.display(),
                self.stages
                    .iter()
                    .map(|s| s.plan.instance.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }

    /// Names of `name` and every stage upstream of it.
    fn ancestors(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            if out.insert(n.clone())
                && let Some(s) = self.stage(&n)
            {
                todo.extend(s.upstream.iter().cloned());
            }
        }
        out
    }

    /// Run what is stale (subject to `opts`), in dependency order.
    pub fn run(&self, opts: &RunOptions) -> Result<Vec<StageReport>> {
        for f in &opts.force {
            self.check_stage_name(f, "--force")?;
        }
        if let Some(o) = &opts.only {
            self.check_stage_name(o, "--only")?;
        }
        if let Some(u) = &opts.until {
            self.check_stage_name(u, "--until")?;
        }
        let selected: Option<BTreeSet<String>> = match (&opts.only, &opts.until) {
            (Some(o), _) => Some(BTreeSet::from([o.clone()])),
            (None, Some(u)) => Some(self.ancestors(u)),
            (None, None) => None,
        };
        let mut forced: BTreeSet<String> = opts.force.iter().cloned().collect();
        let mut artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
        let mut verified: BTreeSet<String> = BTreeSet::new();
        let mut reports = Vec::new();
        for ps in &self.stages {
            let name = &ps.plan.instance;
            // Forcing a stage replaces its output, so everything reading it must follow.
            if ps.upstream.iter().any(|u| forced.contains(u)) {
                forced.insert(name.clone());
            }
            let force = forced.contains(name);
            let included = selected.as_ref().is_none_or(|s| s.contains(name));
            let mut reasons = match &ps.state {
                State::UpToDate => Vec::new(),
                State::Stale(r) => r.clone(),
            };
            if force {
                reasons.push("forced".into());
            }
            let needs_run = force || ps.state != State::UpToDate;
            if !included {
                reports.push(StageReport {
                    stage: name.clone(),
                    action: Action::Excluded,
                    fingerprint: ps.plan.fingerprint.clone(),
                    dir: None,
                    seconds: None,
                    reasons,
                });
                continue;
            }
            if opts.dry_run {
                reports.push(StageReport {
                    stage: name.clone(),
                    action: if needs_run {
                        Action::WouldRun
                    } else {
                        Action::Skipped
                    },
                    fingerprint: ps.plan.fingerprint.clone(),
                    dir: Some(self.store.artifact_dir(name, &ps.plan.fingerprint)),
                    seconds: None,
                    reasons,
                });
                continue;
            }
            let mut inputs = BTreeMap::new();
            for u in &ps.upstream {
                let artifact = match artifacts.get(u) {
                    Some(a) => {
                        // An up-to-date input was only looked up, not read: check its files
                        // before a stage reads them.
                        if needs_run && !verified.contains(u) {
                            a.verify()?;
                            verified.insert(u.clone());
                        }
                        a.clone()
                    }
                    None => {
                        let up = self.stage(u).context("upstream vanished")?;
                        let dir = self.store.artifact_dir(u, &up.plan.fingerprint);
                        if !self.store.exists(u, &up.plan.fingerprint) {
                            bail!(
                                "stage `{name}` needs `{u}`, which is not up to date ({}); run it first (drop --only)",
                                dir.display()
                            );
                        }
                        Artifact::open(&dir)?
                    }
                };
                inputs.insert(u.clone(), artifact);
            }
            let stage = self
                .registry
                .get(&ps.plan.kind)
                .context("stage kind vanished")?;
            let done = execute_watched(
                &self.store,
                stage,
                &ps.plan,
                &self.spec.globals,
                &inputs,
                force,
                opts.monitor.clone(),
            )?;
            reports.push(StageReport {
                stage: name.clone(),
                action: if done.ran {
                    Action::Ran
                } else {
                    Action::Skipped
                },
                fingerprint: ps.plan.fingerprint.clone(),
                dir: Some(done.artifact.dir.clone()),
                seconds: done.ran.then_some(done.artifact.manifest.duration_s),
                reasons: if done.ran { reasons } else { Vec::new() },
            });
            if done.ran {
                verified.insert(name.clone());
            }
            artifacts.insert(name.clone(), done.artifact);
        }
        Ok(reports)
    }
}
