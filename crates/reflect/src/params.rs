//! The reflect stage's params ([`ReflectParams`]), the analysis options they resolve to
//! ([`Options`]) and the names of the files the stage writes: what every part of the stage
//! reads, kept below all of them.

use flowcore::schema;
use serde::{Deserialize, Serialize};

use crate::ner::EntityConfidence;
use crate::stats::bootstrap::Bootstrap;

/// The HTML report.
pub const REPORT_HTML: &str = "report.html";
/// The Markdown report.
pub const REPORT_MD: &str = "report.md";
/// The ranked findings.
pub const FINDINGS_JSON: &str = "findings.json";
/// Every analysis result.
pub const ANALYSIS_JSON: &str = "analysis.json";
/// Params of the reflect stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReflectParams {
    /// The split to report on.
    pub split: String,
    /// The split the temperature is fitted on (and compared with); empty for none.
    pub fit_split: String,
    /// Calibration bins.
    pub bins: usize,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Confidence level of every interval.
    pub level: f64,
    /// Examples shown per error category / slice.
    pub max_examples: usize,
    /// Suspect labels listed.
    pub suspects: usize,
    /// Slices with fewer examples are never flagged.
    pub min_slice_support: usize,
    /// Resample documents (ingest `doc_id`) instead of sentences when they group sentences.
    pub document_bootstrap: bool,
    /// Entity confidence from word confidences: `mean` or `min`.
    pub entity_confidence: EntityConfidence,
    /// Buckets of numeric slice families.
    pub buckets: usize,
    /// Categorical metadata columns with more values are not sliced.
    pub max_categories: usize,
    /// Metadata columns to slice by (default: every non-schema ingest column).
    pub metadata: Option<Vec<String>>,
}

impl Default for ReflectParams {
    fn default() -> Self {
        let o = Options::default();
        Self {
            split: "test".into(),
            fit_split: "dev".into(),
            bins: o.bins,
            resamples: o.bootstrap.resamples,
            seed: o.bootstrap.seed,
            level: o.bootstrap.level,
            max_examples: o.max_examples,
            suspects: o.suspects,
            min_slice_support: o.min_slice_support,
            document_bootstrap: o.document_bootstrap,
            entity_confidence: o.entity_confidence,
            buckets: o.buckets,
            max_categories: o.max_categories,
            metadata: None,
        }
    }
}

impl ReflectParams {
    /// The analysis options these params describe.
    pub fn options(&self) -> Options {
        Options {
            bins: self.bins,
            bootstrap: Bootstrap {
                resamples: self.resamples,
                seed: self.seed,
                level: self.level,
            },
            max_examples: self.max_examples,
            suspects: self.suspects,
            min_slice_support: self.min_slice_support,
            document_bootstrap: self.document_bootstrap,
            entity_confidence: self.entity_confidence,
            buckets: self.buckets,
            max_categories: self.max_categories,
        }
    }

    /// Checks the values serde cannot: ranges and split names.
    pub(crate) fn validate(&self) -> flowcore::Result<()> {
        let bad = |key: &str, message: String| {
            Err(flowcore::CoreError::Param {
                key: key.into(),
                message,
            })
        };
        if self.bins == 0 {
            return bad("bins", "must be at least 1".into());
        }
        if self.resamples < 100 {
            return bad(
                "resamples",
                format!(
                    "must be at least 100 for a 95 % interval, found {}",
                    self.resamples
                ),
            );
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return bad(
                "level",
                format!("must be strictly between 0 and 1, found {}", self.level),
            );
        }
        if !schema::SPLITS.contains(&self.split.as_str()) {
            return bad(
                "split",
                format!(
                    "expected one of {}, found `{}`",
                    schema::SPLITS.join(", "),
                    self.split
                ),
            );
        }
        if !self.fit_split.is_empty() && !schema::SPLITS.contains(&self.fit_split.as_str()) {
            return bad(
                "fit_split",
                format!(
                    "expected one of {} or \"\", found `{}`",
                    schema::SPLITS.join(", "),
                    self.fit_split
                ),
            );
        }
        Ok(())
    }
}

/// Knobs of the analyses (the stage's params, resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Calibration bins.
    pub bins: usize,
    /// Bootstrap settings.
    pub bootstrap: Bootstrap,
    /// Examples kept per error category.
    pub max_examples: usize,
    /// Suspect labels listed.
    pub suspects: usize,
    /// Slices with fewer examples are shown but never flagged.
    pub min_slice_support: usize,
    /// Resample documents instead of sentences when `doc_id` groups sentences.
    pub document_bootstrap: bool,
    /// How an entity's confidence is made from its words'.
    pub entity_confidence: EntityConfidence,
    /// Buckets per numeric slice family (length, OOV rate, numeric metadata).
    pub buckets: usize,
    /// Categorical metadata columns with more distinct values than this are skipped.
    pub max_categories: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bins: 15,
            bootstrap: Bootstrap::default(),
            max_examples: 5,
            suspects: 50,
            min_slice_support: 30,
            document_bootstrap: true,
            entity_confidence: EntityConfidence::Mean,
            buckets: 4,
            max_categories: 20,
        }
    }
}
