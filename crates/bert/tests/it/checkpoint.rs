//! Loading variants, error reports and save round trips.

use std::collections::BTreeMap;
use std::path::Path;

use bert::{
    BertClassifier, BertConfig, BertError, Inputs, TaskKind, load, save, write_tiny_random,
};
use safetensors::SafeTensors;
use tch::{Device, Tensor, nn};

use crate::util::{fixtures, inputs, max_abs_diff, read_tensors};

fn tiny_inputs() -> Inputs {
    inputs(&read_tensors(&fixtures().join("tiny_expected.safetensors")))
}

/// Tensor names and raw bytes of a safetensors file.
fn raw_tensors(path: &Path) -> BTreeMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                (v.dtype(), v.shape().to_vec(), v.data().to_vec()),
            )
        })
        .collect()
}

fn write_raw(path: &Path, tensors: &BTreeMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)>) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, (d, s, b))| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::tensor::serialize_to_file(views, None, path).unwrap();
}

fn hf_keys(task: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("hf_keys.json")).unwrap();
    let keys: BTreeMap<String, Vec<String>> = serde_json::from_str(&text).unwrap();
    keys[task].clone()
}

/// A model saved by us reloads with identical logits, under exactly HF's weight names.
/// With `BERT_KEEP_SAVED=<dir>` the saved directories and our logits are kept there for
/// `scripts/fixtures/bert/check_saved.py`, which loads them with `transformers`.
#[test]
fn saved_directory_reloads_identically_with_hf_names() {
    let keep = std::env::var_os("BERT_KEEP_SAVED");
    let tmp = tempfile::tempdir().unwrap();
    let root = keep.as_ref().map_or(tmp.path(), Path::new);
    let vocab_dir = tmp.path().join("vocab");
    std::fs::create_dir_all(&vocab_dir).unwrap();
    std::fs::write(
        vocab_dir.join("vocab.txt"),
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n",
    )
    .unwrap();
    let batch = tiny_inputs();
    for (task, name, labels) in [
        (TaskKind::Token, "token", vec!["O", "B-X", "I-X"]),
        (TaskKind::Sequence, "sequence", vec!["bad", "good"]),
    ] {
        let labels: Vec<String> = labels.into_iter().map(String::from).collect();
        let mut config = BertConfig::tiny(100, 32, 2);
        config.set_labels(&labels);
        config.max_position_embeddings = 64;
        let (model, vs) = {
            let _rng = bert::torch_rng_lock();
            tch::manual_seed(11);
            let vs = nn::VarStore::new(Device::Cpu);
            (BertClassifier::new(&vs.root(), &config, task), vs)
        };
        let logits = tch::no_grad(|| model.forward_t(&batch, false))
            .unwrap()
            .logits;
        let dir = root.join(name);
        save(&model, &vs, &dir, Some(&vocab_dir)).unwrap();
        assert!(
            dir.join("vocab.txt").is_file(),
            "tokenizer files are copied"
        );

        let keys: Vec<String> = raw_tensors(&dir.join("model.safetensors"))
            .into_keys()
            .collect();
        assert_eq!(
            keys,
            hf_keys(name),
            "{name}: saved names differ from transformers'"
        );
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(saved["architectures"][0], bert::architecture(task));
        assert_eq!(saved["id2label"]["1"], labels[1]);
        assert_eq!(saved["label2id"][&labels[1]], 1);

        let (again, _vs, report) = load(&dir, task, &[], Device::Cpu).unwrap();
        assert!(
            report.new_head.is_empty() && report.unexpected.is_empty(),
            "{report:?}"
        );
        let again = tch::no_grad(|| again.forward_t(&batch, false))
            .unwrap()
            .logits;
        assert_eq!(
            max_abs_diff(&again, &logits),
            0.0,
            "{name}: logits changed on reload"
        );
        if keep.is_some() {
            let out = [
                ("logits", logits),
                ("input_ids", batch.input_ids.shallow_clone()),
                ("attention_mask", batch.attention_mask.shallow_clone()),
                ("token_type_ids", batch.token_type_ids.shallow_clone()),
            ];
            Tensor::write_safetensors(&out, dir.join("rust_logits.safetensors")).unwrap();
        }
    }
}

#[test]
fn sharded_checkpoint_without_prefix_loads() {
    let src = raw_tensors(&fixtures().join("tiny-token/model.safetensors"));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("tiny-token/config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let mut shards = [BTreeMap::new(), BTreeMap::new()];
    let mut weight_map = BTreeMap::new();
    for (i, (name, t)) in src.into_iter().enumerate() {
        let bare = name.strip_prefix("bert.").unwrap_or(&name).to_string();
        let file = format!("model-0000{}-of-00002.safetensors", i % 2 + 1);
        weight_map.insert(bare.clone(), file);
        shards[i % 2].insert(bare, t);
    }
    for (i, shard) in shards.iter().enumerate() {
        write_raw(
            &tmp.path()
                .join(format!("model-0000{}-of-00002.safetensors", i + 1)),
            shard,
        );
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": weight_map});
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let (model, _vs, report) = load(tmp.path(), TaskKind::Token, &[], Device::Cpu).unwrap();
    assert_eq!(report.files.len(), 2);
    assert!(
        report.new_head.is_empty() && report.unexpected.is_empty(),
        "{report:?}"
    );
    let expected = read_tensors(&fixtures().join("tiny_expected.safetensors"));
    let logits = tch::no_grad(|| model.forward_t(&inputs(&expected), false))
        .unwrap()
        .logits;
    assert!(max_abs_diff(&logits, &expected["token_logits"]) <= 1e-5);
}

#[test]
fn missing_encoder_weights_are_an_error_naming_them() {
    let mut src = raw_tensors(&fixtures().join("tiny-token/model.safetensors"));
    src.remove("bert.encoder.layer.1.attention.self.key.weight");
    src.remove("classifier.weight");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("tiny-token/config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    write_raw(&tmp.path().join("model.safetensors"), &src);
    let err = load(tmp.path(), TaskKind::Token, &[], Device::Cpu).unwrap_err();
    let BertError::MissingWeights { names, .. } = &err else {
        panic!("{err}")
    };
    // Only the encoder weight is an error; the head may be missing.
    assert_eq!(names, &["bert.encoder.layer.1.attention.self.key.weight"]);
    assert!(
        err.to_string()
            .contains("layer.1.attention.self.key.weight"),
        "{err}"
    );
}

#[test]
fn head_of_another_size_is_reinitialised_and_reported() {
    let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
    let (model, _vs, report) = load(
        &fixtures().join("tiny-token"),
        TaskKind::Token,
        &labels,
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(report.new_head, ["classifier.bias", "classifier.weight"]);
    assert_eq!(report.mismatched_head.len(), 2);
    assert_eq!(model.config().num_labels(), 2);
    let logits = tch::no_grad(|| model.forward_t(&tiny_inputs(), false))
        .unwrap()
        .logits;
    assert_eq!(logits.size(), [3, 9, 2]);
}

#[test]
fn pytorch_bin_only_says_how_to_convert() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("tiny-token/config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("pytorch_model.bin"), b"pickle").unwrap();
    let err = load(tmp.path(), TaskKind::Token, &[], Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pytorch_model.bin") && err.contains("safe_serialization=True"),
        "{err}"
    );
}

#[test]
fn base_model_without_labels_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = BertConfig::tiny(100, 32, 2);
    config.architectures = Some(vec!["BertModel".into()]);
    config.to_file(&tmp.path().join("config.json")).unwrap();
    let err = load(tmp.path(), TaskKind::Token, &[], Device::Cpu).unwrap_err();
    assert!(matches!(err, BertError::MissingLabels { .. }), "{err}");
}

#[test]
fn tiny_random_directory_loads_with_its_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let vocab_dir = tmp.path().join("vocab");
    std::fs::create_dir_all(&vocab_dir).unwrap();
    let vocab: String = (0..50).map(|i| format!("tok{i}\n")).collect();
    std::fs::write(vocab_dir.join("vocab.txt"), vocab).unwrap();
    let labels: Vec<String> = ["neg", "pos"].map(String::from).to_vec();
    let dir = tmp.path().join("model");
    let config = write_tiny_random(&dir, &vocab_dir, TaskKind::Sequence, &labels, 5).unwrap();
    assert_eq!(config.vocab_size, 50);
    let (model, _vs, report) = load(&dir, TaskKind::Sequence, &[], Device::Cpu).unwrap();
    assert!(report.new_head.is_empty());
    assert_eq!(model.config().labels().unwrap(), labels);
    assert!(dir.join("vocab.txt").is_file());
}

#[test]
fn inconsistent_inputs_are_an_error() {
    let (model, _vs, _) = load(
        &fixtures().join("tiny-token"),
        TaskKind::Token,
        &[],
        Device::Cpu,
    )
    .unwrap();
    let ids = Tensor::from_slice2(&[[2i64, 3, 4]]);
    let bad = Inputs {
        attention_mask: Tensor::from_slice2(&[[1i64, 1]]),
        token_type_ids: ids.zeros_like(),
        input_ids: ids.shallow_clone(),
    };
    let err = model.forward_t(&bad, false).unwrap_err().to_string();
    assert!(err.contains("attention_mask"), "{err}");
    let too_big = Inputs::new(
        Tensor::from_slice2(&[[2i64, 100]]),
        Tensor::from_slice2(&[[1i64, 1]]),
    );
    let err = model.forward_t(&too_big, false).unwrap_err().to_string();
    assert!(err.contains("vocab_size"), "{err}");
}

#[test]
fn half_precision_checkpoint_loads_as_fp32() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("tiny-token/config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let half: Vec<(String, Tensor)> =
        read_tensors(&fixtures().join("tiny-token/model.safetensors"))
            .into_iter()
            .map(|(n, t)| (n, t.to_kind(tch::Kind::Half)))
            .collect();
    Tensor::write_safetensors(&half, tmp.path().join("model.safetensors")).unwrap();
    let (model, vs, _) = load(tmp.path(), TaskKind::Token, &[], Device::Cpu).unwrap();
    assert!(
        vs.variables()
            .values()
            .all(|v| v.kind() == tch::Kind::Float)
    );
    let expected = read_tensors(&fixtures().join("tiny_expected.safetensors"));
    let logits = tch::no_grad(|| model.forward_t(&inputs(&expected), false))
        .unwrap()
        .logits;
    let diff = max_abs_diff(&logits, &expected["token_logits"]);
    // fp16 weights round at ~1e-3 relative; the logits are O(0.1).
    assert!(
        diff > 0.0 && diff < 1e-2,
        "fp16 checkpoint: max abs difference {diff:e}"
    );
}

/// Loading a model draws initial weights from libtorch's global generator before the
/// checkpoint overwrites them. A load in another thread must wait while a seeded section
/// holds `torch_rng_lock` (it once shifted a concurrent `write_tiny_random`'s draws, a flaky
/// evaluate test), and a load inside such a section on the same thread must not deadlock.
#[test]
fn loading_waits_for_a_seeded_section_and_nests_inside_one() {
    let tmp = tempfile::tempdir().unwrap();
    let vocab_dir = tmp.path().join("vocab");
    std::fs::create_dir_all(&vocab_dir).unwrap();
    std::fs::write(vocab_dir.join("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n").unwrap();
    let labels: Vec<String> = vec!["bad".into(), "good".into()];
    let dir = tmp.path().join("model");
    write_tiny_random(&dir, &vocab_dir, TaskKind::Sequence, &labels, 3).unwrap();
    let expected = {
        let _rng = bert::torch_rng_lock();
        tch::manual_seed(5);
        Tensor::rand([64], (tch::Kind::Float, Device::Cpu))
    };
    let rng = bert::torch_rng_lock();
    tch::manual_seed(5);
    let loader = {
        let dir = dir.clone();
        std::thread::spawn(move || load(&dir, TaskKind::Sequence, &[], Device::Cpu).unwrap())
    };
    // Without the lock the loader's initial draws would land here, between seed and draw.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let drawn = Tensor::rand([64], (tch::Kind::Float, Device::Cpu));
    assert_eq!(max_abs_diff(&drawn, &expected), 0.0);
    // Re-entrant on this thread: a load inside the section neither deadlocks nor releases it.
    let nested = load(&dir, TaskKind::Sequence, &[], Device::Cpu);
    assert!(nested.is_ok());
    assert!(!loader.is_finished(), "the nested load released the lock");
    drop(rng);
    loader.join().unwrap();
}
