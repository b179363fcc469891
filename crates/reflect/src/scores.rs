//! Headline metrics as sums of per-unit counts, so they can be bootstrapped.
//!
//! Token task, per sentence: `[tp, n_pred, n_gold]` then the same three per entity type;
//! micro F1 = `2 tp / (n_pred + n_gold)`, exactly seqeval's (entities never cross sentences).
//! Sequence task, per example: `[1, correct]` then `[tp, fp, fn]` per class; accuracy and
//! scikit-learn's macro F1 over the label list. Multi-label, per example: `[tp, predicted,
//! gold]` per label, then the example's F1, its wrong decisions, whether its set is exact and 1
//! (the columns of the multi-label headline); macro F1 over every label (scikit-learn's
//! `average="macro"` on indicators) and subset accuracy. The full-sample values are checked
//! against the `metrics` crate in the tests.

use std::path::Path;

use flowcore::TaskKind;

use crate::analysis::multilabel::headline::{self, Stat};
use crate::data::multilabel::Table;
use crate::data::{Example, Split};
use crate::error::{ReflectError, Result};
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
    /// Accuracy (sequence task); subset accuracy (multi-label).
    Accuracy,
    /// Macro F1 over classes (sequence and multi-label tasks).
    MacroF1,
    /// F1 of one class (index into [`Scorer::classes`]).
    ClassF1(usize),
}

/// Turns examples into unit counts and counts into metric values.
#[derive(Debug, Clone)]
pub struct Scorer {
    /// Token, sequence or multi-label task.
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

    /// The scorer of one predictions file of any task kind and its units, one per example
    /// (sentence, text or label set) in file order: what comparing runs on a split needs.
    /// A multi-label file is read as indicator rows (a [`Split`] keeps one label per item).
    pub fn of_file(name: &str, path: &Path) -> Result<(Self, Units)> {
        let preds = metrics::Predictions::read(path).map_err(|source| ReflectError::Metrics {
            place: format!("reading predictions {}", path.display()),
            source,
        })?;
        if preds.task == TaskKind::Multilabel {
            let table = Table::from_predictions(path, &preds)?;
            let units = headline::units(&table.gold, &table.pred, table.labels.len());
            let scorer = Self {
                task: TaskKind::Multilabel,
                classes: table.labels,
            };
            return Ok((scorer, units));
        }
        let split = Split::from_predictions(name, path, &preds)?;
        let spans = match split.task {
            TaskKind::Token => Some(Spans::of(&split)?),
            TaskKind::Sequence | TaskKind::Multilabel => None,
        };
        let scorer = Self::new(&split);
        let units = scorer.units(&split, spans.as_ref());
        Ok((scorer, units))
    }

    /// Statistics per unit.
    pub fn dim(&self) -> usize {
        match self.task {
            TaskKind::Token => 3 + 3 * self.classes.len(),
            TaskKind::Sequence => 2 + 3 * self.classes.len(),
            TaskKind::Multilabel => 3 * self.classes.len() + 4,
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
            Metric::Accuracy if self.task == TaskKind::Multilabel => "subset accuracy".into(),
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

    /// One unit per example (sentence or text), in split order. For a multi-label task the
    /// label ids of an example's gold and pred are read as its two sets (files of label sets
    /// are read by [`Scorer::of_file`]).
    pub fn units(&self, split: &Split, spans: Option<&Spans>) -> Units {
        if self.task == TaskKind::Multilabel {
            let l = self.classes.len();
            let set = |ids: &[usize]| (0..l).map(|j| ids.contains(&j)).collect::<Vec<bool>>();
            let gold: Vec<Vec<bool>> = split.examples.iter().map(|e| set(&e.gold)).collect();
            let pred: Vec<Vec<bool>> = split.examples.iter().map(|e| set(&e.pred)).collect();
            return headline::units(&gold, &pred, l);
        }
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

    /// A multi-label metric from summed headline columns.
    fn multilabel_value(&self, m: Metric, s: &[f64]) -> f64 {
        let l = self.classes.len();
        match m {
            Metric::MacroF1 => Stat::MacroF1.eval(s, l),
            Metric::Accuracy => Stat::SubsetAccuracy.eval(s, l),
            Metric::ClassF1(k) if k < l => f1_from_counts(s[3 * k], s[3 * k + 1], s[3 * k + 2]),
            Metric::ClassF1(_)
            | Metric::EntityF1
            | Metric::EntityPrecision
            | Metric::EntityRecall
            | Metric::TypeF1(_) => f64::NAN,
        }
    }

    /// A metric's value from summed counts.
    pub fn value(&self, m: Metric, s: &[f64]) -> f64 {
        if self.task == TaskKind::Multilabel {
            return self.multilabel_value(m, s);
        }
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
            TaskKind::Sequence => (2, Metric::ClassF1(0)),
            TaskKind::Multilabel => (0, Metric::ClassF1(0)),
        };
        let cols = (0..base).chain(base + 3 * k..base + 3 * k + 3).collect();
        (cols, m)
    }

    /// Support (gold count) of a class or entity type from summed counts.
    pub fn support(&self, k: usize, s: &[f64]) -> f64 {
        match self.task {
            TaskKind::Token => s[5 + 3 * k],
            TaskKind::Sequence => s[2 + 3 * k] + s[4 + 3 * k],
            TaskKind::Multilabel => s[3 * k + 2],
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

    #[test]
    fn a_multilabel_file_scores_sklearn_macro_f1_and_subset_accuracy_per_label_set() {
        let labels: Vec<String> = ["joy", "fear", "anger"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rows = [
            ("joy|fear", "joy"),
            ("anger", "anger|fear"),
            ("joy", "joy"),
            ("fear", ""),
            ("joy|anger", "joy|anger"),
            ("", "fear"),
        ];
        let mut p = Predictions::new(TaskKind::Multilabel, labels.clone());
        for (i, (g, q)) in rows.iter().enumerate() {
            p.rows.push(PredictionRow {
                id: format!("e{i}"),
                word: None,
                token: None,
                gold: g.to_string(),
                pred: q.to_string(),
                probs: Some(vec![0.5; 3]),
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions_dev.parquet");
        p.write(&path).unwrap();
        let (sc, units) = Scorer::of_file("dev", &path).unwrap();
        assert_eq!(sc.task, TaskKind::Multilabel);
        assert_eq!(units.len(), rows.len());
        assert_eq!(units.dim(), sc.dim());
        let total = units.total();
        let report = metrics::multilabel::multilabel_report(
            &p.indicators(true).unwrap(),
            &p.indicators(false).unwrap(),
            &labels,
            metrics::ZeroDivision::Zero,
        )
        .unwrap();
        assert!((sc.value(sc.primary(), &total) - report.macro_avg.f1).abs() < 1e-12);
        assert!((sc.value(Metric::Accuracy, &total) - report.subset_accuracy).abs() < 1e-12);
        assert_eq!(sc.name(Metric::Accuracy), "subset accuracy");
        for k in 0..3 {
            let f1 = sc.value(Metric::ClassF1(k), &total);
            assert!((f1 - report.per_label[k].f1).abs() < 1e-12, "label {k}");
            let (cols, m) = sc.class_columns(k);
            let projected = units.project(&cols).total();
            assert_eq!(sc.value(m, &projected), f1);
            assert_eq!(sc.support(k, &total), report.per_label[k].support as f64);
        }
    }
}
