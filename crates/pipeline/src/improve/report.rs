//! The improve report: what each round tried, dev results with CIs, the choice, test once,
//! and the findings of the improved model (`improve.json`, `improve.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use reflect::stats::bootstrap::Interval;
use serde::Serialize;

use super::{CalibrationStep, Choice, Confirmation, Outcome, Round, Trial};
use crate::PipelineSpec;

/// What `pipeline improve` did and found.
#[derive(Debug, Clone, Serialize)]
pub struct ImproveReport {
    /// The pipeline file.
    pub file: PathBuf,
    /// Its text as improve read it, once (not serialized): [`write_report`] takes the
    /// pipeline's name from it rather than reading the file again.
    #[serde(skip)]
    pub pipeline_text: String,
    /// The dev (and test) metric compared.
    pub metric: String,
    /// The budget, when one was set.
    pub budget_minutes: Option<f64>,
    /// `--max-runs`.
    pub max_runs: usize,
    /// Whether successive halving could stop trials (off when trials are compared by cost).
    pub halving: bool,
    /// Wall-clock seconds of the whole loop.
    pub seconds: f64,
    /// Every round.
    pub rounds: Vec<Round>,
    /// The adopted overrides and why.
    pub changes: Vec<(String, String)>,
    /// The chosen recipe's `--set` overrides on top of the file.
    pub recipe: Vec<String>,
    /// Why the loop ended.
    pub end: String,
    /// `<pipeline>.improved.toml`, when something was adopted.
    pub improved_file: Option<PathBuf>,
    /// Test metric of the chosen recipe, read once after every choice was made.
    pub test_chosen: Option<Interval>,
    /// Test metric of the original recipe, for the record.
    pub test_original: Option<Interval>,
    /// Test mean NLL of the chosen recipe, when a round judged calibration remedies.
    pub test_nll_chosen: Option<Interval>,
    /// Test mean NLL of the original recipe, likewise.
    pub test_nll_original: Option<Interval>,
    /// The chosen recipe's reflect artifact (its reflection on the file's split, test by
    /// default, made after every choice).
    pub final_reflect: Option<PathBuf>,
    /// The chosen recipe's evaluate artifact with the file's splits (test included).
    pub final_evaluate: Option<PathBuf>,
}

/// `path` as the report shows it: relative to the working directory when it is inside it, so
/// no machine's paths end up in a report that is committed.
pub(crate) fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The cells every trial table starts with — `| name (adopted) | finding | overrides | outcome |`
/// — and the trial's dev value, for the table's own columns after them.
fn trial_cells(t: &Trial, chosen: bool) -> (String, String) {
    let (outcome, dev) = outcome_cells(t);
    let head = format!(
        "| {}{} | {} | {} | {} |",
        cell(&t.name),
        if chosen { " **(adopted)**" } else { "" },
        cell(&t.finding),
        cell(&t.overrides.join(" ")),
        cell(&outcome)
    );
    (head, dev)
}

fn outcome_cells(t: &Trial) -> (String, String) {
    match &t.outcome {
        Outcome::Completed { dev } => ("completed".into(), dev.display(4)),
        Outcome::Stopped { reason } => (format!("stopped: {reason}"), "–".into()),
        Outcome::Failed { error } => (format!("failed: {error}"), "–".into()),
        Outcome::Skipped { reason } => (format!("not run: {reason}"), "–".into()),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl ImproveReport {
    /// Trials run (stopped ones included) over all rounds.
    pub fn trials_run(&self) -> usize {
        self.rounds
            .iter()
            .flat_map(|r| {
                r.trials
                    .iter()
                    .chain(r.calibration.iter().flat_map(|c| &c.trials))
            })
            .filter(|t| !matches!(t.outcome, Outcome::Skipped { .. }))
            .count()
    }

    /// The report as Markdown: how trials were run and chosen, each round, the result, test
    /// (read once) and the chosen model's findings.
    pub fn markdown(&self) -> String {
        let mut o = format!("# Improve: {}\n\n", shown(&self.file));
        o.push_str(&self.method_text());
        for (i, r) in self.rounds.iter().enumerate() {
            o.push_str(&self.round_text(i, r));
        }
        o.push_str(&self.result_text());
        o.push_str(&self.test_text());
        if let Some(dir) = &self.final_reflect {
            o.push_str(&final_findings_text(dir));
        }
        o
    }

    /// The opening paragraphs: rounds and trials run, the budget, how trials were run, stopped
    /// and chosen, and which split each number comes from.
    fn method_text(&self) -> String {
        let m = &self.metric;
        format!(
            "{} round(s), {} trial(s) run in {:.1} min{}; at most {} trial(s). Each trial is the current recipe plus the remedy a finding proposed, run up to evaluate; {} Choice on dev {m} only: candidates are taken in dev order, and one is adopted when the paired bootstrap 95 % CI of its dev gain over the current recipe excludes 0 (and holds on a second training seed where dev is small); one that fails falls back to the next.\n\n**Splits.** The findings that proposed each round's remedies come from a reflection on **dev**; every trial evaluated dev alone (no test predictions exist for them). Test was read once, after every choice: the chosen and the original recipes ran to the end on the file's own splits.\n",
            self.rounds.len(),
            self.trials_run(),
            self.seconds / 60.0,
            self.budget_minutes
                .map(|b| format!(" (budget {b:.0} min)"))
                .unwrap_or_default(),
            self.max_runs,
            if self.halving {
                "successive halving stopped trials that trailed the earlier ones at the same share of their own schedules (step / planned steps), so a longer schedule is not stopped for being early in its learning-rate decay."
            } else {
                "successive halving was off (train's dev curve reports its metric, not the cost trials are compared by), so every trial ran to the end."
            }
        )
    }

    /// Round `i`: its recipe, the reference and trials with their dev results, the choice,
    /// and the calibration remedies when there were any.
    fn round_text(&self, i: usize, r: &Round) -> String {
        let m = &self.metric;
        let mut o = format!(
            "\n## Round {}\n\nRecipe: {}\n\n| run | finding | overrides | outcome | dev {m} [95 % CI] | min |\n|---|---|---|---|---:|---:|\n",
            i + 1,
            if r.recipe.is_empty() {
                "the file as written".to_string()
            } else {
                format!("`{}`", r.recipe.join(" "))
            }
        );
        for (k, t) in std::iter::once(&r.reference).chain(&r.trials).enumerate() {
            let chosen = k > 0 && r.choice.adopted == Some(k - 1);
            let (head, dev) = trial_cells(t, chosen);
            o.push_str(&format!("{head} {dev} | {:.1} |\n", t.seconds / 60.0));
        }
        if r.trials.is_empty() {
            o.push_str("\nThe findings proposed no remedy that changes decisions.\n");
        } else if r.choice.best.is_none() {
            o.push_str("\nNo trial completed: nothing to compare.\n");
        } else {
            o.push_str(&attempts_text(&r.choice, &r.trials, "gain"));
        }
        if let Some(c) = &r.calibration {
            o.push_str(&calibration_text(c, m));
        }
        o
    }

    /// Why the loop ended, what was adopted (and where it was written), with the warning that
    /// dev gains of a chosen trial are optimistic.
    fn result_text(&self) -> String {
        let mut o = format!("\n## Result\n\n{}\n", self.end);
        if self.changes.is_empty() {
            o.push_str(
                "\nThe recipe is kept as it was: nothing beat it on dev beyond the noise.\n",
            );
            return o;
        }
        o.push_str("\nAdopted:\n\n");
        for (set, why) in &self.changes {
            o.push_str(&format!("- `{set}`: {why}\n"));
        }
        if let Some(f) = &self.improved_file {
            o.push_str(&format!("\nWritten to `{}`.\n", shown(f)));
        }
        o.push_str(&format!(
            "\nThe dev gains above are optimistic: the best of {} trial(s) was chosen on the same dev set. Test, read once after every choice was made, is the number to quote.\n",
            self.trials_run()
        ));
        o
    }

    /// Test, read once after every choice: the chosen recipe's metric (and NLL when
    /// calibration was judged), with the original's for the record when they differ.
    fn test_text(&self) -> String {
        let m = &self.metric;
        let mut o = String::new();
        if let Some(t) = &self.test_chosen {
            o.push_str(&format!(
                "\nTest {m} (read once, after every choice), chosen recipe: **{}**",
                t.display(4)
            ));
            match &self.test_original {
                Some(orig) if !self.changes.is_empty() => o.push_str(&format!(
                    "; original recipe, for the record: {}.\n",
                    orig.display(4)
                )),
                _ => o.push_str(".\n"),
            }
        }
        if let Some(t) = &self.test_nll_chosen {
            o.push_str(&format!(
                "\nTest mean NLL per item, chosen recipe: **{}**",
                t.display(4)
            ));
            match &self.test_nll_original {
                Some(orig) if !self.changes.is_empty() => {
                    o.push_str(&format!("; original recipe: {}.\n", orig.display(4)));
                }
                _ => o.push_str(".\n"),
            }
        }
        o
    }
}

/// A round's calibration remedies: how they are judged, their table with dev NLL, and the
/// choice among them.
fn calibration_text(c: &CalibrationStep, m: &str) -> String {
    let mut o = format!(
        "\nCalibration remedies change no decision; they are judged by the dev mean NLL of the gold label per item (multi-label: of each label's presence; lower is better; reference {}), and adopted when the NLL saved has a CI that excludes 0 and dev {m} is not lower.\n\n| run | finding | overrides | outcome | dev {m} | dev NLL [95 % CI] | min |\n|---|---|---|---|---:|---:|---:|\n",
        c.reference_nll.display(4)
    );
    for (k, t) in c.trials.iter().enumerate() {
        let (head, dev) = trial_cells(t, c.choice.adopted == Some(k));
        o.push_str(&format!(
            "{head} {}{} | {} | {:.1} |\n",
            dev,
            if c.decisions_kept.get(k) == Some(&false)
                && matches!(t.outcome, Outcome::Completed { .. })
            {
                " (lower)"
            } else {
                ""
            },
            c.nll[k].as_ref().map_or("–".into(), |i| i.display(4)),
            t.seconds / 60.0
        ));
    }
    if c.choice.best.is_some() {
        o.push_str(&attempts_text(&c.choice, &c.trials, "NLL saved per item"));
    }
    o
}

/// The chosen model's findings (its reflection on test, made after every choice).
fn final_findings_text(dir: &Path) -> String {
    let mut o = format!(
        "\n## Findings of the chosen model (reflection on test, after every choice)\n\nFrom `{}`:\n\n",
        shown(&dir.join("report.md"))
    );
    for line in top_findings(dir, 10) {
        o.push_str(&format!("- {line}\n"));
    }
    o
}

/// The candidates a choice considered, in dev order, each with why it was or was not adopted.
fn attempts_text(choice: &Choice, trials: &[Trial], gain: &str) -> String {
    let mut o = format!("\nCandidates, best {gain} on dev first:\n\n");
    for (i, a) in choice.attempts.iter().enumerate() {
        let name = trials.get(a.trial).map_or("?", |t| t.name.as_str());
        o.push_str(&format!(
            "{}. **{name}**: {gain} {} (p = {:.4}): {}{}.\n",
            i + 1,
            a.vs_reference.diff.display(4),
            a.vs_reference.p_value,
            if a.adopted {
                "adopted, "
            } else {
                "not adopted, "
            },
            a.why
        ));
        if let Some(c) = &a.confirmation {
            o.push_str(&confirmation_text(c));
        }
    }
    if !choice.adopt {
        o.push_str("\nNo candidate was adopted.\n");
    }
    o
}

/// A second-seed check, one indented line.
fn confirmation_text(c: &Confirmation) -> String {
    let ci = |i: &Option<Interval>| i.as_ref().map_or("-".into(), |i| i.display(4));
    format!(
        "   Dev has fewer examples than `--confirm-below`, so the gain had to hold on a second seed (train seed {}, {:.1} min): reference {}, trial {}{}.\n",
        c.seed,
        c.seconds / 60.0,
        ci(&c.reference),
        ci(&c.trial),
        match (&c.pooled, &c.note) {
            (Some(p), _) => format!(
                "; gain over both seeds {} (p = {:.4})",
                p.diff.display(4),
                p.p_value
            ),
            (None, note) => format!("; no decision ({})", note.as_deref().unwrap_or("no result")),
        }
    )
}

/// The first `n` findings of a reflect artifact, one line each.
fn top_findings(dir: &Path, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("findings.json")) else {
        return vec!["(no findings.json)".into()];
    };
    let Ok(serde_json::Value::Array(found)) = serde_json::from_str(&text) else {
        return vec!["(findings.json unreadable)".into()];
    };
    found
        .iter()
        .take(n)
        .map(|f| {
            format!(
                "{} `{}`: {}",
                f["severity"].as_str().unwrap_or("?"),
                f["id"].as_str().unwrap_or("?"),
                f["title"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Writes `improve.json` and `improve.md` under `<artifacts>/<pipeline>/improve/<fingerprint>/`
/// (the fingerprint of the runs compared) and returns the directory.
pub fn write_report(report: &ImproveReport, artifacts: &Path) -> Result<PathBuf> {
    let spec = PipelineSpec::parse(&report.file, &report.pipeline_text, &[])?;
    let runs: Vec<String> = report
        .rounds
        .iter()
        .flat_map(|r| std::iter::once(&r.reference).chain(&r.trials))
        .map(|t| format!("{:?} {:?}", t.overrides, t.evaluate_dir))
        .collect();
    let fp = flowcore::hash::fingerprint(&serde_json::json!([runs, report.recipe]));
    let dir = artifacts
        .join(&spec.globals.pipeline)
        .join("improve")
        .join(fp);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("improve.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    std::fs::write(dir.join("improve.md"), report.markdown())?;
    Ok(dir)
}
