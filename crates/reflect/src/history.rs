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

/// Counts (supports, sizes, speed): logged, but not metrics to follow over training.
const COUNT_KEYS: [&str; 7] = [
    "support",
    "examples",
    "sentences",
    "words",
    "train_examples",
    "items",
    "tokens_per_s",
];
/// Key parts that mark one class's or entity type's entry.
const PER_LABEL: [&str; 3] = ["per_type", "per_class", "per_label"];

/// The evaluations of a history as a table (see [`History::evaluation_table`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalTable {
    /// The x value (step, epoch or line) of each column.
    pub xs: Vec<f64>,
    /// One row per metric: its key and its value at each column.
    pub rows: Vec<(String, Vec<Option<f64>>)>,
    /// Evaluations in the history (more than `xs` when some were left out).
    pub evaluations: usize,
}

/// Every numeric field of every line, in file order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One map per line: flattened key -> value.
    pub points: Vec<BTreeMap<String, f64>>,
    /// The name of the metric behind `dev_score` (the train stage's `dev_metric`, e.g.
    /// `primary` or `entity.micro.f1`), when logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<String>,
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
        let mut selection = None;
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
            if let Some(name) = value.get("dev_metric").and_then(|v| v.as_str()) {
                selection = Some(name.to_string());
            }
            let mut point = BTreeMap::new();
            flatten("", &value, &mut point);
            points.push(point);
        }
        Ok(Self { points, selection })
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

    /// The key of the dev metric the run selected its checkpoint by: `dev_score` when the
    /// train stage logged it, else [`History::dev_metric`]'s guess.
    pub fn selection_key(&self) -> Option<String> {
        if self.points.iter().any(|p| p.contains_key("dev_score")) {
            Some("dev_score".into())
        } else {
            self.dev_metric()
        }
    }

    /// How findings name a series: `dev_score` as `dev <its metric>` (`dev primary`, as the
    /// train stage logs it), any other key as itself.
    pub fn label(&self, key: &str) -> String {
        match (key, &self.selection) {
            ("dev_score", Some(name)) => format!("dev {name}"),
            ("dev_score", None) => "dev score".into(),
            _ => key.to_string(),
        }
    }

    /// Evaluation metrics summed up over classes (per-class and per-type entries and counts
    /// left out), the selection metric and `train_score` first.
    pub fn aggregate_keys(&self) -> Vec<String> {
        let first = [self.selection_key(), Some("train_score".to_string())];
        let mut keys: Vec<String> = first
            .into_iter()
            .flatten()
            .filter(|k| self.points.iter().any(|p| p.contains_key(k)))
            .collect();
        for k in self.metric_keys() {
            let parts: Vec<&str> = k.split('.').collect();
            let counted = parts.last().is_some_and(|l| COUNT_KEYS.contains(l));
            let per_label = parts.iter().any(|p| PER_LABEL.contains(p));
            if !counted && !per_label && !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys
    }

    /// The evaluations as a table: one column per line holding an aggregate metric other than
    /// `train_score` (at most `max_columns`, evenly spread, the first and last kept), one row
    /// per [`History::aggregate_keys`].
    pub fn evaluation_table(&self, max_columns: usize) -> EvalTable {
        let keys = self.aggregate_keys();
        let x_key = self.x_key();
        let evals: Vec<(usize, &BTreeMap<String, f64>)> = self
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| keys.iter().any(|k| k != "train_score" && p.contains_key(k)))
            .collect();
        let n = evals.len();
        let chosen: Vec<usize> = if n <= max_columns || max_columns < 2 {
            (0..n.min(max_columns.max(1))).collect()
        } else {
            let mut c: Vec<usize> = (0..max_columns)
                .map(|i| (i * (n - 1) + (max_columns - 1) / 2) / (max_columns - 1))
                .collect();
            c.dedup();
            c
        };
        let columns: Vec<(usize, &BTreeMap<String, f64>)> =
            chosen.iter().map(|&i| evals[i]).collect();
        EvalTable {
            xs: columns
                .iter()
                .map(|(line, p)| {
                    if x_key == "line" {
                        *line as f64
                    } else {
                        p.get(x_key).copied().unwrap_or(f64::NAN)
                    }
                })
                .collect(),
            rows: keys
                .into_iter()
                .map(|k| {
                    let values = columns.iter().map(|(_, p)| p.get(&k).copied()).collect();
                    (k, values)
                })
                .collect(),
            evaluations: n,
        }
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
    fn the_evaluation_table_keeps_aggregates_and_spreads_its_columns() {
        let mut text = String::new();
        for i in 1..=10 {
            text.push_str(&format!("{{\"step\": {}, \"loss\": 1.0}}\n", i * 10));
            text.push_str(&format!(
                "{{\"step\": {}, \"dev_score\": 0.{i}, \"train_score\": 0.5, \"dev\": {{\"accuracy\": 0.{i}, \"examples\": 9, \"macro\": {{\"f1\": 0.2, \"support\": 9}}, \"per_class\": {{\"a\": {{\"f1\": 0.1}}}}}}}}\n",
                i * 10
            ));
        }
        let h = History::parse(&text, Path::new("h.jsonl")).unwrap();
        assert_eq!(h.selection_key().as_deref(), Some("dev_score"));
        assert_eq!(
            h.aggregate_keys(),
            vec!["dev_score", "train_score", "dev.accuracy", "dev.macro.f1"]
        );
        let t = h.evaluation_table(4);
        assert_eq!(t.evaluations, 10);
        assert_eq!(t.xs, vec![10.0, 40.0, 70.0, 100.0]);
        assert_eq!(t.rows[0].0, "dev_score");
        assert_eq!(
            t.rows[0].1,
            vec![Some(0.1), Some(0.4), Some(0.7), Some(0.1)]
        );
        let all = h.evaluation_table(20);
        assert_eq!(all.xs.len(), 10);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = History::parse("{\"step\": 1}\nnot json\n", Path::new("h.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("h.jsonl:2:"), "{err}");
    }
}
