//! Encodings equal `transformers`' fast tokenizer on the committed fixture
//! (`scripts/fixtures/tokenize/make_fixture.py`), through `tokenizer.json` and through the
//! rebuilt `vocab.txt` pipeline.

use std::path::Path;

use serde_json::Value;
use tokenize::{EncodeOptions, Encoder, Window};

use crate::util::model_dir;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_encodings.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn nums<T: serde::de::DeserializeOwned>(v: &Value, key: &str) -> Vec<T> {
    serde_json::from_value(v[key].clone()).unwrap()
}

fn assert_same(what: &str, w: &Window, expected: &Value) {
    assert_eq!(
        w.input_ids,
        nums::<u32>(expected, "input_ids"),
        "{what}: input_ids"
    );
    assert_eq!(
        w.type_ids,
        nums::<u8>(expected, "type_ids"),
        "{what}: type_ids"
    );
    assert_eq!(
        w.word_ids,
        nums::<i32>(expected, "word_ids"),
        "{what}: word_ids"
    );
    assert_eq!(w.length as usize, w.input_ids.len());
}

/// How many cases the fixture holds (all of them must be compared).
fn fixture_cases() -> usize {
    let fx = fixture();
    ["texts", "pairs", "words", "truncated", "decoded"]
        .iter()
        .map(|k| fx[*k].as_array().map_or(0, Vec::len))
        .sum()
}

/// Every fixture case through `encoder_at(max_length)`; returns how many cases were compared.
fn compare_all(encoder_at: impl Fn(usize) -> Encoder) -> usize {
    let fx = fixture();
    let full = encoder_at(512);
    let mut cases = 0;
    for case in fx["texts"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let (w, truncated) = full.encode_text("t", text, None).unwrap();
        assert!(!truncated);
        assert_same(text, &w, case);
        cases += 1;
    }
    for case in fx["pairs"].as_array().unwrap() {
        let (a, b) = (
            case["text"].as_str().unwrap(),
            case["text_b"].as_str().unwrap(),
        );
        let (w, _) = full.encode_text("p", a, Some(b)).unwrap();
        assert_same(a, &w, case);
        cases += 1;
    }
    for case in fx["words"].as_array().unwrap() {
        let words: Vec<String> = nums(case, "words");
        let windows = full.encode_words("w", &words).unwrap();
        assert_eq!(windows.len(), 1);
        assert_same(&words.join(" "), &windows[0], case);
        cases += 1;
    }
    for case in fx["truncated"].as_array().unwrap() {
        let enc = encoder_at(case["max_length"].as_u64().unwrap() as usize);
        let text = case["text"].as_str().unwrap();
        let (w, truncated) = enc.encode_text("x", text, case["text_b"].as_str()).unwrap();
        assert!(truncated, "{text}");
        assert_same(text, &w, case);
        cases += 1;
    }
    for case in fx["decoded"].as_array().unwrap() {
        let ids: Vec<u32> = nums(case, "ids");
        let text = full.tokenizer().decode(&ids, true).unwrap();
        assert_eq!(text, case["text"].as_str().unwrap());
        cases += 1;
    }
    cases
}

#[test]
fn tokenizer_json_matches_transformers() {
    let dir = model_dir();
    let cases = compare_all(|n| Encoder::from_model_dir(&dir, EncodeOptions::new(n)).unwrap());
    assert_eq!(cases, fixture_cases());
}

#[test]
fn vocab_txt_matches_transformers() {
    let model = model_dir();
    let tmp = tempfile::tempdir().unwrap();
    for f in ["vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(model.join(f), tmp.path().join(f)).unwrap();
    }
    let cases =
        compare_all(|n| Encoder::from_model_dir(tmp.path(), EncodeOptions::new(n)).unwrap());
    assert_eq!(cases, fixture_cases());
}

#[test]
fn saved_padding_and_truncation_are_switched_off() {
    // all-MiniLM-L6-v2's tokenizer.json pads to 128 and truncates at 128.
    let enc = Encoder::from_model_dir(&model_dir(), EncodeOptions::new(512)).unwrap();
    let (w, _) = enc.encode_text("s", "short", None).unwrap();
    assert_eq!(w.length, 3);
    let long = "word ".repeat(300);
    let (w, truncated) = enc.encode_text("l", &long, None).unwrap();
    assert!(!truncated);
    assert_eq!(w.length, 302);
}

#[test]
fn max_length_above_position_embeddings_is_refused() {
    let err = Encoder::from_model_dir(&model_dir(), EncodeOptions::new(513)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("max_position_embeddings 512") && msg.contains("config.json"),
        "{msg}"
    );
}
