//! TF-IDF features of a text (and optional second text), the way scikit-learn's
//! `TfidfVectorizer` builds them by default.
//!
//! Matches sklearn's defaults so the numbers are comparable with the Python peer: lower-case,
//! tokens are runs of two or more word characters (`(?u)\b\w\w+\b`), word n-grams joined by a
//! space, smoothed idf `ln((1 + n) / (1 + df)) + 1`, raw term counts (or `1 + ln tf`), rows
//! L2-normalised. Optional character n-grams inside word boundaries (sklearn's `char_wb`)
//! form a second block, normalised on its own as a `FeatureUnion` would. The terms of the
//! second text of a pair live in their own namespace (`b:`), so "premise word" and
//! "hypothesis word" are different features.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::sparse::Csr;

/// How to build the vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TfidfConfig {
    /// Longest word n-gram (1 = unigrams only, 2 = uni- and bigrams).
    pub word_ngrams: usize,
    /// Character n-gram lengths `[min, max]` inside word boundaries; `None` for no char block.
    pub char_ngrams: Option<[usize; 2]>,
    /// Drop terms that occur in fewer training documents than this.
    pub min_df: usize,
    /// Keep only this many most frequent terms per block (all when `None`).
    pub max_features: Option<usize>,
    /// Use `1 + ln(tf)` instead of the raw count.
    pub sublinear_tf: bool,
}

impl Default for TfidfConfig {
    fn default() -> Self {
        Self {
            word_ngrams: 2,
            char_ngrams: None,
            min_df: 1,
            max_features: None,
            sublinear_tf: false,
        }
    }
}

/// A fitted vectorizer: vocabulary and idf weights of each block.
#[derive(Debug, Clone)]
pub struct Tfidf {
    config: TfidfConfig,
    /// Term → column, per block (word, char).
    vocab: [HashMap<String, u32>; 2],
    /// Column offset of each block.
    offset: [u32; 2],
    /// idf per column.
    idf: Vec<f32>,
}

/// Lower-cased tokens of two or more word characters (`\w\w+`).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut len = 0usize;
    for ch in text.chars().flat_map(char::to_lowercase) {
        if ch.is_alphanumeric() || ch == '_' {
            current.push(ch);
            len += 1;
        } else {
            if len >= 2 {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
            len = 0;
        }
    }
    if len >= 2 {
        out.push(current);
    }
    out
}

impl Tfidf {
    /// The terms of a document, per block, with repetitions (their counts are the tf).
    fn terms(&self, text: &str, text_b: Option<&str>) -> [Vec<String>; 2] {
        let mut words = Vec::new();
        let mut chars = Vec::new();
        for (prefix, part) in [("", Some(text)), ("b:", text_b)] {
            let Some(part) = part else { continue };
            let tokens = tokenize(part);
            for n in 1..=self.config.word_ngrams.max(1) {
                for gram in tokens.windows(n) {
                    words.push(format!("{prefix}{}", gram.join(" ")));
                }
            }
            if let Some([lo, hi]) = self.config.char_ngrams {
                let lower = part.to_lowercase();
                for word in lower.split_whitespace() {
                    let padded: Vec<char> = std::iter::once(' ')
                        .chain(word.chars())
                        .chain(std::iter::once(' '))
                        .collect();
                    for n in lo.max(1)..=hi {
                        if n > padded.len() {
                            break;
                        }
                        for gram in padded.windows(n) {
                            chars.push(format!("{prefix}{}", gram.iter().collect::<String>()));
                        }
                    }
                }
            }
        }
        [words, chars]
    }

    /// Learn the vocabulary and idf from training documents `(text, text_b)`.
    pub fn fit<'a>(
        config: TfidfConfig,
        docs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Self {
        let mut this = Self {
            config,
            vocab: [HashMap::new(), HashMap::new()],
            offset: [0, 0],
            idf: Vec::new(),
        };
        // df and total count per term per block
        let mut stats: [HashMap<String, (u32, u64)>; 2] = [HashMap::new(), HashMap::new()];
        let mut n_docs = 0u64;
        for (text, text_b) in docs {
            n_docs += 1;
            for (block, terms) in this.terms(text, text_b).into_iter().enumerate() {
                let mut counts: HashMap<String, u64> = HashMap::new();
                for t in terms {
                    *counts.entry(t).or_default() += 1;
                }
                for (t, c) in counts {
                    let e = stats[block].entry(t).or_default();
                    e.0 += 1;
                    e.1 += c;
                }
            }
        }
        let mut next = 0u32;
        for (block, stat) in stats.into_iter().enumerate() {
            let mut kept: Vec<(String, (u32, u64))> = stat
                .into_iter()
                .filter(|(_, (df, _))| *df as usize >= this.config.min_df)
                .collect();
            if let Some(max) = this.config.max_features {
                // Most frequent first, ties by term so the choice is deterministic.
                kept.sort_by(|a, b| b.1.1.cmp(&a.1.1).then_with(|| a.0.cmp(&b.0)));
                kept.truncate(max);
            }
            // Columns in alphabetical order, as sklearn numbers them.
            let sorted: BTreeMap<String, u32> =
                kept.into_iter().map(|(t, (df, _))| (t, df)).collect();
            this.offset[block] = next;
            for (term, df) in sorted {
                let idf = ((1.0 + n_docs as f64) / (1.0 + f64::from(df))).ln() + 1.0;
                this.idf.push(idf as f32);
                this.vocab[block].insert(term, next);
                next += 1;
            }
        }
        this
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.idf.len()
    }

    /// The column of a word-block term, if it is in the vocabulary.
    pub fn word_column(&self, term: &str) -> Option<u32> {
        self.vocab[0].get(term).copied()
    }

    /// The TF-IDF rows of documents; terms outside the vocabulary are ignored.
    pub fn transform<'a>(&self, docs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Csr {
        let mut m = Csr::new(self.n_features());
        for (text, text_b) in docs {
            let mut row = Vec::new();
            for (block, terms) in self.terms(text, text_b).into_iter().enumerate() {
                // Ordered by column, so the norm sums in the same order every run.
                let mut counts: BTreeMap<u32, f32> = BTreeMap::new();
                for t in terms {
                    if let Some(&c) = self.vocab[block].get(&t) {
                        *counts.entry(c).or_default() += 1.0;
                    }
                }
                let mut entries: Vec<(u32, f32)> = counts
                    .into_iter()
                    .map(|(c, tf)| {
                        let tf = if self.config.sublinear_tf {
                            1.0 + tf.ln()
                        } else {
                            tf
                        };
                        (c, tf * self.idf[c as usize])
                    })
                    .collect();
                let norm = entries.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
                if norm > 0.0 {
                    for e in &mut entries {
                        e.1 /= norm;
                    }
                }
                row.extend(entries);
            }
            m.push_row(row);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_sklearns_default_pattern() {
        assert_eq!(
            tokenize("A café, x-ray 42 I'm_ok!"),
            vec!["café", "ray", "42", "m_ok"]
        );
    }

    /// Values checked against `TfidfVectorizer(ngram_range=(1, 2))` by hand: two documents,
    /// "good loan" and "bad loan"; "loan" has df 2 (idf 1), the rest df 1
    /// (idf ln(3/2) + 1 = 1.405465).
    #[test]
    fn weights_match_sklearns_formula() {
        let docs = [("good loan", None), ("bad loan", None)];
        let v = Tfidf::fit(TfidfConfig::default(), docs);
        assert_eq!(v.n_features(), 5); // bad, bad loan, good, good loan, loan
        let m = v.transform([("good loan", None)]);
        let (idx, val) = m.row(0);
        let good = v.word_column("good").unwrap();
        let loan = v.word_column("loan").unwrap();
        let pos = |c: u32| idx.iter().position(|&x| x == c).unwrap();
        let idf = (1.5f32).ln() + 1.0;
        let norm = (2.0 * idf * idf + 1.0f32).sqrt();
        assert!((val[pos(good)] - idf / norm).abs() < 1e-6);
        assert!((val[pos(loan)] - 1.0 / norm).abs() < 1e-6);
        assert_eq!(idx.len(), 3);
    }

    #[test]
    fn char_block_and_pair_namespace_are_separate_columns() {
        let config = TfidfConfig {
            word_ngrams: 1,
            char_ngrams: Some([2, 3]),
            ..TfidfConfig::default()
        };
        let v = Tfidf::fit(config, [("ab ab", Some("ab"))]);
        assert!(v.word_column("ab").is_some());
        assert!(v.word_column("b:ab").is_some());
        let m = v.transform([("ab", None)]);
        let (_, val) = m.row(0);
        // word block and char block are each unit length
        let total: f32 = val.iter().map(|x| x * x).sum();
        assert!((total - 2.0).abs() < 1e-5, "{total}");
    }
}
