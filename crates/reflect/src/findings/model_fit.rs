//! Model ↔ task mismatches: the vocabulary, truncation and windows at `max_length`, and a
//! tokenizer that ignores case.

use super::builder::Builder;
use super::types::{Severity, finding, pct};

/// Model ↔ task mismatches: words the vocabulary cannot read, and capitalised entities
/// under a tokenizer that ignores case.
pub(super) fn model_fit(b: &mut Builder<'_>) {
    let a = b.a;
    let Some(m) = &a.model_fit else { return };
    let unk = m.unk_rate();
    if m.words > 0 && unk >= 0.01 {
        let severity = if unk >= 0.2 {
            Severity::High
        } else if unk >= 0.05 {
            Severity::Medium
        } else {
            Severity::Low
        };
        let mut f = finding(
            "model.vocabulary".into(),
            severity,
            "model fit",
            format!(
                "{} of {} words ({} of {}) hold [UNK] under the model's vocabulary: the model cannot read them",
                pct(unk),
                a.split,
                m.words_with_unk,
                m.words
            ),
        );
        f.share(
            "share of words with an [UNK] sub-word",
            ("words_with_unk", m.words_with_unk),
            ("words", m.words),
        );
        f.detail = "Counted by the tokenize stage: a word counts when one of its sub-words is the unknown token (or the normaliser deletes it). Interval: Wilson score.".into();
        f.action = if unk >= 0.2 {
            "The vocabulary does not cover this language or script: fine-tune a model made for it (for Chinese text, e.g. bert-base-chinese or a multilingual BERT) before tuning anything else.".into()
        } else {
            "Check which words become [UNK] (emoji, rare scripts, symbols): normalise them in ingest or pick a model whose vocabulary covers them.".into()
        };
        b.push(f);
    }
    if m.examples > 0 && m.truncated > 0 {
        let share = m.truncated as f64 / m.examples as f64;
        let mut f = finding(
            "model.truncation".into(),
            if share >= 0.1 {
                Severity::High
            } else if share >= 0.01 {
                Severity::Medium
            } else {
                Severity::Low
            },
            "model fit",
            format!(
                "{} of {} texts ({} of {}) are longer than max_length = {} sub-words and were cut: the model never reads their end",
                pct(share),
                a.split,
                m.truncated,
                m.examples,
                m.max_length.map_or("?".into(), |l| l.to_string())
            ),
        );
        f.share(
            "share of texts truncated at max_length",
            ("truncated", m.truncated),
            ("examples", m.examples),
        );
        if let Some(l) = m.max_length {
            f.number("max_length", l as f64);
        }
        f.detail = "Counted by the tokenize stage on the evaluated split. Whatever decides the label after the cut is invisible to the model.".into();
        f.action = "Raise `tokenize.max_length` (BERT reads up to 512 sub-words) and compare on dev; for longer texts, put the decisive part first when rendering, or summarise.".into();
        b.push(f);
    }
    if m.examples > 0 && m.examples_split > 0 {
        let share = m.examples_split as f64 / m.examples as f64;
        let mut f = finding(
            "model.windows".into(),
            if share >= 0.1 {
                Severity::Low
            } else {
                Severity::Info
            },
            "model fit",
            format!(
                "{} of {} sentences ({} of {}) are longer than max_length = {} sub-words and were read in overlapping windows",
                pct(share),
                a.split,
                m.examples_split,
                m.examples,
                m.max_length.map_or("?".into(), |l| l.to_string())
            ),
        );
        f.share(
            "share of sentences split into windows",
            ("examples_split", m.examples_split),
            ("examples", m.examples),
        );
        f.detail = "No word is lost: every word is labelled from the window where it has the most context. Entities near a window edge still see less context.".into();
        f.action = "Compare the F1 of windowed sentences with the rest (slice by length); if they do worse, raise `tokenize.max_length` or the stride.".into();
        b.push(f);
    }
    let share = m.capitalised_share();
    if m.ignores_case == Some(true) && m.entities >= 20 && share >= 0.5 {
        let mut f = finding(
            "model.lowercasing".into(),
            if share >= 0.8 {
                Severity::High
            } else {
                Severity::Medium
            },
            "model fit",
            format!(
                "The tokenizer ignores case, yet {} of {} gold entities ({} of {}) are capitalised: capitalisation, a strong cue for names, never reaches the model",
                pct(share),
                a.split,
                m.capitalised,
                m.entities
            ),
        );
        f.share(
            "share of gold entities starting with an upper-case letter",
            ("capitalised", m.capitalised as u64),
            ("entities", m.entities as u64),
        );
        let mut detail = "`Paris`, `paris` and `PARIS` encode to the same sub-words (checked by the tokenize stage).".to_string();
        if let Some(p) = a.probes.iter().find(|p| p.name == "case") {
            detail.push_str(&format!(
                " The `case` probe flips {} of predictions: stability by construction, not robustness.",
                p.flip_rate.display(3)
            ));
        }
        if let Some(c) = &a.baseline {
            detail.push_str(&format!(
                " The baseline (which can use case) is {:+.1} points from the model on {} ({}).",
                -100.0 * c.paired.diff.estimate,
                c.metric,
                c.paired.diff.display(3)
            ));
        }
        f.detail = detail;
        f.evidence = b.ids(&m.capitalised_ids);
        f.action = "Fine-tune a cased model of the same size (e.g. a cased BERT) on the same pipeline and compare on dev; until then, read the `case` probe as uninformative.".into();
        b.push(f);
    }
}
