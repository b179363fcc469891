//! The memorisation baseline: each word gets the tag it carried most often in training, and
//! `O` when it never occurred there.
//!
//! It shows how much of a token task is just remembering names: a model that does not beat
//! it has learned nothing about context.

use std::collections::HashMap;

/// Most frequent training tag per word form.
#[derive(Debug, Clone)]
pub struct Memoriser {
    best: HashMap<String, usize>,
    outside: usize,
}

impl Memoriser {
    /// Count the tags of every word form (exact, case-sensitive) in the training sentences.
    /// Ties go to the tag with the lower id, i.e. the one earlier in `labels.json`.
    pub fn fit<'a>(
        sentences: impl IntoIterator<Item = (&'a [String], &'a [usize])>,
        n_tags: usize,
        outside: usize,
    ) -> Self {
        let mut counts: HashMap<&str, Vec<u32>> = HashMap::new();
        for (words, tags) in sentences {
            for (w, &t) in words.iter().zip(tags) {
                counts.entry(w.as_str()).or_insert_with(|| vec![0; n_tags])[t] += 1;
            }
        }
        let best = counts
            .into_iter()
            .map(|(w, c)| {
                let mut top = 0;
                for (t, &n) in c.iter().enumerate() {
                    if n > c[top] {
                        top = t;
                    }
                }
                (w.to_string(), top)
            })
            .collect();
        Self { best, outside }
    }

    /// The remembered tag of every word.
    pub fn predict(&self, words: &[String]) -> Vec<usize> {
        words
            .iter()
            .map(|w| self.best.get(w).copied().unwrap_or(self.outside))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_tag_wins_and_unknown_words_are_outside() {
        let s = |t: &str| t.split(' ').map(str::to_string).collect::<Vec<_>>();
        let train = [
            (s("Jordan plays"), vec![1usize, 0]),
            (s("Jordan plays"), vec![1, 0]),
            (s("Jordan river"), vec![2, 0]),
            (s("tie"), vec![2]),
            (s("tie"), vec![1]),
        ];
        let m = Memoriser::fit(
            train.iter().map(|(w, t)| (w.as_slice(), t.as_slice())),
            3,
            0,
        );
        assert_eq!(m.predict(&s("Jordan plays tie jordan")), vec![1, 0, 1, 0]);
    }
}
