//! The predictions file shared by evaluate and baseline (writers) and reflect (reader).
//!
//! One Parquet file per split (`predictions-<split>.parquet`, zstd), one row per word for
//! token tasks and one row per example for sequence tasks. Columns, named by
//! [`flowcore::schema::predictions`]:
//!
//! | column  | Arrow type            | null when                                  |
//! |---------|-----------------------|--------------------------------------------|
//! | `id`    | utf8                  | never                                      |
//! | `word`  | u32                   | sequence tasks (always), never for tokens  |
//! | `token` | utf8                  | the writer does not know the word / text   |
//! | `gold`  | utf8                  | never                                      |
//! | `pred`  | utf8                  | never                                      |
//! | `probs` | list<f32>             | the model gives no probabilities           |
//!
//! Multi-label tasks: one row per example; `gold` and `pred` hold label *sets*, the names in
//! label order joined by [`SET_SEPARATOR`] (`""` is the empty set), and `probs` the sigmoid
//! probability of each label (they do not sum to 1).
//!
//! `probs` holds one probability per label in `labels.json` order. The task kind and the label
//! list travel in the Parquet key-value metadata (`metrics.task`, `metrics.labels`), so a
//! reader needs no other file to interpret the probabilities.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float32Builder, ListBuilder, RecordBatch, StringArray, StringBuilder,
    UInt32Array, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Metadata, Schema};
use flowcore::schema::predictions as col;
use flowcore::{LabelMap, TaskKind};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{MetricsError, Result};

/// Parquet metadata key holding the task kind (`token` / `sequence`).
pub const META_TASK: &str = "metrics.task";
/// Parquet metadata key holding the label list as a JSON array of strings.
pub const META_LABELS: &str = "metrics.labels";
/// Parquet metadata key holding the version of this file format.
pub const META_VERSION: &str = "metrics.predictions_version";
/// Version of the predictions format written by this build.
pub const FORMAT_VERSION: &str = "1";

/// Joins the label names of a multi-label set in `gold` / `pred`.
pub const SET_SEPARATOR: char = '|';

/// The `gold` / `pred` value of a multi-label row: the labels whose indicator is set, in
/// label order, joined by [`SET_SEPARATOR`].
pub fn join_set(labels: &[String], indicators: &[bool]) -> String {
    let mut out = String::new();
    for (name, _) in labels.iter().zip(indicators).filter(|(_, on)| **on) {
        if !out.is_empty() {
            out.push(SET_SEPARATOR);
        }
        out.push_str(name);
    }
    out
}

/// The items of a multi-label `gold` / `pred` value (none for `""`).
pub fn split_set(value: &str) -> impl Iterator<Item = &str> {
    value.split(SET_SEPARATOR).filter(|s| !s.is_empty())
}

/// Rows per record batch / row group written.
const BATCH_ROWS: usize = 65_536;

/// One prediction: a word of a sentence (token task) or one example (sequence task).
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    /// Example id.
    pub id: String,
    /// Word index inside the example; `Some` for token tasks, `None` for sequence tasks.
    pub word: Option<u32>,
    /// The word itself (token tasks) or nothing.
    pub token: Option<String>,
    /// Gold label.
    pub gold: String,
    /// Predicted label.
    pub pred: String,
    /// Probability of every label, in label order; `None` when the model gives none.
    pub probs: Option<Vec<f32>>,
}

/// The predictions of one split, with the task kind and the label order they refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Token or sequence task.
    pub task: TaskKind,
    /// Label names in `labels.json` order; `probs` follow this order.
    pub labels: Vec<String>,
    /// The rows, in file order.
    pub rows: Vec<PredictionRow>,
}

/// One sentence regrouped from token-task rows, words in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence<'a> {
    /// Example id.
    pub id: &'a str,
    /// Gold tag of every word.
    pub gold: Vec<&'a str>,
    /// Predicted tag of every word.
    pub pred: Vec<&'a str>,
}

impl Predictions {
    /// Empty predictions for a task and label list.
    pub fn new(task: TaskKind, labels: Vec<String>) -> Self {
        Self {
            task,
            labels,
            rows: Vec::new(),
        }
    }

    /// Empty predictions for a label map.
    pub fn for_labels(map: &LabelMap) -> Self {
        Self::new(map.task, map.labels.clone())
    }

    /// The label map these predictions refer to.
    pub fn label_map(&self) -> LabelMap {
        LabelMap::new(self.task, self.labels.clone())
    }

    /// Whether every row carries a probability vector.
    pub fn has_probs(&self) -> bool {
        !self.rows.is_empty() && self.rows.iter().all(|r| r.probs.is_some())
    }

    /// Gold labels of every row, in order.
    pub fn gold(&self) -> Vec<&str> {
        self.rows.iter().map(|r| r.gold.as_str()).collect()
    }

    /// Predicted labels of every row, in order.
    pub fn pred(&self) -> Vec<&str> {
        self.rows.iter().map(|r| r.pred.as_str()).collect()
    }

    /// Checks the rules of the format: word set exactly for token tasks, labels known,
    /// probability vectors as long as the label list. `place` names the file or source
    /// in the error.
    pub fn validate(&self, place: &str) -> Result<()> {
        let invalid = |row: usize, message: String| MetricsError::Invalid {
            place: format!("{place}, row {row}"),
            message,
        };
        if self.labels.is_empty() {
            return Err(MetricsError::Invalid {
                place: place.to_owned(),
                message: "the label list is empty".into(),
            });
        }
        let known: std::collections::HashSet<&str> =
            self.labels.iter().map(String::as_str).collect();
        if known.len() != self.labels.len() {
            return Err(MetricsError::Invalid {
                place: place.to_owned(),
                message: format!("the label list has duplicates: {:?}", self.labels),
            });
        }
        if self.task == TaskKind::Multilabel
            && let Some(l) = self.labels.iter().find(|l| l.contains(SET_SEPARATOR))
        {
            return Err(MetricsError::Invalid {
                place: place.to_owned(),
                message: format!(
                    "label `{l}` contains `{SET_SEPARATOR}`, which joins the labels of a multi-label set"
                ),
            });
        }
        for (i, row) in self.rows.iter().enumerate() {
            match (self.task, row.word) {
                (TaskKind::Token, None) => {
                    return Err(invalid(i, "`word` is null in a token task".into()));
                }
                (task @ (TaskKind::Sequence | TaskKind::Multilabel), Some(w)) => {
                    return Err(invalid(
                        i,
                        format!("`word` is {w} in a {task} task (must be null)"),
                    ));
                }
                _ => {}
            }
            for (name, value) in [("gold", &row.gold), ("pred", &row.pred)] {
                if self.task == TaskKind::Multilabel {
                    if let Some(item) = split_set(value).find(|l| !known.contains(l)) {
                        return Err(invalid(
                            i,
                            format!(
                                "`{name}` label `{item}` (of the set `{value}`) is not in the label list {:?}",
                                self.labels
                            ),
                        ));
                    }
                } else if !known.contains(value.as_str()) {
                    return Err(invalid(
                        i,
                        format!(
                            "`{name}` label `{value}` is not in the label list {:?}",
                            self.labels
                        ),
                    ));
                }
            }
            if let Some(p) = &row.probs
                && p.len() != self.labels.len()
            {
                return Err(invalid(
                    i,
                    format!(
                        "`probs` has {} values, expected one per label ({})",
                        p.len(),
                        self.labels.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Multi-label task: the indicator rows of `gold` (or of `pred` when `gold` is false);
    /// an item outside the label list is an error naming the row.
    pub fn indicators(&self, gold: bool) -> Result<Vec<Vec<bool>>> {
        let index: HashMap<&str, usize> = self
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        self.rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let value = if gold { &row.gold } else { &row.pred };
                let mut on = vec![false; self.labels.len()];
                for item in split_set(value) {
                    let j = index.get(item).ok_or_else(|| {
                        MetricsError::Input(format!(
                            "row {i} (id `{}`): label `{item}` is not in the label list {:?}",
                            row.id, self.labels
                        ))
                    })?;
                    on[*j] = true;
                }
                Ok(on)
            })
            .collect()
    }

    /// Token task: regroups word rows into sentences, in order of first appearance of each
    /// id, words sorted by index. Fails when an id's word indices are not exactly `0..n`.
    pub fn sentences(&self) -> Result<Vec<Sentence<'_>>> {
        if self.task != TaskKind::Token {
            return Err(MetricsError::Input(
                "sentences exist only in token-task predictions".into(),
            ));
        }
        let mut order: Vec<&str> = Vec::new();
        let mut groups: HashMap<&str, Vec<(u32, usize)>> = HashMap::new();
        for (i, row) in self.rows.iter().enumerate() {
            let word = row.word.ok_or_else(|| MetricsError::Invalid {
                place: format!("predictions row {i}"),
                message: "`word` is null in a token task".into(),
            })?;
            let entry = groups.entry(row.id.as_str()).or_insert_with(|| {
                order.push(row.id.as_str());
                Vec::new()
            });
            entry.push((word, i));
        }
        let mut out = Vec::with_capacity(order.len());
        for id in order {
            let mut words = groups.remove(id).unwrap_or_default();
            words.sort_unstable();
            for (expected, (word, _)) in words.iter().enumerate() {
                if *word as usize != expected {
                    return Err(MetricsError::Invalid {
                        place: format!("example `{id}`"),
                        message: format!(
                            "word indices must be 0..{} without gaps or repeats; found {word} where {expected} was expected",
                            words.len()
                        ),
                    });
                }
            }
            out.push(Sentence {
                id,
                gold: words
                    .iter()
                    .map(|&(_, i)| self.rows[i].gold.as_str())
                    .collect(),
                pred: words
                    .iter()
                    .map(|&(_, i)| self.rows[i].pred.as_str())
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Writes the predictions as zstd-compressed Parquet after [`Self::validate`].
    pub fn write(&self, path: &Path) -> Result<()> {
        self.validate(&path.display().to_string())?;
        let labels_json =
            serde_json::to_string(&self.labels).map_err(|e| MetricsError::Invalid {
                place: path.display().to_string(),
                message: format!("labels do not serialise: {e}"),
            })?;
        let metadata = HashMap::from([
            (META_TASK.to_owned(), self.task.to_string()),
            (META_LABELS.to_owned(), labels_json),
            (META_VERSION.to_owned(), FORMAT_VERSION.to_owned()),
        ]);
        let schema = Arc::new(Schema::new_with_metadata(schema_fields(), metadata));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let parquet_err = |source| MetricsError::Parquet {
            path: path.to_path_buf(),
            action: "writing predictions",
            source,
        };
        let file = fs_err::File::create(path)?;
        let mut writer =
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(parquet_err)?;
        // An empty split still gets a file with the schema, so readers need no special case.
        for chunk in self.rows.chunks(BATCH_ROWS) {
            let batch = to_batch(schema.clone(), chunk).map_err(|source| MetricsError::Arrow {
                path: path.to_path_buf(),
                action: "building a record batch".into(),
                source,
            })?;
            writer.write(&batch).map_err(parquet_err)?;
        }
        writer.close().map_err(parquet_err)?;
        Ok(())
    }

    /// Reads a predictions file written by [`Self::write`], checking every column's
    /// presence and type and every row against [`Self::validate`].
    pub fn read(path: &Path) -> Result<Self> {
        let parquet_err = |source| MetricsError::Parquet {
            path: path.to_path_buf(),
            action: "reading predictions",
            source,
        };
        let file = fs_err::File::open(path)?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file.into_file()).map_err(parquet_err)?;
        let schema = builder.schema().clone();
        let (task, labels) = read_metadata(path, schema.metadata())?;
        for (name, check) in COLUMN_CHECKS {
            let field = schema
                .field_with_name(name)
                .map_err(|_| MetricsError::Column {
                    path: path.to_path_buf(),
                    column: name.to_owned(),
                    problem: format!(
                        "missing (columns present: {})",
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            if let Err(expected) = check(field.data_type()) {
                return Err(MetricsError::Column {
                    path: path.to_path_buf(),
                    column: name.to_owned(),
                    problem: format!("expected {expected}, found {}", field.data_type()),
                });
            }
        }
        let reader = builder.build().map_err(parquet_err)?;
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|source| MetricsError::Arrow {
                path: path.to_path_buf(),
                action: "reading a record batch".into(),
                source,
            })?;
            append_rows(path, &batch, rows.len(), &mut rows)?;
        }
        let out = Self { task, labels, rows };
        out.validate(&path.display().to_string())?;
        Ok(out)
    }
}

/// The Arrow fields of the predictions schema, in column order.
fn schema_fields() -> Vec<Field> {
    vec![
        Field::new(col::ID, DataType::Utf8, false),
        Field::new(col::WORD, DataType::UInt32, true),
        Field::new(col::TOKEN, DataType::Utf8, true),
        Field::new(col::GOLD, DataType::Utf8, false),
        Field::new(col::PRED, DataType::Utf8, false),
        Field::new(
            col::PROBS,
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            true,
        ),
    ]
}

/// Type check of one column: `Err` carries the expected type in words.
type ColumnCheck = fn(&DataType) -> std::result::Result<(), &'static str>;

fn is_string(t: &DataType) -> std::result::Result<(), &'static str> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(()),
        _ => Err("utf8"),
    }
}

fn is_u32(t: &DataType) -> std::result::Result<(), &'static str> {
    match t {
        DataType::UInt32 => Ok(()),
        _ => Err("u32"),
    }
}

fn is_f32_list(t: &DataType) -> std::result::Result<(), &'static str> {
    match t {
        DataType::List(f) | DataType::LargeList(f) if f.data_type() == &DataType::Float32 => Ok(()),
        _ => Err("list<f32>"),
    }
}

const COLUMN_CHECKS: [(&str, ColumnCheck); 6] = [
    (col::ID, is_string),
    (col::WORD, is_u32),
    (col::TOKEN, is_string),
    (col::GOLD, is_string),
    (col::PRED, is_string),
    (col::PROBS, is_f32_list),
];

fn read_metadata(path: &Path, meta: &Metadata) -> Result<(TaskKind, Vec<String>)> {
    let missing = |key: &str| MetricsError::Invalid {
        place: path.display().to_string(),
        message: format!(
            "Parquet metadata key `{key}` is missing: not a predictions file written by this tool"
        ),
    };
    let task_text = meta.get(META_TASK).ok_or_else(|| missing(META_TASK))?;
    let task = task_text
        .parse::<TaskKind>()
        .map_err(|e| MetricsError::Invalid {
            place: format!("{}, metadata `{META_TASK}`", path.display()),
            message: e.to_string(),
        })?;
    let labels_text = meta.get(META_LABELS).ok_or_else(|| missing(META_LABELS))?;
    let labels: Vec<String> =
        serde_json::from_str(labels_text).map_err(|e| MetricsError::Invalid {
            place: format!("{}, metadata `{META_LABELS}`", path.display()),
            message: format!("expected a JSON array of strings: {e}"),
        })?;
    if let Some(v) = meta.get(META_VERSION)
        && v != FORMAT_VERSION
    {
        return Err(MetricsError::Invalid {
            place: path.display().to_string(),
            message: format!(
                "predictions format version {v}, this tool reads version {FORMAT_VERSION}; re-run the stage"
            ),
        });
    }
    Ok((task, labels))
}

fn to_batch(
    schema: Arc<Schema>,
    rows: &[PredictionRow],
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let mut id = StringBuilder::new();
    let mut word = UInt32Builder::with_capacity(rows.len());
    let mut token = StringBuilder::new();
    let mut gold = StringBuilder::new();
    let mut pred = StringBuilder::new();
    let mut probs = ListBuilder::new(Float32Builder::new());
    for r in rows {
        id.append_value(&r.id);
        word.append_option(r.word);
        token.append_option(r.token.as_deref());
        gold.append_value(&r.gold);
        pred.append_value(&r.pred);
        match &r.probs {
            Some(p) => {
                probs.values().append_slice(p);
                probs.append(true);
            }
            None => probs.append(false),
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(word.finish()),
        Arc::new(token.finish()),
        Arc::new(gold.finish()),
        Arc::new(pred.finish()),
        Arc::new(probs.finish()),
    ];
    RecordBatch::try_new(schema, columns)
}

/// A string column of any Arrow string type, as `Utf8`.
fn string_column(path: &Path, batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| MetricsError::Column {
            path: path.to_path_buf(),
            column: name.to_owned(),
            problem: "missing".into(),
        })?;
    let cast =
        arrow::compute::cast(array, &DataType::Utf8).map_err(|source| MetricsError::Arrow {
            path: path.to_path_buf(),
            action: format!("reading column `{name}`"),
            source,
        })?;
    Ok(cast.as_string::<i32>().clone())
}

fn append_rows(
    path: &Path,
    batch: &RecordBatch,
    first_row: usize,
    rows: &mut Vec<PredictionRow>,
) -> Result<()> {
    let null_in = |column: &str, i: usize| MetricsError::Invalid {
        place: format!("{}, row {}", path.display(), first_row + i),
        message: format!("`{column}` is null"),
    };
    let id = string_column(path, batch, col::ID)?;
    let token = string_column(path, batch, col::TOKEN)?;
    let gold = string_column(path, batch, col::GOLD)?;
    let pred = string_column(path, batch, col::PRED)?;
    let word = batch
        .column_by_name(col::WORD)
        .and_then(|a| a.as_any().downcast_ref::<UInt32Array>())
        .ok_or_else(|| MetricsError::Column {
            path: path.to_path_buf(),
            column: col::WORD.to_owned(),
            problem: "expected u32".into(),
        })?;
    let probs_any = batch
        .column_by_name(col::PROBS)
        .ok_or_else(|| MetricsError::Column {
            path: path.to_path_buf(),
            column: col::PROBS.to_owned(),
            problem: "missing".into(),
        })?;
    let probs_list = arrow::compute::cast(
        probs_any,
        &DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
    )
    .map_err(|source| MetricsError::Arrow {
        path: path.to_path_buf(),
        action: format!("reading column `{}`", col::PROBS),
        source,
    })?;
    let probs = probs_list.as_list::<i32>();
    rows.reserve(batch.num_rows());
    for i in 0..batch.num_rows() {
        for (name, array) in [(col::ID, &id), (col::GOLD, &gold), (col::PRED, &pred)] {
            if array.is_null(i) {
                return Err(null_in(name, i));
            }
        }
        let p = if probs.is_null(i) {
            None
        } else {
            let values = probs.value(i);
            let values = values.as_primitive::<arrow::datatypes::Float32Type>();
            if values.null_count() > 0 {
                return Err(MetricsError::Invalid {
                    place: format!("{}, row {}", path.display(), first_row + i),
                    message: format!("`{}` holds a null probability", col::PROBS),
                });
            }
            Some(values.values().to_vec())
        };
        rows.push(PredictionRow {
            id: id.value(i).to_owned(),
            word: (!word.is_null(i)).then(|| word.value(i)),
            token: (!token.is_null(i)).then(|| token.value(i).to_owned()),
            gold: gold.value(i).to_owned(),
            pred: pred.value(i).to_owned(),
            probs: p,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_preds() -> Predictions {
        let labels = vec!["O".to_owned(), "B-PER".to_owned(), "I-PER".to_owned()];
        let mut p = Predictions::new(TaskKind::Token, labels);
        // Sentence `s2` arrives with its words out of order and interleaved with `s1`.
        for (id, word, gold, pred) in [
            ("s1", 0, "B-PER", "B-PER"),
            ("s2", 1, "O", "B-PER"),
            ("s1", 1, "I-PER", "O"),
            ("s2", 0, "O", "O"),
        ] {
            p.rows.push(PredictionRow {
                id: id.into(),
                word: Some(word),
                token: Some(format!("w{word}")),
                gold: gold.into(),
                pred: pred.into(),
                probs: Some(vec![0.25, 0.5, 0.25]),
            });
        }
        p
    }

    #[test]
    fn token_predictions_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let p = token_preds();
        p.write(&path).unwrap();
        assert_eq!(Predictions::read(&path).unwrap(), p);
    }

    #[test]
    fn sequence_predictions_round_trip_without_probs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let mut p = Predictions::new(TaskKind::Sequence, vec!["good".into(), "bad".into()]);
        p.rows.push(PredictionRow {
            id: "a".into(),
            word: None,
            token: None,
            gold: "bad".into(),
            pred: "good".into(),
            probs: None,
        });
        p.write(&path).unwrap();
        let back = Predictions::read(&path).unwrap();
        assert_eq!(back, p);
        assert!(!back.has_probs());
    }

    #[test]
    fn empty_predictions_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.parquet");
        let p = Predictions::new(TaskKind::Sequence, vec!["x".into()]);
        p.write(&path).unwrap();
        assert_eq!(Predictions::read(&path).unwrap(), p);
    }

    #[test]
    fn sentences_are_regrouped_in_order() {
        let p = token_preds();
        let s = p.sentences().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].id, "s1");
        assert_eq!(s[0].gold, ["B-PER", "I-PER"]);
        assert_eq!(s[0].pred, ["B-PER", "O"]);
        assert_eq!(s[1].id, "s2");
        assert_eq!(s[1].gold, ["O", "O"]);
        assert_eq!(s[1].pred, ["O", "B-PER"]);
    }

    #[test]
    fn word_gaps_are_rejected() {
        let mut p = token_preds();
        p.rows[2].word = Some(2);
        let err = p.sentences().unwrap_err().to_string();
        assert!(err.contains("example `s1`"), "{err}");
    }

    #[test]
    fn validation_names_the_row_and_problem() {
        let mut p = token_preds();
        p.rows[1].pred = "B-LOC".into();
        let err = p.validate("x.parquet").unwrap_err().to_string();
        assert!(err.contains("x.parquet, row 1"), "{err}");
        assert!(err.contains("`B-LOC`"), "{err}");
        let mut p = token_preds();
        p.rows[3].probs = Some(vec![1.0]);
        let err = p.validate("x.parquet").unwrap_err().to_string();
        assert!(err.contains("row 3") && err.contains("1 values"), "{err}");
        let mut p = token_preds();
        p.rows[0].word = None;
        assert!(p.validate("x").unwrap_err().to_string().contains("null"));
    }

    #[test]
    fn missing_and_ill_typed_columns_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, fields: Vec<Field>, columns: Vec<ArrayRef>| {
            let path = dir.path().join(name);
            let meta = HashMap::from([
                (META_TASK.to_owned(), "sequence".to_owned()),
                (META_LABELS.to_owned(), r#"["a","b"]"#.to_owned()),
            ]);
            let schema = Arc::new(Schema::new_with_metadata(fields, meta));
            let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
            let file = std::fs::File::create(&path).unwrap();
            let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            path
        };
        let s = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        let mut fields = schema_fields();
        fields.remove(5);
        let cols: Vec<ArrayRef> = vec![
            s("1"),
            Arc::new(UInt32Array::from(vec![None::<u32>])),
            s("t"),
            s("a"),
            s("b"),
        ];
        let path = write("missing.parquet", fields, cols.clone());
        let err = Predictions::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("missing.parquet") && err.contains("column `probs`: missing"),
            "{err}"
        );

        let mut fields = schema_fields();
        fields[5] = Field::new(col::PROBS, DataType::Utf8, true);
        let mut cols2 = cols;
        cols2.push(s("oops"));
        let path = write("typed.parquet", fields, cols2);
        let err = Predictions::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("typed.parquet")
                && err.contains("column `probs`: expected list<f32>, found Utf8"),
            "{err}"
        );
    }
}
