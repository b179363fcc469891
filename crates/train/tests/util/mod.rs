//! Tiny models and data for the integration tests.

use std::path::{Path, PathBuf};

use flowcore::{LabelMap, TaskKind};
use tokenize::{IGNORE, Window};
use train::{RunPaths, TrainData, TrainParams};

/// Vocabulary size of the tiny test tokenizer.
pub const VOCAB: u32 = 64;

/// A directory with a `vocab.txt` of [`VOCAB`] tokens (what `bert::write_tiny_random` sizes
/// the embeddings from).
pub fn vocab_dir(root: &Path) -> PathBuf {
    let dir = root.join("vocab");
    fs_err::create_dir_all(&dir).unwrap();
    let mut text = String::from("[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
    for i in 4..VOCAB {
        text.push_str(&format!("tok{i}\n"));
    }
    fs_err::write(dir.join("vocab.txt"), text).unwrap();
    dir
}

/// Token labels of the synthetic task.
pub fn token_labels() -> LabelMap {
    LabelMap::new(
        TaskKind::Token,
        vec!["O".into(), "B-X".into(), "I-X".into()],
    )
}

/// A tiny random model for `labels` under `root/model`.
pub fn tiny_model(root: &Path, labels: &LabelMap, seed: i64) -> PathBuf {
    let vocab = vocab_dir(root);
    let dir = root.join("model");
    // `write_tiny_random` seeds and draws under `bert::torch_rng_lock`, the lock the trainer
    // holds over its seeded sections, so parallel tests cannot shift each other's draws.
    bert::write_tiny_random(&dir, &vocab, labels.task, &labels.labels, seed).unwrap();
    dir
}

/// Loads the token-task model at `dir` on the CPU. Building a model draws its initial weights
/// from libtorch's process-global generator, so this holds the trainer's lock: unguarded, the
/// draws could land inside a step of a run training in a parallel test.
pub fn load_model(dir: &Path) -> (bert::BertClassifier, tch::nn::VarStore, bert::LoadReport) {
    let _rng = train::torch_rng_lock();
    bert::load(dir, TaskKind::Token, &[], tch::Device::Cpu).unwrap()
}

/// Deterministic pseudo-random numbers (the tests must not depend on a crate's RNG).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % u64::from(n)) as u32
    }
}

/// Synthetic NER windows: words are single sub-words; ids below 20 start an entity
/// (B-X) and the next word continues it (I-X) when its id is even. Lengths vary 3..=12.
pub fn token_windows(n: usize, seed: u64, prefix: &str) -> Vec<Window> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|k| {
            let words = 1 + rng.next(10) as usize;
            let mut ids = vec![2u32];
            let mut labels = vec![IGNORE];
            let mut word_ids = vec![-1];
            let mut inside = false;
            for w in 0..words {
                let id = 4 + rng.next(VOCAB - 4);
                let label = if id < 20 {
                    inside = true;
                    1
                } else if inside && id.is_multiple_of(2) {
                    2
                } else {
                    inside = false;
                    0
                };
                ids.push(id);
                labels.push(label);
                word_ids.push(w as i32);
            }
            ids.push(3);
            labels.push(IGNORE);
            word_ids.push(-1);
            Window {
                id: format!("{prefix}{k}"),
                window: 0,
                first_word: 0,
                centre_start: 0,
                centre_end: words as u32,
                type_ids: vec![0; ids.len()],
                length: ids.len() as u32,
                input_ids: ids,
                word_ids,
                labels,
                label: None,
                label_set: None,
            }
        })
        .collect()
}

/// Synthetic sequence windows: label 1 when the text holds an id below 12 (about a third).
pub fn sequence_windows(n: usize, seed: u64) -> Vec<Window> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|k| {
            let len = 2 + rng.next(8) as usize;
            let mut ids = vec![2u32];
            ids.extend((0..len).map(|_| 4 + rng.next(VOCAB - 4)));
            ids.push(3);
            let label = i16::from(ids[1..ids.len() - 1].iter().any(|&i| i < 12));
            Window {
                id: format!("s{k}"),
                type_ids: vec![0; ids.len()],
                word_ids: vec![-1; ids.len()],
                length: ids.len() as u32,
                input_ids: ids,
                label: Some(label),
                ..Default::default()
            }
        })
        .collect()
}

/// Sequence windows of `len` tokens each, labelled like [`sequence_windows`]: long enough that
/// a model of hidden 256 makes libtorch split its kernels between threads.
pub fn long_sequence_windows(n: usize, seed: u64, len: usize) -> Vec<Window> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|k| {
            let mut ids = vec![2u32];
            ids.extend((0..len - 2).map(|_| 4 + rng.next(VOCAB - 4)));
            ids.push(3);
            let label = i16::from(ids[1..6].iter().any(|&i| i < 12));
            Window {
                id: format!("l{k}"),
                type_ids: vec![0; ids.len()],
                word_ids: vec![-1; ids.len()],
                length: ids.len() as u32,
                input_ids: ids,
                label: Some(label),
                ..Default::default()
            }
        })
        .collect()
}

/// Token-task data: 48 training and 16 dev windows.
pub fn token_data() -> TrainData {
    TrainData {
        train: token_windows(48, 1, "t"),
        dev: token_windows(16, 2, "d"),
        labels: token_labels(),
        max_length: Some(16),
    }
}

/// Small fast params: one CPU thread (bit-reproducible), batch 4.
pub fn small_params() -> TrainParams {
    TrainParams {
        learning_rate: 1e-3,
        batch_size: 4,
        epochs: 2,
        threads: Some(1),
        device: train::DeviceChoice::Cpu,
        log_every: 1,
        eval_batch_size: 8,
        ..Default::default()
    }
}

/// Paths of a run writing into `root/<name>`.
pub fn paths(root: &Path, model: &Path, name: &str) -> RunPaths {
    RunPaths {
        model_dir: model.to_path_buf(),
        tokenizer_from: Some(model.to_path_buf()),
        out_dir: root.join(name),
        work_dir: None,
    }
}

/// All tensors of a safetensors file as f32 vectors, by name.
pub fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let mut out: Vec<(String, Vec<f32>)> = tch::Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                Vec::<f32>::try_from(t.to_kind(tch::Kind::Float).view(-1)).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Largest absolute difference between two tensor sets with the same names.
pub fn max_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|((na, va), (nb, vb))| {
            assert_eq!(na, nb);
            va.iter()
                .zip(vb)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        })
        .fold(0.0, f32::max)
}

/// Synthetic multi-label windows over labels `low`, `high`: `low` when the text holds an id
/// below 16, `high` when it holds one of 52 or more; either, both or neither.
pub fn multilabel_windows(n: usize, seed: u64) -> Vec<Window> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|k| {
            let len = 2 + rng.next(6) as usize;
            let mut ids = vec![2u32];
            ids.extend((0..len).map(|_| 4 + rng.next(VOCAB - 4)));
            ids.push(3);
            let inner = &ids[1..ids.len() - 1];
            let mut set = Vec::new();
            if inner.iter().any(|&i| i < 16) {
                set.push(0);
            }
            if inner.iter().any(|&i| i >= 52) {
                set.push(1);
            }
            Window {
                id: format!("m{k}"),
                type_ids: vec![0; ids.len()],
                word_ids: vec![-1; ids.len()],
                length: ids.len() as u32,
                input_ids: ids,
                label_set: Some(set),
                ..Default::default()
            }
        })
        .collect()
}
