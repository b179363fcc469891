//! Parquet outputs written with arrow-rs in plain Arrow types (`utf8`, `list<utf8>`, `int64`,
//! `float64`, `bool`, `uint64`), zstd-compressed, so any Arrow/Parquet reader (arrow-rs,
//! pyarrow, polars) reads them without view or large types.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    UInt64Builder,
};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use flowcore::TaskKind;

use crate::error::{IngestError, Result};
use crate::model::{Body, Example, Label, MetaValue, Reject};

/// Rows per record batch (bounds memory on large inputs).
const BATCH: usize = 65_536;

fn props() -> WriterProperties {
    let compression = match ZstdLevel::try_new(3) {
        Ok(level) => Compression::ZSTD(level),
        Err(_) => Compression::UNCOMPRESSED,
    };
    WriterProperties::builder()
        .set_compression(compression)
        .build()
}

/// Write batches produced by `build` (called per chunk) into `path`.
fn write_batches<T>(
    path: &Path,
    items: &[T],
    build: impl Fn(&[T]) -> Vec<(Field, ArrayRef)>,
) -> Result<u64> {
    let arrow_err = |source| IngestError::Arrow {
        path: path.to_path_buf(),
        source,
    };
    let parquet_err = |source| IngestError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = fs_err::File::create(path)?;
    let mut writer: Option<ArrowWriter<fs_err::File>> = None;
    let mut chunks: Vec<&[T]> = items.chunks(BATCH).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let mut file = Some(file);
    for chunk in chunks {
        let cols = build(chunk);
        let schema = Arc::new(Schema::new(
            cols.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(schema.clone(), cols.into_iter().map(|c| c.1).collect())
            .map_err(arrow_err)?;
        if writer.is_none() {
            let f = file
                .take()
                .ok_or_else(|| IngestError::Io(std::io::Error::other("writer opened twice")))?;
            writer = Some(ArrowWriter::try_new(f, schema, Some(props())).map_err(parquet_err)?);
        }
        if let Some(w) = writer.as_mut() {
            w.write(&batch).map_err(parquet_err)?;
        }
    }
    if let Some(w) = writer {
        w.close().map_err(parquet_err)?;
    }
    Ok(items.len() as u64)
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

fn string_lists<'a>(values: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    // Item field `item`, nullable: what arrow-rs and pyarrow build by default for list<utf8>.
    let mut b = ListBuilder::new(StringBuilder::new());
    for list in values {
        for v in list {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn field(name: &str, array: &ArrayRef, nullable: bool) -> Field {
    Field::new(name, array.data_type().clone(), nullable)
}

/// Kind of a metadata column, from its values (mixed kinds fall back to text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKind {
    /// int64.
    Int,
    /// float64.
    Float,
    /// bool.
    Bool,
    /// utf8.
    Str,
}

/// The Arrow type of each metadata column over all examples, so every split file has the
/// same schema.
pub fn meta_kinds(examples: &[Example], n: usize) -> Vec<MetaKind> {
    (0..n)
        .map(|m| {
            meta_kind(
                examples
                    .iter()
                    .map(|e| e.meta.get(m).cloned().unwrap_or(MetaValue::Null)),
            )
        })
        .collect()
}

fn meta_kind(values: impl Iterator<Item = MetaValue>) -> MetaKind {
    let mut kind = None;
    for v in values {
        let k = match v {
            MetaValue::Null => continue,
            MetaValue::Int(_) => MetaKind::Int,
            MetaValue::Float(_) => MetaKind::Float,
            MetaValue::Bool(_) => MetaKind::Bool,
            MetaValue::Str(_) => MetaKind::Str,
        };
        kind = Some(match (kind, k) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some(MetaKind::Int), MetaKind::Float) | (Some(MetaKind::Float), MetaKind::Int) => {
                MetaKind::Float
            }
            _ => MetaKind::Str,
        });
    }
    kind.unwrap_or(MetaKind::Str)
}

fn meta_array(kind: MetaKind, values: impl Iterator<Item = MetaValue>) -> ArrayRef {
    match kind {
        MetaKind::Int => {
            let mut b = Int64Builder::new();
            for v in values {
                b.append_option(match v {
                    MetaValue::Int(x) => Some(x),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        MetaKind::Float => {
            let mut b = Float64Builder::new();
            for v in values {
                b.append_option(match v {
                    MetaValue::Int(x) => Some(x as f64),
                    MetaValue::Float(x) => Some(x),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        MetaKind::Bool => {
            let mut b = BooleanBuilder::new();
            for v in values {
                b.append_option(match v {
                    MetaValue::Bool(x) => Some(x),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
        MetaKind::Str => {
            let mut b = StringBuilder::new();
            for v in values {
                match v {
                    MetaValue::Null => b.append_null(),
                    MetaValue::Int(x) => b.append_value(x.to_string()),
                    MetaValue::Float(x) => b.append_value(x.to_string()),
                    MetaValue::Bool(x) => b.append_value(x.to_string()),
                    MetaValue::Str(s) => b.append_value(s),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// Write one split. Token task: `id`, `doc_id`, `tokens`, `tags`; sequence task: `id`,
/// `text`, `text_b` (when pairs), `label`, then the metadata columns; multi-label task: the
/// same with `labels: list<utf8>` (label-list order, possibly empty) instead of `label`.
pub fn write_split(
    path: &Path,
    examples: &[&Example],
    task: TaskKind,
    with_text_b: bool,
    meta_names: &[String],
    kinds: &[MetaKind],
) -> Result<u64> {
    use flowcore::schema::ingest as c;
    write_batches(path, examples, |chunk| {
        let mut cols = Vec::new();
        let id = strings(chunk.iter().map(|e| Some(e.id.as_str())));
        cols.push((field(c::ID, &id, false), id));
        if task == TaskKind::Token {
            let doc = strings(chunk.iter().map(|e| Some(e.doc_id.as_str())));
            cols.push((field(c::DOC_ID, &doc, false), doc));
            let empty: &[String] = &[];
            let tokens = string_lists(chunk.iter().map(|e| match &e.body {
                Body::Tokens { tokens, .. } => tokens.as_slice(),
                Body::Text { .. } => empty,
            }));
            cols.push((field(c::TOKENS, &tokens, false), tokens));
            let tags = string_lists(chunk.iter().map(|e| match &e.body {
                Body::Tokens { tags, .. } => tags.as_slice(),
                Body::Text { .. } => empty,
            }));
            cols.push((field(c::TAGS, &tags, false), tags));
        } else {
            let text = strings(chunk.iter().map(|e| match &e.body {
                Body::Text { text, .. } => Some(text.as_str()),
                Body::Tokens { .. } => None,
            }));
            cols.push((field(c::TEXT, &text, false), text));
            if with_text_b {
                let b = strings(chunk.iter().map(|e| match &e.body {
                    Body::Text { text_b, .. } => text_b.as_deref(),
                    Body::Tokens { .. } => None,
                }));
                cols.push((field(c::TEXT_B, &b, true), b));
            }
            if task == TaskKind::Multilabel {
                let empty: &[String] = &[];
                let labels = string_lists(chunk.iter().map(|e| match &e.body {
                    Body::Text {
                        label: Label::Set(items),
                        ..
                    } => items.as_slice(),
                    _ => empty,
                }));
                cols.push((field(c::LABELS, &labels, false), labels));
            } else {
                // A null in this non-null column (never built) fails the batch, not silently.
                let label = strings(chunk.iter().map(|e| match &e.body {
                    Body::Text {
                        label: Label::Class(c),
                        ..
                    } => Some(c.as_str()),
                    _ => None,
                }));
                cols.push((field(c::LABEL, &label, false), label));
            }
            for (m, name) in meta_names.iter().enumerate() {
                let values = chunk
                    .iter()
                    .map(|e| e.meta.get(m).cloned().unwrap_or(MetaValue::Null));
                let kind = kinds.get(m).copied().unwrap_or(MetaKind::Str);
                let array = meta_array(kind, values);
                cols.push((field(name, &array, true), array));
            }
        }
        cols
    })
}

/// Write `rejects.parquet`: `source`, `line`, `reason`, `detail`, `raw`, `pool`.
pub fn write_rejects(path: &Path, rejects: &[Reject], pools: &[String]) -> Result<u64> {
    write_batches(path, rejects, |chunk| {
        let mut line = UInt64Builder::new();
        for r in chunk {
            line.append_value(r.line);
        }
        let line: ArrayRef = Arc::new(line.finish());
        let cols = [
            (
                "source",
                strings(chunk.iter().map(|r| Some(r.source.as_str()))),
            ),
            ("line", line),
            (
                "reason",
                strings(chunk.iter().map(|r| Some(r.reason.as_str()))),
            ),
            (
                "detail",
                strings(chunk.iter().map(|r| Some(r.detail.as_str()))),
            ),
            ("raw", strings(chunk.iter().map(|r| Some(r.raw.as_str())))),
            (
                "pool",
                strings(chunk.iter().map(|r| pools.get(r.pool).map(String::as_str))),
            ),
        ];
        cols.into_iter()
            .map(|(name, a)| (field(name, &a, false), a))
            .collect()
    })
}
