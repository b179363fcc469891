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
    /// 3: the temperature and cased-model remedies; 4: multi-label reports read the train
    /// history (training-fit findings) and name collapsed label sets; 5: the training-fit
    /// findings judge the metric training selected by (`dev_score`), the HTML report has the
    /// per-class F1 chart and learning curves of the loss and the selection metric only.
    fn version(&self) -> u32 {
        5
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
        // path, which reads the evaluate and baseline predictions and the train history.
        for (kind, input) in [("ingest", ingest), ("tokenize", tokenize)] {
            if input.is_some() {
                tracing::info!(input = kind, "not used by the multi-label report");
            }
        }
        let sources = Sources::of(evaluate, baseline, train, &params.split, &params.fit_split)?;
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
    // The verdict first (artifacts of reflect stage version 4 on record it).
    let verdict = manifest
        .metrics
        .get("verdict")
        .and_then(serde_json::Value::as_array);
    for l in verdict
        .into_iter()
        .flatten()
        .take(1)
        .chain(lines)
        .filter_map(serde_json::Value::as_str)
    {
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use flowcore::{LabelMap, TaskKind};
    use metrics::{PredictionRow, Predictions};

    use super::*;
    use crate::analysis::multilabel::fixture::*;
    use crate::findings::{Finding, Severity};
    use crate::remedies::Recipe;
    use crate::report::multilabel::SECTIONS;

    type Rows = Vec<(Vec<bool>, Vec<bool>, Vec<f32>)>;

    /// Dev micro F1 still rising at the last evaluation, a low score on the training sample:
    /// the history of a model that learned to predict nothing.
    const STILL_RISING: &str = r#"{"step": 10, "epoch": 0.5, "loss": 0.69}
{"step": 20, "epoch": 1, "loss": 0.21, "dev_metric": "micro.f1", "dev_score": 0.02, "dev": {"micro": {"f1": 0.02}}, "train_score": 0.03}
{"step": 30, "epoch": 1.5, "loss": 0.16}
{"step": 40, "epoch": 2, "loss": 0.14, "dev_metric": "micro.f1", "dev_score": 0.06, "dev": {"micro": {"f1": 0.06}}, "train_score": 0.08}
"#;
    /// A dev curve that levelled off, on a model that fits its training sample.
    const LEVELLED: &str = r#"{"step": 10, "epoch": 0.5, "loss": 0.40}
{"step": 20, "epoch": 1, "loss": 0.10, "dev": {"micro": {"f1": 0.800}}, "train_score": 0.97}
{"step": 30, "epoch": 1.5, "loss": 0.05}
{"step": 40, "epoch": 2, "loss": 0.03, "dev": {"micro": {"f1": 0.801}}, "train_score": 0.98}
"#;
    /// A dev curve that peaked and fell.
    const PEAKED: &str = r#"{"step": 20, "dev": {"micro": {"f1": 0.70}}}
{"step": 40, "dev": {"micro": {"f1": 0.75}}}
{"step": 60, "dev": {"micro": {"f1": 0.66}}}
"#;

    /// An artifact of `kind` in `dir/kind` holding `files` (name, bytes).
    fn artifact_with(dir: &Path, kind: &str, files: &[(&str, &[u8])]) -> Artifact {
        let d = dir.join(kind);
        fs_err::create_dir_all(&d).unwrap();
        for (name, bytes) in files {
            fs_err::write(d.join(name), bytes).unwrap();
        }
        let names: Vec<&str> = files.iter().map(|f| f.0).collect();
        artifact(&d, kind, &names)
    }

    fn train(dir: &Path, history: &str) -> Artifact {
        artifact_with(
            dir,
            "train",
            &[(schema::train::HISTORY_FILE, history.as_bytes())],
        )
    }

    /// A multi-label evaluate (or, without labels.json, baseline) artifact with test
    /// predictions `rows`.
    fn multilabel(dir: &Path, kind: &str, rows: &Rows) -> Artifact {
        let d = dir.join(kind);
        fs_err::create_dir_all(&d).unwrap();
        write(&d.join("predictions-test.parquet"), rows);
        let mut files = vec!["predictions-test.parquet"];
        if kind == "evaluate" {
            LabelMap::new(TaskKind::Multilabel, labels())
                .write(&d.join(schema::LABELS_FILE))
                .unwrap();
            files.push(schema::LABELS_FILE);
        }
        artifact(&d, kind, &files)
    }

    /// The fixture's gold sets with nothing predicted, every probability 0.05.
    fn nothing_predicted() -> Rows {
        examples()
            .into_iter()
            .map(|(g, _, p)| (g, vec![false; 3], vec![0.05; p.len()]))
            .collect()
    }

    /// The report's findings, with the remedies of `recipe`, as written to findings.json.
    fn reported(r: &Reflection, recipe: &Recipe, dir: &Path) -> Vec<Finding> {
        let out = dir.join("out");
        fs_err::create_dir_all(&out).unwrap();
        reflection::write_report(r, &params(), recipe, &out).unwrap();
        serde_json::from_str(&fs_err::read_to_string(out.join(FINDINGS_JSON)).unwrap()).unwrap()
    }

    fn names(f: &Finding) -> Vec<&str> {
        f.remedies.iter().map(|r| r.name.as_str()).collect()
    }

    /// The HF-default-like recipe of a multi-label model: 3 epochs at 5e-5, dropout unset, no
    /// class weights, the plain 0.5 threshold.
    fn default_recipe() -> Recipe {
        Recipe {
            train: Some(json!({"epochs": 3, "learning_rate": 5e-5})),
            evaluate: Some(json!({"tune_thresholds": false})),
            ..Recipe::default()
        }
    }

    /// The reported findings of a multi-label model predicting `model` against a baseline
    /// predicting `baseline`, with the training `history`, under the default recipe.
    fn reflect_multilabel(
        dir: &Path,
        model: &Rows,
        baseline: &Rows,
        history: &str,
    ) -> Vec<Finding> {
        let evaluate = multilabel(dir, "evaluate", model);
        let baseline = multilabel(dir, "baseline", baseline);
        let train = train(dir, history);
        let r = analyze_artifacts(
            &params(),
            &evaluate,
            Some(&baseline),
            None,
            Some(&train),
            None,
        )
        .unwrap();
        reported(&r, &default_recipe(), dir)
    }

    #[test]
    fn a_multilabel_model_that_predicts_nothing_is_named_collapsed_and_underfit_with_remedies() {
        let dir = tempfile::tempdir().unwrap();
        let found = reflect_multilabel(dir.path(), &nothing_predicted(), &examples(), STILL_RISING);
        let all = [
            "longer training",
            "higher learning rate",
            "no dropout",
            "balanced class weights",
            "thresholds tuned on dev",
        ];

        let c = find(&found, "training.collapsed");
        assert_eq!(c.severity, Severity::High, "the baseline beats it: {c:?}");
        assert_eq!(c.value, 0.0);
        assert_eq!(c.numbers["empty_pred_with_gold"], 40.0);
        assert_eq!(c.numbers["mean_gold_labels"], 1.1);
        assert!(
            c.title
                .starts_with("The model has collapsed to predicting almost nothing: 0.00 labels per example against 1.10 gold, none for 40 of 40"),
            "{}",
            c.title
        );
        assert!(
            c.detail
                .contains("every sigmoid is pulled toward \"absent\""),
            "{}",
            c.detail
        );
        assert!(c.detail.contains("ahead by 54.1 points"), "{}", c.detail);
        assert_eq!(c.evidence.len(), params().max_examples);
        assert_eq!(c.evidence[0].id, "ex0");
        assert_eq!(names(c), all);
        // The collapse is the one finding about empty predictions.
        assert!(found.iter().all(|f| f.id != "empty_prediction"));

        let u = find(&found, "training.underfit");
        assert_eq!(u.severity, Severity::High);
        for signal in [
            "the baseline is ahead by 54.1 points of micro F1",
            "dev micro.f1 was still rising at the last evaluation (0.020 -> 0.060 at step 40)",
            "scores only 0.080 at step 40",
        ] {
            assert!(u.title.contains(signal), "{signal}: {}", u.title);
        }
        assert_eq!(names(u), all);
        let curve = find(&found, "training.curve");
        assert!(curve.title.contains("still rising"), "{}", curve.title);
        assert_eq!(names(curve), ["longer training"]);
        let analysis: serde_json::Value = serde_json::from_str(
            &fs_err::read_to_string(dir.path().join("out").join(ANALYSIS_JSON)).unwrap(),
        )
        .unwrap();
        assert_eq!(
            analysis["history"]["points"].as_array().map(Vec::len),
            Some(4)
        );
    }

    #[test]
    fn a_healthy_multilabel_model_is_neither_underfit_nor_collapsed() {
        let dir = tempfile::tempdir().unwrap();
        let found = reflect_multilabel(dir.path(), &examples(), &nothing_predicted(), LEVELLED);
        for id in ["training.underfit", "training.collapsed"] {
            assert!(found.iter().all(|f| f.id != id), "{id} in {found:#?}");
        }
        let curve = find(&found, "training.curve");
        assert_eq!(curve.severity, Severity::Info);
        assert!(
            curve.title.contains("levelled off at 0.801"),
            "{}",
            curve.title
        );
        assert!(curve.remedies.is_empty());
        // 10 of 40 examples lose their only label (0.75 predicted per 1.10 gold): a decision
        // matter, not a collapse.
        let e = find(&found, "empty_prediction");
        assert_eq!((e.severity, e.value), (Severity::Medium, 0.25));
        assert_eq!(e.evidence[0].id, "ex0");
    }

    /// A single-label (sequence) evaluate artifact: 40 test predictions over two classes.
    fn sequence(dir: &Path) -> Artifact {
        let d = dir.join("evaluate-seq");
        fs_err::create_dir_all(&d).unwrap();
        let mut p = Predictions::new(TaskKind::Sequence, vec!["a".into(), "b".into()]);
        for i in 0..40 {
            let gold = if i % 2 == 0 { "a" } else { "b" };
            let pred = if i % 5 == 0 { "b" } else { gold };
            p.rows.push(PredictionRow {
                id: format!("ex{i}"),
                word: None,
                token: Some(format!("text {i}")),
                gold: gold.into(),
                pred: pred.into(),
                probs: Some(if pred == "a" {
                    vec![0.8, 0.2]
                } else {
                    vec![0.3, 0.7]
                }),
            });
        }
        p.write(&d.join("predictions-test.parquet")).unwrap();
        artifact(&d, "evaluate", &["predictions-test.parquet"])
    }

    #[test]
    fn single_and_multilabel_reports_judge_one_history_by_the_same_rule() {
        for history in [STILL_RISING, LEVELLED, PEAKED] {
            let dir = tempfile::tempdir().unwrap();
            let train = train(dir.path(), history);
            let curve = |evaluate: &Artifact| -> Finding {
                let r =
                    analyze_artifacts(&params(), evaluate, None, None, Some(&train), None).unwrap();
                let mut f = find(&r.findings(&params()), "training.curve").clone();
                f.rank = 0;
                f
            };
            let single = curve(&sequence(dir.path()));
            let multi = curve(&multilabel(dir.path(), "evaluate", &examples()));
            assert_eq!(single, multi, "{history}");
        }
    }

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
