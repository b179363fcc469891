//! Entity-level metrics on tag sequences, equal to seqeval 1.2.2.
//!
//! Two ways of reading entities out of tags, as seqeval has them:
//! - [`Mode::Default`]: conlleval-compatible and lenient (`seqeval.metrics.sequence_labeling`).
//!   Any tag's first character is its prefix and the rest after the first `-` its type; an
//!   orphan `I-X` starts an entity, a type change inside an entity ends it and starts another.
//!   Sentences are concatenated with an `O` between them, as seqeval does.
//! - [`Mode::Strict`]: entities exist only where the tag scheme's patterns say so
//!   (`seqeval.metrics.v1` with `mode="strict"`): an orphan `I-X` in IOB2 is no entity, a
//!   broken entity counts as nothing. A tag the scheme does not allow is an error.
//!
//! Per entity type: precision, recall, F1 and support; micro, macro and weighted averages with
//! seqeval's handling of zero divisions (macro of no types is NaN, weighted of no gold entities
//! is the zero-division value); the text report byte for byte as seqeval prints it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use flowcore::TagScheme;
use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::numpy;
use crate::report::{self, Prfs, ZeroDivision};

/// How entities are read out of tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// seqeval's default, conlleval-compatible, lenient reading.
    Default,
    /// seqeval's strict reading under a tag scheme.
    Strict(TagScheme),
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Strict(s) => write!(f, "strict ({})", scheme_name(*s)),
        }
    }
}

/// An entity found in a sentence: `words[start..end]` of type `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entity {
    /// Index of the sentence.
    pub sentence: usize,
    /// First word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// Entity type (`PER`); `_` for a tag without a type, as seqeval names it.
    pub kind: String,
}

/// Entity metrics of a corpus: per type (sorted by name, as seqeval sorts) and averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityReport {
    /// Per entity type.
    pub per_type: BTreeMap<String, Prfs>,
    /// Counts pooled over all types.
    pub micro: Prfs,
    /// Unweighted mean over types (NaN when there are no types).
    #[serde(rename = "macro")]
    pub macro_avg: Prfs,
    /// Mean over types weighted by support.
    pub weighted: Prfs,
}

/// Checks what seqeval's `check_consistent_length` checks: as many sentences and words.
pub fn check_lengths<S: AsRef<str>>(y_true: &[Vec<S>], y_pred: &[Vec<S>]) -> Result<()> {
    if y_true.is_empty() && y_pred.is_empty() {
        return Err(MetricsError::Input("no sentences to score".into()));
    }
    if y_true.len() != y_pred.len() {
        return Err(MetricsError::Input(format!(
            "{} gold sentences but {} predicted",
            y_true.len(),
            y_pred.len()
        )));
    }
    for (i, (t, p)) in y_true.iter().zip(y_pred).enumerate() {
        if t.len() != p.len() {
            return Err(MetricsError::Input(format!(
                "sentence {i}: {} gold tags but {} predicted",
                t.len(),
                p.len()
            )));
        }
    }
    Ok(())
}

/// The entities of every sentence under `mode`.
pub fn entities<S: AsRef<str>>(sentences: &[Vec<S>], mode: Mode) -> Result<Vec<Entity>> {
    match mode {
        Mode::Default => default_entities(sentences),
        Mode::Strict(scheme) => {
            let scheme = Scheme::of(scheme)?;
            let mut out = Vec::new();
            for (i, s) in sentences.iter().enumerate() {
                strict_entities(i, s, scheme, &mut out)?;
            }
            Ok(out)
        }
    }
}

/// seqeval's `get_entities` on one flat tag sequence: `(type, first, last)` with the last
/// word inclusive, exactly as seqeval returns them.
pub fn get_entities<S: AsRef<str>>(seq: &[S]) -> Result<Vec<(String, usize, usize)>> {
    let mut chunks = Vec::new();
    let mut prev_tag = 'O';
    // seqeval starts with an empty previous type, not `_`: an untyped first tag starts a chunk.
    let mut prev_type = "";
    let mut begin = 0usize;
    let tail = ["O"];
    let all = seq.iter().map(AsRef::as_ref).chain(tail.iter().copied());
    for (i, chunk) in all.enumerate() {
        let (tag, ty) = split_default(chunk)
            .ok_or_else(|| MetricsError::Input(format!("position {i}: empty tag")))?;
        if end_of_chunk(prev_tag, tag, prev_type, ty) {
            chunks.push((prev_type.to_owned(), begin, i - 1));
        }
        if start_of_chunk(prev_tag, tag, prev_type, ty) {
            begin = i;
        }
        prev_tag = tag;
        prev_type = ty;
    }
    Ok(chunks)
}

/// Entity metrics per type and averaged, as seqeval's `precision_recall_fscore_support`
/// and `classification_report` compute them.
pub fn entity_report<S: AsRef<str>>(
    y_true: &[Vec<S>],
    y_pred: &[Vec<S>],
    mode: Mode,
    zero_division: ZeroDivision,
) -> Result<EntityReport> {
    check_lengths(y_true, y_pred)?;
    let gold = group(entities(y_true, mode)?);
    let pred = group(entities(y_pred, mode)?);
    let names: BTreeSet<&String> = gold.keys().chain(pred.keys()).collect();
    let empty = HashSet::new();
    let mut tp = Vec::with_capacity(names.len());
    let mut pred_sum = Vec::with_capacity(names.len());
    let mut true_sum = Vec::with_capacity(names.len());
    for name in &names {
        let g = gold.get(*name).unwrap_or(&empty);
        let p = pred.get(*name).unwrap_or(&empty);
        tp.push(g.intersection(p).count());
        pred_sum.push(p.len());
        true_sum.push(g.len());
    }
    let zd = zero_division.value();
    let per: Vec<Prfs> = (0..names.len())
        .map(|i| prf(tp[i], pred_sum[i], true_sum[i], zd))
        .collect();
    let micro = prf(
        tp.iter().sum(),
        pred_sum.iter().sum(),
        true_sum.iter().sum(),
        zd,
    );
    let support: usize = true_sum.iter().sum();
    let column = |f: fn(&Prfs) -> f64| per.iter().map(f).collect::<Vec<f64>>();
    let (ps, rs, fs) = (
        column(|x| x.precision),
        column(|x| x.recall),
        column(|x| x.f1),
    );
    let macro_avg = Prfs {
        precision: numpy::mean(&ps),
        recall: numpy::mean(&rs),
        f1: numpy::mean(&fs),
        support,
    };
    let weighted = if support == 0 {
        // seqeval's special case: no gold entities at all.
        let none_predicted = pred_sum.iter().sum::<usize>() == 0;
        Prfs {
            precision: if none_predicted { zd } else { 0.0 },
            recall: zd,
            f1: if none_predicted { zd } else { 0.0 },
            support: 0,
        }
    } else {
        let avg = |a: &[f64]| numpy::weighted_average(a, &true_sum).unwrap_or(f64::NAN);
        Prfs {
            precision: avg(&ps),
            recall: avg(&rs),
            f1: avg(&fs),
            support,
        }
    };
    Ok(EntityReport {
        per_type: names.into_iter().cloned().zip(per).collect(),
        micro,
        macro_avg,
        weighted,
    })
}

/// Token-level accuracy over all words (seqeval's `accuracy_score`); NaN without words.
pub fn token_accuracy<S: AsRef<str>>(y_true: &[Vec<S>], y_pred: &[Vec<S>]) -> Result<f64> {
    check_lengths(y_true, y_pred)?;
    let mut correct = 0usize;
    let mut total = 0usize;
    for (t, p) in y_true.iter().zip(y_pred) {
        total += t.len();
        correct += t
            .iter()
            .zip(p)
            .filter(|(a, b)| a.as_ref() == b.as_ref())
            .count();
    }
    Ok(if total == 0 {
        f64::NAN
    } else {
        correct as f64 / total as f64
    })
}

impl EntityReport {
    /// The text report exactly as seqeval's `classification_report(digits=…)` prints it.
    /// seqeval refuses to print a report without any entity type; this prints the header and
    /// the averages instead.
    pub fn to_text(&self, digits: usize) -> String {
        let name_width = self
            .per_type
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0);
        let width = name_width.max("weighted avg".len()).max(digits);
        let mut lines = Vec::with_capacity(self.per_type.len() + 5);
        for (name, s) in &self.per_type {
            lines.push(report::row(name, s, width, digits));
        }
        lines.push(String::new());
        lines.push(report::row("micro avg", &self.micro, width, digits));
        lines.push(report::row("macro avg", &self.macro_avg, width, digits));
        lines.push(report::row("weighted avg", &self.weighted, width, digits));
        lines.push(String::new());
        let mut out = report::header(width);
        out.push_str(&lines.join("\n"));
        out
    }
}

/// Precision, recall and F1 from counts, with seqeval's operation order.
fn prf(tp: usize, pred: usize, true_: usize, zd: f64) -> Prfs {
    let precision = if pred == 0 {
        zd
    } else {
        tp as f64 / pred as f64
    };
    let recall = if true_ == 0 {
        zd
    } else {
        tp as f64 / true_ as f64
    };
    let denom = precision + recall;
    let denom = if denom == 0.0 { 1.0 } else { denom };
    Prfs {
        precision,
        recall,
        f1: 2.0 * precision * recall / denom,
        support: true_,
    }
}

type Key = (usize, usize, usize);

fn group(entities: Vec<Entity>) -> HashMap<String, HashSet<Key>> {
    let mut map: HashMap<String, HashSet<Key>> = HashMap::new();
    for e in entities {
        map.entry(e.kind)
            .or_default()
            .insert((e.sentence, e.start, e.end));
    }
    map
}

/// seqeval's default reading: prefix = first character, type = text after the first `-`
/// of the rest (or the whole rest without a `-`), `_` when empty. `None` for an empty tag.
fn split_default(chunk: &str) -> Option<(char, &str)> {
    let mut chars = chunk.chars();
    let tag = chars.next()?;
    let rest = chars.as_str();
    let ty = rest.split_once('-').map_or(rest, |(_, after)| after);
    Some((tag, if ty.is_empty() { "_" } else { ty }))
}

fn end_of_chunk(prev_tag: char, tag: char, prev_type: &str, ty: &str) -> bool {
    matches!(prev_tag, 'E' | 'S')
        || (matches!(prev_tag, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
        || (prev_tag != 'O' && prev_tag != '.' && prev_type != ty)
}

fn start_of_chunk(prev_tag: char, tag: char, prev_type: &str, ty: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (matches!(prev_tag, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_type != ty)
}

/// Default mode over sentences: seqeval concatenates them with an `O` between, so entity
/// positions are global; we map each back to its sentence (a bijection, so sets compare the
/// same way as seqeval's).
fn default_entities<S: AsRef<str>>(sentences: &[Vec<S>]) -> Result<Vec<Entity>> {
    let mut flat: Vec<&str> = Vec::new();
    let mut starts = Vec::with_capacity(sentences.len());
    for (i, s) in sentences.iter().enumerate() {
        starts.push(flat.len());
        for (j, t) in s.iter().enumerate() {
            if t.as_ref().is_empty() {
                return Err(MetricsError::Input(format!(
                    "sentence {i}, position {j}: empty tag"
                )));
            }
            flat.push(t.as_ref());
        }
        flat.push("O");
    }
    let chunks = get_entities(&flat)?;
    Ok(chunks
        .into_iter()
        .map(|(kind, first, last)| {
            let sentence = starts.partition_point(|&s| s <= first).saturating_sub(1);
            let offset = starts.get(sentence).copied().unwrap_or(0);
            Entity {
                sentence,
                start: first - offset,
                end: last + 1 - offset,
                kind,
            }
        })
        .collect())
}

// Prefix bits of seqeval's `Prefix` flag enum.
const I: u8 = 1;
const O: u8 = 2;
const B: u8 = 4;
const E: u8 = 8;
const S: u8 = 16;
const U: u8 = 32;
const L: u8 = 64;
const ANY: u8 = I | O | B | E | S | U | L;

#[derive(Clone, Copy)]
enum Cond {
    Any,
    Same,
    Diff,
}

type Pattern = (u8, u8, Cond);

/// One of seqeval's token classes (`IOB2`, …): allowed prefixes and transition patterns.
#[derive(Clone, Copy)]
struct Scheme {
    name: &'static str,
    allowed: u8,
    start: &'static [Pattern],
    inside: &'static [Pattern],
    end: &'static [Pattern],
}

const IOB1: Scheme = Scheme {
    name: "IOB1",
    allowed: I | O | B,
    start: &[
        (O, I, Cond::Any),
        (I, I, Cond::Diff),
        (B, I, Cond::Any),
        (I, B, Cond::Same),
        (B, B, Cond::Same),
    ],
    inside: &[(B, I, Cond::Same), (I, I, Cond::Same)],
    end: &[
        (I, I, Cond::Diff),
        (I, O, Cond::Any),
        (I, B, Cond::Any),
        (B, O, Cond::Any),
        (B, I, Cond::Diff),
        (B, B, Cond::Same),
    ],
};

const IOE1: Scheme = Scheme {
    name: "IOE1",
    allowed: I | O | E,
    start: &[
        (O, I, Cond::Any),
        (I, I, Cond::Diff),
        (E, I, Cond::Any),
        (E, E, Cond::Same),
    ],
    inside: &[(I, I, Cond::Same), (I, E, Cond::Same)],
    end: &[
        (I, I, Cond::Diff),
        (I, O, Cond::Any),
        (I, E, Cond::Diff),
        (E, I, Cond::Same),
        (E, E, Cond::Same),
    ],
};

const IOB2: Scheme = Scheme {
    name: "IOB2",
    allowed: I | O | B,
    start: &[(ANY, B, Cond::Any)],
    inside: &[(B, I, Cond::Same), (I, I, Cond::Same)],
    end: &[
        (I, O, Cond::Any),
        (I, I, Cond::Diff),
        (I, B, Cond::Any),
        (B, O, Cond::Any),
        (B, I, Cond::Diff),
        (B, B, Cond::Any),
    ],
};

const IOE2: Scheme = Scheme {
    name: "IOE2",
    allowed: I | O | E,
    start: &[
        (O, I, Cond::Any),
        (O, E, Cond::Any),
        (E, I, Cond::Any),
        (E, E, Cond::Any),
        (I, I, Cond::Diff),
        (I, E, Cond::Diff),
    ],
    inside: &[(I, E, Cond::Same), (I, I, Cond::Same)],
    end: &[(E, ANY, Cond::Any)],
};

const IOBES: Scheme = Scheme {
    name: "IOBES",
    allowed: I | O | B | E | S,
    start: &[(ANY, B, Cond::Any), (ANY, S, Cond::Any)],
    inside: &[
        (B, I, Cond::Same),
        (B, E, Cond::Same),
        (I, I, Cond::Same),
        (I, E, Cond::Same),
    ],
    end: &[(S, ANY, Cond::Any), (E, ANY, Cond::Any)],
};

const BILOU: Scheme = Scheme {
    name: "BILOU",
    allowed: B | I | L | O | U,
    start: &[(ANY, B, Cond::Any), (ANY, U, Cond::Any)],
    inside: &[
        (B, I, Cond::Same),
        (B, L, Cond::Same),
        (I, I, Cond::Same),
        (I, L, Cond::Same),
    ],
    end: &[(U, ANY, Cond::Any), (L, ANY, Cond::Any)],
};

impl Scheme {
    fn of(scheme: TagScheme) -> Result<Self> {
        Ok(match scheme {
            TagScheme::Iob1 => IOB1,
            TagScheme::Iob2 => IOB2,
            TagScheme::Ioe1 => IOE1,
            TagScheme::Ioe2 => IOE2,
            TagScheme::Iobes => IOBES,
            TagScheme::Bilou => BILOU,
            TagScheme::Bmes => {
                return Err(MetricsError::Input(
                    "strict mode does not support BMES (seqeval has no such scheme); convert the tags to IOBES".into(),
                ));
            }
        })
    }
}

fn scheme_name(s: TagScheme) -> &'static str {
    match s {
        TagScheme::Iob1 => "IOB1",
        TagScheme::Iob2 => "IOB2",
        TagScheme::Ioe1 => "IOE1",
        TagScheme::Ioe2 => "IOE2",
        TagScheme::Iobes => "IOBES",
        TagScheme::Bilou => "BILOU",
        TagScheme::Bmes => "BMES",
    }
}

/// A tag as seqeval's strict `Token` reads it.
#[derive(Clone, Copy)]
struct Tok<'a> {
    prefix: u8,
    tag: &'a str,
}

impl<'a> Tok<'a> {
    /// Prefix = first character, tag = the rest with `-` stripped from both ends, `_` if empty.
    fn parse(token: &'a str) -> std::result::Result<Self, &'static str> {
        let mut chars = token.chars();
        let prefix = match chars.next() {
            None => return Err("empty tag"),
            Some('I') => I,
            Some('O') => O,
            Some('B') => B,
            Some('E') => E,
            Some('S') => S,
            Some('U') => U,
            Some('L') => L,
            Some(_) => return Err("the prefix must be one of I, O, B, E, S, U, L"),
        };
        let tag = chars.as_str().trim_matches('-');
        Ok(Self {
            prefix,
            tag: if tag.is_empty() { "_" } else { tag },
        })
    }

    fn matches(&self, prev: &Tok<'_>, patterns: &[Pattern]) -> bool {
        patterns.iter().any(|&(pp, cp, cond)| {
            prev.prefix & pp != 0
                && self.prefix & cp != 0
                && match cond {
                    Cond::Any => true,
                    Cond::Same => prev.tag == self.tag,
                    Cond::Diff => prev.tag != self.tag,
                }
        })
    }
}

/// seqeval's `Tokens.entities` for one sentence.
fn strict_entities<S: AsRef<str>>(
    sentence: usize,
    tags: &[S],
    scheme: Scheme,
    out: &mut Vec<Entity>,
) -> Result<()> {
    let outside = Tok {
        prefix: O,
        tag: "_",
    };
    let mut ext = Vec::with_capacity(tags.len() + 1);
    for (position, t) in tags.iter().enumerate() {
        let tok = Tok::parse(t.as_ref())
            .and_then(|tok| {
                if tok.prefix & scheme.allowed == 0 {
                    Err("the scheme does not allow this prefix")
                } else {
                    Ok(tok)
                }
            })
            .map_err(|why| MetricsError::Tag {
                sentence,
                position,
                tag: t.as_ref().to_owned(),
                scheme: scheme.name.to_owned(),
                why: why.to_owned(),
            })?;
        ext.push(tok);
    }
    ext.push(outside);
    let mut i = 0usize;
    let mut prev = outside;
    while i < ext.len() {
        let token = ext[i];
        if token.matches(&prev, scheme.start) {
            // Walk forward while tokens continue the entity.
            let mut end = ext.len() - 1;
            let mut p = token;
            for (j, t) in ext.iter().enumerate().skip(i + 1) {
                if t.matches(&p, scheme.inside) {
                    p = *t;
                } else {
                    end = j;
                    break;
                }
            }
            if ext[end].matches(&ext[end - 1], scheme.end) {
                out.push(Entity {
                    sentence,
                    start: i,
                    end,
                    kind: token.tag.to_owned(),
                });
            }
            // `end > i` always: the trailing `O` is never inside an entity.
            i = end.max(i + 1);
        } else {
            i += 1;
        }
        prev = ext[i - 1];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn default_mode_reads_orphans_and_type_changes() {
        let e = get_entities(&v("O I-PER I-PER B-LOC I-ORG O")).unwrap();
        assert_eq!(
            e,
            vec![
                ("PER".to_owned(), 1, 2),
                ("LOC".to_owned(), 3, 3),
                ("ORG".to_owned(), 4, 4)
            ]
        );
    }

    #[test]
    fn strict_iob2_drops_orphan_i() {
        let s = vec![v("O I-PER B-PER I-PER O")];
        let e = entities(&s, Mode::Strict(TagScheme::Iob2)).unwrap();
        assert_eq!(
            e,
            vec![Entity {
                sentence: 0,
                start: 2,
                end: 4,
                kind: "PER".into()
            }]
        );
    }

    #[test]
    fn strict_rejects_foreign_prefix() {
        let s = vec![v("O S-PER")];
        let err = entities(&s, Mode::Strict(TagScheme::Iob2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("position 1") && err.contains("S-PER"), "{err}");
    }

    #[test]
    fn seqeval_docstring_example() {
        let t = vec![v("O O O B-MISC I-MISC I-MISC O"), v("B-PER I-PER O")];
        let p = vec![v("O O B-MISC I-MISC I-MISC I-MISC O"), v("B-PER I-PER O")];
        let r = entity_report(&t, &p, Mode::Default, ZeroDivision::Zero).unwrap();
        assert_eq!(r.micro.f1, 0.5);
        assert_eq!(r.per_type["PER"].f1, 1.0);
        let expected = "              precision    recall  f1-score   support\n\n        MISC       0.00      0.00      0.00         1\n         PER       1.00      1.00      1.00         1\n\n   micro avg       0.50      0.50      0.50         2\n   macro avg       0.50      0.50      0.50         2\nweighted avg       0.50      0.50      0.50         2\n";
        assert_eq!(r.to_text(2), expected);
    }

    #[test]
    fn inconsistent_lengths_are_errors() {
        let t = vec![v("O O")];
        let p = vec![v("O")];
        assert!(entity_report(&t, &p, Mode::Default, ZeroDivision::Zero).is_err());
    }
}
