//! Decisions under a cost matrix (sequence tasks with probabilities): the least-expected-cost
//! decision of every example under the model's probabilities (or, when the evaluate stage
//! decided by a cost threshold tuned on dev, its predictions), their mean cost against every
//! constant policy ("always predict k"), whether it collapsed to one, and, with a baseline,
//! the paired difference of the two systems' costs.

use std::collections::BTreeMap;

use flowcore::TaskKind;
use metrics::CostMatrix;
use serde::{Deserialize, Serialize};

use super::prepared::{Prepared, align};
use crate::data::{Example, Split};
use crate::error::Result;
use crate::params::Options;
use crate::stats::bootstrap::{Interval, Paired, Units, ratio};

/// Least-expected-cost decisions of the evaluated split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostDecisions {
    /// Mean cost per example of the model's decisions.
    pub model_cost: Interval,
    /// Decisions per label.
    pub decided: BTreeMap<String, usize>,
    /// The label every example was decided as, when the decisions collapsed to one.
    pub constant: Option<String>,
    /// The cheapest constant policy and its mean cost.
    pub best_constant: (String, f64),
    /// Model minus baseline mean cost per example (paired bootstrap), when a baseline with
    /// probabilities (decided the same way) or without (its predictions taken as they are)
    /// shares the examples.
    pub baseline: Option<Paired>,
    /// How the baseline's decisions were made: `least expected cost` or `its predictions`.
    pub baseline_decided_by: Option<String>,
    /// Examples compared with the baseline.
    pub shared: usize,
    /// How the model's decisions were made: [`LEAST_EXPECTED_COST`] or [`TUNED_THRESHOLD`].
    #[serde(default = "least_expected_cost")]
    pub decided_by: String,
}

/// The model's decisions are the least-expected-cost labels under its probabilities.
pub const LEAST_EXPECTED_COST: &str = "least expected cost";
/// The model's decisions are its predictions, made by evaluate's cost threshold tuned on dev.
pub const TUNED_THRESHOLD: &str = "cost threshold tuned on dev";

fn least_expected_cost() -> String {
    LEAST_EXPECTED_COST.into()
}

/// The least-expected-cost label of one example ([`CostMatrix::least_expected_cost`], the
/// rule the evaluate stage applies; the probabilities were f32 in the predictions file, so
/// the conversion back is exact), or its prediction when it has no probabilities.
fn decide(split: &Split, ex: &Example, costs: &CostMatrix) -> usize {
    let Some(probs) = ex.probs.first() else {
        return ex.pred[0];
    };
    let probs: Vec<f32> = probs.iter().map(|&p| p as f32).collect();
    costs.least_expected_cost(&split.labels, &probs)
}

fn cost_of(split: &Split, ex: &Example, decision: usize, costs: &CostMatrix) -> f64 {
    costs.cost(split.label(ex.gold[0]), split.label(decision))
}

/// The analysis; `None` without a cost matrix, for token tasks or without probabilities.
pub fn run(
    p: &Prepared<'_>,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Result<Option<CostDecisions>> {
    let Some(costs) = &p.inputs.cost_matrix else {
        return Ok(None);
    };
    let split = p.split;
    if split.task != TaskKind::Sequence || split.examples.is_empty() {
        return Ok(None);
    }
    if !split.has_probs {
        notes.push("cost decisions: the predictions carry no probabilities".into());
        return Ok(None);
    }
    let boot = opts.bootstrap;
    // A threshold tuned on dev already made the predictions; re-deciding them by expected
    // cost would judge a rule the stage did not apply.
    let tuned = p.inputs.cost_threshold_tuned;
    let decisions: Vec<usize> = split
        .examples
        .iter()
        .map(|e| {
            if tuned {
                e.pred[0]
            } else {
                decide(split, e, costs)
            }
        })
        .collect();
    let mut units = Units::new(2);
    let mut decided = BTreeMap::new();
    for (ex, &d) in split.examples.iter().zip(&decisions) {
        units.push(&[cost_of(split, ex, d, costs), 1.0]);
        *decided.entry(split.label(d).to_string()).or_insert(0) += 1;
    }
    let n = split.examples.len() as f64;
    let best_constant = (0..split.labels.len())
        .map(|k| {
            let total: f64 = split
                .examples
                .iter()
                .map(|e| cost_of(split, e, k, costs))
                .sum();
            (split.label(k).to_string(), total / n)
        })
        .fold(None::<(String, f64)>, |best, c| match best {
            Some(b) if b.1 <= c.1 => Some(b),
            _ => Some(c),
        })
        .unwrap_or_default();
    let constant = (decided.len() == 1)
        .then(|| decided.keys().next().cloned())
        .flatten();
    let (baseline, baseline_decided_by, shared) = match &p.inputs.baseline {
        Some(b) if b.task == TaskKind::Sequence && b.labels == split.labels => {
            let pos = align(split, b);
            let (mut ua, mut ub) = (Units::new(2), Units::new(2));
            for (i, j) in pos.iter().enumerate() {
                let Some(j) = *j else { continue };
                let (ex, bex) = (&split.examples[i], &b.examples[j]);
                ua.push(&[cost_of(split, ex, decisions[i], costs), 1.0]);
                ub.push(&[cost_of(split, ex, decide(b, bex, costs), costs), 1.0]);
            }
            let by = if b.has_probs {
                "least expected cost"
            } else {
                "its predictions"
            };
            let shared = ua.len();
            let paired = (shared > 0).then(|| boot.paired(&ua, &ub, |s| ratio(s[0], s[1])));
            (paired, Some(by.to_string()), shared)
        }
        _ => (None, None, 0),
    };
    Ok(Some(CostDecisions {
        model_cost: boot.ci(&units, |s| ratio(s[0], s[1])),
        decided,
        constant,
        best_constant,
        baseline,
        baseline_decided_by,
        shared,
        decided_by: if tuned {
            TUNED_THRESHOLD.into()
        } else {
            LEAST_EXPECTED_COST.into()
        },
    }))
}
