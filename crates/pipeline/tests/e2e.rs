//! End-to-end: the demo pipeline (project data from `data/demo/`) through every real stage,
//! with a tiny random-weight model so it runs in CI in seconds rather than minutes.
//!
//! Checks the promise of the pipeline runner on real stages: everything runs once, a second
//! run skips everything, and changing only an evaluate param re-runs only evaluate and reflect
//! on the saved checkpoint.

mod common;

use std::path::{Path, PathBuf};

use common::{project_root, tiny_model};

use pipeline::{Action, PipelineSpec, RunOptions, default_registry, plan_pipeline};

fn run(file: &Path, artifacts: &Path, set: &[String]) -> Vec<(String, Action, Option<PathBuf>)> {
    let spec = PipelineSpec::load(file, set).expect("pipeline file");
    let registry = default_registry();
    let plan = plan_pipeline(spec, &registry, artifacts).expect("plan");
    plan.run(&RunOptions::default())
        .expect("run")
        .into_iter()
        .map(|r| (r.stage, r.action, r.dir))
        .collect()
}

fn ran(reports: &[(String, Action, Option<PathBuf>)]) -> Vec<&str> {
    reports
        .iter()
        .filter(|r| r.1 == Action::Ran)
        .map(|r| r.0.as_str())
        .collect()
}

fn demo(pipeline_file: &str, task: flowcore::TaskKind) {
    let tmp = tempfile::tempdir().unwrap();
    let root = project_root();
    // Relative paths in the pipeline file are relative to the project root.
    std::env::set_current_dir(&root).unwrap();
    let model = tiny_model(tmp.path(), task);
    let artifacts = tmp.path().join("artifacts");
    let set = vec![
        format!("pipeline.model={:?}", model.display().to_string()),
        "train.epochs=1".to_string(),
        "train.max_steps=6".to_string(),
        "reflect.resamples=200".to_string(),
    ];
    let file = root.join(pipeline_file);

    let first = run(&file, &artifacts, &set);
    assert_eq!(
        ran(&first),
        [
            "ingest", "tokenize", "train", "baseline", "evaluate", "reflect"
        ],
        "{first:?}"
    );
    let reflect_dir = first
        .iter()
        .find(|r| r.0 == "reflect")
        .unwrap()
        .2
        .clone()
        .unwrap();
    for file in ["report.html", "report.md", "findings.json"] {
        assert!(reflect_dir.join(file).is_file(), "{file} missing");
    }
    let html = std::fs::read_to_string(reflect_dir.join("report.html")).unwrap();
    assert!(html.contains("<svg"), "report has no plots");

    let second = run(&file, &artifacts, &set);
    assert!(ran(&second).is_empty(), "second run executed {second:?}");

    let mut changed = set.clone();
    changed.push("evaluate.batch_size=3".to_string());
    let third = run(&file, &artifacts, &changed);
    assert_eq!(ran(&third), ["evaluate", "reflect"], "{third:?}");
}

#[test]
fn demo_ner_pipeline_runs_skips_and_reruns_only_evaluation() {
    demo("pipelines/demo-template.toml", flowcore::TaskKind::Token);
}

#[test]
fn demo_sentiment_pipeline_runs_skips_and_reruns_only_evaluation() {
    demo(
        "pipelines/demo-sentiment.toml",
        flowcore::TaskKind::Sequence,
    );
}
