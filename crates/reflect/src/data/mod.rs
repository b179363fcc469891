//! Inputs of the report, read into one in-memory shape.
//!
//! Predictions (from evaluate or baseline, via [`metrics::predictions`]) become a [`Split`]:
//! examples with label ids and probability vectors, words regrouped into sentences for token
//! tasks. Ingest tables give the train vocabulary (for OOV slices), document ids (for the
//! document bootstrap), texts and metadata columns (for slices) through [`IngestTable`].
//!
//! Multi-label predictions keep several labels per example and are read by [`multilabel`]
//! instead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use flowcore::TaskKind;
use flowcore::schema::ingest as icol;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{ReflectError, Result};

pub mod multilabel;

/// One example: a sentence (token task, one label per word) or a text (sequence task, one
/// label).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Example id.
    pub id: String,
    /// Words of the sentence (token task); empty for sequence tasks without a text.
    pub words: Vec<String>,
    /// Word index of each item (token task; `0..n` for clean predictions, with gaps where a
    /// robustness probe dropped words); empty for sequence tasks.
    pub word_index: Vec<u32>,
    /// Gold label ids (one per word, or one).
    pub gold: Vec<usize>,
    /// Predicted label ids.
    pub pred: Vec<usize>,
    /// Probability vectors, parallel to `gold`; empty when the predictions have none.
    pub probs: Vec<Vec<f64>>,
}

/// The predictions of one split of one system.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Split name (`test`) or probe name.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Token or sequence task.
    pub task: TaskKind,
    /// Label names; ids index this list and the probability vectors.
    pub labels: Vec<String>,
    /// Examples in file order.
    pub examples: Vec<Example>,
    /// Whether every item carries a probability vector.
    pub has_probs: bool,
}

impl Split {
    /// Read a predictions file.
    pub fn read(name: &str, path: &Path) -> Result<Self> {
        let preds = metrics::Predictions::read(path).map_err(|source| ReflectError::Metrics {
            place: format!("reading predictions {}", path.display()),
            source,
        })?;
        Self::from_predictions(name, path, &preds)
    }

    /// Regroup the rows of a predictions table (rows of one example may be anywhere; words
    /// are ordered by index).
    pub fn from_predictions(name: &str, path: &Path, preds: &metrics::Predictions) -> Result<Self> {
        let place = |row: usize| format!("{}, row {row}", path.display());
        let index: HashMap<&str, usize> = preds
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        let id_of = |label: &str, row: usize| -> Result<usize> {
            index
                .get(label)
                .copied()
                .ok_or_else(|| ReflectError::Invalid {
                    place: place(row),
                    message: format!(
                        "label `{label}` is not in the label list ({})",
                        preds.labels.join(", ")
                    ),
                })
        };
        let has_probs = preds.has_probs();
        let mut order: Vec<&str> = Vec::new();
        let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, row) in preds.rows.iter().enumerate() {
            groups
                .entry(row.id.as_str())
                .or_insert_with(|| {
                    order.push(row.id.as_str());
                    Vec::new()
                })
                .push(i);
        }
        let mut examples = Vec::with_capacity(order.len());
        for id in order {
            let mut rows = groups.remove(id).unwrap_or_default();
            if preds.task == TaskKind::Sequence && rows.len() > 1 {
                return Err(ReflectError::Invalid {
                    place: place(rows[1]),
                    message: format!("example `{id}` appears more than once in a sequence task"),
                });
            }
            rows.sort_by_key(|&i| preds.rows[i].word.unwrap_or(0));
            let mut ex = Example {
                id: id.to_string(),
                words: Vec::new(),
                word_index: Vec::new(),
                gold: Vec::with_capacity(rows.len()),
                pred: Vec::with_capacity(rows.len()),
                probs: Vec::new(),
            };
            for &i in &rows {
                let row = &preds.rows[i];
                ex.gold.push(id_of(&row.gold, i)?);
                ex.pred.push(id_of(&row.pred, i)?);
                if preds.task == TaskKind::Token {
                    ex.words.push(row.token.clone().unwrap_or_default());
                    ex.word_index.push(row.word.unwrap_or(0));
                }
                if has_probs && let Some(p) = &row.probs {
                    ex.probs.push(p.iter().map(|&x| f64::from(x)).collect());
                }
            }
            examples.push(ex);
        }
        Ok(Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            task: preds.task,
            labels: preds.labels.clone(),
            examples,
            has_probs,
        })
    }

    /// Number of items (words for token tasks, examples for sequence tasks).
    pub fn items(&self) -> usize {
        self.examples.iter().map(|e| e.gold.len()).sum()
    }

    /// Label name of an id (`?` when out of range, which validated input never is).
    pub fn label(&self, id: usize) -> &str {
        self.labels.get(id).map_or("?", String::as_str)
    }

    /// Example positions by id.
    pub fn positions(&self) -> HashMap<&str, usize> {
        self.examples
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.as_str(), i))
            .collect()
    }
}

/// A column of an ingest table, as the report needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Strings (ids, texts, categorical metadata).
    Text(Vec<Option<String>>),
    /// Numbers (numeric metadata).
    Number(Vec<Option<f64>>),
    /// Lists of strings (words, tags).
    Words(Vec<Vec<String>>),
}

/// An ingest split table: every column the report can use, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestTable {
    /// Columns in file order.
    pub columns: Vec<(String, ColumnValues)>,
    /// Number of rows.
    pub rows: usize,
}

impl IngestTable {
    /// Read an ingest `<split>.parquet`. Types are normalised with Arrow casts so files written
    /// by polars (large lists, string views) and by arrow-rs read the same.
    pub fn read(path: &Path) -> Result<Self> {
        let table_err =
            |action: &str, source: Box<dyn std::error::Error + Send + Sync>| ReflectError::Table {
                path: path.to_path_buf(),
                action: action.to_string(),
                source,
            };
        let file = fs_err::File::open(path)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file.into_parts().0)
            .map_err(|e| table_err("opening Parquet", Box::new(e)))?
            .build()
            .map_err(|e| table_err("reading Parquet", Box::new(e)))?;
        let mut table = IngestTable::default();
        let mut first = true;
        for batch in reader {
            let batch = batch.map_err(|e| table_err("reading a record batch", Box::new(e)))?;
            if first {
                for field in batch.schema().fields() {
                    let values = match field.data_type() {
                        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) => {
                            ColumnValues::Words(Vec::new())
                        }
                        t if t.is_numeric() || *t == DataType::Boolean => {
                            ColumnValues::Number(Vec::new())
                        }
                        _ => ColumnValues::Text(Vec::new()),
                    };
                    table.columns.push((field.name().clone(), values));
                }
                first = false;
            }
            for (j, (name, values)) in table.columns.iter_mut().enumerate() {
                let array = batch.column(j);
                let cast_err = |e: arrow::error::ArrowError| {
                    table_err(&format!("column `{name}`: converting"), Box::new(e))
                };
                match values {
                    ColumnValues::Text(v) => {
                        let a = arrow::compute::cast(array, &DataType::Utf8).map_err(cast_err)?;
                        let a = a.as_string::<i32>();
                        v.extend(
                            (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_string())),
                        );
                    }
                    ColumnValues::Number(v) => {
                        let a =
                            arrow::compute::cast(array, &DataType::Float64).map_err(cast_err)?;
                        let a = a.as_primitive::<arrow::datatypes::Float64Type>();
                        v.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))));
                    }
                    ColumnValues::Words(v) => {
                        let target = DataType::List(std::sync::Arc::new(
                            arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
                        ));
                        let a = arrow::compute::cast(array, &target).map_err(cast_err)?;
                        let list = a.as_list::<i32>();
                        for i in 0..list.len() {
                            let inner = list.value(i);
                            let s = inner.as_string::<i32>();
                            v.push((0..s.len()).map(|k| s.value(k).to_string()).collect());
                        }
                    }
                }
            }
            table.rows += batch.num_rows();
        }
        Ok(table)
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnValues> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The `id` column as strings (row order).
    pub fn ids(&self) -> Vec<String> {
        match self.column(icol::ID) {
            Some(ColumnValues::Text(v)) => {
                v.iter().map(|s| s.clone().unwrap_or_default()).collect()
            }
            Some(ColumnValues::Number(v)) => v
                .iter()
                .map(|x| x.map(|x| x.to_string()).unwrap_or_default())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every word of the `tokens` column (train vocabulary), or the whitespace-split words of
    /// the text columns for sequence tasks.
    pub fn vocabulary(&self) -> HashSet<String> {
        let mut vocab = HashSet::new();
        if let Some(ColumnValues::Words(v)) = self.column(icol::TOKENS) {
            for words in v {
                vocab.extend(words.iter().cloned());
            }
        }
        for name in [icol::TEXT, icol::TEXT_B] {
            if let Some(ColumnValues::Text(v)) = self.column(name) {
                for text in v.iter().flatten() {
                    vocab.extend(text.split_whitespace().map(str::to_string));
                }
            }
        }
        vocab
    }
}

/// What the report knows about each example beyond its predictions, by example id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Document id of each example (token tasks).
    pub doc_id: HashMap<String, String>,
    /// Words of each example (for sequence tasks: the whitespace-split text).
    pub words: HashMap<String, Vec<String>>,
    /// Metadata columns: name -> (example id -> value).
    pub metadata: BTreeMap<String, MetaColumn>,
    /// Train vocabulary (empty when no ingest artifact was given).
    pub vocab: HashSet<String>,
}

/// One metadata column's values by example id.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaColumn {
    /// Categorical values.
    Text(HashMap<String, String>),
    /// Numeric values.
    Number(HashMap<String, f64>),
}

/// Columns that are part of the ingest schema and so never metadata.
const SCHEMA_COLUMNS: [&str; 7] = [
    icol::ID,
    icol::DOC_ID,
    icol::TOKENS,
    icol::TAGS,
    icol::TEXT,
    icol::TEXT_B,
    icol::LABEL,
];

impl Context {
    /// Build from the ingest table of the evaluated split and the train vocabulary.
    /// `metadata` restricts which columns become slices (`None`: every non-schema column).
    pub fn from_ingest(
        split: &IngestTable,
        vocab: HashSet<String>,
        metadata: Option<&[String]>,
    ) -> Self {
        let ids = split.ids();
        let mut ctx = Context {
            vocab,
            ..Self::default()
        };
        if let Some(ColumnValues::Text(v)) = split.column(icol::DOC_ID) {
            for (id, d) in ids.iter().zip(v) {
                if let Some(d) = d {
                    ctx.doc_id.insert(id.clone(), d.clone());
                }
            }
        }
        if let Some(ColumnValues::Words(v)) = split.column(icol::TOKENS) {
            for (id, w) in ids.iter().zip(v) {
                ctx.words.insert(id.clone(), w.clone());
            }
        } else if let Some(ColumnValues::Text(v)) = split.column(icol::TEXT) {
            for (id, t) in ids.iter().zip(v) {
                let words = t
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                ctx.words.insert(id.clone(), words);
            }
        }
        for (name, values) in &split.columns {
            if SCHEMA_COLUMNS.contains(&name.as_str()) {
                continue;
            }
            if let Some(wanted) = metadata
                && !wanted.iter().any(|w| w == name)
            {
                continue;
            }
            let column = match values {
                ColumnValues::Text(v) => MetaColumn::Text(
                    ids.iter()
                        .zip(v)
                        .filter_map(|(id, x)| x.clone().map(|x| (id.clone(), x)))
                        .collect(),
                ),
                ColumnValues::Number(v) => MetaColumn::Number(
                    ids.iter()
                        .zip(v)
                        .filter_map(|(id, x)| x.map(|x| (id.clone(), x)))
                        .collect(),
                ),
                ColumnValues::Words(_) => continue,
            };
            ctx.metadata.insert(name.clone(), column);
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::{PredictionRow, Predictions};

    fn row(id: &str, word: u32, token: &str, gold: &str, pred: &str) -> PredictionRow {
        PredictionRow {
            id: id.into(),
            word: Some(word),
            token: Some(token.into()),
            gold: gold.into(),
            pred: pred.into(),
            probs: Some(vec![0.5, 0.5]),
        }
    }

    #[test]
    fn token_rows_regroup_into_sentences_in_word_order() {
        let mut p = Predictions::new(TaskKind::Token, vec!["O".into(), "B-PER".into()]);
        p.rows = vec![
            row("b", 1, "y", "O", "O"),
            row("a", 0, "x", "B-PER", "O"),
            row("b", 0, "w", "B-PER", "B-PER"),
        ];
        let s = Split::from_predictions("test", Path::new("p.parquet"), &p).unwrap();
        assert_eq!(s.examples.len(), 2);
        assert_eq!(s.examples[0].id, "b");
        assert_eq!(s.examples[0].words, vec!["w", "y"]);
        assert_eq!(s.examples[0].gold, vec![1, 0]);
        assert!(s.has_probs);
        assert_eq!(s.items(), 3);
    }

    #[test]
    fn unknown_label_names_the_file_and_row() {
        let mut p = Predictions::new(TaskKind::Token, vec!["O".into()]);
        p.rows = vec![row("a", 0, "x", "O", "B-LOC")];
        let err = Split::from_predictions("test", Path::new("p.parquet"), &p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.parquet, row 0") && err.contains("B-LOC"),
            "{err}"
        );
    }
}
