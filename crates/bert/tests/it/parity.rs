//! Numerical parity with `transformers` (fixtures from `make_fixtures.py`).

use bert::{TaskKind, load, load_encoder};
use tch::{Device, Kind, Reduction, Tensor};

use crate::util::{fixtures, inputs, max_abs_diff, minilm, read_tensors, rel_diff};

fn check_logits(task: TaskKind, dir: &str, key: &str) {
    let expected = read_tensors(&fixtures().join("tiny_expected.safetensors"));
    let (model, _vs, report) = load(&fixtures().join(dir), task, &[], Device::Cpu).unwrap();
    assert!(report.new_head.is_empty(), "{report:?}");
    assert!(report.unexpected.is_empty(), "{report:?}");
    let out = tch::no_grad(|| model.forward_t(&inputs(&expected), false)).unwrap();
    let diff = max_abs_diff(&out.logits, &expected[key]);
    eprintln!("{key}: max abs difference {diff:e}");
    assert!(diff <= 1e-5, "{key}: max abs difference {diff:e} > 1e-5");
}

#[test]
fn tiny_token_logits_match_transformers() {
    check_logits(TaskKind::Token, "tiny-token", "token_logits");
}

#[test]
fn tiny_sequence_logits_match_transformers() {
    check_logits(TaskKind::Sequence, "tiny-sequence", "sequence_logits");
}

/// One backward pass with dropout off; `grads` are fixture names without the task prefix.
fn check_gradients(task: TaskKind, dir: &str, prefix: &str) {
    let expected = read_tensors(&fixtures().join("tiny_expected.safetensors"));
    let (model, vs, _) = load(&fixtures().join(dir), task, &[], Device::Cpu).unwrap();
    let out = model.forward_t(&inputs(&expected), false).unwrap();
    let labels = &expected[&format!("{prefix}_labels")];
    let num_labels = model.config().num_labels();
    let loss = out
        .logits
        .reshape([-1, num_labels])
        .cross_entropy_loss::<Tensor>(&labels.reshape([-1]), None, Reduction::Mean, -100, 0.0);
    let loss_diff = max_abs_diff(&loss.reshape([1]), &expected[&format!("{prefix}_loss")]);
    eprintln!("{prefix} loss: abs difference {loss_diff:e}");
    assert!(loss_diff <= 1e-5, "{prefix} loss differs by {loss_diff:e}");
    loss.backward();
    let vars = vs.variables();
    let grad_prefix = format!("{prefix}_grad.");
    let mut checked = 0;
    for (key, reference) in &expected {
        let Some(name) = key.strip_prefix(&grad_prefix) else {
            continue;
        };
        let grad = vars[name].grad();
        let rel = rel_diff(&grad, reference);
        eprintln!("{prefix} gradient of {name}: relative difference {rel:e}");
        assert!(
            rel <= 1e-4,
            "{prefix} gradient of {name}: relative difference {rel:e} > 1e-4"
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} gradients in the fixture");
}

#[test]
fn token_gradients_match_pytorch() {
    check_gradients(TaskKind::Token, "tiny-token", "token");
}

#[test]
fn sequence_gradients_match_pytorch() {
    check_gradients(TaskKind::Sequence, "tiny-sequence", "sequence");
}

#[test]
fn minilm_hidden_states_match_transformers() {
    let expected = read_tensors(&fixtures().join("minilm_expected.safetensors"));
    let (model, config, _vs, report) = load_encoder(&minilm(), Device::Cpu).unwrap();
    assert_eq!(config.num_hidden_layers, 6);
    // The checkpoint is a bare BertModel: only the old position_ids buffer is left over.
    assert_eq!(report.unexpected, ["embeddings.position_ids"]);
    let out = tch::no_grad(|| model.forward_t(&inputs(&expected), false)).unwrap();
    let mask = expected["attention_mask"]
        .unsqueeze(-1)
        .to_kind(Kind::Float);
    // Compare real tokens; padded positions are computed too but carry no meaning.
    let diff = max_abs_diff(
        &(&out.last_hidden_state * &mask),
        &(&expected["last_hidden_state"] * &mask),
    );
    let all = max_abs_diff(&out.last_hidden_state, &expected["last_hidden_state"]);
    eprintln!(
        "MiniLM last_hidden_state: max abs difference {diff:e} on tokens, {all:e} with padding"
    );
    assert!(
        diff <= 1e-4,
        "last_hidden_state: max abs difference {diff:e} > 1e-4"
    );
    let pooled = out.pooler_output.expect("BertModel has a pooler");
    let diff = max_abs_diff(&pooled, &expected["pooler_output"]);
    eprintln!("MiniLM pooler_output: max abs difference {diff:e}");
    assert!(
        diff <= 1e-4,
        "pooler_output: max abs difference {diff:e} > 1e-4"
    );
}

#[test]
fn minilm_loads_as_classifier_with_fresh_head() {
    let labels: Vec<String> = ["O", "B-PER", "I-PER"].map(String::from).to_vec();
    let (model, _vs, report) = load(&minilm(), TaskKind::Token, &labels, Device::Cpu).unwrap();
    assert_eq!(report.new_head, ["classifier.bias", "classifier.weight"]);
    // HF's token head has no pooler, so the checkpoint's pooler is left over.
    assert_eq!(
        report.unexpected,
        [
            "embeddings.position_ids",
            "pooler.dense.bias",
            "pooler.dense.weight"
        ]
    );
    assert_eq!(model.config().labels().unwrap(), labels);
    let (_, _, report) = load(&minilm(), TaskKind::Sequence, &labels, Device::Cpu).unwrap();
    assert_eq!(report.new_head, ["classifier.bias", "classifier.weight"]);
    assert_eq!(report.unexpected, ["embeddings.position_ids"]);
}
