//! Data-parallel training across processes (torch.distributed, Gloo on 127.0.0.1) and
//! automatic resume, through the `train` binary as a launcher would start it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowcore::TaskKind;
use flowcore::stage::{execute, plan};
use flowcore::{Globals, Store};
use train::{EvalEvery, RunOptions, TrainParams, train};

use super::FakeTokenize;
use crate::util::*;

const TRAIN: &str = env!("CARGO_BIN_EXE_train");

/// A tokenize artifact of the synthetic token data, and a tiny model for it.
fn setup(root: &Path) -> (PathBuf, PathBuf) {
    let data = token_data();
    let model = tiny_model(root, &data.labels, 3);
    let store = Store::new(&root.join("tok-store"), "t");
    let globals = Globals {
        pipeline: "t".into(),
        task: Some(TaskKind::Token),
        model: Some(model.clone()),
    };
    let p = plan(
        &FakeTokenize,
        "tokenize",
        &serde_json::json!({}),
        &globals,
        vec![],
    )
    .unwrap();
    let tok = execute(&store, &FakeTokenize, &p, &globals, &BTreeMap::new(), false)
        .unwrap()
        .artifact;
    (tok.dir, model)
}

fn free_port() -> u16 {
    train::distributed::free_port().unwrap()
}

/// `train` on the tokenize artifact with `sets`, under `env`.
fn train_cmd(tok: &Path, model: &Path, artifacts: &Path, sets: &[&str]) -> Command {
    let mut cmd = Command::new(TRAIN);
    cmd.arg("--tokenize")
        .arg(tok)
        .arg("--model")
        .arg(model)
        .arg("--artifacts")
        .arg(artifacts)
        .args(["--threads", "1", "--device", "cpu", "--quiet"])
        .env_remove("WORLD_SIZE")
        .env_remove("RANK")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    cmd
}

fn torchrun_env(cmd: &mut Command, rank: usize, port: u16) {
    cmd.env("RANK", rank.to_string())
        .env("WORLD_SIZE", "2")
        .env("LOCAL_RANK", rank.to_string())
        .env("LOCAL_WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string());
}

fn finish(child: Child, what: &str) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const RECIPE: [&str; 6] = [
    "batch_size=4",
    "max_steps=20",
    "learning_rate=0.001",
    "eval_every=5",
    "log_every=1",
    "seed=7",
];

/// Two processes started by hand with the torchrun variables (the multi-node path, on
/// 127.0.0.1) train exactly what one process with accumulation 2 trains: same sampler, same
/// global batches, same dropout masks, gradients summed across ranks. Dropout stays on.
#[test]
fn two_processes_equal_one_process_with_accumulation_two() {
    let root = tempfile::tempdir().unwrap();
    let (tok, model) = setup(root.path());
    let data = train::stage::read_data(&tok).unwrap();
    let reference = TrainParams {
        batch_size: 4,
        grad_accum: 2,
        max_steps: Some(20),
        learning_rate: 1e-3,
        eval_every: EvalEvery::Steps(5),
        seed: 7,
        ..small_params()
    };
    let one = train(
        &data,
        &reference,
        &paths(root.path(), &model, "one"),
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(one.steps, 20);

    let port = free_port();
    let artifacts = root.path().join("artifacts");
    let ranks: Vec<Child> = (0..2)
        .map(|rank| {
            let mut cmd = train_cmd(&tok, &model, &artifacts, &RECIPE);
            torchrun_env(&mut cmd, rank, port);
            cmd.spawn().unwrap()
        })
        .collect();
    let mut outs: Vec<String> = ranks
        .into_iter()
        .enumerate()
        .map(|(rank, c)| finish(c, &format!("rank {rank}")))
        .collect();
    let dir = PathBuf::from(outs.remove(0).lines().last().unwrap());
    assert_eq!(outs[0], "", "rank 1 writes nothing");

    let manifest = flowcore::Artifact::open(&dir).unwrap().manifest;
    assert_eq!(manifest.metrics["world_size"], 2);
    assert_eq!(manifest.metrics["backend"], "gloo");
    assert_eq!(manifest.metrics["steps"], 20);
    let w = |d: &Path| tensors(&d.join("checkpoints/last/model.safetensors"));
    let diff = max_diff(&w(&root.path().join("one")), &w(&dir));
    assert!(
        diff <= 1e-6,
        "2 processes vs 1 process with accumulation 2: {diff}"
    );
    // The comparison can fail: the pretrained weights are far from the trained ones.
    assert!(
        max_diff(
            &w(&root.path().join("one")),
            &tensors(&model.join("model.safetensors"))
        ) > 1e-3
    );
    // Same loss at every step (the global batch's, all-reduced), same dev scores.
    let losses = |file: PathBuf| -> Vec<(u64, f64)> {
        fs_err::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter_map(|v| {
                Some((
                    v["step"].as_u64()?,
                    v.get("loss").or(v.get("dev_score"))?.as_f64()?,
                ))
            })
            .collect()
    };
    let a = losses(root.path().join("one/history.jsonl"));
    let b = losses(dir.join("history.jsonl"));
    assert_eq!(a.len(), b.len());
    for ((sa, la), (sb, lb)) in a.iter().zip(&b) {
        assert_eq!(sa, sb);
        assert!(
            (la - lb).abs() <= 1e-6 * la.abs().max(1.0),
            "step {sa}: {la} vs {lb}"
        );
    }
}

/// A worker that never comes: rank 0 fails within the timeout with an error naming the
/// rendezvous, and the store holds no artifact.
#[test]
fn a_missing_rank_fails_within_the_timeout() {
    let root = tempfile::tempdir().unwrap();
    let (tok, model) = setup(root.path());
    let artifacts = root.path().join("artifacts");
    let mut cmd = train_cmd(
        &tok,
        &model,
        &artifacts,
        &["max_steps=2", "dist_timeout_s=3"],
    );
    torchrun_env(&mut cmd, 0, free_port());
    let clock = Instant::now();
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(
        clock.elapsed() < Duration::from_secs(60),
        "{:?}",
        clock.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rank 0 of 2"), "{stderr}");
    let train_dir = artifacts.join("adhoc/train");
    let artifacts_left: Vec<String> = fs_err::read_dir(&train_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(artifacts_left.is_empty(), "{artifacts_left:?}");
}

fn last_step(work: &Path) -> Option<u64> {
    let text =
        std::fs::read_to_string(work.join("checkpoints/last/trainer_state/state.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["global_step"].as_u64()
}

fn work_dir(stage_dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(stage_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".work-"))
        })
}

/// SIGKILL at a random step, then SIGTERM: each next run of the same command resumes by
/// itself from the newest checkpoint (`save_every`, or the one SIGTERM saved) and the last
/// ends with the weights of a run never interrupted.
#[test]
fn a_killed_run_resumes_by_itself_and_ends_with_the_same_weights() {
    let root = tempfile::tempdir().unwrap();
    let (tok, model) = setup(root.path());
    let sets = [
        "batch_size=4",
        "max_steps=150",
        "learning_rate=0.001",
        "eval_every=50",
        "save_every=1",
        "seed=11",
    ];
    let whole = root.path().join("whole");
    let done = finish(
        train_cmd(&tok, &model, &whole, &sets).spawn().unwrap(),
        "uninterrupted run",
    );
    let whole_dir = PathBuf::from(done.lines().last().unwrap());

    let artifacts = root.path().join("killed");
    let stage_dir = artifacts.join("adhoc/train");
    // A step between 3 and 40, different on every run of the test.
    let kill_at = 3 + u64::from(std::process::id()) % 38;
    let mut child = train_cmd(&tok, &model, &artifacts, &sets).spawn().unwrap();
    let clock = Instant::now();
    loop {
        if let Some(step) = work_dir(&stage_dir).and_then(|w| last_step(&w))
            && step >= kill_at
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before step {kill_at}"
        );
        assert!(
            clock.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let work = work_dir(&stage_dir).expect("the work directory survives the kill");
    let saved = last_step(&work).unwrap();
    assert!(saved >= kill_at && saved < 150, "{saved}");

    // The re-run resumes; a SIGTERM (what Slurm and spot instances send) makes it save a
    // checkpoint after the current step and stop with an error saying so.
    let mut child = train_cmd(&tok, &model, &artifacts, &sets).spawn().unwrap();
    let clock = Instant::now();
    let before_term = loop {
        if let Some(step) = work_dir(&stage_dir).and_then(|w| last_step(&w))
            && step > saved + 2
        {
            break step;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the re-run ended early"
        );
        assert!(
            clock.elapsed() < Duration::from_secs(120),
            "the re-run made no progress"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stopped by a termination signal"),
        "{stderr}"
    );
    let saved = last_step(&work_dir(&stage_dir).unwrap()).unwrap();
    assert!(saved >= before_term && saved < 150, "{saved}");

    let out = finish(
        train_cmd(&tok, &model, &artifacts, &sets).spawn().unwrap(),
        "re-run",
    );
    let dir = PathBuf::from(out.lines().last().unwrap());
    let manifest = flowcore::Artifact::open(&dir).unwrap().manifest;
    assert_eq!(manifest.metrics["resumed_automatically"], true);
    let resumed = manifest.metrics["resumed_from_step"].as_u64().unwrap();
    assert!(resumed >= saved, "resumed from {resumed}, saved {saved}");
    assert_eq!(manifest.metrics["steps"], 150);
    let w = |d: &Path| tensors(&d.join("checkpoints/last/model.safetensors"));
    assert_eq!(max_diff(&w(&whole_dir), &w(&dir)), 0.0);
    assert!(
        work_dir(&stage_dir).is_none(),
        "the work directory is removed after the commit"
    );
    // Same fingerprint as the uninterrupted run: what was resumed is the same artifact.
    assert_eq!(
        dir.file_name(),
        whole_dir.file_name(),
        "save_every/resume do not change the fingerprint"
    );
}
