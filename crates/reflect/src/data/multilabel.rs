//! Reading multi-label predictions: one predictions file as indicator rows ([`Table`]), the
//! files of the evaluate (baseline, train) artifacts the multi-label report reads ([`Sources`]),
//! whether an artifact holds multi-label predictions, and the decision thresholds the
//! evaluate stage recorded.
//!
//! The generic reading ([`super::Split`]) keeps one label per item; a multi-label split is
//! kept as `(examples, labels)` indicator rows instead, checked here (one row per example,
//! probabilities in `[0, 1]`) and aligned with a baseline by example id.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use flowcore::schema::{self, predictions as pcol};
use flowcore::{Artifact, LabelMap, TaskKind};
use metrics::predictions::join_set;
use metrics::{Predictions, ThresholdRecord};

use crate::error::{ReflectError, Result};

/// One predictions file as indicator rows.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// The file it was read from.
    pub(crate) path: PathBuf,
    /// Label names, in column order.
    pub(crate) labels: Vec<String>,
    /// Example ids, one per row.
    pub(crate) ids: Vec<String>,
    /// Example texts, when the predictions carry them.
    pub(crate) text: Vec<Option<String>>,
    /// `(examples, labels)`.
    pub(crate) gold: Vec<Vec<bool>>,
    /// `(examples, labels)`.
    pub(crate) pred: Vec<Vec<bool>>,
    /// `(examples, labels)`, when every row has probabilities.
    pub(crate) probs: Option<Vec<Vec<f32>>>,
}

fn invalid(place: impl Into<String>, message: String) -> ReflectError {
    ReflectError::Invalid {
        place: place.into(),
        message,
    }
}

impl Table {
    /// Read a multi-label predictions file.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let preds = Predictions::read(path).map_err(|source| ReflectError::Metrics {
            place: format!("reading predictions {}", path.display()),
            source,
        })?;
        Self::from_predictions(path, &preds)
    }

    pub(crate) fn from_predictions(path: &Path, preds: &Predictions) -> Result<Self> {
        let place = path.display().to_string();
        if preds.task != TaskKind::Multilabel {
            return Err(invalid(
                &place,
                format!(
                    "holds {} predictions; the multi-label report needs multilabel ones",
                    preds.task
                ),
            ));
        }
        if preds.rows.is_empty() {
            return Err(invalid(&place, "no examples".into()));
        }
        let indicators = |gold| {
            preds
                .indicators(gold)
                .map_err(|source| ReflectError::Metrics {
                    place: place.clone(),
                    source,
                })
        };
        let (gold, pred) = (indicators(true)?, indicators(false)?);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, r) in preds.rows.iter().enumerate() {
            if let Some(j) = seen.insert(r.id.as_str(), i) {
                return Err(invalid(
                    format!("{place}, row {i}"),
                    format!(
                        "example id `{}` repeats row {j}; multi-label rows are one per example",
                        r.id
                    ),
                ));
            }
            if let Some(p) = r.probs.iter().flatten().find(|p| !(0.0..=1.0).contains(*p)) {
                return Err(invalid(
                    format!("{place}, row {i} (id `{}`)", r.id),
                    format!("probability {p} is not in [0, 1]"),
                ));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            labels: preds.labels.clone(),
            ids: preds.rows.iter().map(|r| r.id.clone()).collect(),
            text: preds.rows.iter().map(|r| r.token.clone()).collect(),
            gold,
            pred,
            probs: preds
                .has_probs()
                .then(|| preds.rows.iter().filter_map(|r| r.probs.clone()).collect()),
        })
    }

    /// Examples.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The file name (the whole path when it has none).
    pub(crate) fn file_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The probability of label `j` in example `i`, when there are probabilities.
    pub(crate) fn prob(&self, i: usize, j: usize) -> Option<f64> {
        self.probs.as_ref().map(|p| f64::from(p[i][j]))
    }

    /// The probabilities of label `j` over all examples.
    pub(crate) fn column(&self, j: usize) -> Option<Vec<f64>> {
        self.probs
            .as_ref()
            .map(|p| p.iter().map(|r| f64::from(r[j])).collect())
    }

    /// Label `j`'s gold indicator over all examples.
    pub(crate) fn gold_column(&self, j: usize) -> Vec<bool> {
        self.gold.iter().map(|r| r[j]).collect()
    }

    /// The same table with columns in `labels`' order; an error when the label sets differ.
    pub(crate) fn with_label_order(&self, labels: &[String], other: &Path) -> Result<Self> {
        let mut ours: Vec<&String> = self.labels.iter().collect();
        let mut theirs: Vec<&String> = labels.iter().collect();
        ours.sort();
        theirs.sort();
        if ours != theirs {
            return Err(invalid(
                self.path.display().to_string(),
                format!(
                    "labels {:?} differ from those of {} ({:?})",
                    self.labels,
                    other.display(),
                    labels
                ),
            ));
        }
        let map: Vec<usize> = labels
            .iter()
            .map(|l| self.labels.iter().position(|m| m == l).unwrap_or(0))
            .collect();
        let reorder = |rows: &[Vec<bool>]| -> Vec<Vec<bool>> {
            rows.iter()
                .map(|r| map.iter().map(|&k| r[k]).collect())
                .collect()
        };
        Ok(Self {
            labels: labels.to_vec(),
            gold: reorder(&self.gold),
            pred: reorder(&self.pred),
            probs: self.probs.as_ref().map(|ps| {
                ps.iter()
                    .map(|r| map.iter().map(|&k| r[k]).collect())
                    .collect()
            }),
            ..self.clone()
        })
    }

    /// The rows of `self` in the order of `model`'s ids, columns in its label order; an error
    /// naming both files when the id sets or the gold sets differ.
    pub(crate) fn aligned_to(&self, model: &Table) -> Result<Self> {
        let t = self.with_label_order(&model.labels, &model.path)?;
        let index: HashMap<&str, usize> = t
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let ours: HashSet<&str> = model.ids.iter().map(String::as_str).collect();
        let only_model: Vec<&str> = model
            .ids
            .iter()
            .map(String::as_str)
            .filter(|id| !index.contains_key(id))
            .collect();
        let only_base: Vec<&str> = t
            .ids
            .iter()
            .map(String::as_str)
            .filter(|id| !ours.contains(id))
            .collect();
        if !only_model.is_empty() || !only_base.is_empty() {
            let few = |v: &[&str]| {
                v.iter()
                    .take(5)
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(invalid(
                self.path.display().to_string(),
                format!(
                    "the examples differ from those of {}: {} ids only there ({}), {} only here ({}); the comparison needs the same examples",
                    model.path.display(),
                    only_model.len(),
                    few(&only_model),
                    only_base.len(),
                    few(&only_base)
                ),
            ));
        }
        let order: Vec<usize> = model.ids.iter().map(|id| index[id.as_str()]).collect();
        for (i, &k) in order.iter().enumerate() {
            if t.gold[k] != model.gold[i] {
                return Err(invalid(
                    format!("{}, example `{}`", self.path.display(), model.ids[i]),
                    format!(
                        "gold labels `{}` differ from `{}` in {}",
                        join_set(&model.labels, &t.gold[k]),
                        join_set(&model.labels, &model.gold[i]),
                        model.path.display()
                    ),
                ));
            }
        }
        let pick = |rows: &[Vec<bool>]| -> Vec<Vec<bool>> {
            order.iter().map(|&k| rows[k].clone()).collect()
        };
        Ok(Self {
            path: t.path.clone(),
            labels: t.labels.clone(),
            ids: model.ids.clone(),
            text: order.iter().map(|&k| t.text[k].clone()).collect(),
            gold: pick(&t.gold),
            pred: pick(&t.pred),
            probs: t
                .probs
                .as_ref()
                .map(|p| order.iter().map(|&k| p[k].clone()).collect()),
        })
    }
}

/// The files the multi-label report reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    /// The model's predictions on the reported split.
    pub split: PathBuf,
    /// The model's predictions on the split per-label temperatures are fitted on.
    pub fit: Option<PathBuf>,
    /// A baseline's predictions on the reported split.
    pub baseline: Option<PathBuf>,
    /// The evaluate artifact's `metrics.json` (the decision thresholds).
    pub metrics: Option<PathBuf>,
    /// The train artifact's `history.jsonl` (the training-fit findings).
    pub history: Option<PathBuf>,
}

impl Sources {
    /// The files of an evaluate artifact (and optionally a baseline and a train artifact) for
    /// reporting on `split` with per-label temperatures fitted on `fit_split` (`""` for none).
    pub fn of(
        evaluate: &Artifact,
        baseline: Option<&Artifact>,
        train: Option<&Artifact>,
        split: &str,
        fit_split: &str,
    ) -> Result<Self> {
        let path = evaluate.file(&pcol::file(split))?;
        let fit = if fit_split.is_empty() || fit_split == split {
            None
        } else if evaluate.has(&pcol::file(fit_split)) {
            Some(evaluate.file(&pcol::file(fit_split))?)
        } else {
            tracing::warn!(split = %fit_split, "evaluate artifact has no predictions for the fit split; per-label temperatures skipped");
            None
        };
        let baseline = match baseline {
            Some(b) if b.has(&pcol::file(split)) => Some(b.file(&pcol::file(split))?),
            Some(b) => {
                tracing::warn!(dir = %b.dir.display(), "baseline artifact has no predictions for the split; comparison skipped");
                None
            }
            None => None,
        };
        let metrics = if evaluate.has(pcol::METRICS_FILE) {
            Some(evaluate.file(pcol::METRICS_FILE)?)
        } else {
            None
        };
        let history = match train {
            Some(t) if t.has(schema::train::HISTORY_FILE) => {
                Some(t.file(schema::train::HISTORY_FILE)?)
            }
            _ => None,
        };
        Ok(Self {
            split: path,
            fit,
            baseline,
            metrics,
            history,
        })
    }
}

/// Whether an evaluate artifact holds multi-label predictions (its `labels.json` says so).
pub fn is_multilabel(evaluate: &Artifact) -> Result<bool> {
    if !evaluate.has(schema::LABELS_FILE) {
        return Ok(false);
    }
    let map = LabelMap::read(&evaluate.file(schema::LABELS_FILE)?)?;
    Ok(map.task == TaskKind::Multilabel)
}

/// The decision record of `split` in an evaluate `metrics.json` (`<split>.decision`).
pub(crate) fn read_decision(
    path: &Path,
    split: &str,
    labels: usize,
) -> Result<Option<ThresholdRecord>> {
    let place = path.display().to_string();
    let doc: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(path)?)
        .map_err(|e| invalid(&place, format!("invalid JSON: {e}")))?;
    let Some(v) = doc.get(split).and_then(|m| m.get("decision")) else {
        return Ok(None);
    };
    let record: ThresholdRecord = serde_json::from_value(v.clone())
        .map_err(|e| invalid(format!("{place}: `{split}.decision`"), e.to_string()))?;
    if record.thresholds.len() != labels {
        return Err(invalid(
            format!("{place}: `{split}.decision.thresholds`"),
            format!("{} thresholds for {labels} labels", record.thresholds.len()),
        ));
    }
    Ok(Some(record))
}
