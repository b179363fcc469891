//! A random forest of CART trees (Gini impurity) over sparse features.
//!
//! Breiman's recipe as scikit-learn's `RandomForestClassifier` runs it: each tree is grown on
//! a bootstrap sample, and each node looks at `mtry` randomly chosen features (default
//! `⌊√d⌋`) that vary within the node. Probabilities are the fraction of trees voting for each
//! label (fully grown trees have pure leaves, where this equals sklearn's mean leaf
//! distribution).
//!
//! Own code rather than smartcore's `RandomForestClassifier` (0.4): that one takes a dense
//! matrix (a TF-IDF matrix is 10^4–10^5 columns wide), keeps its trees private so no vote
//! fractions can be read, and seeds every tree's feature sampling identically. Here a node's
//! split search only touches the node's non-zero entries.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::sparse::Csr;

/// Forest settings.
#[derive(Debug, Clone, Copy)]
pub struct ForestConfig {
    /// Number of trees.
    pub n_trees: usize,
    /// Deepest a tree may grow (`None`: until the leaves are pure).
    pub max_depth: Option<usize>,
    /// Fewest (bootstrap-weighted) examples a node needs to be split.
    pub min_samples_split: usize,
    /// Features tried per node; `None` for `⌊√d⌋`.
    pub mtry: Option<usize>,
    /// Seed of the bootstrap and feature sampling (tree `t` uses `seed + t`).
    pub seed: u64,
}

impl Default for ForestConfig {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: None,
            min_samples_split: 2,
            mtry: None,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Leaf {
        label: usize,
    },
    Split {
        feature: u32,
        threshold: f32,
        /// Child for `x[feature] <= threshold`.
        left: usize,
        right: usize,
    },
}

#[derive(Debug, Clone)]
struct Tree {
    nodes: Vec<Node>,
}

/// A fitted forest.
#[derive(Debug, Clone)]
pub struct Forest {
    trees: Vec<Tree>,
    n_labels: usize,
}

/// What the growing of one tree shares between nodes.
struct Grower<'a> {
    x: &'a Csr,
    cols: &'a [Vec<(u32, f32)>],
    y: &'a [usize],
    n_labels: usize,
    mtry: usize,
    /// Per column: the id of the last node that listed it (avoids a set per node).
    col_stamp: Vec<usize>,
    /// Per row: the id of the node it currently belongs to.
    row_stamp: Vec<usize>,
}

fn gini_sum(counts: &[f64], total: f64) -> f64 {
    // total × Gini impurity = total − Σ c² / total
    if total <= 0.0 {
        return 0.0;
    }
    total - counts.iter().map(|c| c * c).sum::<f64>() / total
}

fn majority(counts: &[f64]) -> usize {
    let mut best = 0;
    for (i, &c) in counts.iter().enumerate() {
        if c > counts[best] {
            best = i;
        }
    }
    best
}

impl Grower<'_> {
    /// Best `(feature, threshold, left rows, right rows)` split of a node, if any.
    #[allow(clippy::type_complexity)]
    fn best_split(
        &mut self,
        node_id: usize,
        rows: &[(u32, f64)],
        counts: &[f64],
        rng: &mut ChaCha8Rng,
    ) -> Option<(u32, f32, Vec<(u32, f64)>, Vec<(u32, f64)>)> {
        let total: f64 = counts.iter().sum();
        let mut candidates = Vec::new();
        for &(r, _) in rows {
            self.row_stamp[r as usize] = node_id;
            for &c in self.x.row(r as usize).0 {
                if self.col_stamp[c as usize] != node_id {
                    self.col_stamp[c as usize] = node_id;
                    candidates.push(c);
                }
            }
        }
        // Candidates come in row order, which depends only on the data: sort so the sample
        // depends only on the rng.
        candidates.sort_unstable();
        let tries = self.mtry.min(candidates.len());
        let parent = gini_sum(counts, total);
        let mut best: Option<(f64, u32, f32)> = None;
        let weight_of = |r: u32| {
            rows.binary_search_by_key(&r, |&(rr, _)| rr)
                .ok()
                .map(|i| rows[i].1)
        };
        for t in 0..tries {
            let pick = rng.random_range(t..candidates.len());
            candidates.swap(t, pick);
            let feature = candidates[t];
            let mut entries: Vec<(f32, usize, f64)> = Vec::new();
            let mut nonzero = vec![0.0f64; self.n_labels];
            for &(r, v) in &self.cols[feature as usize] {
                if self.row_stamp[r as usize] == node_id
                    && let Some(w) = weight_of(r)
                {
                    let label = self.y[r as usize];
                    entries.push((v, label, w));
                    nonzero[label] += w;
                }
            }
            let zero_weight = total - nonzero.iter().sum::<f64>();
            if zero_weight > 1e-9 {
                // The node's implicit zeros form one group at value 0.
                for (label, (&c, &nz)) in counts.iter().zip(&nonzero).enumerate() {
                    if c - nz > 1e-9 {
                        entries.push((0.0, label, c - nz));
                    }
                }
            }
            entries.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut left = vec![0.0f64; self.n_labels];
            let mut left_total = 0.0;
            for i in 0..entries.len().saturating_sub(1) {
                let (v, label, w) = entries[i];
                left[label] += w;
                left_total += w;
                let next = entries[i + 1].0;
                if next <= v {
                    continue;
                }
                let right: Vec<f64> = counts.iter().zip(&left).map(|(c, l)| c - l).collect();
                let score = gini_sum(&left, left_total) + gini_sum(&right, total - left_total);
                if score < parent - 1e-12 && best.is_none_or(|(s, _, _)| score < s) {
                    best = Some((score, feature, v + (next - v) / 2.0));
                }
            }
        }
        let (_, feature, threshold) = best?;
        let value_of = |r: u32| {
            let (idx, val) = self.x.row(r as usize);
            idx.binary_search(&feature).map_or(0.0, |i| val[i])
        };
        let (left, right): (Vec<_>, Vec<_>) =
            rows.iter().partition(|&&(r, _)| value_of(r) <= threshold);
        Some((feature, threshold, left, right))
    }

    fn grow(&mut self, rows: Vec<(u32, f64)>, config: &ForestConfig, rng: &mut ChaCha8Rng) -> Tree {
        let mut nodes: Vec<Node> = Vec::new();
        // (node index, rows, depth)
        let mut stack = vec![(0usize, rows, 0usize)];
        nodes.push(Node::Leaf { label: 0 });
        while let Some((id, rows, depth)) = stack.pop() {
            let mut counts = vec![0.0f64; self.n_labels];
            for &(r, w) in &rows {
                counts[self.y[r as usize]] += w;
            }
            let total: f64 = counts.iter().sum();
            let label = majority(&counts);
            let pure = counts.iter().filter(|&&c| c > 0.0).count() <= 1;
            let too_deep = config.max_depth.is_some_and(|m| depth >= m);
            // Node ids for stamps start at 1 so the zero-initialised stamps never match.
            let split = if pure || too_deep || total < config.min_samples_split as f64 {
                None
            } else {
                self.best_split(id + 1, &rows, &counts, rng)
            };
            match split {
                None => nodes[id] = Node::Leaf { label },
                Some((feature, threshold, left_rows, right_rows)) => {
                    let left = nodes.len();
                    nodes.push(Node::Leaf { label });
                    let right = nodes.len();
                    nodes.push(Node::Leaf { label });
                    nodes[id] = Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    };
                    stack.push((right, right_rows, depth + 1));
                    stack.push((left, left_rows, depth + 1));
                }
            }
        }
        Tree { nodes }
    }
}

impl Tree {
    fn predict(&self, idx: &[u32], val: &[f32]) -> usize {
        let mut node = 0;
        loop {
            match &self.nodes[node] {
                Node::Leaf { label } => return *label,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let v = idx.binary_search(feature).map_or(0.0, |i| val[i]);
                    node = if v <= *threshold { *left } else { *right };
                }
            }
        }
    }
}

impl Forest {
    /// Fit on rows of `x` with label ids `y` (each `< n_labels`).
    ///
    /// # Panics
    /// When `x` and `y` differ in length (a programming error).
    pub fn fit(x: &Csr, y: &[usize], n_labels: usize, config: ForestConfig) -> Self {
        assert_eq!(x.rows(), y.len(), "rows and labels differ in length");
        let cols = x.to_columns();
        let n = y.len();
        let mtry = config
            .mtry
            .unwrap_or_else(|| (x.cols as f64).sqrt().floor() as usize)
            .max(1);
        let trees = (0..config.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(config.seed.wrapping_add(t as u64));
                let mut weights = vec![0.0f64; n];
                for _ in 0..n {
                    weights[rng.random_range(0..n)] += 1.0;
                }
                let rows: Vec<(u32, f64)> = weights
                    .iter()
                    .enumerate()
                    .filter(|&(_, &w)| w > 0.0)
                    .map(|(r, &w)| (r as u32, w))
                    .collect();
                let mut grower = Grower {
                    x,
                    cols: &cols,
                    y,
                    n_labels,
                    mtry,
                    col_stamp: vec![0; x.cols],
                    row_stamp: vec![0; n],
                };
                grower.grow(rows, &config, &mut rng)
            })
            .collect();
        Self { trees, n_labels }
    }

    /// Fraction of trees voting for each label (length `n_labels`) for each row of `x`.
    pub fn predict_proba(&self, x: &Csr) -> Vec<Vec<f32>> {
        (0..x.rows())
            .map(|r| {
                let (idx, val) = x.row(r);
                let mut votes = vec![0.0f32; self.n_labels];
                for tree in &self.trees {
                    votes[tree.predict(idx, val)] += 1.0;
                }
                let n = self.trees.len().max(1) as f32;
                votes.iter_mut().for_each(|v| *v /= n);
                votes
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::argmax;

    /// Label = XOR of two features: no single feature separates it, two levels of splits do.
    #[test]
    fn learns_xor_and_is_deterministic() {
        let mut x = Csr::new(3);
        let mut y = Vec::new();
        for i in 0..80u32 {
            let a = i % 2;
            let b = (i / 2) % 2;
            let mut row = vec![(2, 0.1 + (i % 7) as f32 * 0.01)];
            if a == 1 {
                row.push((0, 1.0));
            }
            if b == 1 {
                row.push((1, 1.0));
            }
            x.push_row(row);
            y.push((a ^ b) as usize);
        }
        let config = ForestConfig {
            n_trees: 25,
            mtry: Some(2),
            seed: 7,
            ..Default::default()
        };
        let forest = Forest::fit(&x, &y, 2, config);
        let probs = forest.predict_proba(&x);
        let correct = probs
            .iter()
            .zip(&y)
            .filter(|(p, y)| argmax(p) == **y)
            .count();
        assert_eq!(correct, y.len());
        let again = Forest::fit(&x, &y, 2, config).predict_proba(&x);
        assert_eq!(probs, again);
        assert!(
            probs
                .iter()
                .all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5)
        );
    }
}
