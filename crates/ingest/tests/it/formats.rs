//! Formats, encodings, cleaning, duplicates, conflicts, leakage and splits, end to end.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::DataType;
use serde_json::json;

use crate::util::{accounting, file, lists, read_parquet, rejects, run_ok, split, strings};

fn seq_files(
    dir: &std::path::Path,
    ext: &str,
    train: &str,
    dev: &str,
    test: &str,
) -> serde_json::Value {
    json!({
        "task": "sequence",
        "train": file(dir, &format!("train.{ext}"), train),
        "dev": file(dir, &format!("dev.{ext}"), dev),
        "test": file(dir, &format!("test.{ext}"), test),
    })
}

#[test]
fn tsv_with_pairs_ids_and_typed_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let head = "uid\tq\ta\ty\tscore\tsource\n";
    let mut p = seq_files(
        tmp.path(),
        "tsv",
        &format!("{head}u1\tIs it?\tYes.\tentail\t3\tweb\nu2\tHow?\t\tneutral\t2.5\tforum\n"),
        &format!("{head}u3\tWhy?\tNo.\tneutral\t1\tweb\n"),
        &format!("{head}u4\tWho?\tMe.\tentail\t\tweb\n"),
    );
    p["format"] = json!("tsv");
    p["text_column"] = json!("q");
    p["text_b_column"] = json!("a");
    p["label_column"] = json!("y");
    p["id_column"] = json!("uid");
    let (dir, _) = run_ok(p);
    let train = split(dir.path(), "train");
    assert_eq!(
        strings(&train, "id"),
        [Some("u1".into()), Some("u2".into())]
    );
    assert_eq!(strings(&train, "text_b"), [Some("Yes.".into()), None]);
    assert_eq!(
        train.column_by_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(strings(&train, "source")[1].as_deref(), Some("forum"));
    // One schema for every split: test's integers follow train's floats.
    let test = split(dir.path(), "test");
    assert_eq!(
        test.column_by_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert!(test.column_by_name("score").unwrap().is_null(0));
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.labels, ["entail", "neutral"]);
}

#[test]
fn jsonl_and_separator_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = seq_files(
        tmp.path(),
        "jsonl",
        "{\"text\": \"good film\", \"label\": 1}\n{\"text\": \"bad film\", \"label\": 0}\n",
        "{\"text\": \"fine\", \"label\": 1}\n",
        "{\"text\": \"meh\", \"label\": 0}\n",
    );
    p["format"] = json!("jsonl");
    let (dir, _) = run_ok(p);
    assert_eq!(
        strings(&split(dir.path(), "train"), "label"),
        [Some("1".into()), Some("0".into())]
    );

    let mut p = seq_files(tmp.path(), "txt", "a@b@pos\nc@neg\n", "d@pos\n", "e@neg\n");
    p["format"] = json!("separator");
    p["sep"] = json!("@");
    let (dir, _) = run_ok(p);
    assert_eq!(
        strings(&split(dir.path(), "train"), "text"),
        [Some("a@b".into()), Some("c".into())]
    );
}

#[test]
fn parquet_tables_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, texts: Vec<&str>, labels: Vec<&str>| {
        let n = texts.len() as i64;
        let batch = arrow::record_batch::RecordBatch::try_from_iter([
            ("text", Arc::new(StringArray::from(texts)) as ArrayRef),
            ("label", Arc::new(StringArray::from(labels)) as ArrayRef),
            (
                "year",
                Arc::new(Int64Array::from(
                    (0..n).map(|i| 2000 + i).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
        ])
        .unwrap();
        let path = tmp.path().join(name);
        let f = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        path
    };
    let p = json!({
        "task": "sequence", "format": "parquet",
        "train": write("train.parquet", vec!["a", "b"], vec!["x", "y"]),
        "dev": write("dev.parquet", vec!["c"], vec!["x"]),
        "test": write("test.parquet", vec!["d"], vec!["y"]),
    });
    let (dir, s) = run_ok(p);
    assert_eq!(s.rows["train.parquet"], 2);
    let train = split(dir.path(), "train");
    assert_eq!(
        train.column_by_name("year").unwrap().data_type(),
        &DataType::Int64
    );
}

#[test]
fn encodings_bom_and_crlf() {
    let tmp = tempfile::tempdir().unwrap();
    let mk = |enc: &str, bytes: &[u8]| {
        let mut p = seq_files(
            tmp.path(),
            "csv",
            "",
            "text,label\nd,x\n",
            "text,label\ne,y\n",
        );
        p["format"] = json!("csv");
        p["train"] = json!(file(tmp.path(), "train.csv", bytes));
        p["encoding"] = json!(enc);
        p
    };
    let body = b"text,label\r\ncaf\xE9 \x93ok\x94,x\r\n";
    let (dir, _) = run_ok(mk("windows-1252", body));
    assert_eq!(
        strings(&split(dir.path(), "train"), "text")[0].as_deref(),
        Some("café \u{201C}ok\u{201D}")
    );
    let (dir, _) = run_ok(mk("latin1", body));
    // Latin-1 maps 0x93 to a C1 control character, which cleaning removes.
    assert_eq!(
        strings(&split(dir.path(), "train"), "text")[0].as_deref(),
        Some("café ok")
    );
    let (dir, s) = run_ok(mk("auto", body));
    assert_eq!(s.metrics["counters"]["files_decoded_as_windows_1252"], 1);
    assert_eq!(
        strings(&split(dir.path(), "train"), "text")[0].as_deref(),
        Some("café \u{201C}ok\u{201D}")
    );
    let (dir, s) = run_ok(mk(
        "utf-8",
        "\u{FEFF}text,label\r\nna\u{0308}ive  text ,x\r\n".as_bytes(),
    ));
    assert!(
        s.metrics["counters"]
            .get("files_decoded_as_windows_1252")
            .is_none()
    );
    assert_eq!(
        strings(&split(dir.path(), "train"), "text")[0].as_deref(),
        Some("näive text")
    );
}

#[test]
fn duplicates_conflicts_and_leakage() {
    let tmp = tempfile::tempdir().unwrap();
    let train =
        "text,label\nsame,a\n  same ,a\nclash,a\nclash,b\nclash,a\ntie,a\ntie,b\nleak,a\nonly,b\n";
    let p = |policy: &str, leakage: bool| {
        let mut p = seq_files(
            tmp.path(),
            "csv",
            train,
            "text,label\nleak,a\nz,b\n",
            "text,label\nq,a\n",
        );
        p["format"] = json!("csv");
        p["conflict_policy"] = json!(policy);
        p["remove_leakage"] = json!(leakage);
        p
    };
    let (dir, s) = run_ok(p("keep_majority", false));
    // same x2 -> 1 duplicate; clash: a wins 2:1 (1 duplicate, 1 reject); tie: both rejected.
    assert_eq!(accounting(&s, "train"), [9, 4, 3, 2]);
    let texts: Vec<_> = strings(&split(dir.path(), "train"), "text")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(texts, ["same", "clash", "leak", "only"]);
    assert_eq!(s.metrics["conflicts"]["groups"]["train"], 2);
    assert_eq!(s.metrics["leakage"]["train_texts_in_dev_or_test"], 1);
    let r = rejects(dir.path());
    assert_eq!(r.iter().filter(|x| x.0 == "label_conflict").count(), 3);
    assert_eq!(
        r.iter().find(|x| x.1 == 5).map(|x| x.0.as_str()),
        Some("label_conflict")
    );

    let (_, s) = run_ok(p("keep_first", true));
    // clash: first (a) wins: 1 duplicate + 1 reject; tie: a wins, b rejected; leak removed.
    assert_eq!(accounting(&s, "train"), [9, 4, 3, 2]);
    assert_eq!(s.metrics["leakage"]["removed"], 1);

    let (_, s) = run_ok(p("drop", false));
    assert_eq!(accounting(&s, "train"), [9, 3, 5, 1]);

    let mut off = p("drop", false);
    off["dedup"] = json!(false);
    let (_, s) = run_ok(off);
    assert_eq!(accounting(&s, "train"), [9, 9, 0, 0]);
    assert_eq!(s.metrics["duplicates_found"]["train"], 1);
    assert_eq!(s.metrics["conflicts"]["losing_copies_found"]["train"], 5);
}

#[test]
fn iobes_documents_and_grouped_split() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for d in 0..20 {
        text += "-DOCSTART- -X- O\n\n";
        for s in 0..3 {
            text += &format!("Ann{d}{s} S-PER\nlives O\nin O\nNew B-LOC\nYork E-LOC\n\n");
        }
    }
    let p = json!({
        "task": "token",
        "file": file(tmp.path(), "docs.conll", &text),
        "split": {"train": 0.6, "dev": 0.2, "test": 0.2, "seed": 7},
    });
    let (dir, s) = run_ok(p);
    assert_eq!(s.metrics["tag_scheme"], "iobes");
    assert_eq!(accounting(&s, "all"), [60, 60, 0, 0]);
    let labels = flowcore::LabelMap::read(&dir.path().join("labels.json")).unwrap();
    assert_eq!(labels.labels, ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]);
    let mut docs_by_split = Vec::new();
    for name in ["train", "dev", "test"] {
        let b = split(dir.path(), name);
        assert_eq!(lists(&b, "tags")[0], ["B-PER", "O", "O", "B-LOC", "I-LOC"]);
        let docs: std::collections::BTreeSet<_> =
            strings(&b, "doc_id").into_iter().flatten().collect();
        assert_eq!(b.num_rows(), docs.len() * 3, "{name}: whole documents only");
        docs_by_split.push(docs);
    }
    assert_eq!(
        [
            docs_by_split[0].len(),
            docs_by_split[1].len(),
            docs_by_split[2].len()
        ],
        [12, 4, 4]
    );
    assert!(docs_by_split[0].is_disjoint(&docs_by_split[1]));
}

#[test]
fn nfkc_and_rejects_file_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = seq_files(
        tmp.path(),
        "csv",
        "text,label\nｆｕｌｌ\u{200B}width,a\n\u{200B},a\n",
        "text,label\nd,a\n",
        "text,label\ne,a\n",
    );
    p["format"] = json!("csv");
    p["normalize"] = json!("nfkc");
    let (dir, s) = run_ok(p);
    assert_eq!(
        strings(&split(dir.path(), "train"), "text")[0].as_deref(),
        Some("fullwidth")
    );
    assert_eq!(accounting(&s, "train"), [2, 1, 1, 0]);
    let b = read_parquet(&dir.path().join("rejects.parquet"));
    let names: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["source", "line", "reason", "detail", "raw", "pool"]);
    assert_eq!(strings(&b, "reason")[0].as_deref(), Some("empty"));
    assert!(
        strings(&b, "source")[0]
            .as_deref()
            .unwrap()
            .ends_with("train.csv")
    );
}
