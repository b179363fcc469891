//! The confusion matrix (entity types plus `O` for token tasks, classes for sequence tasks).

use std::collections::HashMap;

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use super::{Options, Prepared};
use crate::data::Split;
use crate::error::Result;
use crate::ner;

/// A confusion matrix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Row/column names (gold rows, predicted columns).
    pub labels: Vec<String>,
    /// `counts[gold][pred]`.
    pub counts: Vec<Vec<u64>>,
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
            TaskKind::Sequence => l.to_string(),
        }
    };
    let mut labels: Vec<String> = match split.task {
        TaskKind::Token => {
            let mut v = vec!["O".to_string()];
            v.extend(ner::types_of(&split.labels));
            v
        }
        TaskKind::Sequence => split.labels.clone(),
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
