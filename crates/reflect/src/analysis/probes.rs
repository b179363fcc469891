//! Robustness probes: how many predictions flip when the text is perturbed (case, typos,
//! entity swaps, punctuation), and the primary metric clean against probed.

use std::collections::HashMap;

use flowcore::TaskKind;

use serde::{Deserialize, Serialize};

use super::prepared::{Prepared, check_same_labels, group_units};
use crate::data::Split;
use crate::error::Result;
use crate::ner::Spans;
use crate::params::Options;
use crate::scores::{Metric, Scorer};
use crate::stats::bootstrap::{Bootstrap, Interval, Paired, Units, ratio};

/// Flip rate of one robustness probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Probe name (`case`, `typo`, `entity_swap`, `punct`).
    pub name: String,
    /// Items compared (words or examples).
    pub items: usize,
    /// Fraction of items whose prediction changed, with CI.
    pub flip_rate: Interval,
    /// Fraction of examples with at least one changed prediction (token tasks), with CI.
    pub example_flip_rate: Option<Interval>,
    /// Primary metric clean vs probed (paired bootstrap, clean minus probe), over the
    /// examples the probe covers word for word.
    pub metric: Option<Paired>,
    /// Examples in that metric comparison.
    pub metric_examples: usize,
    /// Ids of a few examples whose predictions flipped.
    pub evidence: Vec<String>,
}
/// One result per probe prediction set.
pub fn run(p: &Prepared<'_>, opts: &Options, notes: &mut Vec<String>) -> Result<Vec<Probe>> {
    let mut probes = Vec::new();
    for probe in &p.inputs.probes {
        probes.push(probe_result(
            p.split,
            probe,
            &p.scorer,
            p.primary,
            &p.doc_keys,
            opts.bootstrap,
            notes,
        )?);
    }
    Ok(probes)
}

fn probe_result(
    split: &Split,
    probe: &Split,
    scorer: &Scorer,
    primary: Metric,
    doc_keys: &Option<Vec<String>>,
    boot: Bootstrap,
    notes: &mut Vec<String>,
) -> Result<Probe> {
    check_same_labels(split, probe)?;
    let pos = probe.positions();
    // Per example: [items, flipped items, example flipped, 1]
    let mut flips = Units::new(4);
    let mut evidence = Vec::new();
    let mut items = 0;
    let mut kept = Vec::new();
    let mut clean = split.clone();
    clean.examples.clear();
    let mut probed = split.clone();
    probed.path = probe.path.clone();
    probed.examples.clear();
    let mut unmatched = 0;
    for (i, ex) in split.examples.iter().enumerate() {
        let Some(&j) = pos.get(ex.id.as_str()) else {
            unmatched += 1;
            continue;
        };
        let other = &probe.examples[j];
        // Join on the word index (token task): a probe may drop words (punctuation, the tail
        // of a swapped entity), so positions alone would misalign.
        let probe_pred: HashMap<u32, usize> = if split.task == TaskKind::Token {
            other
                .word_index
                .iter()
                .copied()
                .zip(other.pred.iter().copied())
                .collect()
        } else {
            other
                .pred
                .iter()
                .copied()
                .enumerate()
                .map(|(k, p)| (k as u32, p))
                .collect()
        };
        let mut n = 0;
        let mut changed = 0;
        let mut full = true;
        let mut pred = ex.pred.clone();
        for (k, &clean) in ex.pred.iter().enumerate() {
            let w = ex.word_index.get(k).copied().unwrap_or(k as u32);
            match probe_pred.get(&w) {
                Some(&p) => {
                    n += 1;
                    changed += usize::from(p != clean);
                    pred[k] = p;
                }
                None => full = false,
            }
        }
        items += n;
        flips.push(&[
            n as f64,
            changed as f64,
            f64::from(u8::from(changed > 0)),
            1.0,
        ]);
        if changed > 0 && evidence.len() < 5 {
            evidence.push(ex.id.clone());
        }
        // The metric compares only examples the probe covers word for word.
        if full {
            kept.push(i);
            clean.examples.push(ex.clone());
            let mut e = ex.clone();
            e.pred = pred;
            probed.examples.push(e);
        }
    }
    if unmatched > 0 {
        notes.push(format!(
            "probe `{}`: {unmatched} examples missing from {}",
            probe.name,
            probe.path.display()
        ));
    }
    let keys = doc_keys
        .as_ref()
        .map(|k| kept.iter().map(|&i| k[i].clone()).collect::<Vec<_>>());
    let metric = if clean.examples.is_empty() {
        None
    } else {
        let (sa, sb) = match split.task {
            TaskKind::Token => (Some(Spans::of(&clean)?), Some(Spans::of(&probed)?)),
            TaskKind::Sequence | TaskKind::Multilabel => (None, None),
        };
        let mut ua = scorer.units(&clean, sa.as_ref());
        let mut ub = scorer.units(&probed, sb.as_ref());
        if let Some(k) = &keys {
            ua = group_units(&ua, k);
            ub = group_units(&ub, k);
        }
        Some(boot.paired(&ua, &ub, |s| scorer.value(primary, s)))
    };
    let example_flip_rate =
        (split.task == TaskKind::Token).then(|| boot.ci(&flips, |s| ratio(s[2], s[3])));
    Ok(Probe {
        name: probe.name.clone(),
        items,
        flip_rate: boot.ci(&flips, |s| ratio(s[1], s[0])),
        example_flip_rate,
        metric,
        metric_examples: kept.len(),
        evidence,
    })
}
