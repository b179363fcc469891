//! Helpers shared by the end-to-end tests in `tests/` (each file is its own test binary, so
//! not every helper is used by every one of them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The workspace root; relative paths in pipeline files are relative to it.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The pretrained model `make setup` installs, or a panic that says to run it.
pub fn pretrained() -> PathBuf {
    let dir = project_root().join("models/all-MiniLM-L6-v2");
    assert!(
        dir.join("tokenizer.json").is_file() && dir.join("model.safetensors").is_file(),
        "{} is missing: run `make setup`",
        dir.display()
    );
    dir
}

/// A tiny random-weight BERT with the pretrained model's tokenizer, written under `dir`.
pub fn tiny_model(dir: &Path, task: flowcore::TaskKind) -> PathBuf {
    let model = dir.join("tiny-model");
    bert::write_tiny_random(&model, &pretrained(), task, &[], 7).expect("tiny model");
    model
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
