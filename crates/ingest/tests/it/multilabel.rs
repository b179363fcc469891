//! Multi-label tasks: label lists from texts, JSON arrays and Parquet lists, ids through a label
//! file, empty sets, malformed lists, and GoEmotions (Ekman) as vendored in `data/`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, ListBuilder, StringArray, StringBuilder};
use serde_json::{Value, json};

use crate::util::{accounting, file, lists, real_data, rejects, run, run_ok, split, strings};

fn profile(dir: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("profile.json")).unwrap()).unwrap()
}

fn goemotions() -> Value {
    let d = real_data().join("goemotions_ekman");
    json!({
        "task": "multilabel",
        "format": "tsv",
        "train": d.join("train.tsv"),
        "dev": d.join("dev.tsv"),
        "test": d.join("test.tsv"),
        "has_header": false,
        "columns": ["text", "labels", "comment_id"],
        "label_column": "labels",
        "id_column": "comment_id",
        "label_names": d.join("labels.txt"),
        "quote": "",
    })
}

/// GoEmotions-Ekman as published: every row read and accounted for, dev and test kept whole,
/// ids resolved through `labels.txt`, the profile's label sets equal to counts made with awk
/// on `dev.tsv` (`awk -F'\t' '{n=split($2,a,","); ...}'`).
#[test]
fn goemotions_ekman_ids_resolve_through_the_label_file() {
    let (dir, s) = run_ok(goemotions());
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.task, flowcore::TaskKind::Multilabel);
    assert_eq!(
        labels.labels,
        [
            "anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"
        ]
    );
    // Train: exact duplicates (same text, same set) removed and conflicting copies (same
    // text, another set) resolved by keep_majority; nothing else is lost.
    assert_eq!(accounting(&s, "train"), [43_410, 43_202, 63, 145]);
    for (pool, read) in [("train", 43_410), ("dev", 5_426), ("test", 5_427)] {
        let [r, kept, rejected, duplicates] = accounting(&s, pool);
        assert_eq!(r, read, "{pool}");
        assert_eq!(kept + rejected + duplicates, read, "{pool}");
        if pool != "train" {
            // Evaluation splits are scored as given: nothing removed, and every row is
            // well-formed.
            assert_eq!((kept, rejected, duplicates), (read, 0, 0), "{pool}");
        }
    }
    assert!(
        rejects(dir.path())
            .iter()
            .all(|(reason, _, _)| reason == "label_conflict"),
        "{:?}",
        rejects(dir.path())
    );

    let train = split(dir.path(), "train");
    let ids = strings(&train, "id");
    let sets = lists(&train, "labels");
    let texts = strings(&train, "text");
    // Line 1: `My favourite food is anything I didn't have to cook myself.<TAB>4<TAB>eebbqej`.
    assert_eq!(ids[0].as_deref(), Some("eebbqej"));
    assert_eq!(
        texts[0].as_deref(),
        Some("My favourite food is anything I didn't have to cook myself.")
    );
    assert_eq!(sets[0], ["neutral"]);
    // Line 21: `... sounds logical<TAB>4,5,6<TAB>efdlhs1`.
    let row = ids
        .iter()
        .position(|i| i.as_deref() == Some("efdlhs1"))
        .unwrap();
    assert_eq!(sets[row], ["neutral", "sadness", "surprise"]);
    // Line 16: `0,5` (anger, sadness).
    let row = ids
        .iter()
        .position(|i| i.as_deref() == Some("edivtm3"))
        .unwrap();
    assert_eq!(sets[row], ["anger", "sadness"]);
    assert!(train.column_by_name("label").is_none());
    // The id column is not kept a second time as metadata.
    assert!(train.column_by_name("comment_id").is_none());

    let p = profile(dir.path());
    let dev = &p["splits"]["dev"];
    assert_eq!(dev["rows"], 5_426);
    assert_eq!(
        dev["cardinality"],
        json!({"mean": 1.0907, "max": 3, "sizes": {"0": 0, "1": 4946, "2": 468, "3+": 12}})
    );
    assert_eq!(
        dev["labels"],
        json!({"anger": 717, "disgust": 97, "fear": 105, "joy": 2219, "neutral": 1766,
               "sadness": 390, "surprise": 624})
    );
    assert_eq!(dev["co_occurrence"]["pairs"], 21);
    assert_eq!(
        dev["co_occurrence"]["top"][0],
        json!({"labels": ["joy", "surprise"], "count": 82})
    );
    assert_eq!(
        dev["co_occurrence"]["top"][1],
        json!({"labels": ["joy", "neutral"], "count": 77})
    );
    assert!(
        p["splits"]["train"]["cardinality"]["sizes"]["3+"]
            .as_u64()
            .unwrap()
            > 0
    );
    let md = std::fs::read_to_string(dir.path().join("profile.md")).unwrap();
    assert!(
        md.contains("## Label sets") && md.contains("| joy + surprise |"),
        "{md}"
    );
}

#[test]
fn jsonl_arrays_texts_empty_sets_and_bad_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let train = [
        r#"{"id": "a", "text": "great game", "labels": ["sports", "joy"], "n": 1}"#,
        r#"{"id": "b", "text": "sad news", "labels": "sadness", "n": 2}"#,
        r#"{"id": "c", "text": "nothing to see", "labels": [], "n": 3}"#,
        r#"{"id": "d", "text": "a number", "labels": 5, "n": 4}"#,
        r#"{"id": "e", "text": "an empty item", "labels": ["joy", ""], "n": 5}"#,
        r#"{"id": "f", "text": "twice", "labels": ["joy", "joy"], "n": 6}"#,
        r#"{"id": "g", "text": "  ", "labels": ["joy"], "n": 7}"#,
        r#"{"id": "h", "text": "no labels key", "n": 8}"#,
        r#"{"id": "i", "text": "nested", "labels": [["joy"]], "n": 9}"#,
        r#"{"id": "j", "text": "empty text value", "labels": "", "n": 10}"#,
        r#"{"id": "k", "text": "unknown", "labels": ["joy", "anger"], "n": 11}"#,
    ]
    .join("\n");
    let (dir, s) = run_ok(json!({
        "task": "multilabel",
        "format": "jsonl",
        "train": file(tmp.path(), "train.jsonl", train),
        "dev": file(tmp.path(), "dev.jsonl", r#"{"id": "x", "text": "fine", "labels": ["joy"], "n": 1}"#),
        "test": file(tmp.path(), "test.jsonl", r#"{"id": "y", "text": "meh", "labels": [], "n": 2}"#),
        "label_column": "labels",
        "id_column": "id",
        "labels": ["sports", "sadness", "joy"],
    }));
    let train = split(dir.path(), "train");
    assert_eq!(
        strings(&train, "id"),
        ["a", "b", "c", "f", "j"].map(|s| Some(s.to_string()))
    );
    // Label-list order is the `labels` param's order.
    assert_eq!(
        lists(&train, "labels"),
        [
            vec!["sports", "joy"],
            vec!["sadness"],
            vec![],
            vec!["joy"],
            vec![]
        ]
    );
    // The other keys keep their file order and types.
    let names: Vec<String> = train
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "text", "labels", "n"]);
    let mut got: Vec<(String, u64)> = rejects(dir.path())
        .into_iter()
        .map(|(reason, line, _)| (reason, line))
        .collect();
    got.sort_by_key(|r| r.1);
    assert_eq!(
        got,
        [
            ("malformed_labels", 4),
            ("malformed_labels", 5),
            ("empty", 7),
            ("missing_label", 8),
            ("malformed_labels", 9),
            ("unknown_label", 11),
        ]
        .map(|(r, l)| (r.to_string(), l))
    );
    let details: Vec<String> = rejects(dir.path()).into_iter().map(|r| r.2).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("an integer `5`") && d.contains("expected an array")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("label `anger` is not in `labels`")),
        "{details:?}"
    );
    assert_eq!(accounting(&s, "train"), [11, 5, 6, 0]);
    assert_eq!(s.metrics["counters"]["empty_label_sets"], 3);
    assert_eq!(s.metrics["counters"]["label_items_folded"], 1);
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.labels, ["sports", "sadness", "joy"]);
    assert_eq!(
        profile(dir.path())["splits"]["train"]["empty_label_sets"],
        2
    );
}

#[test]
fn csv_texts_with_a_separator_and_ids_through_a_label_file() {
    let tmp = tempfile::tempdir().unwrap();
    let names = file(tmp.path(), "names.txt", "news\nsports\nart\n");
    let (dir, s) = run_ok(json!({
        "task": "multilabel",
        "format": "csv",
        "train": file(tmp.path(), "train.csv",
            "text,tags\nmatch report,1|0\nno topic,\ngallery,2\nbad id,3\ngap,0||1\nname too,art|2\nword,sport\n"),
        "dev": file(tmp.path(), "dev.csv", "text,tags\nscore, 1 \n"),
        "test": file(tmp.path(), "test.csv", "text,tags\nvernissage,2|0\n"),
        "label_column": "tags",
        "label_separator": "|",
        "label_names": names,
    }));
    let train = split(dir.path(), "train");
    assert_eq!(
        lists(&train, "labels"),
        [vec!["news", "sports"], vec![], vec!["art"], vec!["art"]]
    );
    let got: Vec<(String, u64)> = rejects(dir.path())
        .into_iter()
        .map(|(reason, line, _)| (reason, line))
        .collect();
    assert_eq!(
        got,
        [
            ("malformed_labels", 5),
            ("malformed_labels", 6),
            ("unknown_label", 8)
        ]
        .map(|(r, l)| (r.to_string(), l))
    );
    let details: Vec<String> = rejects(dir.path()).into_iter().map(|r| r.2).collect();
    assert!(
        details[0].contains("`3`") && details[0].contains("0..=2"),
        "{details:?}"
    );
    assert!(
        details[1].contains("item 2 of `0||1` is empty"),
        "{details:?}"
    );
    assert!(details[2].contains("label `sport`"), "{details:?}");
    assert_eq!(accounting(&s, "train"), [7, 4, 3, 0]);
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.labels, ["news", "sports", "art"]);
    assert_eq!(
        lists(&split(dir.path(), "test"), "labels"),
        [vec!["news", "art"]]
    );
}

#[test]
fn parquet_list_columns_of_strings_and_ints() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, texts: Vec<&str>, labels: ArrayRef| {
        let batch = arrow::record_batch::RecordBatch::try_from_iter([
            ("text", Arc::new(StringArray::from(texts)) as ArrayRef),
            ("labels", labels),
        ])
        .unwrap();
        let path = tmp.path().join(name);
        let f = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    };
    let mut strs = ListBuilder::new(StringBuilder::new());
    for row in [vec![Some("b"), Some("a")], vec![], vec![Some("a"), None]] {
        for v in row {
            strs.values().append_option(v);
        }
        strs.append(true);
    }
    strs.append(false);
    let mut ints = ListBuilder::new(Int64Builder::new());
    ints.values().append_value(1);
    ints.values().append_value(1);
    ints.append(true);
    let mut ints2 = ListBuilder::new(Int64Builder::new());
    ints2.append(true);
    let names = file(tmp.path(), "names.txt", "a\nb\n");
    let (dir, s) = run_ok(json!({
        "task": "multilabel", "format": "parquet",
        "train": write("train.parquet", vec!["one", "two", "three", "four"], Arc::new(strs.finish())),
        "dev": write("dev.parquet", vec!["five"], Arc::new(ints.finish())),
        "test": write("test.parquet", vec!["six"], Arc::new(ints2.finish())),
        "label_column": "labels",
        "label_names": names,
    }));
    assert_eq!(
        lists(&split(dir.path(), "train"), "labels"),
        [vec!["a", "b"], vec![]]
    );
    assert_eq!(lists(&split(dir.path(), "dev"), "labels"), [vec!["b"]]);
    assert_eq!(
        lists(&split(dir.path(), "test"), "labels"),
        [Vec::<String>::new()]
    );
    let got: Vec<(String, u64)> = rejects(dir.path())
        .into_iter()
        .map(|(reason, line, _)| (reason, line))
        .collect();
    assert_eq!(
        got,
        [("malformed_labels", 3), ("missing_label", 4)].map(|(r, l)| (r.to_string(), l))
    );
    assert_eq!(accounting(&s, "train"), [4, 2, 2, 0]);
    assert_eq!(s.metrics["counters"]["label_items_folded"], 1);
}

#[test]
fn a_missing_label_column_or_label_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let f = file(tmp.path(), "t.jsonl", r#"{"text": "a", "label": ["x"]}"#);
    let (_dir, res) = run(json!({
        "task": "multilabel", "format": "jsonl",
        "train": f, "dev": f, "test": f, "label_column": "labels",
    }));
    let err = res.unwrap_err();
    assert!(
        err.contains("column `labels` (param `label_column`) does not exist")
            && err.contains("`text`"),
        "{err}"
    );
    let (_dir, res) = run(json!({
        "task": "multilabel", "format": "jsonl",
        "train": f, "dev": f, "test": f, "label_names": tmp.path().join("nope.txt"),
    }));
    let err = res.unwrap_err();
    assert!(err.contains("nope.txt"), "{err}");
}

/// Duplicates compare whole sets: the same text with the same set (in any order) is a
/// duplicate; with another set, a conflict resolved by the policy.
#[test]
fn duplicates_and_conflicts_compare_sets() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, s) = run_ok(json!({
        "task": "multilabel",
        "format": "tsv",
        "has_header": false,
        "columns": ["text", "labels"],
        "train": file(tmp.path(), "train.tsv", "a\tx,y\na\ty,x\nb\tx\nb\tx,y\nb\tx\nc\t\n"),
        "dev": file(tmp.path(), "dev.tsv", "d\tx\nd\tx\n"),
        "test": file(tmp.path(), "test.tsv", "e\ty\n"),
        "label_column": "labels",
    }));
    assert_eq!(accounting(&s, "train"), [6, 3, 1, 2]);
    assert_eq!(
        lists(&split(dir.path(), "train"), "labels"),
        [vec!["x", "y"], vec!["x"], vec![]]
    );
    // Dev is scored as given.
    assert_eq!(accounting(&s, "dev"), [2, 2, 0, 0]);
}
