//! What improve compares on dev and reads once on test: the task's primary metric (entity F1,
//! macro F1, macro F1 over label sets), or, when the recipe's evaluate stage declares a cost
//! matrix, the mean cost per example of the decisions it ships (the predictions' `pred`
//! column). A pipeline that states what its errors cost is judged by that cost: a remedy that
//! raises macro F1 but costs more is not an improvement to its user.

use std::path::Path;

use anyhow::{Context, Result, bail};
use flowcore::TaskKind;
use metrics::CostMatrix;
use reflect::scores::Scorer;
use reflect::stats::bootstrap::{Units, ratio};

use crate::PipelineSpec;
use crate::sweep::units_of;

/// The quantity trials are compared by.
#[derive(Debug, Clone)]
pub(crate) enum Measure {
    /// The task's primary metric; higher is better.
    Metric(Scorer),
    /// Mean cost per example under the evaluate stage's cost matrix; lower is better.
    Cost,
}

impl Measure {
    /// The cost matrix of `spec`'s evaluate stage, when it has one.
    pub(crate) fn costs_of(spec: &PipelineSpec) -> Result<Option<CostMatrix>> {
        let Some(stage) = spec.stages.iter().find(|s| s.kind == "evaluate") else {
            return Ok(None);
        };
        match stage.params.get("cost_matrix") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).with_context(|| {
                format!(
                    "{}: [stages.{}] cost_matrix: expected gold label -> predicted label -> cost",
                    spec.file.display(),
                    stage.name
                )
            }),
        }
    }

    /// The measure and one unit per example of `split` in the evaluate artifact `dir`.
    pub(crate) fn read(
        dir: &Path,
        split: &str,
        costs: Option<&CostMatrix>,
    ) -> Result<(Self, Units)> {
        let Some(costs) = costs else {
            let (scorer, units) = units_of(dir, split)?;
            return Ok((Self::Metric(scorer), units));
        };
        let path = dir.join(flowcore::schema::predictions::file(split));
        let preds = metrics::Predictions::read(&path)
            .with_context(|| format!("{}: no {split} predictions", dir.display()))?;
        if preds.task != TaskKind::Sequence {
            bail!(
                "{}: a cost matrix applies to single-label sequence tasks; these are {} predictions",
                path.display(),
                preds.task
            );
        }
        costs.validate(&preds.labels)?;
        let mut units = Units::new(2);
        for r in &preds.rows {
            units.push(&[costs.cost(&r.gold, &r.pred), 1.0]);
        }
        Ok((Self::Cost, units))
    }

    /// The measure of summed units, in its own direction.
    pub(crate) fn value(&self, s: &[f64]) -> f64 {
        match self {
            Self::Metric(scorer) => scorer.value(scorer.primary(), s),
            Self::Cost => ratio(s[0], s[1]),
        }
    }

    /// Higher is better: the metric, or the cost negated (a gain is cost saved per example).
    pub(crate) fn gain(&self, s: &[f64]) -> f64 {
        match self {
            Self::Metric(_) => self.value(s),
            Self::Cost => -self.value(s),
        }
    }

    /// The name in the report.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::Metric(scorer) => scorer.name(scorer.primary()),
            Self::Cost => {
                "mean cost per example (the evaluate stage's cost matrix; lower is better, a gain is cost saved per example)".into()
            }
        }
    }
}

/// The units of mean negative log-likelihood per item of `split` in the evaluate artifact
/// `dir`, one unit per example (a token task's words summed within their sentence):
/// `[Σ −ln p(gold), items]`. Items whose gold label the model does not have are left out.
/// Multi-label: `[Σ over labels of the binary NLL, labels]` per example.
/// What a calibration remedy (a temperature) is judged by: it changes no decision, so the
/// decision metrics cannot see it.
pub(crate) fn nll_units(dir: &Path, split: &str) -> Result<Units> {
    let path = dir.join(flowcore::schema::predictions::file(split));
    let preds = metrics::Predictions::read(&path)
        .with_context(|| format!("{}: no {split} predictions", dir.display()))?;
    if preds.task == TaskKind::Multilabel {
        // One unit per example: the binary NLL of each label's sigmoid against whether the
        // label is in the gold set, summed, and the number of labels.
        let gold = preds
            .indicators(true)
            .with_context(|| format!("{}: gold label sets", path.display()))?;
        let mut units = Units::new(2);
        for (r, g) in preds.rows.iter().zip(gold) {
            let Some(p) = &r.probs else { continue };
            let loss: f64 = p
                .iter()
                .zip(&g)
                .map(|(&p, &on)| {
                    let q = if on { f64::from(p) } else { 1.0 - f64::from(p) };
                    -q.max(metrics::calibration::PROB_FLOOR).ln()
                })
                .sum();
            units.push(&[loss, p.len() as f64]);
        }
        return Ok(units);
    }
    let mut by_example: Vec<(String, f64, f64)> = Vec::new();
    for r in &preds.rows {
        let (Some(g), Some(p)) = (preds.labels.iter().position(|l| *l == r.gold), &r.probs) else {
            continue;
        };
        let loss = -f64::from(p[g]).max(metrics::calibration::PROB_FLOOR).ln();
        match by_example.last_mut() {
            Some((id, sum, n)) if *id == r.id => {
                *sum += loss;
                *n += 1.0;
            }
            _ => by_example.push((r.id.clone(), loss, 1.0)),
        }
    }
    let mut units = Units::new(2);
    for (_, sum, n) in by_example {
        units.push(&[sum, n]);
    }
    Ok(units)
}

/// Mean NLL of summed [`nll_units`].
pub(crate) fn nll_value(s: &[f64]) -> f64 {
    ratio(s[0], s[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_units_are_the_cost_of_the_shipped_decisions_and_a_gain_is_cost_saved() {
        let dir = tempfile::tempdir().unwrap();
        let labels = vec!["good".to_string(), "bad".to_string()];
        let mut p = metrics::Predictions::new(TaskKind::Sequence, labels);
        for (id, gold, pred) in [
            ("a", "bad", "good"),
            ("b", "good", "bad"),
            ("c", "good", "good"),
        ] {
            p.rows.push(metrics::PredictionRow {
                id: id.into(),
                word: None,
                token: None,
                gold: gold.into(),
                pred: pred.into(),
                probs: Some(vec![0.5, 0.5]),
            });
        }
        p.write(&dir.path().join(flowcore::schema::predictions::file("dev")))
            .unwrap();
        let costs = CostMatrix::german_credit("good", "bad");
        let (m, u) = Measure::read(dir.path(), "dev", Some(&costs)).unwrap();
        assert_eq!(m.value(&u.total()), 2.0); // (5 + 1 + 0) / 3
        assert_eq!(m.gain(&u.total()), -2.0);
        assert!(m.name().contains("lower is better"));
        let (plain, pu) = Measure::read(dir.path(), "dev", None).unwrap();
        assert!(matches!(plain, Measure::Metric(_)));
        // Without costs: macro F1 (good 0.5, bad 0), and a gain is the metric itself.
        assert!((plain.value(&pu.total()) - 0.25).abs() < 1e-12);
        assert_eq!(plain.gain(&pu.total()), plain.value(&pu.total()));
        // NLL: one unit per example, the gold label's probability.
        let n = nll_units(dir.path(), "dev").unwrap();
        assert_eq!(n.len(), 3);
        assert!((nll_value(&n.total()) - 2.0f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn multilabel_nll_units_are_binary_losses_per_example_and_label() {
        let dir = tempfile::tempdir().unwrap();
        let labels = vec!["joy".to_string(), "anger".to_string()];
        let mut p = metrics::Predictions::new(TaskKind::Multilabel, labels);
        for (id, gold, probs) in [("a", "joy", [0.8f32, 0.1]), ("b", "", [0.5, 0.5])] {
            p.rows.push(metrics::PredictionRow {
                id: id.into(),
                word: None,
                token: None,
                gold: gold.into(),
                pred: String::new(),
                probs: Some(probs.to_vec()),
            });
        }
        p.write(&dir.path().join(flowcore::schema::predictions::file("dev")))
            .unwrap();
        let n = nll_units(dir.path(), "dev").unwrap();
        assert_eq!(n.len(), 2);
        // (-ln 0.8 - ln 0.9 - 2 ln 0.5) / 4 pairs.
        let want = -(0.8f64.ln() + 0.9f64.ln() + 2.0 * 0.5f64.ln()) / 4.0;
        assert!(
            (nll_value(&n.total()) - want).abs() < 1e-6,
            "{}",
            nll_value(&n.total())
        );
    }
}
