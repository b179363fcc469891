//! `serve`: answer predictions of a fine-tuned checkpoint over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use evaluate::DeviceChoice;
use serve::{Limits, ModelSpec, Server};

/// Serve a fine-tuned BERT checkpoint over HTTP: POST /predict (the results of `evaluate
/// predict`), GET /health, /info, /metrics (Prometheus) and a page to try it at /.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Fine-tuned HF model directory: a train artifact's checkpoints/best.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Decide as the evaluation did: an evaluate artifact (or its metrics.json) whose recorded
    /// out-of-scope rule or multi-label thresholds are applied.
    #[arg(long, conflicts_with_all = ["reject_below", "out_of_scope_label"])]
    evaluation: Option<PathBuf>,
    /// Out-of-scope label of the checkpoint (predicting it rejects the text).
    #[arg(long)]
    out_of_scope_label: Option<String>,
    /// Reject texts whose most probable label's probability is below this.
    #[arg(long)]
    reject_below: Option<f64>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// A batch closes once its requests hold this many sub-words.
    #[arg(long, default_value_t = Limits::default().max_batch_tokens)]
    max_batch_tokens: usize,
    /// How long the model waits for more requests after the first of a batch (ms).
    #[arg(long, default_value_t = Limits::default().max_wait_ms)]
    max_wait_ms: u64,
    /// Requests that may wait for the model; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().queue)]
    queue: usize,
    /// Largest request body in bytes; larger ones are answered 413.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Time from a request's arrival to its answer (ms); later ones are answered 504.
    #[arg(long, default_value_t = Limits::default().timeout_ms)]
    timeout_ms: u64,
    /// Most sub-words per window (default: the checkpoint's encoding.json, else 128).
    #[arg(long)]
    max_length: Option<usize>,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// auto, cpu or cuda.
    #[arg(long, value_parser = parse_json_enum::<DeviceChoice>, default_value = "auto")]
    device: DeviceChoice,
    /// Add the K most probable labels with their probabilities (sequence tasks).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// The label whose probability ranks candidates (default: the second of two labels).
    #[arg(long)]
    positive_label: Option<String>,
    /// libtorch threads for inference (default: libtorch's choice).
    #[arg(long)]
    threads: Option<i32>,
    /// More logging (-v: one line per request; -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_json_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| format!("`{s}`: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    flowcore::logging::init(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            flowcore::logging::report(&err);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        tch::set_num_threads(n);
    }
    let spec = ModelSpec {
        checkpoint: cli.checkpoint.clone(),
        evaluation: cli.evaluation.clone(),
        out_of_scope_label: cli.out_of_scope_label.clone(),
        reject_below: cli.reject_below,
        max_length: cli.max_length,
        batch_size: cli.batch_size,
        device: cli.device.device()?,
        top_k: cli.top_k,
        positive_label: cli.positive_label.clone(),
    };
    let limits = Limits {
        max_batch_tokens: cli.max_batch_tokens,
        max_wait_ms: cli.max_wait_ms,
        queue: cli.queue,
        max_body_bytes: cli.max_body_bytes,
        timeout_ms: cli.timeout_ms,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let server = Server::bind(&spec, limits, cli.addr)
            .await
            .with_context(|| format!("serving {}", spec.checkpoint.display()))?;
        let addr = server.local_addr()?;
        tracing::info!(
            "serving {} on http://{addr} (batches up to {} sub-words, {} ms wait, queue {})",
            spec.checkpoint.display(),
            limits.max_batch_tokens,
            limits.max_wait_ms,
            limits.queue
        );
        server.run(serve::shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}
