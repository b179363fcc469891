//! One model input row ([`Window`]) and the plan that cuts a long word sequence into
//! overlapping windows without losing a word.
//!
//! A sentence whose sub-words do not fit into `max_length` is split into windows of whole
//! words that overlap by up to `stride` sub-words, so words near a cut still see context on
//! both sides in some window. Each word is *owned* by exactly one window, its centre region
//! (`centre_start..centre_end`): the cut between two neighbouring windows' centres lies in the
//! middle of their overlap, which is where a word is furthest from both windows' edges.
//! Training labels only owned words and evaluation takes each word's prediction from its
//! owner, so every word counts exactly once.

use std::ops::Range;

/// One encoded model input: a whole example (sequence task, short token example) or one
/// window of a long token example. Mirrors a row of the tokenize Parquet files
/// (`flowcore::schema::tokenize`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Window {
    /// Example id (from ingest).
    pub id: String,
    /// Window index within the example, from 0.
    pub window: u32,
    /// Absolute index of the first word in this window.
    pub first_word: u32,
    /// First word whose prediction this window owns (absolute index).
    pub centre_start: u32,
    /// One past the last word whose prediction this window owns.
    pub centre_end: u32,
    /// Sub-word ids, special tokens included, no padding: `(length,)`.
    pub input_ids: Vec<u32>,
    /// Token type (segment) ids: `(length,)`.
    pub type_ids: Vec<u8>,
    /// Absolute word index of each sub-word, -1 for special tokens: `(length,)`.
    pub word_ids: Vec<i32>,
    /// Token task: label id per sub-word, -100 where ignored: `(length,)`. Empty when the
    /// window was encoded without labels (prediction time) or for the sequence task.
    pub labels: Vec<i16>,
    /// Sequence task: the example's label id; `None` for the token task or without labels.
    pub label: Option<i16>,
    /// Multi-label task: the ids of the example's labels, ascending (the sparse form of its
    /// multi-hot label vector; may be empty); `None` for other tasks or without labels.
    pub label_set: Option<Vec<i16>>,
    /// Number of sub-words including special tokens (`input_ids.len()`).
    pub length: u32,
}

/// The label value of sub-words that carry no label (special tokens, continuations in
/// `first` mode, words owned by another window), as in PyTorch's `ignore_index`.
pub const IGNORE: i16 = -100;

impl Window {
    /// Whether this window owns word `word` (absolute index): the window where the word is
    /// most central among the windows of its example, whose prediction the word takes.
    pub fn is_central(&self, word: u32) -> bool {
        (self.centre_start..self.centre_end).contains(&word)
    }

    /// The words this window owns, as an absolute range.
    pub fn centre(&self) -> Range<u32> {
        self.centre_start..self.centre_end
    }

    /// Positions of the first sub-word of every word in this window, as
    /// `(position in input_ids, absolute word index)`, in order. The prediction for a word
    /// is read at its first sub-word (label alignment `first`).
    pub fn first_subwords(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        let mut previous = -1;
        self.word_ids
            .iter()
            .enumerate()
            .filter_map(move |(pos, &w)| {
                if w >= 0 && w != previous {
                    previous = w;
                    Some((pos, w as u32))
                } else {
                    None
                }
            })
    }
}

/// A planned window: the words `words` it contains and the words `centre` it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowPlan {
    /// Words in the window (absolute indices).
    pub words: Range<usize>,
    /// Words the window owns.
    pub centre: Range<usize>,
}

/// Cut words with `counts[i]` sub-words each into windows of at most `budget` sub-words
/// (`max_length` minus special tokens) that overlap by at most `stride` sub-words.
///
/// Every word lies in at least one window and in exactly one centre; a word longer than
/// `budget` gets a window of its own (the caller truncates its sub-words). Needs
/// `budget >= 1`; `stride` is clamped so every window advances by at least one word.
pub fn plan_windows(counts: &[usize], budget: usize, stride: usize) -> Vec<WindowPlan> {
    let n = counts.len();
    if n == 0 {
        return vec![WindowPlan {
            words: 0..0,
            centre: 0..0,
        }];
    }
    let mut spans: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    loop {
        let mut end = start;
        let mut used = 0;
        while end < n && used + counts[end] <= budget {
            used += counts[end];
            end += 1;
        }
        if end == start {
            // A single word longer than the budget: alone in its window.
            end = start + 1;
        }
        spans.push(start..end);
        if end == n {
            break;
        }
        // Step back over at most `stride` sub-words of context, keeping room for the next
        // word so the next window advances past `end`, and starting after `start`.
        let mut next = end;
        let mut overlap = 0;
        while next > start + 1 {
            let extra = counts[next - 1];
            if overlap + extra > stride || overlap + extra + counts[end] > budget {
                break;
            }
            overlap += extra;
            next -= 1;
        }
        start = next;
    }
    // Centre cut between windows k and k+1: the middle of their overlap (or the boundary
    // when they do not overlap). Strictly increasing because starts and ends both are.
    let cuts: Vec<usize> = spans
        .windows(2)
        .map(|pair| (pair[1].start + pair[0].end) / 2)
        .collect();
    spans
        .iter()
        .enumerate()
        .map(|(k, words)| {
            let lo = if k == 0 { 0 } else { cuts[k - 1] };
            let hi = if k + 1 == spans.len() { n } else { cuts[k] };
            WindowPlan {
                words: words.clone(),
                centre: lo..hi,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word in exactly one centre, centres inside their windows, windows within budget.
    fn check(counts: &[usize], budget: usize, stride: usize) -> Vec<WindowPlan> {
        let plans = plan_windows(counts, budget, stride);
        let mut owner = vec![0usize; counts.len()];
        for p in &plans {
            assert!(
                p.centre.start >= p.words.start && p.centre.end <= p.words.end,
                "{p:?}"
            );
            assert!(!p.centre.is_empty(), "{plans:?}");
            let used: usize = counts[p.words.clone()].iter().sum();
            assert!(used <= budget || p.words.len() == 1, "{p:?} uses {used}");
            for w in p.centre.clone() {
                owner[w] += 1;
            }
        }
        assert!(owner.iter().all(|&c| c == 1), "{owner:?} {plans:?}");
        for pair in plans.windows(2) {
            assert!(pair[1].words.start > pair[0].words.start);
            assert!(pair[1].words.end > pair[0].words.end);
        }
        plans
    }

    #[test]
    fn short_input_is_one_window() {
        let plans = check(&[1, 2, 3], 10, 2);
        assert_eq!(
            plans,
            vec![WindowPlan {
                words: 0..3,
                centre: 0..3
            }]
        );
    }

    #[test]
    fn long_input_overlaps_by_stride_and_cuts_centres_in_the_middle() {
        let plans = check(&[1; 10], 4, 2);
        assert_eq!(plans[0].words, 0..4);
        assert_eq!(plans[1].words, 2..6);
        // overlap of window 0 and 1 is words 2..4; the cut is at 3
        assert_eq!(plans[0].centre, 0..3);
        assert_eq!(plans[1].centre, 3..5);
        assert_eq!(plans.last().map(|p| p.words.end), Some(10));
    }

    #[test]
    fn oversized_word_gets_its_own_window() {
        let plans = check(&[1, 50, 1, 1], 4, 2);
        assert!(plans.iter().any(|p| p.words == (1..2)));
    }

    #[test]
    fn stride_at_least_budget_still_advances() {
        check(&[2; 30], 5, 100);
        check(&[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9], 9, 4);
        check(&[1; 7], 1, 0);
        // No words: one empty window (an empty example still gets its special tokens).
        assert_eq!(
            plan_windows(&[], 4, 2),
            [WindowPlan {
                words: 0..0,
                centre: 0..0
            }]
        );
    }

    #[test]
    fn first_subwords_skip_continuations_and_specials() {
        let w = Window {
            word_ids: vec![-1, 4, 4, 5, 6, 6, -1],
            ..Window::default()
        };
        let firsts: Vec<_> = w.first_subwords().collect();
        assert_eq!(firsts, vec![(1, 4), (3, 5), (4, 6)]);
    }
}
