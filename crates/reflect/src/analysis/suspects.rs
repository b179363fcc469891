//! Suspect labels: items of the evaluated (and dev) split whose given label the model finds
//! very unlikely while it is confident of another one.

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use super::prepared::Prepared;
use crate::data::Split;
use crate::error::Result;
use crate::params::Options;

/// A candidate label error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    /// Split.
    pub split: String,
    /// Example id.
    pub id: String,
    /// Word index (token tasks).
    pub word: Option<usize>,
    /// The word or a text excerpt.
    pub token: String,
    /// The sentence with the word in `[...]`.
    pub context: String,
    /// The label in the data.
    pub given: String,
    /// The label the model is confidently sure of.
    pub suggested: String,
    /// Probability of the given label.
    pub self_confidence: f64,
    /// Probability of the suggested label.
    pub suggested_prob: f64,
}
/// The most suspicious labels (at most `opts.suspects`), how many were found and how many
/// items were looked at.
pub fn run(
    p: &Prepared<'_>,
    opts: &Options,
    _notes: &mut Vec<String>,
) -> Result<(Vec<Suspect>, usize, usize)> {
    Ok(suspects(p.split, p.inputs.fit.as_ref(), opts.suspects))
}

/// Confident-learning label issues (Northcutt et al. 2021): per-class threshold `t_j` = mean
/// probability of class `j` over items labelled `j`; an item is an issue when, among the
/// classes whose probability reaches their threshold, the most probable is not its label.
/// Ranked by self-confidence (probability of the given label), lowest first.
fn suspects(split: &Split, fit: Option<&Split>, limit: usize) -> (Vec<Suspect>, usize, usize) {
    let mut found = Vec::new();
    let mut scanned = 0;
    let splits: Vec<&Split> = std::iter::once(split)
        .chain(fit)
        .filter(|s| s.has_probs)
        .collect();
    for s in splits {
        let k = s.labels.len();
        let (mut sum, mut n) = (vec![0.0; k], vec![0usize; k]);
        for ex in &s.examples {
            for (p, &g) in ex.probs.iter().zip(&ex.gold) {
                if g < k {
                    sum[g] += p.get(g).copied().unwrap_or(0.0);
                    n[g] += 1;
                }
            }
        }
        let thresholds: Vec<f64> = (0..k)
            .map(|j| {
                if n[j] == 0 {
                    f64::INFINITY
                } else {
                    sum[j] / n[j] as f64
                }
            })
            .collect();
        for ex in &s.examples {
            for (w, (p, &g)) in ex.probs.iter().zip(&ex.gold).enumerate() {
                scanned += 1;
                let best = (0..k.min(p.len()))
                    .filter(|&j| p[j] >= thresholds[j])
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)));
                let Some(j) = best else { continue };
                if j == g {
                    continue;
                }
                let token_task = s.task == TaskKind::Token;
                let context = if token_task {
                    ex.words
                        .iter()
                        .enumerate()
                        .map(|(i, x)| if i == w { format!("[{x}]") } else { x.clone() })
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    String::new()
                };
                found.push(Suspect {
                    split: s.name.clone(),
                    id: ex.id.clone(),
                    word: token_task.then_some(w),
                    token: ex.words.get(w).cloned().unwrap_or_default(),
                    context,
                    given: s.label(g).to_string(),
                    suggested: s.label(j).to_string(),
                    self_confidence: p.get(g).copied().unwrap_or(0.0),
                    suggested_prob: p[j],
                });
            }
        }
    }
    found.sort_by(|a, b| {
        a.self_confidence
            .total_cmp(&b.self_confidence)
            .then_with(|| a.split.cmp(&b.split))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.word.cmp(&b.word))
    });
    let total = found.len();
    found.truncate(limit);
    (found, total, scanned)
}
