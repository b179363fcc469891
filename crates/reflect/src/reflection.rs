//! One report path for every task kind. A [`Reflection`] is the analysis of one task kind
//! (the generic one for token and sequence tasks, the multi-label one); it gives its findings,
//! headline lines, Markdown, HTML, JSON and manifest numbers, and [`write_report`] writes
//! `report.html`, `report.md`, `findings.json` and `analysis.json` and returns the manifest
//! metrics the same way for every kind.

use std::path::Path;

use flowcore::schema::predictions as pcol;
use serde_json::{Map, Value, json};

use crate::analysis::multilabel::MultilabelAnalysis;
use crate::analysis::{self, Analysis, Inputs, MetricCi};
use crate::error::Result;
use crate::findings::{self, Finding, Severity};
use crate::params::{ANALYSIS_JSON, FINDINGS_JSON, REPORT_HTML, REPORT_MD, ReflectParams};
use crate::remedies::{self, Recipe};
use crate::report;
use crate::stats::bootstrap::Paired;

/// The analysis of one task kind, ready to report.
#[derive(Debug, Clone)]
pub enum Reflection {
    /// Token and sequence tasks: one label per item.
    Items {
        /// Every generic analysis.
        analysis: Box<Analysis>,
        /// The evaluated predictions file's name, which evidence rows point into.
        file: String,
    },
    /// Multi-label tasks: several labels per example.
    Multilabel(Box<MultilabelAnalysis>),
}

impl Reflection {
    /// Runs the generic analyses on `inputs`.
    pub fn items(inputs: &Inputs, params: &ReflectParams) -> Result<Self> {
        let analysis = analysis::analyze(inputs, &params.options())?;
        let file = inputs.split.path.file_name().map_or_else(
            || pcol::file(&params.split),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self::Items {
            analysis: Box::new(analysis),
            file,
        })
    }

    /// The ranked findings.
    pub fn findings(&self, params: &ReflectParams) -> Vec<Finding> {
        match self {
            Self::Items { analysis, file } => {
                findings::findings(analysis, file, params.options().bootstrap)
            }
            Self::Multilabel(a) => findings::multilabel::findings(a, params),
        }
    }

    /// The few lines a pipeline prints at the end of a run.
    pub fn headline_lines(&self, found: &[Finding]) -> Vec<String> {
        match self {
            Self::Items { analysis, .. } => report::headline_lines(analysis, found),
            Self::Multilabel(a) => report::multilabel::headline_lines(a, found),
        }
    }

    /// `report.md`.
    pub fn markdown(&self, found: &[Finding]) -> String {
        match self {
            Self::Items { analysis, .. } => report::markdown(analysis, found),
            Self::Multilabel(a) => report::multilabel::markdown(a, found),
        }
    }

    /// `report.html`.
    pub fn html(&self, found: &[Finding]) -> Result<String> {
        match self {
            Self::Items { analysis, .. } => report::html(analysis, found),
            Self::Multilabel(a) => report::multilabel::html(a, found),
        }
    }

    /// `analysis.json`: every number of the analysis.
    pub fn to_json(&self) -> serde_json::Result<String> {
        match self {
            Self::Items { analysis, .. } => serde_json::to_string_pretty(analysis),
            Self::Multilabel(a) => serde_json::to_string_pretty(a),
        }
    }

    /// The manifest metrics that describe the analysis: split, size, headline intervals,
    /// calibration and baseline summaries.
    fn metrics(&self) -> Map<String, Value> {
        let m = match self {
            Self::Items { analysis: a, .. } => {
                let cal = a.calibration.as_ref().map(|c| {
                    json!({
                        "level": c.level,
                        "ece_before": finite(c.ece.estimate),
                        "ece_after": c.after.as_ref().map(|x| finite(x.ece.estimate)),
                        "temperature": a.temperature.map(|t| finite(t.t)),
                    })
                });
                let base = a.baseline.as_ref().map(|b| {
                    json!({
                        "metric": b.metric,
                        "diff": finite(b.paired.diff.estimate),
                        "lo": finite(b.paired.diff.lo),
                        "hi": finite(b.paired.diff.hi),
                        "p_value": finite(b.paired.p_value),
                        "mcnemar_p": b.mcnemar.map(|m| finite(m.p_value)),
                    })
                });
                json!({
                    "split": a.split,
                    "task": a.task,
                    "examples": a.examples,
                    "unit": a.unit,
                    "resamples": a.bootstrap.resamples,
                    "headline": headline(&a.headline),
                    "calibration": cal,
                    "baseline": base,
                })
            }
            Self::Multilabel(a) => {
                let cal = (!a.calibration.is_empty()).then(|| {
                    let worst = a
                        .calibration
                        .iter()
                        .max_by(|x, y| x.report.ece.estimate.total_cmp(&y.report.ece.estimate));
                    json!({
                        "level": "label",
                        "ece_mean": finite(a.calibration.iter().map(|c| c.report.ece.estimate).sum::<f64>() / a.calibration.len() as f64),
                        "ece_max": worst.map(|w| finite(w.report.ece.estimate)),
                        "ece_max_label": worst.map(|w| w.label.clone()),
                    })
                });
                let paired = |p: &Paired| {
                    json!({
                        "diff": finite(p.diff.estimate),
                        "lo": finite(p.diff.lo),
                        "hi": finite(p.diff.hi),
                        "p_value": finite(p.p_value),
                    })
                };
                let base = a.baseline.as_ref().map(|b| {
                    json!({
                        "metric": "micro F1",
                        "diff": finite(b.micro_f1.diff.estimate),
                        "lo": finite(b.micro_f1.diff.lo),
                        "hi": finite(b.micro_f1.diff.hi),
                        "p_value": finite(b.micro_f1.p_value),
                        "micro_f1": paired(&b.micro_f1),
                        "macro_f1": paired(&b.macro_f1),
                    })
                });
                json!({
                    "split": a.split,
                    "task": a.task,
                    "examples": a.examples,
                    "labels": a.labels.len(),
                    "unit": a.unit,
                    "resamples": a.bootstrap.resamples,
                    "headline": headline(&a.headline),
                    "calibration": cal,
                    "baseline": base,
                })
            }
        };
        match m {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// A number for JSON: `null` when not finite.
fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// The headline metrics with their intervals.
fn headline(metrics: &[MetricCi]) -> Vec<Value> {
    metrics
        .iter()
        .map(|h| json!({"metric": h.name, "value": finite(h.ci.estimate), "lo": finite(h.ci.lo), "hi": finite(h.ci.hi)}))
        .collect()
}

/// The numbers recorded in the reflect artifact's manifest: the analysis' own, the findings
/// counts, the headline lines and the report's name.
pub fn manifest_metrics(r: &Reflection, found: &[Finding]) -> Value {
    let count = |s: Severity| found.iter().filter(|f| f.severity == s).count();
    let mut m = r.metrics();
    m.insert("findings".into(), json!(found.len()));
    m.insert("findings_high".into(), json!(count(Severity::High)));
    m.insert("findings_medium".into(), json!(count(Severity::Medium)));
    m.insert("headline_lines".into(), json!(r.headline_lines(found)));
    m.insert("verdict".into(), json!(report::verdict_lines(found)));
    m.insert("report".into(), json!(REPORT_HTML));
    Value::Object(m)
}

/// Derives the findings of `r`, with the remedies `recipe` allows, and writes `report.html`, `report.md`, `findings.json` and
/// `analysis.json` into `out_dir`; logs the headline lines and returns the manifest metrics.
pub fn write_report(
    r: &Reflection,
    params: &ReflectParams,
    recipe: &Recipe,
    out_dir: &Path,
) -> anyhow::Result<Value> {
    let mut found = r.findings(params);
    let mut recipe = recipe.clone();
    match r {
        Reflection::Items { analysis, .. } => {
            recipe.task = Some(analysis.task);
            recipe.train_support = analysis.train_support.clone();
        }
        Reflection::Multilabel(_) => recipe.task = Some(flowcore::TaskKind::Multilabel),
    }
    remedies::attach(&mut found, &recipe);
    fs_err::write(out_dir.join(REPORT_HTML), r.html(&found)?)?;
    fs_err::write(out_dir.join(REPORT_MD), r.markdown(&found))?;
    fs_err::write(
        out_dir.join(FINDINGS_JSON),
        serde_json::to_string_pretty(&found)? + "\n",
    )?;
    fs_err::write(out_dir.join(ANALYSIS_JSON), r.to_json()? + "\n")?;
    for line in report::verdict_lines(&found)
        .into_iter()
        .take(1)
        .chain(r.headline_lines(&found))
    {
        tracing::info!("{line}");
    }
    Ok(manifest_metrics(r, &found))
}
