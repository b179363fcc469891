//! Types several stages agree on: the task kind, the label map and tag schemes.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CoreError, Result};

/// What the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// One label per word (NER), IOB2 tags.
    Token,
    /// One label per example (sentiment, credit risk).
    Sequence,
    /// Any number of labels per example, each decided on its own (topics, emotions): a
    /// sigmoid per label, BCE-with-logits in training.
    Multilabel,
}

impl TaskKind {
    /// Whether the model predicts once per example (sequence and multi-label tasks) rather
    /// than once per word.
    pub fn per_example(self) -> bool {
        matches!(self, Self::Sequence | Self::Multilabel)
    }
}

impl FromStr for TaskKind {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "token" => Ok(Self::Token),
            "sequence" => Ok(Self::Sequence),
            "multilabel" => Ok(Self::Multilabel),
            other => Err(CoreError::Param {
                key: "task".into(),
                message: format!("expected `token`, `sequence` or `multilabel`, found `{other}`"),
            }),
        }
    }
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Token => "token",
            Self::Sequence => "sequence",
            Self::Multilabel => "multilabel",
        })
    }
}

/// Tag encodings of entity spans. Ingest converts all of them to [`TagScheme::Iob2`];
/// the metrics accept the ones seqeval knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagScheme {
    /// `I-` everywhere, `B-` only between two adjacent entities of one type.
    Iob1,
    /// `B-` starts every entity.
    Iob2,
    /// `E-` only between two adjacent entities of one type.
    Ioe1,
    /// `E-` ends every entity.
    Ioe2,
    /// `B-`/`I-`/`E-`/`S-` (also written BIOES).
    Iobes,
    /// `B-`/`I-`/`L-`/`U-`.
    Bilou,
    /// `B-`/`M-`/`E-`/`S-` (Chinese segmentation style; `M-` means inside).
    Bmes,
}

impl FromStr for TagScheme {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "iob1" => Self::Iob1,
            "iob2" | "bio" => Self::Iob2,
            "ioe1" => Self::Ioe1,
            "ioe2" => Self::Ioe2,
            "iobes" | "bioes" => Self::Iobes,
            "bilou" => Self::Bilou,
            "bmes" => Self::Bmes,
            other => {
                return Err(CoreError::Param {
                    key: "scheme".into(),
                    message: format!(
                        "unknown tag scheme `{other}`; expected one of iob1, iob2, ioe1, ioe2, iobes, bilou, bmes"
                    ),
                });
            }
        })
    }
}

/// The label set of a data set, in a stable order; stored as `labels.json`.
///
/// For token tasks the labels are IOB2 tags with `O` first; for sequence tasks, class names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMap {
    /// Which task the labels belong to.
    pub task: TaskKind,
    /// Label names; a label's id is its index.
    pub labels: Vec<String>,
}

impl LabelMap {
    /// A label map from names in the given order.
    pub fn new(task: TaskKind, labels: Vec<String>) -> Self {
        Self { task, labels }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Id of a label name.
    pub fn id(&self, label: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == label)
    }

    /// Name of a label id.
    pub fn name(&self, id: usize) -> Option<&str> {
        self.labels.get(id).map(String::as_str)
    }

    /// `id2label` as HF `config.json` writes it (string keys).
    pub fn id2label(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.clone()))
            .collect()
    }

    /// Read `labels.json`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = fs_err::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|source| CoreError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Write `labels.json`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| CoreError::Invalid(format!("labels: {e}")))?;
        fs_err::write(path, text + "\n")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_map_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let map = LabelMap::new(TaskKind::Token, vec!["O".into(), "B-PER".into()]);
        let path = dir.path().join("labels.json");
        map.write(&path).unwrap();
        assert_eq!(LabelMap::read(&path).unwrap(), map);
        assert_eq!(map.id("B-PER"), Some(1));
        assert_eq!(map.id2label()["1"], "B-PER");
    }

    #[test]
    fn scheme_names_parse() {
        assert_eq!("BIOES".parse::<TagScheme>().unwrap(), TagScheme::Iobes);
        assert!("bogus".parse::<TagScheme>().is_err());
    }
}
