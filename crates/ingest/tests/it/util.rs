//! Helpers: a temp-dir runner, Parquet readers and the location of the vendored real data.

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use ingest::{IngestParams, Summary};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use tempfile::TempDir;

/// The project's `data/` folder, which vendors the real data sets with their licenses.
pub fn real_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    assert!(
        dir.join("README.md").is_file(),
        "the vendored data sets are missing: expected them at {} (see data/README.md)",
        dir.display()
    );
    dir
}

/// Run the stage with JSON params (task from the params) into a fresh temp dir.
pub fn run(params: Value) -> (TempDir, Result<Summary, String>) {
    let dir = tempfile::tempdir().unwrap();
    let result = flowcore::params::parse::<IngestParams>(&params)
        .map_err(|e| e.to_string())
        .and_then(|mut p| {
            p.validate(None).map_err(|e| e.to_string())?;
            ingest::ingest(&p, dir.path()).map_err(|e| format!("{e:#}"))
        });
    (dir, result)
}

/// Run and unwrap.
pub fn run_ok(params: Value) -> (TempDir, Summary) {
    let (dir, result) = run(params);
    match result {
        Ok(s) => (dir, s),
        Err(e) => panic!("ingest failed: {e}"),
    }
}

/// Write `content` to `name` inside `dir`, returning the path as a string.
pub fn file(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

/// All rows of a Parquet file as one batch, read with arrow-rs (a plain reader).
pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty()));
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// A utf8 column as strings (None for nulls).
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    assert_eq!(col.data_type(), &DataType::Utf8, "column {name}");
    let arr = col.as_string::<i32>();
    (0..arr.len())
        .map(|i| arr.is_valid(i).then(|| arr.value(i).to_string()))
        .collect()
}

/// A list<utf8> column as vectors of strings.
pub fn lists(batch: &RecordBatch, name: &str) -> Vec<Vec<String>> {
    let col = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let DataType::List(item) = col.data_type() else {
        panic!(
            "column {name} is {:?}, expected list<utf8>",
            col.data_type()
        )
    };
    assert_eq!(item.data_type(), &DataType::Utf8);
    let list = col.as_list::<i32>();
    (0..list.len())
        .map(|i| {
            let v = list.value(i);
            let s = v.as_string::<i32>();
            (0..s.len()).map(|j| s.value(j).to_string()).collect()
        })
        .collect()
}

/// Rows of a split file in an output dir.
pub fn split(dir: &Path, name: &str) -> RecordBatch {
    read_parquet(&dir.join(format!("{name}.parquet")))
}

/// (reason, line) of every reject.
pub fn rejects(dir: &Path) -> Vec<(String, u64, String)> {
    let b = read_parquet(&dir.join("rejects.parquet"));
    if b.num_rows() == 0 {
        return Vec::new();
    }
    let reasons = strings(&b, "reason");
    let details = strings(&b, "detail");
    let lines = b
        .column_by_name("line")
        .unwrap()
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .values()
        .to_vec();
    reasons
        .into_iter()
        .zip(lines)
        .zip(details)
        .map(|((r, l), d)| (r.unwrap(), l, d.unwrap()))
        .collect()
}

/// The accounting of a pool from the metrics.
pub fn accounting(s: &Summary, pool: &str) -> [u64; 4] {
    let a = &s.metrics["accounting"][pool];
    ["read", "kept", "rejected", "duplicates"].map(|k| a[k].as_u64().unwrap())
}
