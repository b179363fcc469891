//! End-to-end tests of the baseline stage on small ingest artifacts built in a temp dir.

mod util;

use std::collections::HashSet;

use flowcore::TaskKind;
use metrics::Predictions;
use util::{IngestFixture, run_baseline};

fn seq(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter()
        .map(|(t, l)| (t.to_string(), l.to_string()))
        .collect()
}

/// Linearly separable text: each label has its own vocabulary.
fn separable(n: usize) -> Vec<(String, String)> {
    let words = [
        ("good", ["great", "superb", "fine", "lovely"]),
        ("bad", ["awful", "poor", "terrible", "grim"]),
        ("neutral", ["table", "chair", "window", "door"]),
    ];
    (0..n)
        .map(|i| {
            let (label, vocab) = words[i % 3];
            let text = format!("it was {} and {}", vocab[i % 4], vocab[(i / 3 + 1) % 4]);
            (text, label.to_string())
        })
        .collect()
}

#[test]
fn sequence_models_write_every_file_and_logreg_separates_a_separable_set() {
    let fx = IngestFixture::sequence(
        &["bad", "good", "neutral"],
        separable(60),
        separable(15),
        separable(30),
    );
    let art = run_baseline(&fx, serde_json::json!({"logreg": {"c": 10.0}}));
    for file in [
        "predictions-dev.parquet",
        "predictions-test.parquet",
        "predictions-random_forest-test.parquet",
        "predictions-majority-dev.parquet",
        "labels.json",
        "metrics.json",
        "report.txt",
    ] {
        assert!(art.manifest.file(file).is_some(), "{file} missing");
    }
    let test = Predictions::read(&art.dir.join("predictions-test.parquet")).unwrap();
    assert_eq!(test.rows.len(), 30);
    assert!(
        test.rows.iter().all(|r| r.gold == r.pred),
        "logreg is not 100 % on test"
    );
    for r in &test.rows {
        let p = r.probs.as_ref().unwrap();
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    let majority = Predictions::read(&art.dir.join("predictions-majority-test.parquet")).unwrap();
    let preds: HashSet<&str> = majority.rows.iter().map(|r| r.pred.as_str()).collect();
    assert_eq!(preds.len(), 1, "majority predicts one label");
    // training time of every model is in the manifest
    for model in ["logreg", "random_forest", "majority"] {
        let secs = &art.manifest.metrics["models"][model]["train_seconds"];
        assert!(secs.as_f64().is_some_and(|s| s >= 0.0), "{model}: {secs}");
    }
}

#[test]
fn runs_are_deterministic() {
    let fx = IngestFixture::sequence(
        &["bad", "good", "neutral"],
        separable(45),
        separable(9),
        separable(12),
    );
    let params = serde_json::json!({"random_forest": {"n_trees": 10}, "seed": 3});
    let files = [
        "predictions-test.parquet",
        "predictions-random_forest-test.parquet",
    ];
    let a = run_baseline(&fx, params.clone());
    let first: Vec<Predictions> = files
        .iter()
        .map(|f| Predictions::read(&a.dir.join(f)).unwrap())
        .collect();
    // The forced run rewrites the same fingerprint directory, so read the first run first.
    let b = util::run_baseline_forced(&fx, params);
    for (file, pa) in files.iter().zip(first) {
        let pb = Predictions::read(&b.dir.join(file)).unwrap();
        assert_eq!(pa, pb, "{file} differs between runs");
    }
}

#[test]
fn label_seen_only_in_test_is_counted_not_fatal() {
    // `maybe` is in labels.json but never in train; `other` is not even in labels.json.
    let train = seq(&[
        ("yes yes", "yes"),
        ("no no", "no"),
        ("yes sir", "yes"),
        ("no way", "no"),
    ]);
    let test = seq(&[
        ("yes", "yes"),
        ("perhaps", "maybe"),
        ("what", "other"),
        ("no", "no"),
    ]);
    let fx = IngestFixture::sequence(&["no", "yes", "maybe"], train.clone(), train, test);
    let art = run_baseline(&fx, serde_json::json!({}));
    let metrics: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(art.dir.join("metrics.json")).unwrap())
            .unwrap();
    let audit = &metrics["label_audit"]["test"];
    assert_eq!(audit["units"], 4);
    assert_eq!(audit["unseen_in_train"]["maybe"], 1);
    assert_eq!(audit["unseen_in_train"]["other"], 1);
    assert_eq!(audit["not_in_labels_json"]["other"], 1);
    assert_eq!(
        metrics["labels"],
        serde_json::json!(["no", "yes", "maybe", "other"])
    );
    let test = Predictions::read(&art.dir.join("predictions-test.parquet")).unwrap();
    let probs = test.rows[1].probs.as_ref().unwrap();
    assert_eq!(probs.len(), 4);
    assert_eq!(
        (probs[2], probs[3]),
        (0.0, 0.0),
        "unseen labels get no probability"
    );
    let report = fs_err::read_to_string(art.dir.join("report.txt")).unwrap();
    assert!(report.contains("test: other: 1"), "{report}");
}

/// Memorisation on a hand-made NER set, F1 worked out by hand:
///
/// train: `Anna/B-PER lives/O in/O Berlin/B-LOC`, `Berlin/B-ORG wins/O`, `Berlin/B-LOC again/O`
/// → Berlin is B-LOC (2 of 3), Anna B-PER.
///
/// test gold: `Anna/B-PER Smith/I-PER visits/O Berlin/B-LOC` and `Bob/B-PER likes/O Berlin/B-ORG`
/// memorised: `B-PER O O B-LOC` and `O O B-LOC`
/// entities gold {PER(0,1), LOC(3), PER(0), ORG(2)} = 4; predicted {PER(0), LOC(3), LOC(2)} = 3;
/// correct: LOC(3) only (PER(0) ≠ PER(0,1)) → P = 1/3, R = 1/4, F1 = 2/7.
#[test]
fn memorisation_matches_hand_computed_f1() {
    let s = |words: &str, tags: &str| {
        (
            words.split(' ').map(str::to_string).collect::<Vec<_>>(),
            tags.split(' ').map(str::to_string).collect::<Vec<_>>(),
        )
    };
    let train = vec![
        s("Anna lives in Berlin", "B-PER O O B-LOC"),
        s("Berlin wins", "B-ORG O"),
        s("Berlin again", "B-LOC O"),
    ];
    let test = vec![
        s("Anna Smith visits Berlin", "B-PER I-PER O B-LOC"),
        s("Bob likes Berlin", "B-PER O B-ORG"),
    ];
    let labels = ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"];
    let fx = IngestFixture::token(&labels, train.clone(), train, test);
    let art = run_baseline(&fx, serde_json::json!({"perceptron": {"epochs": 2}}));
    let preds = Predictions::read(&art.dir.join("predictions-memorisation-test.parquet")).unwrap();
    assert_eq!(
        preds.pred(),
        vec!["B-PER", "O", "O", "B-LOC", "O", "O", "B-LOC"]
    );
    assert!(preds.rows.iter().all(|r| r.probs.is_none()));
    let f1 = util::entity_f1(&art, "memorisation", "test");
    assert!((f1 - 2.0 / 7.0).abs() < 1e-9, "{f1}");
    // the perceptron is the primary model of a token task
    assert!(art.manifest.file("predictions-test.parquet").is_some());
    let primary = Predictions::read(&art.dir.join("predictions-test.parquet")).unwrap();
    assert_eq!(primary.task, TaskKind::Token);
    assert_eq!(primary.rows.len(), 7);
}

#[test]
fn missing_column_names_the_file_and_column() {
    let fx = IngestFixture::raw_sequence_without_label();
    let err = util::try_run_baseline(&fx, serde_json::json!({})).unwrap_err();
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert!(
        msg.contains("train.parquet") && msg.contains("no column `label`"),
        "{msg}"
    );
}
