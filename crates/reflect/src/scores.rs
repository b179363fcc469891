//! Headline metrics as sums of per-unit counts, so they can be bootstrapped.
//!
//! Token task, per sentence: `[tp, n_pred, n_gold]` then the same three per entity type;
//! micro F1 = `2 tp / (n_pred + n_gold)`, exactly seqeval's (entities never cross sentences).
//! Sequence task, per example: `[1, correct]` then `[tp, fp, fn]` per class; accuracy and
//! scikit-learn's macro F1 over the label list. The full-sample values are checked against the
//! `metrics` crate in the tests.

use flowcore::TaskKind;

use crate::data::{Example, Split};
use crate::ner::{self, Spans};
use crate::stats::bootstrap::{Units, f1_from_counts};

/// Which metric a statistic computes from summed unit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Entity-level micro F1 (token task).
    EntityF1,
    /// Entity-level micro precision.
    EntityPrecision,
    /// Entity-level micro recall.
    EntityRecall,
    /// F1 of one entity type (index into [`Scorer::classes`]).
    TypeF1(usize),
    /// Accuracy (sequence task).
    Accuracy,
    /// Macro F1 over classes (sequence task).
    MacroF1,
    /// F1 of one class (index into [`Scorer::classes`]).
    ClassF1(usize),
}

/// Turns examples into unit counts and counts into metric values.
#[derive(Debug, Clone)]
pub struct Scorer {
    /// Token or sequence task.
    pub task: TaskKind,
    /// Entity types (token task) or class names (sequence task).
    pub classes: Vec<String>,
}

impl Scorer {
    /// A scorer for a split's task and labels.
    pub fn new(split: &Split) -> Self {
        let classes = match split.task {
            TaskKind::Token => ner::types_of(&split.labels),
            TaskKind::Sequence | TaskKind::Multilabel => split.labels.clone(),
        };
        Self {
            task: split.task,
            classes,
        }
    }

    /// Statistics per unit.
    pub fn dim(&self) -> usize {
        match self.task {
            TaskKind::Token => 3 + 3 * self.classes.len(),
            TaskKind::Sequence | TaskKind::Multilabel => 2 + 3 * self.classes.len(),
        }
    }

    /// The primary metric of the task: entity micro F1 or macro F1.
    pub fn primary(&self) -> Metric {
        match self.task {
            TaskKind::Token => Metric::EntityF1,
            TaskKind::Sequence | TaskKind::Multilabel => Metric::MacroF1,
        }
    }

    /// Display name of a metric.
    pub fn name(&self, m: Metric) -> String {
        match m {
            Metric::EntityF1 => "entity F1".into(),
            Metric::EntityPrecision => "entity precision".into(),
            Metric::EntityRecall => "entity recall".into(),
            Metric::TypeF1(i) | Metric::ClassF1(i) => {
                format!("F1 of {}", self.classes.get(i).map_or("?", String::as_str))
            }
            Metric::Accuracy => "accuracy".into(),
            Metric::MacroF1 => "macro F1".into(),
        }
    }

    /// Counts of one token-task example from its entities.
    pub fn token_counts(&self, gold: &[ner::Span], pred: &[ner::Span]) -> Vec<f64> {
        let mut v = vec![0.0; self.dim()];
        let ty = |k: &str| self.classes.iter().position(|c| c == k);
        for p in pred {
            let hit = gold.contains(p);
            v[0] += f64::from(u8::from(hit));
            v[1] += 1.0;
            if let Some(t) = ty(&p.kind) {
                v[3 + 3 * t] += f64::from(u8::from(hit));
                v[4 + 3 * t] += 1.0;
            }
        }
        for g in gold {
            v[2] += 1.0;
            if let Some(t) = ty(&g.kind) {
                v[5 + 3 * t] += 1.0;
            }
        }
        v
    }

    /// Counts of one sequence-task example (label ids index `classes`).
    pub fn sequence_counts(&self, ex: &Example) -> Vec<f64> {
        let mut v = vec![0.0; self.dim()];
        let (Some(&g), Some(&p)) = (ex.gold.first(), ex.pred.first()) else {
            return v;
        };
        v[0] = 1.0;
        if g == p {
            v[1] = 1.0;
            if g < self.classes.len() {
                v[2 + 3 * g] += 1.0;
            }
        } else {
            if p < self.classes.len() {
                v[3 + 3 * p] += 1.0;
            }
            if g < self.classes.len() {
                v[4 + 3 * g] += 1.0;
            }
        }
        v
    }

    /// One unit per example (sentence or text), in split order.
    pub fn units(&self, split: &Split, spans: Option<&Spans>) -> Units {
        let mut u = Units::new(self.dim());
        for (i, ex) in split.examples.iter().enumerate() {
            match (self.task, spans) {
                (TaskKind::Token, Some(s)) => u.push(&self.token_counts(&s.gold[i], &s.pred[i])),
                (TaskKind::Token, None) => u.push(&vec![0.0; self.dim()]),
                (TaskKind::Sequence | TaskKind::Multilabel, _) => u.push(&self.sequence_counts(ex)),
            }
        }
        u
    }

    /// A metric's value from summed counts.
    pub fn value(&self, m: Metric, s: &[f64]) -> f64 {
        let class_f1 = |k: usize, base: usize| -> f64 {
            match self.task {
                TaskKind::Token => {
                    f1_from_counts(s[base + 3 * k], s[base + 1 + 3 * k], s[base + 2 + 3 * k])
                }
                TaskKind::Sequence | TaskKind::Multilabel => {
                    let (tp, fp, fneg) =
                        (s[base + 3 * k], s[base + 1 + 3 * k], s[base + 2 + 3 * k]);
                    f1_from_counts(tp, tp + fp, tp + fneg)
                }
            }
        };
        match m {
            Metric::EntityF1 => f1_from_counts(s[0], s[1], s[2]),
            Metric::EntityPrecision => {
                if s[1] == 0.0 {
                    0.0
                } else {
                    s[0] / s[1]
                }
            }
            Metric::EntityRecall => {
                if s[2] == 0.0 {
                    0.0
                } else {
                    s[0] / s[2]
                }
            }
            Metric::TypeF1(k) => class_f1(k, 3),
            Metric::ClassF1(k) => class_f1(k, 2),
            Metric::Accuracy => {
                if s[0] == 0.0 {
                    f64::NAN
                } else {
                    s[1] / s[0]
                }
            }
            Metric::MacroF1 => {
                // scikit-learn averages over the labels present in gold or predictions.
                let present: Vec<usize> = (0..self.classes.len())
                    .filter(|&k| s[2 + 3 * k] + s[3 + 3 * k] + s[4 + 3 * k] > 0.0)
                    .collect();
                if present.is_empty() {
                    return f64::NAN;
                }
                present.iter().map(|&k| class_f1(k, 2)).sum::<f64>() / present.len() as f64
            }
        }
    }

    /// The columns a class's F1 ([`Metric::TypeF1`] / [`Metric::ClassF1`] `k`) reads, with the
    /// metric that reads them as column 0 of units [`Units::project`]ed onto them: the shared
    /// columns first, then the class's three.
    ///
    /// [`Units::project`]: crate::stats::bootstrap::Units::project
    pub fn class_columns(&self, k: usize) -> (Vec<usize>, Metric) {
        let (base, m) = match self.task {
            TaskKind::Token => (3, Metric::TypeF1(0)),
            TaskKind::Sequence | TaskKind::Multilabel => (2, Metric::ClassF1(0)),
        };
        let cols = (0..base).chain(base + 3 * k..base + 3 * k + 3).collect();
        (cols, m)
    }

    /// Support (gold count) of a class or entity type from summed counts.
    pub fn support(&self, k: usize, s: &[f64]) -> f64 {
        match self.task {
            TaskKind::Token => s[5 + 3 * k],
            TaskKind::Sequence | TaskKind::Multilabel => s[2 + 3 * k] + s[4 + 3 * k],
        }
    }

    /// The metrics reported with a CI, primary first.
    pub fn headline_metrics(&self) -> Vec<Metric> {
        match self.task {
            TaskKind::Token => vec![
                Metric::EntityF1,
                Metric::EntityPrecision,
                Metric::EntityRecall,
            ],
            TaskKind::Sequence | TaskKind::Multilabel => vec![Metric::MacroF1, Metric::Accuracy],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use metrics::{PredictionRow, Predictions};
    use std::path::Path;

    #[test]
    fn token_counts_equal_seqeval_micro_f1_of_the_metrics_crate() {
        let labels: Vec<String> = ["O", "B-PER", "I-PER", "B-LOC"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let sents: [(&[&str], &[&str]); 3] = [
            (
                &["B-PER", "I-PER", "O", "B-LOC"],
                &["B-PER", "I-PER", "O", "O"],
            ),
            (&["O", "B-LOC"], &["B-PER", "B-LOC"]),
            (&["I-PER", "O", "B-PER"], &["B-PER", "O", "I-PER"]),
        ];
        let mut p = Predictions::new(TaskKind::Token, labels);
        for (i, (g, q)) in sents.iter().enumerate() {
            for (w, (a, b)) in g.iter().zip(q.iter()).enumerate() {
                p.rows.push(PredictionRow {
                    id: format!("s{i}"),
                    word: Some(w as u32),
                    token: Some("w".into()),
                    gold: a.to_string(),
                    pred: b.to_string(),
                    probs: None,
                });
            }
        }
        let split = Split::from_predictions("t", Path::new("t"), &p).unwrap();
        let spans = Spans::of(&split).unwrap();
        let sc = Scorer::new(&split);
        let total = sc.units(&split, Some(&spans)).total();
        let gold: Vec<Vec<&str>> = sents.iter().map(|s| s.0.to_vec()).collect();
        let pred: Vec<Vec<&str>> = sents.iter().map(|s| s.1.to_vec()).collect();
        let r = metrics::entity_report(
            &gold,
            &pred,
            metrics::Mode::Default,
            metrics::ZeroDivision::Zero,
        )
        .unwrap();
        assert!((sc.value(Metric::EntityF1, &total) - r.micro.f1).abs() < 1e-12);
        assert!((sc.value(Metric::EntityPrecision, &total) - r.micro.precision).abs() < 1e-12);
        assert!((sc.value(Metric::EntityRecall, &total) - r.micro.recall).abs() < 1e-12);
        let per = sc.classes.iter().position(|c| c == "PER").unwrap();
        assert!((sc.value(Metric::TypeF1(per), &total) - r.per_type["PER"].f1).abs() < 1e-12);
        let units = sc.units(&split, Some(&spans));
        let boot = crate::stats::bootstrap::Bootstrap {
            resamples: 200,
            ..Default::default()
        };
        let (cols, m) = sc.class_columns(per);
        assert_eq!(
            boot.ci(&units, |s| sc.value(Metric::TypeF1(per), s)),
            boot.ci(&units.project(&cols), |s| sc.value(m, s))
        );
    }

    #[test]
    fn sequence_counts_equal_sklearn_accuracy_and_macro_f1_of_the_metrics_crate() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let gold = ["a", "a", "b", "c", "b", "a", "c"];
        let pred = ["a", "b", "b", "a", "b", "a", "b"];
        let mut p = Predictions::new(TaskKind::Sequence, labels);
        for (i, (g, q)) in gold.iter().zip(pred).enumerate() {
            p.rows.push(PredictionRow {
                id: format!("e{i}"),
                word: None,
                token: None,
                gold: g.to_string(),
                pred: q.to_string(),
                probs: None,
            });
        }
        let split = Split::from_predictions("t", Path::new("t"), &p).unwrap();
        let sc = Scorer::new(&split);
        let total = sc.units(&split, None).total();
        let acc = metrics::classification::accuracy(&gold, &pred).unwrap();
        let f1 = metrics::classification::macro_f1(&gold, &pred, None, metrics::ZeroDivision::Zero)
            .unwrap();
        assert!((sc.value(Metric::Accuracy, &total) - acc).abs() < 1e-12);
        assert!((sc.value(Metric::MacroF1, &total) - f1).abs() < 1e-12);
        // A class's F1 on its projected columns: the same interval, bit for bit.
        let units = sc.units(&split, None);
        let boot = crate::stats::bootstrap::Bootstrap {
            resamples: 200,
            ..Default::default()
        };
        for k in 0..3 {
            let (cols, m) = sc.class_columns(k);
            assert_eq!(cols.len(), 5);
            let full = boot.ci(&units, |s| sc.value(Metric::ClassF1(k), s));
            let projected = boot.ci(&units.project(&cols), |s| sc.value(m, s));
            assert_eq!(full, projected, "class {k}");
        }
    }
}
