//! Prints the trainer's order of training windows, one JSON array of batches (window indices)
//! per epoch, for side-by-side runs where HF `Trainer` is fed exactly the same batches
//! (`scripts/peers/train_hf_seq.py --order-file`, `scripts/bench/clinc150_same_order.sh`).
//! Window `i` is row `i` of the tokenize artifact's train split.
//!
//! `cargo run -p train --example batch_order -- <windows> <batch size> <seed> <epochs>`
//! (a random order: the sequence-task default).

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [n, batch, seed, epochs] = args.as_slice() else {
        anyhow::bail!("usage: batch_order <windows> <batch size> <seed> <epochs>");
    };
    let n: usize = n.parse().context("windows")?;
    let batch: usize = batch.parse().context("batch size")?;
    let seed: u64 = seed.parse().context("seed")?;
    let epochs: u64 = epochs.parse().context("epochs")?;
    // Lengths only matter for length grouping, which this order does not use.
    let lengths = vec![1; n];
    for epoch in 0..epochs {
        let batches = train::data::epoch_batches(&lengths, batch, false, seed, epoch);
        println!("{}", serde_json::to_string(&batches)?);
    }
    Ok(())
}
