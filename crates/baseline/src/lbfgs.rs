//! Limited-memory BFGS for smooth convex objectives (the logistic regression's loss).
//!
//! A small own implementation: the objective is a closure over a flat `f64` vector, the
//! line search backtracks until the Armijo condition holds, and the curvature pair of a step
//! is kept only when `sᵀy > 0` so the inverse-Hessian estimate stays positive definite.

/// When to stop.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Most iterations.
    pub max_iter: usize,
    /// Stop when the largest absolute gradient entry falls below this.
    pub gtol: f64,
    /// Curvature pairs kept.
    pub memory: usize,
}

/// How the minimisation ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// Iterations taken.
    pub iterations: usize,
    /// Objective value at the end.
    pub value: f64,
    /// Largest absolute gradient entry at the end.
    pub gmax: f64,
    /// Whether `gmax <= gtol` was reached (rather than the iteration limit or a stalled
    /// line search).
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn gmax(g: &[f64]) -> f64 {
    g.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Minimise `f` starting from `x` (updated in place). `f(x, grad)` returns the value and
/// writes the gradient.
pub fn minimize(
    x: &mut [f64],
    settings: Settings,
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
) -> Report {
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut value = f(x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho_hist: Vec<f64> = Vec::new();
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut dir = vec![0.0; n];
    let mut iterations = 0;
    while iterations < settings.max_iter {
        if gmax(&g) <= settings.gtol {
            break;
        }
        iterations += 1;
        // Two-loop recursion: dir = -H g.
        dir.copy_from_slice(&g);
        let mut alphas = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            alphas[i] = rho_hist[i] * dot(&s_hist[i], &dir);
            for (d, y) in dir.iter_mut().zip(&y_hist[i]) {
                *d -= alphas[i] * y;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / dot(&g, &g).sqrt().max(1e-12),
        };
        for d in &mut dir {
            *d *= gamma;
        }
        for i in 0..s_hist.len() {
            let beta = rho_hist[i] * dot(&y_hist[i], &dir);
            for (d, s) in dir.iter_mut().zip(&s_hist[i]) {
                *d += s * (alphas[i] - beta);
            }
        }
        for d in &mut dir {
            *d = -*d;
        }
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            let scale = 1.0 / dot(&g, &g).sqrt().max(1e-12);
            for (d, gi) in dir.iter_mut().zip(&g) {
                *d = -gi * scale;
            }
            slope = dot(&g, &dir);
        }
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..40 {
            for i in 0..n {
                x_new[i] = x[i] + step * dir[i];
            }
            let v = f(&x_new, &mut g_new);
            if v.is_finite() && v <= value + 1e-4 * step * slope {
                value = v;
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
        let s: Vec<f64> = (0..n).map(|i| x_new[i] - x[i]).collect();
        let y: Vec<f64> = (0..n).map(|i| g_new[i] - g[i]).collect();
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            if s_hist.len() == settings.memory {
                s_hist.remove(0);
                y_hist.remove(0);
                rho_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho_hist.push(1.0 / sy);
        }
    }
    let gm = gmax(&g);
    Report {
        iterations,
        value,
        gmax: gm,
        converged: gm <= settings.gtol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_rotated_quadratic() {
        // f = (x0 - 3)^2 + 10 (x1 + x0)^2, minimum at (3, -3)
        let mut x = vec![0.0, 0.0];
        let report = minimize(
            &mut x,
            Settings {
                max_iter: 200,
                gtol: 1e-9,
                memory: 5,
            },
            |x, g| {
                g[0] = 2.0 * (x[0] - 3.0) + 20.0 * (x[1] + x[0]);
                g[1] = 20.0 * (x[1] + x[0]);
                (x[0] - 3.0).powi(2) + 10.0 * (x[1] + x[0]).powi(2)
            },
        );
        assert!(report.converged, "{report:?}");
        assert!(
            (x[0] - 3.0).abs() < 1e-6 && (x[1] + 3.0).abs() < 1e-6,
            "{x:?}"
        );
    }
}
