//! Inference throughput of `evaluate::infer` on a CoNLL file (`token<TAB>tag`, sentences
//! separated by lines that are empty after trimming): encodes every sentence with the
//! checkpoint's tokenizer, runs batched no-grad inference twice (warm-up, timed) and prints
//! one JSON line with sub-word tokens per second. Peer: `scripts/bench/evaluate_peer.py`.
//!
//! Usage: bench_infer <checkpoint dir> <conll file> <batch size> <max length> <threads>

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use evaluate::{InferOptions, infer};
use tokenize::{EncodeOptions, Encoder};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 6,
        "usage: bench_infer <checkpoint> <conll> <batch> <max_length> <threads>"
    );
    let checkpoint = PathBuf::from(&args[1]);
    let text = fs_err::read_to_string(&args[2])?;
    let batch_size: usize = args[3].parse().context("batch size")?;
    let max_length: usize = args[4].parse().context("max length")?;
    let threads: i32 = args[5].parse().context("threads")?;
    tch::set_num_threads(threads);

    let mut sentences: Vec<Vec<String>> = vec![Vec::new()];
    for line in text.lines() {
        if line.trim().is_empty() {
            if sentences.last().is_some_and(|s| !s.is_empty()) {
                sentences.push(Vec::new());
            }
        } else if let (Some(word), Some(s)) = (line.split('\t').next(), sentences.last_mut()) {
            s.push(word.to_string());
        }
    }
    sentences.retain(|s| !s.is_empty());
    let encoder = Encoder::from_model_dir(&checkpoint, EncodeOptions::new(max_length))?;
    let mut windows = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        windows.extend(encoder.encode_words(&i.to_string(), s)?);
    }
    let tokens: usize = windows.iter().map(|w| w.input_ids.len()).sum();
    let (model, _vs, _) = bert::load(
        &checkpoint,
        flowcore::TaskKind::Token,
        &[],
        tch::Device::Cpu,
    )?;
    let opts = InferOptions {
        batch_size,
        ..InferOptions::default()
    };
    infer(&model, &windows, &opts)?;
    let start = Instant::now();
    let out = infer(&model, &windows, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    let words: usize = out.iter().map(|o| o.words.len()).sum();
    println!(
        "{}",
        serde_json::json!({
            "impl": "ours",
            "sentences": sentences.len(),
            "windows": windows.len(),
            "words": words,
            "tokens": tokens,
            "seconds": secs,
            "tokens_per_s": tokens as f64 / secs,
        })
    );
    Ok(())
}
