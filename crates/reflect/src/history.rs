//! The train stage's `history.jsonl`: one JSON object per logged step or evaluation.
//!
//! The reader is lenient about which fields exist (train may log `loss`, `lr`, `grad_norm`,
//! dev metrics flat or nested) and strict about syntax: a line that is not a JSON object is an
//! error naming the file and line. Nested objects are flattened with dots (`dev.f1`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ReflectError, Result};

/// Keys that index a point rather than measure something.
const AXES: [&str; 2] = ["step", "epoch"];
/// Optimiser bookkeeping, plotted with the loss but never treated as a dev metric.
const TRAINING_KEYS: [&str; 3] = ["loss", "lr", "grad_norm"];

/// Every numeric field of every line, in file order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One map per line: flattened key -> value.
    pub points: Vec<BTreeMap<String, f64>>,
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, f64>) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.insert(prefix.to_string(), x);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {}
    }
}

impl History {
    /// Parse JSON lines (blank lines are skipped).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut points = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|source| ReflectError::JsonLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    source,
                })?;
            if !value.is_object() {
                return Err(ReflectError::Invalid {
                    place: format!("{}:{}", path.display(), i + 1),
                    message: "expected a JSON object per line".into(),
                });
            }
            let mut point = BTreeMap::new();
            flatten("", &value, &mut point);
            points.push(point);
        }
        Ok(Self { points })
    }

    /// Read `history.jsonl`.
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse(&fs_err::read_to_string(path)?, path)
    }

    /// The x axis: `step` when logged, else `epoch`, else the line number.
    pub fn x_key(&self) -> &'static str {
        if self.points.iter().any(|p| p.contains_key("step")) {
            "step"
        } else if self.points.iter().any(|p| p.contains_key("epoch")) {
            "epoch"
        } else {
            "line"
        }
    }

    /// `(x, y)` points of one series.
    pub fn series(&self, key: &str) -> Vec<(f64, f64)> {
        let x_key = self.x_key();
        self.points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let y = *p.get(key)?;
                let x = if x_key == "line" {
                    i as f64
                } else {
                    *p.get(x_key)?
                };
                (x.is_finite() && y.is_finite()).then_some((x, y))
            })
            .collect()
    }

    /// Keys of evaluation metrics (everything numeric that is not an axis or optimiser
    /// bookkeeping), sorted.
    pub fn metric_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .points
            .iter()
            .flat_map(|p| p.keys())
            .filter(|k| !AXES.contains(&k.as_str()) && !TRAINING_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The dev metric to judge training by: a key naming F1 (else accuracy), preferring
    /// dev-prefixed ones; lower-is-better keys (`loss`) are never chosen.
    pub fn dev_metric(&self) -> Option<String> {
        let keys = self.metric_keys();
        let score = |k: &str| -> Option<u8> {
            let l = k.to_ascii_lowercase();
            if l.contains("loss") {
                return None;
            }
            let dev = l.contains("dev") || l.contains("eval") || l.contains("val");
            let f1 = l.contains("f1");
            let acc = l.contains("acc");
            match (dev, f1, acc) {
                (true, true, _) => Some(0),
                (false, true, _) => Some(1),
                (true, false, true) => Some(2),
                (false, false, true) => Some(3),
                _ => None,
            }
        };
        keys.iter()
            .filter_map(|k| score(k).map(|s| (s, k)))
            .min()
            .map(|(_, k)| k.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flat_and_nested_lines_and_picks_the_dev_metric() {
        let text = r#"{"step": 10, "epoch": 0.5, "loss": 1.2, "lr": 0.001, "grad_norm": 3.0}
{"step": 20, "epoch": 1, "loss": 0.9, "dev": {"f1": 0.41, "loss": 0.7}}

{"step": 30, "epoch": 1.5, "loss": 0.7, "dev": {"f1": 0.45, "loss": 0.6}}
"#;
        let h = History::parse(text, Path::new("history.jsonl")).unwrap();
        assert_eq!(h.points.len(), 3);
        assert_eq!(h.x_key(), "step");
        assert_eq!(
            h.series("loss"),
            vec![(10.0, 1.2), (20.0, 0.9), (30.0, 0.7)]
        );
        assert_eq!(h.dev_metric().as_deref(), Some("dev.f1"));
        assert_eq!(h.metric_keys(), vec!["dev.f1", "dev.loss"]);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = History::parse("{\"step\": 1}\nnot json\n", Path::new("h.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("h.jsonl:2:"), "{err}");
    }
}
