//! Every "bad input" case of the issue: a clear error naming file, line and expectation, or a
//! counted reject with a reason; never a panic, never a silent drop.

use serde_json::json;

use crate::util::{accounting, file, rejects, run, run_ok};

/// CoNLL params over three files in `dir` (dev/test are small valid files).
fn conll(dir: &std::path::Path, train: impl AsRef<[u8]>) -> serde_json::Value {
    json!({
        "task": "token",
        "train": file(dir, "train.conll", train),
        "dev": file(dir, "dev.conll", "a\tO\n"),
        "test": file(dir, "test.conll", "b\tO\n"),
    })
}

fn csv(dir: &std::path::Path, content: &str) -> serde_json::Value {
    json!({
        "task": "sequence",
        "format": "csv",
        "file": file(dir, "data.csv", content),
        "split": {"train": 1.0, "dev": 0.0, "test": 0.0},
    })
}

#[test]
fn ragged_rows_are_counted_rejects_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, s) = run_ok(csv(
        tmp.path(),
        "text,label\nfine,a\ntoo,many,fields\nshort\nalso fine,b\n",
    ));
    let r = rejects(dir.path());
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].0.as_str(), r[0].1), ("ragged_row", 3));
    assert!(
        r[0].2.contains("expected 2 field(s), found 3"),
        "{}",
        r[0].2
    );
    assert_eq!((r[1].0.as_str(), r[1].1), ("ragged_row", 4));
    assert_eq!(accounting(&s, "all"), [4, 2, 2, 0]);

    let (dir, s) = run_ok(conll(tmp.path(), "a O\nb O\n\nc O extra\nd O\n\ne O\n"));
    let r = rejects(dir.path());
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0.as_str(), r[0].1), ("ragged_row", 4));
    assert!(
        r[0].2.contains("line 4: expected 2 column(s)"),
        "{}",
        r[0].2
    );
    assert_eq!(accounting(&s, "train"), [3, 2, 1, 0]);
}

#[test]
fn missing_labels_are_rejects() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, s) = run_ok(csv(tmp.path(), "text,label\nhas one,a\nhas none,\nok,b\n"));
    let r = rejects(dir.path());
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0.as_str(), r[0].1), ("missing_label", 3));
    assert_eq!(accounting(&s, "all"), [3, 2, 1, 0]);

    let (dir, _) = run_ok(conll(tmp.path(), "a\tO\nb\t\n\nc\tO\n"));
    let r = rejects(dir.path());
    assert_eq!((r[0].0.as_str(), r[0].1), ("missing_label", 1));
    assert!(
        r[0].2.contains("line 2: the tag column is empty"),
        "{}",
        r[0].2
    );
}

#[test]
fn unknown_tags_and_labels_are_rejects_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, s) = run_ok(conll(tmp.path(), "a\tO\n\nb\tO\nc\tB_PER\n\nd\tB-PER\n"));
    let r = rejects(dir.path());
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].0.as_str(), r[0].1), ("unknown_label", 3));
    assert!(r[0].2.contains("line 4: tag `B_PER`"), "{}", r[0].2);
    assert_eq!(accounting(&s, "train"), [3, 2, 1, 0]);

    // A label outside the allowed set.
    let mut p = csv(tmp.path(), "text,label\nx,pos\ny,neutral\nz,neg\n");
    p["labels"] = json!(["pos", "neg"]);
    let (dir, _) = run_ok(p);
    let r = rejects(dir.path());
    assert_eq!((r[0].0.as_str(), r[0].1), ("unknown_label", 3));
    // A label outside the label map.
    let mut p = csv(tmp.path(), "text,label\nx,1\ny,3\n");
    p["label_map"] = json!({"1": "good", "2": "bad"});
    let (dir, _) = run_ok(p);
    let r = rejects(dir.path());
    assert!(
        r[0].2.contains("label `3` is not in label_map"),
        "{}",
        r[0].2
    );
}

#[test]
fn invalid_utf8_is_an_error_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, result) = run(conll(tmp.path(), b"a\tO\n\nb\xE9\tO\n"));
    let err = result.unwrap_err();
    assert!(
        err.contains("train.conll:3: invalid UTF-8 at byte 2"),
        "{err}"
    );
    assert!(err.contains("windows-1252"), "{err}");
}

#[test]
fn empty_files_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, result) = run(conll(tmp.path(), ""));
    let err = result.unwrap_err();
    assert!(
        err.contains("train.conll: the file holds no token lines"),
        "{err}"
    );
    let (_, result) = run(csv(tmp.path(), ""));
    let err = result.unwrap_err();
    assert!(err.contains("data.csv: the file is empty"), "{err}");
    let (_, result) = run(csv(tmp.path(), "text,label\n"));
    let err = result.unwrap_err();
    assert!(
        err.contains("data.csv: the file holds a header but no rows"),
        "{err}"
    );
}

#[test]
fn a_ten_megabyte_line_is_a_reject() {
    let tmp = tempfile::tempdir().unwrap();
    let huge = "x".repeat(10 << 20);
    let (dir, s) = run_ok(csv(
        tmp.path(),
        &format!("text,label\nok,a\n{huge},b\nfine,b\n"),
    ));
    let r = rejects(dir.path());
    assert_eq!((r[0].0.as_str(), r[0].1), ("line_too_long", 3));
    assert!(r[0].2.contains("10485762 bytes"), "{}", r[0].2);
    assert_eq!(accounting(&s, "all"), [3, 2, 1, 0]);
    // The raw text kept in the rejects is shortened.
    let size = std::fs::metadata(dir.path().join("rejects.parquet"))
        .unwrap()
        .len();
    assert!(size < 100_000, "rejects.parquet is {size} bytes");

    let (dir, _) = run_ok(conll(tmp.path(), format!("a O\n\n{huge} O\n\nb O\n")));
    let r = rejects(dir.path());
    assert_eq!((r[0].0.as_str(), r[0].1), ("line_too_long", 3));
}

#[test]
fn a_missing_tag_or_label_column_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = conll(tmp.path(), "a\tO\n");
    p["tag_column"] = json!(2);
    let err = run(p).1.unwrap_err();
    assert!(
        err.contains(
            "train.conll:1: the line has 2 column(s) but token_column = 0 and tag_column = 2"
        ),
        "{err}"
    );

    let mut p = csv(tmp.path(), "text,label\nx,y\n");
    p["label_column"] = json!("sentiment");
    let err = run(p).1.unwrap_err();
    assert!(err.contains("data.csv: column `sentiment` (param `label_column`) does not exist; the file has: `text`, `label`"), "{err}");
}

#[test]
fn unterminated_quotes_and_invalid_json_lines_are_rejects() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = run_ok(csv(tmp.path(), "text,label\nok,a\n\"never closed,b\nx,c\n"));
    let r = rejects(dir.path());
    assert_eq!((r[0].0.as_str(), r[0].1), ("unterminated_quote", 3));

    let p = json!({
        "task": "sequence", "format": "jsonl",
        "file": file(tmp.path(), "d.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{oops\n[1]\n"),
        "split": {"train": 1.0, "dev": 0.0, "test": 0.0},
    });
    let (dir, s) = run_ok(p);
    let r = rejects(dir.path());
    assert_eq!(
        r.iter().map(|x| (x.0.as_str(), x.1)).collect::<Vec<_>>(),
        [("invalid_json", 2), ("invalid_json", 3)]
    );
    assert_eq!(accounting(&s, "all"), [3, 1, 2, 0]);
}
