//! `pipeline improve`: from the findings of a reflection on dev to a tested, better recipe.
//!
//! **Test steers nothing.** While choices are made every run is kept on dev ([`runner`]'s
//! dev-only overrides): evaluate scores dev alone and reflect reflects on dev, so the findings
//! that propose remedies, their numbers, and every comparison come from train and dev. Test is
//! read once, after every choice, when the chosen recipe (and, for the record, the original)
//! runs to the end on the file's own splits.
//!
//! A round runs the current recipe to the end (the reference: its reflection on dev holds
//! the findings), then each remedy the findings propose (`remedies` in `findings.json`: a
//! named set of `stage kind.param` overrides) as a trial: an ordinary fingerprinted run up to
//! evaluate, so shared upstream artifacts are reused. Trials are judged by successive halving
//! at each dev evaluation, at equal fractions of their own schedules ([`halving`]), and
//! stopped when they trail. The choice ([`choice`]) walks the completed trials in dev order:
//! a candidate is adopted when the paired bootstrap CI of its dev gain excludes 0; on a dev
//! set smaller than `--confirm-below`, a retrained candidate must also hold on the next
//! training seed ([`Confirmation`]); one that fails falls back to the next candidate. A round
//! that adopts a remedy is followed by another on the new recipe (up to `--rounds`); one
//! that finds nothing better ends the loop.
//!
//! The result is `<pipeline>.improved.toml` ([`recipe`]) and `improve.json` / `improve.md`
//! under `<artifacts>/<pipeline>/improve/<fingerprint>/`.

pub mod choice;
pub mod halving;
mod measure;
pub mod recipe;
mod report;
mod runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reflect::stats::bootstrap::{Bootstrap, Interval, Paired, Units};
use serde::{Deserialize, Serialize};

use crate::sweep::{toml_text, values_equal};
use crate::{PipelineSpec, Registry};
use choice::Verdict;
pub use choice::{Attempt, Choice};
use halving::{Halving, HalvingMonitor};
use measure::Measure;
use recipe::Change;
use runner::{Names, Pipeline, Runner};

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

/// One round: the reference, its trials and the choice.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The overrides of the round's recipe on top of the original.
    pub recipe: Vec<String>,
    /// The recipe's run (to the end, reflect included).
    pub reference: Trial,
    /// The remedies tried.
    pub trials: Vec<Trial>,
    /// The choice on dev: the candidates considered in dev order, the adopted one.
    pub choice: Choice,
    /// The calibration remedies, judged by dev NLL (`None`: none proposed).
    pub calibration: Option<CalibrationStep>,
    /// The reflect artifact of the reference (its findings, on dev, proposed the trials).
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

/// Halving as `opts` sets it, or off when trials are compared by cost: train's dev curve
/// reports train's metric, not the cost, so it would stop trials on a proxy that may disagree
/// (a remedy that lowers cost and F1 both).
fn halving_rule(opts: &ImproveOptions, by_cost: bool) -> Halving {
    if by_cost {
        tracing::info!(
            "successive halving is off: trials are compared by cost, which train's dev curve does not report"
        );
        Halving::off()
    } else {
        opts.halving
    }
}

/// The state of the loop between rounds.
struct Loop<'a> {
    runner: &'a Runner<'a>,
    opts: &'a ImproveOptions,
    deadline: Option<Instant>,
    /// The current recipe's overrides on top of the file.
    recipe: Vec<String>,
    /// The adopted overrides and why.
    changes: Vec<Change>,
    /// Recipes already run as trials.
    tried: Vec<Vec<String>>,
    trials_left: usize,
    /// The measure's name, for the report.
    metric: String,
}

/// Runs the improve loop on `file`: rounds on dev until nothing better is found, then test once.
pub fn run_improve(
    file: &Path,
    registry: &Registry,
    artifacts: &Path,
    opts: &ImproveOptions,
) -> Result<ImproveReport> {
    opts.check()?;
    let started = Instant::now();
    let deadline = opts.budget.map(|b| started + b);
    let pipeline = Pipeline::read(file)?;
    let spec = pipeline.spec(&opts.base)?;
    let costs = Measure::costs_of(&spec)?;
    let halving = halving_rule(opts, costs.is_some());
    let names = Names::of(&spec)?;
    let runner = Runner {
        pipeline,
        registry,
        artifacts,
        dev_only: runner::dev_only(&names),
        names,
        monitor: Arc::new(HalvingMonitor::new(halving, deadline)),
        costs,
    };
    let mut state = Loop {
        runner: &runner,
        opts,
        deadline,
        recipe: opts.base.clone(),
        changes: Vec::new(),
        tried: Vec::new(),
        trials_left: opts.max_runs,
        metric: String::new(),
    };
    let mut rounds = Vec::new();
    let mut end = String::new();
    for k in 0..opts.rounds {
        let round = state.round()?;
        state.adopt(k, &round)?;
        let note = state.stop_note(k, &round);
        rounds.push(round);
        if let Some(note) = note {
            end = note;
            break;
        }
    }
    let mut report = state.finish(rounds, end)?;
    report.seconds = started.elapsed().as_secs_f64();
    report.halving = halving.is_on();
    Ok(report)
}

impl Loop<'_> {
    /// Why a trial cannot start now, if it cannot.
    fn skip_reason(&self) -> Option<String> {
        if self.trials_left == 0 {
            Some(format!("--max-runs {} reached", self.opts.max_runs))
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Some("the budget ran out before it started".to_string())
        } else {
            None
        }
    }

    /// One round on the current recipe: the reference to the end (its reflection on dev
    /// proposes the remedies), the decision remedies as trials with the choice among them, and
    /// the calibration remedies judged by dev NLL.
    fn round(&mut self) -> Result<Round> {
        let boot = self.opts.bootstrap;
        let (reference, ref_units, ran) = self.runner.trial(&self.recipe, None, true, boot)?;
        let ran = ran.context("the reference run left no artifacts")?;
        let ref_units = ref_units.context("the reference has no dev predictions")?;
        let reflect_dir = ran
            .dirs
            .get(&self.runner.names.reflect)
            .cloned()
            .context("the reflect stage left no artifact")?;
        let eval_dir = reference.evaluate_dir.clone().unwrap_or_default();
        let (measure, _) = Measure::read(&eval_dir, "dev", self.runner.costs.as_ref())?;
        self.metric = measure.name();
        let current = self.runner.pipeline.spec(&self.recipe)?;
        let (calibration, proposals) = self.fresh_proposals(&reflect_dir, &current)?;
        let (trials, units) = self.run_trials(&proposals, &current)?;
        let choice = self.choose(&measure, &ref_units, &trials, &units)?;
        let calibration = if calibration.is_empty() {
            None
        } else {
            Some(self.calibrate(&calibration, &measure, &eval_dir, &ref_units)?)
        };
        Ok(Round {
            recipe: self.recipe.clone(),
            reference,
            trials,
            choice,
            calibration,
            reflect_dir,
        })
    }

    /// The remedies of the reference's findings not yet the recipe nor tried, one per distinct
    /// set of overrides, split into calibration remedies and the rest.
    fn fresh_proposals(
        &self,
        reflect_dir: &Path,
        current: &PipelineSpec,
    ) -> Result<(Vec<Proposal>, Vec<Proposal>)> {
        let mut found = proposals(&reflect_dir.join("findings.json"), current)?;
        found.retain(|p| {
            let fresh = !already_set(current, &p.overrides)
                && !self.tried.contains(&merged(&self.recipe, &p.overrides));
            if !fresh {
                tracing::info!(remedy = %p.name, finding = %p.finding, "already the recipe or tried; left out");
            }
            fresh
        });
        // Two findings may propose the same overrides.
        let mut seen: Vec<Vec<String>> = Vec::new();
        found.retain(|p| {
            let mut o = p.overrides.clone();
            o.sort();
            let new = !seen.contains(&o);
            seen.push(o);
            new
        });
        // Calibration remedies change no decision: they are judged apart, by dev NLL.
        Ok(found
            .into_iter()
            .partition(|p| calibration_only(current, p)))
    }

    /// Runs `proposals` as trials, cheapest first (a budget that runs out cuts the dearest).
    fn run_trials(
        &mut self,
        proposals: &[Proposal],
        current: &PipelineSpec,
    ) -> Result<(Vec<Trial>, Vec<Option<Units>>)> {
        let mut ordered: Vec<&Proposal> = proposals.iter().collect();
        ordered.sort_by(|a, b| cost(current, a).total_cmp(&cost(current, b)));
        let mut trials = Vec::new();
        let mut units = Vec::new();
        for p in ordered {
            let (t, u) = self.run_trial(p)?;
            trials.push(t);
            units.push(u);
        }
        Ok((trials, units))
    }

    /// One trial of `p` on the current recipe, or its skip.
    fn run_trial(&mut self, p: &Proposal) -> Result<(Trial, Option<Units>)> {
        if let Some(reason) = self.skip_reason() {
            return Ok((Trial::of(Some(p), Outcome::Skipped { reason }), None));
        }
        self.trials_left -= 1;
        let sets = merged(&self.recipe, &p.overrides);
        self.tried.push(sets.clone());
        let (t, u, _) = self
            .runner
            .trial(&sets, Some(p), false, self.opts.bootstrap)?;
        Ok((t, u))
    }

    /// The choice among the round's trials, candidates in dev order: a gain beyond the noise is
    /// adopted, after a second training seed when dev is small and the trial retrained; a
    /// candidate that fails that falls back to the next.
    fn choose(
        &self,
        measure: &Measure,
        ref_units: &Units,
        trials: &[Trial],
        units: &[Option<Units>],
    ) -> Result<Choice> {
        let boot = self.opts.bootstrap;
        let ranked = choice::candidates(ref_units, units, |x| measure.gain(x), boot);
        let small_dev = ref_units.len() < self.opts.confirm_below;
        choice::decide(
            ranked,
            |_| None,
            |k, paired| {
                let retrained = self
                    .runner
                    .names
                    .train
                    .as_ref()
                    .is_some_and(|t| trials[k].ran.contains(t));
                let gain = paired.diff.display(4);
                let (true, Some(first)) = (small_dev && retrained, units[k].as_ref()) else {
                    return Ok((Verdict::Adopt(format!("dev gain {gain} excludes 0")), None));
                };
                let sets = merged(&self.recipe, &trials[k].overrides);
                let c = self.runner.confirm(
                    &self.recipe,
                    &sets,
                    (ref_units, first),
                    measure,
                    boot,
                    self.deadline,
                )?;
                let verdict = match (&c.pooled, &c.note) {
                    (Some(p), _) if choice::beyond_noise(p) => Verdict::Adopt(format!(
                        "dev gain {gain} on one seed held on a second training seed (seed {}): {} over both",
                        c.seed,
                        p.diff.display(4)
                    )),
                    (Some(p), _) => Verdict::Next(format!(
                        "dev gain {gain} on one seed did not hold on a second training seed (seed {}): {} over both",
                        c.seed,
                        p.diff.display(4)
                    )),
                    (None, note) => Verdict::Next(format!(
                        "dev gain {gain} on one seed; the second seed gave no decision: {}",
                        note.as_deref().unwrap_or("no result")
                    )),
                };
                Ok((verdict, Some(c)))
            },
        )
    }

    /// The calibration remedies on the round's reference model, judged by dev NLL: adopted in
    /// NLL order, the first whose NLL saved excludes 0 with the decision measure kept.
    fn calibrate(
        &mut self,
        proposals: &[Proposal],
        measure: &Measure,
        eval_dir: &Path,
        ref_units: &Units,
    ) -> Result<CalibrationStep> {
        let boot = self.opts.bootstrap;
        let reference_nll = measure::nll_units(eval_dir, "dev")?;
        let mut trials = Vec::new();
        let mut nll = Vec::new();
        let mut decisions_kept = Vec::new();
        let mut nll_units = Vec::new();
        for p in proposals {
            let (t, u) = self.run_trial(p)?;
            let units = match &t.evaluate_dir {
                Some(dir) => Some(measure::nll_units(dir, "dev")?),
                None => None,
            };
            nll.push(units.as_ref().map(|u| boot.ci(u, measure::nll_value)));
            decisions_kept.push(u.as_ref().is_some_and(|u| {
                measure.gain(&u.total()) >= measure.gain(&ref_units.total()) - 1e-12
            }));
            nll_units.push(units);
            trials.push(t);
        }
        let saved = |x: &[f64]| -measure::nll_value(x);
        let ranked = choice::candidates(&reference_nll, &nll_units, saved, boot);
        let lowered = |k: usize| {
            (!decisions_kept[k]).then(|| "it lowered the decision measure on dev".to_string())
        };
        let choice = choice::decide::<std::convert::Infallible>(ranked, lowered, |_, p| {
            Ok((
                Verdict::Adopt(format!(
                    "dev NLL saved {} excludes 0, decisions kept",
                    p.diff.display(4)
                )),
                None,
            ))
        })
        .unwrap_or_else(|e| match e {});
        Ok(CalibrationStep {
            reference_nll: boot.ci(&reference_nll, measure::nll_value),
            trials,
            nll,
            decisions_kept,
            choice,
        })
    }

    /// Takes the round's adopted remedies (calibration, then decisions) into the recipe.
    fn adopt(&mut self, k: usize, r: &Round) -> Result<()> {
        if let Some(c) = &r.calibration
            && let Some(b) = c.choice.adopted
        {
            let t = &c.trials[b];
            let gain = c.choice.attempt(b).map(|a| a.vs_reference.diff.display(4));
            let why = format!(
                "{} ({}; round {}: dev NLL per item {} saved, no decision changed)",
                t.finding,
                t.name,
                k + 1,
                gain.unwrap_or_default()
            );
            self.take(&t.overrides, &why);
        }
        if let Some(b) = r.choice.adopted {
            let t = r.trials.get(b).context("the adopted trial")?;
            let why = format!("{} ({}; round {})", t.finding, t.name, k + 1);
            self.take(&t.overrides, &why);
        }
        Ok(())
    }

    fn take(&mut self, overrides: &[String], why: &str) {
        let key = |s: &str| s.split_once('=').map(|x| x.0.to_string());
        for o in overrides {
            self.changes.retain(|c| key(&c.set) != key(o));
            self.changes.push(Change {
                set: o.clone(),
                why: why.to_string(),
            });
        }
        self.recipe = merged(&self.recipe, overrides);
    }

    /// Why the loop ends after round `k`, or `None` to go on.
    fn stop_note(&self, k: usize, r: &Round) -> Option<String> {
        let n = k + 1;
        let calibrated = r.calibration.as_ref().is_some_and(|c| c.choice.adopt);
        if r.choice.adopt {
            return if n == self.opts.rounds {
                Some(format!("--rounds {} reached.", self.opts.rounds))
            } else if self.trials_left == 0 || self.deadline.is_some_and(|d| Instant::now() >= d) {
                Some(format!(
                    "Round {n}: a remedy was adopted; the budget or --max-runs leaves no trial for another round."
                ))
            } else {
                None
            };
        }
        let calibrated_note = if calibrated {
            " The calibration remedy lowered dev NLL beyond the noise without changing a decision and was adopted."
        } else {
            ""
        };
        let none_ran = r
            .trials
            .iter()
            .all(|t| matches!(t.outcome, Outcome::Skipped { .. }));
        let confirmed = r.choice.attempts.iter().any(|a| a.confirmation.is_some());
        Some(if r.trials.is_empty() && calibrated {
            format!(
                "Round {n}: the findings proposed no remedy that changes decisions.{calibrated_note} The loop ends."
            )
        } else if r.trials.is_empty() {
            format!(
                "Round {n}: the findings proposed no remedy that was not already the recipe or tried; the loop ends."
            )
        } else if none_ran {
            format!(
                "Round {n}: the budget or --max-runs left no remedy to try ({} proposed); the current recipe is kept.",
                r.trials.len()
            )
        } else if confirmed {
            let tried: Vec<String> = r
                .choice
                .attempts
                .iter()
                .map(|a| format!("{}: {}", r.trials[a.trial].name, a.why))
                .collect();
            format!(
                "Round {n}: no candidate held up ({}); the current recipe is kept{}.{calibrated_note} The loop ends.",
                tried.join("; "),
                if calibrated { " for its decisions" } else { "" }
            )
        } else {
            format!(
                "Round {n}: no remedy beat the current recipe on dev beyond the noise (paired bootstrap CI of the gain includes 0); {}",
                if calibrated {
                    "its decisions are kept.".to_string() + calibrated_note + " The loop ends."
                } else {
                    "the current recipe is kept and the loop ends.".to_string()
                }
            )
        })
    }

    /// Every choice is made: writes the improved file, then runs the chosen recipe and the
    /// original to the end on the file's own splits and reads test, once.
    fn finish(self, rounds: Vec<Round>, end: String) -> Result<ImproveReport> {
        let opts = self.opts;
        let improved = if self.changes.is_empty() {
            None
        } else {
            // The command line's --set overrides are part of the chosen runs: written too, so
            // the file alone reproduces them.
            let written: Vec<Change> = opts
                .base
                .iter()
                .map(|set| Change {
                    set: set.clone(),
                    why: "--set on the improve command line".to_string(),
                })
                .chain(self.changes.iter().cloned())
                .collect();
            let pipeline = &self.runner.pipeline;
            Some(recipe::write_improved(
                pipeline.file,
                &pipeline.text,
                &written,
                &self.recipe,
            )?)
        };
        tracing::info!("every choice is made: the chosen and the original recipes on test, once");
        let chosen = self.runner.on_test(&self.recipe)?;
        let original = if self.recipe == opts.base {
            None
        } else {
            Some(self.runner.on_test(&opts.base)?)
        };
        let names = &self.runner.names;
        let dir_of = |r: &runner::Ran, stage: &str| r.dirs.get(stage).cloned();
        let chosen_eval = dir_of(&chosen, &names.evaluate);
        let original_eval = original
            .as_ref()
            .map_or(chosen_eval.clone(), |o| dir_of(o, &names.evaluate));
        let boot = opts.bootstrap;
        let costs = self.runner.costs.as_ref();
        let test = |dir: &Option<PathBuf>| -> Result<Option<Interval>> {
            let Some(dir) = dir else { return Ok(None) };
            let (m, u) = Measure::read(dir, "test", costs)?;
            Ok(Some(boot.ci(&u, |x| m.value(x))))
        };
        // Calibration was judged by NLL: its test NLL is read once too.
        let calibration_judged = rounds.iter().any(|r| r.calibration.is_some());
        let test_nll = |dir: &Option<PathBuf>| -> Result<Option<Interval>> {
            match dir {
                Some(dir) if calibration_judged => {
                    let u = measure::nll_units(dir, "test")?;
                    Ok(Some(boot.ci(&u, measure::nll_value)))
                }
                _ => Ok(None),
            }
        };
        Ok(ImproveReport {
            test_nll_chosen: test_nll(&chosen_eval)?,
            test_nll_original: test_nll(&original_eval)?,
            file: self.runner.pipeline.file.to_path_buf(),
            pipeline_text: self.runner.pipeline.text.clone(),
            metric: self.metric,
            budget_minutes: opts.budget.map(|b| b.as_secs_f64() / 60.0),
            halving: false,
            max_runs: opts.max_runs,
            seconds: 0.0,
            rounds,
            changes: self
                .changes
                .iter()
                .map(|c| (c.set.clone(), c.why.clone()))
                .collect(),
            recipe: self.recipe,
            end,
            improved_file: improved,
            test_chosen: test(&chosen_eval)?,
            test_original: test(&original_eval)?,
            final_reflect: dir_of(&chosen, &names.reflect),
            final_evaluate: chosen_eval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
