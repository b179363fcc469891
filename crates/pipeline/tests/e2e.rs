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

    // `pipeline serve` serves the up-to-date train artifact's best checkpoint and decides as
    // the evaluate artifact recorded; a stale stage is refused, naming what to run.
    let registry = default_registry();
    let dir_of = |stage: &str| first.iter().find(|r| r.0 == stage).unwrap().2.clone();
    let plan = plan_pipeline(
        PipelineSpec::load(&file, &set).unwrap(),
        &registry,
        &artifacts,
    );
    let served = pipeline::serving::locate(&plan.unwrap(), None).expect("served artifacts");
    assert_eq!(
        served.checkpoint,
        dir_of("train").unwrap().join("checkpoints/best")
    );
    assert_eq!(served.evaluation, dir_of("evaluate"));

    let mut changed = set.clone();
    changed.push("evaluate.batch_size=3".to_string());
    let plan = plan_pipeline(
        PipelineSpec::load(&file, &changed).unwrap(),
        &registry,
        &artifacts,
    )
    .unwrap();
    let stale = pipeline::serving::locate(&plan, None)
        .unwrap_err()
        .to_string();
    assert!(
        stale.contains("`evaluate` is stale") && stale.contains("--until evaluate"),
        "{stale}"
    );
    assert!(
        pipeline::serving::locate(&plan, Some("train"))
            .unwrap_err()
            .to_string()
            .contains("is a train stage")
    );
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

/// `pipeline run` with the project's own binary, from the project root.
fn pipeline_cmd(artifacts: &Path, model: &Path, sets: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"));
    cmd.current_dir(project_root())
        .arg("run")
        .arg("pipelines/demo-template.toml")
        .arg("--artifacts")
        .arg(artifacts)
        .arg("--set")
        .arg(format!("pipeline.model={:?}", model.display().to_string()))
        .env_remove("WORLD_SIZE")
        .env_remove("SLURM_NTASKS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    cmd
}

fn run_ok(mut cmd: std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "pipeline failed: {stderr}");
    stderr
}

/// Files of the latest artifact of a stage, relative to it.
fn artifact_files(stage_dir: &Path) -> (PathBuf, Vec<String>) {
    let fp = std::fs::read_to_string(stage_dir.join("latest")).unwrap();
    let dir = stage_dir.join(fp.trim());
    let manifest = flowcore::Artifact::open(&dir).unwrap().manifest;
    let mut files: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
    files.sort();
    (dir, files)
}

/// `train.processes = 2` through `pipeline run`: the stage starts a worker of the pipeline
/// binary, the artifact has the layout of a one-process run, evaluate loads it, and a second
/// run skips.
#[test]
fn train_with_two_processes_through_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path(), flowcore::TaskKind::Token);
    let base = ["train.max_steps=6", "train.threads=2", "train.eval_every=3"];
    let two = tmp.path().join("two");
    let sets: Vec<&str> = base.iter().copied().chain(["train.processes=2"]).collect();
    let mut cmd = pipeline_cmd(&two, &model, &sets);
    cmd.args(["--until", "evaluate"]);
    run_ok(cmd);
    let stage = two.join("demo-template/train");
    let (dir, files) = artifact_files(&stage);
    let manifest = flowcore::Artifact::open(&dir).unwrap().manifest;
    assert_eq!(manifest.metrics["world_size"], 2);
    assert_eq!(manifest.metrics["steps"], 6);
    assert!(
        two.join("demo-template/evaluate/latest").is_file(),
        "evaluate scored the checkpoint"
    );
    assert!(
        !std::fs::read_dir(&stage).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".work-")),
        "the work directory is gone after the commit"
    );

    let one = tmp.path().join("one");
    let mut cmd = pipeline_cmd(&one, &model, &base);
    cmd.args(["--until", "train"]);
    run_ok(cmd);
    let (_, one_files) = artifact_files(&one.join("demo-template/train"));
    assert_eq!(files, one_files, "same layout as a one-process run");

    let mut again = pipeline_cmd(&two, &model, &sets);
    again.args(["--until", "evaluate"]);
    run_ok(again);
    let after = flowcore::Artifact::open(&dir).unwrap().manifest;
    assert_eq!(
        after.finished, manifest.finished,
        "the second run skipped train"
    );
}

/// SIGKILL one worker mid-run: every rank exits non-zero within the timeout, the error names
/// the rank, the store holds no artifact, and the next run resumes from the last checkpoint.
#[test]
fn a_killed_worker_stops_the_run_and_the_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path(), flowcore::TaskKind::Token);
    let artifacts = tmp.path().join("a");
    let sets = [
        "train.max_steps=300",
        "train.threads=2",
        "train.processes=2",
        "train.eval_every=100",
        "train.save_every=5",
        "train.dist_timeout_s=30",
    ];
    let stage = artifacts.join("demo-template/train");
    let mut cmd = pipeline_cmd(&artifacts, &model, &sets);
    cmd.args(["--until", "train"]);
    let mut child = cmd.spawn().unwrap();
    let work = || {
        std::fs::read_dir(&stage)
            .ok()?
            .filter_map(Result::ok)
            .find_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".work-")
                    .then(|| e.path())
            })
    };
    let step = |w: &Path| -> Option<u64> {
        let text =
            std::fs::read_to_string(w.join("checkpoints/last/trainer_state/state.json")).ok()?;
        read_step(&text)
    };
    let clock = std::time::Instant::now();
    let saved = loop {
        if let Some(s) = work().and_then(|w| step(&w)) {
            break s;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        assert!(clock.elapsed().as_secs() < 300, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // The worker: a child process of the pipeline (any of its threads may have started it).
    let pid = child.id();
    let worker = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .next()
        .expect("a worker process");
    let killed = std::process::Command::new("kill")
        .args(["-9", &worker])
        .status()
        .unwrap();
    assert!(killed.success());
    let clock = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            clock.elapsed().as_secs() < 60,
            "rank 0 did not exit after its worker was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("worker rank 1"), "{stderr}");
    assert!(stderr.contains("SIGKILL"), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(&stage)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "no artifact after a failed run: {left:?}");

    let mut again = pipeline_cmd(&artifacts, &model, &sets);
    again.args(["--until", "train"]);
    run_ok(again);
    let (dir, _) = artifact_files(&stage);
    let metrics = flowcore::Artifact::open(&dir).unwrap().manifest.metrics;
    assert_eq!(metrics["resumed_automatically"], true);
    assert!(metrics["resumed_from_step"].as_u64().unwrap() >= saved);
    assert_eq!(metrics["steps"], 300);

    // Resumed with the same world size: the weights of a run never interrupted.
    let whole = tmp.path().join("whole");
    let mut cmd = pipeline_cmd(&whole, &model, &sets);
    cmd.args(["--until", "train"]);
    run_ok(cmd);
    let (whole_dir, _) = artifact_files(&whole.join("demo-template/train"));
    let weights = |d: &Path| std::fs::read(d.join("checkpoints/last/model.safetensors")).unwrap();
    assert!(
        weights(&dir) == weights(&whole_dir),
        "resumed 2-process run differs from the uninterrupted one"
    );
}

fn read_step(state_json: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(state_json).ok()?["global_step"].as_u64()
}

fn sweep(
    file: &str,
    task: flowcore::TaskKind,
    grid: &[&str],
    seeds: Option<&str>,
) -> (tempfile::TempDir, pipeline::sweep::SweepReport) {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_current_dir(project_root()).unwrap();
    let model = tiny_model(tmp.path(), task);
    let spec = pipeline::sweep::SweepSpec::default()
        .with_cli(
            &grid.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            seeds,
        )
        .unwrap();
    let opts = pipeline::sweep::SweepOptions {
        base: vec![
            format!("pipeline.model={:?}", model.display().to_string()),
            "train.max_steps=2".into(),
            "train.threads=1".into(),
            "evaluate.probes=[]".into(),
        ],
        bootstrap: reflect::stats::bootstrap::Bootstrap {
            resamples: 200,
            seed: 0,
            level: 0.95,
        },
    };
    let registry = default_registry();
    let report = pipeline::sweep::run_sweep(
        Path::new(file),
        &spec,
        &registry,
        &tmp.path().join("artifacts"),
        &opts,
    )
    .unwrap();
    (tmp, report)
}

/// Checks that hold for every sweep: upstream stages are built once and reused, the choice
/// is the best dev mean, the means and sds are those of the runs, test is reported once.
fn check_sweep(report: &pipeline::sweep::SweepReport, runs_per_variant: usize) {
    let all: Vec<&pipeline::sweep::SweepRun> =
        report.variants.iter().flat_map(|v| v.runs.iter()).collect();
    for stage in ["ingest", "tokenize"] {
        let ran = all
            .iter()
            .filter(|r| r.ran.iter().any(|s| s == stage))
            .count();
        assert_eq!(ran, 1, "{stage} ran {ran} times: it must be reused");
    }
    assert!(all.iter().all(|r| r.ran.iter().any(|s| s == "evaluate")));
    for v in &report.variants {
        assert_eq!(v.runs.len(), runs_per_variant);
        let devs: Vec<f64> = v.runs.iter().map(|r| r.dev.estimate).collect();
        let mean = devs.iter().sum::<f64>() / devs.len() as f64;
        assert!((v.dev.mean - mean).abs() < 1e-12);
        for r in &v.runs {
            assert!(
                r.dev.lo <= r.dev.estimate && r.dev.estimate <= r.dev.hi,
                "{:?}",
                r.dev
            );
        }
    }
    let best = report
        .variants
        .iter()
        .map(|v| v.dev.mean)
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(
        report.variants[report.chosen].dev.mean, best,
        "chosen on dev"
    );
    assert_eq!(report.chosen_test.n, runs_per_variant);
    assert_eq!(
        report
            .variants
            .iter()
            .filter(|v| v.variant.is_default)
            .count(),
        1
    );
    let md = report.markdown();
    assert!(md.contains("Chosen: **"), "{md}");
}

/// Seeds and a learning-rate axis on the NER template demo: the file's own learning rate is
/// recognised as the default, and the test metric is a mean ± sd over the chosen seeds.
#[test]
fn sweep_over_learning_rates_and_seeds_chooses_on_dev() {
    let (tmp, report) = sweep(
        "pipelines/demo-template.toml",
        flowcore::TaskKind::Token,
        &["train.learning_rate=1e-4,5e-3"],
        Some("1,2"),
    );
    assert_eq!(report.variants.len(), 2);
    assert!(
        report.variants[0].variant.is_default,
        "1e-4 is the file's value"
    );
    check_sweep(&report, 2);
    let seeds: Vec<Option<u64>> = report.variants[0].runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, [Some(1), Some(2)]);
    // Written where `pipeline status` finds it.
    let artifacts = tmp.path().join("artifacts");
    let dir = pipeline::sweep::write_report(&report, &artifacts).unwrap();
    assert!(dir.join("sweep.md").is_file() && dir.join("sweep.json").is_file());
    let lines = pipeline::sweep::status_lines(&artifacts, "demo-template");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("2 variant(s), 4 run(s)"), "{lines:?}");
    // Different seeds train different models.
    assert_ne!(
        report.variants[0].runs[0].evaluate_dir,
        report.variants[0].runs[1].evaluate_dir
    );
}

/// A 2 x 2 grid on German Credit: four variants on one ingest and one tokenize artifact, the
/// default (5e-5, 0.01) among them, a paired bootstrap when another one wins on dev.
#[test]
fn sweep_grid_on_german_credit_reuses_upstream() {
    let (_tmp, report) = sweep(
        "pipelines/credit-risk.toml",
        flowcore::TaskKind::Sequence,
        &[
            "train.learning_rate=5e-5,1e-3",
            "train.weight_decay=0.0,0.01",
        ],
        None,
    );
    assert_eq!(report.variants.len(), 4);
    let default = &report.variants[report.default].variant;
    assert_eq!(
        default.name,
        "train.learning_rate=5e-5, train.weight_decay=0.01"
    );
    check_sweep(&report, 1);
    assert_eq!(
        report.vs_default_dev.is_some(),
        report.chosen != report.default
    );
    if let Some(p) = &report.vs_default_dev {
        assert_eq!(
            report.markdown().contains("within the noise"),
            p.p_value >= 0.05,
            "{}",
            report.markdown()
        );
    }
}
