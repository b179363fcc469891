//! The statistics behind the report, each free of IO and tested against known values.
//!
//! - [`calibration`]: ECE (equal-width and equal-mass bins), MCE, Brier score, NLL and
//!   temperature scaling.
//! - [`bootstrap`]: seeded percentile bootstrap over units (sentences, documents, examples),
//!   single and paired.
//! - [`mcnemar`]: the exact McNemar test (a two-sided binomial test on discordant pairs).
//! - [`proportion`]: a share `k / n` and its Wilson interval.

pub mod bootstrap;
pub mod calibration;
pub mod mcnemar;
pub mod proportion;
