//! Integration tests of the training loop and the stage, on tiny random models and
//! synthetic data (CPU, one thread, a few seconds each).

mod dist;
mod util;

use std::collections::BTreeMap;

use flowcore::{LabelMap, TaskKind};
use train::{
    ClassWeights, EarlyStopping, EvalEvery, RunOptions, TrainData, TrainError, TrainParams, train,
};
use util::*;

fn no_opts() -> RunOptions {
    RunOptions::default()
}

/// A run killed after 5 steps and resumed from its last checkpoint (step 4) ends with the
/// same weights, optimizer moments and history as a run that was never interrupted.
#[test]
fn interrupted_and_resumed_run_ends_with_the_same_weights() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let params = TrainParams {
        max_steps: Some(9),
        eval_every: EvalEvery::Steps(2),
        grad_accum: 2,
        weight_decay: 0.01,
        warmup_ratio: 0.2,
        seed: 7,
        ..small_params()
    };
    // 48 windows / (4 * 2) = 6 steps per epoch: the run crosses an epoch boundary.
    let full = train(
        &data,
        &params,
        &paths(root.path(), &model, "full"),
        &no_opts(),
    )
    .unwrap();
    assert_eq!(full.steps, 9);

    let killed = train(
        &data,
        &params,
        &paths(root.path(), &model, "killed"),
        &RunOptions {
            abort_after: Some(5),
            ..no_opts()
        },
    )
    .unwrap_err();
    assert!(
        matches!(killed, TrainError::Aborted { step: 5 }),
        "{killed}"
    );
    let last = root.path().join("killed/checkpoints/last");
    let saved: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(last.join("trainer_state/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(saved["global_step"], 4);

    let resumed_params = TrainParams {
        resume_from: Some(last.clone()),
        ..params.clone()
    };
    let resumed = train(
        &data,
        &resumed_params,
        &paths(root.path(), &model, "resumed"),
        &no_opts(),
    )
    .unwrap();
    assert_eq!(resumed.steps, 9);
    assert_eq!(resumed.resumed_from_step, Some(4));

    let weights = |run: &str| {
        tensors(
            &root
                .path()
                .join(run)
                .join("checkpoints/last/model.safetensors"),
        )
    };
    let moments = |run: &str| {
        tensors(
            &root
                .path()
                .join(run)
                .join("checkpoints/last/trainer_state/optimizer.safetensors"),
        )
    };
    assert_eq!(max_diff(&weights("full"), &weights("resumed")), 0.0);
    assert_eq!(max_diff(&moments("full"), &moments("resumed")), 0.0);
    // The comparison can fail: the step-4 weights differ from the final ones.
    assert!(max_diff(&weights("full"), &tensors(&last.join("model.safetensors"))) > 0.0);

    // Same losses and dev scores step by step (timings aside).
    let history = |run: &str| -> Vec<serde_json::Value> {
        fs_err::read_to_string(root.path().join(run).join("history.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("tokens_per_s");
                v
            })
            .collect()
    };
    assert_eq!(history("full"), history("resumed"));
    assert_eq!(full.best, resumed.best);
    // The best checkpoint of the interrupted run came along.
    assert!(
        root.path()
            .join("resumed/checkpoints/best/model.safetensors")
            .is_file()
    );
}

/// Processes that keep every core busy until dropped.
struct Busy(Vec<std::process::Child>);

impl Busy {
    fn start(n: usize) -> Self {
        Self(
            (0..n)
                .map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("sh starts")
                })
                .collect(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Same seed, recipe and thread count give bit-identical weights whether the machine is idle
/// or every core is saturated by other processes: libtorch splits its work by thread count,
/// never by load. The model is big enough (hidden 256, 64-token windows, batch 16) that
/// libtorch does split its matrix products and element-wise kernels between two threads.
#[test]
fn busy_cores_do_not_change_the_weights() {
    let root = tempfile::tempdir().unwrap();
    let labels = LabelMap::new(TaskKind::Sequence, vec!["neg".into(), "pos".into()]);
    let vocab = vocab_dir(root.path());
    let model = root.path().join("model");
    bert::write_random(
        &model,
        &vocab,
        TaskKind::Sequence,
        &labels.labels,
        5,
        (256, 2),
    )
    .unwrap();
    let data = TrainData {
        train: long_sequence_windows(64, 1, 64),
        dev: long_sequence_windows(16, 2, 64),
        labels,
        max_length: Some(64),
    };
    let params = TrainParams {
        max_steps: Some(4),
        batch_size: 16,
        threads: Some(2),
        seed: 11,
        ..small_params()
    };
    let alone = train(
        &data,
        &params,
        &paths(root.path(), &model, "alone"),
        &no_opts(),
    )
    .unwrap();
    let busy = {
        let _neighbours = Busy::start(std::thread::available_parallelism().map_or(2, |n| n.get()));
        train(
            &data,
            &params,
            &paths(root.path(), &model, "busy"),
            &no_opts(),
        )
        .unwrap()
    };
    assert_eq!(alone.threading.intra_op_threads, 2);
    assert_eq!(busy.threading.intra_op_threads, 2);
    let bytes = |run: &str| {
        fs_err::read(
            root.path()
                .join(run)
                .join("checkpoints/last/model.safetensors"),
        )
        .unwrap()
    };
    assert!(
        bytes("alone") == bytes("busy"),
        "the weights differ beside busy processes"
    );
    assert_eq!(alone.best, busy.best);
    // The comparison can fail: training moved the weights.
    assert!(
        max_diff(
            &tensors(&model.join("model.safetensors")),
            &tensors(&root.path().join("alone/checkpoints/last/model.safetensors"))
        ) > 0.0
    );
}

/// A resume with another recipe would silently train something else: refused.
#[test]
fn resume_with_another_recipe_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let params = TrainParams {
        max_steps: Some(2),
        eval_every: EvalEvery::Steps(1),
        ..small_params()
    };
    train(&data, &params, &paths(root.path(), &model, "a"), &no_opts()).unwrap();
    let other = TrainParams {
        learning_rate: 2e-3,
        resume_from: Some(root.path().join("a/checkpoints/last")),
        ..params
    };
    let err = train(&data, &other, &paths(root.path(), &model, "b"), &no_opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("another recipe"), "{err}");
}

/// Three steps without dropout or evaluation, for comparing the weights of two runs.
fn three_comparable_steps() -> TrainParams {
    TrainParams {
        max_steps: Some(3),
        dropout: Some(0.0),
        // Adam divides by the root of the second moment: a large epsilon keeps it from
        // blowing float-summation noise in near-zero gradients up to full-size updates.
        adam_epsilon: 1e-3,
        eval_every: EvalEvery::Never,
        ..small_params()
    }
}

/// The token loss is normalised by the labelled tokens of the whole accumulated batch: two
/// micro-batches of 4 accumulated give the same update as one batch of 8.
#[test]
fn accumulation_equals_one_big_batch() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let base = TrainParams {
        group_by_length: Some(false),
        ..three_comparable_steps()
    };
    let big = TrainParams {
        batch_size: 8,
        ..base.clone()
    };
    let accumulated = TrainParams {
        batch_size: 4,
        grad_accum: 2,
        ..base.clone()
    };
    let small = TrainParams {
        batch_size: 4,
        ..base
    };
    for (name, p) in [("big", &big), ("acc", &accumulated), ("small", &small)] {
        train(&data, p, &paths(root.path(), &model, name), &no_opts()).unwrap();
    }
    let w = |run: &str| {
        tensors(
            &root
                .path()
                .join(run)
                .join("checkpoints/last/model.safetensors"),
        )
    };
    let same = max_diff(&w("big"), &w("acc"));
    let different = max_diff(&w("big"), &w("small"));
    assert!(same < 1e-5, "accumulated vs big batch differ by {same}");
    assert!(different > 1e-4, "the comparison cannot fail: {different}");
}

/// `precision = "bf16"` runs the forward pass under autocast (here the CPU's): the weights move
/// as in fp32 but not bit for bit, and the checkpoint stays fp32.
#[test]
fn bf16_autocast_trains_close_to_fp32() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let fp32 = three_comparable_steps();
    let bf16 = TrainParams {
        precision: train::Precision::Bf16,
        ..fp32.clone()
    };
    for (name, p) in [("fp32", &fp32), ("bf16", &bf16)] {
        train(&data, p, &paths(root.path(), &model, name), &no_opts()).unwrap();
    }
    let w = |run: &str| {
        let file = root
            .path()
            .join(run)
            .join("checkpoints/last/model.safetensors");
        for (name, t) in tch::Tensor::read_safetensors(&file).unwrap() {
            assert_eq!(t.kind(), tch::Kind::Float, "{run}: {name}");
        }
        tensors(&file)
    };
    let start = tensors(&model.join("model.safetensors"));
    let moved = max_diff(&start, &w("fp32"));
    let apart = max_diff(&w("fp32"), &w("bf16"));
    eprintln!("bf16 vs fp32 {apart}, fp32 moved {moved}");
    assert!(apart > 0.0, "bf16 changed nothing: autocast is off");
    assert!(
        apart < moved / 4.0,
        "bf16 weights {apart} from fp32's, fp32 moved {moved}"
    );
}

/// Training learns the synthetic task, writes history and both checkpoints, and the dev
/// score in the history is the one the best checkpoint was chosen by.
#[test]
fn training_learns_and_records_history() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let params = TrainParams {
        epochs: 6,
        learning_rate: 3e-3,
        ..small_params()
    };
    let summary = train(
        &data,
        &params,
        &paths(root.path(), &model, "run"),
        &no_opts(),
    )
    .unwrap();
    assert_eq!(summary.steps, 6 * 12);
    let best = summary.best.clone().expect("dev evaluations");
    assert!(best.value > 0.5, "entity F1 after training: {}", best.value);
    let out = root.path().join("run");
    for file in [
        "history.jsonl",
        "checkpoints/best/config.json",
        "checkpoints/best/model.safetensors",
        "checkpoints/last/trainer_state/state.json",
        "checkpoints/last/trainer_state/optimizer.safetensors",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let lines: Vec<serde_json::Value> = fs_err::read_to_string(out.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let train_lines: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("loss").is_some()).collect();
    let evals: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.get("dev_score").is_some())
        .collect();
    assert_eq!(train_lines.len(), 72);
    assert_eq!(evals.len(), 6, "one evaluation per epoch");
    for key in ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s"] {
        assert!(train_lines[0].get(key).is_some(), "history lacks {key}");
    }
    let first = train_lines[0]["loss"].as_f64().unwrap();
    let last = train_lines[71]["loss"].as_f64().unwrap();
    assert!(last < first / 2.0, "loss {first} -> {last}");
    let top = evals
        .iter()
        .map(|e| e["dev_score"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(top, best.value);
    // The best checkpoint loads in the evaluate code path and scores what was recorded.
    let (m, _vs, _) = load_model(&out.join("checkpoints/best"));
    let dev =
        train::trainer::dev_metrics(&m, &data.dev, &data.labels, 8, tch::Device::Cpu).unwrap();
    assert!((dev.primary().1 - best.value).abs() < 1e-9);
    assert!(summary.tokens_per_second > 0.0 && summary.train_tokens > 0);
    assert!(summary.peak_rss_mib.unwrap_or(0.0) > 0.0);
}

/// Data labels that differ from a trained head's `id2label` are refused, listing both.
#[test]
fn label_mismatch_lists_both_label_sets() {
    let root = tempfile::tempdir().unwrap();
    let other = LabelMap::new(
        TaskKind::Token,
        vec!["O".into(), "B-Y".into(), "I-Y".into()],
    );
    let model = tiny_model(root.path(), &other, 3);
    let err = train(
        &token_data(),
        &small_params(),
        &paths(root.path(), &model, "run"),
        &no_opts(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("\"B-X\"") && err.contains("\"B-Y\""), "{err}");
}

/// A NaN loss stops the run with a message and keeps the last good weights where the failed
/// run's clean-up does not reach.
#[test]
fn nan_loss_stops_and_keeps_the_last_good_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let (m, vs, _) = load_model(&model);
    let mut bias = vs.variables()["classifier.bias"].shallow_clone();
    tch::no_grad(|| {
        let _ = bias.fill_(f64::NAN);
    });
    let poisoned = root.path().join("poisoned");
    bert::save(&m, &vs, &poisoned, Some(&model)).unwrap();
    let out = root.path().join("stage/.tmp-run");
    let run_paths = train::RunPaths {
        out_dir: out.clone(),
        ..paths(root.path(), &poisoned, "unused")
    };
    let err = train(&data, &small_params(), &run_paths, &no_opts()).unwrap_err();
    let TrainError::NonFinite {
        what, step, kept, ..
    } = &err
    else {
        panic!("expected a non-finite loss error, got {err}");
    };
    assert_eq!((*what, *step), ("loss", 1));
    let kept = kept.clone().unwrap();
    assert_eq!(kept, root.path().join("stage/.failed-tmp-run/last"));
    assert!(kept.join("model.safetensors").is_file());
    assert!(err.to_string().contains("learning_rate"), "{err}");
}

/// Early stopping ends the run after `patience` evaluations without improvement.
#[test]
fn early_stopping_ends_the_run() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let params = TrainParams {
        epochs: 5,
        eval_every: EvalEvery::Steps(2),
        early_stopping: Some(EarlyStopping {
            patience: 2,
            // No score can rise by more than 1: every evaluation after the first is stale.
            threshold: 1.0,
        }),
        ..small_params()
    };
    let summary = train(
        &data,
        &params,
        &paths(root.path(), &model, "run"),
        &no_opts(),
    )
    .unwrap();
    assert_eq!(summary.steps, 6, "first evaluation at 2, stale at 4 and 6");
    assert!(
        summary
            .stopped_early
            .unwrap()
            .contains("early stopping at step 6")
    );
}

/// A monitor that records the evaluations it sees and stops the run at `stop_at`.
#[derive(Debug)]
struct StopAt {
    stop_at: u64,
    seen: std::sync::Mutex<Vec<(u64, u64, f64)>>,
}

impl flowcore::Monitor for StopAt {
    fn evaluated(&self, stage: &str, point: &flowcore::EvalPoint) -> flowcore::Verdict {
        assert_eq!(stage, "train");
        self.seen
            .lock()
            .unwrap()
            .push((point.step, point.total_steps, point.value));
        if point.step >= self.stop_at {
            flowcore::Verdict::Stop("trails the others".into())
        } else {
            flowcore::Verdict::Continue
        }
    }
}

/// A monitor sees every dev evaluation with the score the history records; its stop ends the
/// run with `Halted` and a checkpoint, from which the next run without a monitor resumes.
#[test]
fn a_monitor_sees_each_evaluation_and_its_stop_leaves_a_checkpoint_to_resume() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let params = TrainParams {
        epochs: 5,
        eval_every: EvalEvery::Steps(2),
        ..small_params()
    };
    let mut run_paths = paths(root.path(), &model, "run");
    run_paths.work_dir = Some(root.path().join("work"));
    let monitor = std::sync::Arc::new(StopAt {
        stop_at: 4,
        seen: Default::default(),
    });
    let opts = RunOptions {
        watch: Some(flowcore::Watch {
            stage: "train".into(),
            monitor: monitor.clone(),
        }),
        ..no_opts()
    };
    let err = train(&data, &params, &run_paths, &opts).unwrap_err();
    let TrainError::Halted { step, reason, kept } = &err else {
        panic!("expected a halted run, got {err}");
    };
    assert_eq!((*step, reason.as_str()), (4, "trails the others"));
    assert!(kept.is_some(), "{err}");
    assert!(err.to_string().contains("resumes from it"), "{err}");
    let seen = monitor.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        [2, 4],
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|s| s.1 == 60 && s.2.is_finite()),
        "{seen:?}"
    );
    let summary = train(&data, &params, &run_paths, &no_opts()).unwrap();
    assert_eq!(summary.resumed_from_step, Some(4));
    assert_eq!(summary.steps, 60);
    // What diagnosis needs: the fit to a training sample at every evaluation, and whether dev
    // was still rising at the end.
    let score = summary.last_train_score.expect("a training-sample score");
    assert!((0.0..=1.0).contains(&score), "{score}");
    assert!(summary.dev_rising_at_end.is_some());
    let history = std::fs::read_to_string(root.path().join("run/history.jsonl")).unwrap();
    let evals: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l.get("dev_score").is_some())
        .collect();
    assert_eq!(evals.len(), 30, "{history}");
    assert!(
        evals
            .iter()
            .all(|l| l["train_score"].is_number() && l["train_examples"].as_u64() > Some(0)),
        "{history}"
    );
}

/// The sequence task trains with balanced class weights; a wrong number of weights is an
/// error naming the labels.
#[test]
fn sequence_task_with_class_weights() {
    let root = tempfile::tempdir().unwrap();
    let labels = LabelMap::new(TaskKind::Sequence, vec!["neg".into(), "pos".into()]);
    let model = tiny_model(root.path(), &labels, 5);
    let data = TrainData {
        train: sequence_windows(40, 1),
        dev: sequence_windows(12, 2),
        labels,
        max_length: None,
    };
    let params = TrainParams {
        epochs: 1,
        class_weights: Some(ClassWeights::Balanced),
        metric: "accuracy".into(),
        ..small_params()
    };
    let summary = train(
        &data,
        &params,
        &paths(root.path(), &model, "run"),
        &no_opts(),
    )
    .unwrap();
    assert_eq!(summary.steps, 10);
    assert_eq!(summary.best.unwrap().metric, "accuracy");
    let bad = TrainParams {
        class_weights: Some(ClassWeights::Explicit(vec![1.0, 2.0, 3.0])),
        ..params
    };
    let err = train(&data, &bad, &paths(root.path(), &model, "bad"), &no_opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 weights for 2 labels"), "{err}");
}

/// The multi-label task learns with BCE-with-logits (dev macro F1 at p > 0.5 is `primary`,
/// the default selection metric, HF's mean over example x label cells is the logged loss), its checkpoint is
/// an HF multi-label classifier, and balanced class weights become `pos_weight`.
#[test]
fn multilabel_task_learns_with_bce_and_pos_weight() {
    let root = tempfile::tempdir().unwrap();
    let labels = LabelMap::new(TaskKind::Multilabel, vec!["low".into(), "high".into()]);
    let model = tiny_model(root.path(), &labels, 5);
    let data = TrainData {
        train: multilabel_windows(96, 1),
        dev: multilabel_windows(32, 2),
        labels,
        max_length: None,
    };
    let params = TrainParams {
        epochs: 8,
        learning_rate: 3e-3,
        ..small_params()
    };
    let summary = train(
        &data,
        &params,
        &paths(root.path(), &model, "run"),
        &no_opts(),
    )
    .unwrap();
    let best = summary.best.clone().unwrap();
    assert_eq!(best.metric, "primary");
    let dev = summary.last_dev.clone().unwrap();
    assert!(
        dev.get("micro").is_some() && dev["task"] == "multilabel",
        "{dev}"
    );
    assert!(
        best.value > 0.8,
        "dev macro F1 after training: {}",
        best.value
    );
    let history = fs_err::read_to_string(root.path().join("run/history.jsonl")).unwrap();
    let losses: Vec<f64> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|l| l["loss"].as_f64())
        .collect();
    // A mean BCE starts near ln 2 for a fresh head (a sum would be ~8x larger here).
    assert!(
        (losses[0] - std::f64::consts::LN_2).abs() < 0.25,
        "{}",
        losses[0]
    );
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (first, last) = (mean(&losses[..24]), mean(&losses[losses.len() - 24..]));
    assert!(
        last < 0.75 * first,
        "mean loss of 24 steps {first} -> {last}"
    );
    let config: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(root.path().join("run/checkpoints/best/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["problem_type"], "multi_label_classification");
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    let weighted = TrainParams {
        epochs: 1,
        class_weights: Some(ClassWeights::Balanced),
        ..params.clone()
    };
    let s = train(
        &data,
        &weighted,
        &paths(root.path(), &model, "weighted"),
        &no_opts(),
    )
    .unwrap();
    assert!(s.final_loss.unwrap().is_finite());
    let bad = TrainParams {
        class_weights: Some(ClassWeights::Explicit(vec![1.0])),
        ..weighted
    };
    let err = train(&data, &bad, &paths(root.path(), &model, "bad"), &no_opts())
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 weights for 2 labels"), "{err}");
}

/// The stage end to end through the artifact store: a tokenize artifact in, checkpoints,
/// history and manifest metrics out; a second run with the same inputs is skipped.
#[test]
fn stage_runs_through_the_store() {
    use flowcore::stage::{execute, plan};
    use flowcore::{Globals, Store};

    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let store = Store::new(&root.path().join("artifacts"), "t");
    let globals = Globals {
        pipeline: "t".into(),
        task: Some(TaskKind::Token),
        model: Some(model.clone()),
    };
    let tok_plan = plan(
        &FakeTokenize,
        "tokenize",
        &serde_json::json!({}),
        &globals,
        vec![],
    )
    .unwrap();
    let tok = execute(
        &store,
        &FakeTokenize,
        &tok_plan,
        &globals,
        &BTreeMap::new(),
        false,
    )
    .unwrap()
    .artifact;

    let raw = serde_json::json!({"max_steps": 4, "batch_size": 4, "threads": 1, "device": "cpu", "eval_every": 2});
    let inputs = vec![flowcore::store::InputRef {
        stage: "tokenize".into(),
        fingerprint: tok.manifest.fingerprint.clone(),
    }];
    let p = plan(&train::TrainStage, "train", &raw, &globals, inputs.clone()).unwrap();
    assert_eq!(p.resolved.params["learning_rate"], 5e-5);
    assert_eq!(
        p.resolved.raw_inputs.len(),
        2,
        "config.json and model.safetensors are hashed"
    );
    let by_name = BTreeMap::from([("tokenize".to_string(), tok)]);
    let run = execute(&store, &train::TrainStage, &p, &globals, &by_name, false).unwrap();
    assert!(run.ran);
    let m = &run.artifact.manifest;
    assert_eq!(m.metrics["steps"], 4);
    assert!(m.metrics["best"]["value"].as_f64().is_some());
    assert!(m.metrics["tokens_per_second"].as_f64().unwrap() > 0.0);
    assert!(m.metrics["peak_rss_mib"].as_f64().unwrap() > 0.0);
    for file in [
        "history.jsonl",
        "checkpoints/best/model.safetensors",
        "checkpoints/last/config.json",
    ] {
        assert!(run.artifact.has(file), "{file} not in the manifest");
    }
    let config: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(run.artifact.dir.join("checkpoints/best/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["architectures"][0], "BertForTokenClassification");
    assert_eq!(config["id2label"]["1"], "B-X");
    let again = execute(&store, &train::TrainStage, &p, &globals, &by_name, false).unwrap();
    assert!(!again.ran);

    let err = plan(
        &train::TrainStage,
        "train",
        &serde_json::json!({"epochz": 1}),
        &globals,
        inputs,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("epochz"), "{err}");
}

/// A tokenize artifact made of the synthetic windows.
struct FakeTokenize;

impl flowcore::Stage for FakeTokenize {
    fn kind(&self) -> &'static str {
        "tokenize"
    }
    fn version(&self) -> u32 {
        1
    }
    fn inputs(&self) -> &'static [flowcore::InputSpec] {
        &[]
    }
    fn resolve(
        &self,
        raw: &serde_json::Value,
        _: &flowcore::Globals,
    ) -> flowcore::Result<flowcore::Resolved> {
        Ok(flowcore::Resolved {
            params: raw.clone(),
            raw_inputs: vec![],
        })
    }
    fn run(&self, ctx: &flowcore::StageContext<'_>) -> anyhow::Result<flowcore::StageOutcome> {
        let data = token_data();
        tokenize::write_windows(
            &ctx.out_dir.join("train.parquet"),
            &data.train,
            TaskKind::Token,
        )?;
        tokenize::write_windows(&ctx.out_dir.join("dev.parquet"), &data.dev, TaskKind::Token)?;
        data.labels.write(&ctx.out_dir.join("labels.json"))?;
        Ok(flowcore::StageOutcome::default())
    }
}

/// Scalars by tag, in step order: `{tag: [(step, value)]}`. Values are compared as the
/// float32 TensorBoard stores (JSON written by Python holds their shortest float64 form, which
/// serde_json may parse 1 ulp off in float64).
type ByTag = BTreeMap<String, Vec<(u64, f32)>>;

fn by_tag(scalars: &[train::tensorboard::Scalar]) -> ByTag {
    let mut out = ByTag::new();
    for s in scalars {
        out.entry(s.tag.clone())
            .or_default()
            .push((s.step, s.value));
    }
    out
}

fn tensorboard_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard")
}

/// The event file of a real history (German Credit) is byte for byte what TensorBoard's own
/// protobufs and record writer make of it, and what TensorBoard's own reader reads from it
/// (`scalars.json`, scripts/fixtures/train/make_tensorboard.py) is what ours reads.
#[test]
fn tensorboard_events_are_tensorboards_own() {
    let fixture = tensorboard_fixture();
    let history = fs_err::read_to_string(fixture.join("history.jsonl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.out.tfevents.test");
    let wall = 1_700_000_000.0;
    let mut writer = train::tensorboard::EventWriter::create_at(path.clone(), wall).unwrap();
    for (i, line) in history.lines().enumerate() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        writer.line(&line, wall + (i + 1) as f64).unwrap();
    }
    drop(writer);
    let ours = fs_err::read(&path).unwrap();
    let theirs = fs_err::read(fixture.join("events.out.tfevents.fixture")).unwrap();
    assert_eq!(ours.len(), theirs.len());
    assert!(ours == theirs, "the event file differs from TensorBoard's");

    let read_by_tensorboard: ByTag =
        serde_json::from_str(&fs_err::read_to_string(fixture.join("scalars.json")).unwrap())
            .unwrap();
    let read_by_us = by_tag(&train::tensorboard::read_scalars(&path).unwrap());
    assert_eq!(read_by_us, read_by_tensorboard);
    assert!(read_by_us.contains_key("eval/macro/f1") && read_by_us.contains_key("train/loss"));
    assert!(
        !read_by_us.contains_key("eval/macro/support"),
        "counts are not scalars"
    );
}

/// `report_to = ["tensorboard"]`: the run writes its event file where it works and moves it
/// into the artifact; its scalars are the history's, line by line. When the peer venv has
/// TensorBoard, its own reader reads the same.
#[test]
fn tensorboard_events_equal_the_history() {
    let root = tempfile::tempdir().unwrap();
    let data = token_data();
    let model = tiny_model(root.path(), &data.labels, 3);
    let params = TrainParams {
        max_steps: Some(8),
        eval_every: EvalEvery::Steps(4),
        log_every: 2,
        report_to: vec![train::ReportTo::Tensorboard],
        ..small_params()
    };
    let work = root.path().join("work");
    let run_paths = train::RunPaths {
        work_dir: Some(work.clone()),
        ..paths(root.path(), &model, "run")
    };
    train(&data, &params, &run_paths, &no_opts()).unwrap();
    let out = root.path().join("run");
    assert!(
        !work.join("tensorboard").exists(),
        "moved into the artifact"
    );
    let events = train::tensorboard::read_dir_scalars(&out.join("tensorboard")).unwrap();
    let history: Vec<serde_json::Value> = fs_err::read_to_string(out.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<(u64, String, f32)> = history
        .iter()
        .flat_map(|line| {
            let step = line["step"].as_u64().unwrap();
            train::tensorboard::scalars(line)
                .into_iter()
                .map(move |(tag, v)| (step, tag, v as f32))
        })
        .collect();
    let got: Vec<(u64, String, f32)> = events
        .iter()
        .map(|s| (s.step, s.tag.clone(), s.value))
        .collect();
    assert_eq!(got, expected);
    let tags = by_tag(&events);
    assert_eq!(tags["train/loss"].len(), 4, "a loss every 2 of 8 steps");
    assert_eq!(tags["eval/score"].len(), 2, "an evaluation every 4 steps");
    assert!(tags.contains_key("eval/entity/micro/f1"));

    let python = std::env::var_os("BERTFLOW_VENV")
        .map(|v| std::path::PathBuf::from(v).join("bin/python"))
        .filter(|p| p.is_file());
    let has_tensorboard = python.as_ref().is_some_and(|p| {
        std::process::Command::new(p)
            .args(["-c", "import tensorboard"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if let (Some(python), true) = (python, has_tensorboard) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts/fixtures/train/make_tensorboard.py");
        let output = std::process::Command::new(python)
            .arg(script)
            .arg("--read")
            .arg(out.join("tensorboard"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs: ByTag = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(theirs, tags, "TensorBoard's reader disagrees");
    } else {
        eprintln!("TensorBoard's own reader skipped: no tensorboard in the peer venv");
    }
}
