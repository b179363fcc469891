//! The data profile: rows per split, label distribution, length quantiles (words,
//! characters), entities per type, vocabulary size, OOV rate of dev/test against train, plus
//! the cleaning counts (duplicates, conflicts, leakage, tag repairs, rejects by reason).
//! Multi-label tasks add per split the label cardinality (mean labels per example, sizes of
//! the sets), the empty sets and the co-occurrence of label pairs.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::error::Result;
use crate::model::{Body, Example, Label};

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

/// Most label pairs listed per split (the most frequent first).
const MAX_PAIRS: usize = 200;

/// Label sets of a split: frequency per label (every label of the list, so a label no example
/// carries shows as 0), cardinality, empty sets, co-occurring pairs.
fn label_sets(part: &[&Example], labels: &[String], entry: &mut serde_json::Map<String, Value>) {
    let mut freq: BTreeMap<String, u64> = labels.iter().map(|l| (l.clone(), 0)).collect();
    let mut sizes = [0u64; 4];
    let mut total = 0usize;
    let mut max = 0usize;
    let mut pairs: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut distinct: HashSet<&[String]> = HashSet::new();
    for e in part {
        let Body::Text {
            label: Label::Set(items),
            ..
        } = &e.body
        else {
            continue;
        };
        for (i, a) in items.iter().enumerate() {
            *freq.entry(a.clone()).or_default() += 1;
            for b in &items[i + 1..] {
                *pairs.entry((a.as_str(), b.as_str())).or_default() += 1;
            }
        }
        sizes[items.len().min(3)] += 1;
        total += items.len();
        max = max.max(items.len());
        distinct.insert(items.as_slice());
    }
    let mut top: Vec<((&str, &str), u64)> = pairs.iter().map(|(k, v)| (*k, *v)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mean = if part.is_empty() {
        0.0
    } else {
        (total as f64 / part.len() as f64 * 10000.0).round() / 10000.0
    };
    entry.insert("labels".into(), json!(freq));
    entry.insert(
        "cardinality".into(),
        json!({
            "mean": mean,
            "max": max,
            "sizes": {"0": sizes[0], "1": sizes[1], "2": sizes[2], "3+": sizes[3]},
        }),
    );
    entry.insert("empty_label_sets".into(), json!(sizes[0]));
    entry.insert("distinct_label_sets".into(), json!(distinct.len()));
    entry.insert(
        "co_occurrence".into(),
        json!({
            "pairs": pairs.len(),
            "top": top
                .iter()
                .take(MAX_PAIRS)
                .map(|((a, b), n)| json!({"labels": [a, b], "count": n}))
                .collect::<Vec<_>>(),
        }),
    );
}

/// Profile of the kept examples with their label list; `extra` (cleaning counts) is merged in
/// as is.
pub fn profile(examples: &[Example], task: &str, labels: &[String], extra: Value) -> Result<Value> {
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
            "multilabel" => label_sets(&part, labels, &mut entry),
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
        match task {
            "token" => "Entities per type",
            "multilabel" => "Label frequency (examples carrying each label)",
            _ => "Label distribution",
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
    if task == "multilabel" {
        s += &label_sets_markdown(p);
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

/// Pairs shown in the Markdown co-occurrence table.
const MD_PAIRS: usize = 10;

fn label_sets_markdown(p: &Value) -> String {
    let mut s = String::from(
        "\n## Label sets\n\n| split | rows | mean labels | max | 0 (empty) | 1 | 2 | 3+ | distinct sets |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for name in flowcore::schema::SPLITS {
        let sp = &p["splits"][name];
        let c = &sp["cardinality"];
        s += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            sp["rows"],
            c["mean"],
            c["max"],
            c["sizes"]["0"],
            c["sizes"]["1"],
            c["sizes"]["2"],
            c["sizes"]["3+"],
            sp["distinct_label_sets"]
        );
    }
    let count = |split: &str, a: &str, b: &str| -> u64 {
        p["splits"][split]["co_occurrence"]["top"]
            .as_array()
            .and_then(|top| {
                top.iter().find(|t| {
                    t["labels"][0].as_str() == Some(a) && t["labels"][1].as_str() == Some(b)
                })
            })
            .and_then(|t| t["count"].as_u64())
            .unwrap_or(0)
    };
    s += &format!(
        "\n## Label co-occurrence (the {MD_PAIRS} most frequent pairs in train)\n\n| pair | train | dev | test |\n|---|---:|---:|---:|\n"
    );
    let top = p["splits"]["train"]["co_occurrence"]["top"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for t in top.iter().take(MD_PAIRS) {
        let (a, b) = (
            t["labels"][0].as_str().unwrap_or("?"),
            t["labels"][1].as_str().unwrap_or("?"),
        );
        s += &format!(
            "| {a} + {b} | {} | {} | {} |\n",
            count("train", a, b),
            count("dev", a, b),
            count("test", a, b)
        );
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

    fn multi(id: usize, split: usize, labels: &[&str]) -> Example {
        Example {
            pool: split,
            split,
            id: id.to_string(),
            doc_id: id.to_string(),
            source: 0,
            line: id as u64,
            token_lines: vec![],
            body: Body::Text {
                text: format!("text {id}"),
                text_b: None,
                label: Label::Set(labels.iter().map(|s| s.to_string()).collect()),
            },
            meta: vec![],
        }
    }

    #[test]
    fn multilabel_profile_has_cardinality_and_co_occurrence() {
        let examples = [
            multi(1, 0, &["joy"]),
            multi(2, 0, &["anger", "joy"]),
            multi(3, 0, &["anger", "joy", "sadness"]),
            multi(4, 0, &[]),
            multi(5, 1, &["anger", "joy"]),
        ];
        let labels = ["anger", "fear", "joy", "sadness"].map(String::from);
        let p = profile(&examples, "multilabel", &labels, json!({})).unwrap();
        let train = &p["splits"]["train"];
        assert_eq!(
            train["labels"],
            json!({"anger": 2, "fear": 0, "joy": 3, "sadness": 1})
        );
        assert_eq!(
            train["cardinality"],
            json!({"mean": 1.5, "max": 3, "sizes": {"0": 1, "1": 1, "2": 1, "3+": 1}})
        );
        assert_eq!(train["empty_label_sets"], 1);
        assert_eq!(train["distinct_label_sets"], 4);
        assert_eq!(train["co_occurrence"]["pairs"], 3);
        assert_eq!(
            train["co_occurrence"]["top"][0],
            json!({"labels": ["anger", "joy"], "count": 2})
        );
        let md = markdown(&p);
        assert!(
            md.contains("| train | 4 | 1.5 | 3 | 1 | 1 | 1 | 1 | 4 |"),
            "{md}"
        );
        assert!(md.contains("| anger + joy | 2 | 1 | 0 |"), "{md}");
        assert!(md.contains("Label frequency"), "{md}");
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
