//! Tokenizers of the families beyond BERT against transformers' fast tokenizers: RoBERTa's
//! byte-level BPE (pre-split words with `add_prefix_space=True`, as transformers requires),
//! XLM-R's SentencePiece Unigram and DistilBERT's cased WordPiece, on English, accented and
//! Chinese text, single texts and pairs.
//! Fixtures: `scripts/fixtures/bert/make_family_fixtures.py` (tokenizers trained there).

use std::path::{Path, PathBuf};

use tokenize::{EncodeOptions, Encoder};

fn family_dir(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bert/tests/fixtures/families")
        .join(family)
}

fn fixture(family: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(family_dir(family).join("tokenize.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn words_texts_and_pairs_encode_as_transformers_fast_tokenizers() {
    for family in [
        "roberta",
        "xlm-roberta",
        "distilbert",
        "electra",
        "deberta-v2",
    ] {
        let expected = fixture(family);
        let encoder =
            Encoder::from_model_dir(&family_dir(family).join("token"), EncodeOptions::new(64))
                .unwrap();
        for case in expected["words"].as_array().unwrap() {
            let words: Vec<&str> = case["words"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            let windows = encoder.encode_words("x", &words).unwrap();
            assert_eq!(windows.len(), 1, "{family} {words:?}");
            let w = &windows[0];
            assert_eq!(w.input_ids, ids(&case["input_ids"]), "{family} {words:?}");
            let word_ids: Vec<i32> = case["word_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_i64().map_or(-1, |i| i as i32))
                .collect();
            assert_eq!(w.word_ids, word_ids, "{family} {words:?}: word alignment");
        }
        for case in expected["texts"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let (w, truncated) = encoder.encode_text("x", text, None).unwrap();
            assert!(!truncated);
            assert_eq!(w.input_ids, ids(&case["input_ids"]), "{family} {text:?}");
        }
        for case in expected["pairs"].as_array().unwrap() {
            let (a, b) = (
                case["text"].as_str().unwrap(),
                case["text_b"].as_str().unwrap(),
            );
            let (w, _) = encoder.encode_text("x", a, Some(b)).unwrap();
            assert_eq!(
                w.input_ids,
                ids(&case["input_ids"]),
                "{family} {a:?} / {b:?}"
            );
            if case.get("type_ids").is_some() {
                // ELECTRA: two segments, as BERT.
                let expected: Vec<u8> = ids(&case["type_ids"]).iter().map(|&t| t as u8).collect();
                assert_eq!(w.type_ids, expected, "{family} {a:?} / {b:?}: type ids");
            } else if family != "distilbert" {
                // RoBERTa has one token type: the pair's segments are not told apart by type
                // ids (DistilBERT's encoder ignores them).
                assert!(
                    w.type_ids.iter().all(|&t| t == 0),
                    "{family}: {:?}",
                    w.type_ids
                );
            }
        }
    }
}

#[test]
fn roberta_windows_fit_the_positions_after_the_reserved_ones() {
    // max_position_embeddings 66, pad id 1: 64 usable positions.
    let dir = family_dir("roberta").join("token");
    assert_eq!(
        tokenize::encoder::max_position_embeddings(&dir).unwrap(),
        Some(64)
    );
    assert!(Encoder::from_model_dir(&dir, EncodeOptions::new(64)).is_ok());
    let err = Encoder::from_model_dir(&dir, EncodeOptions::new(65))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_length 65 exceeds"), "{err}");
    // A long pre-split sentence becomes several windows, each within the limit, and every
    // word is owned by exactly one window.
    let words: Vec<String> = (0..80).map(|i| format!("Zürich{i}")).collect();
    let encoder = Encoder::from_model_dir(&dir, EncodeOptions::new(32)).unwrap();
    let windows = encoder.encode_words("long", &words).unwrap();
    assert!(windows.len() > 2);
    assert!(windows.iter().all(|w| w.input_ids.len() <= 32));
    assert_eq!(windows[0].centre_start, 0);
    for pair in windows.windows(2) {
        assert_eq!(pair[0].centre_end, pair[1].centre_start);
    }
    assert_eq!(windows.last().unwrap().centre_end as usize, words.len());
}
