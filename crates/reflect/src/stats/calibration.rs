//! Calibration: how far a model's confidence is from its accuracy, and temperature scaling.
//!
//! Every function takes the probability vectors the evaluate stage writes (one per word or
//! example, in `labels.json` order) or the top-1 confidence with a correctness flag, so the
//! same code serves word-level, entity-level and example-level calibration.

use serde::{Deserialize, Serialize};

pub use metrics::calibration::{
    PROB_FLOOR, Temperature, apply_temperature, fit_temperature, logits, softmax_t,
};

/// How confidence bins are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binning {
    /// `B` bins of width `1/B`; bin `i` holds confidences in `(i/B, (i+1)/B]` (0 goes to the
    /// first bin), the convention of Guo et al. 2017.
    EqualWidth,
    /// `B` bins holding (nearly) the same number of items, by sorted confidence.
    EqualMass,
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Lowest confidence the bin covers.
    pub lo: f64,
    /// Highest confidence the bin covers.
    pub hi: f64,
    /// Items in the bin.
    pub count: usize,
    /// Mean confidence of its items (0 when empty).
    pub confidence: f64,
    /// Fraction of its items that are correct (0 when empty).
    pub accuracy: f64,
}

/// Expected and maximum calibration error with the bins they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    /// The binning used.
    pub binning: Binning,
    /// `sum_b (n_b / n) |acc_b - conf_b|`.
    pub ece: f64,
    /// `max_b |acc_b - conf_b|` over non-empty bins.
    pub mce: f64,
    /// The bins, in order of confidence.
    pub bins: Vec<Bin>,
}

/// Bin index of a confidence under equal-width binning (see [`Binning::EqualWidth`]).
pub fn width_bin(confidence: f64, bins: usize) -> usize {
    let b = (confidence * bins as f64).ceil() as isize - 1;
    b.clamp(0, bins as isize - 1) as usize
}

/// Reliability of top-1 confidences: `confidence[i]` is the probability the model gave its
/// prediction, `correct[i]` whether that prediction was right.
///
/// # Panics
/// Never for user data; `bins == 0` or mismatched lengths are programming errors and yield an
/// empty result instead.
pub fn reliability(
    confidence: &[f64],
    correct: &[bool],
    bins: usize,
    binning: Binning,
) -> Reliability {
    let n = confidence.len().min(correct.len());
    let mut out = Reliability {
        binning,
        ece: 0.0,
        mce: 0.0,
        bins: Vec::new(),
    };
    if n == 0 || bins == 0 {
        return out;
    }
    // (count, sum of confidence, number correct, lo, hi) per bin
    let mut acc: Vec<(usize, f64, usize, f64, f64)> = Vec::with_capacity(bins);
    match binning {
        Binning::EqualWidth => {
            for b in 0..bins {
                acc.push((
                    0,
                    0.0,
                    0,
                    b as f64 / bins as f64,
                    (b + 1) as f64 / bins as f64,
                ));
            }
            for i in 0..n {
                let b = width_bin(confidence[i], bins);
                acc[b].0 += 1;
                acc[b].1 += confidence[i];
                acc[b].2 += usize::from(correct[i]);
            }
        }
        Binning::EqualMass => {
            let mut order: Vec<usize> = (0..n).collect();
            // Ties broken by index so the split is deterministic.
            order.sort_by(|&a, &b| confidence[a].total_cmp(&confidence[b]).then(a.cmp(&b)));
            for b in 0..bins {
                let start = b * n / bins;
                let end = (b + 1) * n / bins;
                if start == end {
                    continue;
                }
                let slice = &order[start..end];
                let sum: f64 = slice.iter().map(|&i| confidence[i]).sum();
                let right = slice.iter().filter(|&&i| correct[i]).count();
                acc.push((
                    slice.len(),
                    sum,
                    right,
                    confidence[slice[0]],
                    confidence[slice[slice.len() - 1]],
                ));
            }
        }
    }
    for (count, sum, right, lo, hi) in acc {
        let (conf, accuracy) = if count == 0 {
            (0.0, 0.0)
        } else {
            (sum / count as f64, right as f64 / count as f64)
        };
        if count > 0 {
            let gap = (accuracy - conf).abs();
            out.ece += count as f64 / n as f64 * gap;
            out.mce = out.mce.max(gap);
        }
        out.bins.push(Bin {
            lo,
            hi,
            count,
            confidence: conf,
            accuracy,
        });
    }
    out
}

/// Equal-width ECE from per-bin sufficient statistics laid out as
/// `[count_0, conf_sum_0, correct_0, count_1, …]` (what [`ece_stats`] produces per unit), so a
/// bootstrap can resample units and recompute ECE from summed statistics.
pub fn ece_from_stats(stats: &[f64]) -> f64 {
    let n: f64 = stats.chunks(3).map(|c| c[0]).sum();
    if n == 0.0 {
        return 0.0;
    }
    stats
        .chunks(3)
        .filter(|c| c[0] > 0.0)
        .map(|c| (c[2] - c[1]).abs() / n)
        .sum()
}

/// Per-bin sufficient statistics of some items for [`ece_from_stats`] (equal-width bins).
pub fn ece_stats(confidence: &[f64], correct: &[bool], bins: usize) -> Vec<f64> {
    let mut stats = vec![0.0; 3 * bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let b = width_bin(c, bins);
        stats[3 * b] += 1.0;
        stats[3 * b + 1] += c;
        stats[3 * b + 2] += f64::from(u8::from(ok));
    }
    stats
}

/// Multi-class Brier score: mean over items of `sum_k (p_k - [k == gold])^2`.
pub fn brier(probs: &[Vec<f64>], gold: &[usize]) -> f64 {
    if probs.is_empty() {
        return 0.0;
    }
    let total: f64 = probs
        .iter()
        .zip(gold)
        .map(|(p, &g)| {
            p.iter()
                .enumerate()
                .map(|(k, &pk)| {
                    let y = if k == g { 1.0 } else { 0.0 };
                    (pk - y) * (pk - y)
                })
                .sum::<f64>()
        })
        .sum();
    total / probs.len() as f64
}

/// Negative log-likelihood of the gold labels, natural log, mean over items.
pub fn nll(probs: &[Vec<f64>], gold: &[usize]) -> f64 {
    if probs.is_empty() {
        return 0.0;
    }
    let total: f64 = probs
        .iter()
        .zip(gold)
        .map(|(p, &g)| -p.get(g).copied().unwrap_or(0.0).max(PROB_FLOOR).ln())
        .sum();
    total / probs.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn ece_of_a_hand_built_case() {
        // Bins of width 0.2 (5 bins):
        //  bin 4 (0.8, 1.0]: conf 0.9, 0.9, 0.9, 0.9 with 3 correct -> |0.75 - 0.9| = 0.15
        //  bin 2 (0.4, 0.6]: conf 0.5, 0.5 with 2 correct      -> |1.0 - 0.5| = 0.5
        //  bin 0 [0, 0.2]: conf 0.1 wrong                         -> |0 - 0.1| = 0.1
        let conf = [0.9, 0.9, 0.9, 0.9, 0.5, 0.5, 0.1];
        let ok = [true, true, true, false, true, true, false];
        let r = reliability(&conf, &ok, 5, Binning::EqualWidth);
        let expected = (4.0 * 0.15 + 2.0 * 0.5 + 0.1) / 7.0;
        assert!((r.ece - expected).abs() < 1e-12, "{} vs {expected}", r.ece);
        assert!((r.mce - 0.5).abs() < 1e-12);
        assert_eq!(
            r.bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![1, 0, 2, 0, 4]
        );
        // The sufficient-statistics route gives the same number.
        let stats = ece_stats(&conf, &ok, 5);
        assert!((ece_from_stats(&stats) - expected).abs() < 1e-12);
    }

    #[test]
    fn equal_mass_bins_split_sorted_confidences() {
        let conf = [0.1, 0.9, 0.3, 0.7, 0.5, 0.6];
        let ok = [false, true, false, true, true, false];
        let r = reliability(&conf, &ok, 3, Binning::EqualMass);
        // sorted: 0.1 F, 0.3 F | 0.5 T, 0.6 F | 0.7 T, 0.9 T
        let expected = (2.0 * 0.2 + 2.0 * (0.55f64 - 0.5).abs() + 2.0 * (1.0f64 - 0.8).abs()) / 6.0;
        assert!((r.ece - expected).abs() < 1e-12, "{} vs {expected}", r.ece);
        assert_eq!(r.bins.len(), 3);
        assert!((r.bins[1].lo - 0.5).abs() < 1e-12 && (r.bins[1].hi - 0.6).abs() < 1e-12);
    }

    #[test]
    fn perfectly_calibrated_bins_have_zero_ece() {
        let conf = [0.75; 4];
        let ok = [true, true, true, false];
        assert!(reliability(&conf, &ok, 15, Binning::EqualWidth).ece < 1e-12);
    }

    #[test]
    fn brier_and_nll_of_known_vectors() {
        let probs = vec![vec![0.7, 0.2, 0.1], vec![0.4, 0.6, 0.0]];
        let gold = [0, 0];
        // (0.09 + 0.04 + 0.01) + (0.36 + 0.36 + 0) = 0.14 + 0.72
        assert!((brier(&probs, &gold) - 0.43).abs() < 1e-12);
        let expected = -(0.7f64.ln() + 0.4f64.ln()) / 2.0;
        assert!((nll(&probs, &gold) - expected).abs() < 1e-12);
    }

    #[test]
    fn temperature_one_round_trips_probabilities() {
        let p = vec![0.5, 0.3, 0.2];
        let q = softmax_t(&logits(&p), 1.0);
        for (a, b) in p.iter().zip(&q) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    /// Labels drawn from `softmax(z / T)`: the fit must find `T` again (within 1 %).
    #[test]
    fn temperature_scaling_recovers_a_known_temperature() {
        for &true_t in &[0.5, 2.0, 3.0] {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let k = 5;
            let n = 40_000;
            let mut logits_all = Vec::with_capacity(n);
            let mut gold = Vec::with_capacity(n);
            for _ in 0..n {
                // Scaled so that z / T spans the same range for every T: each case then
                // carries the same information about T (relative standard error about 0.5 %).
                let z: Vec<f64> = (0..k)
                    .map(|_| rng.random_range(-4.0..4.0) * true_t)
                    .collect();
                let p = softmax_t(&z, true_t);
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let mut y = k - 1;
                for (j, pj) in p.iter().enumerate() {
                    acc += pj;
                    if u < acc {
                        y = j;
                        break;
                    }
                }
                logits_all.push(z);
                gold.push(y);
            }
            let fit = fit_temperature(&logits_all, &gold);
            assert!(
                (fit.t - true_t).abs() / true_t < 0.01,
                "true T {true_t}, fitted {}",
                fit.t
            );
            assert!(fit.nll_after <= fit.nll_before + 1e-12);
        }
    }

    #[test]
    fn temperature_fit_on_probabilities_via_log_probs() {
        // Overconfident probabilities (T = 2 squashed into T = 1): fitting on their logs
        // must find ~2 again, and scaling must lower ECE.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut probs, mut gold) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let z: Vec<f64> = (0..3).map(|_| rng.random_range(-3.0..3.0)).collect();
            let truth = softmax_t(&z, 2.0);
            let u: f64 = rng.random();
            let y = if u < truth[0] {
                0
            } else if u < truth[0] + truth[1] {
                1
            } else {
                2
            };
            probs.push(softmax_t(&z, 1.0));
            gold.push(y);
        }
        let lg: Vec<Vec<f64>> = probs.iter().map(|p| logits(p)).collect();
        let fit = fit_temperature(&lg, &gold);
        assert!((fit.t - 2.0).abs() < 0.04, "fitted {}", fit.t);
        let top = |ps: &[Vec<f64>]| -> (Vec<f64>, Vec<bool>) {
            ps.iter()
                .zip(&gold)
                .map(|(p, &g)| {
                    let (arg, max) = p
                        .iter()
                        .enumerate()
                        .fold((0, f64::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
                    (max, arg == g)
                })
                .unzip()
        };
        let (c0, k0) = top(&probs);
        let scaled = apply_temperature(&probs, fit.t);
        let (c1, k1) = top(&scaled);
        let before = reliability(&c0, &k0, 15, Binning::EqualWidth).ece;
        let after = reliability(&c1, &k1, 15, Binning::EqualWidth).ece;
        assert!(after < before / 3.0, "ECE {before} -> {after}");
    }
}
