//! Decisions taken from the probabilities: least-expected-cost decisions under the cost
//! matrix, and answers given with a confidence no rejection threshold takes back.

use super::builder::Builder;
use super::types::{Severity, ci, finding, pct, wilson};

/// Decisions under the cost matrix: whether the least-expected-cost decision collapsed to a
/// constant policy, and whether the baseline's decisions cost significantly less.
pub(super) fn cost_decisions(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(c) = &a.costs else { return };
    let m = c.model_cost.estimate;
    let (best_label, best_cost) = &c.best_constant;
    let cheaper_baseline = c.baseline.as_ref().filter(|p| p.diff.lo > 0.0);
    let lec = c.decided_by == crate::analysis::costs::LEAST_EXPECTED_COST;
    let rule = if lec {
        "its least-expected-cost decision is".to_string()
    } else {
        format!("its decisions ({}) are", c.decided_by)
    };
    let mut f = if let Some(label) = &c.constant {
        let mut f = finding(
            "decisions.cost".into(),
            Severity::High,
            "decisions",
            format!(
                "Under the cost matrix the model decides `{label}` for all {} {} examples: {rule} a constant policy (cost {m:.3} per example)",
                a.examples, a.split
            ),
        );
        f.action = format!(
            "The probabilities do not separate the costly cases: a rule that always says `{label}` does as well. Calibrate on dev (temperature) and re-check, compare the baseline's decisions, and do not deploy cost-based decisions from this model yet."
        );
        f
    } else if let Some(p) = cheaper_baseline {
        let mut f = finding(
            "decisions.cost".into(),
            Severity::High,
            "decisions",
            format!(
                "The baseline's decisions cost significantly less: {:.3} per example against the model's {m:.3} (difference {:+.3}, p = {:.4})",
                p.b.estimate, p.diff.estimate, p.p_value
            ),
        );
        f.action = "Under these costs the baseline is the better decision-maker: ship its decisions, or find where the model's probabilities are off (calibration, the costly class's recall).".into();
        f
    } else {
        let mut f = finding(
            "decisions.cost".into(),
            if m < *best_cost {
                Severity::Info
            } else {
                Severity::Medium
            },
            "decisions",
            format!(
                "{} decisions cost {m:.3} per example, against {best_cost:.3} for the best constant policy (always `{best_label}`)",
                if lec {
                    "Least-expected-cost".to_string()
                } else {
                    format!("The model's ({})", c.decided_by)
                }
            ),
        );
        f.action = if m < *best_cost {
            "The model's probabilities pay for themselves under these costs: keep cost-based decisions, and re-check them after any recalibration.".into()
        } else {
            format!(
                "The model does no better than always deciding `{best_label}` under these costs: calibrate on dev and re-check before using its decisions."
            )
        };
        f
    };
    f.metric = format!(
        "mean cost per example ({} decisions)",
        if lec {
            "least-expected-cost"
        } else {
            c.decided_by.as_str()
        }
    );
    f.value = m;
    f.ci = ci(&c.model_cost);
    f.score = m - best_cost;
    f.number("model_cost", m);
    f.number("best_constant_cost", *best_cost);
    for (label, n) in &c.decided {
        f.number(&format!("decided.{label}"), *n as f64);
    }
    let mut detail = format!(
        "decisions: {}; best constant policy: always `{best_label}` at {best_cost:.3}",
        c.decided
            .iter()
            .map(|(l, n)| format!("`{l}` {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let (Some(p), Some(by)) = (&c.baseline, &c.baseline_decided_by) {
        f.number("baseline_cost", p.b.estimate);
        detail.push_str(&format!(
            "; baseline ({by}) {} per example, model minus baseline {} (paired bootstrap over {} examples, p = {:.4})",
            p.b.display(3),
            p.diff.display(3),
            c.shared,
            p.p_value
        ));
    }
    f.detail = detail;
    b.push(f);
}

/// Answers a threshold cannot take back: wrong ones given with high confidence, out-of-scope
/// questions answered as in scope above all; and a rejection target dev could not reach.
pub(super) fn rejection(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(r) = &a.rejection else { return };
    if let Some(c) = r.rule.as_ref().and_then(|rule| rule.chosen.as_ref())
        && !c.reached
    {
        let mut f = finding(
            "rejection.target".into(),
            Severity::Medium,
            "rejection",
            format!(
                "No rejection threshold reaches {} {} on {}: the best one gives {:.3}",
                c.target, c.wanted, c.split, c.achieved
            ),
        );
        f.metric = format!("{} on {} (best threshold)", c.target, c.split);
        f.value = c.achieved;
        f.score = c.wanted - c.achieved;
        f.number("wanted", c.wanted);
        f.number("achieved", c.achieved);
        f.action = "The model's confidence does not separate what it should hand over: lower the target, train with out-of-scope examples (a class of their own), or calibrate and re-check.".into();
        b.push(f);
    }
    let (k, n) = (r.confident_wrong, r.confident);
    let rate = if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let claimed = 1.0 - r.confident_from;
    let [lo, _] = wilson(k, n);
    let oos_share = if r.out_of_scope == 0 {
        0.0
    } else {
        r.confident_out_of_scope as f64 / r.out_of_scope as f64
    };
    let overconfident = k >= 5 && lo > claimed;
    let oos_through = r.confident_out_of_scope >= 5;
    if !overconfident && !oos_through {
        return;
    }
    let severity = if rate >= 2.0 * claimed || oos_share >= 0.1 {
        Severity::High
    } else {
        Severity::Medium
    };
    let mut title = format!(
        "{k} of {n} answers given with confidence >= {:.2} are wrong ({}; the confidence claims at most {})",
        r.confident_from,
        pct(rate),
        pct(claimed)
    );
    if r.confident_out_of_scope > 0 {
        title.push_str(&format!(
            "; {} of them are out-of-scope questions answered as in scope ({} of all {} out-of-scope questions)",
            r.confident_out_of_scope,
            pct(oos_share),
            r.out_of_scope
        ));
    }
    let mut f = finding(
        "rejection.confidently_wrong".into(),
        severity,
        "rejection",
        title,
    );
    f.share(
        &format!(
            "wrong share of answers at confidence >= {:.2}",
            r.confident_from
        ),
        ("confident_wrong", k as u64),
        ("confident", n as u64),
    );
    f.score = rate.max(oos_share);
    f.number("confident_out_of_scope", r.confident_out_of_scope as f64);
    f.number("out_of_scope", r.out_of_scope as f64);
    f.number("confident_from", r.confident_from);
    f.detail = r
        .examples
        .iter()
        .map(|e| {
            format!(
                "`{}` {}gold `{}`, answered `{}` at {:.3}",
                e.id,
                e.text.as_deref().map_or(String::new(), |t| format!(
                    "\"{}\" ",
                    t.chars().take(80).collect::<String>()
                )),
                e.gold,
                e.pred,
                e.confidence
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    f.evidence = b.ids(&r.examples.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    f.action = if r.confident_out_of_scope > 0 {
        "No threshold hands these over without rejecting the in-scope answers above them: add such questions to training as out-of-scope examples (or more of them), and check the nearest intents' training questions for overlap.".into()
    } else {
        "Raising the threshold will not catch these: read them (label errors are listed under suspects), calibrate on dev (temperature), and add training examples for the classes they were mistaken for.".into()
    };
    b.push(f);
}
