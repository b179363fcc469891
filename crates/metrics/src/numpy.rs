//! Floating-point reductions in the exact order NumPy performs them.
//!
//! seqeval and scikit-learn average with `np.sum` / `np.mean` / `np.average`, which use
//! pairwise summation. Summing in the same order makes our numbers equal theirs bit for bit,
//! so even a value that sits on a rounding boundary prints the same in a text report.

/// `np.sum` of a contiguous `float64` array (NumPy's `pairwise_sum`).
pub fn sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        // NumPy starts from -0.0 so that a sum of negative zeros stays -0.0.
        let mut res = -0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let blocks = n - n % 8;
        let mut i = 8;
        while i < blocks {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[blocks..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        sum(&a[..n2]) + sum(&a[n2..])
    }
}

/// `np.mean` of a `float64` array; NaN for an empty one, as NumPy returns.
pub fn mean(a: &[f64]) -> f64 {
    if a.is_empty() {
        return f64::NAN;
    }
    sum(a) / a.len() as f64
}

/// `np.average(a, weights=w)` with non-negative integer weights; `None` when the weights sum
/// to zero (NumPy raises `ZeroDivisionError` there and each caller handles it its own way).
pub fn weighted_average(a: &[f64], w: &[usize]) -> Option<f64> {
    let total: usize = w.iter().sum();
    if total == 0 {
        return None;
    }
    let products: Vec<f64> = a.iter().zip(w).map(|(x, &k)| x * k as f64).collect();
    Some(sum(&products) / total as f64)
}

/// Formats a float as Python's `format(x, '.{digits}f')` does (`nan`, `inf`, round half
/// to even on the exact binary value, which is also what Rust's formatter does).
pub fn format_fixed(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{x:.digits$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_order_differs_from_naive_and_matches_numpy() {
        // 0.1 summed 10 times: NumPy's pairwise order gives exactly 1.0 here,
        // a left-to-right loop gives 0.9999999999999999.
        let a = [0.1f64; 10];
        let naive: f64 = a.iter().fold(0.0, |s, x| s + x);
        assert_eq!(naive, 0.9999999999999999);
        assert_eq!(sum(&a), 1.0);
    }

    #[test]
    fn python_style_formatting() {
        assert_eq!(format_fixed(0.125, 2), "0.12");
        assert_eq!(format_fixed(0.375, 2), "0.38");
        assert_eq!(format_fixed(f64::NAN, 2), "nan");
        assert_eq!(format_fixed(1.0, 4), "1.0000");
    }

    #[test]
    fn averages() {
        assert!(mean(&[]).is_nan());
        assert_eq!(weighted_average(&[1.0, 0.0], &[3, 1]), Some(0.75));
        assert_eq!(weighted_average(&[1.0], &[0]), None);
    }
}
