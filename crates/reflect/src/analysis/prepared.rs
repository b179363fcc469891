//! What every analysis reads ([`Inputs`]) and what is prepared once for all of them
//! ([`Prepared`]: the scorer, the resampling units, the primary metric), with the helpers the
//! analyses share to align and group predictions.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::quality::SplitQuality;
use crate::data::{Context, Split};
use crate::error::{ReflectError, Result};
use crate::history::History;
use crate::ner::Spans;
use crate::scores::{Metric, Scorer};
use crate::stats::bootstrap::{Interval, Units};

/// Everything the analyses read.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The evaluated split (usually test).
    pub split: Split,
    /// The split the temperature is fitted on (usually dev).
    pub fit: Option<Split>,
    /// A baseline's predictions on the same split.
    pub baseline: Option<Split>,
    /// Ingest context of the evaluated split (doc ids, words, metadata, train vocabulary).
    pub context: Option<Context>,
    /// Train-set support per entity type / class, for "collect more data" advice.
    pub train_support: BTreeMap<String, usize>,
    /// Predictions on perturbed copies of the split, named by probe.
    pub probes: Vec<Split>,
    /// The train history.
    pub history: Option<History>,
    /// Duplicates, label conflicts and train overlap that ingest found in the evaluated split.
    pub split_quality: Option<SplitQuality>,
    /// Surface forms of the train split's gold entities (token tasks; see [`unseen::surface`]).
    pub train_entities: HashSet<String>,
    /// What the tokenize stage recorded about the tokenizer and the evaluated split.
    pub tokenizer: Option<TokenizerFacts>,
    /// The evaluate stage's cost matrix (sequence tasks), when it has one.
    pub cost_matrix: Option<metrics::CostMatrix>,
    /// The evaluate stage decided by a cost threshold tuned on dev (`tune_cost_threshold`):
    /// its predictions are the decisions under the cost matrix.
    pub cost_threshold_tuned: bool,
    /// The evaluate stage's out-of-scope rejection rule for this split, when it has one.
    pub reject: Option<metrics::open_set::RejectRule>,
}

/// What the tokenize stage recorded about the evaluated split and the tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerFacts {
    /// `Paris`, `paris` and `PARIS` encode alike (an uncased model).
    pub ignores_case: Option<bool>,
    /// Words of the evaluated split (token tasks).
    pub words: Option<u64>,
    /// Of them, words holding `[UNK]`.
    pub words_with_unk: Option<u64>,
    /// Examples of the evaluated split.
    #[serde(default)]
    pub examples: Option<u64>,
    /// Sequence task: of them, cut at `max_length` (the model never reads their end).
    #[serde(default)]
    pub truncated: Option<u64>,
    /// Token task: of them, split into several windows.
    #[serde(default)]
    pub examples_split: Option<u64>,
    /// The encoded window length.
    #[serde(default)]
    pub max_length: Option<u64>,
}

impl TokenizerFacts {
    /// Reads the facts for `split` from a tokenize manifest's metrics; `None` when they hold
    /// none of them (an older tokenize artifact).
    pub fn from_tokenize_metrics(m: &serde_json::Value, split: &str) -> Option<Self> {
        let s = &m["splits"][split];
        let facts = Self {
            ignores_case: m["ignores_case"].as_bool(),
            words: s["words"].as_u64(),
            words_with_unk: s["words_with_unk"].as_u64(),
            examples: s["examples"].as_u64(),
            truncated: s["truncated"].as_u64(),
            examples_split: s["examples_split"].as_u64(),
            max_length: m["max_length"].as_u64(),
        };
        (facts.ignores_case.is_some() || facts.words_with_unk.is_some() || facts.examples.is_some())
            .then_some(facts)
    }
}

/// A metric with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricCi {
    /// Metric name.
    pub name: String,
    /// Value and bootstrap interval.
    pub ci: Interval,
}
/// What every analysis shares: the evaluated split, its scorer, its resampling units and the
/// primary metric on the whole split.
pub struct Prepared<'a> {
    /// Everything the analyses read.
    pub inputs: &'a Inputs,
    /// The evaluated split.
    pub split: &'a Split,
    /// Scores the split and its resamples.
    pub scorer: Scorer,
    /// Gold and predicted entities (token tasks).
    pub spans: Option<Spans>,
    /// Per-example statistics, before grouping into documents.
    pub base_units: Units,
    /// Document of every example, when the bootstrap resamples documents.
    pub doc_keys: Option<Vec<String>>,
    /// The primary metric.
    pub primary: Metric,
    /// Its value on the whole split.
    pub overall: f64,
}

impl Prepared<'_> {
    /// `u` grouped by document when the bootstrap resamples documents, else as is.
    pub fn cluster(&self, u: &Units) -> Units {
        match &self.doc_keys {
            Some(keys) => group_units(u, keys),
            None => u.clone(),
        }
    }
}

/// Sum unit rows that share a key (documents), in order of first appearance.
pub(crate) fn group_units(units: &Units, keys: &[String]) -> Units {
    let mut order: Vec<&str> = Vec::new();
    let mut sums: HashMap<&str, Vec<f64>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let row = units.row(i);
        let e = sums.entry(k.as_str()).or_insert_with(|| {
            order.push(k.as_str());
            vec![0.0; row.len()]
        });
        for (s, r) in e.iter_mut().zip(row) {
            *s += r;
        }
    }
    let mut out = Units::new(units.dim());
    for k in order {
        out.push(&sums[k]);
    }
    out
}
pub(crate) fn check_same_labels(a: &Split, b: &Split) -> Result<()> {
    if a.labels != b.labels || a.task != b.task {
        return Err(ReflectError::Invalid {
            place: b.path.display().to_string(),
            message: format!(
                "label list or task differs from {} ({} vs {}); both must come from the same labels.json",
                a.path.display(),
                b.labels.join(","),
                a.labels.join(",")
            ),
        });
    }
    Ok(())
}
/// Align a second prediction set on the first one's examples: for each example of `a`, the
/// position of the same id in `b` (when its word count matches).
pub(crate) fn align(a: &Split, b: &Split) -> Vec<Option<usize>> {
    let pos = b.positions();
    a.examples
        .iter()
        .map(|e| {
            pos.get(e.id.as_str())
                .copied()
                .filter(|&j| b.examples[j].gold.len() == e.gold.len())
        })
        .collect()
}
