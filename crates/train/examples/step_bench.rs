//! Benchmark of one full training step at fixed shapes, for the GPU comparison of the train
//! issue (peer: `scripts/bench/train_step_peer.py`, driver: `scripts/bench/gpu_train.sh`).
//!
//! A token classifier built from config alone (BERT-base shape by default: 12 layers, hidden
//! 768, 12 heads, vocabulary 30522), random ids, and the trainer's step: forward (under bf16
//! autocast with `--precision bf16`), fp32 cross-entropy, backward, gradient-norm clipping at
//! 1.0 and our AdamW. Prints one JSON line: samples/s, tokens/s, milliseconds per step and how
//! they split between forward+backward and clip+optimizer, and model FLOP utilisation
//! `6 x non-embedding params x tokens/s / peak` when `--peak-tflops` is given.
//!
//! `cargo run --release -p train --example step_bench -- --device cuda --batch 64 --seq 128`

use std::time::Instant;

use anyhow::{Context, bail};
use bert::{Autocast, BertClassifier, BertConfig, Inputs, TaskKind};
use tch::{Device, Kind, Reduction, Tensor, nn};
use train::optim::{AdamW, AdamWConfig};

struct Args {
    device: Device,
    layers: i64,
    hidden: i64,
    heads: i64,
    batch: i64,
    seq: i64,
    iters: usize,
    warmup: usize,
    bf16: bool,
    threads: Option<i32>,
    peak_tflops: Option<f64>,
}

fn parse() -> anyhow::Result<Args> {
    let mut a = Args {
        device: Device::cuda_if_available(),
        layers: 12,
        hidden: 768,
        heads: 12,
        batch: 64,
        seq: 128,
        iters: 20,
        warmup: 5,
        bf16: true,
        threads: None,
        peak_tflops: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.chunks(2);
    for pair in &mut it {
        let [key, value] = pair else {
            bail!("`{}` has no value (arguments come as --key value)", pair[0]);
        };
        let num = |what: &str| -> anyhow::Result<f64> {
            value
                .parse::<f64>()
                .with_context(|| format!("{key}: expected {what}, found `{value}`"))
        };
        match key.as_str() {
            "--device" => {
                a.device = match value.as_str() {
                    "cpu" => Device::Cpu,
                    "cuda" if tch::Cuda::is_available() => Device::Cuda(0),
                    "cuda" => bail!("--device cuda: libtorch sees no CUDA device"),
                    other => bail!("--device: expected cpu or cuda, found `{other}`"),
                }
            }
            "--layers" => a.layers = num("a layer count")? as i64,
            "--hidden" => a.hidden = num("a hidden size")? as i64,
            "--heads" => a.heads = num("a head count")? as i64,
            "--batch" => a.batch = num("a batch size")? as i64,
            "--seq" => a.seq = num("a sequence length")? as i64,
            "--iters" => a.iters = num("a step count")? as usize,
            "--warmup" => a.warmup = num("a step count")? as usize,
            "--threads" => a.threads = Some(num("a thread count")? as i32),
            "--peak-tflops" => a.peak_tflops = Some(num("TFLOP/s")?),
            "--precision" => {
                a.bf16 = match value.as_str() {
                    "bf16" => true,
                    "fp32" => false,
                    other => bail!("--precision: expected bf16 or fp32, found `{other}`"),
                }
            }
            other => bail!("unknown argument `{other}`"),
        }
    }
    if a.iters == 0 || a.hidden % a.heads != 0 {
        bail!("need --iters >= 1 and --hidden divisible by --heads");
    }
    Ok(a)
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn main() -> anyhow::Result<()> {
    let a = parse()?;
    if let Some(n) = a.threads {
        tch::set_num_threads(n);
    }
    let labels: Vec<String> = (0..9).map(|i| format!("L{i}")).collect();
    let mut config = BertConfig::tiny(30522, a.hidden, a.layers);
    config.num_attention_heads = a.heads;
    config.set_labels(&labels);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(a.device);
    let model = BertClassifier::new(&vs.root(), &config, TaskKind::Token);
    let non_embedding: i64 = vs
        .variables()
        .iter()
        .filter(|(name, _)| !name.contains("embeddings"))
        .map(|(_, t)| t.numel() as i64)
        .sum();
    let mut opt = AdamW::new(
        vs.variables(),
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        },
    );
    let opts = (Kind::Int64, a.device);
    let ids = Tensor::randint_low(1000, 30522, [a.batch, a.seq], opts);
    let inputs = Inputs::new(ids.shallow_clone(), ids.ones_like());
    let targets = Tensor::randint(9, [a.batch * a.seq], opts);

    // Returns (forward+backward, clip+optimizer) seconds; `split` synchronises in between
    // (only for the breakdown: it costs the overlap of the two phases).
    let mut step = |split: bool| -> anyhow::Result<(f64, f64)> {
        let t0 = Instant::now();
        opt.zero_grad()?;
        let loss = {
            let _ac = a.bf16.then(|| Autocast::enter(a.device, Kind::BFloat16));
            let logits = model.forward_t(&inputs, true)?.logits;
            logits
                .to_kind(Kind::Float)
                .view([-1, 9])
                .cross_entropy_loss::<Tensor>(&targets, None, Reduction::Mean, -100, 0.0)
        };
        loss.backward();
        if split {
            sync(a.device);
        }
        let t1 = Instant::now();
        opt.clip_grad_norm(1.0)?;
        opt.step(5e-5)?;
        sync(a.device);
        Ok(((t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64()))
    };
    for _ in 0..a.warmup {
        step(false)?;
    }
    let start = Instant::now();
    for _ in 0..a.iters {
        step(false)?;
    }
    let secs = start.elapsed().as_secs_f64() / a.iters as f64;
    let (mut fb, mut optim) = (0.0, 0.0);
    for _ in 0..a.iters {
        let (f, o) = step(true)?;
        fb += f / a.iters as f64;
        optim += o / a.iters as f64;
    }
    let tokens_per_s = (a.batch * a.seq) as f64 / secs;
    let mfu = a
        .peak_tflops
        .map(|peak| 6.0 * non_embedding as f64 * tokens_per_s / (peak * 1e12));
    let json = serde_json::json!({
        "impl": "ours (tch)",
        "device": format!("{:?}", a.device),
        "precision": if a.bf16 { "bf16" } else { "fp32" },
        "layers": a.layers, "hidden": a.hidden, "batch": a.batch, "seq": a.seq,
        "iters": a.iters,
        "non_embedding_params": non_embedding,
        "ms_per_step": secs * 1e3,
        "ms_forward_backward": fb * 1e3,
        "ms_clip_optimizer": optim * 1e3,
        "samples_per_s": a.batch as f64 / secs,
        "tokens_per_s": tokens_per_s,
        "mfu": mfu,
    });
    println!("{json}");
    Ok(())
}
