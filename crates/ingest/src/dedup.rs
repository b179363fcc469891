//! Exact duplicates within a pool (after cleaning), conflicting labels among them, and
//! leakage of train texts into dev/test. One pass computes the group statistics (first row
//! and size of each pool/text and pool/text/label group); the policy is applied row by row
//! from them.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::Result;
use crate::model::{Collected, Reason};
use crate::params::ConflictPolicy;

/// What de-duplication did, per pool.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DedupReport {
    /// Exact duplicates removed (same text and label as a kept example).
    pub duplicates: Vec<u64>,
    /// Groups of equal texts with more than one label.
    pub conflict_groups: Vec<u64>,
    /// Examples rejected because of a label conflict.
    pub conflict_rejects: Vec<u64>,
    /// Exact duplicates found (equal to `duplicates` unless de-duplication is off).
    pub duplicates_found: Vec<u64>,
    /// Examples in conflicting groups whose label lost (rejected unless de-duplication is off).
    pub conflicts_found: Vec<u64>,
    /// Ids of the duplicates and losing conflict copies found but kept (pools where nothing
    /// is applied), the first [`MAX_REPORTED_IDS`] per pool.
    pub kept_ids: Vec<Vec<String>>,
}

/// How many example ids a report lists per pool or split.
pub const MAX_REPORTED_IDS: usize = 20;

/// Remove duplicates within each pool and resolve label conflicts by `policy`, in the pools
/// where `apply[pool]` holds; elsewhere duplicates and conflicts are only counted.
pub fn dedup(out: &mut Collected, policy: ConflictPolicy, apply: &[bool]) -> Result<DedupReport> {
    let n_pools = out.pools.len();
    let mut report = DedupReport {
        duplicates: vec![0; n_pools],
        conflict_groups: vec![0; n_pools],
        conflict_rejects: vec![0; n_pools],
        duplicates_found: vec![0; n_pools],
        conflicts_found: vec![0; n_pools],
        kept_ids: vec![Vec::new(); n_pools],
    };
    if out.examples.is_empty() {
        return Ok(report);
    }
    // Per row: the first row of its (pool, text) group, how many labels that group has, the
    // first row of its (pool, text, label) group and that group's size.
    let n = out.examples.len();
    let mut group_first = vec![0u64; n];
    let mut label_first = vec![0u64; n];
    let mut first_of_group: HashMap<(usize, String), u64> = HashMap::new();
    let mut first_of_label: HashMap<(u64, String), u64> = HashMap::new();
    let mut labels_of_group: HashMap<u64, u64> = HashMap::new();
    let mut size_of_label: HashMap<u64, u64> = HashMap::new();
    for (i, e) in out.examples.iter().enumerate() {
        let g = *first_of_group
            .entry((e.pool, e.text_key()))
            .or_insert(i as u64);
        let l = *first_of_label.entry((g, e.label_key())).or_insert_with(|| {
            *labels_of_group.entry(g).or_insert(0) += 1;
            i as u64
        });
        *size_of_label.entry(l).or_insert(0) += 1;
        group_first[i] = g;
        label_first[i] = l;
    }
    let n_labels: Vec<u64> = group_first.iter().map(|g| labels_of_group[g]).collect();
    let label_count: Vec<u64> = label_first.iter().map(|l| size_of_label[l]).collect();

    // Winner label (by its first row) of each conflicting group; None = drop the group.
    let mut winners: HashMap<u64, Option<u64>> = HashMap::new();
    let mut candidates: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for i in 0..group_first.len() {
        if n_labels[i] > 1 && label_first[i] == i as u64 {
            candidates
                .entry(group_first[i])
                .or_default()
                .push((label_count[i], label_first[i]));
        }
    }
    for (g, labels) in candidates {
        let winner = match policy {
            ConflictPolicy::Drop => None,
            ConflictPolicy::KeepFirst => Some(g),
            ConflictPolicy::KeepMajority => {
                let max = labels.iter().map(|l| l.0).max().unwrap_or(0);
                let top: Vec<_> = labels.iter().filter(|l| l.0 == max).collect();
                (top.len() == 1).then(|| top[0].1)
            }
        };
        winners.insert(g, winner);
    }

    let mut keep = vec![true; out.examples.len()];
    let mut rejects = Vec::new();
    let mut seen_groups = HashSet::new();
    for i in 0..keep.len() {
        let pool = out.examples[i].pool;
        let apply = apply.get(pool).copied().unwrap_or(false);
        let first_of_label = label_first[i] == i as u64;
        if n_labels[i] > 1 {
            if seen_groups.insert(group_first[i]) {
                report.conflict_groups[pool] += 1;
            }
            let winner = winners.get(&group_first[i]).copied().flatten();
            if winner == Some(label_first[i]) {
                if !first_of_label {
                    report.duplicates_found[pool] += 1;
                    if apply {
                        keep[i] = false;
                        report.duplicates[pool] += 1;
                    } else {
                        note_kept(&mut report.kept_ids[pool], &out.examples[i].id);
                    }
                }
            } else {
                report.conflicts_found[pool] += 1;
                if !apply {
                    note_kept(&mut report.kept_ids[pool], &out.examples[i].id);
                    continue;
                }
                keep[i] = false;
                report.conflict_rejects[pool] += 1;
                let why = match (policy, winner) {
                    (ConflictPolicy::Drop, _) => "conflict_policy = drop".to_string(),
                    (_, None) => "no majority label (a tie)".to_string(),
                    (_, Some(w)) => format!(
                        "kept the copy at line {} ({:?})",
                        out.examples[w as usize].line, policy
                    ),
                };
                rejects.push((
                    i,
                    format!(
                        "the same text occurs {} time(s) in this split with other labels; {why}",
                        n_labels[i]
                    ),
                ));
            }
        } else if !first_of_label {
            report.duplicates_found[pool] += 1;
            if apply {
                keep[i] = false;
                report.duplicates[pool] += 1;
            } else {
                note_kept(&mut report.kept_ids[pool], &out.examples[i].id);
            }
        }
    }
    for (i, detail) in rejects {
        let ex = out.examples[i].clone();
        out.reject(&ex, Reason::LabelConflict, detail);
    }
    let mut i = 0;
    out.examples.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    Ok(report)
}

fn note_kept(ids: &mut Vec<String>, id: &str) {
    if ids.len() < MAX_REPORTED_IDS {
        ids.push(id.to_string());
    }
}

/// Examples of `split` whose text also occurs in `train`: how many, and the first `max_ids`
/// of their ids (reported for dev and test, never removed from them).
pub fn overlap_with(
    out: &Collected,
    train: usize,
    split: usize,
    max_ids: usize,
) -> (u64, Vec<String>) {
    let train_texts: HashSet<String> = out
        .examples
        .iter()
        .filter(|e| e.split == train)
        .map(|e| e.text_key())
        .collect();
    let mut n = 0;
    let mut ids = Vec::new();
    for e in out.examples.iter().filter(|e| e.split == split) {
        if train_texts.contains(&e.text_key()) {
            n += 1;
            if ids.len() < max_ids {
                ids.push(e.id.clone());
            }
        }
    }
    (n, ids)
}

/// Texts of train that also occur in dev or test: how many, and (optionally) remove them
/// from train. Returns (leaked train examples, removed).
pub fn leakage(out: &mut Collected, train: usize, others: &[usize], remove: bool) -> (u64, u64) {
    let held_out: HashSet<String> = out
        .examples
        .iter()
        .filter(|e| others.contains(&e.split))
        .map(|e| e.text_key())
        .collect();
    let leaked: Vec<usize> = out
        .examples
        .iter()
        .enumerate()
        .filter(|(_, e)| e.split == train && held_out.contains(&e.text_key()))
        .map(|(i, _)| i)
        .collect();
    let n = leaked.len() as u64;
    if !remove || leaked.is_empty() {
        return (n, 0);
    }
    for &i in &leaked {
        let ex = out.examples[i].clone();
        out.reject(
            &ex,
            Reason::Leakage,
            "the same text occurs in dev or test (remove_leakage = true)",
        );
    }
    let leaked: HashSet<usize> = leaked.into_iter().collect();
    let mut i = 0;
    out.examples.retain(|_| {
        i += 1;
        !leaked.contains(&(i - 1))
    });
    (n, n)
}
