//! Task heads: `BertForTokenClassification`, `BertForSequenceClassification`, and
//! [`BertClassifier`], which holds either one, chosen by [`TaskKind`]. The same structs serve
//! the RoBERTa family (`RobertaFor…`, `XLMRobertaFor…`): the encoder sits under `roberta`, and
//! the sequence head is RoBERTa's `classifier.dense` → tanh → `classifier.out_proj`; and
//! DistilBERT (`distilbert`, sequence head `pre_classifier` → ReLU → `classifier`) and
//! ELECTRA (`electra`, RoBERTa's sequence head with GELU).

use flowcore::TaskKind;
use tch::{Tensor, nn};

use crate::config::{BertConfig, Family, MODEL_TYPES};
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
    /// ModernBERT's prediction head (`head.`) before the classifier.
    modern_head: Option<crate::modernbert::PredictionHead>,
    classifier: nn::Linear,
    dropout: f64,
}

impl BertForTokenClassification {
    /// Creates randomly initialised weights under `p` (the var-store root).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            bert: BertModel::new(&(p / config.family().prefix()), config, false),
            modern_head: (config.family() == Family::ModernBert)
                .then(|| crate::modernbert::PredictionHead::new(&(p / "head"), config)),
            classifier: match config.family() {
                Family::ModernBert => crate::modernbert::classifier(&(p / "classifier"), config),
                _ => linear(
                    &(p / "classifier"),
                    config.hidden_size,
                    config.num_labels(),
                    config,
                ),
            },
            // DeBERTa's token head reads `hidden_dropout_prob`.
            dropout: match config.family() {
                Family::Deberta => config.hidden_dropout_prob,
                _ => config.effective_classifier_dropout(),
            },
        }
    }

    /// Logits `(batch, seq_len, num_labels)`; `train` switches dropout on.
    pub fn forward_t(&self, inputs: &Inputs, train: bool) -> Result<ClassifierOutput> {
        let out = self.bert.forward_t(inputs, train)?;
        let hidden = match &self.modern_head {
            Some(head) => head.forward(&out.last_hidden_state)?,
            None => out.last_hidden_state.shallow_clone(),
        };
        let logits = hidden.dropout(self.dropout, train).apply(&self.classifier);
        Ok(ClassifierOutput {
            logits,
            last_hidden_state: out.last_hidden_state,
        })
    }
}

/// HF `BertForSequenceClassification`: `bert` with pooler (tanh(dense([CLS]))) → dropout →
/// `classifier`; for the RoBERTa family HF's `RobertaClassificationHead`: `roberta` without
/// pooler, first token → dropout → `classifier.dense` → tanh → dropout → `classifier.out_proj`.
#[derive(Debug)]
pub struct BertForSequenceClassification {
    /// The encoder, at var-store path `bert` (`roberta`).
    pub bert: BertModel,
    head: SequenceHead,
    dropout: f64,
}

#[derive(Debug)]
enum SequenceHead {
    /// BERT: the encoder's pooler, then `classifier`.
    Pooled(nn::Linear),
    /// RoBERTa: `classifier.dense`, tanh, `classifier.out_proj`; ELECTRA the same with GELU
    /// (`gelu`) instead of tanh.
    Roberta {
        dense: nn::Linear,
        out: nn::Linear,
        gelu: bool,
    },
    /// DistilBERT: `pre_classifier`, ReLU, `classifier`.
    Distil { pre: nn::Linear, out: nn::Linear },
    /// ModernBERT: first token or mean pooling, `head` (dense, activation, norm), dropout,
    /// `classifier`.
    Modern {
        head: crate::modernbert::PredictionHead,
        out: nn::Linear,
        mean: bool,
    },
    /// DeBERTa: transformers' `ContextPooler` (dropout `pooler_dropout`, `pooler.dense`,
    /// `pooler_hidden_act`), then dropout and `classifier`.
    Context {
        dense: nn::Linear,
        out: nn::Linear,
        act: String,
        pooler_dropout: f64,
    },
}

impl BertForSequenceClassification {
    /// Creates randomly initialised weights under `p` (the var-store root).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let family = config.family();
        let head = match family {
            Family::Bert => SequenceHead::Pooled(linear(
                &(p / "classifier"),
                config.hidden_size,
                config.num_labels(),
                config,
            )),
            Family::DistilBert => SequenceHead::Distil {
                pre: linear(
                    &(p / "pre_classifier"),
                    config.hidden_size,
                    config.hidden_size,
                    config,
                ),
                out: linear(
                    &(p / "classifier"),
                    config.hidden_size,
                    config.num_labels(),
                    config,
                ),
            },
            Family::ModernBert => SequenceHead::Modern {
                head: crate::modernbert::PredictionHead::new(&(p / "head"), config),
                out: crate::modernbert::classifier(&(p / "classifier"), config),
                mean: crate::modernbert::ModernSettings::of(config).mean_pooling,
            },
            Family::Deberta => SequenceHead::Context {
                dense: linear(
                    &(p / "pooler" / "dense"),
                    config.hidden_size,
                    config.hidden_size,
                    config,
                ),
                out: linear(
                    &(p / "classifier"),
                    config.hidden_size,
                    config.num_labels(),
                    config,
                ),
                act: crate::deberta::pooler_act(config),
                pooler_dropout: config
                    .extra
                    .get("pooler_dropout")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0),
            },
            Family::Roberta | Family::Electra => SequenceHead::Roberta {
                dense: linear(
                    &(p / "classifier" / "dense"),
                    config.hidden_size,
                    config.hidden_size,
                    config,
                ),
                out: linear(
                    &(p / "classifier" / "out_proj"),
                    config.hidden_size,
                    config.num_labels(),
                    config,
                ),
                gelu: family == Family::Electra,
            },
        };
        Self {
            bert: BertModel::new(&(p / family.prefix()), config, family == Family::Bert),
            head,
            dropout: match family {
                Family::DistilBert => config.seq_classif_dropout(),
                // `cls_dropout`, else `hidden_dropout_prob`.
                Family::Deberta => config
                    .extra
                    .get("cls_dropout")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(config.hidden_dropout_prob),
                _ => config.effective_classifier_dropout(),
            },
        }
    }

    /// Logits `(batch, num_labels)`; `train` switches dropout on.
    pub fn forward_t(&self, inputs: &Inputs, train: bool) -> Result<ClassifierOutput> {
        let out = self.bert.forward_t(inputs, train)?;
        let logits = match &self.head {
            SequenceHead::Pooled(classifier) => {
                // The model was built with a pooler, so `pooler_output` is present.
                let pooled = out
                    .pooler_output
                    .unwrap_or_else(|| out.last_hidden_state.select(1, 0));
                pooled.dropout(self.dropout, train).apply(classifier)
            }
            SequenceHead::Roberta {
                dense,
                out: proj,
                gelu,
            } => {
                let xs = out
                    .last_hidden_state
                    .select(1, 0)
                    .dropout(self.dropout, train)
                    .apply(dense);
                // ELECTRA's `get_activation("gelu")` is the exact (erf) GELU.
                let xs = if *gelu { xs.gelu("none") } else { xs.tanh() };
                xs.dropout(self.dropout, train).apply(proj)
            }
            SequenceHead::Modern {
                head,
                out: proj,
                mean,
            } => head
                .forward(&crate::modernbert::pool(
                    &out.last_hidden_state,
                    &inputs.attention_mask,
                    *mean,
                ))?
                .dropout(self.dropout, train)
                .apply(proj),
            SequenceHead::Context {
                dense,
                out: proj,
                act,
                pooler_dropout,
            } => crate::deberta::activation(
                &out.last_hidden_state
                    .select(1, 0)
                    .dropout(*pooler_dropout, train)
                    .apply(dense),
                act,
            )?
            .dropout(self.dropout, train)
            .apply(proj),
            SequenceHead::Distil { pre, out: proj } => out
                .last_hidden_state
                .select(1, 0)
                .apply(pre)
                .relu()
                .dropout(self.dropout, train)
                .apply(proj),
        };
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

    /// HF class name written to `architectures`, e.g. `RobertaForTokenClassification`.
    pub fn architecture(&self) -> String {
        architecture_of(&self.config, self.task())
    }
}

/// HF class name of BERT's head for `task`.
pub fn architecture(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Token => "BertForTokenClassification",
        TaskKind::Sequence | TaskKind::Multilabel => "BertForSequenceClassification",
    }
}

/// HF class name of the head for `task` in `config`'s family (`XLMRobertaForTokenClassification`).
pub fn architecture_of(config: &BertConfig, task: TaskKind) -> String {
    let head = match task {
        TaskKind::Token => "ForTokenClassification",
        TaskKind::Sequence | TaskKind::Multilabel => "ForSequenceClassification",
    };
    format!("{}{head}", config.class_stem())
}

/// HF's `problem_type` of a multi-label sequence classifier (`config.json`): with it,
/// `transformers` trains with BCE-with-logits and its pipelines read a sigmoid per label.
pub const MULTI_LABEL_PROBLEM: &str = "multi_label_classification";

/// The task of a config's `architectures`, when it names one of the two heads.
pub fn task_from_config(config: &BertConfig) -> Option<TaskKind> {
    config.architectures.as_ref()?.iter().find_map(|a| {
        let head = MODEL_TYPES
            .iter()
            .find_map(|(_, _, stem)| a.strip_prefix(stem))?;
        task_of_head(head, config)
    })
}

fn task_of_head(head: &str, config: &BertConfig) -> Option<TaskKind> {
    match head {
        "ForTokenClassification" => Some(TaskKind::Token),
        "ForSequenceClassification" => Some(
            if config.extra.get("problem_type").and_then(|v| v.as_str())
                == Some(MULTI_LABEL_PROBLEM)
            {
                TaskKind::Multilabel
            } else {
                TaskKind::Sequence
            },
        ),
        _ => None,
    }
}

/// Var-store prefix of the head weights, the only ones a checkpoint may lack.
pub const HEAD_PREFIX: &str = "classifier.";

/// Whether a var-store name is a head weight (`classifier.…`, DistilBERT's `pre_classifier.…`).
pub fn is_head(name: &str) -> bool {
    name.starts_with(HEAD_PREFIX)
        || name.starts_with("pre_classifier.")
        || name.starts_with("pooler.")
        || name.starts_with("head.")
}
