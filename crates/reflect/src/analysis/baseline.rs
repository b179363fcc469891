//! Significance against a classical baseline on the same split: paired bootstrap of the
//! primary metric (model minus baseline) and, for sequence tasks, McNemar's exact test.

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use super::prepared::{Prepared, align, group_units};
use crate::data::Split;
use crate::error::{ReflectError, Result};
use crate::ner::Spans;
use crate::params::Options;
use crate::scores::{Metric, Scorer};
use crate::stats::bootstrap::{Bootstrap, Paired};
use crate::stats::mcnemar::{McNemar, mcnemar_exact};

/// Significance against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Metric compared.
    pub metric: String,
    /// Paired bootstrap (model minus baseline).
    pub paired: Paired,
    /// Exact McNemar test on accuracy (sequence tasks).
    pub mcnemar: Option<McNemar>,
    /// Examples in both prediction sets.
    pub shared: usize,
    /// Examples of the model's split missing from the baseline's.
    pub missing: usize,
}
/// The comparison with the baseline's predictions, when there are any.
pub fn run(
    p: &Prepared<'_>,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Result<Option<Comparison>> {
    match &p.inputs.baseline {
        Some(b) => compare_baseline(
            p.split,
            b,
            &p.scorer,
            p.primary,
            &p.doc_keys,
            opts.bootstrap,
            notes,
        ),
        None => Ok(None),
    }
}

fn compare_baseline(
    split: &Split,
    base: &Split,
    scorer: &Scorer,
    primary: Metric,
    doc_keys: &Option<Vec<String>>,
    boot: Bootstrap,
    notes: &mut Vec<String>,
) -> Result<Option<Comparison>> {
    if base.task != split.task {
        return Err(ReflectError::Invalid {
            place: base.path.display().to_string(),
            message: format!(
                "baseline is a {} task, the model's a {} task",
                base.task, split.task
            ),
        });
    }
    // The baseline may order labels differently: map its ids onto ours by name.
    let map: Vec<Option<usize>> = base
        .labels
        .iter()
        .map(|l| split.labels.iter().position(|m| m == l))
        .collect();
    let aligned = align(split, base);
    let missing = aligned.iter().filter(|a| a.is_none()).count();
    let keep: Vec<usize> = (0..split.examples.len())
        .filter(|&i| aligned[i].is_some())
        .collect();
    if keep.is_empty() {
        notes.push(format!(
            "baseline {} shares no examples with the model's predictions: comparison skipped",
            base.path.display()
        ));
        return Ok(None);
    }
    let mut ours = split.clone();
    ours.examples = keep.iter().map(|&i| split.examples[i].clone()).collect();
    let mut theirs = split.clone();
    theirs.path = base.path.clone();
    theirs.examples = Vec::with_capacity(keep.len());
    for &i in &keep {
        let Some(j) = aligned[i] else { continue };
        let mut ex = split.examples[i].clone();
        let b = &base.examples[j];
        ex.pred = b
            .pred
            .iter()
            .map(|&p| {
                map.get(p)
                    .copied()
                    .flatten()
                    .ok_or_else(|| ReflectError::Invalid {
                        place: format!("{}, example `{}`", base.path.display(), b.id),
                        message: format!(
                            "predicted label `{}` is not one of the model's labels",
                            base.label(p)
                        ),
                    })
            })
            .collect::<Result<_>>()?;
        ex.probs.clear();
        theirs.examples.push(ex);
    }
    let (sa, sb) = match split.task {
        TaskKind::Token => (Some(Spans::of(&ours)?), Some(Spans::of(&theirs)?)),
        TaskKind::Sequence | TaskKind::Multilabel => (None, None),
    };
    let mut ua = scorer.units(&ours, sa.as_ref());
    let mut ub = scorer.units(&theirs, sb.as_ref());
    if let Some(keys) = doc_keys {
        let kept: Vec<String> = keep.iter().map(|&i| keys[i].clone()).collect();
        ua = group_units(&ua, &kept);
        ub = group_units(&ub, &kept);
    }
    let paired = boot.paired(&ua, &ub, |s| scorer.value(primary, s));
    let mcnemar = (split.task == TaskKind::Sequence).then(|| {
        let (mut b, mut c) = (0, 0);
        for (x, y) in ours.examples.iter().zip(&theirs.examples) {
            let (ra, rb) = (x.gold == x.pred, y.gold == y.pred);
            if ra && !rb {
                b += 1;
            }
            if !ra && rb {
                c += 1;
            }
        }
        mcnemar_exact(b, c)
    });
    if missing > 0 {
        notes.push(format!(
            "{missing} examples have no baseline prediction and are left out of the comparison"
        ));
    }
    Ok(Some(Comparison {
        metric: scorer.name(primary),
        paired,
        mcnemar,
        shared: keep.len(),
        missing,
    }))
}
