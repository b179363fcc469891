//! Reading the ingest stage's splits (see `flowcore::schema::ingest`).
//!
//! The writer may store strings as `utf8`, `large_utf8` or `utf8_view` and lists as `list` or
//! `large_list` (polars writes the large and view kinds); every column is cast to the plain
//! type before use, so any of them is accepted.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use flowcore::TaskKind;
use flowcore::schema::ingest as col;

use crate::error::{BaselineError, Result};

/// One example of a sequence task.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqExample {
    /// Example id.
    pub id: String,
    /// The text.
    pub text: String,
    /// The second text of a pair.
    pub text_b: Option<String>,
    /// The gold label.
    pub label: String,
}

/// One sentence of a token task.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenExample {
    /// Example id.
    pub id: String,
    /// The words.
    pub tokens: Vec<String>,
    /// IOB2 tag of every word.
    pub tags: Vec<String>,
}

fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = fs_err::File::open(path)?;
    let parquet = |source| BaselineError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file.into_parts().0)
        .map_err(parquet)?
        .build()
        .map_err(parquet)?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| parquet(e.into()))
}

/// A column converted to `utf8`, or `None` when the file has no such column.
fn utf8_column(
    path: &Path,
    batch: &RecordBatch,
    name: &str,
) -> Result<Option<arrow::array::StringArray>> {
    let Some(array) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let cast = cast(array, &DataType::Utf8).map_err(|source| BaselineError::ColumnType {
        path: path.to_path_buf(),
        column: name.to_string(),
        expected: "utf8",
        source,
    })?;
    Ok(Some(cast.as_string::<i32>().clone()))
}

/// A column converted to `list<utf8>`, or `None` when the file has no such column.
fn list_column(
    path: &Path,
    batch: &RecordBatch,
    name: &str,
) -> Result<Option<arrow::array::ListArray>> {
    let Some(array) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let target = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let cast = cast(array, &target).map_err(|source| BaselineError::ColumnType {
        path: path.to_path_buf(),
        column: name.to_string(),
        expected: "list<utf8>",
        source,
    })?;
    Ok(Some(cast.as_list::<i32>().clone()))
}

fn missing(path: &Path, batch: &RecordBatch, column: &str, task: TaskKind) -> BaselineError {
    let found = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ");
    BaselineError::MissingColumn {
        path: path.to_path_buf(),
        column: column.to_string(),
        task,
        found,
    }
}

fn required(
    path: &Path,
    batch: &RecordBatch,
    name: &str,
    task: TaskKind,
) -> Result<arrow::array::StringArray> {
    utf8_column(path, batch, name)?.ok_or_else(|| missing(path, batch, name, task))
}

fn value(
    path: &Path,
    array: &arrow::array::StringArray,
    i: usize,
    row: usize,
    name: &str,
) -> Result<String> {
    if array.is_null(i) {
        return Err(BaselineError::Row {
            path: path.to_path_buf(),
            row,
            message: format!("`{name}` is null; expected a string"),
        });
    }
    Ok(array.value(i).to_string())
}

/// Row `i` of a `list<utf8>` column as strings (`row` and `name` for errors).
fn string_list(
    path: &Path,
    list: &arrow::array::ListArray,
    i: usize,
    row: usize,
    name: &str,
) -> Result<Vec<String>> {
    if list.is_null(i) {
        return Err(BaselineError::Row {
            path: path.to_path_buf(),
            row,
            message: format!("`{name}` is null; expected a list of strings"),
        });
    }
    let values = list.value(i);
    let values = values.as_string::<i32>();
    (0..values.len())
        .map(|j| value(path, values, j, row, name))
        .collect()
}

/// The label column of a text split: one class (`label`) or a set (`labels`).
enum LabelColumn {
    One(arrow::array::StringArray),
    Set(arrow::array::ListArray),
}

/// `id`, `text`, optional `text_b` and the task's label column of a text split.
fn read_texts(path: &Path, task: TaskKind) -> Result<Vec<SeqExample>> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        let ids = required(path, &batch, col::ID, task)?;
        let texts = required(path, &batch, col::TEXT, task)?;
        let labels = if task == TaskKind::Multilabel {
            LabelColumn::Set(
                list_column(path, &batch, col::LABELS)?
                    .ok_or_else(|| missing(path, &batch, col::LABELS, task))?,
            )
        } else {
            LabelColumn::One(required(path, &batch, col::LABEL, task)?)
        };
        let texts_b = utf8_column(path, &batch, col::TEXT_B)?;
        for i in 0..batch.num_rows() {
            let row = out.len();
            out.push(SeqExample {
                id: value(path, &ids, i, row, col::ID)?,
                text: value(path, &texts, i, row, col::TEXT)?,
                text_b: texts_b
                    .as_ref()
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.value(i).to_string()),
                label: match &labels {
                    LabelColumn::One(l) => value(path, l, i, row, col::LABEL)?,
                    LabelColumn::Set(l) => string_list(path, l, i, row, col::LABELS)?
                        .join(&metrics::predictions::SET_SEPARATOR.to_string()),
                },
            });
        }
    }
    Ok(out)
}

/// Read a sequence-task split: `id`, `text`, optional `text_b`, `label`.
pub fn read_sequence(path: &Path) -> Result<Vec<SeqExample>> {
    read_texts(path, TaskKind::Sequence)
}

/// Read a multi-label split: `id`, `text`, optional `text_b`, `labels` (list<utf8>); each
/// example's `label` is its set joined as the predictions file writes it
/// ([`metrics::predictions::join_set`] order: as listed, which ingest writes in label order).
pub fn read_multilabel(path: &Path) -> Result<Vec<SeqExample>> {
    read_texts(path, TaskKind::Multilabel)
}

/// Read a token-task split: `id`, `tokens`, `tags` (as long as `tokens`).
pub fn read_token(path: &Path) -> Result<Vec<TokenExample>> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        let task = TaskKind::Token;
        let ids = required(path, &batch, col::ID, task)?;
        let tokens = list_column(path, &batch, col::TOKENS)?
            .ok_or_else(|| missing(path, &batch, col::TOKENS, task))?;
        let tags = list_column(path, &batch, col::TAGS)?
            .ok_or_else(|| missing(path, &batch, col::TAGS, task))?;
        for i in 0..batch.num_rows() {
            let row = out.len();
            let example = TokenExample {
                id: value(path, &ids, i, row, col::ID)?,
                tokens: string_list(path, &tokens, i, row, col::TOKENS)?,
                tags: string_list(path, &tags, i, row, col::TAGS)?,
            };
            if example.tokens.len() != example.tags.len() {
                return Err(BaselineError::Row {
                    path: path.to_path_buf(),
                    row,
                    message: format!(
                        "{} tokens but {} tags; expected one tag per token",
                        example.tokens.len(),
                        example.tags.len()
                    ),
                });
            }
            out.push(example);
        }
    }
    Ok(out)
}
