//! Sweeps: a pipeline run over a grid of stage params and seeds, each variant an ordinary
//! fingerprinted run (so shared upstream artifacts are built once), compared on dev only.
//!
//! ```toml
//! [sweep]                                         # in the pipeline file, or on the command line:
//! grid = { "train.learning_rate" = [2e-5, 5e-5] } #   --grid train.learning_rate=2e-5,5e-5
//! seeds = [42, 43, 44]                            #   --seeds 42,43,44   (the train stage's seed)
//! ```
//!
//! Every (variant, seed) runs the pipeline up to its evaluate stage. The report gives, per
//! variant, the dev primary metric of each seed with its bootstrap CI and the mean ± sd over
//! seeds; the variant with the best dev mean is chosen (dev only: test never takes part in
//! the choice), and its test metric is reported once (mean ± sd over its seeds). A paired
//! bootstrap compares the chosen variant with the pipeline's default (the file's own values,
//! run as an extra variant when the grid does not hold them), on dev and, for the record, on
//! test, pooling the seeds example by example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use reflect::scores::Scorer;
use reflect::stats::bootstrap::{Bootstrap, Interval, Paired, Units};
use serde::Serialize;

use crate::spec::override_value;
use crate::{Action, PipelineSpec, Registry, RunOptions, plan_pipeline};

/// The grid and seeds of a sweep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepSpec {
    /// `stage.param` and its values as TOML text, in order.
    pub grid: Vec<(String, Vec<String>)>,
    /// Seeds of the train stage; empty: the file's seed only.
    pub seeds: Vec<u64>,
}

pub(crate) fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl SweepSpec {
    /// The `[sweep]` table of a pipeline file (`None` when it has none).
    pub fn from_file(file: &Path) -> Result<Option<Self>> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let doc: toml::Table =
            toml::from_str(&text).with_context(|| format!("{}: TOML syntax", file.display()))?;
        let Some(sweep) = doc.get("sweep") else {
            return Ok(None);
        };
        let place = |key: &str| format!("{}: [sweep] {key}", file.display());
        let table = sweep
            .as_table()
            .with_context(|| format!("{}: expected a table", place("")))?;
        let mut spec = Self::default();
        for (key, value) in table {
            match key.as_str() {
                "grid" => {
                    let grid = value.as_table().with_context(|| {
                        format!(
                            "{}: expected a table of `\"stage.param\" = [values]`",
                            place("grid")
                        )
                    })?;
                    for (param, values) in grid {
                        let list = values.as_array().with_context(|| {
                            format!(
                                "{}: expected a list of values",
                                place(&format!("grid.{param}"))
                            )
                        })?;
                        spec.grid
                            .push((param.clone(), list.iter().map(toml_text).collect()));
                    }
                }
                "seeds" => {
                    let list = value.as_array().with_context(|| {
                        format!("{}: expected a list of integers", place("seeds"))
                    })?;
                    for v in list {
                        let seed = v.as_integer().filter(|s| *s >= 0).with_context(|| {
                            format!(
                                "{}: expected non-negative integers, found {v}",
                                place("seeds")
                            )
                        })?;
                        spec.seeds.push(seed as u64);
                    }
                }
                other => bail!("{}: unknown key; expected `grid` or `seeds`", place(other)),
            }
        }
        Ok(Some(spec))
    }

    /// Adds (or replaces) grid entries given as `stage.param=v1,v2` and replaces the seeds
    /// when given.
    pub fn with_cli(mut self, grid: &[String], seeds: Option<&str>) -> Result<Self> {
        for entry in grid {
            let (key, values) = entry
                .split_once('=')
                .with_context(|| format!("--grid {entry}: expected `stage.param=v1,v2,...`"))?;
            let key = key.trim();
            if key.split('.').count() < 2 {
                bail!("--grid {entry}: expected `stage.param=v1,v2,...`");
            }
            let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
            if values.iter().any(String::is_empty) {
                bail!("--grid {entry}: an empty value");
            }
            self.grid.retain(|(k, _)| k != key);
            self.grid.push((key.to_string(), values));
        }
        if let Some(text) = seeds {
            self.seeds = text
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .with_context(|| format!("--seeds {text}: `{s}` is not a seed"))
                })
                .collect::<Result<_>>()?;
        }
        Ok(self)
    }
}

/// One point of the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    /// `key=value, ...` (or `default`).
    pub name: String,
    /// The `--set` overrides that make it.
    pub overrides: Vec<String>,
    /// Whether it equals the pipeline file's own values.
    pub is_default: bool,
}

/// The grid's variants (cartesian product, first key slowest), plus the file's own values
/// when no grid point equals them. `defaults` holds the file's value of each grid key (as
/// TOML text, `None` when unset).
pub fn variants(spec: &SweepSpec, defaults: &BTreeMap<String, Option<String>>) -> Vec<Variant> {
    let mut points: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (key, values) in &spec.grid {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((key.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    // Compared as the values the overrides will set (`--set`'s reading of the text).
    let same = |key: &str, value: &str| -> bool {
        match defaults.get(key).cloned().flatten() {
            Some(d) => values_equal(&override_value(&d), &override_value(value)),
            None => false,
        }
    };
    let mut out: Vec<Variant> = points
        .into_iter()
        .map(|p| Variant {
            name: if p.is_empty() {
                "default".into()
            } else {
                p.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            is_default: p.iter().all(|(k, v)| same(k, v)),
            overrides: p.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        })
        .collect();
    if !out.iter().any(|v| v.is_default) {
        out.push(Variant {
            name: "default".into(),
            overrides: Vec::new(),
            is_default: true,
        });
    }
    out
}

/// Whether two TOML values are equal, numbers by value (`5e-5` = `0.00005`, `3` = `3.0`).
pub(crate) fn values_equal(a: &toml::Value, b: &toml::Value) -> bool {
    match (
        a.as_float().or(a.as_integer().map(|i| i as f64)),
        b.as_float().or(b.as_integer().map(|i| i as f64)),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// One run of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRun {
    /// Index into the variants.
    pub variant: usize,
    /// The train seed (`None`: the file's).
    pub seed: Option<u64>,
    /// The evaluate artifact it was scored in.
    pub evaluate_dir: PathBuf,
    /// Stages that ran (the rest were up to date and reused).
    pub ran: Vec<String>,
    /// Dev primary metric with its bootstrap CI.
    pub dev: Interval,
    /// Test primary metric (kept for the chosen variant's report only).
    #[serde(skip)]
    pub test: Option<f64>,
}

/// A metric's mean and sample standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanSd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1; 0 for one value).
    pub sd: f64,
    /// Number of values.
    pub n: usize,
}

impl MeanSd {
    /// `0.4589 ± 0.0276`, or the value alone for one run.
    pub fn display(&self) -> String {
        if self.n > 1 {
            format!("{:.4} ± {:.4}", self.mean, self.sd)
        } else {
            format!("{:.4}", self.mean)
        }
    }

    /// Mean and sd of `values`.
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Self { mean, sd, n }
    }
}

/// A variant's summary.
#[derive(Debug, Clone, Serialize)]
pub struct VariantSummary {
    /// The variant.
    pub variant: Variant,
    /// Dev primary metric over its seeds.
    pub dev: MeanSd,
    /// Each seed's dev value with its CI.
    pub runs: Vec<SweepRun>,
}

/// What a sweep found.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// The pipeline file.
    pub file: PathBuf,
    /// The primary metric's name.
    pub metric: String,
    /// Seeds run (empty: the file's).
    pub seeds: Vec<u64>,
    /// Every variant, in grid order.
    pub variants: Vec<VariantSummary>,
    /// Index of the variant chosen on dev.
    pub chosen: usize,
    /// Index of the default variant.
    pub default: usize,
    /// The chosen variant's test metric over its seeds, reported once.
    pub chosen_test: MeanSd,
    /// Paired bootstrap chosen − default on dev (seeds pooled), when they differ.
    pub vs_default_dev: Option<Paired>,
    /// The same on test, for the record (not used to choose).
    pub vs_default_test: Option<Paired>,
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// `--set` overrides applied to every run.
    pub base: Vec<String>,
    /// Bootstrap of the CIs and the paired comparison.
    pub bootstrap: Bootstrap,
}

/// Reads a split of an evaluate artifact and its per-example units for the primary metric
/// (entity F1, macro F1, or macro F1 over label sets for a multi-label task).
pub(crate) fn units_of(dir: &Path, split: &str) -> Result<(Scorer, Units)> {
    let path = dir.join(flowcore::schema::predictions::file(split));
    if !path.is_file() {
        bail!(
            "{}: no {split} predictions; a sweep chooses on dev and reports test, so the evaluate stage must score both (`splits = [\"dev\", \"test\"]`)",
            dir.display()
        );
    }
    Ok(Scorer::of_file(split, &path)?)
}

/// Runs `file` with the `--set` overrides `sets` (what is stale of it): the stage reports and
/// the stages that ran (the rest were reused). One recipe of a sweep.
pub(crate) fn run_recipe(
    file: &Path,
    sets: &[String],
    registry: &Registry,
    artifacts: &Path,
    opts: &RunOptions,
) -> Result<(Vec<crate::StageReport>, Vec<String>)> {
    run_spec(PipelineSpec::load(file, sets)?, registry, artifacts, opts)
}

/// Runs the parsed pipeline `spec` (what is stale of it), as [`run_recipe`] does: one recipe
/// of `pipeline improve`, which parses each recipe from the file's text read once.
pub(crate) fn run_spec(
    spec: PipelineSpec,
    registry: &Registry,
    artifacts: &Path,
    opts: &RunOptions,
) -> Result<(Vec<crate::StageReport>, Vec<String>)> {
    let plan = plan_pipeline(spec, registry, artifacts)?;
    let reports = plan.run(opts)?;
    let ran = reports
        .iter()
        .filter(|r| r.action == Action::Ran)
        .map(|r| r.stage.clone())
        .collect();
    Ok((reports, ran))
}

/// Sums units example by example over runs of the same split (seeds pooled).
pub(crate) fn pooled(all: &[Units]) -> Units {
    let Some(first) = all.first() else {
        return Units::new(0);
    };
    let mut out = Units::new(first.dim());
    for i in 0..first.len() {
        let mut row = vec![0.0; first.dim()];
        for u in all {
            for (r, x) in row.iter_mut().zip(u.row(i)) {
                *r += x;
            }
        }
        out.push(&row);
    }
    out
}

/// Runs the sweep of `file` and compares the variants.
pub fn run_sweep(
    file: &Path,
    spec: &SweepSpec,
    registry: &Registry,
    artifacts: &Path,
    opts: &SweepOptions,
) -> Result<SweepReport> {
    let sweep = Sweep::new(file, spec, registry, artifacts, opts)?;
    let results = sweep.run_all()?;
    sweep.compare(results)
}

/// A sweep about to run: its variants and seeds, and the stage instances its runs go through.
struct Sweep<'a> {
    file: &'a Path,
    spec: &'a SweepSpec,
    registry: &'a Registry,
    artifacts: &'a Path,
    opts: &'a SweepOptions,
    /// The evaluate stage instance: every run goes up to it.
    evaluate: String,
    /// The train stage instance, whose seed the sweep's seeds set.
    train: Option<String>,
    variants: Vec<Variant>,
    /// The train seeds of each variant (`None`: the file's own).
    seeds: Vec<Option<u64>>,
}

/// Every run of a sweep, in order, with the dev and test units of each variant's seeds.
struct Results {
    runs: Vec<SweepRun>,
    dev_units: Vec<Vec<Units>>,
    test_units: Vec<Vec<Units>>,
    /// The scorer of the first run (every run has the same task and metric).
    scorer: Option<Scorer>,
}

impl<'a> Sweep<'a> {
    /// Checks that `file` (with the base overrides) has the stages a sweep needs, and makes
    /// the variants of `spec`'s grid, the file's own values recognised among them.
    fn new(
        file: &'a Path,
        spec: &'a SweepSpec,
        registry: &'a Registry,
        artifacts: &'a Path,
        opts: &'a SweepOptions,
    ) -> Result<Self> {
        let base_spec = PipelineSpec::load(file, &opts.base)?;
        let evaluate = base_spec
            .stages
            .iter()
            .find(|s| s.kind == "evaluate")
            .map(|s| s.name.clone())
            .with_context(|| format!("{}: a sweep needs an evaluate stage", file.display()))?;
        let train = base_spec
            .stages
            .iter()
            .find(|s| s.kind == "train")
            .map(|s| s.name.clone());
        if !spec.seeds.is_empty() && train.is_none() {
            bail!("{}: seeds need a train stage", file.display());
        }
        let defaults = grid_defaults(file, spec, &base_spec)?;
        let seeds = if spec.seeds.is_empty() {
            vec![None]
        } else {
            spec.seeds.iter().copied().map(Some).collect()
        };
        Ok(Self {
            file,
            spec,
            registry,
            artifacts,
            opts,
            evaluate,
            train,
            variants: variants(spec, &defaults),
            seeds,
        })
    }

    /// Runs every variant with every seed, in grid order.
    fn run_all(&self) -> Result<Results> {
        let mut results = Results {
            runs: Vec::new(),
            dev_units: vec![Vec::new(); self.variants.len()],
            test_units: vec![Vec::new(); self.variants.len()],
            scorer: None,
        };
        for vi in 0..self.variants.len() {
            for seed in &self.seeds {
                let n = results.runs.len() + 1;
                let (run, scorer, dev, test) = self.run(vi, *seed, n)?;
                results.dev_units[vi].push(dev);
                results.test_units[vi].push(test);
                results.runs.push(run);
                results.scorer.get_or_insert(scorer);
            }
        }
        Ok(results)
    }

    /// Run number `n`: variant `vi` with `seed`, up to evaluate, scored on dev (with its CI)
    /// and test; also its scorer and its dev and test units.
    fn run(
        &self,
        vi: usize,
        seed: Option<u64>,
        n: usize,
    ) -> Result<(SweepRun, Scorer, Units, Units)> {
        let variant = &self.variants[vi];
        let mut sets = self.opts.base.clone();
        sets.extend(variant.overrides.iter().cloned());
        if let (Some(seed), Some(train)) = (seed, &self.train) {
            sets.push(format!("{train}.seed={seed}"));
        }
        let (reports, ran) = run_recipe(
            self.file,
            &sets,
            self.registry,
            self.artifacts,
            &RunOptions {
                until: Some(self.evaluate.clone()),
                ..RunOptions::default()
            },
        )?;
        self.log_run(n, variant, seed, &reports, &ran);
        let dir = reports
            .iter()
            .find(|r| r.stage == self.evaluate)
            .and_then(|r| r.dir.clone())
            .context("the evaluate stage left no artifact")?;
        let (s, dev) = units_of(&dir, "dev")?;
        let (_, test) = units_of(&dir, "test")?;
        let primary = s.primary();
        let run = SweepRun {
            variant: vi,
            seed,
            evaluate_dir: dir,
            ran,
            dev: self.opts.bootstrap.ci(&dev, |x| s.value(primary, x)),
            test: Some(s.value(primary, &test.total())),
        };
        Ok((run, s, dev, test))
    }

    /// Logs which stages run `n` ran and which it reused.
    fn log_run(
        &self,
        n: usize,
        variant: &Variant,
        seed: Option<u64>,
        reports: &[crate::StageReport],
        ran: &[String],
    ) {
        let reused: Vec<&str> = reports
            .iter()
            .filter(|r| r.action == Action::Skipped)
            .map(|r| r.stage.as_str())
            .collect();
        let total = self.variants.len() * self.seeds.len();
        tracing::info!(
            "sweep run {n}/{total} [{}{}]: ran {}; reused {}",
            variant.name,
            seed.map(|s| format!(", seed {s}")).unwrap_or_default(),
            if ran.is_empty() {
                "nothing".into()
            } else {
                ran.join(", ")
            },
            if reused.is_empty() {
                "nothing".into()
            } else {
                reused.join(", ")
            },
        );
    }

    /// The report: each variant's dev mean over its seeds, the variant chosen on dev, its
    /// test metric, and the paired comparison with the default.
    fn compare(&self, results: Results) -> Result<SweepReport> {
        let scorer = results.scorer.context("the sweep ran nothing")?;
        let primary = scorer.primary();
        let mut summaries = summaries(&self.variants, &results.runs);
        let chosen = chosen_on_dev(&summaries);
        let default = summaries
            .iter()
            .position(|s| s.variant.is_default)
            .unwrap_or(0);
        let tests: Vec<f64> = summaries[chosen]
            .runs
            .iter()
            .filter_map(|r| r.test)
            .collect();
        let chosen_test = MeanSd::of(&tests);
        let (vs_dev, vs_test) = if chosen == default {
            (None, None)
        } else {
            let stat = |x: &[f64]| scorer.value(primary, x);
            let boot = &self.opts.bootstrap;
            let paired = |units: &[Vec<Units>]| {
                boot.paired(&pooled(&units[chosen]), &pooled(&units[default]), stat)
            };
            (
                Some(paired(&results.dev_units)),
                Some(paired(&results.test_units)),
            )
        };
        // Test was kept for the chosen variant's number only.
        for s in &mut summaries {
            for r in &mut s.runs {
                r.test = None;
            }
        }
        Ok(SweepReport {
            file: self.file.to_path_buf(),
            metric: scorer.name(primary),
            seeds: self.spec.seeds.clone(),
            variants: summaries,
            chosen,
            default,
            chosen_test,
            vs_default_dev: vs_dev,
            vs_default_test: vs_test,
        })
    }
}

/// The file's value of each grid key (as TOML text, `None` when unset); an error names a
/// grid key whose stage the pipeline lacks.
fn grid_defaults(
    file: &Path,
    spec: &SweepSpec,
    base_spec: &PipelineSpec,
) -> Result<BTreeMap<String, Option<String>>> {
    let mut defaults = BTreeMap::new();
    for (key, _) in &spec.grid {
        let (stage, param) = key.split_once('.').context("grid key without a stage")?;
        let s = base_spec
            .stage(stage)
            .with_context(|| format!("--grid {key}: no stage `{stage}` in {}", file.display()))?;
        let value = param
            .split('.')
            .try_fold(&s.params, |v, p| v.get(p))
            .and_then(|v| serde_json::from_value::<toml::Value>(v.clone()).ok())
            .map(|v| toml_text(&v));
        defaults.insert(key.clone(), value);
    }
    Ok(defaults)
}

/// Each variant with its runs and their dev mean ± sd.
fn summaries(variants: &[Variant], runs: &[SweepRun]) -> Vec<VariantSummary> {
    variants
        .iter()
        .enumerate()
        .map(|(vi, v)| {
            let mine: Vec<SweepRun> = runs.iter().filter(|r| r.variant == vi).cloned().collect();
            let devs: Vec<f64> = mine.iter().map(|r| r.dev.estimate).collect();
            VariantSummary {
                variant: v.clone(),
                dev: MeanSd::of(&devs),
                runs: mine,
            }
        })
        .collect()
}

/// The variant with the best dev mean; ties go to the earlier variant.
fn chosen_on_dev(summaries: &[VariantSummary]) -> usize {
    summaries.iter().enumerate().fold(0, |best, (i, s)| {
        if s.dev.mean > summaries[best].dev.mean {
            i
        } else {
            best
        }
    })
}

impl SweepReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let m = &self.metric;
        let mut out = format!(
            "# Sweep of {}\n\nDev {m} per variant (95 % bootstrap CI per seed; mean ± sd over seeds). \
             The variant is chosen on dev only; test is reported once, for the chosen variant.\n\n",
            self.file.display()
        );
        out.push_str(&format!(
            "| variant | dev {m}: mean ± sd | per seed [95 % CI] |\n|---|---:|---|\n"
        ));
        for (i, v) in self.variants.iter().enumerate() {
            let marks = match (i == self.chosen, v.variant.is_default) {
                (true, true) => " **(chosen, default)**",
                (true, false) => " **(chosen)**",
                (false, true) => " (default)",
                (false, false) => "",
            };
            let per_seed: Vec<String> = v
                .runs
                .iter()
                .map(|r| {
                    format!(
                        "{}{}",
                        r.seed.map(|s| format!("seed {s}: ")).unwrap_or_default(),
                        r.dev.display(3)
                    )
                })
                .collect();
            out.push_str(&format!(
                "| {}{marks} | {} | {} |\n",
                v.variant.name,
                v.dev.display(),
                per_seed.join("; ")
            ));
        }
        let chosen = &self.variants[self.chosen];
        out.push_str(&format!(
            "\nChosen: **{}**. Test {m}: **{}** ({}).\n",
            chosen.variant.name,
            self.chosen_test.display(),
            if self.chosen_test.n == 1 {
                "one run".to_string()
            } else {
                format!("mean ± sd over {} runs", self.chosen_test.n)
            }
        ));
        match (&self.vs_default_dev, &self.vs_default_test) {
            (Some(d), Some(t)) => {
                out.push_str(&format!(
                    "\nChosen − default ({}), paired bootstrap with the seeds pooled example by example: \
                     dev {} (p = {:.4}); test, for the record, {} (p = {:.4}).\n",
                    self.variants[self.default].variant.name,
                    d.diff.display(4),
                    d.p_value,
                    t.diff.display(4),
                    t.p_value
                ));
                if d.p_value >= 0.05 {
                    out.push_str("The dev difference is within the noise (p ≥ 0.05): the choice is not evidence that the chosen variant is better; more seeds or a larger dev set would tell.\n");
                }
            }
            _ => out.push_str("\nThe chosen variant is the pipeline's default.\n"),
        }
        out
    }
}

/// Writes `sweep.json` and `sweep.md` under `<artifacts>/<pipeline>/sweeps/<fingerprint>/`
/// (the fingerprint of the variants' evaluate artifacts: the same sweep lands in the same
/// place) and returns the directory.
pub fn write_report(report: &SweepReport, artifacts: &Path) -> Result<PathBuf> {
    let spec = PipelineSpec::load(&report.file, &[])?;
    let runs: Vec<String> = report
        .variants
        .iter()
        .flat_map(|v| v.runs.iter().map(|r| r.evaluate_dir.display().to_string()))
        .collect();
    let fp = flowcore::hash::fingerprint(&serde_json::json!(runs));
    let dir = artifacts
        .join(&spec.globals.pipeline)
        .join("sweeps")
        .join(fp);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("sweep.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    std::fs::write(dir.join("sweep.md"), report.markdown())?;
    Ok(dir)
}

/// One line per sweep recorded for a pipeline (for `pipeline status`): variants, runs, the
/// choice and its test metric, newest last.
pub fn status_lines(artifacts: &Path, pipeline: &str) -> Vec<String> {
    let dir = artifacts.join(pipeline).join("sweeps");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path().join("sweep.json");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            found.push((
                std::time::UNIX_EPOCH,
                format!("sweep          unreadable  {}", file.display()),
            ));
            continue;
        };
        let variants = v["variants"].as_array().map_or(0, Vec::len);
        let runs: usize = v["variants"].as_array().map_or(0, |vs| {
            vs.iter()
                .filter_map(|x| x["runs"].as_array())
                .map(Vec::len)
                .sum()
        });
        let chosen = v["chosen"].as_u64().unwrap_or(0) as usize;
        let name = v["variants"][chosen]["variant"]["name"]
            .as_str()
            .unwrap_or("?");
        let test = &v["chosen_test"];
        let when = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        found.push((
            when,
            format!(
                "sweep          {variants} variant(s), {runs} run(s); chosen on dev: {name}; test {} {:.4} ± {:.4}  {}",
                v["metric"].as_str().unwrap_or("metric"),
                test["mean"].as_f64().unwrap_or(f64::NAN),
                test["sd"].as_f64().unwrap_or(f64::NAN),
                entry.path().join("sweep.md").display()
            ),
        ));
    }
    found.sort_by_key(|a| a.0);
    found.into_iter().map(|(_, l)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcore::TaskKind;

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_the_sweep_table_and_the_command_line_wins() {
        let (_d, path) = file_with(
            "[sweep]\ngrid = { \"train.learning_rate\" = [2e-5, 5e-5], \"train.class_weights\" = [\"balanced\", [1.0, 2.0]] }\nseeds = [1, 2]\n",
        );
        let spec = SweepSpec::from_file(&path).unwrap().unwrap();
        assert_eq!(spec.seeds, [1, 2]);
        assert_eq!(
            spec.grid,
            [
                (
                    "train.learning_rate".to_string(),
                    vec!["0.00002".to_string(), "0.00005".to_string()]
                ),
                (
                    "train.class_weights".to_string(),
                    vec!["\"balanced\"".to_string(), "[1.0, 2.0]".to_string()]
                ),
            ]
        );
        let spec = spec
            .with_cli(
                &["train.learning_rate=1e-4".into(), "train.epochs=1,2".into()],
                Some("7"),
            )
            .unwrap();
        assert_eq!(spec.seeds, [7]);
        assert_eq!(
            spec.grid[1],
            ("train.learning_rate".to_string(), vec!["1e-4".to_string()])
        );
        assert_eq!(spec.grid[2].0, "train.epochs");
    }

    #[test]
    fn bad_sweep_input_is_named() {
        let (_d, path) = file_with("[sweep]\nseeds = [\"x\"]\n");
        let e = SweepSpec::from_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("[sweep] seeds") && e.contains("non-negative integers"),
            "{e}"
        );
        let (_d, path) = file_with("[sweep]\ngrids = {}\n");
        let e = SweepSpec::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("unknown key"), "{e}");
        let e = SweepSpec::default()
            .with_cli(&["lr=1".into()], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stage.param"), "{e}");
        let e = SweepSpec::default()
            .with_cli(&[], Some("1,x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`x` is not a seed"), "{e}");
    }

    #[test]
    fn variants_are_the_product_and_the_default_is_found_or_added() {
        let spec = SweepSpec {
            grid: vec![
                (
                    "train.learning_rate".into(),
                    vec!["5e-5".into(), "1e-4".into()],
                ),
                ("train.epochs".into(), vec!["3".into(), "5".into()]),
            ],
            seeds: vec![],
        };
        let defaults = BTreeMap::from([
            ("train.learning_rate".to_string(), Some("5e-05".to_string())),
            ("train.epochs".to_string(), Some("3".to_string())),
        ]);
        let v = variants(&spec, &defaults);
        assert_eq!(v.len(), 4);
        assert_eq!(
            v[1].overrides,
            ["train.learning_rate=5e-5", "train.epochs=5"]
        );
        // 5e-5 written two ways is the same number.
        assert!(v[0].is_default && !v[1].is_default && !v[3].is_default);
        let other = BTreeMap::from([
            ("train.learning_rate".to_string(), Some("2e-5".to_string())),
            ("train.epochs".to_string(), None),
        ]);
        let v = variants(&spec, &other);
        assert_eq!(v.len(), 5);
        assert_eq!(v[4].name, "default");
        assert!(v[4].overrides.is_empty() && v[4].is_default);
    }

    #[test]
    fn a_multilabel_split_is_scored_by_macro_f1_over_label_sets() {
        let dir = tempfile::tempdir().unwrap();
        let labels = vec!["joy".to_string(), "fear".to_string()];
        let mut p = metrics::Predictions::new(TaskKind::Multilabel, labels);
        for (id, gold, pred) in [
            ("a", "joy|fear", "joy"),
            ("b", "fear", "fear"),
            ("c", "", ""),
        ] {
            p.rows.push(metrics::PredictionRow {
                id: id.into(),
                word: None,
                token: None,
                gold: gold.into(),
                pred: pred.into(),
                probs: Some(vec![0.9, 0.2]),
            });
        }
        p.write(&dir.path().join(flowcore::schema::predictions::file("dev")))
            .unwrap();
        let (scorer, units) = units_of(dir.path(), "dev").unwrap();
        assert_eq!(units.len(), 3);
        // joy: tp 1, predicted 1, gold 1 -> F1 1; fear: tp 1, predicted 1, gold 2 -> F1 2/3.
        let macro_f1 = scorer.value(scorer.primary(), &units.total());
        assert!(
            (macro_f1 - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12,
            "{macro_f1}"
        );
        assert_eq!(scorer.name(scorer.primary()), "macro F1");
    }

    #[test]
    fn mean_and_sample_sd() {
        let m = MeanSd::of(&[0.3, 0.4, 0.5]);
        assert!((m.mean - 0.4).abs() < 1e-12);
        assert!((m.sd - 0.1).abs() < 1e-12);
        assert_eq!(MeanSd::of(&[0.7]).sd, 0.0);
    }
}
