//! Findings: what the analyses mean, ranked, each with its number, interval, evidence rows and
//! a suggested action.
//!
//! Ranking is deterministic: severity first, then how far the number is from acceptable
//! (`score`), then the finding's stable id.
//!
//! This module holds what every finding shares ([`Finding`], [`Severity`], [`Evidence`], the
//! ranking) and the findings of the generic analysis ([`findings`]); [`multilabel`] derives
//! those of a multi-label analysis.

pub mod multilabel;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::{Analysis, CalibrationReport};
use crate::ner::ErrorKind;
use crate::stats::bootstrap::{Bootstrap, Interval, Units, ratio};
pub use crate::stats::proportion::wilson;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Act before trusting the model.
    High,
    /// Worth acting on.
    Medium,
    /// Worth knowing.
    Low,
    /// Context (headline numbers, things that are fine).
    Info,
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::Info => "info",
        }
    }
}

/// A row of the input that supports a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The predictions file (name inside its artifact) or report section.
    pub file: String,
    /// Example id.
    pub id: String,
    /// Word index, for token tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word: Option<usize>,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// 1-based rank.
    pub rank: usize,
    /// Stable key (`calibration.word`, `slice.entity type.corporation`).
    pub id: String,
    /// Stable family of the finding (`calibration`, `slice`, `unseen_entities`): the id up to
    /// its first `.`, for comparing runs.
    #[serde(default)]
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// Report section it belongs to.
    pub area: String,
    /// One-line statement with the number.
    pub title: String,
    /// What was measured.
    pub metric: String,
    /// The measured value.
    pub value: f64,
    /// Its 95 % interval, when there is one.
    pub ci: Option<[f64; 2]>,
    /// More detail (the comparison, the counts).
    pub detail: String,
    /// Rows behind the number.
    pub evidence: Vec<Evidence>,
    /// What to do about it.
    pub action: String,
    /// The numbers behind the finding, by name, for comparing runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub numbers: BTreeMap<String, f64>,
    /// Overrides that test the finding's cause (`pipeline improve` runs them as trials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remedies: Vec<Remedy>,
    /// Ranking key within a severity (larger first).
    #[serde(skip)]
    pub score: f64,
}

/// A named set of overrides that tests a finding's cause (see [`crate::remedies`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remedy {
    /// Short name (`longer training`).
    pub name: String,
    /// `stage kind.param` → value (TOML-compatible JSON).
    pub set: BTreeMap<String, serde_json::Value>,
}

fn ci(i: &Interval) -> Option<[f64; 2]> {
    Some([i.lo, i.hi])
}

/// `12.3 %` for 0.123.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

struct Builder<'a> {
    a: &'a Analysis,
    file: String,
    out: Vec<Finding>,
}

impl Builder<'_> {
    fn push(&mut self, f: Finding) {
        self.out.push(f);
    }

    fn ids(&self, ids: &[String]) -> Vec<Evidence> {
        ids.iter()
            .map(|id| Evidence {
                file: self.file.clone(),
                id: id.clone(),
                word: None,
            })
            .collect()
    }
}

/// A finding with its identity and title; the caller fills the numbers and evidence.
pub(crate) fn finding(id: String, severity: Severity, area: &str, title: String) -> Finding {
    Finding {
        rank: 0,
        kind: id.split('.').next().unwrap_or_default().to_string(),
        id,
        severity,
        area: area.to_string(),
        title,
        metric: String::new(),
        value: f64::NAN,
        ci: None,
        detail: String::new(),
        evidence: Vec::new(),
        action: String::new(),
        numbers: BTreeMap::new(),
        remedies: Vec::new(),
        score: 0.0,
    }
}

impl Finding {
    /// Sets a named number of the finding (the numbers behind it, for comparing runs).
    pub(crate) fn number(&mut self, name: &str, value: f64) {
        self.numbers.insert(name.to_string(), value);
    }

    /// A finding whose value is a share `k / n` of counted items: the metric, the value and
    /// score (the share), both counts under their names, and the Wilson interval.
    fn share(&mut self, metric: &str, (k_name, k): (&str, u64), (n_name, n): (&str, u64)) {
        let share = if n == 0 { 0.0 } else { k as f64 / n as f64 };
        self.metric = metric.into();
        self.value = share;
        self.score = share;
        self.number(n_name, n as f64);
        self.number(k_name, k as f64);
        self.ci = Some(wilson(k as usize, n as usize));
    }
}

/// Derive the ranked findings of an analysis. `predictions_file` names the evaluated split's
/// file in evidence rows; `boot` is used for interval of shares.
pub fn findings(a: &Analysis, predictions_file: &str, boot: Bootstrap) -> Vec<Finding> {
    let mut b = Builder {
        a,
        file: predictions_file.to_string(),
        out: Vec::new(),
    };
    headline(&mut b);
    dev_gap(&mut b);
    if let Some(c) = &a.calibration {
        calibration(&mut b, c, "calibration.word");
    }
    if let Some(c) = &a.entity_calibration {
        calibration(&mut b, c, "calibration.entity");
    }
    baseline(&mut b);
    cost_decisions(&mut b);
    rejection(&mut b);
    split_quality(&mut b);
    unseen_entities(&mut b);
    model_fit(&mut b);
    slices(&mut b);
    taxonomy(&mut b, boot);
    suspects(&mut b);
    probes(&mut b);
    training(&mut b);
    underfit(&mut b);
    let mut out = b.out;
    rank(&mut out);
    out
}

/// Sorts findings severity first, then by score (larger first), then by id, and numbers them
/// from 1.
pub(crate) fn rank(found: &mut [Finding]) {
    found.sort_by(|x, y| {
        x.severity
            .cmp(&y.severity)
            .then(y.score.total_cmp(&x.score))
            .then_with(|| x.id.cmp(&y.id))
    });
    for (i, f) in found.iter_mut().enumerate() {
        f.rank = i + 1;
    }
}

fn headline(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(h) = a.headline.first() else { return };
    let width = h.ci.hi - h.ci.lo;
    let wide = width > 0.10;
    let mut f = finding(
        "headline".into(),
        if wide {
            Severity::Medium
        } else {
            Severity::Info
        },
        "headline",
        format!(
            "{} on {} is {} ({} {}s)",
            h.name,
            a.split,
            h.ci.display(3),
            a.units,
            a.unit
        ),
    );
    f.metric = h.name.clone();
    f.value = h.ci.estimate;
    f.ci = ci(&h.ci);
    f.score = width;
    f.detail = a
        .headline
        .iter()
        .skip(1)
        .map(|m| format!("{} {}", m.name, m.ci.display(3)))
        .collect::<Vec<_>>()
        .join("; ");
    f.action = if wide {
        format!(
            "The 95 % interval is {:.1} points wide: differences smaller than that are noise on this test set; collect more test data before comparing models.",
            100.0 * width
        )
    } else {
        format!(
            "Quote the interval with the number: changes smaller than ±{:.1} points are not distinguishable on this test set.",
            50.0 * width
        )
    };
    b.push(f);
}

fn dev_gap(b: &mut Builder<'_>) {
    let a = b.a;
    let (Some(dev), Some(test)) = (&a.fit_metric, a.headline.first()) else {
        return;
    };
    let gap = dev.ci.estimate - test.ci.estimate;
    // Independent samples: the gap is significant when the intervals do not overlap.
    let significant = test.ci.hi < dev.ci.lo || dev.ci.hi < test.ci.lo;
    let mut f = finding(
        "dev_test_gap".into(),
        if significant && gap > 0.0 {
            Severity::Medium
        } else {
            Severity::Info
        },
        "headline",
        format!(
            "{} is {} on {} and {} on dev ({} {:+.1} points)",
            test.name,
            test.ci.display(3),
            a.split,
            dev.ci.display(3),
            a.split,
            -100.0 * gap
        ),
    );
    f.metric = format!("{} (dev minus {})", test.name, a.split);
    f.value = gap;
    f.score = gap.abs();
    f.detail = "Intervals from separate bootstraps of each split.".into();
    let unseen = a.unseen.as_ref().and_then(|u| {
        let dev = u.fit_unseen_share?;
        let test = u.unseen_share.estimate;
        (test - dev >= 0.05 && u.f1_gap.lo > 0.0).then_some((dev, test, u))
    });
    f.action = if let (true, Some((dev, test, u))) = (significant && gap > 0.0, unseen) {
        f.detail.push_str(&format!(
            " Entities unseen in train: {} of dev, {} of {}; F1 on unseen entities is {:.1} points below seen ones.",
            pct(dev),
            pct(test),
            a.split,
            100.0 * u.f1_gap.estimate
        ));
        format!(
            "Much of the gap is new names: {} holds more entities never seen in train ({} against {} on dev) and the model does far worse on those (finding `unseen_entities`). Select models on a dev set with as many new names as test, and work on the unseen slice.",
            a.split,
            pct(test),
            pct(dev)
        )
    } else if significant && gap > 0.0 {
        "The test set is harder than dev (distribution shift, or dev was over-used for model selection): report the test number, and add test-like data to dev and train.".into()
    } else {
        "Dev and test agree within their intervals: dev is a fair proxy for model selection.".into()
    };
    b.push(f);
}

fn calibration(b: &mut Builder<'_>, c: &CalibrationReport, id: &str) {
    let a = b.a;
    let ece = c.ece.estimate;
    let severity = if c.ece.lo >= 0.10 {
        Severity::High
    } else if c.ece.lo >= 0.03 {
        Severity::Medium
    } else if ece >= 0.02 {
        Severity::Low
    } else {
        Severity::Info
    };
    let t = a.temperature;
    let direction = match t {
        Some(t) if t.t > 1.05 => " (overconfident)",
        Some(t) if t.t < 0.95 => " (underconfident)",
        _ => "",
    };
    let mut f = finding(
        id.to_string(),
        severity,
        "calibration",
        format!(
            "{}-level ECE is {}{} over {} items",
            c.level,
            c.ece.display(3),
            direction,
            c.items
        ),
    );
    f.metric = format!(
        "ECE ({} equal-width bins, {} level)",
        c.reliability.bins.len(),
        c.level
    );
    f.value = ece;
    f.ci = ci(&c.ece);
    f.score = ece;
    f.number("ece", ece);
    if let (Some(t), Some(after)) = (t, &c.after) {
        f.number("temperature", t.t);
        f.number("ece_after_temperature", after.ece.estimate);
    }
    let mut detail = format!("equal-mass ECE {:.3}, MCE {:.3}", c.ece_mass, c.mce);
    if let (Some(br), Some(nll)) = (c.brier, c.nll) {
        detail.push_str(&format!(", Brier {br:.4}, NLL {nll:.4}"));
    }
    f.action = match (t, &c.after) {
        // Only an action that changes something measurably: a temperature away from 1 whose
        // ECE falls below the current ECE's interval.
        (Some(t), Some(after)) if after.ece.estimate < c.ece.lo && (t.t - 1.0).abs() >= 0.05 => {
            detail.push_str(&format!("; after T = {:.3}: ECE {}", t.t, after.ece.display(3)));
            format!(
                "Apply temperature T = {:.2} (fitted on {} NLL) to the logits: {} ECE drops from {:.3} to {:.3}.",
                t.t,
                a.temperature_split.as_deref().unwrap_or("dev"),
                c.level,
                ece,
                after.ece.estimate
            )
        }
        (Some(t), Some(after)) if after.ece.estimate < ece => {
            detail.push_str(&format!(
                "; after T = {:.3}: ECE {} (inside the current interval: no measurable change)",
                t.t,
                after.ece.display(3)
            ));
            format!(
                "Temperature scaling changes nothing measurable here (T = {:.2}; {} ECE {:.3} -> {:.3}, inside the interval {}): the miscalibration is not a global scale; consider histogram binning or isotonic regression on dev, or more dev data.",
                t.t,
                c.level,
                ece,
                after.ece.estimate,
                c.ece.display(3)
            )
        }
        (Some(t), Some(after)) => {
            detail.push_str(&format!("; after T = {:.3}: ECE {}", t.t, after.ece.display(3)));
            format!(
                "Temperature scaling (T = {:.2}) does not lower {} ECE ({:.3} -> {:.3}); the miscalibration is not a global scale: consider histogram binning or more dev data.",
                t.t, c.level, ece, after.ece.estimate
            )
        }
        _ => "Fit a temperature on dev predictions (give reflect the dev split) before using the probabilities as confidences.".into(),
    };
    if severity == Severity::Info {
        f.action = "Confidences can be read as probabilities at this level.".into();
    }
    f.detail = detail;
    b.push(f);
}

fn baseline(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(c) = &a.baseline else { return };
    let d = &c.paired.diff;
    let p = c.paired.p_value;
    let significant = p < 0.05 && (d.lo > 0.0 || d.hi < 0.0);
    let (severity, title, action) = if significant && d.estimate > 0.0 {
        (
            Severity::Info,
            format!(
                "The model beats the baseline: {} {:+.1} points",
                c.metric,
                100.0 * d.estimate
            ),
            "The fine-tuned model's advantage is significant: keep it.".to_string(),
        )
    } else if significant {
        (
            Severity::High,
            format!("The baseline beats the model: {} {:+.1} points", c.metric, 100.0 * d.estimate),
            "The simpler baseline is significantly better: ship the baseline or find what the model gets wrong (see slices and errors).".to_string(),
        )
    } else {
        (
            Severity::High,
            format!(
                "The baseline is not significantly worse: {} difference {:+.1} points (p = {:.3})",
                c.metric,
                100.0 * d.estimate,
                p
            ),
            "The model's advantage over the baseline is within noise: prefer the cheaper baseline, or collect more test data to separate them.".to_string(),
        )
    };
    let mut f = finding("baseline".into(), severity, "significance", title);
    f.metric = format!("{} difference (model minus baseline)", c.metric);
    f.value = d.estimate;
    f.ci = ci(d);
    f.score = (1.0 - p).max(0.0);
    f.detail = format!(
        "model {}, baseline {}, difference {} (paired bootstrap, {} resamples, p = {:.4}, {} shared examples)",
        c.paired.a.display(3),
        c.paired.b.display(3),
        d.display(3),
        a.bootstrap.resamples,
        p,
        c.shared
    );
    if let Some(m) = &c.mcnemar {
        f.detail.push_str(&format!(
            "; exact McNemar on accuracy: {} model-only right, {} baseline-only right, p = {:.4}",
            m.b, m.c, m.p_value
        ));
    }
    f.action = action;
    b.push(f);
}

/// Decisions under the cost matrix: whether the least-expected-cost decision collapsed to a
/// constant policy, and whether the baseline's decisions cost significantly less.
fn cost_decisions(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(c) = &a.costs else { return };
    let m = c.model_cost.estimate;
    let (best_label, best_cost) = &c.best_constant;
    let cheaper_baseline = c.baseline.as_ref().filter(|p| p.diff.lo > 0.0);
    let mut f = if let Some(label) = &c.constant {
        let mut f = finding(
            "decisions.cost".into(),
            Severity::High,
            "decisions",
            format!(
                "Under the cost matrix the model decides `{label}` for all {} {} examples: its least-expected-cost decision is a constant policy (cost {m:.3} per example)",
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
                "Least-expected-cost decisions cost {m:.3} per example, against {best_cost:.3} for the best constant policy (always `{best_label}`)"
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
    f.metric = "mean cost per example (least-expected-cost decisions)".into();
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
fn rejection(b: &mut Builder<'_>) {
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

/// Duplicates and train overlap in the evaluated split: scored as given (comparable with
/// published numbers), so the reader should know how much of the score they carry.
fn split_quality(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(q) = &a.split_quality else { return };
    let n = a.examples.max(1) as f64;
    let repeated = q.duplicates + q.conflicting;
    if repeated + q.in_train == 0 {
        return;
    }
    let share = (repeated + q.in_train) as f64 / n;
    let severity = if share >= 0.05 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let state = if q.cleaned {
        "were removed by ingest (`clean_eval_splits`)"
    } else {
        "are kept and scored: the split is evaluated exactly as given"
    };
    let mut f = finding(
        format!("data.{}.repeats", a.split),
        severity,
        "data",
        format!(
            "{} of {} {} examples repeat another one ({} exact duplicates, {} with another label) and {} also occur in train",
            repeated, a.examples, a.split, q.duplicates, q.conflicting, q.in_train
        ),
    );
    f.metric = "share of repeated or train-seen examples".into();
    f.value = share;
    f.detail = format!(
        "{} {state}; repeated texts weigh more in the score, and texts seen in train measure memory as much as generalisation. Ingest lists them in its profile ({} of the duplicates, {} of the train overlap shown here).",
        pct(share),
        q.duplicate_ids.len(),
        q.in_train_ids.len()
    );
    let mut ids = q.duplicate_ids.clone();
    ids.extend(q.in_train_ids.iter().cloned());
    f.evidence = b.ids(&ids);
    f.action = if q.cleaned {
        "Scores no longer compare with published numbers on this split; say so wherever they are quoted.".into()
    } else {
        "Quote scores on the split as given (comparable with published numbers); to see the score without repeats, re-run ingest with `clean_eval_splits = true` and compare.".into()
    };
    f.score = share;
    b.push(f);
}

/// Entities never seen in train: how many there are, and how much worse the model does on
/// them than on memorised ones.
fn unseen_entities(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(u) = &a.unseen else { return };
    if u.gold == 0 {
        return;
    }
    let share = u.unseen_share.estimate;
    let gap = &u.f1_gap;
    let severity = if gap.lo > 0.10 && share >= 0.3 {
        Severity::High
    } else if gap.lo > 0.0 {
        Severity::Medium
    } else {
        Severity::Low
    };
    let mut f = finding(
        "unseen_entities".into(),
        severity,
        "generalisation",
        format!(
            "{} of {} entities ({} of {}) never occur in train; entity F1 on them is {:.3}, against {:.3} on seen ones",
            pct(share),
            a.split,
            u.gold_unseen,
            u.gold,
            u.f1_unseen.estimate,
            u.f1_seen.estimate
        ),
    );
    f.metric = "entity F1, seen minus unseen entities".into();
    f.value = gap.estimate;
    f.number("gold", u.gold as f64);
    f.number("gold_unseen", u.gold_unseen as f64);
    f.number("unseen_share", share);
    f.number("f1_seen", u.f1_seen.estimate);
    f.number("f1_unseen", u.f1_unseen.estimate);
    f.number("recall_unseen", u.recall_unseen.estimate);
    if let Some(dev) = u.fit_unseen_share {
        f.number("fit_unseen_share", dev);
    }
    f.ci = ci(gap);
    f.score = gap.estimate.max(0.0) * share;
    let mut detail = format!(
        "unseen share {}; F1 seen {}, unseen {}; recall on unseen {}; seen = the lower-cased surface form is a gold entity of train (any type; {} distinct forms)",
        u.unseen_share.display(3),
        u.f1_seen.display(3),
        u.f1_unseen.display(3),
        u.recall_unseen.display(3),
        u.train_surface_forms
    );
    if let (Some(dev), Some(name)) = (u.fit_unseen_share, &u.fit_split) {
        detail.push_str(&format!("; {name}: {} unseen", pct(dev)));
    }
    f.detail = detail;
    f.evidence = b.ids(&u.evidence);
    f.action = if gap.lo > 0.0 {
        format!(
            "The model finds names it saw in training far better than new ones, and {} of this split is new: the score will follow that share. Track F1 on unseen entities, add training text with more varied names (or entity-swap augmentation), and keep the cues new names carry (a cased tokenizer keeps capitalisation).",
            pct(share)
        )
    } else {
        "Seen and unseen entities are found about equally well: the model generalises beyond memorised names.".into()
    };
    b.push(f);
}

/// Model ↔ task mismatches: words the vocabulary cannot read, and capitalised entities
/// under a tokenizer that ignores case.
fn model_fit(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(m) = &a.model_fit else { return };
    let unk = m.unk_rate();
    if m.words > 0 && unk >= 0.01 {
        let severity = if unk >= 0.2 {
            Severity::High
        } else if unk >= 0.05 {
            Severity::Medium
        } else {
            Severity::Low
        };
        let mut f = finding(
            "model.vocabulary".into(),
            severity,
            "model fit",
            format!(
                "{} of {} words ({} of {}) hold [UNK] under the model's vocabulary: the model cannot read them",
                pct(unk),
                a.split,
                m.words_with_unk,
                m.words
            ),
        );
        f.share(
            "share of words with an [UNK] sub-word",
            ("words_with_unk", m.words_with_unk),
            ("words", m.words),
        );
        f.detail = "Counted by the tokenize stage: a word counts when one of its sub-words is the unknown token (or the normaliser deletes it). Interval: Wilson score.".into();
        f.action = if unk >= 0.2 {
            "The vocabulary does not cover this language or script: fine-tune a model made for it (for Chinese text, e.g. bert-base-chinese or a multilingual BERT) before tuning anything else.".into()
        } else {
            "Check which words become [UNK] (emoji, rare scripts, symbols): normalise them in ingest or pick a model whose vocabulary covers them.".into()
        };
        b.push(f);
    }
    if m.examples > 0 && m.truncated > 0 {
        let share = m.truncated as f64 / m.examples as f64;
        let mut f = finding(
            "model.truncation".into(),
            if share >= 0.1 {
                Severity::High
            } else if share >= 0.01 {
                Severity::Medium
            } else {
                Severity::Low
            },
            "model fit",
            format!(
                "{} of {} texts ({} of {}) are longer than max_length = {} sub-words and were cut: the model never reads their end",
                pct(share),
                a.split,
                m.truncated,
                m.examples,
                m.max_length.map_or("?".into(), |l| l.to_string())
            ),
        );
        f.share(
            "share of texts truncated at max_length",
            ("truncated", m.truncated),
            ("examples", m.examples),
        );
        if let Some(l) = m.max_length {
            f.number("max_length", l as f64);
        }
        f.detail = "Counted by the tokenize stage on the evaluated split. Whatever decides the label after the cut is invisible to the model.".into();
        f.action = "Raise `tokenize.max_length` (BERT reads up to 512 sub-words) and compare on dev; for longer texts, put the decisive part first when rendering, or summarise.".into();
        b.push(f);
    }
    if m.examples > 0 && m.examples_split > 0 {
        let share = m.examples_split as f64 / m.examples as f64;
        let mut f = finding(
            "model.windows".into(),
            if share >= 0.1 {
                Severity::Low
            } else {
                Severity::Info
            },
            "model fit",
            format!(
                "{} of {} sentences ({} of {}) are longer than max_length = {} sub-words and were read in overlapping windows",
                pct(share),
                a.split,
                m.examples_split,
                m.examples,
                m.max_length.map_or("?".into(), |l| l.to_string())
            ),
        );
        f.share(
            "share of sentences split into windows",
            ("examples_split", m.examples_split),
            ("examples", m.examples),
        );
        f.detail = "No word is lost: every word is labelled from the window where it has the most context. Entities near a window edge still see less context.".into();
        f.action = "Compare the F1 of windowed sentences with the rest (slice by length); if they do worse, raise `tokenize.max_length` or the stride.".into();
        b.push(f);
    }
    let share = m.capitalised_share();
    if m.ignores_case == Some(true) && m.entities >= 20 && share >= 0.5 {
        let mut f = finding(
            "model.lowercasing".into(),
            if share >= 0.8 {
                Severity::High
            } else {
                Severity::Medium
            },
            "model fit",
            format!(
                "The tokenizer ignores case, yet {} of {} gold entities ({} of {}) are capitalised: capitalisation, a strong cue for names, never reaches the model",
                pct(share),
                a.split,
                m.capitalised,
                m.entities
            ),
        );
        f.share(
            "share of gold entities starting with an upper-case letter",
            ("capitalised", m.capitalised as u64),
            ("entities", m.entities as u64),
        );
        let mut detail = "`Paris`, `paris` and `PARIS` encode to the same sub-words (checked by the tokenize stage).".to_string();
        if let Some(p) = a.probes.iter().find(|p| p.name == "case") {
            detail.push_str(&format!(
                " The `case` probe flips {} of predictions: stability by construction, not robustness.",
                p.flip_rate.display(3)
            ));
        }
        if let Some(c) = &a.baseline {
            detail.push_str(&format!(
                " The baseline (which can use case) is {:+.1} points from the model on {} ({}).",
                -100.0 * c.paired.diff.estimate,
                c.metric,
                c.paired.diff.display(3)
            ));
        }
        f.detail = detail;
        f.evidence = b.ids(&m.capitalised_ids);
        f.action = "Fine-tune a cased model of the same size (e.g. a cased BERT) on the same pipeline and compare on dev; until then, read the `case` probe as uninformative.".into();
        b.push(f);
    }
}

fn slices(b: &mut Builder<'_>) {
    let a = b.a;
    let overall = a.headline.first().map_or(f64::NAN, |h| h.ci.estimate);
    let flagged: Vec<_> = a.slices.iter().filter(|s| s.flagged).cloned().collect();
    for s in flagged {
        let gap = overall - s.ci.estimate;
        let severity = if s.ci.hi < overall - 0.10 {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut f = finding(
            format!("slice.{}.{}", s.family, s.name),
            severity,
            "slices",
            format!(
                "{} = {}: {} is {}, below the overall {:.3}",
                s.family,
                s.name,
                s.metric,
                s.ci.display(3),
                overall
            ),
        );
        f.metric = s.metric.clone();
        f.value = s.ci.estimate;
        f.ci = ci(&s.ci);
        f.score = gap;
        f.detail = format!("{} examples, support {}", s.examples, s.support);
        f.evidence = b.ids(&s.evidence);
        f.action = match s.family.as_str() {
            "entity type" | "label" => confusion_action(a, &s.name, &mut f),
            "OOV rate" => "The model fails on words it never saw in training: add in-domain training text, or use a model/tokenizer with better coverage of this vocabulary.".into(),
            "length (words)" => format!(
                "Examples of {} words do worse: check truncation/windowing for long inputs and add training examples of this length.",
                s.name
            ),
            _ => format!(
                "The subgroup `{}` does worse: check it for label noise and collect more training data from it.",
                s.name
            ),
        };
        b.push(f);
    }
}

/// The action for a weak type or class: where its errors go (the confusion matrix's row), with
/// the counts, rather than a generic "collect more data".
fn confusion_action(a: &Analysis, name: &str, f: &mut Finding) -> String {
    let train = a.train_support.get(name).copied();
    let in_train = train.map_or(String::new(), |n| format!(" ({n} in train)"));
    if let Some(n) = train {
        f.number("train_support", n as f64);
    }
    let token = a.task == flowcore::TaskKind::Token;
    let items = if token { "words" } else { "examples" };
    let Some((errors, top)) = a
        .confusion
        .top_confusions(name, 3)
        .filter(|(errors, top)| *errors > 0 && !top.is_empty())
    else {
        return format!(
            "Collect more training data for `{name}`{in_train} or check its annotation consistency."
        );
    };
    f.number("errors", errors as f64);
    for (other, n) in &top {
        f.number(&format!("confused_with.{other}"), *n as f64);
    }
    let list = top
        .iter()
        .map(|(other, n)| format!("`{other}` {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (first, n_first) = (&top[0].0, top[0].1);
    let share = n_first as f64 / errors as f64;
    if token && first == "O" {
        format!(
            "`{name}` is mostly missed: {n_first} of its {errors} wrongly tagged {items} are predicted `O` ({list}). Add training sentences with varied `{name}` names{in_train}, and check the guideline for what counts as `{name}`."
        )
    } else {
        format!(
            "`{name}` is mostly confused with `{first}`: {n_first} of its {errors} wrong {items} ({}; all: {list}). Review where the guideline separates `{name}` from `{first}`, and add training {items} that contrast them{in_train}.",
            pct(share)
        )
    }
}

fn taxonomy(b: &mut Builder<'_>, boot: Bootstrap) {
    let a = b.a;
    let Some(t) = &a.taxonomy else { return };
    let errors = t.errors();
    if errors == 0 {
        return;
    }
    let mut units = Units::new(6);
    for row in &t.per_example {
        units.push(row);
    }
    let error_kinds = [
        ErrorKind::Missed,
        ErrorKind::Spurious,
        ErrorKind::WrongBoundary,
        ErrorKind::WrongType,
        ErrorKind::WrongBoundaryAndType,
    ];
    let errors_of = |s: &[f64]| -> f64 { error_kinds.iter().map(|k| s[k.index()]).sum() };
    let (kind, count) = error_kinds
        .iter()
        .map(|&k| (k, t.count(k)))
        .max_by_key(|&(k, n)| (n, std::cmp::Reverse(k)))
        .unwrap_or((ErrorKind::Missed, 0));
    let share = boot.ci(&units, |s| ratio(s[kind.index()], errors_of(s)));
    let mut f = finding(
        format!("errors.{}", kind.name().replace(' ', "_")),
        if share.estimate >= 0.4 {
            Severity::Medium
        } else {
            Severity::Low
        },
        "errors",
        format!(
            "Most entity errors are `{}`: {} of {} errors ({})",
            kind.name(),
            count,
            errors,
            share.display(3)
        ),
    );
    f.metric = format!("share of errors that are {}", kind.name());
    f.value = share.estimate;
    f.ci = ci(&share);
    f.score = share.estimate;
    f.detail = ErrorKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.name(), t.count(*k)))
        .collect::<Vec<_>>()
        .join(", ");
    let ids: Vec<String> = t
        .examples
        .get(&kind)
        .map(|v| v.iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default();
    f.evidence = b.ids(&ids);
    f.action = match kind {
        ErrorKind::Missed => "A recall problem: the model misses entities outright. Add training examples of the missed types (see the per-type counts), and check whether they are rare or novel surface forms.",
        ErrorKind::Spurious => "A precision problem: the model invents entities. Add hard negatives (similar text without entities) and check the gold data for unannotated entities.",
        ErrorKind::WrongBoundary => "Spans are found but cut wrongly: check the annotation guideline for span boundaries and how words are split (hashtags, handles, punctuation).",
        ErrorKind::WrongType => "Entities are found but typed wrongly: see the confusion matrix; clarify or merge the confused types.",
        ErrorKind::WrongBoundaryAndType => "Spans and types are both off: these are often annotation disagreements; review the examples.",
        ErrorKind::Correct => "",
    }
    .to_string();
    b.push(f);
}

fn suspects(b: &mut Builder<'_>) {
    let a = b.a;
    if a.suspects_total == 0 || a.suspects_scanned == 0 {
        return;
    }
    let rate = a.suspects_total as f64 / a.suspects_scanned as f64;
    let items = if a.task == flowcore::TaskKind::Token {
        "words"
    } else {
        "examples"
    };
    let mut f = finding(
        "suspect_labels".into(),
        if rate >= 0.01 {
            Severity::Medium
        } else {
            Severity::Low
        },
        "labels",
        format!(
            "{} of {} {} ({}) look mislabelled: the model is confidently sure of another label",
            a.suspects_total,
            a.suspects_scanned,
            items,
            pct(rate)
        ),
    );
    f.metric = format!("share of {items} flagged by confident learning");
    f.value = rate;
    f.ci = Some(wilson(a.suspects_total, a.suspects_scanned));
    f.score = rate;
    f.detail = "Per-class thresholds = mean self-confidence of the class (confident learning); ranked by the probability of the given label. Interval: Wilson score.".into();
    f.evidence = a
        .suspects
        .iter()
        .take(10)
        .map(|s| Evidence {
            file: format!("predictions-{}.parquet", s.split),
            id: s.id.clone(),
            word: s.word,
        })
        .collect();
    f.action = format!(
        "Review the top {} candidates in the report; fix real label errors in the data and re-run — test-set label errors bias every metric above.",
        a.suspects.len()
    );
    b.push(f);
}

fn probes(b: &mut Builder<'_>) {
    let a = b.a;
    for p in &a.probes {
        let r = &p.flip_rate;
        let severity = if r.lo >= 0.10 {
            Severity::High
        } else if r.lo >= 0.02 {
            Severity::Medium
        } else {
            Severity::Low
        };
        let mut f = finding(
            format!("robustness.{}", p.name),
            severity,
            "robustness",
            format!(
                "`{}` perturbation flips {} of predictions",
                p.name,
                r.display(3)
            ),
        );
        f.metric = "prediction flip rate".into();
        f.value = r.estimate;
        f.ci = ci(r);
        f.score = r.estimate;
        let mut detail = format!("{} items compared", p.items);
        if let Some(e) = &p.example_flip_rate {
            detail.push_str(&format!("; examples with any flip {}", e.display(3)));
        }
        if let Some(m) = &p.metric {
            detail.push_str(&format!(
                "; {} clean {} vs perturbed {} (drop {}, p = {:.4})",
                a.headline.first().map_or("metric", |h| h.name.as_str()),
                m.a.display(3),
                m.b.display(3),
                m.diff.display(3),
                m.p_value
            ));
        }
        f.detail = detail;
        f.evidence = b.ids(&p.evidence);
        let what = match p.name.as_str() {
            "case" => "case changes (lower/upper/title case)",
            "typo" => "typos",
            "entity_swap" => "swapping an entity for another of the same type",
            "punct" => "punctuation removal",
            other => other,
        };
        let case_blind =
            p.name == "case" && a.model_fit.as_ref().and_then(|m| m.ignores_case) == Some(true);
        f.action = if case_blind {
            "The tokenizer ignores case, so case changes cannot flip anything: this probe says nothing about robustness (see `model.lowercasing`).".into()
        } else if severity == Severity::Low {
            format!("The model is stable under {what}.")
        } else {
            format!(
                "The model is not invariant to {what}: augment training data with this perturbation and re-check."
            )
        };
        b.push(f);
    }
}

fn training(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(h) = &a.history else { return };
    let Some(key) = h.dev_metric() else { return };
    let series = h.series(&key);
    if series.len() < 2 {
        return;
    }
    let (best_i, &(best_x, best_y)) = series
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| a.1.total_cmp(&b.1).then(j.cmp(i)))
        .unwrap_or((0, &series[0]));
    let &(last_x, last_y) = &series[series.len() - 1];
    let prev_y = series[series.len() - 2].1;
    let x_key = h.x_key();
    let mut f = finding(
        "training.curve".into(),
        Severity::Low,
        "training",
        String::new(),
    );
    f.metric = key.clone();
    f.value = best_y;
    f.evidence = vec![Evidence {
        file: "history.jsonl".into(),
        id: format!("{x_key} {best_x}"),
        word: None,
    }];
    if best_i + 1 < series.len() && best_y - last_y > 0.005 {
        f.title = format!(
            "{key} peaked at {best_y:.3} ({x_key} {best_x}) and ended at {last_y:.3} ({x_key} {last_x})"
        );
        f.score = best_y - last_y;
        f.action = "Later training hurt the dev metric (overfitting): keep the best checkpoint, stop earlier, or add regularisation.".into();
    } else if last_y - prev_y > 0.005 {
        f.title =
            format!("{key} was still rising at the end of training ({prev_y:.3} -> {last_y:.3})");
        f.score = last_y - prev_y;
        f.action = "Train longer: the dev metric had not levelled off.".into();
    } else {
        f.severity = Severity::Info;
        f.title = format!("{key} levelled off at {best_y:.3} ({x_key} {best_x})");
        f.action = "Training converged; more epochs are unlikely to help.".into();
    }
    f.detail = format!("{} evaluations in history.jsonl", series.len());
    b.push(f);
}

/// An underfit model: the signals that the recipe stopped before the model learned the task
/// (the baseline significantly better, dev still rising at the end, a low score on a sample
/// of the training data, the training loss far from its floor). One finding gathers them, so its remedies (longer, faster, less
/// regularised training) are proposed once.
fn underfit(b: &mut Builder<'_>) {
    let a = b.a;
    let mut signals = Vec::new();
    let mut numbers = Vec::new();
    let baseline_ahead = a.baseline.as_ref().filter(|c| {
        let d = &c.paired.diff;
        c.paired.p_value < 0.05 && d.hi < 0.0
    });
    if let Some(c) = baseline_ahead {
        signals.push(format!(
            "the baseline is ahead by {:.1} points of {} (p = {:.4})",
            -100.0 * c.paired.diff.estimate,
            c.metric,
            c.paired.p_value
        ));
        numbers.push(("baseline_gap", -c.paired.diff.estimate));
    }
    if let Some(h) = &a.history {
        if let Some(key) = h.dev_metric() {
            let dev = h.series(&key);
            if let [.., (_, prev), (x, last)] = dev[..]
                && last - prev > 0.005
            {
                signals.push(format!(
                    "{key} was still rising at the last evaluation ({prev:.3} -> {last:.3} at {} {x})",
                    h.x_key()
                ));
                numbers.push(("dev_rise", last - prev));
            }
        }
        if let Some(&(x, fit)) = h.series("train_score").last() {
            numbers.push(("train_score", fit));
            if fit < 0.9 {
                signals.push(format!(
                    "on a sample of its own training data it scores only {fit:.3} at {} {x}",
                    h.x_key()
                ));
            }
        }
        let loss = h.series("loss");
        if let (Some(&(_, first)), Some(&(_, last))) = (loss.first(), loss.last())
            && first > 0.0
            && loss.len() >= 3
        {
            let share = last / first;
            numbers.push(("train_loss_share", share));
            if share > 0.25 {
                signals.push(format!(
                    "the training loss ended at {last:.3}, {:.0} % of its first logged value {first:.3}",
                    100.0 * share
                ));
            }
        }
    }
    let strong = baseline_ahead.is_some();
    if !(strong || signals.len() >= 2) {
        return;
    }
    let mut f = finding(
        "training.underfit".into(),
        if strong {
            Severity::High
        } else {
            Severity::Medium
        },
        "training",
        format!("The model looks underfit: {}", signals.join("; ")),
    );
    f.metric = "signals of underfitting".into();
    f.value = signals.len() as f64;
    f.score = signals.len() as f64;
    for (k, v) in numbers {
        f.number(k, v);
    }
    f.detail = "Underfitting shows as a model that has not yet fitted its own training data: a classical baseline ahead of it, a dev metric still climbing when training stopped, a training loss far above zero. The HF default recipe (3 epochs, lr 5e-5, dropout 0.1) underfits many-class tasks.".into();
    f.action = "Train longer, with a higher learning rate, or without dropout, and compare on dev (`pipeline improve` runs these as trials).".into();
    b.push(f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_high_first() {
        let mut v = [
            Severity::Info,
            Severity::High,
            Severity::Low,
            Severity::Medium,
        ];
        v.sort();
        assert_eq!(
            v,
            [
                Severity::High,
                Severity::Medium,
                Severity::Low,
                Severity::Info
            ]
        );
    }
}
