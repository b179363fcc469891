//! A checkpoint loaded for scoring: the model with its label order reconciled with the
//! data's by name, so every caller (the stage, the probes, `predict`) gets probabilities in
//! data label order.

use std::path::Path;

use bert::BertClassifier;
use flowcore::LabelMap;

use crate::error::{EvaluateError, Result};
use crate::labels::{reconcile, reorder};
use infer::{ExampleOutput, InferOptions, infer, merge};

/// A loaded checkpoint with its labels reconciled with the data's.
pub struct Scorer {
    /// The model, in eval mode use only.
    pub model: BertClassifier,
    /// The data's labels.
    pub labels: LabelMap,
    /// For each data label, its index in the model's output.
    pub perm: Vec<usize>,
    /// Inference options.
    pub opts: InferOptions,
    _vs: tch::nn::VarStore,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer")
            .field("labels", &self.labels)
            .field("perm", &self.perm)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Scorer {
    /// Loads `model_dir` for the data labels in `labels_path`, mapping label orders by name.
    pub fn load(model_dir: &Path, labels_path: &Path, opts: InferOptions) -> Result<Self> {
        Self::load_with(model_dir, labels_path, opts, None)
    }

    /// [`Scorer::load`] where the data's `out_of_scope` label may be missing from the
    /// checkpoint (trained without it): it then gets probability 0.
    pub fn load_with(
        model_dir: &Path,
        labels_path: &Path,
        opts: InferOptions,
        out_of_scope: Option<&str>,
    ) -> Result<Self> {
        let labels = LabelMap::read(labels_path)?;
        let config_path = model_dir.join(bert::checkpoint::CONFIG_FILE);
        let config = bert::BertConfig::from_file(&config_path)?;
        if let Some(task) = bert::task_from_config(&config)
            && task != labels.task
        {
            return Err(EvaluateError::Invalid(format!(
                "{} is a {task}-classification checkpoint, but {} describes a {} task",
                config_path.display(),
                labels_path.display(),
                labels.task
            )));
        }
        let (model, vs, _report) = bert::load(model_dir, labels.task, &[], opts.device)?;
        let checkpoint_labels = model.config().labels().unwrap_or_default();
        let perm = reconcile(
            &checkpoint_labels,
            &labels.labels,
            &format!("id2label of {}", config_path.display()),
            &labels_path.display().to_string(),
            out_of_scope,
        )?;
        Ok(Self {
            model,
            labels,
            perm,
            opts,
            _vs: vs,
        })
    }

    /// Runs the model over windows and merges them, probabilities in data label order.
    pub fn score(&self, windows: &[tokenize::Window]) -> Result<Vec<ExampleOutput>> {
        let mut outputs = infer(&self.model, windows, &self.opts)?;
        reorder(&mut outputs, &self.perm);
        Ok(merge(self.labels.task, windows, &outputs)?)
    }
}
