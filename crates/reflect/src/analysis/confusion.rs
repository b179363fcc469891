//! The confusion matrix (entity types plus `O` for token tasks, classes for sequence tasks).

use std::collections::HashMap;

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use super::prepared::Prepared;
use crate::data::Split;
use crate::error::Result;
use crate::ner;
use crate::params::Options;

/// A confusion matrix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Row/column names (gold rows, predicted columns).
    pub labels: Vec<String>,
    /// `counts[gold][pred]`.
    pub counts: Vec<Vec<u64>>,
}
impl Confusion {
    /// Where the gold label `gold`'s errors go: its off-diagonal cells, largest first (ties by
    /// name), at most `k`, with the row's total errors. `None` for an unknown label.
    pub fn top_confusions(&self, gold: &str, k: usize) -> Option<(u64, Vec<(String, u64)>)> {
        let row = self.labels.iter().position(|l| l == gold)?;
        let mut cells: Vec<(String, u64)> = self.counts[row]
            .iter()
            .enumerate()
            .filter(|&(j, &n)| j != row && n > 0)
            .map(|(j, &n)| (self.labels[j].clone(), n))
            .collect();
        let errors = cells.iter().map(|c| c.1).sum();
        cells.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        cells.truncate(k);
        Some((errors, cells))
    }
}

/// Gold rows against predicted columns.
pub fn run(p: &Prepared<'_>, _opts: &Options, _notes: &mut Vec<String>) -> Result<Confusion> {
    Ok(confusion(p.split))
}

fn confusion(split: &Split) -> Confusion {
    let name = |id: usize| -> String {
        let l = split.label(id);
        match split.task {
            TaskKind::Token => ner::tag_type(l).unwrap_or("O").to_string(),
            TaskKind::Sequence | TaskKind::Multilabel => l.to_string(),
        }
    };
    let mut labels: Vec<String> = match split.task {
        TaskKind::Token => {
            let mut v = vec!["O".to_string()];
            v.extend(ner::types_of(&split.labels));
            v
        }
        TaskKind::Sequence | TaskKind::Multilabel => split.labels.clone(),
    };
    labels.dedup();
    let index: HashMap<String, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i))
        .collect();
    let mut counts = vec![vec![0u64; labels.len()]; labels.len()];
    for ex in &split.examples {
        for (&g, &p) in ex.gold.iter().zip(&ex.pred) {
            if let (Some(&a), Some(&b)) = (index.get(&name(g)), index.get(&name(p))) {
                counts[a][b] += 1;
            }
        }
    }
    Confusion { labels, counts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_confusions_rank_the_off_diagonal_cells_of_a_row() {
        let c = Confusion {
            labels: vec!["O".into(), "LOC".into(), "ORG".into(), "PER".into()],
            counts: vec![
                vec![50, 1, 0, 0],
                vec![4, 10, 4, 1],
                vec![0, 0, 5, 0],
                vec![0, 0, 0, 3],
            ],
        };
        let (errors, top) = c.top_confusions("LOC", 2).unwrap();
        assert_eq!(errors, 9);
        assert_eq!(top, vec![("O".to_string(), 4), ("ORG".to_string(), 4)]);
        assert_eq!(c.top_confusions("PER", 3), Some((0, vec![])));
        assert_eq!(c.top_confusions("MISC", 3), None);
    }
}
