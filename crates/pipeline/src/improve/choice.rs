//! The choice on dev: the completed trials in dev order, each a candidate whose paired
//! bootstrap gain over the reference is checked in turn ([`Choice`], [`Attempt`]). A candidate
//! is adopted when the CI of its gain excludes 0 (and, where needed, when that still holds on
//! a second training seed); one that fails falls back to the next, so a remedy that is second
//! on dev but needs no second seed (a tuned threshold) is not lost to a first that was luck.

use reflect::stats::bootstrap::{Bootstrap, Paired, Units};
use serde::Serialize;

use super::Confirmation;

/// One candidate considered for adoption.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// Index of the trial in its round (or calibration step).
    pub trial: usize,
    /// Trial − reference on dev, paired bootstrap.
    pub vs_reference: Paired,
    /// The second-seed check, when the candidate needed one.
    pub confirmation: Option<Confirmation>,
    /// Whether it was adopted.
    pub adopted: bool,
    /// Why it was or was not adopted, in words.
    pub why: String,
}

/// What the choice on dev found.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Index of the best completed trial on dev (`None`: none completed).
    pub best: Option<usize>,
    /// Best − reference on dev, paired bootstrap.
    pub vs_reference: Option<Paired>,
    /// The adopted trial: the first candidate in dev order that passed every check.
    pub adopted: Option<usize>,
    /// Whether a trial replaces the reference (`adopted` is set).
    pub adopt: bool,
    /// Every candidate considered, in dev order, up to the adopted one.
    pub attempts: Vec<Attempt>,
}

impl Choice {
    /// The attempt of trial `k`, when it was considered.
    pub fn attempt(&self, k: usize) -> Option<&Attempt> {
        self.attempts.iter().find(|a| a.trial == k)
    }

    /// The first second-seed check that ran, when one did.
    pub fn confirmation(&self) -> Option<&Confirmation> {
        self.attempts.iter().find_map(|a| a.confirmation.as_ref())
    }
}

/// Whether a paired gain is ahead with a CI that excludes 0.
pub fn beyond_noise(p: &Paired) -> bool {
    p.diff.estimate > 0.0 && p.diff.lo > 0.0
}

/// The completed trials (dev units per trial, `None` when it did not complete) in dev order,
/// best first (ties: the earlier, cheaper trial), each with its paired gain over `reference`.
/// Sees dev only, by construction: nothing else is passed in.
pub fn candidates(
    reference: &Units,
    trials: &[Option<Units>],
    stat: impl Fn(&[f64]) -> f64 + Copy,
    boot: Bootstrap,
) -> Vec<(usize, Paired)> {
    let mut scored: Vec<(usize, f64)> = trials
        .iter()
        .enumerate()
        .filter_map(|(i, u)| u.as_ref().map(|u| (i, stat(&u.total()))))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
        .into_iter()
        .filter_map(|(i, _)| {
            let u = trials[i].as_ref()?;
            Some((i, boot.paired(u, reference, stat)))
        })
        .collect()
}

/// What a check of one candidate decided.
pub enum Verdict {
    /// Adopt it: why.
    Adopt(String),
    /// Go on to the next candidate: why not.
    Next(String),
}

/// Walks `ranked` candidates in order: one that `veto` rules out (with its reason) or whose
/// gain is within the noise is passed over; one beyond it goes through `check` (a second
/// seed), which adopts it or falls back to the next. Stops at the first adopted candidate.
pub fn decide<E>(
    ranked: Vec<(usize, Paired)>,
    veto: impl Fn(usize) -> Option<String>,
    mut check: impl FnMut(usize, &Paired) -> Result<(Verdict, Option<Confirmation>), E>,
) -> Result<Choice, E> {
    let mut choice = Choice {
        best: ranked.first().map(|(i, _)| *i),
        vs_reference: ranked.first().map(|(_, p)| *p),
        adopted: None,
        adopt: false,
        attempts: Vec::new(),
    };
    for (trial, paired) in ranked {
        let (verdict, confirmation) = if let Some(why) = veto(trial) {
            (Verdict::Next(why), None)
        } else if beyond_noise(&paired) {
            check(trial, &paired)?
        } else if paired.diff.hi < 0.0 {
            (Verdict::Next("worse: its CI lies below 0".into()), None)
        } else {
            (
                Verdict::Next("within the noise: its CI includes 0".into()),
                None,
            )
        };
        let (adopted, why) = match verdict {
            Verdict::Adopt(why) => (true, why),
            Verdict::Next(why) => (false, why),
        };
        choice.attempts.push(Attempt {
            trial,
            vs_reference: paired,
            confirmation,
            adopted,
            why,
        });
        if adopted {
            choice.adopted = Some(trial);
            choice.adopt = true;
            break;
        }
    }
    Ok(choice)
}

/// The choice among `trials` against `reference` with no check beyond the noise: the best
/// candidate whose gain's CI excludes 0.
pub fn choose(
    reference: &Units,
    trials: &[Option<Units>],
    stat: impl Fn(&[f64]) -> f64 + Copy,
    boot: Bootstrap,
) -> Choice {
    let ranked = candidates(reference, trials, stat, boot);
    decide::<std::convert::Infallible>(
        ranked,
        |_| None,
        |_, p| {
            Ok((
                Verdict::Adopt(format!("dev gain {} excludes 0", p.diff.display(4))),
                None,
            ))
        },
    )
    .unwrap_or_else(|e| match e {})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(correct: &[bool]) -> Units {
        // Accuracy-like units: (correct, 1) per example.
        let mut u = Units::new(2);
        for &c in correct {
            u.push(&[if c { 1.0 } else { 0.0 }, 1.0]);
        }
        u
    }

    fn acc(x: &[f64]) -> f64 {
        x[0] / x[1].max(1.0)
    }

    fn boot() -> Bootstrap {
        Bootstrap {
            resamples: 500,
            ..Bootstrap::default()
        }
    }

    #[test]
    fn the_best_trial_is_adopted_only_when_its_gain_is_beyond_the_noise() {
        let n = 400;
        let reference = units(&(0..n).map(|i| i % 10 < 6).collect::<Vec<_>>());
        let clearly = units(&(0..n).map(|i| i % 10 < 9).collect::<Vec<_>>());
        let barely = units(&(0..n).map(|i| i % 10 < 6 || i == 7).collect::<Vec<_>>());
        let c = choose(
            &reference,
            &[Some(barely.clone()), None, Some(clearly)],
            acc,
            boot(),
        );
        assert_eq!(c.best, Some(2));
        assert!(c.adopt && c.adopted == Some(2), "{c:?}");
        let c = choose(&reference, &[Some(barely), None], acc, boot());
        assert_eq!(c.best, Some(0));
        assert!(!c.adopt, "one more correct example in 400 is noise: {c:?}");
        assert_eq!(c.attempts.len(), 1);
        assert!(c.attempts[0].why.contains("within the noise"), "{c:?}");
        let worse = units(&(0..n).map(|i| i % 10 < 3).collect::<Vec<_>>());
        let c = choose(&reference, &[Some(worse)], acc, boot());
        assert!(c.attempts[0].why.starts_with("worse"), "{c:?}");
        let c = choose(&reference, &[None], acc, boot());
        assert_eq!(c.best, None);
        assert!(!c.adopt && c.vs_reference.is_none() && c.attempts.is_empty());
    }

    #[test]
    fn a_candidate_that_fails_its_check_falls_back_to_the_next_in_dev_order() {
        let n = 400;
        let reference = units(&(0..n).map(|i| i % 10 < 5).collect::<Vec<_>>());
        let first = units(&(0..n).map(|i| i % 10 < 9).collect::<Vec<_>>());
        let second = units(&(0..n).map(|i| i % 10 < 8).collect::<Vec<_>>());
        let third = units(&(0..n).map(|i| i % 10 < 7).collect::<Vec<_>>());
        let ranked = candidates(
            &reference,
            &[Some(third), Some(first), Some(second)],
            acc,
            boot(),
        );
        assert_eq!(ranked.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 0]);
        let mut checked = Vec::new();
        let c = decide::<()>(
            ranked,
            |_| None,
            |i, _| {
                checked.push(i);
                Ok(if i == 1 {
                    (Verdict::Next("failed its second seed".into()), None)
                } else {
                    (Verdict::Adopt("holds".into()), None)
                })
            },
        )
        .unwrap();
        assert_eq!(checked, [1, 2], "the third candidate is never needed");
        assert_eq!(c.best, Some(1));
        assert_eq!(c.adopted, Some(2));
        assert_eq!(c.attempts.len(), 2);
        assert!(!c.attempts[0].adopted && c.attempts[1].adopted);
    }
}
