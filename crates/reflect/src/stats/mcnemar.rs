//! The exact McNemar test: do two classifiers scored on the same examples differ in accuracy?
//!
//! Only the discordant pairs matter: `b` examples the model gets right and the other system
//! wrong, `c` the reverse. Under the null both are equally likely, so `b ~ Binomial(b + c, 1/2)`
//! and the p-value is the two-sided exact binomial test (what `scipy.stats.binomtest(b, b + c,
//! 0.5)` computes: the probability of every outcome no more likely than the one observed).

use serde::{Deserialize, Serialize};

/// A McNemar test result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Examples the model gets right and the baseline wrong.
    pub b: u64,
    /// Examples the model gets wrong and the baseline right.
    pub c: u64,
    /// Two-sided exact p-value.
    pub p_value: f64,
}

/// The exact two-sided McNemar test on discordant counts `b` and `c`.
pub fn mcnemar_exact(b: u64, c: u64) -> McNemar {
    let n = b + c;
    let k = b.min(c);
    let p_value = if b == c {
        1.0
    } else {
        // With p = 1/2 the distribution is symmetric: the outcomes no more likely than `k` are
        // the two tails `<= k` and `>= n - k`, each of probability P(X <= k). Summed in log
        // space so large `n` (where 2^-n underflows) stays exact.
        let ln2 = std::f64::consts::LN_2;
        let mut ln_choose = 0.0f64;
        let mut terms = Vec::with_capacity(k as usize + 1);
        for i in 0..=k {
            if i > 0 {
                ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
            }
            terms.push(ln_choose - n as f64 * ln2);
        }
        let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tail = max.exp() * terms.iter().map(|t| (t - max).exp()).sum::<f64>();
        (2.0 * tail).min(1.0)
    };
    McNemar { b, c, p_value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tables_by_hand() {
        // b = 0, c = 5: 2 * 0.5^5
        assert!((mcnemar_exact(0, 5).p_value - 0.0625).abs() < 1e-15);
        // b = 1, c = 3: 2 * (1 + 4) / 16
        assert!((mcnemar_exact(1, 3).p_value - 0.625).abs() < 1e-15);
        assert_eq!(mcnemar_exact(4, 4).p_value, 1.0);
        assert_eq!(mcnemar_exact(0, 0).p_value, 1.0);
    }

    /// p-values equal `scipy.stats.binomtest(b, b + c, 0.5).pvalue` on the committed fixture
    /// (`scripts/fixtures/reflect/make_fixtures.py`).
    #[test]
    fn p_values_equal_scipy_on_fixture_tables() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts/fixtures/reflect/mcnemar.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run make_fixtures.py)", path.display()));
        let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let b = case["b"].as_u64().unwrap();
            let c = case["c"].as_u64().unwrap();
            let expected = case["p"].as_f64().unwrap();
            let got = mcnemar_exact(b, c).p_value;
            let tol = 1e-10 * expected.max(1e-300);
            assert!(
                (got - expected).abs() <= tol.max(1e-300),
                "b={b} c={c}: {got:e} vs scipy {expected:e}"
            );
        }
    }
}
