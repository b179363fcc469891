//! Differences between two metric sets, like `dvc metrics diff`: for every numeric value
//! (addressed by its dotted JSON path, array items by index) the old value, the new value
//! and the change, as a text table and as JSON.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{MetricsError, Result};

/// One metric in both sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDiff {
    /// Dotted path (`test.entity.micro.f1`).
    pub metric: String,
    /// Value in the first set; `None` when absent or `null`.
    pub old: Option<f64>,
    /// Value in the second set.
    pub new: Option<f64>,
    /// `new - old` when both exist.
    pub diff: Option<f64>,
}

/// The differences between two metric sets, in the order of the first set, then metrics
/// only the second has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Comparison {
    /// One row per metric.
    pub rows: Vec<MetricDiff>,
}

/// Compares two metric documents (any JSON; only numbers are compared).
pub fn compare(old: &Value, new: &Value) -> Comparison {
    let mut a = Vec::new();
    flatten("", old, &mut a);
    let mut b = Vec::new();
    flatten("", new, &mut b);
    let b_lookup: std::collections::HashMap<&str, Option<f64>> =
        b.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let a_keys: HashSet<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
    let mut rows = Vec::with_capacity(a.len().max(b.len()));
    for (k, old) in &a {
        let new = b_lookup.get(k.as_str()).copied().flatten();
        rows.push(diff_row(k, *old, new));
    }
    for (k, new) in &b {
        if !a_keys.contains(k.as_str()) {
            rows.push(diff_row(k, None, *new));
        }
    }
    Comparison { rows }
}

/// Parses two metric documents (`what_a`/`what_b` name them in errors) and compares them.
pub fn compare_str(what_a: &str, a: &str, what_b: &str, b: &str) -> Result<Comparison> {
    let parse = |what: &str, text: &str| {
        serde_json::from_str::<Value>(text).map_err(|source| MetricsError::Json {
            what: what.to_owned(),
            source,
        })
    };
    Ok(compare(&parse(what_a, a)?, &parse(what_b, b)?))
}

fn diff_row(metric: &str, old: Option<f64>, new: Option<f64>) -> MetricDiff {
    MetricDiff {
        metric: metric.to_owned(),
        old,
        new,
        diff: match (old, new) {
            (Some(o), Some(n)) => Some(n - o),
            _ => None,
        },
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Option<f64>)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Number(n) => out.push((prefix.to_owned(), n.as_f64())),
        // A NaN metric was written as null: keep the path so a change to/from it shows.
        Value::Null => out.push((prefix.to_owned(), None)),
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), v, out);
            }
        }
        Value::String(_) | Value::Bool(_) => {}
    }
}

impl Comparison {
    /// Only the rows whose value changed, appeared or disappeared.
    pub fn changed(&self) -> Self {
        Self {
            rows: self
                .rows
                .iter()
                .filter(|r| r.diff != Some(0.0) && !(r.old.is_none() && r.new.is_none()))
                .cloned()
                .collect(),
        }
    }

    /// `{ "<metric>": {"old": …, "new": …, "diff": …} }`, the shape of
    /// `dvc metrics diff --json` for one file.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for r in &self.rows {
            let mut entry = Map::new();
            for (k, v) in [("old", r.old), ("new", r.new), ("diff", r.diff)] {
                entry.insert(
                    k.to_owned(),
                    v.and_then(serde_json::Number::from_f64)
                        .map_or(Value::Null, Value::Number),
                );
            }
            map.insert(r.metric.clone(), Value::Object(entry));
        }
        Value::Object(map)
    }

    /// An aligned table `Metric  Old  New  Change`; `-` marks a missing value. Numbers
    /// that are whole print without decimals, others with `digits` decimals.
    pub fn to_text(&self, digits: usize) -> String {
        let fmt = |v: Option<f64>, signed: bool| match v {
            None => "-".to_owned(),
            Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => {
                if signed && x > 0.0 {
                    format!("+{x:.0}")
                } else {
                    format!("{x:.0}")
                }
            }
            Some(x) if signed => format!("{x:+.digits$}"),
            Some(x) => format!("{x:.digits$}"),
        };
        let table: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.metric.clone(),
                    fmt(r.old, false),
                    fmt(r.new, false),
                    fmt(r.diff, true),
                ]
            })
            .collect();
        let head = ["Metric", "Old", "New", "Change"].map(String::from);
        let mut widths = head.clone().map(|h| h.chars().count());
        for row in &table {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&head).chain(&table) {
            let line = format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_of_nested_metrics() {
        // Keys in sorted order, so the row order is the same with or without serde_json's
        // `preserve_order` feature.
        let a = json!({"test": {"cm": [[1, 2]], "f1": 0.5, "name": "x", "support": 10}});
        let b = json!({"test": {"auc": null, "cm": [[1, 3]], "f1": 0.75, "new": 1, "support": 10}});
        let c = compare(&a, &b);
        let f1 = c.rows.iter().find(|r| r.metric == "test.f1").unwrap();
        assert_eq!(
            (f1.old, f1.new, f1.diff),
            (Some(0.5), Some(0.75), Some(0.25))
        );
        let cm = c.rows.iter().find(|r| r.metric == "test.cm.0.1").unwrap();
        assert_eq!(cm.diff, Some(1.0));
        let added = c.rows.iter().find(|r| r.metric == "test.new").unwrap();
        assert_eq!((added.old, added.new), (None, Some(1.0)));
        let changed = c.changed();
        let changed: Vec<&str> = changed.rows.iter().map(|r| r.metric.as_str()).collect();
        assert_eq!(changed, ["test.cm.0.1", "test.f1", "test.new"]);
        let text = c.changed().to_text(4);
        assert_eq!(
            text,
            "Metric          Old     New   Change\ntest.cm.0.1       2       3       +1\ntest.f1      0.5000  0.7500  +0.2500\ntest.new          -       1        -\n"
        );
        assert_eq!(c.to_json()["test.f1"]["diff"], 0.25);
        assert_eq!(c.to_json()["test.auc"]["old"], Value::Null);
    }

    #[test]
    fn invalid_json_names_the_document() {
        let err = compare_str("a/metrics.json", "{", "b", "{}").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("a/metrics.json: invalid metrics JSON")
        );
    }
}
