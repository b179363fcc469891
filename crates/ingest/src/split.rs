//! Seeded train/dev/test split of one pool of examples: stratified by label for sequence
//! tasks, grouped by document for token tasks (a document never straddles two splits).
//!
//! The permutation comes from our own seeded ChaCha generator rather than a library's
//! sampling routine, so a seed gives the same split on every platform and version.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::model::{Body, Example};
use crate::params::SplitSpec;

/// Assign `split` (0 train, 1 dev, 2 test) to every example.
pub fn assign(examples: &mut [Example], spec: &SplitSpec) {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let token_task = examples
        .first()
        .is_some_and(|e| matches!(e.body, Body::Tokens { .. }));
    if token_task {
        by_document(examples, spec, &mut rng);
    } else {
        stratified(examples, spec, &mut rng);
    }
}

/// Sizes of dev and test for `n` items; train gets the rest.
fn sizes(n: usize, spec: &SplitSpec) -> (usize, usize) {
    let dev = (n as f64 * spec.dev).round() as usize;
    let test = ((n as f64 * spec.test).round() as usize).min(n - dev.min(n));
    (dev.min(n), test)
}

fn stratified(examples: &mut [Example], spec: &SplitSpec, rng: &mut ChaCha8Rng) {
    let mut by_label: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        by_label.entry(e.label_key()).or_default().push(i);
    }
    for (_, mut idx) in by_label {
        idx.shuffle(rng);
        let (dev, test) = sizes(idx.len(), spec);
        let train = idx.len() - dev - test;
        for (k, &i) in idx.iter().enumerate() {
            examples[i].split = if k < train {
                0
            } else if k < train + dev {
                1
            } else {
                2
            };
        }
    }
}

fn by_document(examples: &mut [Example], spec: &SplitSpec, rng: &mut ChaCha8Rng) {
    let mut docs: Vec<(String, Vec<usize>)> = Vec::new();
    let mut pos: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, e) in examples.iter().enumerate() {
        let slot = *pos.entry(e.doc_id.clone()).or_insert_with(|| {
            docs.push((e.doc_id.clone(), Vec::new()));
            docs.len() - 1
        });
        docs[slot].1.push(i);
    }
    docs.shuffle(rng);
    let n = examples.len();
    let (dev, test) = sizes(n, spec);
    let train = n - dev - test;
    let mut done = 0;
    for (_, idx) in docs {
        let split = if done < train {
            0
        } else if done < train + dev {
            1
        } else {
            2
        };
        done += idx.len();
        for i in idx {
            examples[i].split = split;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(i: usize, label: &str, doc: &str) -> Example {
        Example {
            pool: 0,
            split: 0,
            id: i.to_string(),
            doc_id: doc.into(),
            source: 0,
            line: i as u64,
            token_lines: vec![],
            body: Body::Text {
                text: i.to_string(),
                text_b: None,
                label: label.into(),
            },
            meta: vec![],
        }
    }

    #[test]
    fn stratified_split_keeps_label_ratios_and_is_seeded() {
        let mut a: Vec<_> = (0..1000)
            .map(|i| ex(i, if i % 10 < 7 { "good" } else { "bad" }, ""))
            .collect();
        let spec = SplitSpec::default();
        assign(&mut a, &spec);
        let count = |s: usize, l: &str| {
            a.iter()
                .filter(|e| e.split == s && e.label_key() == l)
                .count()
        };
        assert_eq!(
            (count(0, "good"), count(1, "good"), count(2, "good")),
            (560, 70, 70)
        );
        assert_eq!(
            (count(0, "bad"), count(1, "bad"), count(2, "bad")),
            (240, 30, 30)
        );
        let mut b: Vec<_> = (0..1000)
            .map(|i| ex(i, if i % 10 < 7 { "good" } else { "bad" }, ""))
            .collect();
        assign(&mut b, &spec);
        assert!(a.iter().zip(&b).all(|(x, y)| x.split == y.split));
    }

    #[test]
    fn documents_never_straddle_splits() {
        let mut a: Vec<_> = (0..300)
            .map(|i| {
                let mut e = ex(i, "x", &format!("d{}", i / 7));
                e.body = Body::Tokens {
                    tokens: vec!["w".into()],
                    tags: vec!["O".into()],
                };
                e
            })
            .collect();
        assign(&mut a, &SplitSpec::default());
        for d in 0..43 {
            let splits: std::collections::BTreeSet<_> = a
                .iter()
                .filter(|e| e.doc_id == format!("d{d}"))
                .map(|e| e.split)
                .collect();
            assert_eq!(splits.len(), 1, "doc d{d} straddles {splits:?}");
        }
        assert!((0..3).all(|s| a.iter().any(|e| e.split == s)));
    }
}
