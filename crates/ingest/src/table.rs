//! Tables: CSV/TSV, JSON lines and Parquet, read with polars, then mapped to examples.
//!
//! Before polars parses CSV or JSONL, a quick scan splits the text into records (quote-aware
//! for CSV) so that every row keeps its source line, and so that a ragged record, an
//! unterminated quote, an invalid JSON line or an over-long line becomes a counted reject
//! with its line instead of a failed or silently truncated parse. Polars then reads only
//! well-formed records, all as strings; metadata columns get numeric types when every value
//! parses as a number.
//!
//! Multi-label columns are read as lists: a text split on `label_separator`, a Parquet list
//! (of strings or integers), or, for JSON lines, the value taken out of each object before
//! polars sees it (arrays, texts and wrong values may mix from line to line, which a column
//! type cannot hold); a value that is not a list is a counted reject naming what was found.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;

pub use crate::columns::strings;
use crate::columns::{available, polars_err};
use crate::encoding::{lines, truncate_raw};
use crate::error::{IngestError, Result};
use crate::labelset::{self, RawLabels};
use crate::model::{Body, Collected, Example, Label, MetaValue, RAW_LIMIT, Reason, Reject};
use crate::tabular::Renderer;

/// A parsed table and the source line of each row.
#[derive(Debug)]
pub struct Table {
    /// The rows.
    pub df: DataFrame,
    /// 1-based line (row number for Parquet) of each row.
    pub lines: Vec<u64>,
    /// Multi-label JSON lines: the label value of each row, taken out of `df`.
    pub labels: Option<Vec<RawLabels>>,
}

/// CSV dialect.
#[derive(Debug, Clone)]
pub struct CsvDialect {
    /// Field delimiter.
    pub delimiter: u8,
    /// Quote byte.
    pub quote: Option<u8>,
    /// First record is a header.
    pub has_header: bool,
    /// Column names to use (for header-less files, or to rename).
    pub columns: Option<Vec<String>>,
    /// Longest accepted record.
    pub max_line_bytes: usize,
}

/// One record found by the scan: byte range without the line end, first line, fields.
struct Record {
    start: usize,
    end: usize,
    line: u64,
    fields: usize,
    unterminated: bool,
}

/// Split CSV text into records, honouring quotes (a quoted field may span lines).
fn scan_records(bytes: &[u8], delimiter: u8, quote: Option<u8>) -> Vec<Record> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u64;
    while i < bytes.len() {
        let start = i;
        let first_line = line;
        let mut fields = 1;
        let mut in_quotes = false;
        while i < bytes.len() {
            let b = bytes[i];
            if Some(b) == quote {
                if in_quotes && bytes.get(i + 1) == Some(&b) {
                    i += 2;
                    continue;
                }
                in_quotes = !in_quotes;
            } else if b == b'\n' {
                line += 1;
                if !in_quotes {
                    break;
                }
            } else if b == delimiter && !in_quotes {
                fields += 1;
            }
            i += 1;
        }
        let mut end = i.min(bytes.len());
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        out.push(Record {
            start,
            end,
            line: first_line,
            fields,
            unterminated: in_quotes,
        });
        i += 1;
    }
    out
}

/// Read CSV/TSV text. Ragged, unterminated or over-long records become rejects of `pool`.
pub fn read_csv(
    path: &Path,
    text: &str,
    dialect: &CsvDialect,
    pool: usize,
    out: &mut Collected,
) -> Result<Table> {
    let bytes = text.as_bytes();
    let source = path.display().to_string();
    let mut records = scan_records(bytes, dialect.delimiter, dialect.quote)
        .into_iter()
        .filter(|r| !bytes[r.start..r.end].iter().all(u8::is_ascii_whitespace) || r.fields > 1);
    let Some(first) = records.next() else {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
            what: "the file is empty".into(),
            expected: if dialect.has_header {
                "a header line and data rows".into()
            } else {
                "data rows".into()
            },
        });
    };
    let expected = match (&dialect.columns, dialect.has_header) {
        (Some(cols), false) => cols.len(),
        _ => first.fields,
    };
    if let Some(cols) = &dialect.columns
        && cols.len() != expected
    {
        return Err(IngestError::Format {
            path: path.to_path_buf(),
            line: first.line,
            message: format!(
                "the header has {expected} field(s) but `columns` names {}",
                cols.len()
            ),
        });
    }
    let mut buf = Vec::with_capacity(bytes.len() + 1);
    let mut lines_out = Vec::new();
    let mut push = |r: &Record, header: bool, buf: &mut Vec<u8>, out: &mut Collected| {
        let raw = &text[r.start..r.end];
        let problem = if r.unterminated {
            Some((
                Reason::UnterminatedQuote,
                "a quoted field is never closed (it runs to the end of the file)".to_string(),
            ))
        } else if r.end - r.start > dialect.max_line_bytes {
            Some((
                Reason::LineTooLong,
                format!(
                    "the record is {} bytes; the limit is max_line_bytes = {}",
                    r.end - r.start,
                    dialect.max_line_bytes
                ),
            ))
        } else if r.fields != expected {
            Some((
                Reason::RaggedRow,
                format!("expected {expected} field(s), found {}", r.fields),
            ))
        } else {
            None
        };
        match problem {
            Some((reason, detail)) if !header => {
                out.read[pool] += 1;
                out.rejects.push(Reject {
                    pool,
                    source: source.clone(),
                    line: r.line,
                    reason,
                    detail,
                    raw: truncate_raw(raw, RAW_LIMIT),
                });
            }
            _ => {
                buf.extend_from_slice(raw.as_bytes());
                buf.push(b'\n');
                if !header {
                    lines_out.push(r.line);
                }
            }
        }
    };
    push(&first, dialect.has_header, &mut buf, out);
    let mut n_data = usize::from(!dialect.has_header);
    for r in records {
        n_data += 1;
        push(&r, false, &mut buf, out);
    }
    if n_data == 0 {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
            what: "the file holds a header but no rows".into(),
            expected: "data rows after the header".into(),
        });
    }
    let n_rows = lines_out.len();
    let parse = CsvParseOptions::default()
        .with_separator(dialect.delimiter)
        .with_quote_char(dialect.quote);
    let mut df = CsvReadOptions::default()
        .with_has_header(dialect.has_header)
        .with_infer_schema_length(Some(0))
        .with_parse_options(parse)
        .into_reader_with_file_handle(Cursor::new(buf))
        .finish()
        .map_err(polars_err(path, "parsing CSV"))?;
    if let Some(cols) = &dialect.columns {
        df.set_column_names(cols)
            .map_err(polars_err(path, "renaming columns to `columns`"))?;
    }
    if df.height() != n_rows {
        return Err(IngestError::Format {
            path: path.to_path_buf(),
            line: 0,
            message: format!(
                "polars parsed {} rows where the record scan found {n_rows}; check `quote` and `delimiter`",
                df.height()
            ),
        });
    }
    Ok(Table {
        df,
        lines: lines_out,
        labels: None,
    })
}

/// The fields of a JSON object in file order (serde_json's map may sort them), the last of
/// repeated keys winning as in serde_json.
struct Fields(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Fields, A::Error> {
                let mut out: Vec<(String, serde_json::Value)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    match out.iter_mut().find(|(key, _)| *key == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

impl Fields {
    fn write(&self, buf: &mut Vec<u8>) {
        buf.push(b'{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(serde_json::Value::String(k.clone()).to_string().as_bytes());
            buf.push(b':');
            buf.extend_from_slice(v.to_string().as_bytes());
        }
        buf.push(b'}');
    }
}

/// The label column of a multi-label table and how its texts are split.
#[derive(Debug, Clone, Copy)]
pub struct ListColumn<'a> {
    /// Column (JSON key) name.
    pub name: &'a str,
    /// Separator of text values.
    pub separator: &'a str,
}

/// Read JSON lines: one object per line; blank lines are skipped; other lines are rejects.
/// With `labels` (multi-label) the label value is taken out of each object and read as a
/// list; a value that is not one is a `malformed_labels` reject of its line.
pub fn read_jsonl(
    path: &Path,
    text: &str,
    max_line_bytes: usize,
    labels: Option<ListColumn<'_>>,
    pool: usize,
    out: &mut Collected,
) -> Result<Table> {
    let source = path.display().to_string();
    let mut buf = Vec::with_capacity(text.len());
    let mut lines_out = Vec::new();
    let mut label_values = Vec::new();
    let mut label_seen = false;
    let mut any = false;
    for (line_no, line) in lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        any = true;
        let problem = if line.len() > max_line_bytes {
            Some((
                Reason::LineTooLong,
                format!(
                    "the line is {} bytes; the limit is max_line_bytes = {max_line_bytes}",
                    line.len()
                ),
            ))
        } else if let Some(col) = labels {
            match serde_json::from_str::<Fields>(line) {
                Err(e) => Some((Reason::InvalidJson, format!("expected a JSON object: {e}"))),
                Ok(mut fields) => {
                    let value = fields
                        .0
                        .iter()
                        .position(|(k, _)| k == col.name)
                        .map(|i| fields.0.remove(i).1);
                    label_seen |= value.is_some();
                    match labelset::from_json(value.as_ref(), col.separator) {
                        RawLabels::Malformed(detail) => Some((
                            Reason::MalformedLabels,
                            format!("key `{}`: {detail}", col.name),
                        )),
                        raw => {
                            label_values.push(raw);
                            fields.write(&mut buf);
                            buf.push(b'\n');
                            lines_out.push(line_no);
                            continue;
                        }
                    }
                }
            }
        } else {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(_)) => None,
                Ok(_) => Some((Reason::InvalidJson, "expected a JSON object".to_string())),
                Err(e) => Some((Reason::InvalidJson, format!("expected a JSON object: {e}"))),
            }
        };
        if let Some((reason, detail)) = problem {
            out.read[pool] += 1;
            out.rejects.push(Reject {
                pool,
                source: source.clone(),
                line: line_no,
                reason,
                detail,
                raw: truncate_raw(line, RAW_LIMIT),
            });
            continue;
        }
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        lines_out.push(line_no);
    }
    if !any {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
            what: "the file is empty".into(),
            expected: "one JSON object per line".into(),
        });
    }
    let df = if lines_out.is_empty() {
        DataFrame::empty()
    } else {
        JsonReader::new(Cursor::new(buf))
            .with_json_format(JsonFormat::JsonLines)
            .infer_schema_len(None)
            .finish()
            .map_err(polars_err(
                path,
                "parsing JSON lines (does a key hold values of different types?)",
            ))?
    };
    if let Some(col) = labels
        && !label_seen
        && !lines_out.is_empty()
    {
        return Err(IngestError::MissingColumn {
            path: path.to_path_buf(),
            key: "label_column".into(),
            column: col.name.into(),
            available: available(&df),
        });
    }
    Ok(Table {
        df,
        lines: lines_out,
        labels: labels.map(|_| label_values),
    })
}

/// Read a Parquet table; a row's "line" is its 1-based row number.
pub fn read_parquet(path: &Path) -> Result<Table> {
    let file = fs_err::File::open(path)?;
    let df = ParquetReader::new(file.into_parts().0)
        .finish()
        .map_err(polars_err(path, "reading Parquet"))?;
    if df.height() == 0 {
        return Err(IngestError::Empty {
            path: path.to_path_buf(),
            what: "the table has no rows".into(),
            expected: "at least one row".into(),
        });
    }
    let lines = (1..=df.height() as u64).collect();
    Ok(Table {
        df,
        lines,
        labels: None,
    })
}

/// Which columns mean what.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    /// Text column (ignored when a renderer makes the text).
    pub text: String,
    /// Second text column.
    pub text_b: Option<String>,
    /// Label column.
    pub label: String,
    /// Id column.
    pub id: Option<String>,
    /// Metadata columns (default: all unused columns).
    pub metadata: Option<Vec<String>>,
    /// Raw label -> label name; empty = labels as they are (sequence tasks; multi-label
    /// items are mapped when resolved).
    pub label_map: BTreeMap<String, String>,
    /// Multi-label: how the label column is read as a list.
    pub multilabel: Option<MultiLabel>,
}

/// How a multi-label column is read.
#[derive(Debug, Clone)]
pub struct MultiLabel {
    /// Separator of text values.
    pub separator: String,
    /// A null is an empty set (CSV, where an empty field reads as null) rather than a
    /// missing label (JSON, Parquet).
    pub null_is_empty: bool,
}

/// The items of one list value: strings, or integers written in decimal.
fn list_items(s: &Series) -> RawLabels {
    let bad = |k: usize, what: String| {
        RawLabels::Malformed(format!(
            "item {} of the list is {what}; expected a label name (string) or an integer id",
            k + 1
        ))
    };
    let dtype = s.dtype();
    let texts = if dtype == &DataType::String || dtype.is_integer() {
        s.cast(&DataType::String)
    } else if s.is_empty() {
        return RawLabels::Items(Vec::new());
    } else {
        let first = s.get(0).map(|v| v.to_string()).unwrap_or_default();
        return bad(0, format!("{dtype} `{first}`"));
    };
    let Ok(texts) = texts else {
        return bad(0, format!("of type {dtype}"));
    };
    let Ok(ca) = texts.str() else {
        return bad(0, format!("of type {dtype}"));
    };
    let mut out = Vec::with_capacity(ca.len());
    for (k, v) in ca.iter().enumerate() {
        match v {
            Some(v) => out.push(v.trim().to_string()),
            None => return bad(k, "null".into()),
        }
    }
    RawLabels::Items(out)
}

/// A multi-label column: texts split on the separator, or lists of strings or integers.
/// A value of another type is [`RawLabels::Malformed`]; a missing column is an error.
pub fn label_sets(
    df: &DataFrame,
    name: &str,
    path: &Path,
    how: &MultiLabel,
) -> Result<Vec<RawLabels>> {
    let col = df.column(name).map_err(|_| IngestError::MissingColumn {
        path: path.to_path_buf(),
        key: "label_column".into(),
        column: name.into(),
        available: available(df),
    })?;
    let null = || {
        if how.null_is_empty {
            RawLabels::Items(Vec::new())
        } else {
            RawLabels::Missing
        }
    };
    let err = polars_err(path, &format!("reading column `{name}` as lists of labels"));
    Ok(match col.dtype() {
        DataType::String => col
            .str()
            .map_err(err)?
            .iter()
            .map(|v| v.map_or_else(null, |t| RawLabels::Items(labelset::split_text(t, &how.separator))))
            .collect(),
        DataType::List(_) => col
            .list()
            .map_err(err)?
            .amortized_iter()
            .map(|v| v.map_or_else(null, |s| list_items(s.as_ref())))
            .collect(),
        dtype => (0..col.len())
            .map(|i| match col.get(i) {
                Ok(AnyValue::Null) | Err(_) => null(),
                Ok(v) => RawLabels::Malformed(format!(
                    "found {dtype} `{v}`; expected a list of labels or a text of labels separated by {:?}",
                    how.separator
                )),
            })
            .collect(),
    })
}

/// A metadata column with the narrowest type every value fits.
fn meta_values(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<MetaValue>> {
    let col = df.column(name).map_err(|_| IngestError::MissingColumn {
        path: path.to_path_buf(),
        key: "metadata".into(),
        column: name.into(),
        available: available(df),
    })?;
    let dtype = col.dtype().clone();
    let as_int = |c: &Column| -> Option<Vec<MetaValue>> {
        let c = c.strict_cast(&DataType::Int64).ok()?;
        let ca = c.i64().ok()?;
        Some(
            ca.iter()
                .map(|v| v.map_or(MetaValue::Null, MetaValue::Int))
                .collect(),
        )
    };
    let as_float = |c: &Column| -> Option<Vec<MetaValue>> {
        let c = c.strict_cast(&DataType::Float64).ok()?;
        let ca = c.f64().ok()?;
        Some(
            ca.iter()
                .map(|v| v.map_or(MetaValue::Null, MetaValue::Float))
                .collect(),
        )
    };
    if (dtype.is_integer() || dtype == DataType::String)
        && let Some(v) = as_int(col)
    {
        return Ok(v);
    }
    if (dtype.is_float() || dtype == DataType::String)
        && let Some(v) = as_float(col)
    {
        return Ok(v);
    }
    if dtype == DataType::Boolean {
        let ca = col
            .bool()
            .map_err(polars_err(path, &format!("reading column `{name}`")))?;
        return Ok(ca
            .iter()
            .map(|v| v.map_or(MetaValue::Null, MetaValue::Bool))
            .collect());
    }
    Ok(strings(df, name, "metadata", path)?
        .into_iter()
        .map(|v| v.map_or(MetaValue::Null, MetaValue::Str))
        .collect())
}

/// Turn table rows into examples of `pool` (ids `<prefix>-<n>` unless an id column is set).
/// With a renderer the text is rendered from the row; otherwise it comes from `map.text`.
pub fn to_examples(
    path: &Path,
    table: &Table,
    map: &ColumnMap,
    renderer: Option<&Renderer>,
    pool: usize,
    prefix: &str,
    out: &mut Collected,
) -> Result<()> {
    let df = &table.df;
    let n = df.height();
    let source = out.sources.len();
    out.sources.push(path.display().to_string());
    if n == 0 {
        return Ok(());
    }
    // Sequence tasks read the label as text; multi-label tasks as lists (JSON lines bring
    // theirs in `table.labels`).
    let sets = match (&map.multilabel, &table.labels) {
        (None, _) => None,
        (Some(_), Some(pre)) => Some(std::borrow::Cow::Borrowed(pre)),
        (Some(how), None) => Some(std::borrow::Cow::Owned(label_sets(
            df, &map.label, path, how,
        )?)),
    };
    let labels = match &sets {
        None => strings(df, &map.label, "label_column", path)?,
        Some(sets) if sets.len() != n => {
            return Err(IngestError::Format {
                path: path.to_path_buf(),
                line: 0,
                message: format!(
                    "read {} label values for {n} rows; expected one per row",
                    sets.len()
                ),
            });
        }
        Some(_) => Vec::new(),
    };
    let texts = match renderer {
        Some(r) => r.render_all(df, path)?,
        None => strings(df, &map.text, "text_column", path)?
            .into_iter()
            .map(|t| t.ok_or_else(|| "the text is missing".to_string()))
            .collect(),
    };
    let texts_b = match &map.text_b {
        Some(c) => Some(strings(df, c, "text_b_column", path)?),
        None => None,
    };
    let ids = match &map.id {
        Some(c) => Some(strings(df, c, "id_column", path)?),
        None => None,
    };
    let mut used: Vec<&str> = vec![map.label.as_str()];
    if renderer.is_none() {
        used.push(&map.text);
    }
    used.extend(map.text_b.as_deref());
    used.extend(map.id.as_deref());
    let meta_names: Vec<String> = match &map.metadata {
        Some(names) => names.clone(),
        None => df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .filter(|n| !used.contains(&n.as_str()))
            .collect(),
    };
    let mut meta_cols = Vec::with_capacity(meta_names.len());
    let mut meta_slots = Vec::with_capacity(meta_names.len());
    for name in &meta_names {
        meta_cols.push(meta_values(df, name, path)?);
        let slot = match out.meta_names.iter().position(|m| m == name) {
            Some(i) => i,
            None => {
                out.meta_names.push(name.clone());
                for ex in &mut out.examples {
                    ex.meta.push(MetaValue::Null);
                }
                out.meta_names.len() - 1
            }
        };
        meta_slots.push(slot);
    }
    for row in 0..n {
        out.read[pool] += 1;
        let line = table.lines.get(row).copied().unwrap_or(row as u64 + 1);
        let id = ids
            .as_ref()
            .and_then(|ids| ids[row].clone())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("{prefix}-{:06}", row + 1));
        let text_b = texts_b.as_ref().and_then(|t| t[row].clone());
        let mut meta = vec![MetaValue::Null; out.meta_names.len()];
        for (col, &slot) in meta_cols.iter().zip(&meta_slots) {
            meta[slot] = col[row].clone();
        }
        let (text, problem) = match &texts[row] {
            Ok(t) => (t.clone(), None),
            Err(msg) => (String::new(), Some((Reason::MissingValue, msg.clone()))),
        };
        let (label, problem) = match &sets {
            Some(sets) => set_label(&sets[row], &map.label, problem),
            None => class_label(labels[row].as_deref(), map, problem),
        };
        let ex = Example {
            pool,
            split: pool,
            id,
            doc_id: String::new(),
            source,
            line,
            token_lines: Vec::new(),
            body: Body::Text {
                text,
                text_b,
                label,
            },
            meta,
        };
        match problem {
            Some((reason, detail)) => out.reject(&ex, reason, detail),
            None => {
                let mut ex = ex;
                ex.doc_id = ex.id.clone();
                out.examples.push(ex);
            }
        }
    }
    Ok(())
}

type Problem = Option<(Reason, String)>;

/// A multi-label row's raw items, or why it is rejected (after an earlier `problem`).
fn set_label(raw: &RawLabels, column: &str, problem: Problem) -> (Label, Problem) {
    match raw {
        RawLabels::Items(items) => (Label::Set(items.clone()), problem),
        RawLabels::Missing => (
            Label::Set(Vec::new()),
            problem.or_else(|| {
                Some((
                    Reason::MissingLabel,
                    format!(
                        "column `{column}` is missing; expected a list of labels (possibly empty)"
                    ),
                ))
            }),
        ),
        RawLabels::Malformed(detail) => (
            Label::Set(Vec::new()),
            problem.or_else(|| {
                Some((
                    Reason::MalformedLabels,
                    format!("column `{column}`: {detail}"),
                ))
            }),
        ),
    }
}

/// A sequence row's class through `label_map`, or why it is rejected.
fn class_label(raw: Option<&str>, map: &ColumnMap, problem: Problem) -> (Label, Problem) {
    let raw_label = raw.map(str::trim).unwrap_or_default();
    let label = if map.label_map.is_empty() {
        Some(raw_label.to_string())
    } else {
        map.label_map.get(raw_label).cloned()
    };
    let problem = problem.or_else(|| {
        if raw_label.is_empty() {
            Some((
                Reason::MissingLabel,
                format!("column `{}` is empty", map.label),
            ))
        } else if label.is_none() {
            Some((
                Reason::UnknownLabel,
                format!(
                    "label `{raw_label}` is not in label_map (expected one of {})",
                    map.label_map.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ))
        } else {
            None
        }
    });
    (
        Label::Class(label.unwrap_or_else(|| raw_label.to_string())),
        problem,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected() -> Collected {
        Collected {
            pools: vec!["all".into()],
            read: vec![0],
            ..Collected::default()
        }
    }

    fn dialect() -> CsvDialect {
        CsvDialect {
            delimiter: b',',
            quote: Some(b'"'),
            has_header: true,
            columns: None,
            max_line_bytes: 1000,
        }
    }

    #[test]
    fn csv_keeps_lines_across_quoted_newlines_and_rejects_ragged_rows() {
        let text = "text,label\r\n\"a, \"\"b\"\"\nc\",pos\r\nx,neg,extra\n\ny,neg\n";
        let mut out = collected();
        let t = read_csv(Path::new("t.csv"), text, &dialect(), 0, &mut out).unwrap();
        assert_eq!(t.df.height(), 2);
        assert_eq!(t.lines, vec![2, 6]);
        let texts = strings(&t.df, "text", "text_column", Path::new("t.csv")).unwrap();
        assert_eq!(texts[0].as_deref(), Some("a, \"b\"\nc"));
        assert_eq!(out.rejects.len(), 1);
        assert_eq!(
            (out.rejects[0].reason, out.rejects[0].line),
            (Reason::RaggedRow, 4)
        );
        assert_eq!(out.read[0], 1);
    }

    #[test]
    fn unterminated_quote_is_a_reject() {
        let mut out = collected();
        let t = read_csv(
            Path::new("t"),
            "text,label\nok,1\n\"open,1\nmore,2\n",
            &dialect(),
            0,
            &mut out,
        )
        .unwrap();
        assert_eq!(t.df.height(), 1);
        assert_eq!(out.rejects[0].reason, Reason::UnterminatedQuote);
        assert_eq!(out.rejects[0].line, 3);
    }

    #[test]
    fn missing_column_names_the_param_and_the_columns() {
        let mut out = collected();
        let t = read_csv(Path::new("t.csv"), "a,b\n1,2\n", &dialect(), 0, &mut out).unwrap();
        let map = ColumnMap {
            text: "a".into(),
            label: "label".into(),
            ..ColumnMap::default()
        };
        let err = to_examples(Path::new("t.csv"), &t, &map, None, 0, "all", &mut out)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `label` (param `label_column`) does not exist"),
            "{err}"
        );
        assert!(err.contains("`a`, `b`"), "{err}");
    }

    #[test]
    fn jsonl_rejects_bad_lines_and_keeps_types() {
        let mut out = collected();
        let text = "{\"text\":\"a\",\"label\":1,\"n\":2}\nnot json\n\n{\"text\":\"b\",\"label\":0,\"n\":3}\n";
        let t = read_jsonl(Path::new("t.jsonl"), text, 1000, None, 0, &mut out).unwrap();
        assert_eq!(t.lines, vec![1, 4]);
        assert_eq!(out.rejects[0].reason, Reason::InvalidJson);
        let map = ColumnMap {
            text: "text".into(),
            label: "label".into(),
            ..ColumnMap::default()
        };
        to_examples(Path::new("t.jsonl"), &t, &map, None, 0, "all", &mut out).unwrap();
        assert_eq!(out.examples.len(), 2);
        assert_eq!(out.meta_names, vec!["n".to_string()]);
        assert_eq!(out.examples[1].meta, vec![MetaValue::Int(3)]);
        assert_eq!(out.read[0], 3);
    }
}
