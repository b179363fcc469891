//! `BertConfig`: a serde mirror of Hugging Face's `config.json` for BERT models.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{BertError, Result};

/// Feed-forward activation, named as HF names it in `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HiddenAct {
    /// Exact (erf) GELU, HF's `gelu`.
    #[serde(rename = "gelu")]
    Gelu,
    /// tanh-approximated GELU, HF's `gelu_new` (also GPT-2's).
    #[serde(rename = "gelu_new")]
    GeluNew,
    /// tanh-approximated GELU as PyTorch computes it, HF's `gelu_pytorch_tanh`.
    #[serde(rename = "gelu_pytorch_tanh")]
    GeluPytorchTanh,
    /// `relu`.
    #[serde(rename = "relu")]
    Relu,
}

/// HF `BertConfig`, field names identical to `config.json`'s.
///
/// Fields this crate does not interpret (`_name_or_path`, `transformers_version`, …) are kept
/// in [`BertConfig::extra`] so a saved config round-trips them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Model classes the checkpoint was saved from, e.g. `["BertForTokenClassification"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Always `bert` for this crate.
    #[serde(default = "default_model_type")]
    pub model_type: String,
    /// Size of the WordPiece vocabulary.
    pub vocab_size: i64,
    /// Width of every hidden state.
    pub hidden_size: i64,
    /// Number of transformer layers.
    pub num_hidden_layers: i64,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer.
    pub intermediate_size: i64,
    /// Feed-forward activation.
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    /// Dropout after embeddings, attention output and feed-forward output.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Longest sequence the position embeddings cover.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: i64,
    /// Number of segment (token type) ids.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    /// Standard deviation of the normal initialiser.
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of `[PAD]`; its embedding row gets no gradient.
    #[serde(default)]
    pub pad_token_id: i64,
    /// Only `absolute` is implemented.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// Dropout before the classifier; `None` means `hidden_dropout_prob`.
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    /// Label name of each class id (HF writes the keys as strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<usize, String>>,
    /// Class id of each label name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, usize>>,
    /// Every other field of `config.json`, kept as is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_model_type() -> String {
    "bert".into()
}
fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_positions() -> i64 {
    512
}
fn default_type_vocab() -> i64 {
    2
}
fn default_init_range() -> f64 {
    0.02
}
fn default_eps() -> f64 {
    1e-12
}
fn default_position_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = fs_err::read_to_string(path)?;
        let config: Self = serde_json::from_str(&text).map_err(|source| BertError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Writes `config.json` (pretty, trailing newline).
    pub fn to_file(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|source| BertError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        fs_err::write(path, text + "\n")?;
        Ok(())
    }

    /// A small config for tests and benchmarks: `hidden` wide, `layers` deep, 4 heads,
    /// feed-forward `4 * hidden`, 512 positions, HF defaults for the rest.
    pub fn tiny(vocab_size: i64, hidden: i64, layers: i64) -> Self {
        Self {
            architectures: None,
            model_type: default_model_type(),
            vocab_size,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: 4,
            intermediate_size: 4 * hidden,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            position_embedding_type: default_position_type(),
            classifier_dropout: None,
            id2label: None,
            label2id: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Checks what the model code relies on; `path` names the source in the error.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let fail = |message: String| {
            Err(BertError::Config {
                path: path.to_path_buf(),
                message,
            })
        };
        if self.model_type != "bert" {
            return fail(format!(
                "model_type is `{}`; only `bert` is supported",
                self.model_type
            ));
        }
        if self.position_embedding_type != "absolute" {
            return fail(format!(
                "position_embedding_type is `{}`; only `absolute` is supported",
                self.position_embedding_type
            ));
        }
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (name, value) in sizes {
            if value <= 0 {
                return fail(format!("{name} is {value}; expected a positive integer"));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return fail(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !(0..self.vocab_size).contains(&self.pad_token_id) {
            return fail(format!(
                "pad_token_id {} is outside the vocabulary (size {})",
                self.pad_token_id, self.vocab_size
            ));
        }
        if let Some(id2label) = &self.id2label {
            for (i, id) in id2label.keys().enumerate() {
                if *id != i {
                    return fail(format!(
                        "id2label ids must be 0..{}; id {i} is missing",
                        id2label.len()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Number of classes: the size of `id2label`, or HF's default of 2 when it is absent.
    pub fn num_labels(&self) -> i64 {
        self.id2label.as_ref().map_or(2, |m| m.len() as i64)
    }

    /// Label names in id order, or `None` when the config has no `id2label`.
    pub fn labels(&self) -> Option<Vec<String>> {
        // `validate` guarantees the keys are 0..n, so map order is id order.
        self.id2label
            .as_ref()
            .map(|m| m.values().cloned().collect())
    }

    /// Sets `id2label` and `label2id` from label names in id order.
    pub fn set_labels(&mut self, labels: &[String]) {
        self.id2label = Some(labels.iter().cloned().enumerate().collect());
        self.label2id = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect(),
        );
    }

    /// Dropout before the classifier: `classifier_dropout`, else `hidden_dropout_prob`.
    pub fn effective_classifier_dropout(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_config_round_trips_unknown_fields_and_string_label_keys() {
        let text = r#"{"architectures":["BertForTokenClassification"],"model_type":"bert",
            "vocab_size":100,"hidden_size":32,"num_hidden_layers":2,"num_attention_heads":4,
            "intermediate_size":64,"hidden_act":"gelu_new","id2label":{"0":"O","1":"B-PER","10":"X"},
            "label2id":{"O":0},"_name_or_path":"x","transformers_version":"4.57.1"}"#;
        let config: BertConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config.hidden_act, HiddenAct::GeluNew);
        assert_eq!(config.extra["_name_or_path"], "x");
        assert_eq!(config.num_labels(), 3);
        // Ids 0, 1, 10: not contiguous, so validation must refuse it.
        let err = config
            .validate(Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("id 2 is missing"), "{err}");
        let back: serde_json::Value = serde_json::to_value(&config).unwrap();
        assert_eq!(back["id2label"]["10"], "X");
        assert_eq!(back["transformers_version"], "4.57.1");
    }

    #[test]
    fn labels_set_both_maps() {
        let mut config = BertConfig::tiny(10, 8, 1);
        assert_eq!(config.num_labels(), 2);
        assert_eq!(config.labels(), None);
        config.set_labels(&["O".into(), "B-LOC".into()]);
        assert_eq!(config.labels().unwrap(), vec!["O", "B-LOC"]);
        assert_eq!(config.label2id.as_ref().unwrap()["B-LOC"], 1);
    }

    #[test]
    fn unsupported_position_type_is_refused_by_name() {
        let mut config = BertConfig::tiny(10, 8, 1);
        config.position_embedding_type = "relative_key".into();
        let err = config.validate(Path::new("m/config.json")).unwrap_err();
        assert!(err.to_string().contains("relative_key"));
        assert!(err.to_string().contains("m/config.json"));
    }
}
