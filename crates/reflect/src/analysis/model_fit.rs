//! Whether the model can see what the task needs: words its vocabulary cannot read (`[UNK]`,
//! counted by the tokenize stage) and, for token tasks, capitalised entities under a tokenizer
//! that ignores case.

use serde::{Deserialize, Serialize};

use super::prepared::Prepared;
use crate::error::Result;
use crate::params::Options;

/// Model ↔ task fit of one split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelFit {
    /// The tokenizer ignores case.
    pub ignores_case: Option<bool>,
    /// Words of the split (token tasks, from tokenize).
    pub words: u64,
    /// Words holding `[UNK]`.
    pub words_with_unk: u64,
    /// Gold entities of the split (token tasks).
    pub entities: usize,
    /// Of them, starting with an upper-case letter.
    pub capitalised: usize,
    /// Examples with a capitalised gold entity (at most `max_examples`).
    pub capitalised_ids: Vec<String>,
    /// Examples of the split (from tokenize; 0 when unknown).
    #[serde(default)]
    pub examples: u64,
    /// Sequence task: examples cut at `max_length`.
    #[serde(default)]
    pub truncated: u64,
    /// Token task: examples split into several windows.
    #[serde(default)]
    pub examples_split: u64,
    /// The encoded window length, when known.
    #[serde(default)]
    pub max_length: Option<u64>,
}

impl ModelFit {
    /// Share of words holding `[UNK]` (0 when unknown).
    pub fn unk_rate(&self) -> f64 {
        if self.words == 0 {
            0.0
        } else {
            self.words_with_unk as f64 / self.words as f64
        }
    }

    /// Share of gold entities that start with an upper-case letter (0 without entities).
    pub fn capitalised_share(&self) -> f64 {
        if self.entities == 0 {
            0.0
        } else {
            self.capitalised as f64 / self.entities as f64
        }
    }
}

/// Whether a word starts with an upper-case letter.
pub fn capitalised(word: &str) -> bool {
    word.chars().next().is_some_and(char::is_uppercase)
}

/// The analysis; `None` without tokenize facts.
pub fn run(p: &Prepared<'_>, opts: &Options, notes: &mut Vec<String>) -> Result<Option<ModelFit>> {
    let Some(facts) = &p.inputs.tokenizer else {
        notes.push(
            "model fit: no tokenize artifact (or one without [UNK] and case facts): vocabulary and case checks skipped".into(),
        );
        return Ok(None);
    };
    let mut fit = ModelFit {
        ignores_case: facts.ignores_case,
        words: facts.words.unwrap_or(0),
        words_with_unk: facts.words_with_unk.unwrap_or(0),
        examples: facts.examples.unwrap_or(0),
        truncated: facts.truncated.unwrap_or(0),
        examples_split: facts.examples_split.unwrap_or(0),
        max_length: facts.max_length,
        ..ModelFit::default()
    };
    if let Some(spans) = &p.spans {
        for (ex, gold) in p.split.examples.iter().zip(&spans.gold) {
            let mut any = false;
            for g in gold {
                fit.entities += 1;
                if ex.words.get(g.start).is_some_and(|w| capitalised(w)) {
                    fit.capitalised += 1;
                    any = true;
                }
            }
            if any && fit.capitalised_ids.len() < opts.max_examples {
                fit.capitalised_ids.push(ex.id.clone());
            }
        }
    }
    Ok(Some(fit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::prepared::TokenizerFacts;

    #[test]
    fn capitalisation_is_the_first_letter_in_any_script() {
        assert!(capitalised("Paris"));
        assert!(capitalised("Émile"));
        assert!(!capitalised("paris"));
        assert!(!capitalised("@paris"));
        assert!(!capitalised("北京"));
        assert!(!capitalised(""));
    }

    #[test]
    fn facts_come_from_the_tokenize_manifest() {
        assert_eq!(
            TokenizerFacts::from_tokenize_metrics(&serde_json::json!({"max_length": 128}), "test"),
            None
        );
        let m = serde_json::json!({
            "ignores_case": true,
            "splits": {"test": {"words": 200, "words_with_unk": 114}}
        });
        let f = TokenizerFacts::from_tokenize_metrics(&m, "test").unwrap();
        assert_eq!(f.ignores_case, Some(true));
        assert_eq!((f.words, f.words_with_unk), (Some(200), Some(114)));
        let fit = ModelFit {
            words: 200,
            words_with_unk: 114,
            ..ModelFit::default()
        };
        assert!((fit.unk_rate() - 0.57).abs() < 1e-12);
    }
}
