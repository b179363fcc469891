//! Throughput of the tokenize stage's work on a CoNLL file: encode (labels, windows) and
//! write Parquet, in words per second. Driven by `scripts/bench/tokenize.sh`.
//!
//! `cargo run --release -p tokenize --example bench -- <conll> <model_dir> <min_words> <runs>`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use flowcore::{LabelMap, TaskKind};
use tokenize::stage::encode_token_split;
use tokenize::table::TokenExample;
use tokenize::{EncodeOptions, Encoder, write_windows};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() == 4,
        "usage: bench <conll> <model_dir> <min_words> <runs>"
    );
    let conll = PathBuf::from(&args[0]);
    let model = PathBuf::from(&args[1]);
    let min_words: usize = args[2].parse().context("min_words")?;
    let runs: usize = args[3].parse().context("runs")?;

    // The same sentences the Python peer reads: separators are lines empty after trimming.
    let text = fs_err::read_to_string(&conll)?;
    let mut sentences: Vec<(Vec<String>, Vec<String>)> = vec![(vec![], vec![])];
    for line in text.lines() {
        if line.trim().is_empty() {
            if !sentences.last().is_some_and(|s| s.0.is_empty()) {
                sentences.push((vec![], vec![]));
            }
            continue;
        }
        let (word, tag) = line.rsplit_once('\t').context("no TAB")?;
        let last = sentences.last_mut().context("no sentence")?;
        last.0.push(word.to_string());
        last.1.push(tag.trim().to_string());
    }
    sentences.retain(|s| !s.0.is_empty());
    let mut tags: Vec<String> = sentences.iter().flat_map(|s| s.1.iter().cloned()).collect();
    tags.sort();
    tags.dedup();
    let labels = LabelMap::new(TaskKind::Token, tags);
    let mut examples = Vec::new();
    let mut words = 0;
    while words < min_words {
        for (i, (w, t)) in sentences.iter().enumerate() {
            words += w.len();
            examples.push(TokenExample {
                id: format!("{}-{i}", examples.len()),
                words: w.clone(),
                tags: Some(t.clone()),
            });
        }
    }
    let encoder = Encoder::from_model_dir(&model, EncodeOptions::new(128))?;
    let out = tempfile_path();
    for _ in 0..runs {
        let start = Instant::now();
        let (windows, report) = encode_token_split(&encoder, &labels, &examples)?;
        let encoded = start.elapsed().as_secs_f64();
        write_windows(&out, &windows, TaskKind::Token)?;
        let seconds = start.elapsed().as_secs_f64();
        anyhow::ensure!(report.words.words_lost == 0, "words lost");
        println!(
            "{}",
            serde_json::json!({
                "impl": "rust",
                "words": words,
                "examples": examples.len(),
                "windows": windows.len(),
                "seconds": seconds,
                "encode_seconds": encoded,
                "words_per_s": words as f64 / seconds,
                "threads": rayon::current_num_threads(),
            })
        );
    }
    let _ = fs_err::remove_file(&out);
    Ok(())
}

fn tempfile_path() -> PathBuf {
    std::env::temp_dir().join(format!("tokenize-bench-{}.parquet", std::process::id()))
}
