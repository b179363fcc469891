//! WNUT-17 and Weibo NER vendored in `data/`: every word kept at `max_length` 32 (which
//! forces windows) and 128, with the round-trip checks on every sentence.

use std::path::PathBuf;

use rayon::prelude::*;
use tokenize::{EncodeOptions, Encoder, LabelAligner, WordStats};

use crate::util::{Sentence, check_example, data_dir, label_map, model_dir, read_conll};

fn files(set: &str) -> (Vec<PathBuf>, bool) {
    let dir = data_dir().join(set);
    match set {
        "wnut17" => (
            [
                "wnut17train.conll",
                "emerging.dev.conll",
                "emerging.test.annotated",
            ]
            .map(|f| dir.join(f))
            .to_vec(),
            false,
        ),
        _ => (
            ["train", "dev", "test"]
                .map(|s| dir.join(format!("weiboNER_2nd_conll.{s}")))
                .to_vec(),
            true,
        ),
    }
}

/// `min_decoded`: the share of words that must decode back exactly (the rest hold `[UNK]` or
/// were cut to fit; the check skips those).
fn run(set: &str, expected_sentences: usize, min_decoded: f64) {
    let (paths, strip) = files(set);
    let sentences: Vec<Sentence> = paths.iter().flat_map(|p| read_conll(p, strip)).collect();
    assert_eq!(sentences.len(), expected_sentences, "{set}");
    let labels = label_map(&sentences);
    let aligner = LabelAligner::new(&labels);
    for max_length in [32, 128] {
        let enc = Encoder::from_model_dir(&model_dir(), EncodeOptions::new(max_length)).unwrap();
        let per_sentence: Vec<(WordStats, usize)> = sentences
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                let gold: Vec<i16> = s
                    .tags
                    .iter()
                    .map(|t| labels.id(t).unwrap() as i16)
                    .collect();
                let (windows, stats) = enc
                    .encode_labelled_words(&format!("{set}-{i}"), &s.words, &gold, &aligner)
                    .unwrap();
                let checked = check_example(&enc, &s.words, Some(&gold), &windows);
                (stats, checked.decoded)
            })
            .collect();
        let mut total = WordStats::default();
        let mut decoded = 0;
        let mut split = 0;
        for (stats, d) in &per_sentence {
            total.add(stats);
            decoded += d;
            split += usize::from(stats.windows > 1);
        }
        eprintln!(
            "{set} max_length {max_length}: {total:?}, {split} sentences split, {decoded} words decoded back"
        );
        assert_eq!(total.words_lost, 0, "{set} {max_length}");
        // Words holding `[UNK]`, as HF `tokenizers` counts them
        // (scripts/fixtures/tokenize/make_unk_counts.py).
        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/unk_counts.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(total.words, want[set]["words"].as_u64().unwrap(), "{set}");
        assert_eq!(
            total.words_with_unk,
            want[set]["words_with_unk"].as_u64().unwrap(),
            "{set} {max_length}"
        );
        assert!(
            decoded as f64 > min_decoded * total.words as f64,
            "{set}: only {decoded} of {} decoded",
            total.words
        );
        if max_length == 32 {
            assert!(
                split > 50,
                "{set}: max_length 32 should force windows, split {split}"
            );
        }
    }
}

#[test]
fn wnut17_keeps_every_word() {
    run("wnut17", 3394 + 1009 + 1287, 0.9);
}

#[test]
fn weibo_ner_keeps_every_word() {
    // MiniLM's uncased English vocabulary lacks many CJK characters: those become `[UNK]`
    // (measured: 43 % of Weibo characters decode back, the rest are unknown).
    run("weibo_ner", 1350 + 270 + 270, 0.4);
}
