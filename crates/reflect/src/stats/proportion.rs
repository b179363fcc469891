//! Proportions: a share `k / n` and its Wilson score interval.

/// `k / n`, 0 when `n` is 0.
pub fn share(k: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

/// Wilson score interval of a proportion `k / n` at 95 %.
pub fn wilson(k: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_963_984_540_054_f64;
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // statsmodels proportion_confint(5, 100, method="wilson") = (0.02154, 0.11175)
        let [lo, hi] = wilson(5, 100);
        assert!(
            (lo - 0.021_54).abs() < 1e-4 && (hi - 0.111_75).abs() < 1e-4,
            "{lo} {hi}"
        );
    }
}
