//! Task heads: `BertForTokenClassification`, `BertForSequenceClassification`, and
//! [`BertClassifier`], which holds either one, chosen by [`TaskKind`].

use flowcore::TaskKind;
use tch::{Tensor, nn};

use crate::config::BertConfig;
use crate::error::Result;
use crate::init::linear;
use crate::model::{BertModel, Inputs};

/// Output of a classification head.
#[derive(Debug)]
pub struct ClassifierOutput {
    /// Token head: `(batch, seq_len, num_labels)`; sequence head: `(batch, num_labels)`.
    pub logits: Tensor,
    /// `(batch, seq_len, hidden)`.
    pub last_hidden_state: Tensor,
}

/// HF `BertForTokenClassification`: `bert` (no pooler) → dropout → `classifier` per token.
#[derive(Debug)]
pub struct BertForTokenClassification {
    /// The encoder, at var-store path `bert`.
    pub bert: BertModel,
    classifier: nn::Linear,
    dropout: f64,
}

impl BertForTokenClassification {
    /// Creates randomly initialised weights under `p` (the var-store root).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            bert: BertModel::new(&(p / "bert"), config, false),
            classifier: linear(
                &(p / "classifier"),
                config.hidden_size,
                config.num_labels(),
                config,
            ),
            dropout: config.effective_classifier_dropout(),
        }
    }

    /// Logits `(batch, seq_len, num_labels)`; `train` switches dropout on.
    pub fn forward_t(&self, inputs: &Inputs, train: bool) -> Result<ClassifierOutput> {
        let out = self.bert.forward_t(inputs, train)?;
        let logits = out
            .last_hidden_state
            .dropout(self.dropout, train)
            .apply(&self.classifier);
        Ok(ClassifierOutput {
            logits,
            last_hidden_state: out.last_hidden_state,
        })
    }
}

/// HF `BertForSequenceClassification`: `bert` with pooler (tanh(dense([CLS]))) → dropout →
/// `classifier`.
#[derive(Debug)]
pub struct BertForSequenceClassification {
    /// The encoder, at var-store path `bert`.
    pub bert: BertModel,
    classifier: nn::Linear,
    dropout: f64,
}

impl BertForSequenceClassification {
    /// Creates randomly initialised weights under `p` (the var-store root).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            bert: BertModel::new(&(p / "bert"), config, true),
            classifier: linear(
                &(p / "classifier"),
                config.hidden_size,
                config.num_labels(),
                config,
            ),
            dropout: config.effective_classifier_dropout(),
        }
    }

    /// Logits `(batch, num_labels)`; `train` switches dropout on.
    pub fn forward_t(&self, inputs: &Inputs, train: bool) -> Result<ClassifierOutput> {
        let out = self.bert.forward_t(inputs, train)?;
        // The model was built with a pooler, so `pooler_output` is present.
        let pooled = out
            .pooler_output
            .unwrap_or_else(|| out.last_hidden_state.select(1, 0));
        let logits = pooled.dropout(self.dropout, train).apply(&self.classifier);
        Ok(ClassifierOutput {
            logits,
            last_hidden_state: out.last_hidden_state,
        })
    }
}

/// Either head, with the config it was built from (needed to save it).
#[derive(Debug)]
pub struct BertClassifier {
    head: Head,
    config: BertConfig,
    task: TaskKind,
}

#[derive(Debug)]
enum Head {
    Token(BertForTokenClassification),
    Sequence(BertForSequenceClassification),
}

impl BertClassifier {
    /// Creates a randomly initialised model for `task` under the var-store root `p`, with
    /// `config.num_labels()` classes. Seed libtorch (`tch::manual_seed`) first for a
    /// reproducible initialisation.
    pub fn new(p: &nn::Path, config: &BertConfig, task: TaskKind) -> Self {
        let head = match task {
            TaskKind::Token => Head::Token(BertForTokenClassification::new(p, config)),
            TaskKind::Sequence | TaskKind::Multilabel => {
                Head::Sequence(BertForSequenceClassification::new(p, config))
            }
        };
        Self {
            head,
            config: config.clone(),
            task,
        }
    }

    /// Runs the model; `train` switches dropout on.
    pub fn forward_t(&self, inputs: &Inputs, train: bool) -> Result<ClassifierOutput> {
        match &self.head {
            Head::Token(m) => m.forward_t(inputs, train),
            Head::Sequence(m) => m.forward_t(inputs, train),
        }
    }

    /// Which task the head serves (a multi-label model has the sequence head; its outputs
    /// are read through a sigmoid per label).
    pub fn task(&self) -> TaskKind {
        self.task
    }

    /// The config, including `id2label`/`label2id`.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Number of classes (the last dimension of the logits).
    pub fn num_labels(&self) -> i64 {
        self.config.num_labels()
    }

    /// HF class name written to `architectures`.
    pub fn architecture(&self) -> &'static str {
        architecture(self.task())
    }
}

/// HF class name of the head for `task`.
pub fn architecture(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Token => "BertForTokenClassification",
        TaskKind::Sequence | TaskKind::Multilabel => "BertForSequenceClassification",
    }
}

/// HF's `problem_type` of a multi-label sequence classifier (`config.json`): with it,
/// `transformers` trains with BCE-with-logits and its pipelines read a sigmoid per label.
pub const MULTI_LABEL_PROBLEM: &str = "multi_label_classification";

/// The task of a config's `architectures`, when it names one of the two heads.
pub fn task_from_config(config: &BertConfig) -> Option<TaskKind> {
    config
        .architectures
        .as_ref()?
        .iter()
        .find_map(|a| match a.as_str() {
            "BertForTokenClassification" => Some(TaskKind::Token),
            "BertForSequenceClassification" => Some(
                if config.extra.get("problem_type").and_then(|v| v.as_str())
                    == Some(MULTI_LABEL_PROBLEM)
                {
                    TaskKind::Multilabel
                } else {
                    TaskKind::Sequence
                },
            ),
            _ => None,
        })
}

/// Var-store prefix of the head weights, the only ones a checkpoint may lack.
pub const HEAD_PREFIX: &str = "classifier.";
