//! The `reflect` pipeline stage: reads evaluate (and optionally baseline, ingest, train,
//! tokenize) artifacts, runs the analyses of the task kind and writes `report.html`,
//! `report.md`, `findings.json` and `analysis.json` through [`reflection::write_report`].

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Context as _;
use flowcore::schema::{self, predictions as pcol};
use flowcore::{Artifact, Globals, InputSpec, Resolved, Stage, StageContext, StageOutcome};
use serde_json::json;

use crate::analysis::{self, Inputs};
use crate::data::multilabel::{Sources, is_multilabel};
use crate::data::{ColumnValues, Context, IngestTable, Split};
use crate::error::{ReflectError, Result};
use crate::history::History;
use crate::ner;
pub use crate::params::{ANALYSIS_JSON, FINDINGS_JSON, REPORT_HTML, REPORT_MD, ReflectParams};
use crate::reflection::{self, Reflection};

/// Prefix of robustness-probe prediction files in an evaluate artifact:
/// `predictions-probe-<probe>-<split>.parquet`.
pub const PROBE_PREFIX: &str = "predictions-probe-";

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

    /// 2: findings carry the cost-threshold remedy and judge a tuned threshold's decisions;
    /// 3: the temperature and cased-model remedies.
    fn version(&self) -> u32 {
        3
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
        let reflection = analyze_artifacts(
            &params,
            ctx.input("evaluate")?,
            ctx.optional_input("baseline"),
            ctx.optional_input("ingest"),
            ctx.optional_input("train"),
            ctx.optional_input("tokenize"),
        )?;
        let recipe = crate::remedies::Recipe::of(
            ctx.input("evaluate")?,
            ctx.optional_input("train"),
            ctx.optional_input("tokenize"),
        );
        let metrics = reflection::write_report(&reflection, &params, &recipe, ctx.out_dir)?;
        Ok(StageOutcome {
            metrics,
            rows: BTreeMap::new(),
        })
    }
}

/// Reads the input artifacts and runs the analyses of their task kind: the multi-label ones
/// when the evaluate artifact's `labels.json` says so, else the generic ones.
pub fn analyze_artifacts(
    params: &ReflectParams,
    evaluate: &Artifact,
    baseline: Option<&Artifact>,
    ingest: Option<&Artifact>,
    train: Option<&Artifact>,
    tokenize: Option<&Artifact>,
) -> anyhow::Result<Reflection> {
    if is_multilabel(evaluate)? {
        // The generic analyses score one label per item: multi-label sets take their own
        // path, which reads only the evaluate and baseline predictions.
        for (kind, input) in [("ingest", ingest), ("train", train), ("tokenize", tokenize)] {
            if input.is_some() {
                tracing::info!(input = kind, "not used by the multi-label report");
            }
        }
        let sources = Sources::of(evaluate, baseline, &params.split, &params.fit_split)?;
        let analysis = analysis::multilabel::analyze(&sources, params)?;
        return Ok(Reflection::Multilabel(Box::new(analysis)));
    }
    let inputs = load_inputs(params, evaluate, baseline, ingest, train, tokenize)?;
    Ok(Reflection::items(&inputs, params)?)
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
        cost_threshold_tuned: evaluate.manifest.params["tune_cost_threshold"] == true,
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

#[cfg(test)]
mod tests {
    use flowcore::{LabelMap, TaskKind};

    use super::*;
    use crate::analysis::multilabel::fixture::*;
    use crate::findings::{Finding, Severity};
    use crate::report::multilabel::SECTIONS;

    #[test]
    fn report_from_artifacts_writes_the_four_files_with_tuned_thresholds() {
        let dir = tempfile::tempdir().unwrap();
        let eval = dir.path().join("evaluate");
        fs_err::create_dir_all(&eval).unwrap();
        write(&eval.join("predictions-test.parquet"), &examples());
        LabelMap::new(TaskKind::Multilabel, labels())
            .write(&eval.join(schema::LABELS_FILE))
            .unwrap();
        fs_err::write(
            eval.join(pcol::METRICS_FILE),
            json!({"test": {"task": "multilabel", "decision": {"thresholds": [0.5, 0.5, 0.06], "tuned_on": "dev"}}}).to_string(),
        )
        .unwrap();
        let evaluate = artifact(
            &eval,
            "evaluate",
            &[
                "predictions-test.parquet",
                schema::LABELS_FILE,
                pcol::METRICS_FILE,
            ],
        );
        assert!(is_multilabel(&evaluate).unwrap());
        let out = dir.path().join("out");
        fs_err::create_dir_all(&out).unwrap();
        let r = analyze_artifacts(&params(), &evaluate, None, None, None, None).unwrap();
        let m = reflection::write_report(&r, &params(), &crate::remedies::Recipe::default(), &out)
            .unwrap();
        let found: Vec<Finding> =
            serde_json::from_str(&fs_err::read_to_string(out.join(FINDINGS_JSON)).unwrap())
                .unwrap();
        assert_eq!(m["findings"], found.len());
        assert_eq!(m["task"], "multilabel");
        assert_eq!(m["examples"], 40);
        assert!(
            m["headline_lines"][0]
                .as_str()
                .unwrap()
                .starts_with("micro F1 (test): 0.541 [")
        );
        let t = find(&found, "threshold.joy");
        assert_eq!((t.severity, t.value), (Severity::Medium, 0.06));
        let analysis: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(out.join(ANALYSIS_JSON)).unwrap())
                .unwrap();
        assert_eq!(analysis["decision"]["tuned_on"], "dev");
        // `pred` is what these thresholds decide: no inconsistency noted.
        assert_eq!(analysis["decision"]["inconsistent"], 0);
        let md = fs_err::read_to_string(out.join(REPORT_MD)).unwrap();
        for s in &SECTIONS[..7] {
            assert!(md.contains(&format!("## {s}\n")), "missing section {s}");
        }
        assert!(
            md.contains(
                "| fear | joy | 10 | 100.0 % | ex10: gold `fear`, predicted `joy`, p 0.200 / 0.800"
            ),
            "{md}"
        );
        assert!(
            md.contains("ex0: gold `anger`, predicted ∅, p 0.100 — “text of example 0”"),
            "{md}"
        );
        let html = fs_err::read_to_string(out.join(REPORT_HTML)).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
        assert_eq!(html.matches("<h2>").count(), md.matches("\n## ").count());
        // The stage's headline reader works on these metrics.
        assert!(m["headline_lines"].as_array().unwrap().len() >= 6);
    }
}
