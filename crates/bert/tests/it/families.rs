//! The families beyond BERT (RoBERTa, XLM-RoBERTa, DistilBERT, ELECTRA, DeBERTa-v2,
//! ModernBERT) against `transformers`: fixtures
//! made with its own classes by `scripts/fixtures/bert/make_family_fixtures.py` (tiny random
//! models, tokenizers trained there, a batch padded with the family's pad id).

use std::collections::BTreeMap;
use std::path::PathBuf;

use bert::{Autocast, TaskKind, load, save};
use tch::{Device, Kind, Reduction, Tensor};

use crate::util::{fixtures, inputs, max_abs_diff, read_tensors, rel_diff};

const FAMILIES: [&str; 6] = [
    "roberta",
    "xlm-roberta",
    "distilbert",
    "electra",
    "deberta-v2",
    "modernbert",
];
const HEADS: [(&str, TaskKind); 3] = [
    ("token", TaskKind::Token),
    ("sequence", TaskKind::Sequence),
    ("multilabel", TaskKind::Multilabel),
];

fn family_dir(family: &str) -> PathBuf {
    fixtures().join("families").join(family)
}

/// The loss transformers computes for the head's task.
fn loss(task: TaskKind, logits: &Tensor, labels: &Tensor) -> Tensor {
    match task {
        TaskKind::Multilabel => {
            logits.binary_cross_entropy_with_logits::<Tensor>(labels, None, None, Reduction::Mean)
        }
        _ => {
            let n = *logits.size().last().unwrap();
            logits.reshape([-1, n]).cross_entropy_loss::<Tensor>(
                &labels.reshape([-1]),
                None,
                Reduction::Mean,
                -100,
                0.0,
            )
        }
    }
}

#[test]
fn logits_hidden_states_losses_and_gradients_match_transformers() {
    for family in FAMILIES {
        let expected = read_tensors(&family_dir(family).join("expected.safetensors"));
        let batch = inputs(&expected);
        let mask = expected["attention_mask"]
            .unsqueeze(-1)
            .to_kind(Kind::Float);
        for (head, task) in HEADS {
            let what = format!("{family} {head}");
            let (model, vs, report) =
                load(&family_dir(family).join(head), task, &[], Device::Cpu).unwrap();
            assert!(
                report.new_head.is_empty() && report.unexpected.is_empty(),
                "{what}: {report:?}"
            );
            assert_eq!(model.task(), task, "{what}");
            let out = model.forward_t(&batch, false).unwrap();
            let diff = max_abs_diff(&out.logits, &expected[&format!("{head}_logits")]);
            eprintln!("{what}: logits max abs difference {diff:e}");
            assert!(diff <= 1e-5, "{what}: logits differ by {diff:e}");
            // Real tokens; padded positions carry no meaning.
            let hidden = max_abs_diff(
                &(&out.last_hidden_state * &mask),
                &(&expected[&format!("{head}_hidden")] * &mask),
            );
            eprintln!("{what}: last hidden state max abs difference {hidden:e}");
            assert!(hidden <= 1e-5, "{what}: hidden states differ by {hidden:e}");

            let labels = &expected[&format!("{head}_labels")];
            let l = loss(task, &out.logits, labels);
            let ld = max_abs_diff(&l.reshape([1]), &expected[&format!("{head}_loss")]);
            assert!(ld <= 1e-5, "{what}: loss differs by {ld:e}");
            l.backward();
            // The fixture names weights as transformers does (DistilBERT's own layer names).
            let family_of = model.config().family();
            let vars: std::collections::HashMap<String, Tensor> = vs
                .variables()
                .into_iter()
                .map(|(n, t)| (bert::checkpoint::hf_name(family_of, &n), t))
                .collect();
            let prefix = format!("{head}_grad.");
            let mut checked = 0;
            for (key, reference) in &expected {
                let Some(name) = key.strip_prefix(&prefix) else {
                    continue;
                };
                let grad = vars
                    .get(name)
                    .unwrap_or_else(|| panic!("{what}: no variable `{name}`"))
                    .grad();
                let rel = rel_diff(&grad, reference);
                eprintln!("{what}: gradient of {name}: relative difference {rel:e}");
                assert!(rel <= 1e-4, "{what}: gradient of {name} differs by {rel:e}");
                checked += 1;
            }
            assert!(
                checked >= 5,
                "{what}: only {checked} gradients in the fixture"
            );
        }
    }
}

/// A saved model reloads with the same logits, under exactly transformers' weight names and
/// class name. With `BERT_KEEP_SAVED=<dir>` the directories and our logits are kept under
/// `<dir>/<family>/` for `scripts/fixtures/bert/check_saved.py`, which loads them in
/// transformers.
#[test]
fn saved_directories_use_transformers_names_and_reload_identically() {
    let keep = std::env::var_os("BERT_KEEP_SAVED");
    let tmp = tempfile::tempdir().unwrap();
    let root = keep.as_ref().map_or(tmp.path(), std::path::Path::new);
    for family in FAMILIES {
        let expected = read_tensors(&family_dir(family).join("expected.safetensors"));
        let batch = inputs(&expected);
        let keys: BTreeMap<String, Vec<String>> = serde_json::from_str(
            &std::fs::read_to_string(family_dir(family).join("hf_keys.json")).unwrap(),
        )
        .unwrap();
        for (head, task) in HEADS {
            let src = family_dir(family).join(head);
            let (model, vs, _) = load(&src, task, &[], Device::Cpu).unwrap();
            let dir = root.join(family).join(head);
            save(&model, &vs, &dir, Some(&src)).unwrap();
            let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
            let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
            let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
            names.sort();
            assert_eq!(names, keys[head], "{family} {head}: saved names");
            let config: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                    .unwrap();
            let original: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap())
                    .unwrap();
            assert_eq!(config["architectures"], original["architectures"]);
            assert_eq!(config["model_type"], original["model_type"]);
            assert!(dir.join("tokenizer.json").is_file());
            let (again, _, report) = load(&dir, task, &[], Device::Cpu).unwrap();
            assert!(report.unexpected.is_empty(), "{report:?}");
            let a = tch::no_grad(|| model.forward_t(&batch, false))
                .unwrap()
                .logits;
            let b = tch::no_grad(|| again.forward_t(&batch, false))
                .unwrap()
                .logits;
            assert_eq!(max_abs_diff(&a, &b), 0.0, "{family} {head}: reload");
            if keep.is_some() {
                let out = [
                    ("logits", a),
                    ("input_ids", batch.input_ids.shallow_clone()),
                    ("attention_mask", batch.attention_mask.shallow_clone()),
                    ("token_type_ids", batch.token_type_ids.shallow_clone()),
                ];
                Tensor::write_safetensors(&out, dir.join("rust_logits.safetensors")).unwrap();
            }
        }
    }
}

/// RoBERTa reserves positions 0..=pad: an input longer than the rest is refused by name.
#[test]
fn roberta_inputs_longer_than_the_usable_positions_are_refused() {
    let (model, _, _) = load(
        &family_dir("roberta").join("sequence"),
        TaskKind::Sequence,
        &[],
        Device::Cpu,
    )
    .unwrap();
    // max_position_embeddings 66, pad 1: 64 positions.
    let ok = Tensor::full([1, 64], 5, (Kind::Int64, Device::Cpu));
    let batch = bert::Inputs::new(ok.shallow_clone(), ok.ones_like());
    assert!(model.forward_t(&batch, false).is_ok());
    let long = Tensor::full([1, 65], 5, (Kind::Int64, Device::Cpu));
    let err = model
        .forward_t(
            &bert::Inputs::new(long.shallow_clone(), long.ones_like()),
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("65 exceeds the 64 positions"), "{err}");
}

/// Each family's heads under CPU bf16 autocast against transformers under
/// `torch.autocast("cpu", dtype=torch.bfloat16)` on the same weights and batch (SDPA attention;
/// ELECTRA's eager attention, the only one transformers has for it): the same ops are cast, so
/// ours is at most one bf16 step from transformers' bf16 logits (mostly identical), and much
/// closer to them than to the fp32 ones.
#[test]
fn bf16_autocast_logits_match_transformers() {
    let mut failed = Vec::new();
    for family in FAMILIES {
        let expected = read_tensors(&family_dir(family).join("expected.safetensors"));
        let hf = read_tensors(&family_dir(family).join("autocast_bf16.safetensors"));
        let batch = inputs(&expected);
        for (head, task) in HEADS {
            let what = format!("{family} {head}");
            let key = format!("{head}_logits");
            let (model, _vs, _) =
                load(&family_dir(family).join(head), task, &[], Device::Cpu).unwrap();
            let logits = {
                let _ac = Autocast::enter(Device::Cpu, Kind::BFloat16);
                tch::no_grad(|| model.forward_t(&batch, false))
                    .unwrap()
                    .logits
            };
            assert_eq!(logits.kind(), Kind::BFloat16, "{what}");
            let logits = logits.to_kind(Kind::Float);
            let vs_hf = max_abs_diff(&logits, &hf[&key].to_kind(Kind::Float));
            let vs_fp32 = max_abs_diff(&logits, &expected[&key]);
            let scale = f64::try_from(expected[&key].abs().max()).unwrap();
            eprintln!(
                "{what}: bf16 vs transformers bf16 {vs_hf:e}, vs fp32 {vs_fp32:e}, max |logit| {scale:e}"
            );
            assert!(vs_fp32 > 0.0, "{what}: autocast changed nothing");
            // One bf16 step at the largest logit: where one kernel rounds differently (ELECTRA's
            // eager attention against our SDPA, a reduction order), a logit moves by a step.
            let ulp = 2f64.powf(scale.log2().floor() - 7.0);
            if vs_hf > (vs_fp32 / 4.0).max(ulp) {
                failed.push(format!(
                    "{what}: {vs_hf:e} vs {vs_fp32:e}, one bf16 step {ulp:e}"
                ));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
}
