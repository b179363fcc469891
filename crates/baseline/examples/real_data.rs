//! Benchmark: the baselines on WNUT-17 and on German Credit rendered to text.
//!
//! `cargo run --release -p baseline --example real_data -- [DATA_DIR] [OUT_DIR]`
//! (defaults: the project's `data/`, `target/bench-baseline`). Prints a markdown table of test
//! (and dev) scores and training times.
//!
//! Until the ingest stage's output is used here, this example builds ingest-shaped artifacts
//! itself: WNUT-17 from the CoNLL files (a sentence separator is a line empty after trimming),
//! German Credit rendered with the ingest crate's codebook (`data/codebooks/german_credit.toml`)
//! and split 80/10/10, stratified, seed 42.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use arrow::array::{ArrayRef, StringArray};
use flowcore::stage::{StageContext, StageOutcome};
use flowcore::{Globals, LabelMap, TaskKind};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use testkit::{FakeStage, string_lists, write_parquet};

enum Rows {
    Seq(Vec<(String, String)>),
    Tok(Vec<(Vec<String>, Vec<String>)>),
}

struct Prepared {
    name: &'static str,
    task: TaskKind,
    labels: Vec<String>,
    splits: Vec<(&'static str, Rows)>,
}

impl Prepared {
    /// Writes the ingest artifact's files (the run of the stand-in ingest stage).
    fn write_artifact(&self, ctx: &StageContext<'_>) -> anyhow::Result<StageOutcome> {
        LabelMap::new(self.task, self.labels.clone()).write(&ctx.out_dir.join("labels.json"))?;
        for (split, rows) in &self.splits {
            let path = ctx.out_dir.join(format!("{split}.parquet"));
            let ids = |n: usize| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("{split}-{i}")),
                ))
            };
            match rows {
                Rows::Seq(rows) => write_parquet(
                    &path,
                    vec![
                        ("id", ids(rows.len())),
                        (
                            "text",
                            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
                        ),
                        (
                            "label",
                            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
                        ),
                    ],
                )?,
                Rows::Tok(rows) => write_parquet(
                    &path,
                    vec![
                        ("id", ids(rows.len())),
                        ("doc_id", ids(rows.len())),
                        ("tokens", string_lists(rows.iter().map(|r| &r.0), false)),
                        ("tags", string_lists(rows.iter().map(|r| &r.1), false)),
                    ],
                )?,
            }
        }
        Ok(StageOutcome::default())
    }
}

fn read_conll(path: &Path) -> anyhow::Result<Vec<(Vec<String>, Vec<String>)>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    let (mut words, mut tags) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !words.is_empty() {
                out.push((std::mem::take(&mut words), std::mem::take(&mut tags)));
            }
            continue;
        }
        let (w, t) = line
            .rsplit_once('\t')
            .with_context(|| format!("{}:{}: expected token<TAB>tag", path.display(), n + 1))?;
        words.push(w.to_string());
        tags.push(t.trim().to_string());
    }
    if !words.is_empty() {
        out.push((words, tags));
    }
    Ok(out)
}

fn wnut(data: &Path) -> anyhow::Result<Prepared> {
    let dir = data.join("wnut17");
    let splits = [
        ("train", "wnut17train.conll"),
        ("dev", "emerging.dev.conll"),
        ("test", "emerging.test.annotated"),
    ];
    let mut labels = vec!["O".to_string()];
    let mut out = Vec::new();
    for (split, file) in splits {
        let rows = read_conll(&dir.join(file))?;
        for t in rows.iter().flat_map(|r| &r.1) {
            if !labels.contains(t) {
                labels.push(t.clone());
            }
        }
        out.push((split, Rows::Tok(rows)));
    }
    labels[1..].sort();
    Ok(Prepared {
        name: "wnut17",
        task: TaskKind::Token,
        labels,
        splits: out,
    })
}

fn german_credit(data: &Path, codebook: &Path) -> anyhow::Result<Prepared> {
    let book: toml::Value = toml::from_str(&std::fs::read_to_string(codebook)?)?;
    let columns: Vec<String> = book["columns"]
        .as_array()
        .context("codebook columns")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let template = book["template"].as_str().context("codebook template")?;
    let codes = book["codes"].as_table().context("codebook codes")?;
    let label_map = book["label_map"].as_table().context("codebook label_map")?;
    let raw = std::fs::read_to_string(data.join("german_credit/german.data"))?;
    let mut by_label: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in raw.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let mut text = template.to_string();
        let mut label = String::new();
        for (col, value) in columns.iter().zip(&fields) {
            if col == "class" {
                label = label_map[*value].as_str().unwrap_or(value).to_string();
                continue;
            }
            let phrase = codes.get(*value).and_then(|v| v.as_str()).unwrap_or(value);
            text = text.replace(&format!("{{{col}}}"), phrase);
        }
        by_label
            .entry(label.clone())
            .or_default()
            .push((text, label));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let (mut train, mut dev, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for rows in by_label.values_mut() {
        rows.shuffle(&mut rng);
        let n = rows.len();
        let n_dev = (n as f64 * 0.1).round() as usize;
        let n_test = (n as f64 * 0.1).round() as usize;
        test.extend(rows.drain(..n_test));
        dev.extend(rows.drain(..n_dev));
        train.append(rows);
    }
    Ok(Prepared {
        name: "german_credit",
        task: TaskKind::Sequence,
        labels: vec!["good".into(), "bad".into()],
        splits: vec![
            ("train", Rows::Seq(train)),
            ("dev", Rows::Seq(dev)),
            ("test", Rows::Seq(test)),
        ],
    })
}

fn main() -> anyhow::Result<()> {
    flowcore::logging::init(0, true);
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = args.get(1).map_or_else(|| root.join("data"), PathBuf::from);
    let out = args
        .get(2)
        .map_or_else(|| root.join("target/bench-baseline"), PathBuf::from);
    let prepared = [
        german_credit(&data, &root.join("data/codebooks/german_credit.toml"))?,
        wnut(&data)?,
    ];
    println!(
        "| data | model | split | metric | value | accuracy | cost/example | train s | predict s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in prepared {
        let globals = Globals {
            pipeline: "bench".into(),
            task: Some(p.task),
            model: None,
        };
        let ingest = flowcore::stage::run_standalone(
            &FakeStage::new("ingest", |ctx| p.write_artifact(ctx)),
            &out,
            &format!("ingest-{}", p.name),
            &serde_json::json!({"data": p.name}),
            &globals,
            &[],
            true,
        )?;
        let mut params = serde_json::json!({});
        if p.task == TaskKind::Sequence {
            params["metrics"] = serde_json::json!({
                "positive": "bad",
                "cost_matrix": {"bad": {"good": 5.0}, "good": {"bad": 1.0}},
            });
        }
        let done = flowcore::stage::run_standalone(
            &baseline::BaselineStage,
            &out,
            &format!("baseline-{}", p.name),
            &params,
            &globals,
            std::slice::from_ref(&ingest.artifact.dir),
            true,
        )?;
        let metrics = &done.artifact.manifest.metrics["models"];
        for (model, m) in metrics.as_object().context("models")? {
            for split in ["test", "dev"] {
                let s = &m["scores"][split];
                let (metric, value) = s
                    .as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.contains("f1")))
                    .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN)))
                    .unwrap_or_default();
                let acc = s["accuracy"]
                    .as_f64()
                    .or_else(|| s["token_accuracy"].as_f64())
                    .unwrap_or(f64::NAN);
                let cost = s["cost_mean"]
                    .as_f64()
                    .map_or("".into(), |c| format!("{c:.3}"));
                println!(
                    "| {} | {model} | {split} | {metric} | {value:.4} | {acc:.4} | {cost} | {:.2} | {:.2} |",
                    p.name,
                    m["train_seconds"].as_f64().unwrap_or(f64::NAN),
                    m["predict_seconds"].as_f64().unwrap_or(f64::NAN),
                );
            }
        }
        eprintln!("{}: {}", p.name, done.artifact.dir.display());
    }
    Ok(())
}
