//! Robustness probes: perturb the test inputs in ways that should not change the labels,
//! re-encode them with the tokenize artifact's encoder, and predict again.
//!
//! Each probe writes `predictions-probe-<name>-test.parquet` in the shared predictions schema
//! with the **ids and word indices of the clean predictions** and the clean gold labels, so
//! reflect computes flip rates by joining on `(id, word)` (token task) or `id` (sequence
//! task). Token task: only words that survive the perturbation have a row (the `punct` probe
//! drops punctuation words; `entity_swap` maps the i-th word of a replacement entity to the
//! i-th word of the original and drops the rest), so word indices may have gaps; the `token`
//! column holds the perturbed word. Sequence task: one row per example, `token` holds the
//! perturbed text.
//!
//! | probe | token task | sequence task |
//! |---|---|---|
//! | `case` | every word of an example upper- or lower-cased (coin per example) | the whole text |
//! | `typo` | a character swapped, deleted, replaced or doubled in `typo_rate` of the words with ≥ 3 letters | same, in whitespace-separated words |
//! | `entity_swap` | every gold entity replaced by a random train entity of the same type | every capitalised mid-sentence word (a likely name) replaced by another seen in train |
//! | `punct` | punctuation words dropped | punctuation characters removed |
//!
//! Everything is seeded (`probe_seed`), so the same params give the same files.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use metrics::{PredictionRow, Predictions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokenize::Encoder;

use crate::error::{EvaluateError, Result};
use crate::scorer::Scorer;
use crate::split_text::SplitText;
use crate::text::{is_punct, is_punct_word};
use infer::argmax;

/// One robustness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// Upper- or lower-case everything.
    Case,
    /// Inject character typos.
    Typo,
    /// Swap entities for others of the same type.
    EntitySwap,
    /// Remove punctuation.
    Punct,
}

impl Probe {
    /// Every probe, in report order.
    pub const ALL: [Self; 4] = [Self::Case, Self::Typo, Self::EntitySwap, Self::Punct];

    /// The name used in params and file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Case => "case",
            Self::Typo => "typo",
            Self::EntitySwap => "entity_swap",
            Self::Punct => "punct",
        }
    }
}

impl std::str::FromStr for Probe {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown probe `{s}`; expected one of case, typo, entity_swap, punct")
            })
    }
}

/// The predictions file of a probe on a split: `predictions-probe-<name>-<split>.parquet`.
pub fn file(probe: Probe, split: &str) -> String {
    format!("predictions-probe-{}-{split}.parquet", probe.name())
}

/// What the probes read.
#[derive(Debug)]
pub struct ProbeContext<'a> {
    /// The model and the data's labels.
    pub scorer: &'a Scorer,
    /// The tokenize artifact's encoder.
    pub encoder: &'a Encoder,
    /// The clean test predictions (ids, word indices, gold labels).
    pub clean: &'a Predictions,
    /// The test split's words or texts.
    pub test: &'a SplitText,
    /// The train split (entity pools); `entity_swap` is skipped without it.
    pub train: Option<&'a SplitText>,
    /// Seed of all random choices.
    pub seed: u64,
    /// Fraction of eligible words the typo probe changes.
    pub typo_rate: f64,
}

/// A perturbed token-task example: the new words and, for each, the clean word it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PerturbedWords {
    id: String,
    words: Vec<String>,
    align: Vec<Option<u32>>,
}

/// A perturbed sequence-task example.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PerturbedText {
    id: String,
    text: String,
    text_b: Option<String>,
}

/// Runs one probe on the test split; `None` when it does not apply (no train split for
/// `entity_swap`, or no candidate names in a sequence task's train split).
pub fn run_probe(ctx: &ProbeContext<'_>, probe: Probe) -> Result<Option<Predictions>> {
    let index = Probe::ALL.iter().position(|&p| p == probe).unwrap_or(0) as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    tracing::info!(probe = probe.name(), "robustness probe");
    match ctx.scorer.labels.task {
        flowcore::TaskKind::Token => {
            let Some(perturbed) = perturb_token(ctx, probe, &mut rng) else {
                tracing::warn!(
                    probe = probe.name(),
                    "probe skipped: it needs the ingest train split"
                );
                return Ok(None);
            };
            score_token(ctx, &perturbed).map(Some)
        }
        flowcore::TaskKind::Sequence => {
            let Some(perturbed) = perturb_text(ctx, probe, &mut rng) else {
                tracing::warn!(
                    probe = probe.name(),
                    "probe skipped: no names to swap in the train split"
                );
                return Ok(None);
            };
            score_text(ctx, &perturbed).map(Some)
        }
        flowcore::TaskKind::Multilabel => {
            tracing::warn!(
                probe = probe.name(),
                "probe skipped: robustness probes score token and single-label sequence tasks"
            );
            Ok(None)
        }
    }
}

fn perturb_token(
    ctx: &ProbeContext<'_>,
    probe: Probe,
    rng: &mut ChaCha8Rng,
) -> Option<Vec<PerturbedWords>> {
    let pool = match probe {
        Probe::EntitySwap => Some(entity_pool(ctx.train?)),
        _ => None,
    };
    let out = ctx
        .test
        .token
        .iter()
        .map(|ex| {
            let identity = |words: Vec<String>| PerturbedWords {
                id: ex.id.clone(),
                align: (0..words.len() as u32).map(Some).collect(),
                words,
            };
            match probe {
                Probe::Case => {
                    let upper = rng.random_bool(0.5);
                    identity(ex.words.iter().map(|w| recase(w, upper)).collect())
                }
                Probe::Typo => identity(
                    ex.words
                        .iter()
                        .map(|w| maybe_typo(w, ctx.typo_rate, rng))
                        .collect(),
                ),
                Probe::Punct => {
                    let (words, align) = ex
                        .words
                        .iter()
                        .enumerate()
                        .filter(|(_, w)| !is_punct_word(w))
                        .map(|(i, w)| (w.clone(), Some(i as u32)))
                        .unzip();
                    PerturbedWords {
                        id: ex.id.clone(),
                        words,
                        align,
                    }
                }
                Probe::EntitySwap => {
                    let tags = ctx.test.gold.get(&ex.id).cloned().unwrap_or_default();
                    swap_entities(
                        &ex.id,
                        &ex.words,
                        &tags,
                        pool.as_ref().map_or(&BTreeMap::new(), |p| p),
                        rng,
                    )
                }
            }
        })
        .collect();
    Some(out)
}

fn recase(s: &str, upper: bool) -> String {
    if upper {
        s.to_uppercase()
    } else {
        s.to_lowercase()
    }
}

/// Train entities by type, each a word sequence, sorted so the choice depends on the seed only.
fn entity_pool(train: &SplitText) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut pool: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    for ex in &train.token {
        let Some(tags) = &ex.tags else { continue };
        let Ok(entities) = metrics::entity::get_entities(tags.as_slice()) else {
            continue;
        };
        for (kind, first, last) in entities {
            if let Some(words) = ex.words.get(first..=last) {
                pool.entry(kind).or_default().insert(words.to_vec());
            }
        }
    }
    pool.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

fn swap_entities(
    id: &str,
    words: &[String],
    tags: &[String],
    pool: &BTreeMap<String, Vec<Vec<String>>>,
    rng: &mut ChaCha8Rng,
) -> PerturbedWords {
    let entities = if tags.len() == words.len() {
        metrics::entity::get_entities(tags).unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut out = PerturbedWords {
        id: id.to_owned(),
        words: Vec::with_capacity(words.len()),
        align: Vec::with_capacity(words.len()),
    };
    let mut next = 0;
    for (kind, first, last) in entities {
        for (i, w) in words.iter().enumerate().take(first).skip(next) {
            out.words.push(w.clone());
            out.align.push(Some(i as u32));
        }
        let original = &words[first..=last];
        let candidates: Vec<&Vec<String>> = pool
            .get(&kind)
            .map(|c| c.iter().filter(|e| e.as_slice() != original).collect())
            .unwrap_or_default();
        let replacement: &[String] = if candidates.is_empty() {
            original
        } else {
            candidates[rng.random_range(0..candidates.len())]
        };
        for (j, w) in replacement.iter().enumerate() {
            out.words.push(w.clone());
            // The j-th word of the new entity plays the role of the j-th of the old one.
            out.align
                .push((first + j <= last).then_some((first + j) as u32));
        }
        next = last + 1;
    }
    for (i, w) in words.iter().enumerate().skip(next) {
        out.words.push(w.clone());
        out.align.push(Some(i as u32));
    }
    out
}

/// With probability `rate`, one character typo in a word with at least 3 letters.
fn maybe_typo(word: &str, rate: f64, rng: &mut ChaCha8Rng) -> String {
    let chars: Vec<char> = word.chars().collect();
    let letters: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_alphabetic())
        .collect();
    if letters.len() < 3 || !rng.random_bool(rate) {
        return word.to_owned();
    }
    let mut out = chars.clone();
    let at = letters[rng.random_range(0..letters.len())];
    match rng.random_range(0..4u8) {
        0 => {
            // Swap with the next letter; a pair of equal letters falls back to a deletion.
            match letters
                .iter()
                .position(|&l| l == at)
                .and_then(|k| letters.get(k + 1))
            {
                Some(&next) if out[next] != out[at] => out.swap(at, next),
                _ => {
                    out.remove(at);
                }
            }
        }
        1 => {
            out.remove(at);
        }
        2 => {
            let mut c = char::from(b'a' + rng.random_range(0..26u8));
            if c == out[at].to_ascii_lowercase() {
                c = if c == 'z' {
                    'a'
                } else {
                    char::from(c as u8 + 1)
                };
            }
            out[at] = if out[at].is_uppercase() {
                c.to_ascii_uppercase()
            } else {
                c
            };
        }
        _ => out.insert(at, chars[at]),
    }
    out.into_iter().collect()
}

fn score_token(ctx: &ProbeContext<'_>, perturbed: &[PerturbedWords]) -> Result<Predictions> {
    let gold: HashMap<(&str, u32), &str> = ctx
        .clean
        .rows
        .iter()
        .filter_map(|r| r.word.map(|w| ((r.id.as_str(), w), r.gold.as_str())))
        .collect();
    let clean_ids: std::collections::HashSet<&str> = gold.keys().map(|(id, _)| *id).collect();
    let mut windows = Vec::new();
    for p in perturbed
        .iter()
        .filter(|p| !p.words.is_empty() && clean_ids.contains(p.id.as_str()))
    {
        windows.extend(ctx.encoder.encode_words(&p.id, &p.words)?);
    }
    let examples = ctx.scorer.score(&windows)?;
    let by_id: HashMap<&str, &infer::ExampleOutput> =
        examples.iter().map(|e| (e.id.as_str(), e)).collect();
    let labels = &ctx.scorer.labels;
    let mut out = Predictions::for_labels(labels);
    for p in perturbed {
        let Some(ex) = by_id.get(p.id.as_str()) else {
            continue;
        };
        for (k, probs) in ex.probs.iter().enumerate() {
            let Some(Some(orig)) = p.align.get(k) else {
                continue;
            };
            let Some(&g) = gold.get(&(p.id.as_str(), *orig)) else {
                continue;
            };
            out.rows.push(PredictionRow {
                id: p.id.clone(),
                word: Some(*orig),
                token: p.words.get(k).cloned(),
                gold: g.to_owned(),
                pred: label_name(labels, argmax(probs))?,
                probs: Some(probs.clone()),
            });
        }
    }
    Ok(out)
}

fn label_name(labels: &flowcore::LabelMap, i: usize) -> Result<String> {
    labels
        .name(i)
        .map(str::to_owned)
        .ok_or_else(|| EvaluateError::Invalid(format!("label id {i} outside {:?}", labels.labels)))
}

fn perturb_text(
    ctx: &ProbeContext<'_>,
    probe: Probe,
    rng: &mut ChaCha8Rng,
) -> Option<Vec<PerturbedText>> {
    let names = match probe {
        Probe::EntitySwap => {
            let train = ctx.train?;
            let names: Vec<String> = train
                .text
                .iter()
                .flat_map(|ex| name_positions(&ex.text).into_iter().map(|(_, name)| name))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if names.is_empty() {
                return None;
            }
            names
        }
        _ => Vec::new(),
    };
    let edit = |text: &str, upper: bool, rng: &mut ChaCha8Rng| -> String {
        match probe {
            Probe::Case => recase(text, upper),
            Probe::Typo => text
                .split(' ')
                .map(|w| maybe_typo(w, ctx.typo_rate, rng))
                .collect::<Vec<_>>()
                .join(" "),
            Probe::Punct => text
                .chars()
                .filter(|&c| !is_punct(c))
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            Probe::EntitySwap => swap_names(text, &names, rng),
        }
    };
    Some(
        ctx.test
            .text
            .iter()
            .map(|ex| {
                let upper = rng.random_bool(0.5);
                PerturbedText {
                    id: ex.id.clone(),
                    text: edit(&ex.text, upper, rng),
                    text_b: ex.text_b.as_deref().map(|b| edit(b, upper, rng)),
                }
            })
            .collect(),
    )
}

/// Likely names: capitalised words (`Nokia`) that do not start a sentence, as
/// `(index in text.split(' '), the word without surrounding punctuation)`.
fn name_positions(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut sentence_start = true;
    for (i, raw) in text.split(' ').enumerate() {
        let core = raw.trim_matches(is_punct);
        let mut chars = core.chars();
        let capitalised = chars.next().is_some_and(char::is_uppercase)
            && core.chars().count() >= 2
            && chars.all(char::is_lowercase);
        if capitalised && !sentence_start {
            out.push((i, core.to_owned()));
        }
        if !raw.is_empty() {
            sentence_start = raw.ends_with(['.', '!', '?']);
        }
    }
    out
}

fn swap_names(text: &str, names: &[String], rng: &mut ChaCha8Rng) -> String {
    let positions: HashMap<usize, String> = name_positions(text).into_iter().collect();
    text.split(' ')
        .enumerate()
        .map(|(i, raw)| match positions.get(&i) {
            Some(core) => {
                let others: Vec<&String> = names.iter().filter(|n| *n != core).collect();
                if others.is_empty() {
                    return raw.to_owned();
                }
                let new = others[rng.random_range(0..others.len())];
                raw.replacen(core.as_str(), new, 1)
            }
            None => raw.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn score_text(ctx: &ProbeContext<'_>, perturbed: &[PerturbedText]) -> Result<Predictions> {
    let gold: HashMap<&str, &str> = ctx
        .clean
        .rows
        .iter()
        .map(|r| (r.id.as_str(), r.gold.as_str()))
        .collect();
    let mut windows = Vec::with_capacity(perturbed.len());
    let mut kept = Vec::with_capacity(perturbed.len());
    for p in perturbed {
        if !gold.contains_key(p.id.as_str()) {
            continue;
        }
        windows.push(
            ctx.encoder
                .encode_text(&p.id, &p.text, p.text_b.as_deref())?
                .0,
        );
        kept.push(p);
    }
    let examples = ctx.scorer.score(&windows)?;
    let labels = &ctx.scorer.labels;
    let mut out = Predictions::for_labels(labels);
    for (p, ex) in kept.iter().zip(&examples) {
        let probs = ex.probs.first().cloned().unwrap_or_default();
        out.rows.push(PredictionRow {
            id: p.id.clone(),
            word: None,
            token: Some(match &p.text_b {
                Some(b) => format!("{} [SEP] {b}", p.text),
                None => p.text.clone(),
            }),
            gold: gold
                .get(p.id.as_str())
                .map(|g| (*g).to_owned())
                .unwrap_or_default(),
            pred: label_name(labels, argmax(&probs))?,
            probs: Some(probs),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn typos_change_one_letter_and_are_seeded() {
        let mut a = ChaCha8Rng::seed_from_u64(1);
        let mut b = ChaCha8Rng::seed_from_u64(1);
        for w in ["London", "Apple", "reported", "Zürich"] {
            let x = maybe_typo(w, 1.0, &mut a);
            assert_eq!(x, maybe_typo(w, 1.0, &mut b));
            assert_ne!(x, w);
            let diff = x.chars().count() as i64 - w.chars().count() as i64;
            assert!(diff.abs() <= 1, "{w} -> {x}");
        }
        // Too short or no letters: unchanged.
        assert_eq!(maybe_typo("in", 1.0, &mut a), "in");
        assert_eq!(maybe_typo("2024", 1.0, &mut a), "2024");
        assert_eq!(maybe_typo("London", 0.0, &mut a), "London");
    }

    #[test]
    fn entity_swap_aligns_words_by_position_in_the_entity() {
        let pool = BTreeMap::from([("LOC".to_string(), vec![s(&["Paris"]), s(&["New", "York"])])]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let words = s(&["I", "love", "New", "York", "City", "."]);
        let tags = s(&["O", "O", "B-LOC", "I-LOC", "I-LOC", "O"]);
        let p = swap_entities("x", &words, &tags, &pool, &mut rng);
        // "New York City" is not in the pool, so one of the two others replaces it.
        assert_eq!(p.words[..2], words[..2]);
        assert_eq!(p.words.last().map(String::as_str), Some("."));
        assert_eq!(p.align.first(), Some(&Some(0)));
        assert_eq!(p.align.last(), Some(&Some(5)));
        let inner: Vec<Option<u32>> = p.align[2..p.align.len() - 1].to_vec();
        assert!(inner == [Some(2)] || inner == [Some(2), Some(3)], "{p:?}");
    }

    #[test]
    fn entity_swap_keeps_an_entity_without_alternatives() {
        let pool = BTreeMap::from([("PER".to_string(), vec![s(&["Ann"])])]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p = swap_entities(
            "x",
            &s(&["Ann", "ran"]),
            &s(&["B-PER", "O"]),
            &pool,
            &mut rng,
        );
        assert_eq!(p.words, s(&["Ann", "ran"]));
        assert_eq!(p.align, [Some(0), Some(1)]);
    }

    #[test]
    fn names_are_capitalised_words_inside_sentences() {
        let names = name_positions("Shares of Nokia rose. Fiskars fell, said Reuters.");
        assert_eq!(
            names,
            [(2, "Nokia".to_string()), (7, "Reuters".to_string())]
        );
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let swapped = swap_names("Shares of Nokia rose.", &s(&["Nokia", "Elisa"]), &mut rng);
        assert_eq!(swapped, "Shares of Elisa rose.");
    }

    #[test]
    fn probe_names_round_trip() {
        for p in Probe::ALL {
            assert_eq!(p.name().parse::<Probe>().unwrap(), p);
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
        assert!("bogus".parse::<Probe>().is_err());
        assert_eq!(
            file(Probe::EntitySwap, "test"),
            "predictions-probe-entity_swap-test.parquet"
        );
    }
}
