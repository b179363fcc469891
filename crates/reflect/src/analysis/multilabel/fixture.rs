//! Test fixture of the multi-label path: 40 examples over three labels with known errors,
//! written as predictions files, and the params the tests use.

use std::path::Path;

use flowcore::{Artifact, TaskKind};
use metrics::predictions::join_set;
use metrics::{PredictionRow, Predictions};
use serde_json::json;

use crate::data::multilabel::Sources;
use crate::findings::Finding;
use crate::params::ReflectParams;

pub(crate) const LABELS: [&str; 3] = ["anger", "fear", "joy"];

pub(crate) fn labels() -> Vec<String> {
    LABELS.map(String::from).to_vec()
}

/// 40 examples: `anger` (0..10) is always missed, `fear` (10..20) is always read as
/// `joy`, `joy` (20..40) is always found; 36..40 also have gold `anger`, missed.
pub(crate) fn examples() -> Vec<(Vec<bool>, Vec<bool>, Vec<f32>)> {
    (0..40)
        .map(|i| match i {
            0..10 => (
                vec![true, false, false],
                vec![false, false, false],
                vec![0.1, 0.05, 0.05],
            ),
            10..20 => (
                vec![false, true, false],
                vec![false, false, true],
                vec![0.05, 0.2, 0.8],
            ),
            20..36 => (
                vec![false, false, true],
                vec![false, false, true],
                vec![0.05, 0.05, 0.9],
            ),
            _ => (
                vec![true, false, true],
                vec![false, false, true],
                vec![0.3, 0.05, 0.9],
            ),
        })
        .collect()
}

pub(crate) fn write(path: &Path, rows: &[(Vec<bool>, Vec<bool>, Vec<f32>)]) {
    let labels = labels();
    let mut p = Predictions::new(TaskKind::Multilabel, labels.clone());
    for (i, (g, pr, probs)) in rows.iter().enumerate() {
        p.rows.push(PredictionRow {
            id: format!("ex{i}"),
            word: None,
            token: Some(format!("text of example {i}")),
            gold: join_set(&labels, g),
            pred: join_set(&labels, pr),
            probs: Some(probs.clone()),
        });
    }
    p.write(path).unwrap();
}

pub(crate) fn params() -> ReflectParams {
    ReflectParams {
        resamples: 200,
        min_slice_support: 5,
        ..ReflectParams::default()
    }
}

pub(crate) fn sources(dir: &Path) -> Sources {
    let split = dir.join("predictions-test.parquet");
    write(&split, &examples());
    Sources {
        split,
        ..Sources::default()
    }
}

pub(crate) fn find<'a>(found: &'a [Finding], id: &str) -> &'a Finding {
    found.iter().find(|f| f.id == id).unwrap_or_else(|| {
        panic!(
            "no finding `{id}` in {:?}",
            found.iter().map(|f| &f.id).collect::<Vec<_>>()
        )
    })
}

pub(crate) fn baseline_sources(dir: &Path, rows: &[(Vec<bool>, Vec<bool>, Vec<f32>)]) -> Sources {
    let mut s = sources(dir);
    let base_dir = dir.join("baseline");
    fs_err::create_dir_all(&base_dir).unwrap();
    let b = base_dir.join("predictions-test.parquet");
    write(&b, rows);
    s.baseline = Some(b);
    s
}

/// A manifest listing `files` (only the listing matters to `Artifact::file`).
pub(crate) fn artifact(dir: &Path, kind: &str, files: &[&str]) -> Artifact {
    let manifest = serde_json::from_value(json!({
        "layout_version": flowcore::store::LAYOUT_VERSION,
        "stage": kind, "kind": kind, "stage_version": 1, "fingerprint": "f",
        "params": {}, "inputs": [], "raw_inputs": [],
        "files": files.iter().map(|f| json!({"path": f, "bytes": 0, "sha256": ""})).collect::<Vec<_>>(),
        "started": "", "finished": "", "duration_s": 0.0, "tool_version": "",
        "host": {"hostname": "", "os": "", "cpus": 1}, "metrics": {},
    }))
    .unwrap();
    Artifact {
        dir: dir.to_path_buf(),
        manifest,
    }
}
