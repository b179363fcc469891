//! The stage's parameters and the models it can run.

use serde::{Deserialize, Serialize};

use flowcore::TaskKind;
use metrics::SummaryOptions;

use crate::tfidf::TfidfConfig;

/// A baseline model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// TF-IDF + multinomial logistic regression (sequence tasks).
    Logreg,
    /// TF-IDF + random forest (sequence tasks).
    RandomForest,
    /// The most frequent training label (sequence tasks).
    Majority,
    /// Averaged structured perceptron tagger (token tasks).
    Perceptron,
    /// Most frequent training tag per word, `O` otherwise (token tasks).
    Memorisation,
    /// TF-IDF + one binary logistic regression per label (multi-label tasks).
    OvrLogreg,
}

impl ModelKind {
    /// The name used in params, file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Logreg => "logreg",
            Self::RandomForest => "random_forest",
            Self::Majority => "majority",
            Self::Perceptron => "perceptron",
            Self::Memorisation => "memorisation",
            Self::OvrLogreg => "ovr_logreg",
        }
    }

    /// The task the model is for.
    pub fn task(self) -> TaskKind {
        match self {
            Self::Logreg | Self::RandomForest | Self::Majority => TaskKind::Sequence,
            Self::Perceptron | Self::Memorisation => TaskKind::Token,
            Self::OvrLogreg => TaskKind::Multilabel,
        }
    }

    /// Every model for a task, in report order.
    pub fn all_for(task: TaskKind) -> Vec<Self> {
        match task {
            TaskKind::Sequence => vec![Self::Logreg, Self::RandomForest, Self::Majority],
            TaskKind::Token => vec![Self::Perceptron, Self::Memorisation],
            TaskKind::Multilabel => vec![Self::OvrLogreg],
        }
    }

    /// The default primary model of a task (the one reflect compares against).
    pub fn default_primary(task: TaskKind) -> Self {
        match task {
            TaskKind::Sequence => Self::Logreg,
            TaskKind::Token => Self::Perceptron,
            TaskKind::Multilabel => Self::OvrLogreg,
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Logistic regression settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogRegParams {
    /// Inverse regularisation strength, as scikit-learn's `C` (larger = weaker L2 penalty).
    pub c: f64,
    /// Most L-BFGS iterations.
    pub max_iter: usize,
    /// Gradient tolerance of the optimiser.
    pub tol: f64,
}

impl Default for LogRegParams {
    fn default() -> Self {
        Self {
            c: 1.0,
            max_iter: 1000,
            tol: 1e-5,
        }
    }
}

/// Random forest settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForestParams {
    /// Number of trees.
    pub n_trees: usize,
    /// Deepest a tree may grow (absent: until the leaves are pure).
    pub max_depth: Option<usize>,
    /// Fewest examples a node needs to be split.
    pub min_samples_split: usize,
    /// Features tried per split (absent: the square root of the feature count).
    pub max_features: Option<usize>,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_trees: 100,
            max_depth: None,
            min_samples_split: 2,
            max_features: None,
        }
    }
}

/// Perceptron tagger settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerceptronParams {
    /// Passes over the training sentences.
    pub epochs: usize,
}

impl Default for PerceptronParams {
    fn default() -> Self {
        Self { epochs: 10 }
    }
}

/// The `[baseline]` table of a pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineParams {
    /// Task kind; taken from the pipeline when absent.
    pub task: Option<TaskKind>,
    /// Models to run; all models of the task when absent.
    pub models: Option<Vec<ModelKind>>,
    /// The model whose predictions are written as `predictions-<split>.parquet`;
    /// `logreg` for sequence tasks and `perceptron` for token tasks when absent.
    pub primary: Option<ModelKind>,
    /// Seed of every random choice (bootstrap, feature sampling, visiting order).
    pub seed: u64,
    /// TF-IDF features of the sequence models.
    pub tfidf: TfidfConfig,
    /// Logistic regression.
    pub logreg: LogRegParams,
    /// Random forest.
    pub random_forest: ForestParams,
    /// Perceptron tagger.
    pub perceptron: PerceptronParams,
    /// How the splits are scored (tag scheme, positive class, cost matrix), as in evaluate.
    pub metrics: SummaryOptions,
}

impl BaselineParams {
    /// Fill in the task-dependent defaults and check that the models fit the task.
    pub fn resolve(mut self, task: Option<TaskKind>) -> flowcore::Result<Self> {
        let task = self
            .task
            .or(task)
            .ok_or_else(|| flowcore::CoreError::Param {
                key: "task".into(),
                message: "the task kind is unknown: set `task` (`token` or `sequence`) in the \
                      pipeline or the stage's params"
                    .into(),
            })?;
        self.task = Some(task);
        let models = self
            .models
            .take()
            .unwrap_or_else(|| ModelKind::all_for(task));
        if models.is_empty() {
            return Err(flowcore::CoreError::Param {
                key: "models".into(),
                message: "the list is empty; name at least one model".into(),
            });
        }
        let mut unique: Vec<ModelKind> = Vec::new();
        for m in models {
            if m.task() != task {
                return Err(flowcore::CoreError::Param {
                    key: "models".into(),
                    message: format!(
                        "`{m}` is a {} model, but this is a {task} task; {task} models: {}",
                        m.task(),
                        ModelKind::all_for(task)
                            .iter()
                            .map(|m| m.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            if !unique.contains(&m) {
                unique.push(m);
            }
        }
        let primary = match self.primary {
            Some(p) => p,
            None if unique.contains(&ModelKind::default_primary(task)) => {
                ModelKind::default_primary(task)
            }
            None => unique[0],
        };
        if !unique.contains(&primary) {
            return Err(flowcore::CoreError::Param {
                key: "primary".into(),
                message: format!("`{primary}` is not among the models run ({unique:?})"),
            });
        }
        self.primary = Some(primary);
        self.models = Some(unique);
        if self.logreg.c <= 0.0 || self.logreg.c.is_nan() {
            return Err(flowcore::CoreError::Param {
                key: "logreg.c".into(),
                message: format!("must be positive, found {}", self.logreg.c),
            });
        }
        if self.random_forest.n_trees == 0 {
            return Err(flowcore::CoreError::Param {
                key: "random_forest.n_trees".into(),
                message: "must be at least 1".into(),
            });
        }
        if self.tfidf.word_ngrams == 0 {
            return Err(flowcore::CoreError::Param {
                key: "tfidf.word_ngrams".into(),
                message: "must be at least 1".into(),
            });
        }
        if let Some([lo, hi]) = self.tfidf.char_ngrams
            && (lo == 0 || hi < lo)
        {
            return Err(flowcore::CoreError::Param {
                key: "tfidf.char_ngrams".into(),
                message: format!("expected [min, max] with 1 <= min <= max, found [{lo}, {hi}]"),
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_depend_on_the_task() {
        let p = BaselineParams::default()
            .resolve(Some(TaskKind::Token))
            .unwrap();
        assert_eq!(
            p.models,
            Some(vec![ModelKind::Perceptron, ModelKind::Memorisation])
        );
        assert_eq!(p.primary, Some(ModelKind::Perceptron));
        let p = BaselineParams::default()
            .resolve(Some(TaskKind::Sequence))
            .unwrap();
        assert_eq!(p.primary, Some(ModelKind::Logreg));
    }

    #[test]
    fn wrong_model_for_the_task_names_the_key() {
        let raw = serde_json::json!({"models": ["perceptron"]});
        let p: BaselineParams = flowcore::params::parse(&raw).unwrap();
        let err = p.resolve(Some(TaskKind::Sequence)).unwrap_err().to_string();
        assert!(
            err.contains("`models`") && err.contains("token model"),
            "{err}"
        );
        let raw = serde_json::json!({"models": ["majority"], "primary": "logreg"});
        let p: BaselineParams = flowcore::params::parse(&raw).unwrap();
        let err = p.resolve(Some(TaskKind::Sequence)).unwrap_err().to_string();
        assert!(err.contains("`primary`"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let raw = serde_json::json!({"logreg": {"C": 2.0}});
        let err = flowcore::params::parse::<BaselineParams>(&raw)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("logreg") && err.contains("unknown field `C`"),
            "{err}"
        );
    }
}
