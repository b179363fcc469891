//! Benchmark peer of `scripts/bench/bert_fwd_bwd.py`: forward + backward tokens/s of a token
//! classifier on random ids, printed as one JSON line.
//!
//! `cargo run --release -p bert --example fwd_bwd -- <model_dir> <batch> <seq_len> <iters> <threads>`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use bert::{Inputs, TaskKind};
use tch::{Device, Kind, Reduction, Tensor};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> anyhow::Result<T> {
    match args.get(i) {
        Some(s) => s
            .parse()
            .ok()
            .with_context(|| format!("argument {i}: cannot parse `{s}`")),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        args.get(1)
            .map_or("models/all-MiniLM-L6-v2", String::as_str),
    );
    let batch: i64 = arg(&args, 2, 32)?;
    let seq: i64 = arg(&args, 3, 64)?;
    let iters: usize = arg(&args, 4, 10)?;
    let threads: i32 = arg(&args, 5, 2)?;
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let labels: Vec<String> = (0..9).map(|i| format!("L{i}")).collect();
    let (model, vs, _) = bert::load(&dir, TaskKind::Token, &labels, Device::Cpu)
        .with_context(|| format!("loading {}", dir.display()))?;
    let vocab = model.config().vocab_size;
    let ids = Tensor::randint_low(1000, vocab, [batch, seq], (Kind::Int64, Device::Cpu));
    let inputs = Inputs::new(ids.shallow_clone(), ids.ones_like());
    let targets = Tensor::randint(9, [batch * seq], (Kind::Int64, Device::Cpu));
    let mut vars = vs.trainable_variables();
    let mut step = || -> anyhow::Result<()> {
        for v in vars.iter_mut() {
            v.zero_grad();
        }
        let logits = model.forward_t(&inputs, true)?.logits;
        let loss = logits.reshape([-1, 9]).cross_entropy_loss::<Tensor>(
            &targets,
            None,
            Reduction::Mean,
            -100,
            0.0,
        );
        loss.backward();
        Ok(())
    };
    for _ in 0..2 {
        step()?;
    }
    let start = Instant::now();
    for _ in 0..iters {
        step()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let tokens_per_s = (batch * seq) as f64 * iters as f64 / secs;
    println!(
        "{{\"impl\": \"tch\", \"batch\": {batch}, \"seq\": {seq}, \"iters\": {iters}, \"threads\": {threads}, \"seconds\": {secs:.3}, \"tokens_per_s\": {tokens_per_s:.1}}}"
    );
    Ok(())
}
