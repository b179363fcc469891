//! Serving a fine-tuned checkpoint over HTTP.
//!
//! `POST /predict` answers through evaluate's [`evaluate::Predictor`], the code behind
//! `evaluate predict`, so a result is the JSON line `evaluate predict` writes for the same
//! text with the same flags (`--evaluation` applies the evaluation's recorded cost threshold,
//! multi-label thresholds or rejection rule). Requests are batched by sub-words on one model thread.
//!
//! - [`cli`]: the command-line options shared with `pipeline serve`, and the blocking entry.
//! - [`config`]: what is served ([`ModelSpec`]) and the bounds ([`Limits`]).
//! - [`request`]: the `/predict` body, read strictly (422 names what was expected).
//! - [`worker`]: the model thread and its token-bounded dynamic batching.
//! - [`prometheus`]: counters and histograms for `/metrics`.
//! - [`info`]: the `/info` document (checkpoint, artifact fingerprints, labels, rules).
//! - [`server`]: routes, error answers, graceful shutdown ([`Server`]).
//! - [`error`]: [`ServeError`] and the status each error answers with.

pub mod cli;
pub mod config;
pub mod error;
pub mod info;
pub mod prometheus;
pub mod request;
pub mod server;
pub mod worker;

pub use config::{BatchThreads, Limits, ModelSpec};
pub use error::{Result, ServeError};
pub use server::{Server, shutdown_signal};
