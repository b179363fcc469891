//! Seen and unseen entities (token tasks): how many gold entities of the evaluated split never
//! occur as an entity in train, and entity F1 on the seen and on the unseen ones.
//!
//! An entity is *seen* when its surface form — its words, lower-cased and joined by one space
//! — is the surface form of some gold entity of train, of any type (the usual reading in the
//! NER generalisation literature, e.g. Augenstein et al. 2017, and WNUT-17's "novel" entities).
//! Predicted entities are split by their own surface form, so a correct prediction falls on the
//! same side as its gold entity and precision, recall and F1 are well defined on each side. A
//! large unseen share with a large F1 gap explains a low test score, and a test set with more
//! unseen entities than dev explains a dev/test gap.

use std::collections::HashSet;

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use super::prepared::Prepared;
use crate::data::{Example, Split};
use crate::error::Result;
use crate::ner::{Span, Spans};
use crate::params::Options;
use crate::stats::bootstrap::{Interval, Units, f1_from_counts, ratio};

/// Seen/unseen entity analysis of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unseen {
    /// Gold entities of the evaluated split.
    pub gold: usize,
    /// Of them, with a surface form that never is a train entity.
    pub gold_unseen: usize,
    /// Share of unseen gold entities, with a bootstrap interval.
    pub unseen_share: Interval,
    /// Entity F1 on seen entities.
    pub f1_seen: Interval,
    /// Entity F1 on unseen entities.
    pub f1_unseen: Interval,
    /// Recall on unseen gold entities.
    pub recall_unseen: Interval,
    /// `f1_seen - f1_unseen` (paired within each resample).
    pub f1_gap: Interval,
    /// Share of unseen gold entities in the fitting split (dev), when given.
    pub fit_unseen_share: Option<f64>,
    /// Name of that split.
    pub fit_split: Option<String>,
    /// Distinct train entity surface forms compared against.
    pub train_surface_forms: usize,
    /// Ids of examples with a missed unseen entity (at most `max_examples`).
    pub evidence: Vec<String>,
}

/// Surface form of `words[span]`: lower-cased words joined by one space.
pub fn surface(words: &[String], span: &Span) -> String {
    words
        .get(span.start..span.end.min(words.len()))
        .unwrap_or(&[])
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Per-example counts: `[tp_seen, gold_seen, pred_seen, tp_unseen, gold_unseen, pred_unseen]`.
fn counts(ex: &Example, gold: &[Span], pred: &[Span], train: &HashSet<String>) -> [f64; 6] {
    let mut c = [0.0; 6];
    let seen = |s: &Span| train.contains(&surface(&ex.words, s));
    let gold_set: HashSet<&Span> = gold.iter().collect();
    for g in gold {
        c[if seen(g) { 1 } else { 4 }] += 1.0;
    }
    for p in pred {
        let side = if seen(p) { 0 } else { 3 };
        c[side + 2] += 1.0;
        if gold_set.contains(p) {
            c[side] += 1.0;
        }
    }
    c
}

/// The analysis; `None` (with a note) for sequence tasks or without train entities.
pub fn run(p: &Prepared<'_>, opts: &Options, notes: &mut Vec<String>) -> Result<Option<Unseen>> {
    let train = &p.inputs.train_entities;
    let (TaskKind::Token, Some(spans)) = (p.split.task, p.spans.as_ref()) else {
        return Ok(None);
    };
    if train.is_empty() {
        notes.push(
            "unseen entities: no train entities known (reflect needs the ingest artifact with a train split)".into(),
        );
        return Ok(None);
    }
    let mut units = Units::new(6);
    let mut evidence = Vec::new();
    for (i, ex) in p.split.examples.iter().enumerate() {
        let c = counts(ex, &spans.gold[i], &spans.pred[i], train);
        units.push(&c);
        let missed_unseen = spans.gold[i]
            .iter()
            .any(|g| !train.contains(&surface(&ex.words, g)) && !spans.pred[i].contains(g));
        if missed_unseen && evidence.len() < opts.max_examples {
            evidence.push(ex.id.clone());
        }
    }
    let total = units.total();
    let units = p.cluster(&units);
    let boot = opts.bootstrap;
    let f1_seen = |s: &[f64]| f1_from_counts(s[0], s[2], s[1]);
    let f1_unseen = |s: &[f64]| f1_from_counts(s[3], s[5], s[4]);
    let gap = |s: &[f64]| f1_seen(s) - f1_unseen(s);
    let fit = match &p.inputs.fit {
        Some(fit) if fit.task == TaskKind::Token => Some((fit.name.clone(), share_of(fit, train)?)),
        _ => None,
    };
    Ok(Some(Unseen {
        gold: (total[1] + total[4]) as usize,
        gold_unseen: total[4] as usize,
        unseen_share: boot.ci(&units, |s| ratio(s[4], s[1] + s[4])),
        f1_seen: boot.ci(&units, f1_seen),
        f1_unseen: boot.ci(&units, f1_unseen),
        recall_unseen: boot.ci(&units, |s| ratio(s[3], s[4])),
        f1_gap: boot.ci(&units, gap),
        fit_unseen_share: fit.as_ref().map(|f| f.1),
        fit_split: fit.map(|f| f.0),
        train_surface_forms: train.len(),
        evidence,
    }))
}

/// Share of a split's gold entities whose surface form is not a train entity.
fn share_of(split: &Split, train: &HashSet<String>) -> Result<f64> {
    let spans = Spans::of(split)?;
    let (mut all, mut unseen) = (0usize, 0usize);
    for (ex, gold) in split.examples.iter().zip(&spans.gold) {
        for g in gold {
            all += 1;
            unseen += usize::from(!train.contains(&surface(&ex.words, g)));
        }
    }
    Ok(ratio(unseen as f64, all as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize, kind: &str) -> Span {
        Span {
            start,
            end,
            kind: kind.into(),
        }
    }

    #[test]
    fn surface_forms_ignore_case_and_type() {
        let words: Vec<String> = ["Visit", "New", "York", "now"].map(String::from).to_vec();
        assert_eq!(surface(&words, &span(1, 3, "LOC")), "new york");
        let ex = Example {
            id: "a".into(),
            words,
            word_index: vec![0, 1, 2, 3],
            gold: vec![],
            pred: vec![],
            probs: vec![],
        };
        let train: HashSet<String> = ["new york".to_string()].into();
        // Gold: "New York" (seen) and "Visit" (unseen); predicted: "New York" with the right
        // span and type (a seen true positive) and "now" (an unseen false positive).
        let gold = [span(1, 3, "LOC"), span(0, 1, "PER")];
        let pred = [span(1, 3, "LOC"), span(3, 4, "PER")];
        assert_eq!(
            counts(&ex, &gold, &pred, &train),
            [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]
        );
        // The same span with another type is seen (surface forms are typeless) but wrong.
        let pred = [span(1, 3, "ORG")];
        assert_eq!(
            counts(&ex, &gold, &pred, &train),
            [0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
        );
    }
}
