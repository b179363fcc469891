//! The analyses of multi-label predictions ([`TaskKind::Multilabel`]): several labels per
//! example, one sigmoid probability per label.
//!
//! The generic analyses ([`crate::analysis`]) score one label per item; a multi-label split is
//! read as indicator rows ([`crate::data::multilabel`]) and analysed per label, one module
//! each:
//!
//! - [`headline`]: micro / macro / samples F1, Hamming loss, subset accuracy with percentile
//!   bootstrap intervals over examples; the point estimates are
//!   [`metrics::multilabel::multilabel_report`]'s;
//! - [`labels`]: a per-label table (support, P/R/F1, missed and added, ROC-AUC / AP, the
//!   decision threshold, calibration numbers) and the labels most often missed and added, with
//!   the most confident example rows;
//! - [`calibration`]: each label's probability against its gold indicator: ECE over
//!   equal-width bins, Brier score, and a temperature fitted on the dev predictions when there
//!   are some;
//! - [`cooccurrence`]: gold `A` missed while `B` is added in the same example ("`A` read as
//!   `B`"), and gold pairs the model rarely predicts together;
//! - [`baseline`]: the paired bootstrap of micro and macro F1 against a baseline's
//!   predictions, matched by example id.
//!
//! The train stage's history, when given, is kept as read: the training-fit findings
//! (dev curve, underfitting) come from the same rules as every other task kind's.
//!
//! [`analyze`] runs them all into a [`MultilabelAnalysis`]; [`crate::findings::multilabel`]
//! ranks what it means and [`crate::report::multilabel`] renders it.

use flowcore::TaskKind;
use metrics::ThresholdRecord;
use metrics::ZeroDivision;
use metrics::multilabel::{self as ml, DEFAULT_THRESHOLD};
use serde::{Deserialize, Serialize};

use crate::analysis::MetricCi;
use crate::data::multilabel::{Sources, Table, read_decision};
use crate::error::{ReflectError, Result};
use crate::history::History;
use crate::params::ReflectParams;
use crate::stats::bootstrap::{Bootstrap, Interval};

pub mod baseline;
pub mod calibration;
pub mod cooccurrence;
pub mod headline;
pub mod labels;

pub use baseline::{BaselineComparison, LabelDiff};
pub use calibration::LabelCalibration;
pub use cooccurrence::{CooccurrenceError, PairRecall};
pub use labels::{ErrorExample, LabelErrors, LabelRow};

#[cfg(test)]
pub(crate) mod fixture;

/// How the predicted label sets were decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The threshold of each label (`p > threshold`), in label order.
    pub thresholds: Vec<f64>,
    /// The split the thresholds were tuned on; `None` for one global threshold.
    pub tuned_on: Option<String>,
    /// Whether the thresholds come from the evaluate artifact's `metrics.json` (otherwise
    /// they are the default 0.5).
    pub recorded: bool,
    /// Label decisions in `pred` that differ from `p > threshold` (`None` without
    /// probabilities).
    pub inconsistent: Option<usize>,
}

/// Example counts behind the headline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Examples without a gold label.
    pub empty_gold: usize,
    /// Examples with an empty predicted set.
    pub empty_pred: usize,
    /// Examples with gold labels but an empty predicted set.
    pub empty_pred_with_gold: usize,
    /// Mean gold labels per example.
    pub mean_gold_labels: f64,
    /// Mean predicted labels per example.
    pub mean_pred_labels: f64,
    /// Ids of the first examples (at most `max_examples`) with gold labels but an empty
    /// predicted set.
    #[serde(default)]
    pub empty_pred_examples: Vec<String>,
}

/// Everything the multi-label report computed; written as `analysis.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultilabelAnalysis {
    /// Always [`TaskKind::Multilabel`].
    pub task: TaskKind,
    /// The reported split.
    pub split: String,
    /// Its predictions file.
    pub file: String,
    /// Examples.
    pub examples: usize,
    /// The resampling unit (`example`).
    pub unit: String,
    /// Label names, in column order.
    pub labels: Vec<String>,
    /// Bootstrap settings of every interval.
    pub bootstrap: Bootstrap,
    /// Calibration bins.
    pub bins: usize,
    /// How `pred` was decided.
    pub decision: Decision,
    /// Micro F1, macro F1, samples F1, Hamming loss, subset accuracy, micro precision and
    /// micro recall, with intervals.
    pub headline: Vec<MetricCi>,
    /// Empty sets and set sizes.
    pub counts: Counts,
    /// One row per label, in label order.
    pub per_label: Vec<LabelRow>,
    /// Labels by false negatives, most first.
    pub missed: Vec<LabelErrors>,
    /// Labels by false positives, most first.
    pub added: Vec<LabelErrors>,
    /// "`A` read as `B`" counts, most first.
    pub cooccurrence_errors: Vec<CooccurrenceError>,
    /// Gold pairs, lowest joint recall first.
    pub gold_pairs: Vec<PairRecall>,
    /// Per-label calibration (empty without probabilities).
    pub calibration: Vec<LabelCalibration>,
    /// The split the temperatures were fitted on.
    pub temperature_split: Option<String>,
    /// The comparison with the baseline, when one was given.
    pub baseline: Option<BaselineComparison>,
    /// The train stage's history (dev curve, training score, loss), when the train artifact
    /// was given.
    #[serde(default)]
    pub history: Option<History>,
    /// What was skipped, and why.
    pub notes: Vec<String>,
}

impl MultilabelAnalysis {
    /// The headline metric called `name`.
    pub fn metric(&self, name: &str) -> Option<&Interval> {
        self.headline.iter().find(|m| m.name == name).map(|m| &m.ci)
    }
}

/// Read the inputs and run every multi-label analysis on `params.split`.
pub fn analyze(sources: &Sources, params: &ReflectParams) -> Result<MultilabelAnalysis> {
    let model = Table::read(&sources.split)?;
    tracing::info!(split = %params.split, examples = model.len(), labels = model.labels.len(), "read multi-label predictions");
    let mut notes = Vec::new();
    let fit = match &sources.fit {
        Some(path) => match Table::read(path)?.with_label_order(&model.labels, &model.path) {
            Ok(t) if t.probs.is_some() => Some((params.fit_split.clone(), t)),
            Ok(_) => {
                notes.push(format!(
                    "{} has no probabilities: per-label temperatures skipped",
                    path.display()
                ));
                None
            }
            Err(e) => {
                notes.push(format!("per-label temperatures skipped: {e}"));
                None
            }
        },
        None => None,
    };
    let baseline = sources
        .baseline
        .as_deref()
        .map(|p| Table::read(p)?.aligned_to(&model))
        .transpose()?;
    let record = match &sources.metrics {
        Some(path) => read_decision(path, &params.split, model.labels.len())?,
        None => None,
    };
    let history = sources.history.as_deref().map(History::read).transpose()?;
    analyze_tables(
        &model,
        fit.as_ref().map(|(s, t)| (s.as_str(), t)),
        baseline.as_ref(),
        record,
        history,
        params,
        notes,
    )
}

fn analyze_tables(
    t: &Table,
    fit: Option<(&str, &Table)>,
    baseline: Option<&Table>,
    record: Option<ThresholdRecord>,
    history: Option<History>,
    params: &ReflectParams,
    mut notes: Vec<String>,
) -> Result<MultilabelAnalysis> {
    let boot = params.options().bootstrap;
    let l = t.labels.len();
    let n = t.len();
    let place = t.path.display().to_string();
    let metrics_err = |source| ReflectError::Metrics {
        place: place.clone(),
        source,
    };
    let report = ml::multilabel_report(&t.gold, &t.pred, &t.labels, ZeroDivision::Zero)
        .map_err(metrics_err)?;
    let ranking = match &t.probs {
        Some(p) => Some(ml::label_ranking(&t.gold, p, &t.labels).map_err(metrics_err)?),
        None => {
            notes.push(format!(
                "{} has no probabilities: ranking, calibration and the consistency of the decision skipped",
                t.path.display()
            ));
            None
        }
    };

    // Decision thresholds.
    let recorded = record.is_some();
    let record = record.unwrap_or_else(|| {
        notes.push(format!(
            "no decision thresholds recorded for `{}` (evaluate metrics.json): assuming p > {DEFAULT_THRESHOLD} for every label",
            params.split
        ));
        ThresholdRecord {
            thresholds: vec![DEFAULT_THRESHOLD; l],
            tuned_on: None,
        }
    });
    let inconsistent = t.probs.as_ref().map(|p| {
        ml::decide(p, &record.thresholds)
            .iter()
            .zip(&t.pred)
            .map(|(a, b)| a.iter().zip(b).filter(|(x, y)| x != y).count())
            .sum::<usize>()
    });
    if let Some(k) = inconsistent.filter(|&k| k > 0) {
        notes.push(format!(
            "{k} of {} label decisions in {} differ from p > threshold with the thresholds above: the predictions were decided otherwise",
            n * l,
            t.file_name()
        ));
    }
    let decision = Decision {
        thresholds: record.thresholds.clone(),
        tuned_on: record.tuned_on.clone(),
        recorded,
        inconsistent,
    };

    // Headline.
    let u = headline::units(&t.gold, &t.pred, l);
    let headline: Vec<MetricCi> = headline::Stat::ALL
        .iter()
        .zip(headline::headline_intervals(&u, l, boot))
        .map(|(s, ci)| MetricCi {
            name: s.name().to_string(),
            ci,
        })
        .collect();
    let sizes = |rows: &[Vec<bool>]| -> Vec<usize> {
        rows.iter()
            .map(|r| r.iter().filter(|&&b| b).count())
            .collect()
    };
    let (gs, ps) = (sizes(&t.gold), sizes(&t.pred));
    let emptied: Vec<&String> = t
        .ids
        .iter()
        .zip(gs.iter().zip(&ps))
        .filter(|&(_, (&g, &p))| g > 0 && p == 0)
        .map(|(id, _)| id)
        .collect();
    let counts = Counts {
        empty_gold: gs.iter().filter(|&&k| k == 0).count(),
        empty_pred: ps.iter().filter(|&&k| k == 0).count(),
        empty_pred_with_gold: emptied.len(),
        mean_gold_labels: gs.iter().sum::<usize>() as f64 / n as f64,
        mean_pred_labels: ps.iter().sum::<usize>() as f64 / n as f64,
        empty_pred_examples: emptied
            .into_iter()
            .take(params.max_examples)
            .cloned()
            .collect(),
    };

    let (calib, temperature_split) = calibration::run(t, fit, params.bins, boot, &mut notes);
    let per_label = labels::rows(t, &report, ranking.as_deref(), &decision.thresholds, &calib);
    let max = params.max_examples;
    let missed = labels::errors(t, &per_label, true, max);
    let added = labels::errors(t, &per_label, false, max);
    let cooccurrence_errors = cooccurrence::errors(t, &per_label, max);
    let gold_pairs = cooccurrence::gold_pairs(t, &per_label, max);
    let baseline = baseline.map(|b| baseline::compare(t, &u, b, boot));

    Ok(MultilabelAnalysis {
        task: TaskKind::Multilabel,
        split: params.split.clone(),
        file: t.file_name(),
        examples: n,
        unit: "example".into(),
        labels: t.labels.clone(),
        bootstrap: boot,
        bins: params.bins,
        decision,
        headline,
        counts,
        per_label,
        missed,
        added,
        cooccurrence_errors,
        gold_pairs,
        calibration: calib,
        temperature_split,
        baseline,
        history,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::calibration::ece_intervals;
    use super::fixture::*;
    use super::headline::{Stat, headline_intervals, units};
    use super::*;
    use crate::stats::bootstrap::Units;
    use crate::stats::calibration;

    #[test]
    fn headline_point_estimates_equal_multilabel_report_and_lie_in_their_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let a = analyze(&sources(dir.path()), &params()).unwrap();
        let rows = examples();
        let gold: Vec<Vec<bool>> = rows.iter().map(|r| r.0.clone()).collect();
        let pred: Vec<Vec<bool>> = rows.iter().map(|r| r.1.clone()).collect();
        let r = ml::multilabel_report(&gold, &pred, &labels(), ZeroDivision::Zero).unwrap();
        let expected = [
            ("micro F1", r.micro.f1),
            ("macro F1", r.macro_avg.f1),
            ("samples F1", r.samples.f1),
            ("Hamming loss", r.hamming_loss),
            ("subset accuracy", r.subset_accuracy),
            ("micro precision", r.micro.precision),
            ("micro recall", r.micro.recall),
        ];
        for (name, want) in expected {
            let ci = a.metric(name).unwrap();
            assert!(
                (ci.estimate - want).abs() < 1e-12,
                "{name}: {} vs {want}",
                ci.estimate
            );
            assert!(
                ci.lo <= ci.estimate && ci.estimate <= ci.hi,
                "{name}: {ci:?}"
            );
        }
        // A hand check: tp 20 (joy), predicted 30, gold 14 + 10 + 20 -> micro F1 40 / 74.
        assert_eq!(a.metric("micro F1").unwrap().estimate, 40.0 / 74.0);
        assert!(a.metric("micro F1").unwrap().hi > a.metric("micro F1").unwrap().lo);
        for (row, prfs) in a.per_label.iter().zip(&r.per_label) {
            assert_eq!(
                (row.precision, row.recall, row.f1),
                (prfs.precision, prfs.recall, prfs.f1)
            );
        }
    }

    #[test]
    fn one_pass_intervals_equal_bootstrap_ci() {
        let rows = examples();
        let gold: Vec<Vec<bool>> = rows.iter().map(|r| r.0.clone()).collect();
        let pred: Vec<Vec<bool>> = rows.iter().map(|r| r.1.clone()).collect();
        let u = units(&gold, &pred, 3);
        let boot = Bootstrap {
            resamples: 300,
            seed: 9,
            level: 0.9,
        };
        let ours = headline_intervals(&u, 3, boot);
        for (k, stat) in Stat::ALL.iter().enumerate() {
            assert_eq!(ours[k], boot.ci(&u, |s| stat.eval(s, 3)), "{}", stat.name());
        }
        // ECE: the sparse resampler against dense per-example bin statistics.
        let p: Vec<f64> = rows.iter().map(|r| f64::from(r.2[2])).collect();
        let y: Vec<bool> = gold.iter().map(|g| g[2]).collect();
        let mut dense = Units::new(3 * 10);
        for (&pi, &yi) in p.iter().zip(&y) {
            dense.push(&calibration::ece_stats(&[pi], &[yi], 10));
        }
        let sparse = ece_intervals(&[p], &[y], 10, boot);
        let want = boot.ci(&dense, calibration::ece_from_stats);
        assert!((sparse[0].estimate - want.estimate).abs() < 1e-12);
        assert!((sparse[0].lo - want.lo).abs() < 1e-12 && (sparse[0].hi - want.hi).abs() < 1e-12);
    }

    #[test]
    fn baseline_with_other_examples_is_an_error_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = examples();
        rows.pop();
        let err = analyze(&baseline_sources(dir.path(), &rows), &params())
            .unwrap_err()
            .to_string();
        assert!(err.contains("baseline/predictions-test.parquet"), "{err}");
        assert!(err.contains("1 ids only there (`ex39`)"), "{err}");
    }
}
