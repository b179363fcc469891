//! Every analysis of the report, run on in-memory inputs (no IO here).
//!
//! [`analyze`] takes the evaluated split's predictions (plus, when available, dev predictions
//! for temperature fitting, a baseline's predictions, ingest context, probe predictions and the
//! train history), prepares what every analysis shares ([`Prepared`]: the scorer, the
//! resampling units, the headline numbers) and runs each analysis, one module each, all with
//! the same signature `run(&Prepared, &Options, &mut notes) -> Result<section>`:
//!
//! - [`calibration`]: reliability, ECE / MCE / Brier / NLL, temperature scaling;
//! - [`baseline`]: paired bootstrap and McNemar against a baseline's predictions;
//! - [`slices`]: the primary metric per length, OOV rate, type / class and metadata slice;
//! - [`confusion`]: the confusion matrix;
//! - [`suspects`]: candidate label errors;
//! - [`probes`]: flip rates and metric changes under robustness probes;
//! - [`quality`]: duplicates and train overlap of the split, as ingest reported them;
//! - [`unseen`]: entities never seen in train, and F1 on them against seen ones;
//! - [`costs`]: least-expected-cost decisions under a cost matrix, against constant policies
//!   and the baseline;
//! - [`model_fit`]: words the model's vocabulary cannot read, capitalised entities under a
//!   tokenizer that ignores case;
//! - [`rejection`]: the risk–coverage curve with the evaluation's rejection rule marked, and
//!   the wrong answers given with high confidence (out-of-scope questions above all).
//!
//! Adding an analysis is one module and one line in [`analyze`]. It returns an [`Analysis`]:
//! numbers with intervals and the rows behind them. [`crate::findings`] turns it into ranked
//! findings; [`crate::report`] renders both.

use std::collections::{BTreeMap, HashSet};

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::history::History;
use crate::ner::{self, Spans, Taxonomy};
use crate::scores::Scorer;
use crate::stats::bootstrap::{Bootstrap, Units};
use crate::stats::calibration::Temperature;

pub mod baseline;
pub mod calibration;
pub mod confusion;
pub mod costs;
pub mod model_fit;
pub mod multilabel;
pub mod prepared;
pub mod probes;
pub mod quality;
pub mod rejection;
pub mod slices;
pub mod suspects;
pub mod unseen;

pub use baseline::Comparison;
pub use calibration::CalibrationReport;
pub use confusion::Confusion;
pub use costs::CostDecisions;
pub use model_fit::ModelFit;
pub use prepared::{Inputs, MetricCi, Prepared, TokenizerFacts};
pub use probes::Probe;
pub use quality::SplitQuality;
pub use rejection::Rejection;
pub use slices::{Slice, bucket_names, bucket_of, quantile_edges};
pub use suspects::Suspect;
pub use unseen::Unseen;

pub use crate::params::Options;
use prepared::{check_same_labels, group_units};

/// The results of every analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Task kind.
    pub task: TaskKind,
    /// Evaluated split.
    pub split: String,
    /// Examples (sentences or texts).
    pub examples: usize,
    /// Items (words or texts).
    pub items: usize,
    /// What the bootstrap resampled: `sentence`, `document` or `example`.
    pub unit: String,
    /// Resampled units.
    pub units: usize,
    /// Bootstrap settings used.
    pub bootstrap: Bootstrap,
    /// Headline metrics, primary first.
    pub headline: Vec<MetricCi>,
    /// Primary metric on the fitting split (dev), when given.
    pub fit_metric: Option<MetricCi>,
    /// Calibration of words / examples (with temperature scaling).
    pub calibration: Option<CalibrationReport>,
    /// Calibration of predicted entities (token tasks).
    pub entity_calibration: Option<CalibrationReport>,
    /// The fitted temperature.
    pub temperature: Option<Temperature>,
    /// Split the temperature was fitted on.
    pub temperature_split: Option<String>,
    /// Significance against the baseline.
    pub baseline: Option<Comparison>,
    /// Slices.
    pub slices: Vec<Slice>,
    /// Duplicates and train overlap of the evaluated split, as ingest reported them.
    #[serde(default)]
    pub split_quality: Option<SplitQuality>,
    /// Seen and unseen entities (token tasks with a train split).
    #[serde(default)]
    pub unseen: Option<Unseen>,
    /// Model ↔ task fit: `[UNK]` words, case (with a tokenize artifact).
    #[serde(default)]
    pub model_fit: Option<ModelFit>,
    /// Least-expected-cost decisions (with a cost matrix).
    #[serde(default)]
    pub costs: Option<CostDecisions>,
    /// Risk–coverage and confident errors (sequence tasks with probabilities).
    #[serde(default)]
    pub rejection: Option<Rejection>,
    /// NER error taxonomy.
    pub taxonomy: Option<Taxonomy>,
    /// Confusion matrix (entity types + `O` for token tasks).
    pub confusion: Confusion,
    /// Suspect labels, most suspicious first (at most `options.suspects`).
    pub suspects: Vec<Suspect>,
    /// All suspects found before truncation.
    pub suspects_total: usize,
    /// Items the suspect search looked at.
    pub suspects_scanned: usize,
    /// Robustness probes.
    pub probes: Vec<Probe>,
    /// Train history.
    pub history: Option<History>,
    /// Train support per entity type / class.
    pub train_support: BTreeMap<String, usize>,
    /// Notes about analyses that were skipped and why.
    pub notes: Vec<String>,
}

/// Run every analysis.
pub fn analyze(inputs: &Inputs, opts: &Options) -> Result<Analysis> {
    let split = &inputs.split;
    let boot = opts.bootstrap;
    let scorer = Scorer::new(split);
    let mut notes = Vec::new();
    let spans = match split.task {
        TaskKind::Token => Some(Spans::of(split)?),
        TaskKind::Sequence | TaskKind::Multilabel => None,
    };
    let base_units = scorer.units(split, spans.as_ref());

    // Resampling unit: documents when doc ids group sentences, else examples.
    let doc_keys: Option<Vec<String>> = match (&inputs.context, split.task, opts.document_bootstrap)
    {
        (Some(ctx), TaskKind::Token, true) if !ctx.doc_id.is_empty() => {
            let keys: Vec<String> = split
                .examples
                .iter()
                .map(|e| {
                    ctx.doc_id
                        .get(&e.id)
                        .cloned()
                        .unwrap_or_else(|| format!("(no doc) {}", e.id))
                })
                .collect();
            let distinct: HashSet<&String> = keys.iter().collect();
            if distinct.len() < split.examples.len() && distinct.len() >= 20 {
                Some(keys)
            } else {
                if distinct.len() < 20 && distinct.len() < split.examples.len() {
                    notes.push(format!(
                        "only {} documents: resampling sentences instead (a document bootstrap needs at least 20)",
                        distinct.len()
                    ));
                }
                None
            }
        }
        _ => None,
    };
    let cluster = |u: &Units| -> Units {
        match &doc_keys {
            Some(keys) => group_units(u, keys),
            None => u.clone(),
        }
    };
    let units = cluster(&base_units);
    let unit = match (&doc_keys, split.task) {
        (Some(_), _) => "document",
        (None, TaskKind::Token) => "sentence",
        (None, TaskKind::Sequence | TaskKind::Multilabel) => "example",
    }
    .to_string();

    let headline: Vec<MetricCi> = scorer
        .headline_metrics()
        .into_iter()
        .map(|m| MetricCi {
            name: scorer.name(m),
            ci: boot.ci(&units, |s| scorer.value(m, s)),
        })
        .collect();
    let primary = scorer.primary();
    let overall = headline.first().map_or(f64::NAN, |h| h.ci.estimate);

    let fit_metric = match &inputs.fit {
        Some(fit) => {
            check_same_labels(split, fit)?;
            let fit_spans = match fit.task {
                TaskKind::Token => Some(Spans::of(fit)?),
                TaskKind::Sequence | TaskKind::Multilabel => None,
            };
            let u = scorer.units(fit, fit_spans.as_ref());
            Some(MetricCi {
                name: scorer.name(primary),
                ci: boot.ci(&u, |s| scorer.value(primary, s)),
            })
        }
        None => None,
    };

    let p = Prepared {
        inputs,
        split,
        scorer,
        spans,
        base_units,
        doc_keys,
        primary,
        overall,
    };
    let cal = calibration::run(&p, opts, &mut notes)?;
    let baseline = baseline::run(&p, opts, &mut notes)?;
    let slices = slices::run(&p, opts, &mut notes)?;
    let taxonomy = p
        .spans
        .as_ref()
        .map(|s| ner::taxonomy(split, s, opts.max_examples));
    let confusion = confusion::run(&p, opts, &mut notes)?;
    let (suspects, suspects_total, suspects_scanned) = suspects::run(&p, opts, &mut notes)?;
    let probes = probes::run(&p, opts, &mut notes)?;
    let unseen = unseen::run(&p, opts, &mut notes)?;
    let model_fit = model_fit::run(&p, opts, &mut notes)?;
    let costs = costs::run(&p, opts, &mut notes)?;
    let rejection = rejection::run(&p, opts, &mut notes)?;

    Ok(Analysis {
        task: split.task,
        split: split.name.clone(),
        examples: split.examples.len(),
        items: split.items(),
        unit,
        units: units.len(),
        bootstrap: boot,
        headline,
        fit_metric,
        calibration: cal.calibration,
        entity_calibration: cal.entity_calibration,
        temperature: cal.temperature,
        temperature_split: cal.temperature_split,
        baseline,
        slices,
        split_quality: inputs.split_quality.clone(),
        unseen,
        model_fit,
        costs,
        rejection,
        taxonomy,
        confusion,
        suspects,
        suspects_total,
        suspects_scanned,
        probes,
        history: inputs.history.clone(),
        train_support: inputs.train_support.clone(),
        notes,
    })
}
