//! The paired comparison with a baseline's predictions on the same examples (matched by
//! id): paired bootstrap of micro and macro F1, and F1 per label.

use serde::{Deserialize, Serialize};

use super::headline::{Stat, units};
use crate::data::multilabel::Table;
use crate::stats::bootstrap::{Bootstrap, Paired, Units, f1_from_counts};

/// One label's F1 for the model and the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelDiff {
    /// The label.
    pub label: String,
    /// The model's F1.
    pub model_f1: f64,
    /// The baseline's F1.
    pub baseline_f1: f64,
}

/// The paired comparison with a baseline on the same examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The baseline's predictions file.
    pub file: String,
    /// Examples compared (all of them: ids must match).
    pub shared: usize,
    /// Paired bootstrap of micro F1, model minus baseline.
    pub micro_f1: Paired,
    /// Paired bootstrap of macro F1, model minus baseline.
    pub macro_f1: Paired,
    /// F1 per label.
    pub per_label: Vec<LabelDiff>,
}

/// Paired bootstrap of micro and macro F1, model minus baseline, on the same examples (the
/// baseline already aligned to the model's rows and labels).
pub(crate) fn compare(t: &Table, ours: &Units, b: &Table, boot: Bootstrap) -> BaselineComparison {
    let l = t.labels.len();
    let theirs = units(&b.gold, &b.pred, l);
    let micro_f1 = boot.paired(ours, &theirs, |s| Stat::MicroF1.eval(s, l));
    let macro_f1 = boot.paired(ours, &theirs, |s| Stat::MacroF1.eval(s, l));
    let label_f1 = |s: &[f64], j: usize| f1_from_counts(s[3 * j], s[3 * j + 1], s[3 * j + 2]);
    let (sa, sb) = (ours.total(), theirs.total());
    BaselineComparison {
        file: b.path.display().to_string(),
        shared: t.len(),
        micro_f1,
        macro_f1,
        per_label: (0..l)
            .map(|j| LabelDiff {
                label: t.labels[j].clone(),
                model_f1: label_f1(&sa, j),
                baseline_f1: label_f1(&sb, j),
            })
            .collect(),
    }
}
