//! `pipeline improve`: from the findings of the latest reflection to a tested, better recipe.
//!
//! A round runs the current recipe to the end (the reference: its reflect report holds the
//! findings), then each remedy the findings propose (`remedies` in `findings.json`: a named
//! set of `stage kind.param` overrides) as a trial: an ordinary fingerprinted run up to
//! evaluate, so shared upstream artifacts are reused. Trials are judged by successive halving
//! at each dev evaluation ([`halving`]) and stopped when they trail. The choice is made on dev
//! only ([`choose`] sees nothing else): the best trial replaces the reference only when the
//! paired bootstrap CI of its dev gain excludes 0. A round that adopts a remedy is followed by
//! another on the new recipe (up to `--rounds`); one that finds nothing better ends the loop.
//!
//! On a small dev set one seed's gain can be luck (German Credit's 150 applicants): when dev
//! has fewer than `--confirm-below` examples and the adopted trial retrained, the reference
//! and the trial run again on the next training seed, and the remedy is adopted only when the
//! gain pooled over both seeds still has a CI that excludes 0 ([`Confirmation`]).
//!
//! Test is read once, after every choice is made, for the chosen recipe (and, for the record,
//! the original). The result is `<pipeline>.improved.toml` ([`recipe`]) and
//! `improve.json` / `improve.md` under `<artifacts>/<pipeline>/improve/<fingerprint>/`.

pub mod halving;
mod measure;
pub mod recipe;
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reflect::stats::bootstrap::{Bootstrap, Interval, Paired, Units};
use serde::{Deserialize, Serialize};

use crate::sweep::{run_recipe, toml_text, values_equal};
use crate::{PipelineSpec, Registry, RunOptions};
use halving::{Curve, Halving, HalvingMonitor};
use measure::Measure;
use recipe::Change;

pub use report::{ImproveReport, write_report};

/// How to improve.
#[derive(Debug, Clone)]
pub struct ImproveOptions {
    /// `--set` overrides the original recipe starts from.
    pub base: Vec<String>,
    /// Wall-clock budget for all rounds; trials stop (and are not started) past it.
    pub budget: Option<Duration>,
    /// Most trials in all rounds (the reference runs do not count).
    pub max_runs: usize,
    /// Most rounds.
    pub rounds: usize,
    /// Bootstrap of the CIs and the paired comparison.
    pub bootstrap: Bootstrap,
    /// Successive halving between the trials of a round.
    pub halving: Halving,
    /// Dev sets with fewer examples than this confirm an adoption on a second training seed
    /// (0: never).
    pub confirm_below: usize,
}

/// Dev examples below which an adoption is confirmed on a second seed by default.
pub const CONFIRM_BELOW: usize = 1000;

impl ImproveOptions {
    /// Checks the settings, naming the flag that is wrong.
    pub fn check(&self) -> Result<()> {
        if self.max_runs == 0 {
            bail!("--max-runs 0: expected at least one trial");
        }
        if self.rounds == 0 {
            bail!("--rounds 0: expected at least one round");
        }
        if self.budget.is_some_and(|b| b.is_zero()) {
            bail!("--budget-minutes: expected a positive number of minutes");
        }
        let h = &self.halving;
        if !(h.keep > 0.0 && h.keep <= 1.0) {
            bail!("--halving-keep {}: expected a share in (0, 1]", h.keep);
        }
        if !(h.margin >= 0.0 && h.margin.is_finite()) {
            bail!("--halving-margin {}: expected a number ≥ 0", h.margin);
        }
        if !(0.0..=1.0).contains(&h.min_progress) {
            bail!(
                "--halving-after {}: expected a share in [0, 1]",
                h.min_progress
            );
        }
        Ok(())
    }
}

/// A remedy as reflect writes it into `findings.json`: a named set of overrides keyed by
/// stage kind (`train.epochs`), which tests the cause of its finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remedy {
    /// Short name (`longer training`).
    pub name: String,
    /// `kind.param` → value.
    pub set: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct FindingRecord {
    id: String,
    title: String,
    #[serde(default)]
    remedies: Vec<Remedy>,
}

/// A remedy of a finding, made concrete for one pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    /// The finding's id.
    pub finding: String,
    /// The finding's title.
    pub title: String,
    /// The remedy's name.
    pub name: String,
    /// `instance.param=value` overrides (what `--set` takes).
    pub overrides: Vec<String>,
}

/// The remedies of a reflect artifact's findings (in rank order) as overrides of `spec`'s
/// stages; remedies whose stage kind the pipeline lacks are logged and left out.
pub fn proposals(findings_file: &Path, spec: &PipelineSpec) -> Result<Vec<Proposal>> {
    let text = std::fs::read_to_string(findings_file)
        .with_context(|| format!("reading {}", findings_file.display()))?;
    let found: Vec<FindingRecord> = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected reflect's findings", findings_file.display()))?;
    let mut out = Vec::new();
    for f in found {
        'remedy: for r in f.remedies {
            let mut overrides = Vec::new();
            for (key, value) in &r.set {
                let (kind, param) = key.split_once('.').with_context(|| {
                    format!(
                        "{}: finding `{}`, remedy `{}`: `{key}` is not `stage.param`",
                        findings_file.display(),
                        f.id,
                        r.name
                    )
                })?;
                let Some(stage) = spec.stages.iter().find(|s| s.kind == kind) else {
                    tracing::info!(finding = %f.id, remedy = %r.name, "no `{kind}` stage in the pipeline; remedy left out");
                    continue 'remedy;
                };
                let value: toml::Value = serde_json::from_value(value.clone())
                    .with_context(|| format!("{key}: {value} has no TOML form"))?;
                overrides.push(format!("{}.{param}={}", stage.name, toml_text(&value)));
            }
            if !overrides.is_empty() {
                out.push(Proposal {
                    finding: f.id.clone(),
                    title: f.title.clone(),
                    name: r.name.clone(),
                    overrides,
                });
            }
        }
    }
    Ok(out)
}

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Ran (or was reused) to the end: its dev primary metric with a bootstrap CI.
    Completed {
        /// Dev primary metric.
        dev: Interval,
    },
    /// Stopped by halving or the budget.
    Stopped {
        /// Why.
        reason: String,
    },
    /// A stage failed.
    Failed {
        /// The error chain.
        error: String,
    },
    /// Not started.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One run of a round: the reference or a trial.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// The remedy (`reference` for the current recipe).
    pub name: String,
    /// The finding it answers (empty for the reference).
    pub finding: String,
    /// That finding's title.
    pub title: String,
    /// Overrides on top of the round's recipe.
    pub overrides: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Stages that ran (the rest were reused).
    pub ran: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Its evaluate artifact, when it got that far.
    pub evaluate_dir: Option<PathBuf>,
}

impl Trial {
    /// The run of `proposal` (`None`: the reference), not started yet, with `outcome`.
    fn of(proposal: Option<&Proposal>, outcome: Outcome) -> Self {
        Self {
            name: proposal.map_or("reference".into(), |p| p.name.clone()),
            finding: proposal.map(|p| p.finding.clone()).unwrap_or_default(),
            title: proposal.map(|p| p.title.clone()).unwrap_or_default(),
            overrides: proposal.map(|p| p.overrides.clone()).unwrap_or_default(),
            outcome,
            ran: Vec::new(),
            seconds: 0.0,
            evaluate_dir: None,
        }
    }
}

/// What the choice on dev found.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Index of the best completed trial on dev (`None`: none completed).
    pub best: Option<usize>,
    /// Best − reference on dev, paired bootstrap.
    pub vs_reference: Option<Paired>,
    /// Whether the best trial replaces the reference (its CI excludes 0 and it is ahead, on
    /// one seed and, when confirmed, on both).
    pub adopt: bool,
    /// The second-seed check of a small dev set, when it ran.
    pub confirmation: Option<Confirmation>,
}

/// The reference and the best trial run again on another training seed, their dev units
/// pooled example by example with the first seed's.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    /// The second seed.
    pub seed: u64,
    /// Dev measure of the reference on that seed.
    pub reference: Option<Interval>,
    /// Dev measure of the trial on that seed.
    pub trial: Option<Interval>,
    /// Trial − reference over both seeds (paired bootstrap of the pooled units).
    pub pooled: Option<Paired>,
    /// Why it could not decide, when a run failed or the budget ran out (then nothing is
    /// adopted).
    pub note: Option<String>,
    /// Wall-clock seconds of the two runs.
    pub seconds: f64,
}

/// The choice among `trials` (dev units per trial, `None` when it did not complete) against
/// the reference's dev units. Sees dev only, by construction: nothing else is passed in.
pub fn choose(
    reference: &Units,
    trials: &[Option<Units>],
    stat: impl Fn(&[f64]) -> f64 + Copy,
    boot: Bootstrap,
) -> Choice {
    let best = trials
        .iter()
        .enumerate()
        .filter_map(|(i, u)| u.as_ref().map(|u| (i, stat(&u.total()))))
        .fold(None::<(usize, f64)>, |best, (i, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i);
    let vs_reference =
        best.and_then(|i| trials[i].as_ref().map(|u| boot.paired(u, reference, stat)));
    let adopt = vs_reference
        .as_ref()
        .is_some_and(|p| p.diff.estimate > 0.0 && p.diff.lo > 0.0);
    Choice {
        best,
        vs_reference,
        adopt,
        confirmation: None,
    }
}

/// One round: the reference, its trials and the choice.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The overrides of the round's recipe on top of the original.
    pub recipe: Vec<String>,
    /// The recipe's run (to the end, reflect included).
    pub reference: Trial,
    /// The remedies tried.
    pub trials: Vec<Trial>,
    /// The choice on dev.
    pub choice: Choice,
    /// The calibration remedies, judged by dev NLL (`None`: none proposed).
    pub calibration: Option<CalibrationStep>,
    /// The reflect artifact of the reference (its findings proposed the trials).
    pub reflect_dir: PathBuf,
}

/// The calibration remedies of a round (a temperature fitted on dev): they change no decision,
/// so they are judged by the mean NLL of the gold label on dev, and adopted when the paired
/// bootstrap CI of the NLL saved excludes 0 and the round's decision measure is not lower.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationStep {
    /// Dev mean NLL of the reference.
    pub reference_nll: Interval,
    /// The trials (on the round's reference model; only evaluate runs).
    pub trials: Vec<Trial>,
    /// Dev mean NLL of each trial, when it completed.
    pub nll: Vec<Option<Interval>>,
    /// Whether each trial kept the decision measure at least the reference's on dev.
    pub decisions_kept: Vec<bool>,
    /// The choice: gain = NLL saved per item.
    pub choice: Choice,
}

/// Override keys of the evaluate stage that change probabilities but no decision learnt from
/// data: remedies made only of them are calibration remedies.
const CALIBRATION_PARAMS: &[&str] = &["temperature"];

/// Whether every override of `p` sets a calibration param of an evaluate stage.
fn calibration_only(spec: &PipelineSpec, p: &Proposal) -> bool {
    !p.overrides.is_empty()
        && p.overrides.iter().all(|o| {
            o.split_once('=')
                .and_then(|(k, _)| k.split_once('.'))
                .is_some_and(|(stage, param)| {
                    spec.stage(stage).is_some_and(|s| s.kind == "evaluate")
                        && CALIBRATION_PARAMS.contains(&param)
                })
        })
}

/// The stage instances improve needs.
struct Names {
    train: Option<String>,
    evaluate: String,
    reflect: String,
}

impl Names {
    fn of(spec: &PipelineSpec) -> Result<Self> {
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

/// The dev curve in a train artifact's `history.jsonl` (`step`, `dev_score` lines).
fn dev_curve(train_dir: &Path) -> Curve {
    let path = train_dir.join("history.jsonl");
    match reflect::history::History::read(&path) {
        Ok(h) => h
            .series("dev_score")
            .into_iter()
            .map(|(step, value)| (step as u64, value))
            .collect(),
        Err(e) => {
            tracing::warn!("{e}; halving judges later trials without this run's dev curve");
            Curve::new()
        }
    }
}

/// A finished run: its artifact directories by stage instance.
struct Ran {
    dirs: BTreeMap<String, PathBuf>,
    ran: Vec<String>,
}

struct Runner<'a> {
    file: &'a Path,
    registry: &'a Registry,
    artifacts: &'a Path,
    names: Names,
    monitor: Arc<HalvingMonitor>,
    /// The evaluate stage's cost matrix: trials are compared by cost when it has one.
    costs: Option<metrics::CostMatrix>,
}

impl Runner<'_> {
    /// Runs the recipe `sets` (to the end, or up to evaluate), under the monitor.
    fn run(&self, sets: &[String], to_end: bool, reference: bool) -> (Result<Ran>, Option<String>) {
        self.monitor.begin(reference);
        let monitor: Arc<dyn flowcore::Monitor> = self.monitor.clone();
        let result = run_recipe(
            self.file,
            sets,
            self.registry,
            self.artifacts,
            &RunOptions {
                until: (!to_end).then(|| self.names.evaluate.clone()),
                monitor: Some(monitor),
                ..RunOptions::default()
            },
        )
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
    fn trial(
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
    fn confirm(
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
        let spec = PipelineSpec::load(self.file, recipe)?;
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

/// Whether `overrides` would change nothing in `spec` (every value already set).
fn already_set(spec: &PipelineSpec, overrides: &[String]) -> bool {
    overrides.iter().all(|o| {
        let Some((key, value)) = o.split_once('=') else {
            return false;
        };
        let Some((stage, param)) = key.split_once('.') else {
            return false;
        };
        let Some(s) = spec.stage(stage) else {
            return false;
        };
        param
            .split('.')
            .try_fold(&s.params, |v, p| v.get(p))
            .and_then(|c| serde_json::from_value::<toml::Value>(c.clone()).ok())
            .is_some_and(|c| values_equal(&c, &crate::spec::override_value(value)))
    })
}

/// The rough cost of a trial relative to a run of the current recipe: settings that only
/// change evaluation cost a tenth (train is reused), more epochs or longer inputs scale it.
fn cost(spec: &PipelineSpec, p: &Proposal) -> f64 {
    let kind_of = |stage: &str| {
        spec.stage(stage)
            .map(|s| s.kind.clone())
            .unwrap_or_default()
    };
    let current = |stage: &str, param: &str, default: f64| {
        spec.stage(stage)
            .and_then(|s| s.params.get(param))
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(default)
    };
    let mut retrains = false;
    let mut factor = 1.0;
    for o in &p.overrides {
        let Some((key, value)) = o.split_once('=') else {
            continue;
        };
        let Some((stage, param)) = key.split_once('.') else {
            continue;
        };
        let kind = kind_of(stage);
        if !matches!(kind.as_str(), "evaluate" | "reflect" | "baseline") {
            retrains = true;
        }
        let wanted = crate::spec::override_value(value);
        let wanted = wanted.as_float().or(wanted.as_integer().map(|i| i as f64));
        match (kind.as_str(), param, wanted) {
            ("train", "epochs", Some(e)) => factor *= e / current(stage, "epochs", 3.0).max(1.0),
            ("tokenize", "max_length", Some(l)) => {
                factor *= l / current(stage, "max_length", 128.0).max(1.0);
            }
            _ => {}
        }
    }
    if retrains { factor } else { 0.1 }
}

/// Replaces earlier overrides of the same keys by `new` ones.
fn merged(base: &[String], new: &[String]) -> Vec<String> {
    let key = |o: &String| o.split_once('=').map(|(k, _)| k.trim().to_string());
    let mut out: Vec<String> = base
        .iter()
        .filter(|b| !new.iter().any(|n| key(n) == key(b)))
        .cloned()
        .collect();
    out.extend(new.iter().cloned());
    out
}

/// Runs the improve loop on `file`.
pub fn run_improve(
    file: &Path,
    registry: &Registry,
    artifacts: &Path,
    opts: &ImproveOptions,
) -> Result<ImproveReport> {
    opts.check()?;
    let started = Instant::now();
    let deadline = opts.budget.map(|b| started + b);
    let spec = PipelineSpec::load(file, &opts.base)?;
    let costs = Measure::costs_of(&spec)?;
    // Halving reads train's dev curve, which reports train's metric: under a cost matrix the
    // trials are compared by cost, which that curve does not show, so it would stop trials on a
    // proxy that may disagree (a remedy that lowers cost and F1 both).
    let halving = if costs.is_some() {
        tracing::info!(
            "successive halving is off: trials are compared by cost, which train's dev curve does not report"
        );
        Halving::off()
    } else {
        opts.halving
    };
    let runner = Runner {
        file,
        registry,
        artifacts,
        names: Names::of(&spec)?,
        monitor: Arc::new(HalvingMonitor::new(halving, deadline)),
        costs,
    };
    let mut recipe = opts.base.clone();
    let mut changes: Vec<Change> = Vec::new();
    let mut rounds = Vec::new();
    let mut tried: Vec<Vec<String>> = Vec::new();
    let mut trials_left = opts.max_runs;
    let mut stop_note = String::new();
    let mut last_reference: Option<Ran> = None;
    let mut metric = String::new();
    for round in 0..opts.rounds {
        let (reference, ref_units, ran) = runner.trial(&recipe, None, true, opts.bootstrap)?;
        let ran = ran.context("the reference run left no artifacts")?;
        let ref_units = ref_units.context("the reference has no dev predictions")?;
        let reflect_dir = ran
            .dirs
            .get(&runner.names.reflect)
            .cloned()
            .context("the reflect stage left no artifact")?;
        let eval_dir = reference.evaluate_dir.clone().unwrap_or_default();
        let (measure, _) = Measure::read(&eval_dir, "dev", runner.costs.as_ref())?;
        metric = measure.name();
        let current = PipelineSpec::load(file, &recipe)?;
        let mut proposals = proposals(&reflect_dir.join("findings.json"), &current)?;
        proposals.retain(|p| {
            let fresh = !already_set(&current, &p.overrides)
                && !tried.contains(&merged(&recipe, &p.overrides));
            if !fresh {
                tracing::info!(remedy = %p.name, finding = %p.finding, "already the recipe or tried; left out");
            }
            fresh
        });
        // One trial per distinct set of overrides (two findings may propose the same).
        let mut seen: Vec<Vec<String>> = Vec::new();
        proposals.retain(|p| {
            let mut o = p.overrides.clone();
            o.sort();
            let new = !seen.contains(&o);
            seen.push(o);
            new
        });
        // Calibration remedies change no decision: they are judged apart, by dev NLL.
        let (calibration, mut proposals): (Vec<Proposal>, Vec<Proposal>) = proposals
            .into_iter()
            .partition(|p| calibration_only(&current, p));
        // Cheapest first, so a budget that runs out cuts the dearest trials.
        proposals.sort_by(|a, b| cost(&current, a).total_cmp(&cost(&current, b)));
        let mut trials = Vec::new();
        let mut units = Vec::new();
        let skip_reason = |trials_left: usize| {
            if trials_left == 0 {
                Some(format!("--max-runs {} reached", opts.max_runs))
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Some("the budget ran out before it started".to_string())
            } else {
                None
            }
        };
        for p in &proposals {
            if let Some(reason) = skip_reason(trials_left) {
                trials.push(Trial::of(Some(p), Outcome::Skipped { reason }));
                units.push(None);
                continue;
            }
            trials_left -= 1;
            let sets = merged(&recipe, &p.overrides);
            tried.push(sets.clone());
            let (t, u, _) = runner.trial(&sets, Some(p), false, opts.bootstrap)?;
            trials.push(t);
            units.push(u);
        }
        let mut choice = choose(&ref_units, &units, |x| measure.gain(x), opts.bootstrap);
        // A small dev set: a gain from a retrained model must hold on a second seed.
        if let Some(best) = choice.best.filter(|_| choice.adopt)
            && ref_units.len() < opts.confirm_below
            && runner
                .names
                .train
                .as_ref()
                .is_some_and(|t| trials[best].ran.contains(t))
            && let Some(first) = units[best].as_ref()
        {
            let sets = merged(&recipe, &trials[best].overrides);
            let c = runner.confirm(
                &recipe,
                &sets,
                (&ref_units, first),
                &measure,
                opts.bootstrap,
                deadline,
            )?;
            choice.adopt = c
                .pooled
                .as_ref()
                .is_some_and(|p| p.diff.estimate > 0.0 && p.diff.lo > 0.0);
            choice.confirmation = Some(c);
        }
        let adopted = choice.adopt.then_some(choice.best).flatten();
        let calibration = if calibration.is_empty() {
            None
        } else {
            let reference_nll = measure::nll_units(&eval_dir, "dev")?;
            let mut step = CalibrationStep {
                reference_nll: opts.bootstrap.ci(&reference_nll, measure::nll_value),
                trials: Vec::new(),
                nll: Vec::new(),
                decisions_kept: Vec::new(),
                choice: choose(
                    &reference_nll,
                    &[],
                    |x| -measure::nll_value(x),
                    opts.bootstrap,
                ),
            };
            let mut nll_units = Vec::new();
            for p in &calibration {
                if let Some(reason) = skip_reason(trials_left) {
                    step.trials
                        .push(Trial::of(Some(p), Outcome::Skipped { reason }));
                    step.nll.push(None);
                    step.decisions_kept.push(false);
                    nll_units.push(None);
                    continue;
                }
                trials_left -= 1;
                let sets = merged(&recipe, &p.overrides);
                tried.push(sets.clone());
                let (t, u, _) = runner.trial(&sets, Some(p), false, opts.bootstrap)?;
                let nll = match &t.evaluate_dir {
                    Some(dir) => Some(measure::nll_units(dir, "dev")?),
                    None => None,
                };
                step.nll.push(
                    nll.as_ref()
                        .map(|u| opts.bootstrap.ci(u, measure::nll_value)),
                );
                step.decisions_kept.push(u.as_ref().is_some_and(|u| {
                    measure.gain(&u.total()) >= measure.gain(&ref_units.total()) - 1e-12
                }));
                nll_units.push(nll);
                step.trials.push(t);
            }
            step.choice = choose(
                &reference_nll,
                &nll_units,
                |x| -measure::nll_value(x),
                opts.bootstrap,
            );
            step.choice.adopt &= step.choice.best.is_some_and(|b| step.decisions_kept[b]);
            Some(step)
        };
        let calibrated = calibration
            .as_ref()
            .and_then(|c| c.choice.adopt.then_some(c.choice.best).flatten());
        rounds.push(Round {
            recipe: recipe.clone(),
            reference,
            trials,
            choice,
            calibration,
            reflect_dir: reflect_dir.clone(),
        });
        last_reference = Some(ran);
        let none_ran = rounds.last().is_some_and(|r| {
            r.trials
                .iter()
                .all(|t| matches!(t.outcome, Outcome::Skipped { .. }))
        });
        if let Some(b) = calibrated {
            let r = rounds.last().context("a round")?;
            let c = r.calibration.as_ref().context("a calibration step")?;
            let t = &c.trials[b];
            let gain = c.choice.vs_reference.as_ref().map(|p| p.diff.display(4));
            for o in &t.overrides {
                changes.retain(|c| {
                    c.set.split_once('=').map(|x| x.0) != o.split_once('=').map(|x| x.0)
                });
                changes.push(Change {
                    set: o.clone(),
                    why: format!(
                        "{} ({}; round {}: dev NLL per item {} saved, no decision changed)",
                        t.finding,
                        t.name,
                        round + 1,
                        gain.clone().unwrap_or_default()
                    ),
                });
            }
            recipe = merged(&recipe, &t.overrides);
        }
        let Some(best) = adopted else {
            let calibrated_note = if calibrated.is_some() {
                " The calibration remedy lowered dev NLL beyond the noise without changing a decision and was adopted."
            } else {
                ""
            };
            stop_note = if proposals.is_empty() && calibrated.is_some() {
                format!(
                    "Round {}: the findings proposed no remedy that changes decisions.{calibrated_note} The loop ends.",
                    round + 1
                )
            } else if proposals.is_empty() {
                format!(
                    "Round {}: the findings proposed no remedy that was not already the recipe or tried; the loop ends.",
                    round + 1
                )
            } else if let Some(c) = rounds.last().and_then(|r| r.choice.confirmation.as_ref()) {
                format!(
                    "Round {}: the best remedy's dev gain did not hold on a second training seed (seed {}{}); the current recipe is kept and the loop ends.",
                    round + 1,
                    c.seed,
                    match (&c.pooled, &c.note) {
                        (Some(p), _) => format!(", gain over both seeds {}", p.diff.display(4)),
                        (None, Some(n)) => format!(": {n}"),
                        (None, None) => String::new(),
                    }
                )
            } else if none_ran {
                format!(
                    "Round {}: the budget or --max-runs left no remedy to try ({} proposed); the current recipe is kept.",
                    round + 1,
                    proposals.len()
                )
            } else {
                format!(
                    "Round {}: no remedy beat the current recipe on dev beyond the noise (paired bootstrap CI of the gain includes 0); {}",
                    round + 1,
                    if calibrated.is_some() {
                        "its decisions are kept.".to_string() + calibrated_note + " The loop ends."
                    } else {
                        "the current recipe is kept and the loop ends.".to_string()
                    }
                )
            };
            break;
        };
        let r = rounds.last().context("a round")?;
        let t = &r.trials[best];
        for o in &t.overrides {
            changes
                .retain(|c| c.set.split_once('=').map(|x| x.0) != o.split_once('=').map(|x| x.0));
            changes.push(Change {
                set: o.clone(),
                why: format!("{} ({}; round {})", t.finding, t.name, round + 1),
            });
        }
        recipe = merged(&recipe, &t.overrides);
        if round + 1 == opts.rounds {
            stop_note = format!("--rounds {} reached.", opts.rounds);
        } else if trials_left == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            stop_note = format!(
                "Round {}: a remedy was adopted; the budget or --max-runs leaves no trial for another round.",
                round + 1
            );
            break;
        }
    }
    // The chosen recipe to the end: up to date when it was a round's reference; otherwise
    // its trial's artifacts are reused and the improved model's reflection runs now.
    let chosen = if changes.is_empty() {
        last_reference
    } else {
        let (result, _) = runner.run(&recipe, true, true);
        Some(result?)
    };
    let final_reflect = chosen
        .as_ref()
        .and_then(|r| r.dirs.get(&runner.names.reflect).cloned());
    let chosen_dir = chosen
        .as_ref()
        .and_then(|r| r.dirs.get(&runner.names.evaluate).cloned());
    let improved = if changes.is_empty() {
        None
    } else {
        // The command line's --set overrides are part of the chosen runs: written too, so the
        // file alone reproduces them.
        let written: Vec<Change> = opts
            .base
            .iter()
            .map(|set| Change {
                set: set.clone(),
                why: "--set on the improve command line".to_string(),
            })
            .chain(changes.iter().cloned())
            .collect();
        Some(recipe::write_improved(file, &written, &recipe)?)
    };
    // Every choice is made: test is read now, once, for the chosen recipe and the original.
    let original = rounds
        .first()
        .and_then(|r| r.reference.evaluate_dir.clone());
    let test = |dir: &Option<PathBuf>| -> Result<Option<Interval>> {
        let Some(dir) = dir else { return Ok(None) };
        let (m, u) = Measure::read(dir, "test", runner.costs.as_ref())?;
        Ok(Some(opts.bootstrap.ci(&u, |x| m.value(x))))
    };
    // Calibration was judged by NLL: its test NLL is read once too.
    let calibration_judged = rounds.iter().any(|r| r.calibration.is_some());
    let test_nll = |dir: &Option<PathBuf>| -> Result<Option<Interval>> {
        match dir {
            Some(dir) if calibration_judged => {
                let u = measure::nll_units(dir, "test")?;
                Ok(Some(opts.bootstrap.ci(&u, measure::nll_value)))
            }
            _ => Ok(None),
        }
    };
    Ok(ImproveReport {
        test_nll_chosen: test_nll(&chosen_dir)?,
        test_nll_original: test_nll(&original)?,
        file: file.to_path_buf(),
        metric,
        budget_minutes: opts.budget.map(|b| b.as_secs_f64() / 60.0),
        halving: halving.is_on(),
        max_runs: opts.max_runs,
        seconds: started.elapsed().as_secs_f64(),
        rounds,
        changes: changes
            .iter()
            .map(|c| (c.set.clone(), c.why.clone()))
            .collect(),
        recipe,
        end: stop_note,
        improved_file: improved,
        test_chosen: test(&chosen_dir)?,
        test_original: test(&original)?,
        final_reflect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(correct: &[bool]) -> Units {
        // Accuracy-like units: (correct, 1) per example.
        let mut u = Units::new(2);
        for &c in correct {
            u.push(&[if c { 1.0 } else { 0.0 }, 1.0]);
        }
        u
    }

    fn acc(x: &[f64]) -> f64 {
        x[0] / x[1].max(1.0)
    }

    #[test]
    fn the_best_trial_is_adopted_only_when_its_gain_is_beyond_the_noise() {
        let boot = Bootstrap {
            resamples: 500,
            ..Bootstrap::default()
        };
        let n = 400;
        let reference = units(&(0..n).map(|i| i % 10 < 6).collect::<Vec<_>>());
        let clearly = units(&(0..n).map(|i| i % 10 < 9).collect::<Vec<_>>());
        let barely = units(&(0..n).map(|i| i % 10 < 6 || i == 7).collect::<Vec<_>>());
        let c = choose(
            &reference,
            &[Some(barely.clone()), None, Some(clearly)],
            acc,
            boot,
        );
        assert_eq!(c.best, Some(2));
        assert!(c.adopt, "{c:?}");
        let c = choose(&reference, &[Some(barely), None], acc, boot);
        assert_eq!(c.best, Some(0));
        assert!(!c.adopt, "one more correct example in 400 is noise: {c:?}");
        let c = choose(&reference, &[None], acc, boot);
        assert_eq!(c.best, None);
        assert!(!c.adopt && c.vs_reference.is_none());
    }

    #[test]
    fn cheaper_trials_go_first() {
        let spec = PipelineSpec::parse(
            Path::new("p.toml"),
            "[stages.tokenize]\nmax_length = 64\n[stages.train]\nepochs = 3\n[stages.evaluate]\n",
            &[],
        )
        .unwrap();
        let p = |o: &str| Proposal {
            finding: String::new(),
            title: String::new(),
            name: o.into(),
            overrides: vec![o.into()],
        };
        let c = |o: &str| cost(&spec, &p(o));
        assert_eq!(c("evaluate.tune_thresholds=true"), 0.1);
        assert_eq!(c("train.dropout=0.0"), 1.0);
        assert_eq!(c("train.epochs=6"), 2.0);
        assert_eq!(c("tokenize.max_length=256"), 4.0);
    }

    #[test]
    fn overrides_merge_by_key() {
        let m = merged(
            &["train.epochs=3".into(), "train.seed=1".into()],
            &["train.epochs=6".into(), "train.dropout=0.0".into()],
        );
        assert_eq!(m, ["train.seed=1", "train.epochs=6", "train.dropout=0.0"]);
    }

    #[test]
    fn bad_flags_are_named() {
        let ok = ImproveOptions {
            base: Vec::new(),
            budget: Some(Duration::from_secs(60)),
            max_runs: 4,
            rounds: 1,
            bootstrap: Bootstrap::default(),
            halving: Halving::default(),
            confirm_below: CONFIRM_BELOW,
        };
        assert!(ok.check().is_ok());
        for (bad, flag) in [
            (
                ImproveOptions {
                    max_runs: 0,
                    ..ok.clone()
                },
                "--max-runs",
            ),
            (
                ImproveOptions {
                    rounds: 0,
                    ..ok.clone()
                },
                "--rounds",
            ),
            (
                ImproveOptions {
                    budget: Some(Duration::ZERO),
                    ..ok.clone()
                },
                "--budget-minutes",
            ),
            (
                ImproveOptions {
                    halving: Halving {
                        keep: 0.0,
                        ..Halving::default()
                    },
                    ..ok.clone()
                },
                "--halving-keep",
            ),
        ] {
            let e = bad.check().unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        }
    }
}
