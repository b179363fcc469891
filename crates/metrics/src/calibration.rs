//! Temperature scaling (Guo et al. 2017): one scalar `T` fitted on dev by minimising the
//! negative log-likelihood, dividing every logit by it. Argmax is unchanged; confidences are.
//!
//! Evaluate applies it (`temperature = true`), `predict --evaluation` and `serve` apply the
//! evaluation's recorded `T` the same way ([`scale_f32`]), and reflect fits it to measure how
//! much of a model's miscalibration a global scale explains. Probabilities are the input
//! everywhere: their logs are logits up to a constant, which softmax ignores.

use serde::{Deserialize, Serialize};

/// Probabilities are clamped to this before taking logs, so a hard zero is a large but finite
/// loss (and a finite logit) instead of infinity.
pub const PROB_FLOOR: f64 = 1e-12;

/// Log-probabilities used as logits: softmax of them gives the probabilities back, so
/// temperature scaling can be fitted on probabilities alone.
pub fn logits(probs: &[f64]) -> Vec<f64> {
    probs.iter().map(|p| p.max(PROB_FLOOR).ln()).collect()
}

/// Softmax of `logits / t`.
pub fn softmax_t(logits: &[f64], t: f64) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|z| ((z - max) / t).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Rescale probability vectors by temperature `t` (through their logs).
pub fn apply_temperature(probs: &[Vec<f64>], t: f64) -> Vec<Vec<f64>> {
    probs.iter().map(|p| softmax_t(&logits(p), t)).collect()
}

/// A fitted temperature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Temperature {
    /// The temperature `T` (divide logits by it); above 1 means the model was overconfident.
    pub t: f64,
    /// Mean NLL of the fitting items at `T = 1`.
    pub nll_before: f64,
    /// Mean NLL of the fitting items at the fitted `T`.
    pub nll_after: f64,
    /// Newton iterations used.
    pub iterations: usize,
}

/// Fit a temperature on `logits` (one vector per item) and gold label ids by minimising the
/// mean NLL of `softmax(logits / T)`.
///
/// The NLL is convex in `beta = 1/T` (a log-sum-exp of functions linear in `beta` minus a linear
/// term), so a safeguarded Newton iteration on `beta` finds the global minimum: gradient
/// `E_p[z] - z_gold`, second derivative `Var_p[z]`. `beta` is kept in `[1e-3, 1e3]`.
pub fn fit_temperature(logits: &[Vec<f64>], gold: &[usize]) -> Temperature {
    const LO: f64 = 1e-3;
    const HI: f64 = 1e3;
    let eval = |beta: f64| -> (f64, f64, f64) {
        let (mut f, mut g, mut h) = (0.0, 0.0, 0.0);
        for (z, &y) in logits.iter().zip(gold) {
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = z.iter().map(|zk| (beta * (zk - max)).exp()).collect();
            let s: f64 = w.iter().sum();
            let mean: f64 = w.iter().zip(z).map(|(wk, zk)| wk * zk).sum::<f64>() / s;
            let second: f64 = w.iter().zip(z).map(|(wk, zk)| wk * zk * zk).sum::<f64>() / s;
            let zy = z.get(y).copied().unwrap_or(max);
            f += s.ln() + beta * max - beta * zy;
            g += mean - zy;
            h += (second - mean * mean).max(0.0);
        }
        let n = logits.len().max(1) as f64;
        (f / n, g / n, h / n)
    };
    let (nll_before, _, _) = eval(1.0);
    if logits.is_empty() {
        return Temperature {
            t: 1.0,
            nll_before,
            nll_after: nll_before,
            iterations: 0,
        };
    }
    // Bracket the root of the (monotone) gradient, then Newton steps that fall back to
    // bisection whenever they would leave the bracket.
    let (mut lo, mut hi) = (LO, HI);
    let mut beta = 1.0;
    let mut iterations = 0;
    for _ in 0..100 {
        iterations += 1;
        let (_, g, h) = eval(beta);
        if g.abs() < 1e-12 {
            break;
        }
        if g > 0.0 {
            hi = beta;
        } else {
            lo = beta;
        }
        let newton = if h > 0.0 { beta - g / h } else { f64::NAN };
        let next = if newton.is_finite() && newton > lo && newton < hi {
            newton
        } else {
            // Bisect in log space: the bracket spans six orders of magnitude.
            (lo * hi).sqrt()
        };
        if (next - beta).abs() <= 1e-12 * beta {
            beta = next;
            break;
        }
        beta = next;
    }
    let (nll_after, _, _) = eval(beta);
    Temperature {
        t: 1.0 / beta,
        nll_before,
        nll_after,
        iterations,
    }
}

/// One probability vector (as the predictions store it) rescaled by temperature `t`.
pub fn scale_f32(probs: &[f32], t: f64) -> Vec<f32> {
    let logits: Vec<f64> = probs
        .iter()
        .map(|&p| f64::from(p).max(PROB_FLOOR).ln())
        .collect();
    softmax_t(&logits, t)
        .into_iter()
        .map(|p| p as f32)
        .collect()
}

/// The logit of a sigmoid probability, `ln(p / (1 - p))`, with both sides clamped to
/// [`PROB_FLOOR`] so a hard 0 or 1 stays finite.
pub fn sigmoid_logit(p: f64) -> f64 {
    p.max(PROB_FLOOR).ln() - (1.0 - p).max(PROB_FLOOR).ln()
}

/// Fit one label's temperature on its sigmoid probabilities `probs` and whether the label is
/// present (`gold`): the mean binary NLL of `sigmoid(logit / T)`. A sigmoid is a two-way
/// softmax over logits `[0, z]`, so this is [`fit_temperature`] on those pairs.
pub fn fit_binary_temperature(probs: &[f64], gold: &[bool]) -> Temperature {
    let logits: Vec<Vec<f64>> = probs.iter().map(|&p| vec![0.0, sigmoid_logit(p)]).collect();
    let gold: Vec<usize> = gold.iter().map(|&g| usize::from(g)).collect();
    fit_temperature(&logits, &gold)
}

/// One sigmoid probability rescaled by temperature `t`: `sigmoid(logit(p) / t)`.
pub fn scale_sigmoid(p: f64, t: f64) -> f64 {
    1.0 / (1.0 + (-sigmoid_logit(p) / t).exp())
}

/// A multi-label probability vector (one sigmoid per label) rescaled by each label's
/// temperature.
pub fn scale_sigmoids_f32(probs: &[f32], per_label: &[f64]) -> Vec<f32> {
    probs
        .iter()
        .zip(per_label)
        .map(|(&p, &t)| scale_sigmoid(f64::from(p), t) as f32)
        .collect()
}

/// The temperature an evaluation fitted and applied (`temperature` in each split of
/// `metrics.json`), which `predict --evaluation` and `serve` apply too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemperatureRecord {
    /// Divide logits by this (above 1: the model was overconfident). A multi-label
    /// evaluation divides each label's logit by its own temperature ([`Self::per_label`]);
    /// `t` is then their geometric mean, for display only.
    pub t: f64,
    /// The split it was fitted on.
    pub fitted_on: String,
    /// Items it was fitted on (examples, or words of a token task, or examples × labels of a
    /// multi-label task).
    pub items: usize,
    /// Mean NLL there before (multi-label: the mean binary NLL per example and label).
    pub nll_before: f64,
    /// Mean NLL there after.
    pub nll_after: f64,
    /// Multi-label: each label's temperature, in label order (empty for single-label).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_label: Vec<f64>,
}

impl TemperatureRecord {
    /// The record as a report line.
    pub fn to_text(&self, digits: usize) -> String {
        if !self.per_label.is_empty() {
            let ts: Vec<String> = self
                .per_label
                .iter()
                .map(|t| format!("{t:.d$}", d = digits))
                .collect();
            return format!(
                "Temperatures per label: [{}] fitted on {} ({} example-label pairs; mean binary NLL {:.d$} -> {:.d$}); each probability is sigmoid(logit / T of its label)\n",
                ts.join(", "),
                self.fitted_on,
                self.items,
                self.nll_before,
                self.nll_after,
                d = digits
            );
        }
        format!(
            "Temperature: T = {:.d$} fitted on {} ({} items; mean NLL {:.d$} -> {:.d$}); the probabilities are softmax(logits / T)\n",
            self.t,
            self.fitted_on,
            self.items,
            self.nll_before,
            self.nll_after,
            d = digits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_the_argmax_and_t_one_is_the_identity() {
        let p = [0.7f32, 0.2, 0.1];
        let same = scale_f32(&p, 1.0);
        for (a, b) in p.iter().zip(&same) {
            assert!((a - b).abs() < 1e-7, "{same:?}");
        }
        let soft = scale_f32(&p, 2.0);
        assert!(
            soft[0] < 0.7 && soft[0] > soft[1] && soft[1] > soft[2],
            "{soft:?}"
        );
        // T = 2 is the square root of the probabilities, renormalised.
        let z: f64 = p.iter().map(|&x| f64::from(x).sqrt()).sum();
        assert!((f64::from(soft[0]) - f64::from(0.7f32).sqrt() / z).abs() < 1e-6);
        let sharp = scale_f32(&p, 0.5);
        assert!(sharp[0] > 0.7);
    }

    #[test]
    fn a_sigmoid_temperature_is_the_binary_softmax_one_and_undoes_a_scaled_logit() {
        // Probabilities that are sigmoid(2 z) of well-calibrated sigmoid(z) ones: the fit
        // should find T close to 2 (labels drawn so that sigmoid(z) is their frequency).
        let mut probs = Vec::new();
        let mut gold = Vec::new();
        for i in 0..400 {
            let z = -3.0 + 6.0 * f64::from(i) / 399.0;
            let q = 1.0 / (1.0 + (-z).exp());
            // Deterministic labels at the calibrated rate: 20 copies, round(20 q) positive.
            let pos = (20.0 * q).round() as usize;
            for k in 0..20 {
                probs.push(1.0 / (1.0 + (-2.0 * z).exp()));
                gold.push(k < pos);
            }
        }
        let fit = fit_binary_temperature(&probs, &gold);
        assert!((fit.t - 2.0).abs() < 0.05, "{fit:?}");
        assert!(fit.nll_after < fit.nll_before);
        // Scaling keeps 0.5 and the order, and T = 1 is the identity.
        assert!((scale_sigmoid(0.5, 3.0) - 0.5).abs() < 1e-12);
        assert!((scale_sigmoid(0.8, 1.0) - 0.8).abs() < 1e-12);
        let s = scale_sigmoids_f32(&[0.9, 0.1, 0.9], &[2.0, 2.0, 0.5]);
        assert!(
            s[0] < 0.9 && s[0] > 0.5 && s[1] > 0.1 && s[1] < 0.5 && s[2] > 0.9,
            "{s:?}"
        );
        // sigmoid(logit(0.9) / 2) = 3 / (3 + 1) = 0.75: logit(0.9) = ln 9.
        assert!((f64::from(s[0]) - 0.75).abs() < 1e-6);
    }
}
