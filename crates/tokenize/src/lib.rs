//! The tokenize stage: sub-word encoding with aligned labels and windows, written to Parquet.
//!
//! - [`encoder`]: [`Encoder`] wraps a HF tokenizer (`tokenizer.json`, or a BERT `vocab.txt`
//!   rebuilt as the equivalent WordPiece pipeline) with the [`EncodeOptions`]; it turns
//!   pre-split words (token task) or a text / text pair (sequence task) into [`Window`]s.
//!   Train and evaluate rebuild it from the artifact with [`Encoder::from_artifact`] so new
//!   text is encoded exactly like the training data.
//! - [`window`]: the [`Window`] row and the plan that cuts long inputs into overlapping
//!   windows, each word owned by exactly one window ([`Window::is_central`]).
//! - [`table`]: Parquet: reading ingest tables, writing and reading window tables
//!   ([`read_split`]).
//! - [`stage`]: [`TokenizeStage`], the pipeline stage, and its [`TokenizeParams`].
//!
//! ```no_run
//! # fn main() -> Result<(), tokenize::TokenizeError> {
//! use std::path::Path;
//! // Training data, as written by the stage:
//! let windows = tokenize::read_split(Path::new("artifacts/p/tokenize/latest-dir"), "train")?;
//! // New text at prediction time, encoded as the training data was:
//! let encoder = tokenize::Encoder::from_artifact(Path::new("artifacts/p/tokenize/latest-dir"))?;
//! let words = ["Alice", "lives", "in", "Paris"];
//! for w in encoder.encode_words("new-1", &words)? {
//!     for (pos, word) in w.first_subwords() {
//!         if w.is_central(word) { /* take the prediction at `pos` for `word` */ let _ = pos; }
//!     }
//! }
//! # let _ = windows; Ok(()) }
//! ```

pub mod encoder;
pub mod error;
pub mod stage;
pub mod table;
pub mod window;

pub use encoder::{EncodeOptions, Encoder, LabelAligner, LabelMode, Truncation, WordStats};
pub use error::{Result, TokenizeError};
pub use stage::{SplitReport, TokenizeParams, TokenizeStage};
pub use table::{read_split, read_windows, write_windows};
pub use window::{IGNORE, Window};
