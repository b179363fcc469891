//! The improve report: what each round tried, dev results with CIs, the choice, test once,
//! and the findings of the improved model (`improve.json`, `improve.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use reflect::stats::bootstrap::Interval;
use serde::Serialize;

use super::{Outcome, Round, Trial};
use crate::PipelineSpec;

/// What `pipeline improve` did and found.
#[derive(Debug, Clone, Serialize)]
pub struct ImproveReport {
    /// The pipeline file.
    pub file: PathBuf,
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
    /// The chosen recipe's reflect artifact.
    pub final_reflect: Option<PathBuf>,
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

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let m = &self.metric;
        let mut o = format!("# Improve: {}\n\n", self.file.display());
        o.push_str(&format!(
            "{} round(s), {} trial(s) run in {:.1} min{}; at most {} trial(s). Each trial is the current recipe plus the remedy a finding proposed, run up to evaluate; {} Choice on dev {m} only: a remedy is adopted when the paired bootstrap 95 % CI of its dev gain over the current recipe excludes 0.\n",
            self.rounds.len(),
            self.trials_run(),
            self.seconds / 60.0,
            self.budget_minutes
                .map(|b| format!(" (budget {b:.0} min)"))
                .unwrap_or_default(),
            self.max_runs,
            if self.halving {
                "successive halving stopped trials that trailed the earlier ones at the same step."
            } else {
                "successive halving was off (train's dev curve reports its metric, not the cost trials are compared by), so every trial ran to the end."
            }
        ));
        for (i, r) in self.rounds.iter().enumerate() {
            o.push_str(&format!(
                "\n## Round {}\n\nRecipe: {}\n\n| run | finding | overrides | outcome | dev {m} [95 % CI] | min |\n|---|---|---|---|---:|---:|\n",
                i + 1,
                if r.recipe.is_empty() {
                    "the file as written".to_string()
                } else {
                    format!("`{}`", r.recipe.join(" "))
                }
            ));
            for (k, t) in std::iter::once(&r.reference).chain(&r.trials).enumerate() {
                let (outcome, dev) = outcome_cells(t);
                let chosen = k > 0 && r.choice.adopt && r.choice.best == Some(k - 1);
                o.push_str(&format!(
                    "| {}{} | {} | {} | {} | {} | {:.1} |\n",
                    cell(&t.name),
                    if chosen { " **(adopted)**" } else { "" },
                    cell(&t.finding),
                    cell(&t.overrides.join(" ")),
                    cell(&outcome),
                    dev,
                    t.seconds / 60.0
                ));
            }
            match (&r.choice.best, &r.choice.vs_reference) {
                (Some(b), Some(p)) => o.push_str(&format!(
                    "\nBest on dev: **{}**, gain over the reference {} (p = {:.4}): {}.\n",
                    r.trials[*b].name,
                    p.diff.display(4),
                    p.p_value,
                    match (&r.choice.confirmation, r.choice.adopt) {
                        (Some(_), true) => "beyond the noise, confirmed on a second seed, adopted",
                        (Some(_), false) =>
                            "beyond the noise on one seed, then checked on a second seed",
                        (None, true) => "adopted",
                        (None, false) => "within the noise, not adopted",
                    }
                )),
                _ if r.trials.is_empty() => {
                    o.push_str("\nThe findings proposed no remedy that changes decisions.\n");
                }
                _ => o.push_str("\nNo trial completed: nothing to compare.\n"),
            }
            if let Some(c) = &r.calibration {
                o.push_str(&format!(
                    "\nCalibration remedies change no decision; they are judged by the dev mean NLL of the gold label per item (multi-label: of each label's presence; lower is better; reference {}), and adopted when the NLL saved has a CI that excludes 0 and dev {m} is not lower.\n\n| run | finding | overrides | outcome | dev {m} | dev NLL [95 % CI] | min |\n|---|---|---|---|---:|---:|---:|\n",
                    c.reference_nll.display(4)
                ));
                for (k, t) in c.trials.iter().enumerate() {
                    let (outcome, dev) = outcome_cells(t);
                    let chosen = c.choice.adopt && c.choice.best == Some(k);
                    o.push_str(&format!(
                        "| {}{} | {} | {} | {} | {}{} | {} | {:.1} |\n",
                        cell(&t.name),
                        if chosen { " **(adopted)**" } else { "" },
                        cell(&t.finding),
                        cell(&t.overrides.join(" ")),
                        cell(&outcome),
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
                if let (Some(b), Some(p)) = (c.choice.best, &c.choice.vs_reference) {
                    o.push_str(&format!(
                        "\nBest calibration remedy: **{}**, NLL saved per item {} (p = {:.4}): {}.\n",
                        c.trials[b].name,
                        p.diff.display(4),
                        p.p_value,
                        if c.choice.adopt {
                            "adopted"
                        } else if !c.decisions_kept[b] {
                            "not adopted (it lowered the decision measure)"
                        } else {
                            "within the noise, not adopted"
                        }
                    ));
                }
            }
            if let Some(c) = &r.choice.confirmation {
                let ci = |i: &Option<Interval>| i.as_ref().map_or("-".into(), |i| i.display(4));
                o.push_str(&format!(
                    "\nDev has fewer examples than `--confirm-below`, so the gain had to hold on a second seed (train seed {}, {:.1} min): reference {}, trial {}",
                    c.seed,
                    c.seconds / 60.0,
                    ci(&c.reference),
                    ci(&c.trial),
                ));
                match (&c.pooled, &c.note) {
                    (Some(p), _) => o.push_str(&format!(
                        "; gain over both seeds {} (p = {:.4}): {}.\n",
                        p.diff.display(4),
                        p.p_value,
                        if r.choice.adopt {
                            "adopted"
                        } else {
                            "not adopted"
                        }
                    )),
                    (None, note) => o.push_str(&format!(
                        "; no decision ({}): not adopted.\n",
                        note.as_deref().unwrap_or("no result")
                    )),
                }
            }
        }
        o.push_str(&format!("\n## Result\n\n{}\n", self.end));
        if self.changes.is_empty() {
            o.push_str(
                "\nThe recipe is kept as it was: nothing beat it on dev beyond the noise.\n",
            );
        } else {
            o.push_str("\nAdopted:\n\n");
            for (set, why) in &self.changes {
                o.push_str(&format!("- `{set}`: {why}\n"));
            }
            if let Some(f) = &self.improved_file {
                o.push_str(&format!("\nWritten to `{}`.\n", f.display()));
            }
            o.push_str(&format!(
                "\nThe dev gains above are optimistic: the best of {} trial(s) was chosen on the same dev set. Test, read once after every choice was made, is the number to quote.\n",
                self.trials_run()
            ));
        }
        if let Some(t) = &self.test_chosen {
            o.push_str(&format!("\nTest {m}, chosen recipe: **{}**", t.display(4)));
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
        if let Some(dir) = &self.final_reflect {
            o.push_str(&format!(
                "\n## Findings of the chosen model\n\nFrom `{}`:\n\n",
                dir.join("report.md").display()
            ));
            for line in top_findings(dir, 10) {
                o.push_str(&format!("- {line}\n"));
            }
        }
        o
    }
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
    let spec = PipelineSpec::load(&report.file, &[])?;
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
