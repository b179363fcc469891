//! The data of a run ([`TrainData`]) and its reading from a tokenize artifact directory
//! ([`read_data`]), shared by the stage (rank 0) and the workers (the other ranks).

use std::path::Path;

use flowcore::{LabelMap, schema};
use tokenize::Window;

use crate::error::Result;

/// The data of a run.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// Training windows.
    pub train: Vec<Window>,
    /// Dev windows (may be empty: no evaluation then).
    pub dev: Vec<Window>,
    /// The label map (task and names in id order).
    pub labels: LabelMap,
    /// Window length the data was encoded for (used by `pad_to_max_length`).
    pub max_length: Option<usize>,
}

/// The training data of a tokenize artifact directory: labels, train and dev windows (a
/// missing split is empty) and the encoded window length.
pub fn read_data(dir: &Path) -> Result<TrainData> {
    let labels = LabelMap::read(&dir.join(schema::LABELS_FILE))?;
    let read = |split: &str| -> Result<Vec<Window>> {
        if !dir.join(schema::split_file(split)).is_file() {
            return Ok(Vec::new());
        }
        Ok(tokenize::read_split(dir, split)?)
    };
    Ok(TrainData {
        train: read("train")?,
        dev: read("dev")?,
        labels,
        max_length: encoded_max_length(dir),
    })
}

/// The window length the tokenize artifact was encoded for (`encoding.json`'s `max_length`).
fn encoded_max_length(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join(schema::tokenize::ENCODING_FILE)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("max_length")?.as_u64().map(|n| n as usize)
}
