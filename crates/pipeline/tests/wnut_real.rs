//! End-to-end on real data with the real model: `make demo`'s pipeline, `pipelines/demo.toml`
//! (WNUT-17 English tweets, vendored in `data/wnut17`, with the pretrained all-MiniLM-L6-v2
//! from `models/`, 200 optimizer steps instead of the full recipe's 3 epochs so it fits in
//! `make test`: a few minutes on 2 cores).
//!
//! What it guards: the stages together actually *learn* on real data, and the demo shows what
//! fine-tuning is for — the fine-tuned model's test entity F1 (seqeval default mode, from
//! evaluate's `metrics.json`) must be well above the memorisation baseline (a lookup of each
//! word's most frequent training tag; 0.061 on WNUT-17 test) and above the averaged perceptron
//! tagger the baseline stage trains on the same split. A broken label alignment, loss mask,
//! optimizer, window merge or metric would leave the model at or below those baselines.

mod common;

use std::path::PathBuf;

use common::{pretrained, project_root, read_json};

use pipeline::{Action, PipelineSpec, RunOptions, default_registry, plan_pipeline};
use serde_json::Value;

fn number(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer}"))
}

#[test]
fn wnut17_short_real_run_learns_well_beyond_memorisation() {
    let root = project_root();
    std::env::set_current_dir(&root).unwrap();
    let data = root.join("data/wnut17/wnut17train.conll");
    assert!(
        data.is_file(),
        "{} is missing: the real-data tests read the vendored data/wnut17",
        data.display()
    );
    pretrained();

    let tmp = tempfile::tempdir().unwrap();
    let artifacts = tmp.path().join("artifacts");
    // The demo as shipped (200 steps of 16 tweets at lr 1e-4), fewer bootstrap resamples.
    let set = ["reflect.resamples=200"].map(String::from);
    let spec = PipelineSpec::load(&root.join("pipelines/demo.toml"), &set).expect("pipeline");
    let registry = default_registry();
    let plan = plan_pipeline(spec, &registry, &artifacts).expect("plan");
    let reports = plan.run(&RunOptions::default()).expect("run");
    let dir = |stage: &str| -> PathBuf {
        let r = reports
            .iter()
            .find(|r| r.stage == stage)
            .unwrap_or_else(|| panic!("no {stage} report"));
        assert_eq!(r.action, Action::Ran, "{stage}");
        r.dir.clone().expect("artifact dir")
    };

    let train = read_json(&dir("train").join("manifest.json"));
    assert_eq!(
        number(&train, "/metrics/steps"),
        200.0,
        "{:#}",
        train["metrics"]
    );

    let eval = read_json(&dir("evaluate").join("metrics.json"));
    let ours = number(&eval, "/test/entity/micro/f1");
    let words = number(&eval, "/test/words");
    assert_eq!(words, 23_394.0, "every WNUT-17 test word is scored once");

    let baseline = read_json(&dir("baseline").join("metrics.json"));
    let memorised = number(
        &baseline,
        "/models/memorisation/splits/test/entity/micro/f1",
    );
    assert!(
        (0.03..0.1).contains(&memorised),
        "memorisation baseline {memorised}"
    );
    let perceptron = number(&baseline, "/models/perceptron/splits/test/entity/micro/f1");
    eprintln!(
        "WNUT-17 test entity F1 after 200 steps: {ours:.3} (memorisation {memorised:.3}, perceptron {perceptron:.3})"
    );
    assert!(
        ours >= 0.15 && ours >= 2.5 * memorised,
        "test entity F1 {ours:.3} is not well above the memorisation baseline {memorised:.3}"
    );
    assert!(
        ours > perceptron + 0.03,
        "the demo must show fine-tuning beating the classical tagger: {ours:.3} vs {perceptron:.3}"
    );

    let reflect = dir("reflect");
    let findings = read_json(&reflect.join("findings.json"));
    assert!(
        findings.as_array().is_some_and(|f| !f.is_empty()),
        "reflect found nothing to say: {findings:#}"
    );
    assert!(reflect.join("report.html").is_file());

    // Entities unseen in train: the counts are a property of the data, checked against
    // scripts/fixtures/reflect/make_unseen_wnut17.py (seqeval's entity reader); WNUT-17 is
    // built from emerging entities, so nearly all of test is new and F1 there is lower.
    let want = read_json(&root.join("crates/pipeline/tests/fixtures/unseen_wnut17.json"));
    let analysis = read_json(&reflect.join("analysis.json"));
    let unseen = &analysis["unseen"];
    assert_eq!(unseen["gold"], want["test"]["gold"], "{unseen:#}");
    assert_eq!(
        unseen["gold_unseen"], want["test"]["gold_unseen"],
        "{unseen:#}"
    );
    assert_eq!(
        unseen["train_surface_forms"], want["train_surface_forms"],
        "{unseen:#}"
    );
    let dev_share = number(unseen, "/fit_unseen_share");
    assert!(
        (dev_share - number(&want, "/dev/unseen_share")).abs() < 1e-9,
        "{unseen:#}"
    );
    let finding = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "unseen_entities")
        .unwrap_or_else(|| panic!("no unseen_entities finding: {findings:#}"));
    let title = finding["title"].as_str().unwrap();
    assert!(
        title.starts_with("97.8 % of test entities (1055 of 1079) never occur in train"),
        "{title}"
    );
    assert!(
        number(unseen, "/f1_unseen/estimate") < number(unseen, "/f1_seen/estimate"),
        "{unseen:#}"
    );
}
