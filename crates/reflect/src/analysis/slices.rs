//! Slices: the primary metric with its interval per length bucket, OOV-rate bucket, entity
//! type / class and metadata value, flagged when the interval lies wholly below the overall
//! value; plus the quantile bucketing they use.

use std::collections::{BTreeMap, HashSet};

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use super::prepared::{Inputs, Prepared};
use crate::data::MetaColumn;
use crate::error::Result;
use crate::ner::Spans;
use crate::params::Options;
use crate::scores::{Metric, Scorer};
use crate::stats::bootstrap::{Interval, Units};

/// The slice families of one entity type (token tasks) or one class (sequence and
/// multi-label tasks): the class's own F1.
pub const CLASS_FAMILIES: [&str; 2] = ["entity type", "label"];

/// One slice of the evaluated split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// `length`, `oov`, `type` / `label`, or `meta:<column>`.
    pub family: String,
    /// Bucket or value.
    pub name: String,
    /// Metric name.
    pub metric: String,
    /// Examples in the slice.
    pub examples: usize,
    /// Gold entities / examples of the class (for type/label slices), else examples.
    pub support: usize,
    /// Value with CI.
    pub ci: Interval,
    /// Whether the CI lies wholly below the overall value (with enough support).
    pub flagged: bool,
    /// Ids of a few examples of the slice with errors.
    pub evidence: Vec<String>,
}
/// Every slice family of the evaluated split.
pub fn run(p: &Prepared<'_>, opts: &Options, _notes: &mut Vec<String>) -> Result<Vec<Slice>> {
    Ok(slices(
        p.inputs,
        &p.scorer,
        &p.base_units,
        p.overall,
        opts,
        p.spans.as_ref(),
    ))
}

/// Bucket edges at quantiles of `values` (deduplicated), giving at most `buckets` buckets.
pub fn quantile_edges(values: &[f64], buckets: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() || buckets < 2 {
        return Vec::new();
    }
    v.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..buckets)
        .map(|i| crate::stats::bootstrap::quantile(&v, i as f64 / buckets as f64))
        .collect();
    edges.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    // An edge at the maximum would leave an empty last bucket.
    let max = v[v.len() - 1];
    edges.retain(|&e| e < max);
    edges
}

/// Bucket index of `x` for `edges` (bucket `i` holds `edges[i-1] < x <= edges[i]`).
pub fn bucket_of(x: f64, edges: &[f64]) -> usize {
    edges.iter().position(|&e| x <= e).unwrap_or(edges.len())
}

/// Human names of the buckets of `edges`, formatted by `fmt`.
pub fn bucket_names(edges: &[f64], fmt: impl Fn(f64) -> String) -> Vec<String> {
    let mut names = Vec::with_capacity(edges.len() + 1);
    for i in 0..=edges.len() {
        names.push(match (i.checked_sub(1).map(|j| edges[j]), edges.get(i)) {
            (None, Some(&hi)) => format!("≤ {}", fmt(hi)),
            (Some(lo), Some(&hi)) => format!("{} – {}", fmt(lo), fmt(hi)),
            (Some(lo), None) => format!("> {}", fmt(lo)),
            (None, None) => "all".to_string(),
        });
    }
    names
}
fn has_error(ex: &crate::data::Example) -> bool {
    ex.gold != ex.pred
}
fn slices(
    inputs: &Inputs,
    scorer: &Scorer,
    units: &Units,
    overall: f64,
    opts: &Options,
    spans: Option<&Spans>,
) -> Vec<Slice> {
    let split = &inputs.split;
    let boot = opts.bootstrap;
    let primary = scorer.primary();
    let metric_name = scorer.name(primary);
    let mut out = Vec::new();
    let make = |family: &str, name: String, members: &[usize], out: &mut Vec<Slice>| {
        if members.is_empty() {
            return;
        }
        let set: HashSet<usize> = members.iter().copied().collect();
        let sub = units.filter(|i| set.contains(&i));
        let ci = boot.ci(&sub, |s| scorer.value(primary, s));
        let support = match split.task {
            TaskKind::Token => sub.total()[2] as usize,
            TaskKind::Sequence | TaskKind::Multilabel => members.len(),
        };
        out.push(Slice {
            family: family.to_string(),
            name,
            metric: metric_name.clone(),
            examples: members.len(),
            support,
            flagged: members.len() >= opts.min_slice_support && ci.hi < overall,
            ci,
            evidence: members
                .iter()
                .filter(|&&i| has_error(&split.examples[i]))
                .take(opts.max_examples)
                .map(|&i| split.examples[i].id.clone())
                .collect(),
        });
    };
    let words_of = |i: usize| -> Option<&Vec<String>> {
        let ex = &split.examples[i];
        if split.task == TaskKind::Token {
            Some(&ex.words)
        } else {
            inputs.context.as_ref().and_then(|c| c.words.get(&ex.id))
        }
    };
    let numeric_family = |family: &str,
                          values: Vec<Option<f64>>,
                          fmt: &dyn Fn(f64) -> String,
                          out: &mut Vec<Slice>| {
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        if present.is_empty() {
            return;
        }
        let edges = quantile_edges(&present, opts.buckets);
        let names = bucket_names(&edges, fmt);
        let mut members = vec![Vec::new(); names.len()];
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                members[bucket_of(*v, &edges)].push(i);
            }
        }
        for (name, m) in names.into_iter().zip(members) {
            make(family, name, &m, out);
        }
    };

    // Length in words.
    let lengths: Vec<Option<f64>> = (0..split.examples.len())
        .map(|i| words_of(i).map(|w| w.len() as f64))
        .collect();
    numeric_family("length (words)", lengths, &|x| format!("{x:.0}"), &mut out);

    // OOV rate against the train vocabulary.
    if let Some(ctx) = inputs.context.as_ref().filter(|c| !c.vocab.is_empty()) {
        let rates: Vec<Option<f64>> = (0..split.examples.len())
            .map(|i| {
                let w = words_of(i)?;
                if w.is_empty() {
                    return None;
                }
                Some(w.iter().filter(|x| !ctx.vocab.contains(*x)).count() as f64 / w.len() as f64)
            })
            .collect();
        numeric_family(
            "OOV rate",
            rates,
            &|x| format!("{:.0}%", 100.0 * x),
            &mut out,
        );
    }

    // Per entity type / class: the class's own F1 over all units.
    let all: Vec<usize> = (0..split.examples.len()).collect();
    let family = match split.task {
        TaskKind::Token => CLASS_FAMILIES[0],
        TaskKind::Sequence | TaskKind::Multilabel => CLASS_FAMILIES[1],
    };
    let total = units.total();
    for (k, class) in scorer.classes.iter().enumerate() {
        let m = match split.task {
            TaskKind::Token => Metric::TypeF1(k),
            TaskKind::Sequence | TaskKind::Multilabel => Metric::ClassF1(k),
        };
        // The class's own columns only: the same resamples and values as the full units, at
        // a cost that does not grow with the number of classes (CLINC150: 151).
        let (cols, on_cols) = scorer.class_columns(k);
        let ci = boot.ci(&units.project(&cols), |s| scorer.value(on_cols, s));
        let support = scorer.support(k, &total) as usize;
        let members: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| match (split.task, spans) {
                (TaskKind::Token, Some(sp)) => sp.gold[i]
                    .iter()
                    .chain(&sp.pred[i])
                    .any(|e| &e.kind == class),
                _ => {
                    split.examples[i].gold.first() == Some(&k)
                        || split.examples[i].pred.first() == Some(&k)
                }
            })
            .collect();
        out.push(Slice {
            family: family.to_string(),
            name: class.clone(),
            metric: scorer.name(m),
            examples: members.len(),
            support,
            flagged: support >= opts.min_slice_support && ci.hi < overall,
            ci,
            evidence: members
                .iter()
                .filter(|&&i| has_error(&split.examples[i]))
                .take(opts.max_examples)
                .map(|&i| split.examples[i].id.clone())
                .collect(),
        });
    }

    // Metadata columns.
    if let Some(ctx) = &inputs.context {
        for (name, column) in &ctx.metadata {
            let family = format!("meta:{name}");
            match column {
                MetaColumn::Number(map) => {
                    let values: Vec<Option<f64>> = split
                        .examples
                        .iter()
                        .map(|e| map.get(&e.id).copied())
                        .collect();
                    let distinct: HashSet<u64> =
                        values.iter().flatten().map(|v| v.to_bits()).collect();
                    if distinct.len() <= opts.buckets.max(2) * 2 {
                        // Few distinct numbers: treat them as categories.
                        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                        for (i, v) in values.iter().enumerate() {
                            if let Some(v) = v {
                                groups.entry(format!("{v}")).or_default().push(i);
                            }
                        }
                        for (value, m) in groups {
                            make(&family, value, &m, &mut out);
                        }
                    } else {
                        numeric_family(&family, values, &|x| format!("{x}"), &mut out);
                    }
                }
                MetaColumn::Text(map) => {
                    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                    for (i, e) in split.examples.iter().enumerate() {
                        if let Some(v) = map.get(&e.id) {
                            groups.entry(v.clone()).or_default().push(i);
                        }
                    }
                    if groups.len() > opts.max_categories || groups.len() < 2 {
                        continue;
                    }
                    for (value, m) in groups {
                        make(&family, value, &m, &mut out);
                    }
                }
            }
        }
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_buckets_are_named_and_assigned() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let e = quantile_edges(&v, 4);
        assert_eq!(e.len(), 3);
        assert_eq!(bucket_of(1.0, &e), 0);
        assert_eq!(bucket_of(100.0, &e), 3);
        let names = bucket_names(&e, |x| format!("{x:.0}"));
        assert_eq!(names.len(), 4);
        assert!(names[0].starts_with("≤ "));
        assert!(names[3].starts_with("> "));
        // All equal: no edges, one bucket.
        assert!(quantile_edges(&[0.0; 10], 4).is_empty());
    }
}
