//! Tiny random models for tests and benchmarks of this and other crates.

use std::path::Path;

use flowcore::TaskKind;
use tch::{Device, nn};

use crate::checkpoint::save;
use crate::config::BertConfig;
use crate::error::{BertError, Result};
use crate::heads::BertClassifier;

/// Vocabulary size of a tokenizer directory: the WordPiece vocab of `tokenizer.json`, else
/// the line count of `vocab.txt`.
pub fn vocab_size(tokenizer_dir: &Path) -> Result<i64> {
    let json = tokenizer_dir.join("tokenizer.json");
    if json.is_file() {
        let text = fs_err::read_to_string(&json)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| BertError::Json {
                path: json.clone(),
                source,
            })?;
        return value["model"]["vocab"]
            .as_object()
            .map(|v| v.len() as i64)
            .ok_or_else(|| BertError::Config {
                path: json,
                message: "expected a WordPiece tokenizer with an object `model.vocab`".into(),
            });
    }
    let txt = tokenizer_dir.join("vocab.txt");
    Ok(fs_err::read_to_string(&txt)?.lines().count() as i64)
}

/// Writes a tiny randomly initialised classifier (2 layers, hidden 32, 4 heads) for `task`
/// and `labels` into `dir`, with the tokenizer files of `vocab_from` and a vocabulary sized to
/// match. Deterministic for a given `seed`. Returns the config written.
pub fn write_tiny_random(
    dir: &Path,
    vocab_from: &Path,
    task: TaskKind,
    labels: &[String],
    seed: i64,
) -> Result<BertConfig> {
    write_random(dir, vocab_from, task, labels, seed, (32, 2))
}

/// [`write_tiny_random`] with `(hidden, layers)` of the caller's choosing: big enough, for
/// instance, that libtorch splits its work between threads.
pub fn write_random(
    dir: &Path,
    vocab_from: &Path,
    task: TaskKind,
    labels: &[String],
    seed: i64,
    (hidden, layers): (i64, i64),
) -> Result<BertConfig> {
    let mut config = BertConfig::tiny(vocab_size(vocab_from)?, hidden, layers);
    config.set_labels(labels);
    // Seed and draw under the process-wide generator lock, so concurrent callers (tests run
    // in threads, runs training meanwhile) each get the weights their seed promises.
    let model_and_vars = {
        let _guard = crate::torch_rng_lock();
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = BertClassifier::new(&vs.root(), &config, task);
        (model, vs)
    };
    let (model, vs) = model_and_vars;
    save(&model, &vs, dir, Some(vocab_from))?;
    Ok(model.config().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_size_reads_tokenizer_json_before_vocab_txt() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("vocab.txt"), "a\nb\n").unwrap();
        assert_eq!(vocab_size(dir.path()).unwrap(), 2);
        let json = r#"{"model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "a": 1, "b": 2}}}"#;
        fs_err::write(dir.path().join("tokenizer.json"), json).unwrap();
        assert_eq!(vocab_size(dir.path()).unwrap(), 3);
        fs_err::write(dir.path().join("tokenizer.json"), r#"{"model": {}}"#).unwrap();
        let err = vocab_size(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("tokenizer.json") && err.contains("model.vocab"),
            "{err}"
        );
    }
}
