//! Scores a checkpoint on one split of a tokenize artifact with the dev-metric code (the
//! evaluate stage's inference and merge), for benchmarks against the HF peer.
//!
//! `cargo run -p train --example score -- <checkpoint dir> <tokenize artifact dir> [split]`

use std::path::Path;

use anyhow::Context;
use flowcore::LabelMap;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(ckpt), Some(tok)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: score <checkpoint dir> <tokenize artifact dir> [split]");
    };
    let split = args.get(3).map_or("test", String::as_str);
    let tok = Path::new(tok);
    let labels = LabelMap::read(&tok.join(flowcore::schema::LABELS_FILE))?;
    let windows = tokenize::read_split(tok, split).with_context(|| format!("split {split}"))?;
    let (model, _vs, _) = bert::load(Path::new(ckpt), labels.task, &[], tch::Device::Cpu)?;
    let metrics = train::trainer::dev_metrics(&model, &windows, &labels, 64, tch::Device::Cpu)?;
    let (name, value) = metrics.primary();
    println!(
        "{}",
        serde_json::json!({"split": split, "checkpoint": ckpt, "metric": name, "value": value, "metrics": metrics})
    );
    Ok(())
}
