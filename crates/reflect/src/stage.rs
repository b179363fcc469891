//! The `reflect` pipeline stage: reads evaluate (and optionally baseline, ingest, train)
//! artifacts, runs every analysis and writes `report.html`, `report.md`, `findings.json` and
//! `analysis.json`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Context as _;
use flowcore::schema::{self, predictions as pcol};
use flowcore::{Artifact, Globals, InputSpec, Resolved, Stage, StageContext, StageOutcome};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::analysis::{self, Analysis, Inputs, Options};
use crate::data::{ColumnValues, Context, IngestTable, Split};
use crate::error::{ReflectError, Result};
use crate::findings::{self, Finding, Severity};
use crate::history::History;
use crate::ner::{self, EntityConfidence};
use crate::report;
use crate::stats::bootstrap::Bootstrap;

/// The HTML report.
pub const REPORT_HTML: &str = "report.html";
/// The Markdown report.
pub const REPORT_MD: &str = "report.md";
/// The ranked findings.
pub const FINDINGS_JSON: &str = "findings.json";
/// Every analysis result.
pub const ANALYSIS_JSON: &str = "analysis.json";
/// Prefix of robustness-probe prediction files in an evaluate artifact:
/// `predictions-probe-<probe>-<split>.parquet`.
pub const PROBE_PREFIX: &str = "predictions-probe-";

/// Params of the reflect stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReflectParams {
    /// The split to report on.
    pub split: String,
    /// The split the temperature is fitted on (and compared with); empty for none.
    pub fit_split: String,
    /// Calibration bins.
    pub bins: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Confidence level of every interval.
    pub level: f64,
    /// Examples shown per error category / slice.
    pub max_examples: usize,
    /// Suspect labels listed.
    pub suspects: usize,
    /// Slices with fewer examples are never flagged.
    pub min_slice_support: usize,
    /// Resample documents (ingest `doc_id`) instead of sentences when they group sentences.
    pub document_bootstrap: bool,
    /// Entity confidence from word confidences: `mean` or `min`.
    pub entity_confidence: EntityConfidence,
    /// Buckets of numeric slice families.
    pub buckets: usize,
    /// Categorical metadata columns with more values are not sliced.
    pub max_categories: usize,
    /// Metadata columns to slice by (default: every non-schema ingest column).
    pub metadata: Option<Vec<String>>,
}

impl Default for ReflectParams {
    fn default() -> Self {
        let o = Options::default();
        Self {
            split: "test".into(),
            fit_split: "dev".into(),
            bins: o.bins,
            resamples: o.bootstrap.resamples,
            seed: o.bootstrap.seed,
            level: o.bootstrap.level,
            max_examples: o.max_examples,
            suspects: o.suspects,
            min_slice_support: o.min_slice_support,
            document_bootstrap: o.document_bootstrap,
            entity_confidence: o.entity_confidence,
            buckets: o.buckets,
            max_categories: o.max_categories,
            metadata: None,
        }
    }
}

impl ReflectParams {
    /// The analysis options these params describe.
    pub fn options(&self) -> Options {
        Options {
            bins: self.bins,
            bootstrap: Bootstrap {
                resamples: self.resamples,
                seed: self.seed,
                level: self.level,
            },
            max_examples: self.max_examples,
            suspects: self.suspects,
            min_slice_support: self.min_slice_support,
            document_bootstrap: self.document_bootstrap,
            entity_confidence: self.entity_confidence,
            buckets: self.buckets,
            max_categories: self.max_categories,
        }
    }

    fn validate(&self) -> flowcore::Result<()> {
        let bad = |key: &str, message: String| {
            Err(flowcore::CoreError::Param {
                key: key.into(),
                message,
            })
        };
        if self.bins == 0 {
            return bad("bins", "must be at least 1".into());
        }
        if self.resamples < 100 {
            return bad(
                "resamples",
                format!(
                    "must be at least 100 for a 95 % interval, found {}",
                    self.resamples
                ),
            );
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return bad(
                "level",
                format!("must be strictly between 0 and 1, found {}", self.level),
            );
        }
        if !schema::SPLITS.contains(&self.split.as_str()) {
            return bad(
                "split",
                format!(
                    "expected one of {}, found `{}`",
                    schema::SPLITS.join(", "),
                    self.split
                ),
            );
        }
        if !self.fit_split.is_empty() && !schema::SPLITS.contains(&self.fit_split.as_str()) {
            return bad(
                "fit_split",
                format!(
                    "expected one of {} or \"\", found `{}`",
                    schema::SPLITS.join(", "),
                    self.fit_split
                ),
            );
        }
        Ok(())
    }
}

/// The reflect stage (kind `reflect`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReflectStage;

const INPUTS: [InputSpec; 5] = [
    InputSpec {
        kind: "evaluate",
        required: true,
    },
    InputSpec {
        kind: "baseline",
        required: false,
    },
    InputSpec {
        kind: "ingest",
        required: false,
    },
    InputSpec {
        kind: "train",
        required: false,
    },
    InputSpec {
        kind: "tokenize",
        required: false,
    },
];

impl Stage for ReflectStage {
    fn kind(&self) -> &'static str {
        "reflect"
    }

    fn version(&self) -> u32 {
        1
    }

    fn inputs(&self) -> &'static [InputSpec] {
        &INPUTS
    }

    fn resolve(&self, raw: &serde_json::Value, _globals: &Globals) -> flowcore::Result<Resolved> {
        let raw = if raw.is_null() {
            json!({})
        } else {
            raw.clone()
        };
        let params: ReflectParams = flowcore::params::parse(&raw)?;
        params.validate()?;
        Ok(Resolved {
            params: flowcore::params::to_value(&params)?,
            raw_inputs: Vec::new(),
        })
    }

    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        let params: ReflectParams = ctx.params()?;
        let evaluate = ctx.input("evaluate")?;
        if crate::multilabel::is_multilabel(evaluate)? {
            // The generic analyses score one label per item: multi-label sets take their own
            // path, which reads only the evaluate and baseline predictions.
            for kind in ["ingest", "train", "tokenize"] {
                if ctx.optional_input(kind).is_some() {
                    tracing::info!(input = kind, "not used by the multi-label report");
                }
            }
            let metrics = crate::multilabel::write_report(
                evaluate,
                ctx.optional_input("baseline"),
                &params,
                ctx.out_dir,
            )?;
            return Ok(StageOutcome {
                metrics,
                rows: BTreeMap::new(),
            });
        }
        let inputs = load_inputs(
            &params,
            evaluate,
            ctx.optional_input("baseline"),
            ctx.optional_input("ingest"),
            ctx.optional_input("train"),
            ctx.optional_input("tokenize"),
        )?;
        let metrics = write_report(&inputs, &params, ctx.out_dir)?;
        Ok(StageOutcome {
            metrics,
            rows: BTreeMap::new(),
        })
    }
}

/// Probe names found in an evaluate artifact for `split`, sorted.
pub fn probe_files(artifact: &Artifact, split: &str) -> Vec<(String, String)> {
    let suffix = format!("-{split}.parquet");
    let mut out: Vec<(String, String)> = artifact
        .manifest
        .files
        .iter()
        .filter_map(|f| {
            let name = f.path.strip_prefix(PROBE_PREFIX)?.strip_suffix(&suffix)?;
            (!name.is_empty() && !name.contains('/')).then(|| (name.to_string(), f.path.clone()))
        })
        .collect();
    out.sort();
    out
}

/// Gold support per entity type (token) or class (sequence) in an ingest train table.
fn train_support(table: &IngestTable, path: &Path) -> Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    if let Some(ColumnValues::Words(tags)) = table.column(schema::ingest::TAGS) {
        for (i, seq) in tags.iter().enumerate() {
            let seq: Vec<&str> = seq.iter().map(String::as_str).collect();
            for e in ner::entities_of(&seq, &format!("{}, row {i}", path.display()))? {
                *out.entry(e.kind).or_default() += 1;
            }
        }
    } else if let Some(ColumnValues::Text(labels)) = table.column(schema::ingest::LABEL) {
        for l in labels.iter().flatten() {
            *out.entry(l.clone()).or_default() += 1;
        }
    }
    Ok(out)
}

/// Surface forms of the gold entities of an ingest train table (token tasks), as
/// [`analysis::unseen::surface`] makes them; empty for sequence tasks.
fn train_entities_of(table: &IngestTable, path: &Path) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    if let (Some(ColumnValues::Words(words)), Some(ColumnValues::Words(tags))) = (
        table.column(schema::ingest::TOKENS),
        table.column(schema::ingest::TAGS),
    ) {
        for (i, (w, t)) in words.iter().zip(tags).enumerate() {
            let t: Vec<&str> = t.iter().map(String::as_str).collect();
            for e in ner::entities_of(&t, &format!("{}, row {i}", path.display()))? {
                out.insert(analysis::unseen::surface(w, &e));
            }
        }
    }
    Ok(out)
}

/// Read everything the analyses need from the input artifacts.
pub fn load_inputs(
    params: &ReflectParams,
    evaluate: &Artifact,
    baseline: Option<&Artifact>,
    ingest: Option<&Artifact>,
    train: Option<&Artifact>,
    tokenize: Option<&Artifact>,
) -> anyhow::Result<Inputs> {
    let split_path = evaluate.file(&pcol::file(&params.split))?;
    let split = Split::read(&params.split, &split_path)?;
    tracing::info!(split = %params.split, examples = split.examples.len(), items = split.items(), "read predictions");
    let fit = if params.fit_split.is_empty() || params.fit_split == params.split {
        None
    } else if evaluate.has(&pcol::file(&params.fit_split)) {
        Some(Split::read(
            &params.fit_split,
            &evaluate.file(&pcol::file(&params.fit_split))?,
        )?)
    } else {
        tracing::warn!(split = %params.fit_split, "evaluate artifact has no predictions for the fit split; temperature scaling skipped");
        None
    };
    let baseline = match baseline {
        Some(b) if b.has(&pcol::file(&params.split)) => Some(Split::read(
            &format!("baseline {}", params.split),
            &b.file(&pcol::file(&params.split))?,
        )?),
        Some(b) => {
            tracing::warn!(dir = %b.dir.display(), "baseline artifact has no predictions for the split; comparison skipped");
            None
        }
        None => None,
    };
    let split_quality = ingest
        .and_then(|ing| analysis::SplitQuality::from_ingest_manifest(&ing.manifest, &params.split));
    let mut train_entities = HashSet::new();
    let (context, train_support) = match ingest {
        Some(ing) => {
            let table_path = ing.file(&schema::split_file(&params.split))?;
            let table = IngestTable::read(&table_path)
                .with_context(|| format!("reading ingest split {}", table_path.display()))?;
            let (vocab, support) = if ing.has(&schema::split_file("train")) {
                let train_path = ing.file(&schema::split_file("train"))?;
                let t = IngestTable::read(&train_path)?;
                train_entities = train_entities_of(&t, &train_path)?;
                (t.vocabulary(), train_support(&t, &train_path)?)
            } else {
                Default::default()
            };
            (
                Some(Context::from_ingest(
                    &table,
                    vocab,
                    params.metadata.as_deref(),
                )),
                support,
            )
        }
        None => (None, BTreeMap::new()),
    };
    let mut probes = Vec::new();
    for (name, rel) in probe_files(evaluate, &params.split) {
        probes.push(Split::read(&name, &evaluate.file(&rel)?)?);
    }
    let history = match train {
        Some(t) if t.has(schema::train::HISTORY_FILE) => {
            Some(History::read(&t.file(schema::train::HISTORY_FILE)?)?)
        }
        _ => None,
    };
    Ok(Inputs {
        split,
        fit,
        baseline,
        context,
        train_support,
        probes,
        history,
        split_quality,
        train_entities,
        cost_matrix: match &evaluate.manifest.params["cost_matrix"] {
            serde_json::Value::Null => None,
            v => Some(
                serde_json::from_value(v.clone())
                    .context("the evaluate artifact's cost_matrix param")?,
            ),
        },
        reject: recorded_rule(evaluate, &params.split)?,
        tokenizer: tokenize.and_then(|t| {
            analysis::TokenizerFacts::from_tokenize_metrics(&t.manifest.metrics, &params.split)
        }),
    })
}

/// The rejection rule the evaluate stage applied to `split` (`open_set.rule` in its
/// metrics.json), when it had one.
fn recorded_rule(
    evaluate: &Artifact,
    split: &str,
) -> anyhow::Result<Option<metrics::open_set::RejectRule>> {
    if !evaluate.has(pcol::METRICS_FILE) {
        return Ok(None);
    }
    let path = evaluate.file(pcol::METRICS_FILE)?;
    let doc: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&path)?)
        .with_context(|| format!("reading {}", path.display()))?;
    match doc.get(split).and_then(|m| m.get("open_set")?.get("rule")) {
        Some(rule) => Ok(Some(serde_json::from_value(rule.clone()).with_context(
            || format!("{}: `{split}.open_set.rule`", path.display()),
        )?)),
        None => Ok(None),
    }
}

/// Run the analyses and write the report files into `out_dir`; returns the manifest metrics.
pub fn write_report(
    inputs: &Inputs,
    params: &ReflectParams,
    out_dir: &Path,
) -> anyhow::Result<serde_json::Value> {
    let opts = params.options();
    let analysis = analysis::analyze(inputs, &opts)?;
    let file_name = inputs.split.path.file_name().map_or_else(
        || pcol::file(&params.split),
        |n| n.to_string_lossy().into_owned(),
    );
    let found = findings::findings(&analysis, &file_name, opts.bootstrap);
    fs_err::write(out_dir.join(REPORT_HTML), report::html(&analysis, &found)?)?;
    fs_err::write(out_dir.join(REPORT_MD), report::markdown(&analysis, &found))?;
    fs_err::write(
        out_dir.join(FINDINGS_JSON),
        serde_json::to_string_pretty(&found)? + "\n",
    )?;
    fs_err::write(
        out_dir.join(ANALYSIS_JSON),
        serde_json::to_string_pretty(&analysis)? + "\n",
    )?;
    for line in report::headline_lines(&analysis, &found) {
        tracing::info!("{line}");
    }
    Ok(manifest_metrics(&analysis, &found))
}

fn finite(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// The headline numbers recorded in the manifest.
pub fn manifest_metrics(a: &Analysis, found: &[Finding]) -> serde_json::Value {
    let headline: Vec<serde_json::Value> = a
        .headline
        .iter()
        .map(|h| json!({"metric": h.name, "value": finite(h.ci.estimate), "lo": finite(h.ci.lo), "hi": finite(h.ci.hi)}))
        .collect();
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
        "headline": headline,
        "calibration": cal,
        "baseline": base,
        "findings": found.len(),
        "findings_high": found.iter().filter(|f| f.severity == Severity::High).count(),
        "findings_medium": found.iter().filter(|f| f.severity == Severity::Medium).count(),
        "headline_lines": report::headline_lines(a, found),
        "report": REPORT_HTML,
    })
}

/// A few lines for the end of a pipeline run, read from a committed reflect artifact: the
/// report's path and the headline numbers.
pub fn headline(artifact_dir: &Path) -> Result<String> {
    let manifest = flowcore::Manifest::read(artifact_dir)?;
    let lines = manifest
        .metrics
        .get("headline_lines")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| ReflectError::Invalid {
            place: artifact_dir
                .join(flowcore::store::MANIFEST_FILE)
                .display()
                .to_string(),
            message: "no `headline_lines` in the metrics; is this a reflect artifact?".into(),
        })?;
    let mut out = format!("report: {}\n", artifact_dir.join(REPORT_HTML).display());
    for l in lines.iter().filter_map(serde_json::Value::as_str) {
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}
