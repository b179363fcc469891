//! The `[stages.ingest]` parameter table: typed, with defaults, validated before a run so a
//! mistake is reported with its key before any file is read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use flowcore::{CoreError, TagScheme, TaskKind};
use serde::{Deserialize, Serialize};

/// Input format of the raw files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Column files (CoNLL family): one token per line, blank line between sentences.
    #[default]
    Conll,
    /// Comma-separated table.
    Csv,
    /// Tab-separated table.
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// Parquet table.
    Parquet,
    /// `text<sep>label` per line, split on the last `<sep>`.
    Separator,
    /// Table rows rendered to text through a template (and a codebook).
    Tabular,
}

impl Format {
    /// The task this format produces when none is given.
    pub fn task(self) -> TaskKind {
        match self {
            Self::Conll => TaskKind::Token,
            _ => TaskKind::Sequence,
        }
    }

    /// The tasks this format can produce: column files hold tags per word; tables and
    /// separator lines hold one label or a list of labels per example. Tabular rows are
    /// rendered for one class per row.
    pub fn tasks(self) -> &'static [TaskKind] {
        match self {
            Self::Conll => &[TaskKind::Token],
            Self::Tabular => &[TaskKind::Sequence],
            Self::Csv | Self::Tsv | Self::Jsonl | Self::Parquet | Self::Separator => {
                &[TaskKind::Sequence, TaskKind::Multilabel]
            }
        }
    }

    /// The name as written in the params.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conll => "conll",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Jsonl => "jsonl",
            Self::Parquet => "parquet",
            Self::Separator => "separator",
            Self::Tabular => "tabular",
        }
    }
}

/// Text encoding of the raw files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Encoding {
    /// Strict UTF-8: invalid bytes are an error naming the line.
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same value.
    #[serde(rename = "latin1", alias = "iso-8859-1")]
    Latin1,
    /// Windows-1252 (cp1252).
    #[serde(rename = "windows-1252", alias = "cp1252")]
    Windows1252,
    /// UTF-8, falling back to Windows-1252 per file with a warning.
    #[serde(rename = "auto")]
    Auto,
}

/// Unicode normalisation form applied to text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Canonical composition (default; changes no meaning).
    #[default]
    Nfc,
    /// Compatibility composition (folds full-width forms, ligatures; changes some text).
    Nfkc,
    /// Leave code points as they are.
    None,
}

/// How duplicates whose labels disagree are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Reject every copy (reason `label_conflict`).
    Drop,
    /// Keep the first copy's label; reject copies with another label.
    KeepFirst,
    /// Keep the most frequent label; reject the others; a tie rejects all copies.
    #[default]
    KeepMajority,
}

/// Column separator of CoNLL files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColumnSeparator {
    /// Tab if the file's first token line holds a tab, else runs of whitespace.
    #[default]
    Auto,
    /// Runs of spaces and tabs.
    Whitespace,
    /// Exactly one tab (tokens may contain spaces).
    Tab,
}

/// Tag scheme of CoNLL tags: detected or given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemeChoice {
    /// Detect from the prefixes used in all files.
    #[default]
    Auto,
    /// The given scheme.
    Fixed(TagScheme),
}

impl Serialize for SchemeChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::Fixed(scheme) => scheme.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SchemeChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        text.parse::<TagScheme>()
            .map(Self::Fixed)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "unknown tag scheme `{text}`; expected auto, iob1, iob2, ioe1, ioe2, iobes, bilou or bmes"
                ))
            })
    }
}

/// A seeded split of one file into train/dev/test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitSpec {
    /// Fraction of examples in train.
    pub train: f64,
    /// Fraction in dev.
    pub dev: f64,
    /// Fraction in test.
    pub test: f64,
    /// Seed of the shuffle (the split is reproducible for a seed).
    pub seed: u64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            train: 0.8,
            dev: 0.1,
            test: 0.1,
            seed: 42,
        }
    }
}

/// A regex rewrite applied to every CoNLL token before cleaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRewrite {
    /// Rust `regex` pattern.
    pub pattern: String,
    /// Replacement (`$1` refers to a capture group).
    pub replacement: String,
}

/// The file of a split, or several read one after the other (e.g. CLINC150's in-scope and
/// out-of-scope test files). One file serialises as a plain path, so the fingerprints of
/// single-file pipelines do not change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SplitFiles {
    /// One file.
    One(PathBuf),
    /// Several files, in order.
    Many(Vec<PathBuf>),
}

impl SplitFiles {
    /// The files, in order; an empty list is an error naming the key.
    pub fn paths(&self, key: &str) -> flowcore::Result<Vec<PathBuf>> {
        match self {
            Self::One(p) => Ok(vec![p.clone()]),
            Self::Many(v) if v.is_empty() => Err(param(key, "an empty list of files")),
            Self::Many(v) => Ok(v.clone()),
        }
    }
}

/// Params of the ingest stage. Every field has a default; see `ingest --help` for prose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestParams {
    /// Task override; defaults to the pipeline's `task`.
    pub task: Option<TaskKind>,
    /// Input format.
    pub format: Format,
    /// Train file, or a list of files read one after the other (with `dev` and `test`), or
    /// use `file` + `split`.
    pub train: Option<SplitFiles>,
    /// Dev file(s).
    pub dev: Option<SplitFiles>,
    /// Test file(s).
    pub test: Option<SplitFiles>,
    /// One file split by `split`.
    pub file: Option<PathBuf>,
    /// Ratios and seed of the split of `file`.
    pub split: SplitSpec,
    /// Text encoding of the raw files.
    pub encoding: Encoding,
    /// Longest accepted line in bytes; longer lines are rejected with a reason.
    pub max_line_bytes: usize,

    /// CoNLL: index of the token column (0 = first).
    pub token_column: usize,
    /// CoNLL: index of the tag column (-1 = last).
    pub tag_column: i64,
    /// CoNLL: column separator.
    pub separator: ColumnSeparator,
    /// CoNLL: lines starting with this are skipped.
    pub comment_prefix: Option<String>,
    /// CoNLL: first field of a document-start line.
    pub docstart: String,
    /// CoNLL: tag scheme of the input (converted to IOB2).
    pub scheme: SchemeChoice,
    /// CoNLL: regex rewrite of every token (e.g. strip position digits).
    pub token_rewrite: Option<TokenRewrite>,

    /// Tables: text column.
    pub text_column: String,
    /// Tables: optional second text column (sentence pairs).
    pub text_b_column: Option<String>,
    /// Tables: label column.
    pub label_column: String,
    /// Tables: id column (ids are generated when absent).
    pub id_column: Option<String>,
    /// CSV/TSV/tabular: field delimiter (one byte); default `,` for csv, tab for tsv.
    pub delimiter: Option<String>,
    /// CSV/TSV/tabular: quote character (one byte), `""` for none.
    pub quote: String,
    /// CSV/TSV/tabular: whether the first record is a header.
    pub has_header: bool,
    /// Column names for files without a header (tabular: also from the codebook).
    pub columns: Option<Vec<String>>,
    /// Tables: metadata columns to keep (default: every column not used otherwise).
    pub metadata: Option<Vec<String>>,

    /// Separator format: the separator between text and label.
    pub sep: String,

    /// Tabular: template with `{column}` placeholders (default: from the codebook).
    pub template: Option<String>,
    /// Tabular: TOML codebook mapping codes to phrases.
    pub codebook: Option<PathBuf>,
    /// Raw label value -> label name (also allowed in the codebook); multilabel: per item.
    pub label_map: BTreeMap<String, String>,
    /// Allowed labels (sequence, multilabel) or entity types (token); anything else is
    /// rejected. Multilabel: also the order of the label list.
    pub labels: Option<Vec<String>>,
    /// Multilabel: separator between the labels of a text label value (`"1,4"`); JSON
    /// arrays and Parquet lists need none. Items are trimmed; an empty value is an empty set.
    #[serde(skip_serializing_if = "is_default_label_separator")]
    pub label_separator: String,
    /// Multilabel: file of label names, one per line. Every label item is then an integer id
    /// (0-based line index into the file) or one of its names; the file fixes the label list
    /// and its order. Hashed into the fingerprint like the raw files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_names: Option<PathBuf>,

    /// Unicode normalisation.
    pub normalize: Normalize,
    /// Remove control and zero-width/format characters.
    pub strip_control: bool,
    /// Collapse runs of whitespace to one space (text is always trimmed).
    pub collapse_whitespace: bool,
    /// Remove exact duplicates (after cleaning) within train, and resolve its label conflicts
    /// by `conflict_policy`. With one `file` split here, the whole file before splitting.
    pub dedup: bool,
    /// Also de-duplicate and resolve conflicts inside given dev and test files. Off by default:
    /// a benchmark's evaluation splits are scored exactly as given (comparable with published
    /// numbers); their duplicates, conflicts and overlap with train are reported, not removed.
    pub clean_eval_splits: bool,
    /// How duplicates with conflicting labels are resolved.
    pub conflict_policy: ConflictPolicy,
    /// Remove from train the examples whose text also occurs in dev or test.
    pub remove_leakage: bool,
}

impl Default for IngestParams {
    fn default() -> Self {
        Self {
            task: None,
            format: Format::Conll,
            train: None,
            dev: None,
            test: None,
            file: None,
            split: SplitSpec::default(),
            encoding: Encoding::Utf8,
            max_line_bytes: 1 << 20,
            token_column: 0,
            tag_column: -1,
            separator: ColumnSeparator::Auto,
            comment_prefix: None,
            docstart: "-DOCSTART-".into(),
            scheme: SchemeChoice::Auto,
            token_rewrite: None,
            text_column: "text".into(),
            text_b_column: None,
            label_column: "label".into(),
            id_column: None,
            delimiter: None,
            quote: "\"".into(),
            has_header: true,
            columns: None,
            metadata: None,
            sep: "\t".into(),
            template: None,
            codebook: None,
            label_map: BTreeMap::new(),
            labels: None,
            label_separator: DEFAULT_LABEL_SEPARATOR.into(),
            label_names: None,
            normalize: Normalize::Nfc,
            strip_control: true,
            collapse_whitespace: true,
            dedup: true,
            clean_eval_splits: false,
            conflict_policy: ConflictPolicy::KeepMajority,
            remove_leakage: false,
        }
    }
}

/// Default of `label_separator`.
pub const DEFAULT_LABEL_SEPARATOR: &str = ",";

/// The new multi-label params are left out of the serialised params at their defaults, so
/// the fingerprints of existing pipelines do not move.
fn is_default_label_separator(sep: &String) -> bool {
    sep == DEFAULT_LABEL_SEPARATOR
}

fn param(key: &str, message: impl Into<String>) -> CoreError {
    CoreError::Param {
        key: key.into(),
        message: message.into(),
    }
}

/// The sources of a run: one file per split, or one file to split.
#[derive(Debug, Clone, PartialEq)]
pub enum Sources {
    /// `train`, `dev`, `test` given.
    PerSplit([Vec<PathBuf>; 3]),
    /// `file` split by ratios.
    Seeded(PathBuf),
}

impl IngestParams {
    /// Check values that serde cannot, and fill the task from the pipeline when absent.
    pub fn validate(&mut self, pipeline_task: Option<TaskKind>) -> flowcore::Result<()> {
        let task = self.task.or(pipeline_task).ok_or_else(|| {
            param(
                "task",
                "no task: set `task` in the pipeline or in the ingest params (token, sequence or multilabel)",
            )
        })?;
        let tasks = self.format.tasks();
        if !tasks.contains(&task) {
            let names: Vec<String> = tasks.iter().map(ToString::to_string).collect();
            return Err(param(
                "format",
                format!(
                    "format `{}` produces a {} task, but the task is `{task}`",
                    self.format.name(),
                    names.join(" or ")
                ),
            ));
        }
        if task != TaskKind::Multilabel {
            if self.label_names.is_some() {
                return Err(param(
                    "label_names",
                    format!("a label file applies to multilabel tasks; the task is `{task}`"),
                ));
            }
            if self.label_separator != DEFAULT_LABEL_SEPARATOR {
                return Err(param(
                    "label_separator",
                    format!("a label separator applies to multilabel tasks; the task is `{task}`"),
                ));
            }
        }
        if self.label_separator.is_empty() {
            return Err(param(
                "label_separator",
                "expected a non-empty separator (e.g. \",\" or \"|\")",
            ));
        }
        if self.label_names.is_some() && self.labels.is_some() {
            return Err(param(
                "labels",
                "give either `labels` or `label_names` (a file that fixes the labels), not both",
            ));
        }
        self.task = Some(task);
        self.sources()?;
        let s = &self.split;
        for (key, v) in [
            ("split.train", s.train),
            ("split.dev", s.dev),
            ("split.test", s.test),
        ] {
            if !(0.0..=1.0).contains(&v) || !v.is_finite() {
                return Err(param(
                    key,
                    format!("expected a fraction in [0, 1], found {v}"),
                ));
            }
        }
        let sum = s.train + s.dev + s.test;
        if (sum - 1.0).abs() > 1e-6 {
            return Err(param(
                "split",
                format!("train + dev + test must be 1, found {sum}"),
            ));
        }
        if self.max_line_bytes == 0 {
            return Err(param(
                "max_line_bytes",
                "expected a positive number of bytes",
            ));
        }
        if let Some(d) = &self.delimiter
            && d.len() != 1
        {
            return Err(param(
                "delimiter",
                format!("expected exactly one byte (e.g. \",\" or \"\\t\"), found {d:?}"),
            ));
        }
        if self.quote.len() > 1 {
            return Err(param(
                "quote",
                format!("expected one byte or \"\" for none, found {:?}", self.quote),
            ));
        }
        if self.sep.is_empty() {
            return Err(param("sep", "expected a non-empty separator"));
        }
        if let Some(rw) = &self.token_rewrite {
            regex::Regex::new(&rw.pattern)
                .map_err(|e| param("token_rewrite.pattern", format!("invalid regex: {e}")))?;
        }
        if self.format == Format::Tabular && self.template.is_none() && self.codebook.is_none() {
            return Err(param(
                "template",
                "format `tabular` needs a `template` (or a `codebook` that holds one)",
            ));
        }
        if self.docstart.trim().is_empty() {
            return Err(param("docstart", "expected a non-empty marker"));
        }
        Ok(())
    }

    /// The resolved task (after [`Self::validate`]).
    pub fn task(&self) -> TaskKind {
        self.task.unwrap_or(self.format.task())
    }

    /// Which files to read and how they map to splits.
    pub fn sources(&self) -> flowcore::Result<Sources> {
        match (&self.file, &self.train, &self.dev, &self.test) {
            (Some(file), None, None, None) => Ok(Sources::Seeded(file.clone())),
            (None, Some(train), Some(dev), Some(test)) => Ok(Sources::PerSplit([
                train.paths("train")?,
                dev.paths("dev")?,
                test.paths("test")?,
            ])),
            (Some(_), _, _, _) => Err(param(
                "file",
                "give either `file` (split by `split`) or `train` + `dev` + `test`, not both",
            )),
            (None, None, None, None) => Err(param(
                "train",
                "no input: give `train`, `dev` and `test` files, or one `file` to split",
            )),
            _ => Err(param(
                "train",
                "give all three of `train`, `dev` and `test` (or one `file` to split)",
            )),
        }
    }

    /// Every raw file the run reads (hashed into the fingerprint).
    pub fn raw_inputs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        match self.sources() {
            Ok(Sources::PerSplit(files)) => out.extend(files.into_iter().flatten()),
            Ok(Sources::Seeded(file)) => out.push(file),
            Err(_) => {}
        }
        if let Some(cb) = &self.codebook {
            out.push(cb.clone());
        }
        if let Some(names) = &self.label_names {
            out.push(names.clone());
        }
        out
    }

    /// The field delimiter byte for table formats.
    pub fn delimiter_byte(&self) -> u8 {
        match (&self.delimiter, self.format) {
            (Some(d), _) => d.as_bytes().first().copied().unwrap_or(b','),
            (None, Format::Tsv) => b'\t',
            (None, Format::Tabular) => b' ',
            (None, _) => b',',
        }
    }

    /// The quote byte, `None` when quoting is off.
    pub fn quote_byte(&self) -> Option<u8> {
        self.quote.as_bytes().first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> flowcore::Result<IngestParams> {
        let mut p: IngestParams = flowcore::params::parse(&v)?;
        p.validate(Some(TaskKind::Token))?;
        Ok(p)
    }

    #[test]
    fn per_split_files_and_defaults() {
        let p = parse(serde_json::json!({"train": "a", "dev": "b", "test": "c"})).unwrap();
        assert_eq!(p.task, Some(TaskKind::Token));
        assert_eq!(p.raw_inputs().len(), 3);
    }

    #[test]
    fn missing_dev_names_the_key() {
        let err = parse(serde_json::json!({"train": "a", "test": "c"})).unwrap_err();
        assert!(err.to_string().contains("`train`"), "{err}");
    }

    #[test]
    fn format_must_match_task() {
        let err = parse(serde_json::json!({"format": "csv", "file": "x"})).unwrap_err();
        assert!(
            err.to_string().contains("sequence or multilabel task"),
            "{err}"
        );
        let err = parse(serde_json::json!({"format": "conll", "task": "multilabel", "file": "x"}))
            .unwrap_err();
        assert!(err.to_string().contains("produces a token task"), "{err}");
        let err =
            parse(serde_json::json!({"format": "tabular", "task": "multilabel", "file": "x"}))
                .unwrap_err();
        assert!(err.to_string().contains("`tabular`"), "{err}");
        for format in ["csv", "tsv", "jsonl", "parquet", "separator"] {
            let p = parse(serde_json::json!({"format": format, "task": "multilabel", "file": "x"}))
                .unwrap();
            assert_eq!(p.task(), TaskKind::Multilabel);
        }
    }

    #[test]
    fn multilabel_params_are_checked_and_hashed() {
        let p = parse(serde_json::json!({
            "format": "tsv", "task": "multilabel", "train": "a", "dev": "b", "test": "c",
            "label_names": "names.txt", "label_separator": "|",
        }))
        .unwrap();
        assert_eq!(p.raw_inputs().last(), Some(&PathBuf::from("names.txt")));
        let v = flowcore::params::to_value(&p).unwrap();
        assert_eq!(
            (v["label_names"].as_str(), v["label_separator"].as_str()),
            (Some("names.txt"), Some("|"))
        );
        let err = parse(serde_json::json!({"format": "csv", "task": "sequence", "file": "x", "label_names": "n"}))
            .unwrap_err();
        assert!(err.to_string().contains("`label_names`"), "{err}");
        let err = parse(serde_json::json!({"format": "csv", "task": "sequence", "file": "x", "label_separator": ";"}))
            .unwrap_err();
        assert!(err.to_string().contains("`label_separator`"), "{err}");
        let err = parse(serde_json::json!({"format": "csv", "task": "multilabel", "file": "x", "label_separator": ""}))
            .unwrap_err();
        assert!(err.to_string().contains("non-empty"), "{err}");
        let err = parse(serde_json::json!({
            "format": "csv", "task": "multilabel", "file": "x", "label_names": "n", "labels": ["a"],
        }))
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
    }

    /// Existing pipelines keep their fingerprints: the new params are absent at their defaults.
    #[test]
    fn default_multilabel_params_are_not_serialised() {
        let p = parse(serde_json::json!({"train": "a", "dev": "b", "test": "c"})).unwrap();
        let v = flowcore::params::to_value(&p).unwrap();
        assert!(
            v.get("label_separator").is_none() && v.get("label_names").is_none(),
            "{v}"
        );
        assert_eq!(p.raw_inputs().len(), 3);
    }

    #[test]
    fn bad_ratios_and_schemes_are_errors() {
        let err = parse(serde_json::json!({"file": "x", "split": {"train": 0.9}})).unwrap_err();
        assert!(err.to_string().contains("must be 1"), "{err}");
        let err = parse(serde_json::json!({"file": "x", "scheme": "iobx"})).unwrap_err();
        assert!(err.to_string().contains("scheme"), "{err}");
        let p = parse(serde_json::json!({"file": "x", "scheme": "BIOES"})).unwrap();
        assert_eq!(p.scheme, SchemeChoice::Fixed(TagScheme::Iobes));
    }
}
