//! An averaged structured perceptron tagger (Collins 2002) with first-order tag transitions.
//!
//! Decoding is Viterbi over per-word feature scores plus a transition score for each pair of
//! adjacent tags (and from the sentence start). Training visits the sentences in a seeded
//! shuffled order for a number of epochs, and the weights used for prediction are the average
//! over every step, which is what makes the perceptron competitive with a CRF. Own code: no
//! maintained Rust crate trains a CRF or a structured perceptron (the `crfs` crate only reads
//! CRFsuite models).
//!
//! The perceptron gives scores, not probabilities, so its predictions carry none.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Tagger settings.
#[derive(Debug, Clone, Copy)]
pub struct PerceptronConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Seed of the visiting order.
    pub seed: u64,
}

impl Default for PerceptronConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            seed: 0,
        }
    }
}

/// The word's shape with runs collapsed: `McDonald's` → `XxXx'x`, `2017` → `d`.
fn shape(word: &str) -> String {
    let mut out = String::new();
    let mut last = '\0';
    for ch in word.chars() {
        let class = if ch.is_uppercase() {
            'X'
        } else if ch.is_lowercase() {
            'x'
        } else if ch.is_numeric() {
            'd'
        } else {
            ch
        };
        if class != last {
            out.push(class);
            last = class;
        }
    }
    out
}

fn affixes(out: &mut Vec<String>, lower: &str) {
    let chars: Vec<char> = lower.chars().collect();
    for n in 1..=4usize.min(chars.len()) {
        out.push(format!(
            "suf{n}={}",
            chars[chars.len() - n..].iter().collect::<String>()
        ));
        if n <= 3 {
            out.push(format!("pre{n}={}", chars[..n].iter().collect::<String>()));
        }
    }
}

/// The features of word `i` of a sentence: identity, lower case, shape, prefixes and suffixes,
/// capitalisation, digits, social-media markers and the neighbouring words.
pub fn word_features(words: &[String], i: usize) -> Vec<String> {
    let word = &words[i];
    let lower = word.to_lowercase();
    let mut f = Vec::with_capacity(32);
    f.push("bias".to_string());
    f.push(format!("w={word}"));
    f.push(format!("lw={lower}"));
    f.push(format!("shape={}", shape(word)));
    affixes(&mut f, &lower);
    let mut chars = word.chars();
    if chars.next().is_some_and(char::is_uppercase) {
        f.push("title".into());
        if i == 0 {
            f.push("title-first".into());
        }
    }
    if word.chars().any(char::is_alphabetic) && !word.chars().any(char::is_lowercase) {
        f.push("upper".into());
    }
    if word.chars().any(char::is_numeric) {
        f.push("has-digit".into());
        if word.chars().all(char::is_numeric) {
            f.push("all-digit".into());
        }
    }
    if word.contains('-') {
        f.push("hyphen".into());
    }
    if word.starts_with('@') {
        f.push("mention".into());
    }
    if word.starts_with('#') {
        f.push("hashtag".into());
    }
    if lower.starts_with("http") || lower.starts_with("www.") {
        f.push("url".into());
    }
    let at = |offset: isize| -> Option<&String> {
        let j = i as isize + offset;
        (j >= 0).then(|| words.get(j as usize)).flatten()
    };
    for offset in [-2isize, -1, 1, 2] {
        let w = at(offset).map_or_else(
            || {
                if offset < 0 {
                    "<s>".to_string()
                } else {
                    "</s>".to_string()
                }
            },
            |w| w.to_lowercase(),
        );
        f.push(format!("lw[{offset}]={w}"));
        if offset.abs() == 1 {
            f.push(format!(
                "shape[{offset}]={}",
                at(offset).map_or_else(String::new, |w| shape(w))
            ));
        }
    }
    let prev = at(-1).map_or_else(|| "<s>".to_string(), |w| w.to_lowercase());
    f.push(format!("lw[-1,0]={prev}|{lower}"));
    f
}

/// A trained tagger.
#[derive(Debug, Clone)]
pub struct Perceptron {
    n_tags: usize,
    features: HashMap<String, u32>,
    /// Averaged emission weights, `(features, tags)` row-major.
    emission: Vec<f32>,
    /// Averaged transition weights, `(tags + 1, tags)`; row 0 is the sentence start.
    transition: Vec<f32>,
}

/// Weights being trained, with the running sums the averaging needs.
struct Training {
    w: Vec<f64>,
    /// Σ (step × update), so the average is `w − u / steps`.
    u: Vec<f64>,
    tw: Vec<f64>,
    tu: Vec<f64>,
}

#[allow(clippy::needless_range_loop)] // `p` and `t` index two tables at once
fn viterbi(
    n_tags: usize,
    emit: &[Vec<f64>],
    transition: impl Fn(usize, usize) -> f64,
) -> Vec<usize> {
    let n = emit.len();
    if n == 0 {
        return Vec::new();
    }
    let mut score = vec![vec![f64::NEG_INFINITY; n_tags]; n];
    let mut back = vec![vec![0usize; n_tags]; n];
    for t in 0..n_tags {
        score[0][t] = transition(0, t) + emit[0][t];
    }
    for i in 1..n {
        for t in 0..n_tags {
            let mut best = (f64::NEG_INFINITY, 0);
            for p in 0..n_tags {
                let s = score[i - 1][p] + transition(p + 1, t);
                if s > best.0 {
                    best = (s, p);
                }
            }
            score[i][t] = best.0 + emit[i][t];
            back[i][t] = best.1;
        }
    }
    let mut last = 0;
    for t in 1..n_tags {
        if score[n - 1][t] > score[n - 1][last] {
            last = t;
        }
    }
    let mut path = vec![last; n];
    for i in (1..n).rev() {
        path[i - 1] = back[i][path[i]];
    }
    path
}

impl Perceptron {
    /// Train on sentences of words with tag ids (each `< n_tags`). `progress` is called once
    /// per epoch with the number of sentences whose prediction was wrong.
    ///
    /// # Panics
    /// When a sentence's words and tags differ in length (a programming error).
    pub fn fit(
        sentences: &[(Vec<String>, Vec<usize>)],
        n_tags: usize,
        config: PerceptronConfig,
        mut progress: impl FnMut(usize, usize),
    ) -> Self {
        let mut features: HashMap<String, u32> = HashMap::new();
        let encoded: Vec<(Vec<Vec<u32>>, &[usize])> = sentences
            .iter()
            .map(|(words, tags)| {
                assert_eq!(words.len(), tags.len(), "words and tags differ in length");
                let ids = (0..words.len())
                    .map(|i| {
                        word_features(words, i)
                            .into_iter()
                            .map(|name| {
                                let next = features.len() as u32;
                                *features.entry(name).or_insert(next)
                            })
                            .collect()
                    })
                    .collect();
                (ids, tags.as_slice())
            })
            .collect();
        let nf = features.len();
        let mut tr = Training {
            w: vec![0.0; nf * n_tags],
            u: vec![0.0; nf * n_tags],
            tw: vec![0.0; (n_tags + 1) * n_tags],
            tu: vec![0.0; (n_tags + 1) * n_tags],
        };
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut step = 1.0f64;
        for epoch in 0..config.epochs {
            order.shuffle(&mut rng);
            let mut mistakes = 0;
            for &s in &order {
                let (feats, gold) = &encoded[s];
                let emit: Vec<Vec<f64>> = feats
                    .iter()
                    .map(|fs| {
                        (0..n_tags)
                            .map(|t| fs.iter().map(|&f| tr.w[f as usize * n_tags + t]).sum())
                            .collect()
                    })
                    .collect();
                let pred = viterbi(n_tags, &emit, |p, t| tr.tw[p * n_tags + t]);
                if pred != *gold {
                    mistakes += 1;
                    let update = |w: &mut Vec<f64>, u: &mut Vec<f64>, k: usize, d: f64| {
                        w[k] += d;
                        u[k] += step * d;
                    };
                    for i in 0..gold.len() {
                        let (g, p) = (gold[i], pred[i]);
                        if g != p {
                            for &f in &feats[i] {
                                update(&mut tr.w, &mut tr.u, f as usize * n_tags + g, 1.0);
                                update(&mut tr.w, &mut tr.u, f as usize * n_tags + p, -1.0);
                            }
                        }
                        let (gp, pp) = if i == 0 {
                            (0, 0)
                        } else {
                            (gold[i - 1] + 1, pred[i - 1] + 1)
                        };
                        if (gp, g) != (pp, p) {
                            update(&mut tr.tw, &mut tr.tu, gp * n_tags + g, 1.0);
                            update(&mut tr.tw, &mut tr.tu, pp * n_tags + p, -1.0);
                        }
                    }
                }
                step += 1.0;
            }
            progress(epoch, mistakes);
        }
        let average = |w: &[f64], u: &[f64]| -> Vec<f32> {
            w.iter()
                .zip(u)
                .map(|(w, u)| (w - u / step) as f32)
                .collect()
        };
        Self {
            n_tags,
            emission: average(&tr.w, &tr.u),
            transition: average(&tr.tw, &tr.tu),
            features,
        }
    }

    /// The best tag sequence of a sentence (features unseen in training are ignored).
    pub fn predict(&self, words: &[String]) -> Vec<usize> {
        let n_tags = self.n_tags;
        let emit: Vec<Vec<f64>> = (0..words.len())
            .map(|i| {
                let ids: Vec<usize> = word_features(words, i)
                    .iter()
                    .filter_map(|name| self.features.get(name).map(|&f| f as usize))
                    .collect();
                (0..n_tags)
                    .map(|t| {
                        ids.iter()
                            .map(|&f| f64::from(self.emission[f * n_tags + t]))
                            .sum()
                    })
                    .collect()
            })
            .collect();
        viterbi(n_tags, &emit, |p, t| {
            f64::from(self.transition[p * n_tags + t])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn shapes_collapse_runs() {
        assert_eq!(shape("McDonald's"), "XxXx'x");
        assert_eq!(shape("2017"), "d");
        assert_eq!(shape("@user_1"), "@x_d");
    }

    /// Toy rule: a capitalised word right after "visit" is a location (B-LOC), and the
    /// capitalised word following it continues the entity (I-LOC); everything else is O.
    /// Held-out sentences use place names never seen in training, so only the context and
    /// shape features can get them right.
    #[test]
    fn learns_a_toy_tagging_rule() {
        // tags: 0 = O, 1 = B-LOC, 2 = I-LOC
        let places = [
            "Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bern", "Riga", "Baku",
        ];
        let mut train = Vec::new();
        for p in places {
            train.push((words(&format!("we visit {p} today")), vec![0, 0, 1, 0]));
            train.push((
                words(&format!("they visit New {p} soon")),
                vec![0, 0, 1, 2, 0],
            ));
            train.push((words(&format!("{p} is far")), vec![0, 0, 0]));
        }
        let model = Perceptron::fit(
            &train,
            3,
            PerceptronConfig {
                epochs: 10,
                seed: 1,
            },
            |_, _| {},
        );
        assert_eq!(
            model.predict(&words("we visit Accra today")),
            vec![0, 0, 1, 0]
        );
        assert_eq!(
            model.predict(&words("they visit Port Moresby soon")),
            vec![0, 0, 1, 2, 0]
        );
        assert_eq!(model.predict(&words("Accra is far")), vec![0, 0, 0]);
    }

    #[test]
    fn training_is_deterministic() {
        let train = vec![
            (words("a B c"), vec![0, 1, 0]),
            (words("B c d"), vec![1, 0, 0]),
            (words("x y Z"), vec![0, 0, 1]),
        ];
        let config = PerceptronConfig { epochs: 3, seed: 9 };
        let a = Perceptron::fit(&train, 2, config, |_, _| {});
        let b = Perceptron::fit(&train, 2, config, |_, _| {});
        assert_eq!(a.emission, b.emission);
        assert_eq!(a.transition, b.transition);
    }
}
