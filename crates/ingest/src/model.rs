//! In-memory records that flow through the stage: examples, rejects and metadata values.

use std::collections::BTreeMap;

/// What one example holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Token task: words and their tags (IOB2 once converted).
    Tokens {
        /// Words.
        tokens: Vec<String>,
        /// One tag per word.
        tags: Vec<String>,
    },
    /// Sequence and multi-label tasks: text (and an optional second text) with its label.
    Text {
        /// The text.
        text: String,
        /// The second text of a pair.
        text_b: Option<String>,
        /// The class label, or the set of labels.
        label: Label,
    },
}

/// The label of a text example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// Sequence task: one class.
    Class(String),
    /// Multi-label task: a set of labels, possibly empty. As read: the raw items; once
    /// resolved ([`crate::labelset`]): distinct names in label-list order.
    Set(Vec<String>),
}

impl Label {
    /// The label as one string, for conflicts, stratification and counts. A set joins its
    /// items with U+001F, which cleaning removes from labels, so distinct sets never collide.
    pub fn key(&self) -> String {
        match self {
            Self::Class(c) => c.clone(),
            Self::Set(items) => items.join("\u{1F}"),
        }
    }
}

impl From<&str> for Label {
    fn from(class: &str) -> Self {
        Self::Class(class.to_string())
    }
}

impl From<String> for Label {
    fn from(class: String) -> Self {
        Self::Class(class)
    }
}

/// A metadata value carried through from a table column.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Missing.
    Null,
    /// Integer.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Anything else, as text.
    Str(String),
}

/// One example read from a source.
#[derive(Debug, Clone)]
pub struct Example {
    /// Pool index: the split for per-split files, 0 (`all`) for a file to split.
    pub pool: usize,
    /// Split index into [`flowcore::schema::SPLITS`] (set by the seeded split when pooled).
    pub split: usize,
    /// Unique id.
    pub id: String,
    /// Document id (token tasks; equals the id when the file has no document markers).
    pub doc_id: String,
    /// Index of the source file in [`Collected::sources`].
    pub source: usize,
    /// 1-based line where the example starts (row number for Parquet).
    pub line: u64,
    /// 1-based line of each token (token tasks; empty otherwise).
    pub token_lines: Vec<u64>,
    /// Content.
    pub body: Body,
    /// Metadata values, aligned with [`Collected::meta_names`].
    pub meta: Vec<MetaValue>,
}

impl Example {
    /// The label used to detect conflicts and to stratify: the class, or the joined tags.
    pub fn label_key(&self) -> String {
        match &self.body {
            Body::Tokens { tags, .. } => tags.join(" "),
            Body::Text { label, .. } => label.key(),
        }
    }

    /// The text identity used for duplicates and leakage.
    pub fn text_key(&self) -> String {
        match &self.body {
            // U+001F cannot occur in cleaned text, so joined keys cannot collide.
            Body::Tokens { tokens, .. } => tokens.join("\u{1F}"),
            Body::Text { text, text_b, .. } => match text_b {
                Some(b) => format!("{text}\u{1F}\u{1F}{b}"),
                None => text.clone(),
            },
        }
    }

    /// The raw content as it would appear in a rejects row.
    pub fn raw(&self) -> String {
        match &self.body {
            Body::Tokens { tokens, tags } => tokens
                .iter()
                .zip(tags)
                .map(|(w, t)| format!("{w}\t{t}"))
                .collect::<Vec<_>>()
                .join("\n"),
            Body::Text {
                text,
                text_b,
                label,
            } => {
                let label = match label {
                    Label::Class(c) => c.clone(),
                    Label::Set(items) => items.join(","),
                };
                match text_b {
                    Some(b) => format!("{text}\t{b}\t{label}"),
                    None => format!("{text}\t{label}"),
                }
            }
        }
    }
}

/// Why an input example was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A row or line with a different number of fields than expected.
    RaggedRow,
    /// A line longer than `max_line_bytes`.
    LineTooLong,
    /// The label is missing or empty.
    MissingLabel,
    /// A tag that is not `O`/`<P>-<TYPE>`, or a label/type outside the allowed set.
    UnknownLabel,
    /// A multi-label list that cannot be read: an empty item, an id that is not an integer
    /// or out of range of `label_names`, a value that is neither a list nor a text.
    MalformedLabels,
    /// A CSV record whose quote is never closed.
    UnterminatedQuote,
    /// A JSONL line that is not a JSON object.
    InvalidJson,
    /// A separator line without the separator.
    MissingSeparator,
    /// A tabular row with a missing value, or a code the codebook does not know.
    MissingValue,
    /// Nothing left after cleaning.
    Empty,
    /// An id that was already used.
    DuplicateId,
    /// A duplicate whose label conflicts with its copies (resolved by the conflict policy).
    LabelConflict,
    /// A train example whose text also occurs in dev or test (`remove_leakage`).
    Leakage,
}

impl Reason {
    /// The reason as written in `rejects.parquet` and the profile.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RaggedRow => "ragged_row",
            Self::LineTooLong => "line_too_long",
            Self::MissingLabel => "missing_label",
            Self::UnknownLabel => "unknown_label",
            Self::MalformedLabels => "malformed_labels",
            Self::UnterminatedQuote => "unterminated_quote",
            Self::InvalidJson => "invalid_json",
            Self::MissingSeparator => "missing_separator",
            Self::MissingValue => "missing_value",
            Self::Empty => "empty",
            Self::DuplicateId => "duplicate_id",
            Self::LabelConflict => "label_conflict",
            Self::Leakage => "leakage",
        }
    }
}

/// One rejected input example.
#[derive(Debug, Clone)]
pub struct Reject {
    /// Pool the example was read into.
    pub pool: usize,
    /// Source file (as given in the params).
    pub source: String,
    /// 1-based line.
    pub line: u64,
    /// Why.
    pub reason: Reason,
    /// Details: what was found and what was expected.
    pub detail: String,
    /// The raw text (shortened when long).
    pub raw: String,
}

/// Longest raw text kept in a reject row.
pub const RAW_LIMIT: usize = 2000;

/// Everything read from the sources, before de-duplication and splitting.
#[derive(Debug, Default)]
pub struct Collected {
    /// Pool names: `train`, `dev`, `test`, or `all`.
    pub pools: Vec<String>,
    /// Source files as given.
    pub sources: Vec<String>,
    /// Examples read per pool (kept or not).
    pub read: Vec<u64>,
    /// Surviving examples.
    pub examples: Vec<Example>,
    /// Rejected examples.
    pub rejects: Vec<Reject>,
    /// Metadata column names.
    pub meta_names: Vec<String>,
    /// Counters reported in the profile (tag repairs, encoding fallbacks, ...).
    pub counters: BTreeMap<String, u64>,
}

impl Collected {
    /// Record a reject of an example.
    pub fn reject(&mut self, ex: &Example, reason: Reason, detail: impl Into<String>) {
        self.rejects.push(Reject {
            pool: ex.pool,
            source: self.sources[ex.source].clone(),
            line: ex.line,
            reason,
            detail: detail.into(),
            raw: crate::encoding::truncate_raw(&ex.raw(), RAW_LIMIT),
        });
    }

    /// Add to a named counter.
    pub fn count(&mut self, name: &str, by: u64) {
        *self.counters.entry(name.to_string()).or_default() += by;
    }
}
