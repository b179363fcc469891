//! How improve runs a recipe: while choosing, every run is kept on dev (evaluate scores dev
//! only, reflect reflects on dev, so no test number exists to steer a choice); after every
//! choice, [`Runner::on_test`] runs the chosen and the original recipes to the end with the
//! file's own splits, once. Also the second-seed confirmation of a small dev set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use reflect::stats::bootstrap::{Bootstrap, Units};

use super::halving::{self, Curve, HalvingMonitor};
use super::measure::Measure;
use super::{Confirmation, Outcome, Proposal, Trial, merged};
use crate::spec::SpecError;
use crate::sweep::run_spec;
use crate::{PipelineSpec, Registry, RunOptions};

/// The pipeline file, read once per improve run: every recipe improve runs (the reference,
/// the trials, the second seeds, the final runs on test) and the improved file are made from
/// this text in memory, so all of them see the same file.
pub(super) struct Pipeline<'a> {
    pub(super) file: &'a Path,
    pub(super) text: String,
}

impl<'a> Pipeline<'a> {
    /// Reads `file`, failing as [`PipelineSpec::load`] does.
    pub(super) fn read(file: &'a Path) -> Result<Self, SpecError> {
        Ok(Self {
            file,
            text: PipelineSpec::read_text(file)?,
        })
    }

    /// The pipeline with the `--set` overrides `sets`.
    pub(super) fn spec(&self, sets: &[String]) -> Result<PipelineSpec, SpecError> {
        PipelineSpec::parse(self.file, &self.text, sets)
    }
}

/// The stage instances improve needs.
pub(super) struct Names {
    pub(super) train: Option<String>,
    pub(super) evaluate: String,
    pub(super) reflect: String,
}

impl Names {
    pub(super) fn of(spec: &PipelineSpec) -> Result<Self> {
        let find = |kind: &str| {
            spec.stages
                .iter()
                .find(|s| s.kind == kind)
                .map(|s| s.name.clone())
        };
        Ok(Self {
            train: find("train"),
            evaluate: find("evaluate").with_context(|| {
                format!("{}: improve needs an evaluate stage", spec.file.display())
            })?,
            reflect: find("reflect").with_context(|| {
                format!(
                    "{}: improve needs a reflect stage (its findings propose the remedies)",
                    spec.file.display()
                )
            })?,
        })
    }
}

/// The dev curve in a train artifact's `history.jsonl` (`step`, `dev_score` lines), each step
/// as the fraction of the run's planned steps (`total_steps` in its manifest metrics; the last
/// evaluated step when the manifest lacks it), which is what halving compares.
fn dev_curve(train_dir: &Path) -> Curve {
    let path = train_dir.join("history.jsonl");
    let steps = match reflect::history::History::read(&path) {
        Ok(h) => h.series("dev_score"),
        Err(e) => {
            tracing::warn!("{e}; halving judges later trials without this run's dev curve");
            return Curve::new();
        }
    };
    let planned = std::fs::read_to_string(train_dir.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m["metrics"]["total_steps"].as_u64());
    let total = planned.or_else(|| steps.last().map(|&(s, _)| s as u64));
    steps
        .into_iter()
        .map(|(step, value)| (halving::progress(step as u64, total.unwrap_or(1)), value))
        .collect()
}

/// A finished run: its artifact directories by stage instance.
pub(super) struct Ran {
    pub(super) dirs: BTreeMap<String, PathBuf>,
    pub(super) ran: Vec<String>,
}

/// Runs recipes for improve, under the halving monitor.
pub(super) struct Runner<'a> {
    pub(super) pipeline: Pipeline<'a>,
    pub(super) registry: &'a Registry,
    pub(super) artifacts: &'a Path,
    pub(super) names: Names,
    pub(super) monitor: Arc<HalvingMonitor>,
    /// The evaluate stage's cost matrix: trials are compared by cost when it has one.
    pub(super) costs: Option<metrics::CostMatrix>,
    /// Overrides that keep a run on dev while choices are made ([`dev_only`]).
    pub(super) dev_only: Vec<String>,
}

/// The overrides that keep a run on dev: the evaluate stage scores dev alone (robustness
/// probes, which perturb test, are off) and the reflect stage reflects on dev, so the
/// findings that propose remedies, and every number a choice reads, come from train and dev.
pub(super) fn dev_only(names: &Names) -> Vec<String> {
    vec![
        format!("{}.splits=[\"dev\"]", names.evaluate),
        format!("{}.probes=[]", names.evaluate),
        format!("{}.split=\"dev\"", names.reflect),
    ]
}

impl Runner<'_> {
    /// Runs the recipe `sets` (to the end, or up to evaluate), under the monitor.
    fn run(&self, sets: &[String], to_end: bool, reference: bool) -> (Result<Ran>, Option<String>) {
        self.run_with(&merged(sets, &self.dev_only), to_end, reference)
    }

    /// Runs the recipe `sets` to the end with the file's own splits (test included): only
    /// after every choice is made, for the chosen and the original recipes.
    pub(super) fn on_test(&self, sets: &[String]) -> Result<Ran> {
        self.run_with(sets, true, true).0
    }

    fn run_with(
        &self,
        sets: &[String],
        to_end: bool,
        reference: bool,
    ) -> (Result<Ran>, Option<String>) {
        self.monitor.begin(reference);
        let monitor: Arc<dyn flowcore::Monitor> = self.monitor.clone();
        let opts = RunOptions {
            until: (!to_end).then(|| self.names.evaluate.clone()),
            monitor: Some(monitor),
            ..RunOptions::default()
        };
        let result = self
            .pipeline
            .spec(sets)
            .map_err(anyhow::Error::from)
            .and_then(|spec| run_spec(spec, self.registry, self.artifacts, &opts))
            .map(|(reports, ran)| Ran {
                dirs: reports
                    .into_iter()
                    .filter_map(|r| Some((r.stage, r.dir?)))
                    .collect(),
                ran,
            });
        let curve = match (&result, &self.names.train) {
            (Ok(r), Some(t)) => r.dirs.get(t).map(|d| dev_curve(d)),
            _ => None,
        };
        let stopped = self.monitor.end(curve);
        (result, stopped)
    }

    /// A trial (or the reference) run and scored on dev.
    pub(super) fn trial(
        &self,
        sets: &[String],
        proposal: Option<&Proposal>,
        reference: bool,
        boot: Bootstrap,
    ) -> Result<(Trial, Option<Units>, Option<Ran>)> {
        let clock = Instant::now();
        let (result, stopped) = self.run(sets, reference, reference);
        let mut trial = Trial::of(
            proposal,
            Outcome::Skipped {
                reason: String::new(),
            },
        );
        let mut units = None;
        let mut ran = None;
        match result {
            Ok(r) => {
                let dir = r
                    .dirs
                    .get(&self.names.evaluate)
                    .cloned()
                    .context("the evaluate stage left no artifact")?;
                let (measure, dev) = Measure::read(&dir, "dev", self.costs.as_ref())?;
                trial.outcome = Outcome::Completed {
                    dev: boot.ci(&dev, |x| measure.value(x)),
                };
                trial.ran = r.ran.clone();
                trial.evaluate_dir = Some(dir);
                units = Some(dev);
                ran = Some(r);
            }
            Err(e) => {
                if reference {
                    return Err(e.context("the current recipe failed; nothing to improve on"));
                }
                // SIGTERM stops the whole loop, not one trial after another.
                if train::termination_flag().load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(e.context("improve stopped by a termination signal"));
                }
                trial.outcome = match stopped {
                    Some(reason) => Outcome::Stopped { reason },
                    None => Outcome::Failed {
                        error: format!("{e:#}"),
                    },
                };
            }
        }
        trial.seconds = clock.elapsed().as_secs_f64();
        tracing::info!(trial = %trial.name, seconds = format!("{:.0}", trial.seconds), outcome = ?trial.outcome, "trial done");
        Ok((trial, units, ran))
    }
}

impl Runner<'_> {
    /// Runs the reference `recipe` and the trial `sets` again on the next training seed and
    /// compares them pooled with the first seed's dev units.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn confirm(
        &self,
        recipe: &[String],
        sets: &[String],
        first: (&Units, &Units),
        measure: &Measure,
        boot: Bootstrap,
        deadline: Option<Instant>,
    ) -> Result<Confirmation> {
        let clock = Instant::now();
        let train = self.names.train.clone().context("no train stage")?;
        let spec = self.pipeline.spec(recipe)?;
        let seed = spec
            .stages
            .iter()
            .find(|s| s.name == train)
            .and_then(|s| s.params.get("seed"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(train::TrainParams::default().seed)
            + 1;
        let mut c = Confirmation {
            seed,
            reference: None,
            trial: None,
            pooled: None,
            note: None,
            seconds: 0.0,
        };
        let with_seed = |s: &[String]| merged(s, &[format!("{train}.seed={seed}")]);
        let mut dev = Vec::new();
        for (what, s) in [("reference", with_seed(recipe)), ("trial", with_seed(sets))] {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                c.note = Some(format!(
                    "the budget ran out before the {what}'s second seed"
                ));
                break;
            }
            tracing::info!(
                seed,
                run = what,
                "confirming on a second seed (small dev set)"
            );
            let (result, _) = self.run(&s, false, true);
            let units = result.and_then(|r| {
                let dir = r
                    .dirs
                    .get(&self.names.evaluate)
                    .context("the evaluate stage left no artifact")?;
                Ok(Measure::read(dir, "dev", self.costs.as_ref())?.1)
            });
            match units {
                Ok(u) => dev.push(u),
                Err(e) => {
                    if train::termination_flag().load(std::sync::atomic::Ordering::SeqCst) {
                        return Err(e.context("improve stopped by a termination signal"));
                    }
                    c.note = Some(format!("the {what}'s second seed failed: {e:#}"));
                    break;
                }
            }
        }
        if let [reference, trial] = dev.as_slice() {
            c.reference = Some(boot.ci(reference, |x| measure.value(x)));
            c.trial = Some(boot.ci(trial, |x| measure.value(x)));
            let a = crate::sweep::pooled(&[first.1.clone(), trial.clone()]);
            let b = crate::sweep::pooled(&[first.0.clone(), reference.clone()]);
            c.pooled = Some(boot.paired(&a, &b, |x| measure.gain(x)));
        }
        c.seconds = clock.elapsed().as_secs_f64();
        Ok(c)
    }
}
