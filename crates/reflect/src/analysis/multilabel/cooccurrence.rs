//! Errors between labels: gold `A` missed while `B` is added in the same example ("`A` read
//! as `B`"), and gold pairs of labels the model rarely predicts together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::labels::{ErrorExample, LabelRow, by_prob, example};
use crate::data::multilabel::Table;
use crate::stats::proportion::share;

/// Gold `missed` not predicted while `added` is predicted without being gold, in the same
/// example: "`missed` read as `added`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CooccurrenceError {
    /// The gold label the model missed.
    pub missed: String,
    /// The label it added instead.
    pub added: String,
    /// Examples with both errors.
    pub count: usize,
    /// `count / misses of `missed``.
    pub share_of_missed: f64,
    /// Highest `p(added)` first.
    pub examples: Vec<ErrorExample>,
}

/// Two labels gold together, and how often the model predicts both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRecall {
    /// First label (label order).
    pub a: String,
    /// Second label.
    pub b: String,
    /// Examples with both gold.
    pub together: usize,
    /// Of those, examples where both are predicted.
    pub both_predicted: usize,
    /// `both_predicted / together`.
    pub joint_recall: f64,
    /// `recall(a) * recall(b)` over all examples: the joint recall if the two labels' misses
    /// were independent.
    pub independent: f64,
    /// Ids of examples where not both are predicted.
    pub examples: Vec<String>,
}

/// "`A` read as `B`" counts of `t`, most first, each with its `max` examples of highest
/// `p(B)`.
pub(crate) fn errors(t: &Table, per_label: &[LabelRow], max: usize) -> Vec<CooccurrenceError> {
    let (l, n) = (t.labels.len(), t.len());
    let mut pairs: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let (g, p) = (&t.gold[i], &t.pred[i]);
        for a in (0..l).filter(|&a| g[a] && !p[a]) {
            for b in (0..l).filter(|&b| p[b] && !g[b]) {
                pairs.entry((a, b)).or_default().push(i);
            }
        }
    }
    let mut out: Vec<CooccurrenceError> = pairs
        .into_iter()
        .map(|((a, b), mut rows)| {
            by_prob(t, &mut rows, b, false);
            CooccurrenceError {
                missed: t.labels[a].clone(),
                added: t.labels[b].clone(),
                count: rows.len(),
                share_of_missed: share(rows.len(), per_label[a].missed),
                examples: rows
                    .iter()
                    .take(max)
                    .map(|&i| example(t, i, a, Some(b)))
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|x, y| {
        y.count
            .cmp(&x.count)
            .then(y.share_of_missed.total_cmp(&x.share_of_missed))
            .then_with(|| (&x.missed, &x.added).cmp(&(&y.missed, &y.added)))
    });
    out
}

/// Gold pairs of `t` with their joint recall, lowest first, each with up to `max` ids of
/// examples where not both are predicted.
pub(crate) fn gold_pairs(t: &Table, per_label: &[LabelRow], max: usize) -> Vec<PairRecall> {
    let (l, n) = (t.labels.len(), t.len());
    let mut gold_pairs = Vec::new();
    for a in 0..l {
        for b in a + 1..l {
            let rows: Vec<usize> = (0..n).filter(|&i| t.gold[i][a] && t.gold[i][b]).collect();
            if rows.is_empty() {
                continue;
            }
            let (hit, miss): (Vec<usize>, Vec<usize>) =
                rows.iter().partition(|&&i| t.pred[i][a] && t.pred[i][b]);
            gold_pairs.push(PairRecall {
                a: t.labels[a].clone(),
                b: t.labels[b].clone(),
                together: rows.len(),
                both_predicted: hit.len(),
                joint_recall: share(hit.len(), rows.len()),
                independent: per_label[a].recall * per_label[b].recall,
                examples: miss.iter().take(max).map(|&i| t.ids[i].clone()).collect(),
            });
        }
    }
    gold_pairs.sort_by(|x, y| {
        x.joint_recall
            .total_cmp(&y.joint_recall)
            .then(y.together.cmp(&x.together))
            .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
    });
    gold_pairs
}
