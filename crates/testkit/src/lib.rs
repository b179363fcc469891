//! Test support shared by the stage crates' tests and examples (a dev-dependency only, never
//! linked into a binary): a stand-in [`Stage`] whose run is a closure, and writers of the
//! small Parquet files that stand in for upstream artifacts.
//!
//! Ingest writes polars' large types (`LargeUtf8`, `LargeList<LargeUtf8>`); readers must also
//! take the plain ones a user's own Parquet may have, which is why the list writer takes a
//! `large` switch.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, GenericListBuilder, GenericStringBuilder, OffsetSizeTrait, RecordBatch, StringArray,
};
use flowcore::{Globals, InputSpec, Resolved, Stage, StageContext, StageOutcome};
use parquet::arrow::ArrowWriter;

/// What a stand-in stage does when it runs.
pub type StageFn = fn(&StageContext<'_>) -> anyhow::Result<StageOutcome>;

/// A stand-in stage of `kind` with no inputs, whose params are taken as given and whose run
/// is `run` (a fake ingest writing fixed splits, a fake train writing a tiny checkpoint).
pub struct FakeStage<F = StageFn> {
    /// The stage kind it stands in for (`"ingest"`).
    pub kind: &'static str,
    /// Writes the artifact's files into `ctx.out_dir`.
    pub run: F,
}

impl<F> FakeStage<F>
where
    F: Fn(&StageContext<'_>) -> anyhow::Result<StageOutcome> + Send + Sync,
{
    /// A stand-in stage from a closure (a function taking the closure fixes its signature for
    /// every lifetime of the context).
    pub fn new(kind: &'static str, run: F) -> Self {
        Self { kind, run }
    }
}

impl<F> Stage for FakeStage<F>
where
    F: Fn(&StageContext<'_>) -> anyhow::Result<StageOutcome> + Send + Sync,
{
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn version(&self) -> u32 {
        1
    }
    fn inputs(&self) -> &'static [InputSpec] {
        &[]
    }
    fn resolve(&self, raw: &serde_json::Value, _: &Globals) -> flowcore::Result<Resolved> {
        Ok(Resolved {
            params: raw.clone(),
            raw_inputs: Vec::new(),
        })
    }
    fn run(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        (self.run)(ctx)
    }
}

/// Writes one record batch as a Parquet file.
pub fn write_batch(path: &Path, batch: &RecordBatch) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None)?;
    writer.write(batch)?;
    writer.close()?;
    Ok(())
}

/// Writes named columns (all nullable) as a Parquet file.
pub fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) -> anyhow::Result<()> {
    write_batch(path, &RecordBatch::try_from_iter(columns)?)
}

/// A `Utf8` column.
pub fn strings<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// A list-of-strings column: `LargeList<LargeUtf8>` (what ingest writes) when `large`, else
/// `List<Utf8>`.
pub fn string_lists<S: AsRef<str>>(
    rows: impl IntoIterator<Item = impl IntoIterator<Item = S>>,
    large: bool,
) -> ArrayRef {
    if large {
        lists_with_offsets::<i64, S>(rows)
    } else {
        lists_with_offsets::<i32, S>(rows)
    }
}

/// A list-of-strings column whose lists and strings both use offsets of type `O`.
fn lists_with_offsets<O: OffsetSizeTrait, S: AsRef<str>>(
    rows: impl IntoIterator<Item = impl IntoIterator<Item = S>>,
) -> ArrayRef {
    let mut b = GenericListBuilder::<O, _>::new(GenericStringBuilder::<O>::new());
    for row in rows {
        for v in row {
            b.values().append_value(v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    #[test]
    fn lists_have_the_requested_types_and_values() {
        let rows = vec![vec!["a", "b"], vec![], vec!["c"]];
        let large = string_lists(rows.clone(), true);
        assert!(
            matches!(large.data_type(), DataType::LargeList(f) if f.data_type() == &DataType::LargeUtf8)
        );
        let small = string_lists(rows, false);
        assert!(matches!(small.data_type(), DataType::List(f) if f.data_type() == &DataType::Utf8));
        assert_eq!(small.len(), 3);
        let list = small
            .as_any()
            .downcast_ref::<arrow::array::ListArray>()
            .unwrap();
        assert_eq!(list.value_length(0), 2);
        assert_eq!(list.value_length(1), 0);
    }

    #[test]
    fn parquet_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write_parquet(
            &path,
            vec![
                ("id", strings(["x", "y"])),
                ("tags", string_lists([vec!["O"], vec!["B-PER", "O"]], true)),
            ],
        )
        .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 2);
    }
}
