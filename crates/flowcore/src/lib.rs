//! Shared foundation of every pipeline stage.
//!
//! - [`store`]: the versioned on-disk artifact store (fingerprinted, atomically committed,
//!   hash-verified stage directories with a `manifest.json`).
//! - [`stage`]: the one small interface a stage implements so the runner can fingerprint,
//!   skip or execute it without knowing its internals, plus [`stage::execute`], the single
//!   code path used both by the pipeline runner and by each stage's own binary.
//! - [`params`]: typed, path-aware parsing of a stage's parameter table.
//! - [`types`]: task kinds, label maps and tag schemes that several stages share.
//! - [`schema`]: the file and column names that make up the contract between stages.
//! - [`hash`]: content hashes and canonical JSON fingerprints.
//! - [`logging`]: `tracing` set-up shared by every binary (stderr, `-v`/`-q`, `RUST_LOG`).
//! - [`progress`]: progress of long loops: a bar on a terminal, a plain line every 30 s in a log.

pub mod error;
pub mod hash;
pub mod logging;
pub mod params;
pub mod progress;
pub mod schema;
pub mod stage;
pub mod store;
pub mod types;

pub use error::{CoreError, Result};
pub use stage::{
    EvalPoint, Globals, InputSpec, Monitor, Resolved, Stage, StageContext, StageOutcome, Verdict,
    Watch,
};
pub use store::{Artifact, Manifest, Store};
pub use types::{LabelMap, TagScheme, TaskKind};
