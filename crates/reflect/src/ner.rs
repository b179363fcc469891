//! Entity spans (read with `metrics`' seqeval-compatible reader), the NER error taxonomy and
//! entity-level confidences.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::{Example, Split};
use crate::error::{ReflectError, Result};

/// An entity: `words[start..end]` of type `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    /// First word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// Entity type.
    pub kind: String,
}

impl Span {
    fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Gold and predicted entities of every example of a split, parallel to `split.examples`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spans {
    /// Gold entities per example.
    pub gold: Vec<Vec<Span>>,
    /// Predicted entities per example.
    pub pred: Vec<Vec<Span>>,
}

/// Entities of one tag sequence, as seqeval's default (conlleval) reading finds them.
pub fn entities_of(tags: &[&str], place: &str) -> Result<Vec<Span>> {
    let found = metrics::entity::get_entities(tags).map_err(|source| ReflectError::Metrics {
        place: place.to_string(),
        source,
    })?;
    Ok(found
        .into_iter()
        .map(|(kind, first, last)| Span {
            start: first,
            end: last + 1,
            kind,
        })
        .collect())
}

impl Spans {
    /// Read the entities of every example of a token-task split.
    pub fn of(split: &Split) -> Result<Self> {
        let mut out = Self::default();
        for ex in &split.examples {
            let place = format!("{}, example `{}`", split.path.display(), ex.id);
            let gold: Vec<&str> = ex.gold.iter().map(|&g| split.label(g)).collect();
            let pred: Vec<&str> = ex.pred.iter().map(|&p| split.label(p)).collect();
            out.gold.push(entities_of(&gold, &place)?);
            out.pred.push(entities_of(&pred, &place)?);
        }
        Ok(out)
    }
}

/// Entity type of a tag (`B-PER` -> `PER`), `None` for `O`; seqeval's reading: the part after
/// the first `-`.
pub fn tag_type(tag: &str) -> Option<&str> {
    if tag == "O" {
        return None;
    }
    Some(tag.split_once('-').map_or(tag, |(_, t)| t))
}

/// The entity types a label list names, sorted.
pub fn types_of(labels: &[String]) -> Vec<String> {
    let mut types: Vec<String> = labels
        .iter()
        .filter_map(|l| tag_type(l).map(str::to_string))
        .collect();
    types.sort();
    types.dedup();
    types
}

/// What happened to a gold entity (or a predicted one that matches nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Same span, same type.
    Correct,
    /// Same span, other type.
    WrongType,
    /// Overlapping span of the same type.
    WrongBoundary,
    /// Overlapping span of another type.
    WrongBoundaryAndType,
    /// No overlapping prediction.
    Missed,
    /// A prediction overlapping no gold entity.
    Spurious,
}

impl ErrorKind {
    /// Every category in report order.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Correct,
        ErrorKind::WrongType,
        ErrorKind::WrongBoundary,
        ErrorKind::WrongBoundaryAndType,
        ErrorKind::Missed,
        ErrorKind::Spurious,
    ];

    /// Position in [`Self::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Correct => "correct",
            Self::WrongType => "wrong type",
            Self::WrongBoundary => "wrong boundary",
            Self::WrongBoundaryAndType => "wrong boundary and type",
            Self::Missed => "missed",
            Self::Spurious => "spurious",
        }
    }
}

/// One example of an error category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorExample {
    /// Example id.
    pub id: String,
    /// The sentence with the gold entity in `[...]` and the prediction in `{...}`.
    pub text: String,
    /// Gold entity, `words (TYPE)`, or empty.
    pub gold: String,
    /// Predicted entity, `words (TYPE)`, or empty.
    pub pred: String,
}

/// Counts and examples of every category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Taxonomy {
    /// Count per category.
    pub counts: BTreeMap<ErrorKind, usize>,
    /// Count per category and gold type (predicted type for spurious ones).
    pub by_type: BTreeMap<String, BTreeMap<ErrorKind, usize>>,
    /// Up to `max_examples` examples per category, in file order.
    pub examples: BTreeMap<ErrorKind, Vec<ErrorExample>>,
    /// Counts per example in [`ErrorKind::ALL`] order (for bootstrapping shares).
    #[serde(skip)]
    pub per_example: Vec<[f64; 6]>,
}

impl Taxonomy {
    /// Count of a category.
    pub fn count(&self, kind: ErrorKind) -> usize {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// Number of errors (every category but `correct`).
    pub fn errors(&self) -> usize {
        self.counts
            .iter()
            .filter(|(k, _)| **k != ErrorKind::Correct)
            .map(|(_, v)| v)
            .sum()
    }
}

fn describe(words: &[String], span: &Span) -> String {
    let text = words
        .get(span.start..span.end.min(words.len()))
        .map_or(String::new(), |w| w.join(" "));
    format!("{text} ({})", span.kind)
}

fn mark(words: &[String], gold: Option<&Span>, pred: Option<&Span>) -> String {
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let mut s = String::new();
        if gold.is_some_and(|g| g.start == i) {
            s.push('[');
        }
        if pred.is_some_and(|p| p.start == i) {
            s.push('{');
        }
        s.push_str(w);
        if pred.is_some_and(|p| p.end == i + 1) {
            s.push('}');
        }
        if gold.is_some_and(|g| g.end == i + 1) {
            s.push(']');
        }
        out.push(s);
    }
    out.join(" ")
}

/// Classify every gold entity (and every unmatched prediction) of a split.
pub fn taxonomy(split: &Split, spans: &Spans, max_examples: usize) -> Taxonomy {
    let mut t = Taxonomy::default();
    for kind in ErrorKind::ALL {
        t.counts.insert(kind, 0);
    }
    let record = |t: &mut Taxonomy,
                  kind: ErrorKind,
                  ty: &str,
                  ex: &Example,
                  g: Option<&Span>,
                  p: Option<&Span>| {
        *t.counts.entry(kind).or_default() += 1;
        if let Some(row) = t.per_example.last_mut() {
            row[kind.index()] += 1.0;
        }
        *t.by_type
            .entry(ty.to_string())
            .or_default()
            .entry(kind)
            .or_default() += 1;
        let list = t.examples.entry(kind).or_default();
        if kind != ErrorKind::Correct && list.len() < max_examples {
            list.push(ErrorExample {
                id: ex.id.clone(),
                text: mark(&ex.words, g, p),
                gold: g.map(|g| describe(&ex.words, g)).unwrap_or_default(),
                pred: p.map(|p| describe(&ex.words, p)).unwrap_or_default(),
            });
        }
    };
    for (i, ex) in split.examples.iter().enumerate() {
        t.per_example.push([0.0; 6]);
        let gold = &spans.gold[i];
        let pred = &spans.pred[i];
        for g in gold {
            let exact = pred.iter().find(|p| p.start == g.start && p.end == g.end);
            let (kind, p) = match exact {
                Some(p) if p.kind == g.kind => (ErrorKind::Correct, Some(p)),
                Some(p) => (ErrorKind::WrongType, Some(p)),
                None => {
                    if let Some(p) = pred.iter().find(|p| p.overlaps(g) && p.kind == g.kind) {
                        (ErrorKind::WrongBoundary, Some(p))
                    } else if let Some(p) = pred.iter().find(|p| p.overlaps(g)) {
                        (ErrorKind::WrongBoundaryAndType, Some(p))
                    } else {
                        (ErrorKind::Missed, None)
                    }
                }
            };
            record(&mut t, kind, &g.kind, ex, Some(g), p);
        }
        for p in pred {
            if !gold.iter().any(|g| g.overlaps(p)) {
                record(&mut t, ErrorKind::Spurious, &p.kind, ex, None, Some(p));
            }
        }
    }
    t
}

/// How an entity's confidence is made from its words' confidences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EntityConfidence {
    /// Mean of the words' top-1 probabilities.
    #[default]
    Mean,
    /// The smallest of them (the entity is as sure as its least sure word).
    Min,
}

/// Confidence and correctness (exact match with a gold entity) of every predicted entity.
/// `probs` are the (possibly temperature-scaled) word probability vectors per example.
pub fn entity_confidences(
    spans: &Spans,
    probs: &[Vec<Vec<f64>>],
    how: EntityConfidence,
) -> (Vec<f64>, Vec<bool>) {
    let (mut conf, mut correct) = (Vec::new(), Vec::new());
    for (i, pred) in spans.pred.iter().enumerate() {
        for p in pred {
            let words: Vec<f64> = (p.start..p.end)
                .filter_map(|w| probs.get(i)?.get(w))
                .map(|v| v.iter().copied().fold(0.0, f64::max))
                .collect();
            if words.is_empty() {
                continue;
            }
            let c = match how {
                EntityConfidence::Mean => words.iter().sum::<f64>() / words.len() as f64,
                EntityConfidence::Min => words.iter().copied().fold(1.0, f64::min),
            };
            conf.push(c);
            correct.push(spans.gold[i].contains(p));
        }
    }
    (conf, correct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcore::TaskKind;
    use std::path::PathBuf;

    fn split(sentences: &[(&str, &[&str], &[&str])]) -> Split {
        let labels: Vec<String> = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let id = |t: &&str| labels.iter().position(|l| l == t).unwrap();
        Split {
            name: "test".into(),
            path: PathBuf::from("t.parquet"),
            task: TaskKind::Token,
            examples: sentences
                .iter()
                .enumerate()
                .map(|(i, (words, gold, pred))| Example {
                    id: format!("s{i}"),
                    words: words.split(' ').map(str::to_string).collect(),
                    word_index: Vec::new(),
                    gold: gold.iter().map(id).collect(),
                    pred: pred.iter().map(id).collect(),
                    probs: Vec::new(),
                })
                .collect(),
            labels: labels.clone(),
            has_probs: false,
        }
    }

    #[test]
    fn taxonomy_counts_every_category_on_a_hand_made_file() {
        let s = split(&[
            // correct PER, wrong type (LOC for PER)
            (
                "Ann met Bob",
                &["B-PER", "O", "B-PER"],
                &["B-PER", "O", "B-LOC"],
            ),
            // wrong boundary (PER 0..2 predicted 0..1), spurious LOC at 3
            (
                "Ann Lee in Rome",
                &["B-PER", "I-PER", "O", "O"],
                &["B-PER", "O", "O", "B-LOC"],
            ),
            // wrong boundary and type (LOC 1..3 predicted PER 2..3), missed PER at 0
            (
                "Bob New York",
                &["B-PER", "B-LOC", "I-LOC"],
                &["O", "O", "B-PER"],
            ),
        ]);
        let spans = Spans::of(&s).unwrap();
        let t = taxonomy(&s, &spans, 5);
        let counts: Vec<usize> = ErrorKind::ALL.iter().map(|k| t.count(*k)).collect();
        assert_eq!(counts, vec![1, 1, 1, 1, 1, 1]);
        assert_eq!(t.errors(), 5);
        assert_eq!(t.by_type["PER"][&ErrorKind::WrongBoundary], 1);
        assert_eq!(t.by_type["LOC"][&ErrorKind::Spurious], 1);
        let wb = &t.examples[&ErrorKind::WrongBoundary][0];
        assert_eq!(wb.id, "s1");
        assert_eq!(wb.text, "[{Ann} Lee] in Rome");
        assert_eq!(wb.gold, "Ann Lee (PER)");
        assert_eq!(wb.pred, "Ann (PER)");
    }

    #[test]
    fn entity_confidence_is_mean_or_min_of_words() {
        let s = split(&[(
            "Ann Lee x",
            &["B-PER", "I-PER", "O"],
            &["B-PER", "I-PER", "O"],
        )]);
        let spans = Spans::of(&s).unwrap();
        let probs = vec![vec![
            vec![0.1, 0.9, 0.0, 0.0, 0.0],
            vec![0.3, 0.0, 0.7, 0.0, 0.0],
            vec![1.0, 0.0, 0.0, 0.0, 0.0],
        ]];
        let (c, ok) = entity_confidences(&spans, &probs, EntityConfidence::Mean);
        assert!((c[0] - 0.8).abs() < 1e-12);
        assert_eq!(ok, vec![true]);
        let (c, _) = entity_confidences(&spans, &probs, EntityConfidence::Min);
        assert!((c[0] - 0.7).abs() < 1e-12);
    }

    #[test]
    fn types_come_from_tags() {
        let labels: Vec<String> = ["O", "B-PER", "I-PER", "B-creative-work"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(types_of(&labels), vec!["PER", "creative-work"]);
    }
}
