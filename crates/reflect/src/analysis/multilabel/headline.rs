//! The multi-label headline metrics with bootstrap intervals: micro / macro / samples F1,
//! Hamming loss, subset accuracy, micro precision and recall, all computed from summed
//! per-example columns so one pass over the resamples serves every statistic.

use crate::stats::bootstrap::{Bootstrap, Interval, Units, f1_from_counts};

/// The headline statistics, computed from summed per-example columns (see [`units`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stat {
    MicroF1,
    MacroF1,
    SamplesF1,
    HammingLoss,
    SubsetAccuracy,
    MicroPrecision,
    MicroRecall,
}

impl Stat {
    /// Every statistic, in the order of the headline table.
    pub(crate) const ALL: [Self; 7] = [
        Self::MicroF1,
        Self::MacroF1,
        Self::SamplesF1,
        Self::HammingLoss,
        Self::SubsetAccuracy,
        Self::MicroPrecision,
        Self::MicroRecall,
    ];

    /// The name in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::MicroF1 => "micro F1",
            Self::MacroF1 => "macro F1",
            Self::SamplesF1 => "samples F1",
            Self::HammingLoss => "Hamming loss",
            Self::SubsetAccuracy => "subset accuracy",
            Self::MicroPrecision => "micro precision",
            Self::MicroRecall => "micro recall",
        }
    }

    /// The statistic of summed columns `s` for `l` labels; scikit-learn's conventions with
    /// `zero_division = 0`.
    pub(crate) fn eval(self, s: &[f64], l: usize) -> f64 {
        let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        let (mut tp, mut pred, mut gold) = (0.0, 0.0, 0.0);
        for j in 0..l {
            tp += s[3 * j];
            pred += s[3 * j + 1];
            gold += s[3 * j + 2];
        }
        let n = s[3 * l + 3];
        match self {
            Self::MicroF1 => f1_from_counts(tp, pred, gold),
            Self::MacroF1 => {
                (0..l)
                    .map(|j| f1_from_counts(s[3 * j], s[3 * j + 1], s[3 * j + 2]))
                    .sum::<f64>()
                    / l as f64
            }
            Self::SamplesF1 => div(s[3 * l], n),
            Self::HammingLoss => div(s[3 * l + 1], n * l as f64),
            Self::SubsetAccuracy => div(s[3 * l + 2], n),
            Self::MicroPrecision => div(tp, pred),
            Self::MicroRecall => div(tp, gold),
        }
    }
}

/// Per-example columns for the bootstrap: `(tp, predicted, gold)` of every label, then the
/// example's F1 (for the samples average), its wrong label decisions, whether its whole set
/// is right, and 1 (the example count). Every headline statistic is a function of their sums.
pub(crate) fn units(gold: &[Vec<bool>], pred: &[Vec<bool>], l: usize) -> Units {
    let f = |b: bool| f64::from(u8::from(b));
    let mut u = Units::new(3 * l + 4);
    let mut row = vec![0.0; 3 * l + 4];
    for (g, p) in gold.iter().zip(pred) {
        let (mut tp, mut np, mut ng, mut wrong) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..l {
            row[3 * j] = f(g[j] && p[j]);
            row[3 * j + 1] = f(p[j]);
            row[3 * j + 2] = f(g[j]);
            tp += row[3 * j];
            np += row[3 * j + 1];
            ng += row[3 * j + 2];
            wrong += f(g[j] != p[j]);
        }
        row[3 * l] = f1_from_counts(tp, np, ng);
        row[3 * l + 1] = wrong;
        row[3 * l + 2] = f(g == p);
        row[3 * l + 3] = 1.0;
        u.push(&row);
    }
    u
}

/// Intervals of every [`Stat`] over one set of resamples of `u`.
pub(crate) fn headline_intervals(u: &Units, l: usize, boot: Bootstrap) -> Vec<Interval> {
    let total = u.total();
    let mut reps: Vec<Vec<f64>> = vec![Vec::with_capacity(boot.resamples); Stat::ALL.len()];
    let mut sum = vec![0.0; u.dim()];
    boot.for_each_resample(u.len(), |idx| {
        sum.iter_mut().for_each(|s| *s = 0.0);
        for &i in idx {
            for (s, r) in sum.iter_mut().zip(u.row(i)) {
                *s += r;
            }
        }
        for (k, stat) in Stat::ALL.iter().enumerate() {
            let v = stat.eval(&sum, l);
            if v.is_finite() {
                reps[k].push(v);
            }
        }
    });
    Stat::ALL
        .iter()
        .zip(reps)
        .map(|(stat, r)| boot.interval(stat.eval(&total, l), r))
        .collect()
}
