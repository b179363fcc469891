//! The data profile: rows per split, label distribution, length quantiles (words,
//! characters), entities per type, vocabulary size, OOV rate of dev/test against train, plus
//! the cleaning counts (duplicates, conflicts, leakage, tag repairs, rejects by reason).
//! Length quantiles and label counts are computed with polars.

use std::collections::{BTreeMap, HashSet};

use polars::prelude::*;
use serde_json::{Value, json};

use crate::error::{IngestError, Result};
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

fn polars_err(context: &str) -> impl FnOnce(PolarsError) -> IngestError + use<> {
    let context = context.to_string();
    move |source| IngestError::Polars {
        path: "(profile)".into(),
        context,
        source,
    }
}

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

/// min, quantiles, max and mean of a column, computed by polars.
fn length_stats(df: &DataFrame, column: &str) -> Result<Value> {
    let mut exprs = vec![
        col(column).min().cast(DataType::Float64).alias("min"),
        col(column).max().cast(DataType::Float64).alias("max"),
        col(column).mean().cast(DataType::Float64).alias("mean"),
    ];
    for (name, q) in QUANTILES {
        exprs.push(
            col(column)
                .quantile(lit(q), QuantileMethod::Linear)
                .cast(DataType::Float64)
                .alias(name),
        );
    }
    let out = df
        .clone()
        .lazy()
        .select(exprs)
        .collect()
        .map_err(polars_err("length quantiles"))?;
    let mut map = serde_json::Map::new();
    for name in ["min"]
        .into_iter()
        .chain(QUANTILES.iter().map(|q| q.0))
        .chain(["max", "mean"])
    {
        let v = out
            .column(name)
            .and_then(|c| c.f64().map(|ca| ca.get(0)))
            .map_err(polars_err(name))?;
        map.insert(
            name.to_string(),
            v.map_or(Value::Null, |x| json!((x * 100.0).round() / 100.0)),
        );
    }
    Ok(Value::Object(map))
}

/// Counts of each value of a string column, sorted by value (polars group-by).
fn value_counts(values: Vec<String>, what: &str) -> Result<BTreeMap<String, u64>> {
    if values.is_empty() {
        return Ok(BTreeMap::new());
    }
    let df = df!("v" => values).map_err(polars_err(what))?;
    let out = df
        .lazy()
        .group_by([col("v")])
        .agg([len().cast(DataType::UInt64).alias("n")])
        .collect()
        .map_err(polars_err(what))?;
    let keys = out
        .column("v")
        .and_then(|c| c.str())
        .map_err(polars_err(what))?;
    let counts = out
        .column("n")
        .and_then(|c| c.u64())
        .map_err(polars_err(what))?;
    Ok(keys
        .iter()
        .zip(counts.iter())
        .filter_map(|(k, n)| Some((k?.to_string(), n?)))
        .collect())
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
        let df = df!("words" => n_words, "chars" => n_chars).map_err(polars_err("lengths"))?;
        let mut entry = serde_json::Map::new();
        entry.insert("rows".into(), json!(part.len()));
        entry.insert("words".into(), length_stats(&df, "words")?);
        entry.insert("chars".into(), length_stats(&df, "chars")?);
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
                entry.insert(
                    "entities".into(),
                    json!(value_counts(entities, "entities")?),
                );
                entry.insert("tags".into(), json!(value_counts(tags, "tags")?));
            }
            _ => {
                let labels = part.iter().map(|e| e.label_key()).collect();
                entry.insert("labels".into(), json!(value_counts(labels, "labels")?));
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
