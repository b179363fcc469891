//! The ingest stage: read raw labelled text, clean it, split it and profile it, and write
//! Parquet for the later stages.
//!
//! - Formats: CoNLL-style column files ([`conll`]), CSV/TSV/JSONL/Parquet tables ([`table`],
//!   read with polars), `text<sep>label` lines ([`separator`]) and table rows rendered to
//!   text through a template and a codebook ([`tabular`]); encodings in [`encoding`].
//! - Multi-label lists (text split on a separator, JSON arrays, Parquet lists, ids into a label
//!   file) are read and resolved in [`labelset`].
//! - Cleaning ([`clean`]), tag schemes converted to IOB2 with conlleval-style repairs
//!   ([`scheme`]), duplicates, label conflicts and leakage ([`dedup`]), seeded splits
//!   ([`split`]), the data profile ([`profile`]) and the Parquet writers ([`write`]).
//! - [`IngestStage`] implements [`flowcore::Stage`]; [`ingest`] runs the whole stage into a
//!   directory.
//!
//! Outputs (names in [`flowcore::schema`]): `{train,dev,test}.parquet`, `labels.json`,
//! `rejects.parquet`, `profile.json`, `profile.md`. Every input example is accounted for:
//! read = kept + rejected + duplicates removed, per split (or per pool of a seeded split),
//! checked before the artifact is committed.

pub mod clean;
pub mod columns;
pub mod conll;
pub mod dedup;
pub mod encoding;
pub mod error;
pub mod labelset;
pub mod model;
pub mod params;
pub mod profile;
pub mod scheme;
pub mod separator;
pub mod split;
pub mod stage;
pub mod table;
pub mod tabular;
pub mod write;

pub use error::{IngestError, Result};
pub use params::IngestParams;
pub use stage::{IngestStage, Summary, ingest};
