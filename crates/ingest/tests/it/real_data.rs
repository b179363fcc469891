//! Acceptance on the vendored real data (`data/`): counts equal data/README.md (sentences, rows) and
//! the reference counts of `scripts/fixtures/ingest/real_data_counts.py` (tokens, entities).

use serde_json::json;

use crate::util::{accounting, lists, real_data, run, run_ok, split, strings};

fn token_and_entity_counts(dir: &std::path::Path, name: &str) -> (usize, usize, usize) {
    let b = split(dir, name);
    let tokens = lists(&b, "tokens");
    let tags = lists(&b, "tags");
    let n_tokens = tokens.iter().map(Vec::len).sum();
    let n_entities = tags
        .iter()
        .flatten()
        .filter(|t| t.starts_with("B-"))
        .count();
    for (w, t) in tokens.iter().zip(&tags) {
        assert_eq!(w.len(), t.len());
    }
    (b.num_rows(), n_tokens, n_entities)
}

fn wnut(dedup: bool) -> serde_json::Value {
    let d = real_data().join("wnut17");
    json!({
        "task": "token",
        "format": "conll",
        "train": d.join("wnut17train.conll"),
        "dev": d.join("emerging.dev.conll"),
        "test": d.join("emerging.test.annotated"),
        "dedup": dedup,
    })
}

#[test]
fn wnut17_counts_equal_the_readme() {
    let (dir, s) = run_ok(wnut(false));
    assert_eq!(
        token_and_entity_counts(dir.path(), "train"),
        (3394, 62730, 1975)
    );
    assert_eq!(
        token_and_entity_counts(dir.path(), "dev"),
        (1009, 15733, 836)
    );
    assert_eq!(
        token_and_entity_counts(dir.path(), "test"),
        (1287, 23394, 1079)
    );
    assert_eq!(s.rows["train.parquet"], 3394);
    assert_eq!(s.rows["rejects.parquet"], 0);
    assert_eq!(s.metrics["tag_scheme"], "iob2");
    assert_eq!(s.metrics["tag_repairs"], 0);
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.len(), 13);
    assert_eq!(
        &labels.labels[..5],
        [
            "O",
            "B-corporation",
            "I-corporation",
            "B-creative-work",
            "I-creative-work"
        ]
    );
    // Duplicates are counted even when kept.
    assert!(s.metrics["duplicates_found"]["train"].as_u64().unwrap() > 0);
    // The zero-width space inside a dev token is cleaned away, the token kept.
    let dev = lists(&split(dir.path(), "dev"), "tokens");
    assert!(dev.iter().flatten().any(|w| w == "watchedwas"));
    assert!(
        !dev.iter()
            .flatten()
            .any(|w| w.contains('\u{200B}') || w.contains('\u{FEFF}'))
    );
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("profile.json")).unwrap())
            .unwrap();
    assert_eq!(profile["splits"]["test"]["entity_count"], 1079);
    assert!(profile["splits"]["test"]["oov_rate"].as_f64().unwrap() > 0.1);
    assert!(
        std::fs::read_to_string(dir.path().join("profile.md"))
            .unwrap()
            .contains("| train | 3394 |")
    );
}

#[test]
fn wnut17_with_default_cleaning_reconciles() {
    let (dir, s) = run_ok(wnut(true));
    let [read, kept, rejected, dups] = accounting(&s, "train");
    assert_eq!(read, 3394);
    assert!(dups > 0, "train has repeated sentences");
    assert_eq!(read, kept + rejected + dups);
    assert_eq!(kept, s.rows["train.parquet"]);
    let ids = strings(&split(dir.path(), "train"), "id");
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn weibo_strips_position_digits_and_keeps_replacement_characters() {
    let d = real_data().join("weibo_ner");
    let (dir, s) = run_ok(json!({
        "task": "token",
        "train": d.join("weiboNER_2nd_conll.train"),
        "dev": d.join("weiboNER_2nd_conll.dev"),
        "test": d.join("weiboNER_2nd_conll.test"),
        "token_rewrite": {"pattern": "^(.+?)[0-9]{1,2}$", "replacement": "$1"},
        "dedup": false,
    }));
    assert_eq!(
        token_and_entity_counts(dir.path(), "train"),
        (1350, 73778, 1895)
    );
    assert_eq!(
        token_and_entity_counts(dir.path(), "dev"),
        (270, 14509, 389)
    );
    assert_eq!(
        token_and_entity_counts(dir.path(), "test"),
        (270, 14842, 418)
    );
    // 10 + 0 + 4 `I-` tags after `O` repaired the conlleval way.
    assert_eq!(s.metrics["tag_repairs"], 14);
    assert_eq!(
        s.metrics["counters"]["replacement_characters"],
        50 + 12 + 46 + 16 + 32 + 16
    );
    let train = lists(&split(dir.path(), "train"), "tokens");
    assert_eq!(&train[0][..5], ["科", "技", "全", "方", "位"]);
    let all: Vec<String> = ["train", "dev", "test"]
        .iter()
        .flat_map(|n| lists(&split(dir.path(), n), "tokens"))
        .flatten()
        .collect();
    assert_eq!(
        all.iter().filter(|w| w.contains('\u{FFFD}')).count(),
        50 + 46 + 32
    );
    assert_eq!(
        all.iter()
            .filter(|w| w.as_str() == "\u{FFFD}\u{FFFD}")
            .count(),
        12 + 16 + 16
    );
    assert!(all.iter().all(|w| w.chars().count() <= 2));
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.len(), 17);
    assert_eq!(labels.labels[1], "B-GPE.NAM");
}

#[test]
fn german_credit_renders_with_its_codebook() {
    let d = real_data().join("german_credit");
    let codebook = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/codebooks/german_credit.toml");
    let (dir, s) = run_ok(json!({
        "task": "sequence",
        "format": "tabular",
        "file": d.join("german.data"),
        "has_header": false,
        "delimiter": " ",
        "codebook": codebook,
        "label_column": "class",
        "split": {"train": 0.8, "dev": 0.1, "test": 0.1, "seed": 42},
    }));
    assert_eq!(accounting(&s, "all"), [1000, 1000, 0, 0]);
    let mut good = 0;
    let mut bad = 0;
    for (name, n) in [("train", 800), ("dev", 100), ("test", 100)] {
        let b = split(dir.path(), name);
        assert_eq!(b.num_rows(), n, "{name}");
        let labels = strings(&b, "label");
        good += labels
            .iter()
            .filter(|l| l.as_deref() == Some("good"))
            .count();
        bad += labels
            .iter()
            .filter(|l| l.as_deref() == Some("bad"))
            .count();
        // Stratified: 70% good in every split.
        assert_eq!(
            labels
                .iter()
                .filter(|l| l.as_deref() == Some("good"))
                .count()
                * 10,
            n * 7
        );
    }
    assert_eq!((good, bad), (700, 300));
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.labels, ["bad", "good"]);
    // Row 1 (A11 6 A34 A43 1169 ... A93 ... 67 ...) rendered through the codebook.
    let all: Vec<String> = ["train", "dev", "test"]
        .iter()
        .flat_map(|n| strings(&split(dir.path(), n), "text"))
        .flatten()
        .collect();
    let first = all
        .iter()
        .find(|t| t.contains("1169 DM over 6 months"))
        .expect("row 1 rendered");
    assert!(
        first.starts_with(
            "The applicant is a single male, 67 years old, employed for at least 7 years."
        ),
        "{first}"
    );
    assert!(first.contains("Checking account: below 0 DM."), "{first}");
    assert!(
        !all.iter().any(|t| t.contains(" A1") || t.contains(" A2")),
        "an unmapped code"
    );
    // Attributes travel as typed metadata for slicing.
    let train = split(dir.path(), "train");
    assert_eq!(
        train.column_by_name("age").unwrap().data_type(),
        &arrow::datatypes::DataType::Int64
    );
    assert_eq!(strings(&train, "purpose").len(), 800);
}

/// CLINC150 as published: each split is the in-scope file followed by the out-of-scope one,
/// given as a list; `oos` becomes the 151st label, ids stay unique (the second file of a split
/// gets its own prefix) and every row of both files is kept.
#[test]
fn clinc150_with_out_of_scope_files_as_lists() {
    let d = real_data().join("clinc150");
    let (dir, _) = run_ok(json!({
        "format": "jsonl",
        "task": "sequence",
        "train": [d.join("train.jsonl"), d.join("oos_train.jsonl")],
        "dev": [d.join("dev.jsonl"), d.join("oos_dev.jsonl")],
        "test": [d.join("test.jsonl"), d.join("oos_test.jsonl")],
        "dedup": false,
    }));
    for (name, n, oos) in [
        ("train", 15_100, 100),
        ("dev", 3_100, 100),
        ("test", 5_500, 1_000),
    ] {
        let batch = split(dir.path(), name);
        assert_eq!(batch.num_rows(), n, "{name}");
        let labels = strings(&batch, "label");
        let ids = strings(&batch, "id");
        assert_eq!(
            labels
                .iter()
                .filter(|l| l.as_deref() == Some("oos"))
                .count(),
            oos,
            "{name}"
        );
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), n, "{name}: ids repeat");
        assert_eq!(ids[0].as_deref(), Some(format!("{name}-000001").as_str()));
        assert_eq!(
            ids[n - oos].as_deref(),
            Some(format!("{name}-f2-000001").as_str())
        );
    }
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("labels.json")).unwrap())
            .unwrap();
    assert_eq!(labels["labels"].as_array().map(Vec::len), Some(151));

    // An empty list names the key.
    let (_dir, err) = run(json!({
        "format": "jsonl",
        "task": "sequence",
        "train": [],
        "dev": d.join("dev.jsonl"),
        "test": d.join("test.jsonl"),
    }));
    let err = err.unwrap_err();
    assert!(err.contains("train") && err.contains("empty list"), "{err}");
}
