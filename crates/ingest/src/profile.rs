//! The data profile: rows per split, label distribution, length quantiles (words,
//! characters), entities per type, vocabulary size, OOV rate of dev/test against train, plus
//! the cleaning counts (duplicates, conflicts, leakage, tag repairs, rejects by reason).

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::error::Result;
use crate::model::{Body, Example};

/// The quantiles reported for lengths.
const QUANTILES: [(&str, f64); 6] = [
    ("p25", 0.25),
    ("p50", 0.5),
    ("p75", 0.75),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
];

/// Words of an example (tokens, or whitespace-separated words of the text).
fn words(e: &Example) -> Vec<&str> {
    match &e.body {
        Body::Tokens { tokens, .. } => tokens.iter().map(String::as_str).collect(),
        Body::Text { text, text_b, .. } => text
            .split_whitespace()
            .chain(text_b.iter().flat_map(|b| b.split_whitespace()))
            .collect(),
    }
}

fn chars(e: &Example) -> usize {
    match &e.body {
        Body::Tokens { tokens, .. } => {
            tokens.iter().map(|t| t.chars().count()).sum::<usize>() + tokens.len().saturating_sub(1)
        }
        Body::Text { text, text_b, .. } => {
            text.chars().count() + text_b.as_ref().map_or(0, |b| b.chars().count())
        }
    }
}

/// min, quantiles (linear interpolation between the closest ranks, as numpy's and polars'
/// default), max and mean of some lengths, rounded to 2 decimals; all null when empty.
fn length_stats(values: &[u32]) -> Value {
    let mut sorted: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
    sorted.sort_by(f64::total_cmp);
    let quantile = |q: f64| -> Option<f64> {
        let last = sorted.len().checked_sub(1)?;
        let pos = q * last as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
    };
    let mean = (!sorted.is_empty()).then(|| sorted.iter().sum::<f64>() / sorted.len() as f64);
    let mut map = serde_json::Map::new();
    let round = |v: Option<f64>| v.map_or(Value::Null, |x| json!((x * 100.0).round() / 100.0));
    map.insert("min".into(), round(quantile(0.0)));
    for (name, q) in QUANTILES {
        map.insert(name.into(), round(quantile(q)));
    }
    map.insert("max".into(), round(quantile(1.0)));
    map.insert("mean".into(), round(mean));
    Value::Object(map)
}

/// Counts of each value, sorted by value.
fn value_counts(values: Vec<String>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

/// Profile of the kept examples; `extra` (cleaning counts) is merged in as is.
pub fn profile(examples: &[Example], task: &str, extra: Value) -> Result<Value> {
    let splits = flowcore::schema::SPLITS;
    let train_vocab: HashSet<&str> = examples
        .iter()
        .filter(|e| e.split == 0)
        .flat_map(words)
        .collect();
    let mut per_split = serde_json::Map::new();
    for (s, name) in splits.iter().enumerate() {
        let part: Vec<&Example> = examples.iter().filter(|e| e.split == s).collect();
        let n_words: Vec<u32> = part.iter().map(|e| words(e).len() as u32).collect();
        let n_chars: Vec<u32> = part.iter().map(|e| chars(e) as u32).collect();
        let mut entry = serde_json::Map::new();
        entry.insert("rows".into(), json!(part.len()));
        entry.insert("words".into(), length_stats(&n_words));
        entry.insert("chars".into(), length_stats(&n_chars));
        let all_words: Vec<&str> = part.iter().flat_map(|e| words(e)).collect();
        let vocab: HashSet<&str> = all_words.iter().copied().collect();
        entry.insert("word_count".into(), json!(all_words.len()));
        entry.insert("vocabulary".into(), json!(vocab.len()));
        if s > 0 {
            let oov = all_words
                .iter()
                .filter(|w| !train_vocab.contains(*w))
                .count();
            let oov_types = vocab.iter().filter(|w| !train_vocab.contains(*w)).count();
            entry.insert("oov_rate".into(), json!(ratio(oov, all_words.len())));
            entry.insert("oov_type_rate".into(), json!(ratio(oov_types, vocab.len())));
        }
        match task {
            "token" => {
                let mut entities = Vec::new();
                let mut tags = Vec::new();
                for e in &part {
                    if let Body::Tokens { tags: t, .. } = &e.body {
                        for tag in t {
                            if let Some(ty) = tag.strip_prefix("B-") {
                                entities.push(ty.to_string());
                            }
                            tags.push(tag.clone());
                        }
                    }
                }
                entry.insert("entity_count".into(), json!(entities.len()));
                entry.insert("entities".into(), json!(value_counts(entities)));
                entry.insert("tags".into(), json!(value_counts(tags)));
            }
            _ => {
                let labels = part.iter().map(|e| e.label_key()).collect();
                entry.insert("labels".into(), json!(value_counts(labels)));
            }
        }
        per_split.insert((*name).to_string(), Value::Object(entry));
    }
    let mut out = json!({ "task": task, "splits": per_split });
    if let (Value::Object(map), Value::Object(extra)) = (&mut out, extra) {
        map.extend(extra);
    }
    Ok(out)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 10000.0).round() / 10000.0
    }
}

/// Render the profile as Markdown for people.
pub fn markdown(p: &Value) -> String {
    let mut s = String::from("# Data profile\n\n");
    let task = p["task"].as_str().unwrap_or("?");
    s += &format!("Task: **{task}**");
    if let Some(scheme) = p["tag_scheme"].as_str() {
        s += &format!(" · input tag scheme: **{scheme}** (converted to IOB2)");
    }
    s += "\n\n## Row accounting\n\n| pool | read | kept | rejected | duplicates removed |\n|---|---:|---:|---:|---:|\n";
    if let Some(acc) = p["accounting"].as_object() {
        for (pool, a) in acc {
            s += &format!(
                "| {pool} | {} | {} | {} | {} |\n",
                a["read"], a["kept"], a["rejected"], a["duplicates"]
            );
        }
    }
    s += "\n## Splits\n\n| split | rows | words p50 | words p95 | words max | chars p50 | chars max | vocabulary | OOV rate |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for name in flowcore::schema::SPLITS {
        let sp = &p["splits"][name];
        s += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            sp["rows"],
            sp["words"]["p50"],
            sp["words"]["p95"],
            sp["words"]["max"],
            sp["chars"]["p50"],
            sp["chars"]["max"],
            sp["vocabulary"],
            sp.get("oov_rate").map_or("–".to_string(), |v| format!(
                "{:.2}%",
                v.as_f64().unwrap_or(0.0) * 100.0
            )),
        );
    }
    let key = if task == "token" {
        "entities"
    } else {
        "labels"
    };
    s += &format!(
        "\n## {}\n\n| {} | train | dev | test |\n|---|---:|---:|---:|\n",
        if task == "token" {
            "Entities per type"
        } else {
            "Label distribution"
        },
        if task == "token" { "type" } else { "label" }
    );
    let mut names: std::collections::BTreeSet<String> = Default::default();
    for name in flowcore::schema::SPLITS {
        if let Some(m) = p["splits"][name][key].as_object() {
            names.extend(m.keys().cloned());
        }
    }
    for n in names {
        let cell = |split: &str| p["splits"][split][key][&n].as_u64().unwrap_or(0);
        s += &format!(
            "| {n} | {} | {} | {} |\n",
            cell("train"),
            cell("dev"),
            cell("test")
        );
    }
    s += "\n## Cleaning\n\n";
    for (label, k) in [
        ("Exact duplicates removed", "duplicates"),
        (
            "Exact duplicates found (removed or not)",
            "duplicates_found",
        ),
        ("Label conflicts", "conflicts"),
        (
            "Duplicates and conflicting copies kept (evaluation splits are scored as given)",
            "kept_duplicate_ids",
        ),
        ("Leakage (train texts also in dev/test)", "leakage"),
        ("Tag repairs", "tag_repairs"),
        ("Rejects by reason", "rejects"),
        ("Other counts", "counters"),
    ] {
        if let Some(v) = p.get(k) {
            s += &format!("- {label}: `{v}`\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: `numpy.percentile([1, 2, 3, 4, 10], [25, 50, 75, 90, 95, 99])` (numpy's
    /// default "linear" method, which polars' `QuantileMethod::Linear` also follows) =
    /// `[2, 3, 4, 7.6, 8.8, 9.76]`.
    #[test]
    fn length_quantiles_interpolate_linearly_as_numpy() {
        let stats = length_stats(&[10, 3, 1, 4, 2]);
        let want = json!({
            "min": 1.0, "p25": 2.0, "p50": 3.0, "p75": 4.0, "p90": 7.6, "p95": 8.8,
            "p99": 9.76, "max": 10.0, "mean": 4.0
        });
        assert_eq!(stats, want);
        let empty = length_stats(&[]);
        assert!(empty.as_object().unwrap().values().all(Value::is_null));
        assert_eq!(length_stats(&[7])["p90"], json!(7.0));
    }

    #[test]
    fn value_counts_count_and_sort_by_value() {
        let counts = value_counts(["b", "a", "b", "c", "b"].map(String::from).to_vec());
        assert_eq!(
            counts.into_iter().collect::<Vec<_>>(),
            [
                ("a".to_string(), 1),
                ("b".to_string(), 3),
                ("c".to_string(), 1)
            ]
        );
    }
}
