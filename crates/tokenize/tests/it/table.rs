//! Parquet: window tables round-trip; ingest tables read the same with list and large_list.

use std::sync::Arc;

use arrow::array::{ListArray, RecordBatch, StringArray, StringViewArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema};
use flowcore::TaskKind;
use tokenize::table::{read_text_examples, read_token_examples};
use tokenize::{Window, read_split, read_windows, write_windows};

use crate::util::write_token_table;
use testkit::write_batch;

fn window(id: &str, k: u32, label: Option<i16>, labels: Vec<i16>) -> Window {
    Window {
        id: id.into(),
        window: k,
        first_word: 2 * k,
        centre_start: 2 * k + 1,
        centre_end: 2 * k + 2,
        input_ids: vec![101, 7592 + k, 102],
        type_ids: vec![0, 0, 0],
        word_ids: vec![-1, 2 * k as i32, -1],
        labels,
        label,
        label_set: None,
        length: 3,
    }
}

/// Multi-label windows keep their label sets, the empty set apart from no set at all.
#[test]
fn multilabel_windows_round_trip_with_empty_and_missing_sets() {
    let dir = tempfile::tempdir().unwrap();
    let sets = [Some(vec![0, 2]), Some(vec![]), None, Some(vec![6])];
    let windows: Vec<Window> = (0..4_000)
        .map(|i| Window {
            label_set: sets[i % 4].clone(),
            ..window(&format!("e{i}"), 0, None, Vec::new())
        })
        .collect();
    let path = dir.path().join("dev.parquet");
    write_windows(&path, &windows, TaskKind::Multilabel).unwrap();
    let back = read_windows(&path).unwrap();
    assert_eq!(back, windows);
    assert_eq!(back[1].label_set, Some(vec![]));
    assert_eq!(back[2].label_set, None);
}

#[test]
fn token_windows_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let windows: Vec<Window> = (0..20_000)
        .map(|i| {
            window(
                &format!("e{}", i / 3),
                i % 3,
                None,
                vec![-100, (i % 5) as i16, -100],
            )
        })
        .collect();
    write_windows(&dir.path().join("train.parquet"), &windows, TaskKind::Token).unwrap();
    assert_eq!(read_split(dir.path(), "train").unwrap(), windows);
}

#[test]
fn sequence_windows_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.parquet");
    let windows = vec![
        window("a", 0, Some(1), vec![]),
        window("b", 0, None, vec![]),
    ];
    write_windows(&path, &windows, TaskKind::Sequence).unwrap();
    assert_eq!(read_windows(&path).unwrap(), windows);
}

#[test]
fn ingest_tokens_read_the_same_from_list_and_large_list() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        ("s1", vec!["Hello", "Paris"], vec!["O", "B-LOC"]),
        ("s2", vec!["北", "京"], vec!["B-GPE", "I-GPE"]),
        ("s3", vec![], vec![]),
    ];
    let mut read = Vec::new();
    for large in [false, true] {
        let path = dir.path().join(format!("t{large}.parquet"));
        write_token_table(&path, &rows, large);
        read.push(read_token_examples(&path).unwrap());
    }
    assert_eq!(read[0], read[1]);
    assert_eq!(read[0].len(), 3);
    assert_eq!(read[0][1].words, vec!["北", "京"]);
    assert_eq!(
        read[0][1].tags.as_deref(),
        Some(&["B-GPE".to_string(), "I-GPE".to_string()][..])
    );
}

#[test]
fn ingest_text_reads_view_types_and_missing_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8View, false),
        Field::new("text", DataType::Utf8View, false),
        Field::new("label", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringViewArray::from(vec!["r1", "r2"])),
            Arc::new(StringViewArray::from(vec!["good loan", "bad loan"])),
            Arc::new(StringArray::from(vec![Some("good"), None])),
        ],
    )
    .unwrap();
    write_batch(&path, &batch).unwrap();
    let rows = read_text_examples(&path).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].text, "good loan");
    assert_eq!(rows[0].text_b, None);
    assert_eq!(rows[0].label.as_deref(), Some("good"));
    assert_eq!(rows[1].label, None);
}

#[test]
fn missing_column_and_null_items_name_file_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("words", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    )
    .unwrap();
    write_batch(&path, &batch).unwrap();
    let msg = read_token_examples(&path).unwrap_err().to_string();
    assert!(
        msg.contains("bad.parquet") && msg.contains("no column `tokens`") && msg.contains("words"),
        "{msg}"
    );

    let path = dir.path().join("null.parquet");
    let item = Arc::new(Field::new_list_field(DataType::Utf8, true));
    let tokens = ListArray::new(
        item.clone(),
        OffsetBuffer::from_lengths([1, 2]),
        Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
        None,
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("tokens", DataType::List(item), true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(tokens),
        ],
    )
    .unwrap();
    write_batch(&path, &batch).unwrap();
    let msg = read_token_examples(&path).unwrap_err().to_string();
    assert!(
        msg.contains("null.parquet") && msg.contains("row 1") && msg.contains("item 1"),
        "{msg}"
    );
}
