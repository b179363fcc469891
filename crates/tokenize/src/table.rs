//! Parquet in and out: the ingest tables this stage reads and the window tables it writes
//! (and that train and evaluate read back with [`read_split`]).
//!
//! Readers cast every column to the plain Arrow type they expect, so files written by other
//! tools (polars writes `large_list`, `large_utf8` or view types) read the same.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int16Array, ListArray, PrimitiveArray, RecordBatch, StringArray,
    UInt32Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Int16Type, Int32Type, Schema, SchemaRef, UInt8Type,
    UInt32Type,
};
use flowcore::TaskKind;
use flowcore::schema::{ingest as icol, tokenize as tcol};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Result, TokenizeError};
use crate::window::Window;

/// Rows per record batch (and row group granularity) when writing.
const BATCH_ROWS: usize = 8192;

/// A token-task example from ingest: words and, when labelled, their IOB2 tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExample {
    /// Example id.
    pub id: String,
    /// The words.
    pub words: Vec<String>,
    /// One tag per word; `None` when the table has no `tags` column.
    pub tags: Option<Vec<String>>,
}

/// A sequence-task example from ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextExample {
    /// Example id.
    pub id: String,
    /// The text.
    pub text: String,
    /// The second text of a pair.
    pub text_b: Option<String>,
    /// The class label; `None` when absent.
    pub label: Option<String>,
    /// Multi-label task: the label set (possibly empty); `None` when absent.
    pub labels: Option<Vec<String>>,
}

fn parquet_err(
    path: &Path,
    what: &str,
) -> impl FnOnce(parquet::errors::ParquetError) -> TokenizeError {
    let path = path.to_path_buf();
    let what = what.to_string();
    move |source| TokenizeError::Parquet { path, what, source }
}

fn arrow_err(path: &Path, what: String) -> impl FnOnce(arrow::error::ArrowError) -> TokenizeError {
    let path = path.to_path_buf();
    move |source| TokenizeError::Arrow { path, what, source }
}

/// Every record batch of a Parquet file, with Arrow's type hints from the writer ignored
/// (so `large_utf8`, view types and the like arrive as their plain Parquet mapping).
fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = fs_err::File::open(path)?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let reader =
        ParquetRecordBatchReaderBuilder::try_new_with_options(file.into_parts().0, options)
            .map_err(parquet_err(path, "not a readable Parquet file"))?
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(parquet_err(path, "cannot read"))?;
    reader
        .map(|batch| batch.map_err(arrow_err(path, "cannot decode a record batch".into())))
        .collect()
}

/// Column `name` cast to `to`; `None` when the table lacks it.
fn column(batch: &RecordBatch, name: &str, to: &DataType, path: &Path) -> Result<Option<ArrayRef>> {
    let Some(array) = batch.column_by_name(name) else {
        return Ok(None);
    };
    if array.data_type() == to {
        return Ok(Some(array.clone()));
    }
    cast(array, to).map(Some).map_err(arrow_err(
        path,
        format!("column `{name}`: cannot read {} as {to}", array.data_type()),
    ))
}

fn required(batch: &RecordBatch, name: &str, to: &DataType, path: &Path) -> Result<ArrayRef> {
    column(batch, name, to, path)?.ok_or_else(|| TokenizeError::Schema {
        path: path.to_path_buf(),
        what: format!(
            "no column `{name}` (columns: {})",
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

fn null_err(path: &Path, name: &str, row: usize) -> TokenizeError {
    TokenizeError::Schema {
        path: path.to_path_buf(),
        what: format!("row {row}: column `{name}` is null"),
    }
}

fn strings(array: &ArrayRef) -> &StringArray {
    array.as_string::<i32>()
}

/// `list<utf8>` row as owned strings; a null item is an error naming the row.
fn string_list(list: &ListArray, row: usize, name: &str, path: &Path) -> Result<Vec<String>> {
    if list.is_null(row) {
        return Err(null_err(path, name, row));
    }
    let items = list.value(row);
    let items = items.as_string::<i32>();
    (0..items.len())
        .map(|i| {
            if items.is_null(i) {
                Err(TokenizeError::Schema {
                    path: path.to_path_buf(),
                    what: format!("row {row}: item {i} of column `{name}` is null"),
                })
            } else {
                Ok(items.value(i).to_string())
            }
        })
        .collect()
}

/// Read a token-task ingest table (`id`, `tokens`, optional `tags`).
pub fn read_token_examples(path: &Path) -> Result<Vec<TokenExample>> {
    let mut out = Vec::new();
    let list = list_of(DataType::Utf8);
    for batch in read_batches(path)? {
        let ids = required(&batch, icol::ID, &DataType::Utf8, path)?;
        let tokens = required(&batch, icol::TOKENS, &list, path)?;
        let tags = column(&batch, icol::TAGS, &list, path)?;
        let ids = strings(&ids);
        let tokens = tokens.as_list::<i32>();
        let tags = tags.as_ref().map(|t| t.as_list::<i32>());
        for row in 0..batch.num_rows() {
            let global = out.len();
            if ids.is_null(row) {
                return Err(null_err(path, icol::ID, global));
            }
            let words = string_list(tokens, row, icol::TOKENS, path)?;
            let tags = tags
                .map(|t| string_list(t, row, icol::TAGS, path))
                .transpose()?;
            if let Some(tags) = &tags
                && tags.len() != words.len()
            {
                return Err(TokenizeError::Schema {
                    path: path.to_path_buf(),
                    what: format!(
                        "row {global} (id `{}`): {} tokens but {} tags",
                        ids.value(row),
                        words.len(),
                        tags.len()
                    ),
                });
            }
            out.push(TokenExample {
                id: ids.value(row).to_string(),
                words,
                tags,
            });
        }
    }
    Ok(out)
}

/// Read a sequence or multi-label ingest table (`id`, `text`, optional `text_b`, and `label`
/// or `labels`).
pub fn read_text_examples(path: &Path) -> Result<Vec<TextExample>> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        let ids = required(&batch, icol::ID, &DataType::Utf8, path)?;
        let text = required(&batch, icol::TEXT, &DataType::Utf8, path)?;
        let text_b = column(&batch, icol::TEXT_B, &DataType::Utf8, path)?;
        let label = column(&batch, icol::LABEL, &DataType::Utf8, path)?;
        let label_sets = column(&batch, icol::LABELS, &list_of(DataType::Utf8), path)?;
        let label_sets = label_sets.as_ref().map(|l| l.as_list::<i32>());
        let (ids, text) = (strings(&ids), strings(&text));
        let text_b = text_b.as_ref().map(strings);
        let label = label.as_ref().map(strings);
        let opt = |a: Option<&StringArray>, row: usize| {
            a.filter(|a| !a.is_null(row))
                .map(|a| a.value(row).to_string())
        };
        for row in 0..batch.num_rows() {
            let global = out.len();
            if ids.is_null(row) {
                return Err(null_err(path, icol::ID, global));
            }
            if text.is_null(row) {
                return Err(null_err(path, icol::TEXT, global));
            }
            out.push(TextExample {
                id: ids.value(row).to_string(),
                text: text.value(row).to_string(),
                text_b: opt(text_b, row),
                label: opt(label, row),
                labels: match label_sets {
                    Some(l) => Some(string_list(l, row, icol::LABELS, path)?),
                    None => None,
                },
            });
        }
    }
    Ok(out)
}

/// One column of an ingest table as text, by example id (a group or metadata column; numbers
/// are read as their text). A missing column is an error listing the columns; a null value
/// is `None`.
pub fn read_id_column(path: &Path, name: &str) -> Result<HashMap<String, Option<String>>> {
    let mut out = HashMap::new();
    for batch in read_batches(path)? {
        let ids = required(&batch, icol::ID, &DataType::Utf8, path)?;
        let values = required(&batch, name, &DataType::Utf8, path)?;
        let (ids, values) = (strings(&ids), strings(&values));
        for row in 0..batch.num_rows() {
            if ids.is_null(row) {
                return Err(null_err(path, icol::ID, out.len()));
            }
            let value = (!values.is_null(row)).then(|| values.value(row).to_string());
            out.insert(ids.value(row).to_string(), value);
        }
    }
    Ok(out)
}

/// The Arrow schema of a tokenize table for `task`.
pub fn window_schema(task: TaskKind) -> SchemaRef {
    let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, false)));
    let mut fields = vec![
        Field::new(tcol::ID, DataType::Utf8, false),
        Field::new(tcol::WINDOW, DataType::UInt32, false),
        Field::new(tcol::FIRST_WORD, DataType::UInt32, false),
        Field::new(tcol::CENTRE_START, DataType::UInt32, false),
        Field::new(tcol::CENTRE_END, DataType::UInt32, false),
        Field::new(tcol::INPUT_IDS, list(DataType::UInt32), false),
        Field::new(tcol::TYPE_IDS, list(DataType::UInt8), false),
        Field::new(tcol::WORD_IDS, list(DataType::Int32), false),
    ];
    match task {
        TaskKind::Token => fields.push(Field::new(tcol::LABELS, list(DataType::Int16), true)),
        TaskKind::Sequence => fields.push(Field::new(tcol::LABEL, DataType::Int16, true)),
        TaskKind::Multilabel => {
            fields.push(Field::new(tcol::LABEL_SET, list(DataType::Int16), true))
        }
    }
    fields.push(Field::new(tcol::LENGTH, DataType::UInt32, false));
    Arc::new(Schema::new(fields))
}

fn list_array<T: ArrowPrimitiveType>(
    rows: &[Window],
    field: &Field,
    get: impl Fn(&Window) -> &[T::Native],
) -> ArrayRef {
    let DataType::List(item) = field.data_type() else {
        unreachable!("list columns are declared as lists in window_schema")
    };
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(|w| get(w).len()));
    let values =
        PrimitiveArray::<T>::from_iter_values(rows.iter().flat_map(|w| get(w).iter().copied()));
    Arc::new(ListArray::new(
        item.clone(),
        offsets,
        Arc::new(values),
        None,
    ))
}

fn batch_of(
    schema: &SchemaRef,
    rows: &[Window],
    task: TaskKind,
    path: &Path,
) -> Result<RecordBatch> {
    let u32s = |f: fn(&Window) -> u32| {
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(f))) as ArrayRef
    };
    let field = |name: &str| {
        schema
            .field_with_name(name)
            .map_err(arrow_err(path, format!("column `{name}`")))
    };
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|w| w.id.as_str()),
        )),
        u32s(|w| w.window),
        u32s(|w| w.first_word),
        u32s(|w| w.centre_start),
        u32s(|w| w.centre_end),
        list_array::<UInt32Type>(rows, field(tcol::INPUT_IDS)?, |w| &w.input_ids),
        list_array::<UInt8Type>(rows, field(tcol::TYPE_IDS)?, |w| &w.type_ids),
        list_array::<Int32Type>(rows, field(tcol::WORD_IDS)?, |w| &w.word_ids),
    ];
    match task {
        TaskKind::Token => columns.push(list_array::<Int16Type>(rows, field(tcol::LABELS)?, |w| {
            &w.labels
        })),
        TaskKind::Sequence => columns.push(Arc::new(
            rows.iter().map(|w| w.label).collect::<Int16Array>(),
        )),
        TaskKind::Multilabel => {
            let DataType::List(item) = field(tcol::LABEL_SET)?.data_type() else {
                unreachable!("label_set is declared as a list in window_schema")
            };
            let sets = rows
                .iter()
                .map(|w| w.label_set.as_deref().unwrap_or_default());
            let offsets = OffsetBuffer::from_lengths(sets.clone().map(<[i16]>::len));
            let values = Int16Array::from_iter_values(sets.flatten().copied());
            let nulls = NullBuffer::from_iter(rows.iter().map(|w| w.label_set.is_some()));
            columns.push(Arc::new(ListArray::new(
                item.clone(),
                offsets,
                Arc::new(values),
                Some(nulls),
            )));
        }
    }
    columns.push(u32s(|w| w.length));
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(arrow_err(path, "cannot build a record batch".into()))
}

/// Write windows as a zstd-compressed Parquet table; returns the row count.
pub fn write_windows(path: &Path, windows: &[Window], task: TaskKind) -> Result<u64> {
    let schema = window_schema(task);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let file = fs_err::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .map_err(parquet_err(path, "cannot start writing"))?;
    for chunk in windows.chunks(BATCH_ROWS) {
        let batch = batch_of(&schema, chunk, task, path)?;
        writer
            .write(&batch)
            .map_err(parquet_err(path, "cannot write"))?;
    }
    writer
        .close()
        .map_err(parquet_err(path, "cannot finish writing"))?;
    Ok(windows.len() as u64)
}

/// Read the windows of one split of a tokenize artifact (`<dir>/<split>.parquet`).
pub fn read_split(artifact_dir: &Path, split: &str) -> Result<Vec<Window>> {
    read_windows(&artifact_dir.join(flowcore::schema::split_file(split)))
}

fn primitive_list<T: ArrowPrimitiveType>(list: &ListArray, row: usize) -> Vec<T::Native> {
    list.value(row).as_primitive::<T>().values().to_vec()
}

/// Read a tokenize table written by [`write_windows`] (any task; `labels`, `label` or
/// `label_set`).
pub fn read_windows(path: &Path) -> Result<Vec<Window>> {
    let mut out = Vec::new();
    for batch in read_batches(path)? {
        let req = |name: &str, to: DataType| required(&batch, name, &to, path);
        let ids = req(tcol::ID, DataType::Utf8)?;
        let window = req(tcol::WINDOW, DataType::UInt32)?;
        let first = req(tcol::FIRST_WORD, DataType::UInt32)?;
        let c_start = req(tcol::CENTRE_START, DataType::UInt32)?;
        let c_end = req(tcol::CENTRE_END, DataType::UInt32)?;
        let input_ids = req(tcol::INPUT_IDS, list_of(DataType::UInt32))?;
        let type_ids = req(tcol::TYPE_IDS, list_of(DataType::UInt8))?;
        let word_ids = req(tcol::WORD_IDS, list_of(DataType::Int32))?;
        let length = req(tcol::LENGTH, DataType::UInt32)?;
        let labels = column(&batch, tcol::LABELS, &list_of(DataType::Int16), path)?;
        let label = column(&batch, tcol::LABEL, &DataType::Int16, path)?;
        let label_set = column(&batch, tcol::LABEL_SET, &list_of(DataType::Int16), path)?;
        let ids = strings(&ids);
        let u32col = |a: &ArrayRef| a.as_primitive::<UInt32Type>().clone();
        let (window, first, c_start, c_end, length) = (
            u32col(&window),
            u32col(&first),
            u32col(&c_start),
            u32col(&c_end),
            u32col(&length),
        );
        let (input_ids, type_ids, word_ids) = (
            input_ids.as_list::<i32>(),
            type_ids.as_list::<i32>(),
            word_ids.as_list::<i32>(),
        );
        let labels = labels.as_ref().map(|l| l.as_list::<i32>());
        let label = label.as_ref().map(|l| l.as_primitive::<Int16Type>());
        let label_set = label_set.as_ref().map(|l| l.as_list::<i32>());
        for row in 0..batch.num_rows() {
            let global = out.len();
            for (name, array) in [
                (tcol::ID, ids as &dyn Array),
                (tcol::INPUT_IDS, input_ids as &dyn Array),
                (tcol::TYPE_IDS, type_ids as &dyn Array),
                (tcol::WORD_IDS, word_ids as &dyn Array),
            ] {
                if array.is_null(row) {
                    return Err(null_err(path, name, global));
                }
            }
            let w = Window {
                id: ids.value(row).to_string(),
                window: window.value(row),
                first_word: first.value(row),
                centre_start: c_start.value(row),
                centre_end: c_end.value(row),
                input_ids: primitive_list::<UInt32Type>(input_ids, row),
                type_ids: primitive_list::<UInt8Type>(type_ids, row),
                word_ids: primitive_list::<Int32Type>(word_ids, row),
                labels: labels
                    .filter(|l| !l.is_null(row))
                    .map(|l| primitive_list::<Int16Type>(l, row))
                    .unwrap_or_default(),
                label: label.filter(|l| !l.is_null(row)).map(|l| l.value(row)),
                label_set: label_set
                    .filter(|l| !l.is_null(row))
                    .map(|l| primitive_list::<Int16Type>(l, row)),
                length: length.value(row),
            };
            if w.input_ids.len() != w.length as usize
                || w.type_ids.len() != w.input_ids.len()
                || w.word_ids.len() != w.input_ids.len()
                || !(w.labels.is_empty() || w.labels.len() == w.input_ids.len())
            {
                return Err(TokenizeError::Schema {
                    path: path.to_path_buf(),
                    what: format!(
                        "row {global} (id `{}`): list lengths disagree with `length` {}",
                        w.id, w.length
                    ),
                });
            }
            out.push(w);
        }
    }
    Ok(out)
}

/// Label ids of names, for fast lookup while encoding.
pub(crate) fn label_index(labels: &flowcore::LabelMap) -> HashMap<&str, i16> {
    labels
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as i16))
        .collect()
}
