//! End-to-end tests of the reflect stage on hand-made prediction files: known slice and
//! taxonomy counts, probe flip rates, baseline significance, and the HTML report rendered in
//! headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use flowcore::schema::predictions as pcol;
use flowcore::{Globals, InputSpec, Resolved, Stage, StageContext, StageOutcome, TaskKind};
use metrics::{PredictionRow, Predictions};
use reflect::ReflectStage;

/// A stage that copies prepared files into its artifact, standing in for evaluate/baseline.
struct Fixture {
    kind: &'static str,
    files: Vec<(String, PathBuf)>,
    metrics: serde_json::Value,
    params: serde_json::Value,
}

impl Stage for Fixture {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn version(&self) -> u32 {
        1
    }
    fn inputs(&self) -> &'static [InputSpec] {
        &[]
    }
    fn resolve(&self, _raw: &serde_json::Value, _g: &Globals) -> flowcore::Result<Resolved> {
        Ok(Resolved {
            params: {
                let mut p = serde_json::json!({
                    "files": self.files.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
                    "metrics": self.metrics,
                });
                if let (Some(p), Some(extra)) = (p.as_object_mut(), self.params.as_object()) {
                    p.extend(extra.clone());
                }
                p
            },
            raw_inputs: self.files.iter().map(|f| f.1.clone()).collect(),
        })
    }
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        for (name, src) in &self.files {
            std::fs::copy(src, ctx.out_dir.join(name))?;
        }
        Ok(StageOutcome {
            metrics: self.metrics.clone(),
            ..StageOutcome::default()
        })
    }
}

fn artifact(root: &Path, kind: &'static str, files: Vec<(String, PathBuf)>) -> PathBuf {
    artifact_with_metrics(root, kind, files, serde_json::Value::Null)
}

fn artifact_with_params(
    root: &Path,
    kind: &'static str,
    files: Vec<(String, PathBuf)>,
    params: serde_json::Value,
) -> PathBuf {
    run_fixture(
        root,
        Fixture {
            kind,
            files,
            metrics: serde_json::Value::Null,
            params,
        },
    )
}

fn artifact_with_metrics(
    root: &Path,
    kind: &'static str,
    files: Vec<(String, PathBuf)>,
    metrics: serde_json::Value,
) -> PathBuf {
    run_fixture(
        root,
        Fixture {
            kind,
            files,
            metrics,
            params: serde_json::Value::Null,
        },
    )
}

fn run_fixture(root: &Path, stage: Fixture) -> PathBuf {
    let kind = stage.kind;
    let globals = Globals {
        pipeline: "t".into(),
        ..Default::default()
    };
    flowcore::stage::run_standalone(
        &stage,
        root,
        kind,
        &serde_json::json!({}),
        &globals,
        &[],
        false,
    )
    .unwrap()
    .artifact
    .dir
}

const LABELS: [&str; 5] = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];

fn probs_for(pred: &str, conf: f32) -> Vec<f32> {
    let k = LABELS.len();
    let rest = (1.0 - conf) / (k - 1) as f32;
    LABELS
        .iter()
        .map(|l| if *l == pred { conf } else { rest })
        .collect()
}

/// Sentences (words, gold, pred). Taxonomy: 1 correct PER per sentence type A; wrong boundary
/// in type B; missed LOC in type C.
fn ner_sentences(n: usize) -> Vec<(Vec<&'static str>, Vec<&'static str>, Vec<&'static str>)> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(match i % 3 {
            0 => (
                vec!["Ann", "met", "Bob"],
                vec!["B-PER", "O", "B-PER"],
                vec!["B-PER", "O", "B-PER"],
            ),
            1 => (
                vec!["Ann", "Lee", "lives", "here"],
                vec!["B-PER", "I-PER", "O", "O"],
                vec!["B-PER", "O", "O", "O"],
            ),
            _ => (
                vec!["in", "Rome", "today", "!", "yes"],
                vec!["O", "B-LOC", "O", "O", "O"],
                vec!["O", "O", "O", "O", "O"],
            ),
        });
    }
    out
}

fn write_token_predictions(path: &Path, sents: &[(Vec<&str>, Vec<&str>, Vec<&str>)], conf: f32) {
    write_token_predictions_without(path, sents, conf, "");
}

/// Like [`write_token_predictions`] but leaves out every word equal to `drop` (keeping the
/// other words' indices), as the `punct` probe does.
fn write_token_predictions_without(
    path: &Path,
    sents: &[(Vec<&str>, Vec<&str>, Vec<&str>)],
    conf: f32,
    drop: &str,
) {
    let mut p = Predictions::new(
        TaskKind::Token,
        LABELS.iter().map(|s| s.to_string()).collect(),
    );
    for (i, (words, gold, pred)) in sents.iter().enumerate() {
        for w in 0..words.len() {
            if words[w] == drop {
                continue;
            }
            p.rows.push(PredictionRow {
                id: format!("s{i:03}"),
                word: Some(w as u32),
                token: Some(words[w].to_string()),
                gold: gold[w].to_string(),
                pred: pred[w].to_string(),
                probs: Some(probs_for(pred[w], conf)),
            });
        }
    }
    p.write(path).unwrap();
}

fn run_reflect(root: &Path, inputs: &[PathBuf], params: serde_json::Value) -> PathBuf {
    let globals = Globals {
        pipeline: "t".into(),
        ..Default::default()
    };
    flowcore::stage::run_standalone(
        &ReflectStage,
        root,
        "reflect",
        &params,
        &globals,
        inputs,
        false,
    )
    .unwrap()
    .artifact
    .dir
}

fn findings(dir: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("findings.json")).unwrap()).unwrap()
}

fn analysis(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("analysis.json")).unwrap()).unwrap()
}

/// Builds a token-task evaluate artifact with test, dev and one probe, runs reflect, and
/// returns the reflect artifact directory.
fn token_report(tmp: &Path) -> PathBuf {
    let sents = ner_sentences(90);
    let test = tmp.join("test.parquet");
    let dev = tmp.join("dev.parquet");
    write_token_predictions(&test, &sents, 0.95);
    write_token_predictions(&dev, &sents, 0.95);
    // Probe: the prediction of word 0 flips to O in every sentence of kind 0 (30 of 360 words).
    let mut probed = sents.clone();
    for (i, s) in probed.iter_mut().enumerate() {
        if i % 3 == 0 {
            s.2[0] = "O";
        }
    }
    let probe = tmp.join("probe.parquet");
    write_token_predictions(&probe, &probed, 0.95);
    // Punctuation probe: drops the `!` word (index 3 of the 5-word sentences), nothing flips.
    let punct = tmp.join("punct.parquet");
    write_token_predictions_without(&punct, &sents, 0.95, "!");
    let history = tmp.join("history.jsonl");
    std::fs::write(
        &history,
        "{\"step\": 10, \"epoch\": 1, \"loss\": 1.0, \"lr\": 0.001, \"grad_norm\": 2.0, \"dev\": {\"f1\": 0.30}}\n\
         {\"step\": 20, \"epoch\": 2, \"loss\": 0.5, \"dev\": {\"f1\": 0.50}}\n\
         {\"step\": 30, \"epoch\": 3, \"loss\": 0.3, \"dev\": {\"f1\": 0.40}}\n",
    )
    .unwrap();
    let root = tmp.join("artifacts");
    let eval = artifact(
        &root,
        "evaluate",
        vec![
            (pcol::file("test"), test),
            (pcol::file("dev"), dev),
            ("predictions-probe-case-test.parquet".into(), probe),
            ("predictions-probe-punct-test.parquet".into(), punct),
        ],
    );
    let train = artifact(&root, "train", vec![("history.jsonl".into(), history)]);
    run_reflect(
        &root,
        &[eval, train],
        serde_json::json!({"resamples": 200, "min_slice_support": 10}),
    )
}

#[test]
fn token_report_has_known_taxonomy_slices_probe_and_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = token_report(tmp.path());
    let a = analysis(&dir);
    // 30 sentences of each kind: 60 correct PER, 30 wrong-boundary PER, 30 missed LOC.
    let counts = &a["taxonomy"]["counts"];
    assert_eq!(counts["correct"], 60);
    assert_eq!(counts["wrong_boundary"], 30);
    assert_eq!(counts["missed"], 30);
    assert_eq!(counts["spurious"], 0);
    assert_eq!(counts["wrong_type"], 0);
    // Entity F1: tp 60, pred 90, gold 120 -> 120 / 210.
    let f1 = a["headline"][0]["ci"]["estimate"].as_f64().unwrap();
    assert!((f1 - 120.0 / 210.0).abs() < 1e-12, "{f1}");
    // Entity-type slices: LOC has F1 0 and is flagged; PER has 2*60/(90+90).
    let slices = a["slices"].as_array().unwrap();
    let loc = slices
        .iter()
        .find(|s| s["family"] == "entity type" && s["name"] == "LOC")
        .unwrap();
    assert_eq!(loc["ci"]["estimate"], 0.0);
    assert_eq!(loc["flagged"], true);
    assert_eq!(loc["support"], 30);
    let per = slices
        .iter()
        .find(|s| s["family"] == "entity type" && s["name"] == "PER")
        .unwrap();
    assert!((per["ci"]["estimate"].as_f64().unwrap() - 120.0 / 180.0).abs() < 1e-12);
    // Length slices: sentence lengths 3, 4, 5 (30 each); the 5-word ones (all LOC) score 0.
    let lengths: Vec<&serde_json::Value> = slices
        .iter()
        .filter(|s| s["family"] == "length (words)")
        .collect();
    let examples: usize = lengths
        .iter()
        .map(|s| s["examples"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(examples, 90);
    let longest = lengths.last().unwrap();
    assert_eq!(longest["examples"], 30);
    assert_eq!(longest["ci"]["estimate"], 0.0);
    assert_eq!(longest["flagged"], true);
    // Probe: 30 of 360 words flipped, in 30 of 90 sentences.
    let probe = &a["probes"][0];
    assert_eq!(probe["name"], "case");
    assert_eq!(probe["items"], 360);
    assert!((probe["flip_rate"]["estimate"].as_f64().unwrap() - 30.0 / 360.0).abs() < 1e-12);
    assert!((probe["example_flip_rate"]["estimate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // 30 correct entities lost: the clean F1 minus the probed F1 is positive.
    assert_eq!(probe["metric_examples"], 90);
    assert!(probe["metric"]["diff"]["estimate"].as_f64().unwrap() > 0.0);
    // Punct probe joins on word indices despite the gap: 330 words compared, no flips, and
    // only the 60 sentences without a dropped word enter the metric comparison.
    let punct = &a["probes"][1];
    assert_eq!(punct["name"], "punct");
    assert_eq!(punct["items"], 330);
    assert_eq!(punct["flip_rate"]["estimate"], 0.0);
    assert_eq!(punct["metric_examples"], 60);
    // Temperature: every prediction has confidence 0.95 but word accuracy is 300/360: the fit
    // must soften (T > 1) and lower ECE.
    let t = a["temperature"]["t"].as_f64().unwrap();
    assert!(t > 1.0, "T = {t}");
    let before = a["calibration"]["ece"]["estimate"].as_f64().unwrap();
    let after = a["calibration"]["after"]["ece"]["estimate"]
        .as_f64()
        .unwrap();
    assert!((before - (0.95 - 300.0 / 360.0)).abs() < 1e-6, "{before}");
    assert!(after < before, "{before} -> {after}");

    let f = findings(&dir);
    // Ranked 1..n, severities non-increasing.
    let order = ["high", "medium", "low", "info"];
    let sev: Vec<usize> = f
        .iter()
        .map(|x| order.iter().position(|o| *o == x["severity"]).unwrap())
        .collect();
    assert!(sev.windows(2).all(|w| w[0] <= w[1]), "{sev:?}");
    for (i, x) in f.iter().enumerate() {
        assert_eq!(x["rank"], i + 1);
        assert!(!x["action"].as_str().unwrap().is_empty(), "{x}");
    }
    let ids: Vec<&str> = f.iter().map(|x| x["id"].as_str().unwrap()).collect();
    for expected in [
        "slice.entity type.LOC",
        "calibration.word",
        "robustness.case",
        "training.curve",
        "errors.wrong_boundary",
    ] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
    let loc_finding = f
        .iter()
        .find(|x| x["id"] == "slice.entity type.LOC")
        .unwrap();
    // Its action says where LOC's errors go: all 30 LOC words predicted `O`.
    assert!(
        loc_finding["action"].as_str().unwrap().starts_with(
            "`LOC` is mostly missed: 30 of its 30 wrongly tagged words are predicted `O`"
        ),
        "{loc_finding}"
    );
    assert_eq!(loc_finding["numbers"]["confused_with.O"], 30.0);
    assert!(!loc_finding["evidence"].as_array().unwrap().is_empty());
    let curve = f.iter().find(|x| x["id"] == "training.curve").unwrap();
    assert!(
        curve["title"].as_str().unwrap().contains("peaked at 0.500"),
        "{curve}"
    );

    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("| wrong boundary | 30 |"), "{md}");
    let headline = reflect::headline(&dir).unwrap();
    assert!(headline.contains("entity F1 (test): 0.571"), "{headline}");
    assert!(headline.contains("report.html"), "{headline}");
}

/// A tokenize artifact saying the tokenizer ignores case and a quarter of the test words hold
/// `[UNK]`: reflect names both, and reads the `case` probe's zero flips as uninformative.
#[test]
fn model_fit_names_a_case_blind_tokenizer_and_unreadable_words() {
    let tmp = tempfile::tempdir().unwrap();
    let tmp = tmp.path();
    let sents = ner_sentences(90);
    let test = tmp.join("test.parquet");
    write_token_predictions(&test, &sents, 0.95);
    let probe = tmp.join("probe.parquet");
    write_token_predictions(&probe, &sents, 0.95);
    let root = tmp.join("artifacts");
    let eval = artifact(
        &root,
        "evaluate",
        vec![
            (pcol::file("test"), test),
            ("predictions-probe-case-test.parquet".into(), probe),
        ],
    );
    let tokenize = artifact_with_metrics(
        &root,
        "tokenize",
        vec![],
        serde_json::json!({
            "ignores_case": true,
            "splits": {"test": {"words": 360, "words_with_unk": 90}}
        }),
    );
    let dir = run_reflect(
        &root,
        &[eval.clone(), tokenize],
        serde_json::json!({"resamples": 200}),
    );
    // Gold entities: `Ann`, `Bob` / `Ann Lee` / `Rome`, 30 sentences each: 120, all capitalised.
    let a = analysis(&dir);
    assert_eq!(a["model_fit"]["entities"], 120);
    assert_eq!(a["model_fit"]["capitalised"], 120);
    let f = findings(&dir);
    let by_id = |id: &str| -> serde_json::Value {
        f.iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} finding in {f:#?}"))
    };
    let case = by_id("model.lowercasing");
    assert_eq!(case["severity"], "high", "{case}");
    assert_eq!(case["kind"], "model");
    assert_eq!(case["value"], 1.0);
    assert_eq!(case["numbers"]["capitalised"], 120.0);
    assert!(
        case["title"]
            .as_str()
            .unwrap()
            .contains("100.0 % of test gold entities (120 of 120) are capitalised"),
        "{case}"
    );
    assert!(
        case["detail"]
            .as_str()
            .unwrap()
            .contains("The `case` probe flips"),
        "{case}"
    );
    let vocab = by_id("model.vocabulary");
    assert_eq!(vocab["severity"], "high", "{vocab}");
    assert_eq!(vocab["value"], 0.25);
    assert_eq!(vocab["numbers"]["words_with_unk"], 90.0);
    let probe = by_id("robustness.case");
    assert!(
        probe["action"]
            .as_str()
            .unwrap()
            .contains("says nothing about robustness"),
        "{probe}"
    );

    // Without the tokenize artifact, neither finding.
    let dir = run_reflect(&root, &[eval], serde_json::json!({"resamples": 200}));
    let ids: Vec<String> = findings(&dir)
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.iter().any(|i| i.starts_with("model.")), "{ids:?}");
}

#[test]
fn reports_are_deterministic() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let da = token_report(a.path());
    let db = token_report(b.path());
    assert_eq!(
        std::fs::read_to_string(da.join("findings.json")).unwrap(),
        std::fs::read_to_string(db.join("findings.json")).unwrap()
    );
}

fn write_sequence(path: &Path, gold: &[&str], pred: &[&str], conf: &[f32]) {
    let labels = vec!["bad".to_string(), "good".to_string()];
    let mut p = Predictions::new(TaskKind::Sequence, labels);
    for i in 0..gold.len() {
        let c = conf[i];
        let probs = if pred[i] == "good" {
            vec![1.0 - c, c]
        } else {
            vec![c, 1.0 - c]
        };
        p.rows.push(PredictionRow {
            id: format!("e{i:03}"),
            word: None,
            token: None,
            gold: gold[i].into(),
            pred: pred[i].into(),
            probs: Some(probs),
        });
    }
    p.write(path).unwrap();
}

#[test]
fn sequence_report_compares_with_the_baseline_by_mcnemar_and_paired_bootstrap() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 200;
    let gold: Vec<&str> = (0..n)
        .map(|i| if i % 3 == 0 { "bad" } else { "good" })
        .collect();
    // Model wrong on 20 items (i % 10 == 1); baseline wrong on those plus 30 more (i % 20 == 4, i % 20 == 8, i % 20 == 12 ...).
    let flip = |g: &str| if g == "good" { "bad" } else { "good" };
    let model: Vec<&str> = (0..n)
        .map(|i| if i % 10 == 1 { flip(gold[i]) } else { gold[i] })
        .collect();
    let base: Vec<&str> = (0..n)
        .map(|i| {
            if i % 10 == 1 || i % 20 == 4 || i % 20 == 8 || i % 40 == 12 {
                flip(gold[i])
            } else {
                gold[i]
            }
        })
        .collect();
    let conf = vec![0.9f32; n];
    let test = tmp.path().join("t.parquet");
    let btest = tmp.path().join("b.parquet");
    write_sequence(&test, &gold, &model, &conf);
    write_sequence(&btest, &gold, &base, &conf);
    let root = tmp.path().join("artifacts");
    let eval = artifact(&root, "evaluate", vec![(pcol::file("test"), test)]);
    let baseline = artifact(&root, "baseline", vec![(pcol::file("test"), btest)]);
    let dir = run_reflect(&root, &[eval, baseline], serde_json::json!({}));
    let a = analysis(&dir);
    let m = &a["baseline"]["mcnemar"];
    // Discordant: model-only right = 10 + 10 + 5 = 25, baseline-only right = 0.
    assert_eq!(m["b"], 25);
    assert_eq!(m["c"], 0);
    assert!((m["p_value"].as_f64().unwrap() - 2.0 * 0.5f64.powi(25)).abs() < 1e-15);
    assert!(a["baseline"]["paired"]["diff"]["lo"].as_f64().unwrap() > 0.0);
    let f = findings(&dir);
    let b = f.iter().find(|x| x["id"] == "baseline").unwrap();
    assert_eq!(b["severity"], "info");
    assert!(b["title"].as_str().unwrap().contains("beats the baseline"));
    // Accuracy: 180 / 200.
    let acc = a["headline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "accuracy")
        .unwrap();
    assert!((acc["ci"]["estimate"].as_f64().unwrap() - 0.9).abs() < 1e-12);
    // No dev split: a note, no temperature.
    assert!(a["temperature"].is_null());
    assert!(
        a["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("temperature scaling skipped"))
    );
}

/// A baseline significantly ahead, dev still rising at the last evaluation and a low score
/// on the training sample: reflect calls the model underfit and proposes, relative to the
/// train params that made it, longer and faster training without dropout.
#[test]
fn an_underfit_model_gets_remedies_relative_to_its_recipe() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 200;
    let gold: Vec<&str> = (0..n)
        .map(|i| if i % 3 == 0 { "bad" } else { "good" })
        .collect();
    let flip = |g: &str| if g == "good" { "bad" } else { "good" };
    // The model is wrong on 50 items, the baseline on 10 of those.
    let model: Vec<&str> = (0..n)
        .map(|i| if i % 4 == 1 { flip(gold[i]) } else { gold[i] })
        .collect();
    let base: Vec<&str> = (0..n)
        .map(|i| if i % 20 == 1 { flip(gold[i]) } else { gold[i] })
        .collect();
    let conf = vec![0.9f32; n];
    let (test, btest) = (tmp.path().join("t.parquet"), tmp.path().join("b.parquet"));
    write_sequence(&test, &gold, &model, &conf);
    write_sequence(&btest, &gold, &base, &conf);
    let history = tmp.path().join("history.jsonl");
    std::fs::write(
        &history,
        [
            r#"{"step": 10, "loss": 0.69}"#,
            r#"{"step": 20, "loss": 0.60}"#,
            r#"{"step": 20, "dev_metric": "primary", "dev_score": 0.55, "dev": {"macro_f1": 0.55}, "train_score": 0.58}"#,
            r#"{"step": 30, "loss": 0.52}"#,
            r#"{"step": 40, "loss": 0.45}"#,
            r#"{"step": 40, "dev_metric": "primary", "dev_score": 0.68, "dev": {"macro_f1": 0.68}, "train_score": 0.71}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let root = tmp.path().join("artifacts");
    let eval = artifact(&root, "evaluate", vec![(pcol::file("test"), test)]);
    let baseline = artifact(&root, "baseline", vec![(pcol::file("test"), btest)]);
    let train = artifact_with_params(
        &root,
        "train",
        vec![("history.jsonl".into(), history)],
        serde_json::json!({"epochs": 3, "learning_rate": 5e-5, "dropout": null}),
    );
    let dir = run_reflect(&root, &[eval, baseline, train], serde_json::json!({}));
    let f = findings(&dir);
    let u = f
        .iter()
        .find(|x| x["id"] == "training.underfit")
        .unwrap_or_else(|| panic!("no underfit finding in {f:#?}"));
    assert_eq!(u["severity"], "high", "{u}");
    let title = u["title"].as_str().unwrap();
    for signal in [
        "baseline is ahead",
        "dev primary was still rising",
        "scores only 0.710",
        "loss ended at 0.450",
    ] {
        assert!(title.contains(signal), "{signal}: {title}");
    }
    assert_eq!(u["value"], 4.0, "four signals: {u}");
    let remedies = u["remedies"].as_array().unwrap();
    let names: Vec<&str> = remedies
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["longer training", "higher learning rate", "no dropout"]
    );
    assert_eq!(remedies[0]["set"]["train.epochs"], 6);
    assert_eq!(remedies[1]["set"]["train.learning_rate"], 1e-4);
    assert_eq!(remedies[2]["set"]["train.dropout"], 0.0);
    assert!(
        u["action"]
            .as_str()
            .unwrap()
            .contains("Remedies `pipeline improve` tries: longer training (`train.epochs=6`)"),
        "{u}"
    );
    // The curve finding proposes the same longer training; the baseline finding none.
    let curve = f.iter().find(|x| x["id"] == "training.curve").unwrap();
    assert_eq!(curve["remedies"][0]["set"]["train.epochs"], 6);
    let b = f.iter().find(|x| x["id"] == "baseline").unwrap();
    assert!(b.get("remedies").is_none(), "{b}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("The model looks underfit"), "{md}");
}

/// German Credit's costs (a bad applicant accepted costs 5, a good one refused 1): a model
/// whose P(bad) is 0.2 for everyone decides `bad` for all (0.2 * 5 > 0.8 * 1), the constant
/// policy; a baseline that separates the classes costs far less. Reflect says both.
#[test]
fn cost_decisions_that_collapse_to_a_constant_policy_are_a_high_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 200;
    let gold: Vec<&str> = (0..n)
        .map(|i| if i % 3 == 0 { "bad" } else { "good" })
        .collect();
    let model = vec!["good"; n];
    let base: Vec<&str> = (0..n)
        .map(|i| if i % 10 == 1 { "good" } else { gold[i] })
        .collect();
    let test = tmp.path().join("t.parquet");
    let btest = tmp.path().join("b.parquet");
    write_sequence(&test, &gold, &model, &vec![0.8f32; n]);
    write_sequence(&btest, &gold, &base, &vec![0.9f32; n]);
    let root = tmp.path().join("artifacts");
    let costs = serde_json::json!({"cost_matrix": {"bad": {"good": 5.0}, "good": {"bad": 1.0}}});
    let eval = artifact_with_params(&root, "evaluate", vec![(pcol::file("test"), test)], costs);
    let baseline = artifact(&root, "baseline", vec![(pcol::file("test"), btest)]);
    let dir = run_reflect(
        &root,
        &[eval, baseline],
        serde_json::json!({"resamples": 200}),
    );
    let a = analysis(&dir);
    let c = &a["costs"];
    assert_eq!(c["constant"], "bad", "{c:#}");
    assert_eq!(c["decided"]["bad"], 200);
    // Always `bad` costs 1 for each of the 133 good applicants: 0.665 per example; always
    // `good` costs 5 for each of the 67 bad ones: 1.675.
    assert!((c["model_cost"]["estimate"].as_f64().unwrap() - 0.665).abs() < 1e-12);
    assert_eq!(c["best_constant"][0], "bad");
    // The baseline accepts the bad applicants with i % 10 == 1 (i = 21, 51, ..., 171: six)
    // and decides every other example right: 6 * 5 / 200 = 0.15.
    let bad_accepted = (0..n).filter(|i| i % 10 == 1 && i % 3 == 0).count();
    let want = bad_accepted as f64 * 5.0 / n as f64;
    let b = c["baseline"]["b"]["estimate"].as_f64().unwrap();
    assert!((b - want).abs() < 1e-12, "{b} vs {want}");
    let f = findings(&dir);
    let d = f.iter().find(|x| x["id"] == "decisions.cost").unwrap();
    assert_eq!(d["severity"], "high");
    assert_eq!(d["kind"], "decisions");
    assert!(
        d["title"]
            .as_str()
            .unwrap()
            .starts_with("Under the cost matrix the model decides `bad` for all 200 test examples"),
        "{d}"
    );
    assert_eq!(d["numbers"]["baseline_cost"], want);

    // Without a cost matrix: no decisions section, no finding.
    let tmp2 = tempfile::tempdir().unwrap();
    let test = tmp2.path().join("t.parquet");
    write_sequence(&test, &gold, &model, &vec![0.8f32; n]);
    let root = tmp2.path().join("artifacts");
    let eval = artifact(&root, "evaluate", vec![(pcol::file("test"), test)]);
    let dir = run_reflect(&root, &[eval], serde_json::json!({"resamples": 200}));
    assert!(analysis(&dir)["costs"].is_null());
}

#[test]
fn unknown_param_names_the_key() {
    let err = ReflectStage
        .resolve(&serde_json::json!({"resampels": 10}), &Globals::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("resampels"), "{err}");
    let err = ReflectStage
        .resolve(&serde_json::json!({"resamples": 10}), &Globals::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`resamples`") && err.contains("at least 100"),
        "{err}"
    );
}

/// Opens report.html in headless Chromium: it must render (DOM dumped with every section)
/// without console errors, and a screenshot is saved next to the test binary's temp dir.
#[test]
fn html_report_renders_in_headless_chromium_without_console_errors() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(chromium) = chromium else {
        if std::env::var("REFLECT_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("chromium not installed; skipped because REFLECT_SKIP_BROWSER=1");
            return;
        }
        panic!(
            "chromium is not installed (apt-get install -y chromium); set REFLECT_SKIP_BROWSER=1 to skip this test"
        );
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = token_report(tmp.path());
    let html = dir.join("report.html");
    let profile = tmp.path().join("profile");
    let shot_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot = shot_dir.join("reflect-report.png");
    let _ = std::fs::remove_file(&shot);
    let base_args = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    };
    let url = format!("file://{}", html.display());
    let mut dump = Command::new(&chromium);
    base_args(&mut dump);
    let out = dump.arg("--dump-dom").arg(&url).output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    for section in [
        "id=\"findings\"",
        "id=\"calibration\"",
        "id=\"slices\"",
        "id=\"confusion\"",
        "id=\"errors\"",
        "id=\"training\"",
        "id=\"per-class\"",
        "<svg",
    ] {
        assert!(dom.contains(section), "rendered DOM lacks {section}");
    }
    // The per-type F1 chart follows the verdict and the headline numbers, before the findings.
    let per_class = dom.find("id=\"per-class\"").unwrap();
    assert!(per_class > dom.find("id=\"verdict\"").unwrap());
    assert!(per_class < dom.find("id=\"findings\"").unwrap());
    // The report opens with its verdict: before the headline numbers and the findings.
    let verdict = dom.find("id=\"verdict\"").expect("no verdict block");
    assert!(verdict < dom.find("id=\"findings\"").unwrap());
    assert!(
        dom[verdict..].contains("Verdict: "),
        "the verdict block has no verdict"
    );
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("ERROR:CONSOLE"))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:#?}"
    );

    let mut screenshot = Command::new(&chromium);
    base_args(&mut screenshot);
    let out = screenshot
        .arg("--window-size=1200,2400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "screenshot {} is not a PNG",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
}

/// Intents with an out-of-scope label: 100 right answers at 0.95, 20 out-of-scope questions
/// answered `book` at 0.95, 20 predicted `oos`, 60 `weather` questions answered `book` at 0.5.
/// Under the evaluation's rule (reject `oos` and below 0.7) reflect marks the rule's point on
/// the risk–coverage curve and reports the confident out-of-scope answers as a high finding.
#[test]
fn confident_out_of_scope_answers_are_a_finding_on_the_risk_coverage_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let labels: Vec<String> = ["book", "oos", "weather"].map(String::from).to_vec();
    let probs = |pred: &str, conf: f32| -> Vec<f32> {
        labels
            .iter()
            .map(|l| if l == pred { conf } else { (1.0 - conf) / 2.0 })
            .collect()
    };
    let mut p = Predictions::new(TaskKind::Sequence, labels.clone());
    let mut push = |gold: &str, pred: &str, conf: f32| {
        let i = p.rows.len();
        p.rows.push(PredictionRow {
            id: format!("q{i:03}"),
            word: None,
            token: Some(format!("question {i}")),
            gold: gold.into(),
            pred: pred.into(),
            probs: Some(probs(pred, conf)),
        });
    };
    for i in 0..100 {
        let g = if i % 2 == 0 { "book" } else { "weather" };
        push(g, g, 0.95);
    }
    for _ in 0..20 {
        push("oos", "book", 0.95);
    }
    for _ in 0..20 {
        push("oos", "oos", 0.6);
    }
    for _ in 0..60 {
        push("weather", "book", 0.5);
    }
    let test = tmp.path().join("t.parquet");
    p.write(&test).unwrap();
    let metrics_json = tmp.path().join("metrics.json");
    std::fs::write(
        &metrics_json,
        r#"{"test": {"open_set": {"rule": {"label": "oos", "threshold": 0.7}}}}"#,
    )
    .unwrap();
    let root = tmp.path().join("artifacts");
    let eval = artifact(
        &root,
        "evaluate",
        vec![
            (pcol::file("test"), test),
            (pcol::METRICS_FILE.to_string(), metrics_json),
        ],
    );
    let dir = run_reflect(&root, &[eval], serde_json::json!({"resamples": 200}));
    let a = analysis(&dir);
    let r = &a["rejection"];
    assert_eq!(r["rule"]["threshold"], 0.7);
    // Answered: the 100 right and the 20 confident out-of-scope ones.
    assert_eq!(r["at_rule"]["coverage"], 0.6);
    assert!((r["at_rule"]["accuracy"].as_f64().unwrap() - 100.0 / 120.0).abs() < 1e-12);
    assert_eq!(r["at_rule"]["out_of_scope_recall"], 0.5);
    assert_eq!(
        (r["confident"].as_u64(), r["confident_wrong"].as_u64()),
        (Some(120), Some(20))
    );
    assert_eq!(r["confident_out_of_scope"], 20);
    assert_eq!(r["out_of_scope"], 40);
    // The curve: coverage falls and the thresholds rise; at 0 only `oos` predictions are out.
    let curve = r["curve"].as_array().unwrap();
    assert_eq!(curve[0]["threshold"], 0.0);
    assert_eq!(curve[0]["coverage"], 0.9);
    let cov: Vec<f64> = curve
        .iter()
        .map(|p| p["coverage"].as_f64().unwrap())
        .collect();
    assert!(cov.windows(2).all(|w| w[0] >= w[1]), "{cov:?}");
    let f = findings(&dir);
    let c = f
        .iter()
        .find(|x| x["id"] == "rejection.confidently_wrong")
        .unwrap_or_else(|| panic!("no finding: {f:#?}"));
    assert_eq!(c["severity"], "high");
    assert_eq!(c["numbers"]["confident_out_of_scope"], 20.0);
    assert!(
        c["title"]
            .as_str()
            .unwrap()
            .starts_with("20 of 120 answers given with confidence >= 0.90 are wrong"),
        "{c}"
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("`q100` gold `oos`, answered `book` at 0.950"),
        "{c}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| the evaluation's threshold | 0.7000 | 0.6000 |"),
        "{md}"
    );

    // Confident answers that are right as often as they claim: no finding.
    let mut p = Predictions::new(TaskKind::Sequence, labels.clone());
    for i in 0..100 {
        p.rows.push(PredictionRow {
            id: format!("r{i}"),
            word: None,
            token: None,
            gold: "book".into(),
            pred: "book".into(),
            probs: Some(probs("book", 0.95)),
        });
    }
    let tmp2 = tempfile::tempdir().unwrap();
    let test = tmp2.path().join("t.parquet");
    p.write(&test).unwrap();
    let root = tmp2.path().join("artifacts");
    let eval = artifact(&root, "evaluate", vec![(pcol::file("test"), test)]);
    let dir = run_reflect(&root, &[eval], serde_json::json!({"resamples": 200}));
    assert!(findings(&dir).iter().all(|x| x["kind"] != "rejection"));
    assert!(analysis(&dir)["rejection"]["rule"].is_null());
}
