//! The server's command-line options, shared by the `serve` binary (which names a checkpoint)
//! and `pipeline serve` (which finds the pipeline's checkpoint and evaluation), and the
//! blocking entry point both call.

use std::net::SocketAddr;

use anyhow::Context;
use evaluate::DeviceChoice;
use evaluate::predict::DecisionSource;

use crate::{Limits, ModelSpec, Server};

/// How to serve: address, batching and bounds, and the predictor's options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// A batch closes once its requests hold this many sub-words.
    #[arg(long, default_value_t = Limits::default().max_batch_tokens)]
    pub max_batch_tokens: usize,
    /// How long the model waits for more requests after the first of a batch (ms).
    #[arg(long, default_value_t = Limits::default().max_wait_ms)]
    pub max_wait_ms: u64,
    /// Requests that may wait for the model; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().queue)]
    pub queue: usize,
    /// Largest request body in bytes; larger ones are answered 413.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Time from a request's arrival to its answer (ms); later ones are answered 504.
    #[arg(long, default_value_t = Limits::default().timeout_ms)]
    pub timeout_ms: u64,
    /// Threads per batch: `adaptive` (all or one, whichever is faster now) or `all`.
    #[arg(long, value_enum, default_value = "adaptive")]
    pub batch_threads: crate::config::BatchThreads,
    /// Most sub-words per window (default: the checkpoint's encoding.json, else 128).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// auto, cpu or cuda.
    #[arg(long, value_parser = parse_json_enum::<DeviceChoice>, default_value = "auto")]
    pub device: DeviceChoice,
    /// Add the K most probable labels with their probabilities (sequence tasks).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// The label whose probability ranks candidates (default: the second of two labels).
    #[arg(long)]
    pub positive_label: Option<String>,
    /// libtorch threads for inference (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,
}

fn parse_json_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| format!("`{s}`: {e}"))
}

impl ServeArgs {
    /// The batching and bounds.
    pub fn limits(&self) -> Limits {
        Limits {
            max_batch_tokens: self.max_batch_tokens,
            max_wait_ms: self.max_wait_ms,
            queue: self.queue,
            max_body_bytes: self.max_body_bytes,
            timeout_ms: self.timeout_ms,
            batch_threads: self.batch_threads,
        }
    }

    /// What to serve: `checkpoint`, deciding as `decisions` says.
    pub fn spec(
        &self,
        checkpoint: std::path::PathBuf,
        decisions: DecisionSource,
    ) -> anyhow::Result<ModelSpec> {
        Ok(ModelSpec {
            checkpoint,
            evaluation: decisions.evaluation,
            out_of_scope_label: decisions.out_of_scope_label,
            reject_below: decisions.reject_below,
            max_length: self.max_length,
            batch_size: self.batch_size,
            device: self.device.device()?,
            top_k: self.top_k,
            positive_label: self.positive_label.clone(),
        })
    }

    /// Serves `spec` until SIGTERM or Ctrl-C, then drains in-flight requests and returns.
    pub fn serve(&self, spec: &ModelSpec) -> anyhow::Result<()> {
        if let Some(n) = self.threads {
            tch::set_num_threads(n);
        }
        let limits = self.limits();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(async {
            let server = Server::bind(spec, limits, self.addr)
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
            server.run(crate::shutdown_signal()).await?;
            tracing::info!("stopped");
            anyhow::Ok(())
        })
    }
}
