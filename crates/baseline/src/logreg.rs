//! Multinomial logistic regression with an L2 penalty over sparse features.
//!
//! Minimises `Σᵢ −log softmax(W xᵢ + b)[yᵢ] + ‖W‖² / (2C)` (intercepts unpenalised), the
//! objective of scikit-learn's `LogisticRegression(C=C)` with the multinomial loss, by L-BFGS.
//! Own code rather than `linfa-logistic` because linfa takes a dense `Array2`: a TF-IDF
//! matrix of word 1–2-grams is 10^4–10^5 columns wide (a dense 67k × 50k matrix would be
//! 27 GB), while the gradient over CSR rows costs `O(nnz × classes)`.
//!
//! Only labels seen in training get a row of weights; the others have probability 0.

use crate::lbfgs::{self, Report, Settings};
use crate::sparse::Csr;

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct LogRegConfig {
    /// Inverse regularisation strength (larger = weaker penalty), as sklearn's `C`.
    pub c: f64,
    /// Most L-BFGS iterations.
    pub max_iter: usize,
    /// Gradient tolerance (largest absolute entry of the per-example mean gradient).
    pub tol: f64,
}

impl Default for LogRegConfig {
    fn default() -> Self {
        Self {
            c: 1.0,
            max_iter: 1000,
            tol: 1e-5,
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone)]
pub struct LogReg {
    /// Label ids with a row of weights (those seen in training), ascending.
    classes: Vec<usize>,
    /// Total number of labels (length of a probability vector).
    n_labels: usize,
    /// Number of feature columns.
    n_features: usize,
    /// `(classes, n_features)` row-major.
    weights: Vec<f64>,
    /// `(classes,)`.
    bias: Vec<f64>,
    /// How the optimisation ended.
    pub report: Report,
}

fn softmax_in_place(z: &mut [f64]) {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in z.iter_mut() {
        *v /= sum;
    }
}

impl LogReg {
    /// Fit on rows of `x` with label ids `y` (each `< n_labels`).
    ///
    /// # Panics
    /// When `x` and `y` differ in length or a label id is out of range (programming errors).
    pub fn fit(x: &Csr, y: &[usize], n_labels: usize, config: LogRegConfig) -> Self {
        assert_eq!(x.rows(), y.len(), "rows and labels differ in length");
        let mut classes: Vec<usize> = y.to_vec();
        classes.sort_unstable();
        classes.dedup();
        let k = classes.len();
        let d = x.cols;
        let class_of: Vec<Option<usize>> = (0..n_labels)
            .map(|l| classes.iter().position(|&c| c == l))
            .collect();
        let yk: Vec<usize> = y
            .iter()
            .map(|&l| class_of[l].unwrap_or_else(|| unreachable!("label {l} is in classes")))
            .collect();
        let n = y.len().max(1) as f64;
        let mut params = vec![0.0f64; k * d + k];
        let report = if k < 2 {
            // One class: the prediction is certain, nothing to learn.
            Report {
                iterations: 0,
                value: 0.0,
                gmax: 0.0,
                converged: true,
            }
        } else {
            let lambda = 1.0 / config.c;
            let mut z = vec![0.0f64; k];
            lbfgs::minimize(
                &mut params,
                Settings {
                    max_iter: config.max_iter,
                    gtol: config.tol,
                    memory: 10,
                },
                |p, g| {
                    let (w, b) = p.split_at(k * d);
                    g.iter_mut().for_each(|v| *v = 0.0);
                    let mut loss = 0.0;
                    for (r, &yr) in yk.iter().enumerate() {
                        let (idx, val) = x.row(r);
                        for c in 0..k {
                            let row = &w[c * d..(c + 1) * d];
                            z[c] = b[c]
                                + idx
                                    .iter()
                                    .zip(val)
                                    .map(|(&j, &v)| row[j as usize] * f64::from(v))
                                    .sum::<f64>();
                        }
                        softmax_in_place(&mut z);
                        loss -= z[yr].max(1e-300).ln();
                        z[yr] -= 1.0;
                        let (gw, gb) = g.split_at_mut(k * d);
                        for c in 0..k {
                            let row = &mut gw[c * d..(c + 1) * d];
                            for (&j, &v) in idx.iter().zip(val) {
                                row[j as usize] += z[c] * f64::from(v);
                            }
                            gb[c] += z[c];
                        }
                    }
                    // Scaled by 1/n so the tolerance does not depend on the data size; the
                    // minimiser is the same.
                    let (wp, _) = p.split_at(k * d);
                    let penalty: f64 = wp.iter().map(|v| v * v).sum::<f64>() * lambda / 2.0;
                    for (gi, wi) in g.iter_mut().zip(wp) {
                        *gi += lambda * wi;
                    }
                    g.iter_mut().for_each(|v| *v /= n);
                    (loss + penalty) / n
                },
            )
        };
        let bias = params.split_off(k * d);
        Self {
            classes,
            n_labels,
            n_features: d,
            weights: params,
            bias,
            report,
        }
    }

    /// Probability of every label (length `n_labels`) for each row of `x`.
    #[allow(clippy::needless_range_loop)] // `c` indexes both the logits and the weight rows
    pub fn predict_proba(&self, x: &Csr) -> Vec<Vec<f32>> {
        let k = self.classes.len();
        let d = self.n_features;
        let mut z = vec![0.0f64; k];
        (0..x.rows())
            .map(|r| {
                let (idx, val) = x.row(r);
                for c in 0..k {
                    let row = &self.weights[c * d..(c + 1) * d];
                    z[c] = self.bias.get(c).copied().unwrap_or(0.0)
                        + idx
                            .iter()
                            .zip(val)
                            .filter(|&(&j, _)| (j as usize) < d)
                            .map(|(&j, &v)| row[j as usize] * f64::from(v))
                            .sum::<f64>();
                }
                softmax_in_place(&mut z);
                let mut probs = vec![0.0f32; self.n_labels];
                for (c, &label) in self.classes.iter().enumerate() {
                    probs[label] = z[c] as f32;
                }
                probs
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::argmax;

    /// Three classes, each marked by its own feature plus shared noise features: linearly
    /// separable, so a weakly penalised model classifies every training and held-out row.
    #[test]
    fn separable_toy_set_reaches_100_percent() {
        let mut x = Csr::new(6);
        let mut y = Vec::new();
        for i in 0..60u32 {
            let class = (i % 3) as usize;
            let noise = 3 + (i % 3 + i / 3) % 3;
            x.push_row(vec![(class as u32, 1.0), (noise, 0.5)]);
            y.push(class + 1); // label 0 never occurs
        }
        let model = LogReg::fit(
            &x,
            &y,
            4,
            LogRegConfig {
                c: 100.0,
                ..Default::default()
            },
        );
        assert!(model.report.converged, "{:?}", model.report);
        let probs = model.predict_proba(&x);
        let correct = probs
            .iter()
            .zip(&y)
            .filter(|(p, y)| argmax(p) == **y)
            .count();
        assert_eq!(correct, y.len());
        assert!(
            probs
                .iter()
                .all(|p| p[0] == 0.0 && (p.iter().sum::<f32>() - 1.0).abs() < 1e-5)
        );
    }

    /// With a strong penalty the weights shrink towards zero and the prediction falls back on
    /// the class prior carried by the intercepts.
    #[test]
    fn strong_penalty_gives_the_prior() {
        let mut x = Csr::new(2);
        let mut y = Vec::new();
        for i in 0..40 {
            x.push_row(vec![((i % 2) as u32, 1.0)]);
            y.push(usize::from(i % 4 == 0));
        }
        let model = LogReg::fit(
            &x,
            &y,
            2,
            LogRegConfig {
                c: 1e-6,
                ..Default::default()
            },
        );
        let p = model.predict_proba(&x);
        assert!((p[0][1] - 0.25).abs() < 1e-3, "{:?}", p[0]);
    }
}
