//! Successive halving for sequential trials: a trial whose dev metric at an evaluation point
//! trails the earlier trials' values at the same point of their schedules is stopped, so the
//! budget goes to the promising ones (Optuna's `SuccessiveHalvingPruner` and Ray Tune's ASHA
//! judge a trial the same way: against the others at the same resource).
//!
//! **The resource is the fraction of a trial's own schedule, not its optimizer step.** Trials
//! differ in length (a remedy may double the epochs), and the learning rate decays over each
//! trial's own schedule: at step 938 a 3-epoch run of 1,407 steps has nearly finished decaying
//! while a 6-epoch run of 2,814 steps is still at two thirds of its peak rate, so comparing
//! them at equal steps stops longer schedules for being early, not for being worse (CLINC150:
//! 6 epochs was stopped at step 938, then won the next round). ASHA's analysis assumes that
//! a trial's intermediate result at resource `r` predicts its rank at the end; with decaying
//! schedules that holds at equal *progress through the schedule* (the same learning-rate
//! phase), which is how schedule-aware early stopping (e.g. Hyperband with the schedule
//! rescaled to each budget) compares runs. A longer schedule is thereby judged after more
//! steps than a shorter one at the same fraction — the safe side: it is never stopped for
//! having had less time.
//!
//! The rule at an evaluation point at fraction `f` = step / total steps, value `v`, with `n`
//! earlier trials evaluated at or before `f` of their own schedules (each contributes its
//! latest value up to `f`): keep the best `ceil(n · keep)` of those values; the trial goes on
//! when `v ≥ bar − margin`, `bar` being the worst value kept. Nothing is judged before
//! `min_progress` of the trial's steps, nor the reference run (the current recipe), which
//! every other trial is measured against.

use std::sync::Mutex;
use std::time::Instant;

use flowcore::{EvalPoint, Monitor, Verdict};

/// The halving rule's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Halving {
    /// Share of the earlier trials' values at a step a trial must reach (`1/η`; 0.5 halves).
    pub keep: f64,
    /// Slack below the bar before a trial is stopped (dev metric units).
    pub margin: f64,
    /// Share of a trial's steps before it can be stopped.
    pub min_progress: f64,
}

impl Default for Halving {
    fn default() -> Self {
        Self {
            keep: 0.5,
            margin: 0.01,
            min_progress: 0.2,
        }
    }
}

/// A dev curve: `(fraction of the run's own schedule, value)` in order.
pub type Curve = Vec<(f64, f64)>;

/// The fraction of its schedule a run has done at `step` of `total` steps.
pub fn progress(step: u64, total: u64) -> f64 {
    step as f64 / total.max(1) as f64
}

/// Slack when comparing fractions: `469 / 1407` and `938 / 2814` are the same point.
const SAME_POINT: f64 = 1e-9;

/// The value of `curve` at `fraction`: its latest point at or before it.
fn value_at(curve: &Curve, fraction: f64) -> Option<f64> {
    curve
        .iter()
        .take_while(|(f, _)| *f <= fraction + SAME_POINT)
        .last()
        .map(|(_, v)| *v)
}

/// `2nd`, `3rd`, `11th`, `21st`.
fn ordinal(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

impl Halving {
    /// A rule that never stops a trial.
    pub fn off() -> Self {
        Self {
            min_progress: f64::INFINITY,
            ..Self::default()
        }
    }

    /// Whether the rule can stop a trial.
    pub fn is_on(&self) -> bool {
        self.min_progress <= 1.0
    }

    /// The verdict for a trial at `point`, given the earlier trials' curves (each at the same
    /// fraction of its own schedule).
    pub fn judge(&self, earlier: &[Curve], point: &EvalPoint) -> Verdict {
        let at = progress(point.step, point.total_steps);
        if at < self.min_progress {
            return Verdict::Continue;
        }
        let mut values: Vec<f64> = earlier
            .iter()
            .filter_map(|c| value_at(c, at))
            .filter(|v| v.is_finite())
            .collect();
        if values.is_empty() {
            return Verdict::Continue;
        }
        values.sort_by(|a, b| b.total_cmp(a));
        let kept = ((values.len() as f64 * self.keep).ceil() as usize).clamp(1, values.len());
        let bar = values[kept - 1];
        if point.value.is_nan() || point.value < bar - self.margin {
            Verdict::Stop(format!(
                "dev {} {:.4} at step {} of {} ({:.0} % of its schedule) trails {bar:.4} (the {} of {} earlier runs at the same share of theirs) by more than {}",
                point.metric,
                point.value,
                point.step,
                point.total_steps,
                100.0 * at,
                if kept == 1 {
                    "best".to_string()
                } else {
                    format!("{} best", ordinal(kept))
                },
                values.len(),
                self.margin
            ))
        } else {
            Verdict::Continue
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Curves of the trials that ended (or were stopped), as seen so far.
    earlier: Vec<Curve>,
    /// The trial in flight.
    current: Curve,
    /// Why the trial in flight was stopped, if it was.
    stopped: Option<String>,
    /// Whether the trial in flight is the reference (never stopped by halving).
    reference: bool,
}

/// The [`Monitor`] `pipeline improve` hands to the runner: halving between trials and the
/// budget's deadline.
#[derive(Debug)]
pub struct HalvingMonitor {
    rule: Halving,
    deadline: Option<Instant>,
    state: Mutex<State>,
}

impl HalvingMonitor {
    /// A monitor with `rule`, stopping every trial but the reference at `deadline`.
    pub fn new(rule: Halving, deadline: Option<Instant>) -> Self {
        Self {
            rule,
            deadline,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a trial; `reference` trials are never stopped.
    pub fn begin(&self, reference: bool) {
        let mut s = self.lock();
        s.current.clear();
        s.stopped = None;
        s.reference = reference;
    }

    /// Ends the trial in flight; `curve` (its whole dev curve, read from its history when it
    /// was reused rather than run) joins the earlier trials. Returns why it was stopped.
    pub fn end(&self, curve: Option<Curve>) -> Option<String> {
        let mut s = self.lock();
        let current = std::mem::take(&mut s.current);
        let curve = curve.filter(|c| !c.is_empty()).unwrap_or(current);
        if !curve.is_empty() {
            s.earlier.push(curve);
        }
        s.stopped.take()
    }
}

impl Monitor for HalvingMonitor {
    fn evaluated(&self, _stage: &str, point: &EvalPoint) -> Verdict {
        let mut s = self.lock();
        s.current
            .push((progress(point.step, point.total_steps), point.value));
        if s.reference {
            return Verdict::Continue;
        }
        let verdict = match self.deadline {
            Some(d) if Instant::now() >= d => Verdict::Stop(format!(
                "the budget ran out at step {} of {}",
                point.step, point.total_steps
            )),
            _ => self.rule.judge(&s.earlier, point),
        };
        if let Verdict::Stop(why) = &verdict {
            s.stopped = Some(why.clone());
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(step: u64, value: f64) -> EvalPoint {
        point_of(step, 100, value)
    }

    fn point_of(step: u64, total_steps: u64, value: f64) -> EvalPoint {
        EvalPoint {
            step,
            total_steps,
            metric: "primary".into(),
            value,
        }
    }

    #[test]
    fn a_trial_that_trails_the_earlier_ones_at_the_same_share_of_its_schedule_is_stopped() {
        let rule = Halving::default();
        let earlier = vec![
            vec![(0.2, 0.50), (0.4, 0.70)],
            vec![(0.2, 0.30), (0.4, 0.40)],
        ];
        // At step 40 the best half of {0.70, 0.40} is 0.70: 0.65 trails it by 0.05.
        assert!(matches!(
            rule.judge(&earlier, &point(40, 0.65)),
            Verdict::Stop(_)
        ));
        assert_eq!(rule.judge(&earlier, &point(40, 0.695)), Verdict::Continue);
        // Step 30 is judged against the values at step 20.
        assert_eq!(rule.judge(&earlier, &point(30, 0.495)), Verdict::Continue);
        assert!(matches!(
            rule.judge(&earlier, &point(30, 0.45)),
            Verdict::Stop(_)
        ));
        // Too early to judge, and nothing to judge against.
        assert_eq!(rule.judge(&earlier, &point(10, 0.0)), Verdict::Continue);
        assert_eq!(rule.judge(&[], &point(50, 0.0)), Verdict::Continue);
        // Keeping all of them sets the bar at the worst.
        let all = Halving { keep: 1.0, ..rule };
        assert_eq!(all.judge(&earlier, &point(40, 0.395)), Verdict::Continue);
        assert!(matches!(
            all.judge(&earlier, &point(40, 0.3)),
            Verdict::Stop(_)
        ));
    }

    /// The earlier run: 3 epochs of 1,407 steps, its learning rate decayed by its end.
    fn three_epochs() -> Curve {
        [(469, 0.80), (938, 0.86), (1407, 0.88)]
            .map(|(s, v)| (progress(s, 1407), v))
            .to_vec()
    }

    #[test]
    fn a_longer_schedule_that_trails_at_equal_steps_but_wins_at_its_end_is_not_stopped() {
        let rule = Halving::default();
        let earlier = vec![three_epochs()];
        // 6 epochs of 2,814 steps: at step 938 (a third of its schedule, the rate still high)
        // it trails the 3-epoch run's 0.86 at that step, but not the 0.80 it had at a third.
        let six = [(938, 0.81), (1876, 0.87), (2814, 0.895)];
        for (step, value) in six {
            assert_eq!(
                rule.judge(&earlier, &point_of(step, 2814, value)),
                Verdict::Continue,
                "stopped at step {step}"
            );
        }
        // Judged at equal steps (the old rule), it would have been stopped at step 938.
        let at_step_938 = value_at(&earlier[0], progress(938, 1407)).unwrap();
        assert!(0.81 < at_step_938 - rule.margin);
    }

    #[test]
    fn a_trial_worse_at_every_share_of_its_schedule_is_still_stopped() {
        let rule = Halving::default();
        let earlier = vec![three_epochs()];
        // A longer schedule behind at every fraction: stopped at its first judged point.
        let Verdict::Stop(why) = rule.judge(&earlier, &point_of(938, 2814, 0.70)) else {
            panic!("a trial behind at a third of its schedule goes on");
        };
        assert!(why.contains("33 % of its schedule"), "{why}");
        // And a shorter one behind at its end.
        assert!(matches!(
            rule.judge(&earlier, &point_of(700, 700, 0.80)),
            Verdict::Stop(_)
        ));
    }

    #[test]
    fn ordinals_read_as_words_do() {
        let o: Vec<String> = [2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal).into();
        assert_eq!(
            o,
            [
                "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
            ]
        );
    }

    #[test]
    fn the_monitor_spares_the_reference_and_remembers_curves() {
        let m = HalvingMonitor::new(Halving::default(), None);
        m.begin(true);
        assert_eq!(m.evaluated("train", &point(50, 0.9)), Verdict::Continue);
        assert_eq!(m.evaluated("train", &point(100, 0.95)), Verdict::Continue);
        assert_eq!(m.end(None), None);
        m.begin(false);
        assert_eq!(m.evaluated("train", &point(50, 0.895)), Verdict::Continue);
        let Verdict::Stop(why) = m.evaluated("train", &point(100, 0.5)) else {
            panic!("a trailing trial goes on");
        };
        assert!(
            why.contains("step 100 of 100 (100 % of its schedule)")
                && why.contains("trails 0.9500 (the best of 1 earlier runs"),
            "{why}"
        );
        assert_eq!(m.end(None), Some(why));
        // A reused trial's curve comes from its history instead.
        m.begin(false);
        assert_eq!(m.end(Some(vec![(0.5, 0.1)])), None);
        assert_eq!(m.lock().earlier.len(), 3);
    }

    #[test]
    fn the_deadline_stops_every_trial_but_the_reference() {
        let m = HalvingMonitor::new(Halving::default(), Some(Instant::now()));
        m.begin(true);
        assert_eq!(m.evaluated("train", &point(50, 0.9)), Verdict::Continue);
        m.end(None);
        m.begin(false);
        let Verdict::Stop(why) = m.evaluated("train", &point(10, 0.99)) else {
            panic!("the deadline passed");
        };
        assert!(why.contains("budget"), "{why}");
    }
}
