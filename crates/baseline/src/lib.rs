//! Classical baselines on the ingest splits, so a fine-tuned BERT has to earn its place.
//!
//! The `baseline` stage trains, on the train split, every model that applies to the task and
//! writes their dev and test predictions in the evaluate stage's format
//! (`metrics::predictions`), with metrics from the same metrics crate:
//!
//! | task     | models |
//! |----------|--------|
//! | sequence | TF-IDF (word 1–2-grams, optional char n-grams) + multinomial logistic regression ([`logreg`]); TF-IDF + random forest ([`forest`]); majority class |
//! | token    | averaged structured perceptron tagger ([`perceptron`]); memorisation ([`memorise`]) |
//!
//! Everything is seeded and deterministic. Modules:
//! - [`stage`]: the [`BaselineStage`] and its output files;
//! - [`params`]: the stage's params and model names;
//! - [`data`]: reading the ingest Parquet files;
//! - [`models`]: training and predicting each model;
//! - [`tfidf`], [`sparse`]: features; [`lbfgs`]: the optimiser of [`logreg`];
//! - [`scores`]: metric summaries through the metrics crate.

pub mod data;
pub mod error;
pub mod forest;
pub mod lbfgs;
pub mod logreg;
pub mod memorise;
pub mod models;
pub mod params;
pub mod perceptron;
pub mod scores;
pub mod sparse;
pub mod stage;
pub mod tfidf;

pub use error::{BaselineError, Result};
pub use params::{BaselineParams, ModelKind};
pub use stage::BaselineStage;

/// Index of the largest value; the first one on ties, 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Progress on stderr: a bar on a terminal, a plain line every 30 s otherwise.
pub(crate) fn progress(len: u64, what: &str) -> flowcore::progress::Progress {
    let bar = flowcore::progress::Progress::new(
        "baseline",
        "step",
        len,
        "{msg} {bar:30} {pos}/{len} {elapsed}",
        true,
    );
    bar.set_message(what.to_string());
    bar
}
