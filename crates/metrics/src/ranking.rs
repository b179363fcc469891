//! Ranking metrics over groups of rows (a query, a user, a session): MRR, NDCG@k, recall@k
//! and grouped ROC-AUC, for tasks whose rows are scored pairs gathered by a group column.
//!
//! Each row is `(group, score, relevance)`; relevance is graded (0 = irrelevant, binary
//! tasks use 0/1) and a row is *relevant* when its relevance is above 0. Within a group the
//! rows are ranked by score, highest first.
//!
//! **Ties.** Rows with equal scores are taken in a random order and every metric is its
//! expected value over those orders, so neither the input order nor a constant scorer can
//! earn credit. This is scikit-learn's own rule for NDCG (`ignore_ties=False` averages the
//! gains of a tied block) and for ROC-AUC (a tied pair counts half); MRR and recall@k follow it:
//!
//! - **NDCG@k** of a group is scikit-learn's `ndcg_score([relevance], [scores], k=k)`:
//!   linear gains (the relevance itself, not `2^rel − 1`), discount `1 / log2(rank + 1)` on
//!   the first `k` ranks, each tied block's gains averaged over its ranks, divided by the DCG
//!   of the ideal order. The reported value is the mean over **all** groups, as
//!   `ndcg_score` averages its rows: a group without a relevant row scores 0 there, so a
//!   perfect scorer reaches `groups_scored / groups`, not 1, when such groups exist.
//!   scikit-learn refuses a one-row group; here it is 1 when its row is relevant, else 0
//!   (what the formula gives). `ndcg` is the same over the whole list (no cut-off).
//! - **MRR**: the mean, over the groups with at least one relevant row, of the expected
//!   `1 / rank` of the first relevant row. When that row's tied block starts after `a`
//!   higher-scored rows and holds `n` rows of which `r` are relevant, the first relevant one
//!   lands on the block's `j`-th place with probability `C(n−j, r−1) / C(n, r)`.
//! - **recall@k**: the mean, over the groups with at least one relevant row, of the expected
//!   share of the group's relevant rows ranked in the top `k`; a tied block straddling rank
//!   `k` contributes its relevant rows times the share of its places inside the top `k`.
//! - **Grouped AUC**: the unweighted mean, over the groups holding both a relevant and an
//!   irrelevant row, of scikit-learn's `roc_auc_score(relevance > 0, scores)` (the plain mean
//!   of per-group AUCs; not the impression-weighted GAUC of Zhou et al. 2018). NaN (`null`)
//!   when no group has both.
//!
//! Groups keep their first-appearance order, and the means are NumPy's, so the numbers equal
//! the reference in `scripts/fixtures/metrics/make_fixtures.py` (scikit-learn for NDCG and
//! AUC, an independent Python MRR and recall@k).

use std::collections::{BTreeMap, HashMap};
use std::f64::consts::LN_2;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::classification::roc_auc;
use crate::error::{MetricsError, Result};
use crate::numpy::{self, format_fixed};
use crate::report::nan_as_null;

/// The cut-offs `k` reported by default.
pub const DEFAULT_K: [usize; 3] = [1, 3, 5];

/// Groups left out of some of the averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SkippedGroups {
    /// Groups without a relevant row: out of MRR, recall@k and grouped AUC, 0 in NDCG.
    pub no_relevant: usize,
    /// Groups whose rows are all relevant: out of grouped AUC only.
    pub all_relevant: usize,
}

/// The ranking metrics of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// Distinct groups.
    pub groups: usize,
    /// Groups with at least one relevant row (the groups MRR and recall@k average over).
    pub groups_scored: usize,
    /// Groups with both a relevant and an irrelevant row (the groups of the grouped AUC).
    pub auc_groups: usize,
    /// Groups left out of some averages, and why.
    pub skipped: SkippedGroups,
    /// Mean reciprocal rank of the first relevant row; NaN (`null`) without a scored group.
    #[serde(with = "nan_as_null")]
    pub mrr: f64,
    /// NDCG over the whole list, mean over all groups.
    pub ndcg: f64,
    /// NDCG@k by `k`, mean over all groups.
    pub ndcg_at: BTreeMap<usize, f64>,
    /// Recall@k by `k`, mean over the scored groups; NaN (`null`) without one.
    #[serde(with = "nan_map_as_null")]
    pub recall_at: BTreeMap<usize, f64>,
    /// Unweighted mean of the per-group ROC-AUCs; NaN (`null`) when no group has both classes.
    #[serde(with = "nan_as_null")]
    pub grouped_auc: f64,
}

/// Serde for a map whose values may be NaN: they travel as `null`, like [`nan_as_null`].
mod nan_map_as_null {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<usize, f64>, s: S) -> Result<S::Ok, S::Error> {
        m.iter()
            .map(|(k, v)| (*k, v.is_finite().then_some(*v)))
            .collect::<BTreeMap<usize, Option<f64>>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<usize, f64>, D::Error> {
        Ok(BTreeMap::<usize, Option<f64>>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect())
    }
}

/// Rows of one group that share a score, in rank order.
#[derive(Debug, Clone, Copy)]
struct Block {
    /// Rows ranked above the block.
    above: usize,
    /// Rows in the block.
    len: usize,
    /// Relevant rows in the block.
    relevant: usize,
    /// Sum of the block's relevance.
    gain: f64,
}

/// One group, ranked.
struct Ranked {
    blocks: Vec<Block>,
    /// The group's relevance, highest first (the ideal order).
    ideal: Vec<f64>,
    relevant: usize,
}

impl Ranked {
    fn new(scores: &[f64], relevance: &[f64]) -> Self {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut blocks: Vec<Block> = Vec::new();
        for (rank, &i) in order.iter().enumerate() {
            let rel = relevance[i];
            match blocks.last_mut() {
                Some(b) if scores[order[rank - 1]] == scores[i] => {
                    b.len += 1;
                    b.relevant += usize::from(rel > 0.0);
                    b.gain += rel;
                }
                _ => blocks.push(Block {
                    above: rank,
                    len: 1,
                    relevant: usize::from(rel > 0.0),
                    gain: rel,
                }),
            }
        }
        let mut ideal = relevance.to_vec();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let relevant = relevance.iter().filter(|&&r| r > 0.0).count();
        Self {
            blocks,
            ideal,
            relevant,
        }
    }

    /// scikit-learn's tie-averaged NDCG with the first `k` ranks discounted (all when `None`).
    fn ndcg(&self, k: Option<usize>) -> f64 {
        let cut = k.unwrap_or(self.ideal.len()).min(self.ideal.len());
        let discount: Vec<f64> = (0..cut).map(|i| LN_2 / ((i + 2) as f64).ln()).collect();
        let ideal: f64 = self.ideal.iter().zip(&discount).map(|(r, d)| r * d).sum();
        if ideal == 0.0 {
            return 0.0;
        }
        let dcg: f64 = self
            .blocks
            .iter()
            .filter(|b| b.above < cut)
            .map(|b| {
                let end = (b.above + b.len).min(cut);
                let d: f64 = discount[b.above..end].iter().sum();
                b.gain / b.len as f64 * d
            })
            .sum();
        dcg / ideal
    }

    /// Expected `1 / rank` of the first relevant row; `None` without a relevant row.
    fn reciprocal_rank(&self) -> Option<f64> {
        let b = self.blocks.iter().find(|b| b.relevant > 0)?;
        let (n, r) = (b.len, b.relevant);
        // P(first relevant on place j) = C(n−j, r−1) / C(n, r): P(1) = r / n, and
        // P(j) / P(j−1) = (n−j+2−r) / (n−j+1).
        let mut p = r as f64 / n as f64;
        let mut expected = p / (b.above + 1) as f64;
        for j in 2..=n - r + 1 {
            p *= (n - j + 2 - r) as f64 / (n - j + 1) as f64;
            expected += p / (b.above + j) as f64;
        }
        Some(expected)
    }

    /// Expected share of the relevant rows in the top `k`; `None` without a relevant row.
    fn recall(&self, k: usize) -> Option<f64> {
        if self.relevant == 0 {
            return None;
        }
        let found: f64 = self
            .blocks
            .iter()
            .filter(|b| b.above < k)
            .map(|b| b.relevant as f64 * (k - b.above).min(b.len) as f64 / b.len as f64)
            .sum();
        Some(found / self.relevant as f64)
    }
}

/// Checks the rows and returns the row indices of each group, in first-appearance order.
fn group_rows<S: AsRef<str>>(
    groups: &[S],
    scores: &[f64],
    relevance: &[f64],
    ks: &[usize],
) -> Result<Vec<Vec<usize>>> {
    if groups.len() != scores.len() || groups.len() != relevance.len() {
        return Err(MetricsError::Input(format!(
            "ranking metrics need one group, score and relevance per row; got {} groups, {} \
             scores and {} relevance values",
            groups.len(),
            scores.len(),
            relevance.len()
        )));
    }
    if groups.is_empty() {
        return Err(MetricsError::Input("no rows to rank".into()));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(MetricsError::Input(format!(
            "row {i} (group `{}`): score is {}; scores must be finite",
            groups[i].as_ref(),
            scores[i]
        )));
    }
    if let Some(i) = relevance.iter().position(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(MetricsError::Input(format!(
            "row {i} (group `{}`): relevance is {}; relevance must be a finite number >= 0",
            groups[i].as_ref(),
            relevance[i]
        )));
    }
    if ks.contains(&0) {
        return Err(MetricsError::Input(
            "ranking cut-off k = 0: every k must be at least 1".into(),
        ));
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut rows: Vec<Vec<usize>> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let next = rows.len();
        let at = *index.entry(g.as_ref()).or_insert(next);
        if at == next {
            rows.push(Vec::new());
        }
        rows[at].push(i);
    }
    Ok(rows)
}

/// MRR, NDCG (whole list and @k), recall@k and grouped AUC of scored rows gathered by group
/// (the definitions are in the module docs). Errors when the three slices differ in length,
/// there are no rows, a score is not finite, a relevance is negative or not finite, or a `k`
/// is 0.
pub fn ranking_metrics<S: AsRef<str>>(
    groups: &[S],
    scores: &[f64],
    relevance: &[f64],
    ks: &[usize],
) -> Result<RankingMetrics> {
    let rows = group_rows(groups, scores, relevance, ks)?;
    let mut rr = Vec::new();
    let mut aucs = Vec::new();
    let mut ndcg = Vec::with_capacity(rows.len());
    let mut ndcg_at: BTreeMap<usize, Vec<f64>> = ks.iter().map(|&k| (k, Vec::new())).collect();
    let mut recall_at = ndcg_at.clone();
    let mut skipped = SkippedGroups::default();
    for group in &rows {
        // `+ 0.0` turns -0.0 into 0.0: NumPy's `unique`, like `==`, holds them one score.
        let s: Vec<f64> = group.iter().map(|&i| scores[i] + 0.0).collect();
        let r: Vec<f64> = group.iter().map(|&i| relevance[i]).collect();
        let ranked = Ranked::new(&s, &r);
        ndcg.push(ranked.ndcg(None));
        for (k, v) in &mut ndcg_at {
            v.push(ranked.ndcg(Some(*k)));
        }
        let Some(reciprocal) = ranked.reciprocal_rank() else {
            skipped.no_relevant += 1;
            continue;
        };
        rr.push(reciprocal);
        for (k, v) in &mut recall_at {
            v.extend(ranked.recall(*k));
        }
        if ranked.relevant == group.len() {
            skipped.all_relevant += 1;
        } else {
            let y: Vec<bool> = r.iter().map(|&x| x > 0.0).collect();
            aucs.push(roc_auc(&y, &s)?);
        }
    }
    let means = |m: BTreeMap<usize, Vec<f64>>| -> BTreeMap<usize, f64> {
        m.into_iter().map(|(k, v)| (k, numpy::mean(&v))).collect()
    };
    Ok(RankingMetrics {
        groups: rows.len(),
        groups_scored: rr.len(),
        auc_groups: aucs.len(),
        skipped,
        mrr: numpy::mean(&rr),
        ndcg: numpy::mean(&ndcg),
        ndcg_at: means(ndcg_at),
        recall_at: means(recall_at),
        grouped_auc: numpy::mean(&aucs),
    })
}

impl RankingMetrics {
    /// The report lines of these metrics.
    pub fn to_text(&self, digits: usize) -> String {
        let f = |x: f64| format_fixed(x, digits);
        let at = |m: &BTreeMap<usize, f64>| -> String {
            m.iter()
                .map(|(k, v)| format!("@{k} {}", f(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Ranking over {} groups: {} with a relevant row ({} without), {} with both classes \
             ({} all relevant)",
            self.groups,
            self.groups_scored,
            self.skipped.no_relevant,
            self.auc_groups,
            self.skipped.all_relevant
        );
        let _ = writeln!(
            out,
            "  MRR {}, grouped AUC {}, NDCG {}",
            f(self.mrr),
            f(self.grouped_auc),
            f(self.ndcg)
        );
        if !self.ndcg_at.is_empty() {
            let _ = writeln!(out, "  NDCG {}", at(&self.ndcg_at));
            let _ = writeln!(out, "  recall {}", at(&self.recall_at));
        }
        let _ = writeln!(
            out,
            "  (MRR and recall: mean over the groups with a relevant row; NDCG: over all groups, \
             0 for a group without one; grouped AUC: unweighted mean over the groups with both; \
             ties count as the average over their orders)"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn one_group(scores: &[f64], relevance: &[f64], ks: &[usize]) -> RankingMetrics {
        let groups = vec!["q"; scores.len()];
        ranking_metrics(&groups, scores, relevance, ks).unwrap()
    }

    #[test]
    fn a_perfect_ranking_scores_one() {
        let m = ranking_metrics(
            &["a", "a", "a", "b", "b", "b", "b"],
            &[0.9, 0.5, 0.1, 4.0, 3.0, 2.0, 1.0],
            &[2.0, 1.0, 0.0, 3.0, 1.0, 0.0, 0.0],
            &[1, 2, 10],
        )
        .unwrap();
        assert_eq!((m.groups, m.groups_scored, m.auc_groups), (2, 2, 2));
        assert_eq!(m.mrr, 1.0);
        assert_eq!(m.ndcg, 1.0);
        assert_eq!(m.grouped_auc, 1.0);
        assert!(m.ndcg_at.values().all(|&v| close(v, 1.0)));
        // Two relevant rows per group: the top 1 holds half of them.
        assert_eq!(m.recall_at[&1], 0.5);
        assert_eq!(m.recall_at[&2], 1.0);
        assert_eq!(m.recall_at[&10], 1.0);
    }

    #[test]
    fn a_reversed_ranking_gives_the_known_values() {
        let m = one_group(&[3.0, 2.0, 1.0], &[0.0, 0.0, 1.0], &[1, 2, 3]);
        assert!(close(m.mrr, 1.0 / 3.0));
        // The relevant row on rank 3: DCG 1 / log2(4) = 0.5, ideal DCG 1.
        assert!(close(m.ndcg, 0.5));
        assert_eq!(m.ndcg_at[&1], 0.0);
        assert_eq!(m.ndcg_at[&2], 0.0);
        assert!(close(m.ndcg_at[&3], 0.5));
        assert_eq!(m.recall_at[&2], 0.0);
        assert_eq!(m.recall_at[&3], 1.0);
        assert_eq!(m.grouped_auc, 0.0);
    }

    #[test]
    fn ties_count_as_the_average_over_their_orders() {
        // One relevant row among four tied ones: each rank 1..4 with probability 1/4.
        let m = one_group(&[0.5; 4], &[0.0, 0.0, 1.0, 0.0], &[1, 2]);
        assert!(close(
            m.mrr,
            (1.0 + 1.0 / 2.0 + 1.0 / 3.0 + 1.0 / 4.0) / 4.0
        ));
        assert!(close(m.recall_at[&1], 0.25));
        assert!(close(m.recall_at[&2], 0.5));
        assert_eq!(m.grouped_auc, 0.5);
        let d = |i: usize| 1.0 / ((i + 2) as f64).log2();
        assert!(close(m.ndcg_at[&2], 0.25 * (d(0) + d(1))));
        // Two relevant among four tied: the first lands on place 1, 2, 3 with 1/2, 1/3, 1/6.
        let m = one_group(&[0.5; 4], &[1.0, 0.0, 1.0, 0.0], &[1]);
        assert!(close(m.mrr, 0.5 + 1.0 / 6.0 + 1.0 / 18.0));
        // A tied block after a higher row: relevant one on rank 2 or 3.
        let m = one_group(&[0.9, 0.1, 0.1], &[0.0, 1.0, 0.0], &[2]);
        assert!(close(m.mrr, (1.0 / 2.0 + 1.0 / 3.0) / 2.0));
        assert!(close(m.recall_at[&2], 0.5));
    }

    #[test]
    fn input_order_and_negative_zero_do_not_matter() {
        let a = ranking_metrics(
            &["x", "y", "x", "y", "x", "y"],
            &[0.0, 0.3, 0.2, 0.3, 0.0, 0.1],
            &[1.0, 0.0, 0.0, 2.0, 0.0, 1.0],
            &[1, 2],
        )
        .unwrap();
        let b = ranking_metrics(
            &["y", "x", "y", "x", "y", "x"],
            &[0.1, -0.0, 0.3, 0.0, 0.3, 0.2],
            &[1.0, 0.0, 2.0, 1.0, 0.0, 0.0],
            &[1, 2],
        )
        .unwrap();
        assert!(close(a.mrr, b.mrr) && close(a.ndcg, b.ndcg));
        assert!(close(a.grouped_auc, b.grouped_auc));
        for k in [1, 2] {
            assert!(close(a.recall_at[&k], b.recall_at[&k]));
            assert!(close(a.ndcg_at[&k], b.ndcg_at[&k]));
        }
    }

    #[test]
    fn groups_without_a_relevant_row_count_zero_in_ndcg_only() {
        let m = ranking_metrics(
            &["a", "a", "b", "b", "c", "c"],
            &[0.9, 0.1, 0.9, 0.1, 0.9, 0.1],
            &[1.0, 0.0, 0.0, 0.0, 1.0, 2.0],
            &[1],
        )
        .unwrap();
        assert_eq!((m.groups, m.groups_scored, m.auc_groups), (3, 2, 1));
        assert_eq!(
            m.skipped,
            SkippedGroups {
                no_relevant: 1,
                all_relevant: 1
            }
        );
        assert_eq!(m.mrr, 1.0);
        assert_eq!(m.grouped_auc, 1.0);
        assert_eq!(m.recall_at[&1], 0.75);
        // a: 1, b: 0 (no relevant row), c: (1 + 2 / log2 3) / (2 + 1 / log2 3).
        let c = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!(close(m.ndcg, (1.0 + 0.0 + c) / 3.0));
    }

    #[test]
    fn a_one_row_group_is_one_when_relevant() {
        let m = ranking_metrics(&["a", "b"], &[0.3, 0.7], &[1.0, 0.0], &[1]).unwrap();
        assert_eq!((m.groups, m.groups_scored, m.auc_groups), (2, 1, 0));
        assert_eq!(m.ndcg, 0.5);
        assert_eq!(m.mrr, 1.0);
        assert!(m.grouped_auc.is_nan());
    }

    #[test]
    fn undefined_means_travel_as_null() {
        let m = one_group(&[0.3, 0.7], &[0.0, 0.0], &[1, 10]);
        assert!(m.mrr.is_nan() && m.grouped_auc.is_nan() && m.recall_at[&10].is_nan());
        assert_eq!(m.ndcg, 0.0);
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"groups":1,"groups_scored":0,"auc_groups":0,"skipped":{"no_relevant":1,"all_relevant":0},"mrr":null,"ndcg":0.0,"ndcg_at":{"1":0.0,"10":0.0},"recall_at":{"1":null,"10":null},"grouped_auc":null}"#
        );
        let back: RankingMetrics = serde_json::from_str(&text).unwrap();
        assert!(back.recall_at[&1].is_nan() && back.mrr.is_nan());
        assert_eq!(back.ndcg_at, m.ndcg_at);
    }

    #[test]
    fn bad_inputs_are_refused_with_the_offending_value() {
        let err = |g: &[&str], s: &[f64], r: &[f64], k: &[usize]| {
            ranking_metrics(g, s, r, k).unwrap_err().to_string()
        };
        assert_eq!(
            err(&["a", "a"], &[0.1], &[1.0, 0.0], &[1]),
            "ranking metrics need one group, score and relevance per row; got 2 groups, 1 \
             scores and 2 relevance values"
        );
        assert_eq!(err(&[], &[], &[], &[1]), "no rows to rank");
        assert_eq!(
            err(&["a", "b"], &[0.1, f64::NAN], &[1.0, 0.0], &[1]),
            "row 1 (group `b`): score is NaN; scores must be finite"
        );
        assert_eq!(
            err(&["a", "b"], &[0.1, 0.2], &[-1.0, 0.0], &[1]),
            "row 0 (group `a`): relevance is -1; relevance must be a finite number >= 0"
        );
        assert!(err(&["a"], &[0.1], &[f64::NAN], &[1]).contains("relevance is NaN"));
        assert_eq!(
            err(&["a"], &[0.1], &[1.0], &[5, 0]),
            "ranking cut-off k = 0: every k must be at least 1"
        );
    }

    #[test]
    fn report_lines() {
        let m = ranking_metrics(
            &["a", "a", "b", "b", "c"],
            &[0.9, 0.1, 0.2, 0.8, 0.5],
            &[1.0, 0.0, 1.0, 0.0, 0.0],
            &[1, 5],
        )
        .unwrap();
        // NDCG: a 1, b 1 / log2 3 (its relevant row second), c 0: mean 0.5436.
        assert_eq!(
            m.to_text(4),
            "Ranking over 3 groups: 2 with a relevant row (1 without), 2 with both classes \
             (0 all relevant)\n  MRR 0.7500, grouped AUC 0.5000, NDCG 0.5436\n  NDCG @1 0.3333, \
             @5 0.5436\n  recall @1 0.5000, @5 1.0000\n  (MRR and recall: mean over the groups \
             with a relevant row; NDCG: over all groups, 0 for a group without one; grouped \
             AUC: unweighted mean over the groups with both; ties count as the average over \
             their orders)\n"
        );
    }
}
