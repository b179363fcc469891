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

/// The model families this crate builds, by `config.json`'s `model_type`.
///
/// RoBERTa, XLM-RoBERTa and CamemBERT are BERT's encoder with three differences, all handled
/// here: positions count from `pad_token_id + 1` and skip padding, there is one token type,
/// and the sequence head is `classifier.dense` → tanh → `classifier.out_proj` on the first
/// token instead of BERT's pooler. Their weights live under `roberta.` instead of `bert.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `bert`.
    Bert,
    /// `roberta`, `xlm-roberta`, `camembert`.
    Roberta,
    /// `distilbert`: no token types, no pooler, its own config keys and weight names (mapped
    /// to BERT's on load and back on save), and a `pre_classifier` → ReLU sequence head.
    DistilBert,
    /// `electra` (the discriminator): BERT's layers under `electra.`, embeddings of width
    /// `embedding_size` projected to `hidden_size` by `embeddings_project` when the two
    /// differ, no pooler, and RoBERTa's sequence head with GELU instead of tanh.
    Electra,
    /// `deberta-v2` (DeBERTa-v2 and v3): disentangled attention over relative positions (see
    /// [`crate::deberta`]) under `deberta.`, transformers' names kept; sequence head
    /// `pooler.dense` → `pooler_hidden_act` → `classifier`.
    Deberta,
    /// `modernbert`: rotary positions, GeGLU, alternating global and sliding-window attention,
    /// pre-norm layers (see [`crate::modernbert`]) under `model.`, its own config keys
    /// (`hidden_activation`, `norm_eps`; mapped on load and back on save); heads with
    /// transformers' `ModernBertPredictionHead` before `classifier`.
    ModernBert,
}

/// `model_type` values that load, with their family and HF class-name stem.
pub const MODEL_TYPES: [(&str, Family, &str); 8] = [
    ("bert", Family::Bert, "Bert"),
    ("roberta", Family::Roberta, "Roberta"),
    ("xlm-roberta", Family::Roberta, "XLMRoberta"),
    ("camembert", Family::Roberta, "Camembert"),
    ("distilbert", Family::DistilBert, "DistilBert"),
    ("electra", Family::Electra, "Electra"),
    ("deberta-v2", Family::Deberta, "DebertaV2"),
    ("modernbert", Family::ModernBert, "ModernBert"),
];

/// A family whose `config.json` names some of BERT's settings its own way: read under BERT's
/// names, written back under its own.
struct OwnKeys {
    family: Family,
    /// Its keys and the BERT keys they are read as.
    renamed: &'static [(&'static str, &'static str)],
    /// BERT keys it does not have (their values are fixed there): not written back.
    absent: &'static [&'static str],
    /// JSON values read for BERT keys it lacks, or where transformers' defaults differ from
    /// BERT's (only when the file does not set them).
    defaults: &'static [(&'static str, &'static str)],
}

const OWN_KEYS: [OwnKeys; 2] = [
    OwnKeys {
        family: Family::DistilBert,
        renamed: &[
            ("dim", "hidden_size"),
            ("n_layers", "num_hidden_layers"),
            ("n_heads", "num_attention_heads"),
            ("hidden_dim", "intermediate_size"),
            ("activation", "hidden_act"),
            ("dropout", "hidden_dropout_prob"),
            ("attention_dropout", "attention_probs_dropout_prob"),
        ],
        absent: &[
            "type_vocab_size",
            "layer_norm_eps",
            "position_embedding_type",
            "classifier_dropout",
        ],
        defaults: &[("type_vocab_size", "1")],
    },
    OwnKeys {
        family: Family::ModernBert,
        renamed: &[
            ("hidden_activation", "hidden_act"),
            ("norm_eps", "layer_norm_eps"),
        ],
        absent: &[
            "type_vocab_size",
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "position_embedding_type",
        ],
        defaults: &[
            ("type_vocab_size", "1"),
            ("layer_norm_eps", "1e-5"),
            ("classifier_dropout", "0.0"),
        ],
    },
];

/// The family `model_type` names (BERT for an unknown one, which validation refuses).
fn family_of(model_type: &str) -> Family {
    MODEL_TYPES
        .iter()
        .find(|(t, _, _)| *t == model_type)
        .map_or(Family::Bert, |(_, f, _)| *f)
}

impl OwnKeys {
    /// The entry of `family`, if it has its own keys.
    fn of(family: Family) -> Option<&'static Self> {
        OWN_KEYS.iter().find(|k| k.family == family)
    }
}

impl Family {
    /// Var-store prefix of the encoder inside a head model (`bert`, `roberta`, `distilbert`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::DistilBert => "distilbert",
            Self::Electra => "electra",
            Self::Deberta => "deberta",
            Self::ModernBert => "model",
        }
    }

    /// Position ids start here (after the padding id for RoBERTa).
    pub fn position_offset(self, pad_token_id: i64) -> Option<i64> {
        match self {
            Self::Bert | Self::DistilBert | Self::Electra | Self::Deberta | Self::ModernBert => {
                None
            }
            Self::Roberta => Some(pad_token_id + 1),
        }
    }

    /// Whether the encoder has token type (segment) embeddings.
    pub fn has_token_types(self) -> bool {
        !matches!(self, Self::DistilBert | Self::ModernBert)
    }

    /// Whether the bare encoder has a pooler (`BertModel`, `RobertaModel`).
    pub fn has_pooler(self) -> bool {
        matches!(self, Self::Bert | Self::Roberta)
    }
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
    /// `bert`, `roberta`, `xlm-roberta`, `camembert`, `distilbert` or `electra` (see
    /// [`MODEL_TYPES`]).
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
    /// Reads and validates `config.json` (a DistilBERT config's own keys read as BERT's).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = fs_err::read_to_string(path)?;
        let json_err = |source| BertError::Json {
            path: path.to_path_buf(),
            source,
        };
        let mut value: serde_json::Value = serde_json::from_str(&text).map_err(json_err)?;
        let family = value
            .get("model_type")
            .and_then(|t| t.as_str())
            .map(family_of);
        if let (Some(keys), Some(map)) = (family.and_then(OwnKeys::of), value.as_object_mut()) {
            for (theirs, ours) in keys.renamed {
                if let Some(v) = map.remove(*theirs) {
                    map.insert((*ours).into(), v);
                }
            }
            for (key, json) in keys.defaults {
                if !map.contains_key(*key) {
                    map.insert((*key).into(), serde_json::from_str(json).map_err(json_err)?);
                }
            }
        }
        let config: Self = serde_json::from_value(value).map_err(json_err)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Writes `config.json` (pretty, trailing newline), under the family's own keys.
    pub fn to_file(&self, path: &Path) -> Result<()> {
        let json_err = |source| BertError::Json {
            path: path.to_path_buf(),
            source,
        };
        let mut value = serde_json::to_value(self).map_err(json_err)?;
        if let (Some(keys), Some(map)) = (OwnKeys::of(self.family()), value.as_object_mut()) {
            for key in keys.absent {
                map.remove(*key);
            }
            for (theirs, ours) in keys.renamed {
                if let Some(v) = map.remove(*ours) {
                    map.insert((*theirs).into(), v);
                }
            }
        }
        let text = serde_json::to_string_pretty(&value).map_err(json_err)?;
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
        if !MODEL_TYPES.iter().any(|(t, _, _)| *t == self.model_type) {
            return fail(format!(
                "model_type is `{}`; supported: {}",
                self.model_type,
                MODEL_TYPES.map(|(t, _, _)| t).join(", ")
            ));
        }
        if let Some(offset) = self.family().position_offset(self.pad_token_id)
            && self.max_position_embeddings <= offset
        {
            return fail(format!(
                "max_position_embeddings {} leaves no position after the {offset} a {} model reserves",
                self.max_position_embeddings, self.model_type
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
            // DeBERTa-v3 has no token types (type_vocab_size 0).
            let floor = i64::from(!(name == "type_vocab_size" && self.family() == Family::Deberta));
            if value < floor {
                return fail(format!(
                    "{name} is {value}; expected an integer of at least {floor}"
                ));
            }
        }
        if self.family() == Family::Deberta {
            self.validate_deberta().map_or(Ok(()), fail)?;
        }
        if self.family() == Family::ModernBert {
            let act =
                crate::settings::ModernSettings::from_extra(&self.extra).classifier_activation;
            if !crate::settings::known_activation(&act) {
                return fail(format!(
                    "classifier_activation is `{act}`; supported: gelu, gelu_new, gelu_pytorch_tanh, tanh, relu"
                ));
            }
            if self.head_dim() % 2 != 0 {
                return fail(format!(
                    "head size {} is odd; rotary positions rotate pairs of dimensions",
                    self.head_dim()
                ));
            }
        }
        if self.embedding_size() <= 0 {
            return fail(format!(
                "embedding_size is {}; expected a positive integer",
                self.embedding_size()
            ));
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

    /// DistilBERT's dropout before its sequence head (`seq_classif_dropout`, HF default 0.2).
    pub fn seq_classif_dropout(&self) -> f64 {
        self.extra
            .get("seq_classif_dropout")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.2)
    }

    /// The family `model_type` names (BERT for an unknown one; [`Self::validate`] refuses
    /// those).
    pub fn family(&self) -> Family {
        family_of(&self.model_type)
    }

    /// HF class-name stem of `model_type` (`Bert`, `Roberta`, `XLMRoberta`, `Camembert`).
    pub fn class_stem(&self) -> &'static str {
        MODEL_TYPES
            .iter()
            .find(|(t, _, _)| *t == self.model_type)
            .map_or("Bert", |(_, _, s)| s)
    }

    /// The longest input in sub-words, special tokens included: `max_position_embeddings`,
    /// less the positions RoBERTa reserves below its first.
    pub fn max_input_tokens(&self) -> i64 {
        self.max_position_embeddings
            - self
                .family()
                .position_offset(self.pad_token_id)
                .unwrap_or(0)
    }

    /// Width of the embeddings: ELECTRA's `embedding_size` (projected to `hidden_size` by
    /// `embeddings_project` when the two differ), `hidden_size` for the other families.
    pub fn embedding_size(&self) -> i64 {
        match self.family() {
            Family::Electra | Family::Deberta => self
                .extra
                .get("embedding_size")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(self.hidden_size),
            _ => self.hidden_size,
        }
    }

    /// What this crate's DeBERTa cannot build, as a message (`None`: it can).
    fn validate_deberta(&self) -> Option<String> {
        let s =
            crate::settings::DebertaSettings::from_extra(&self.extra, self.max_position_embeddings);
        let int = |k: &str| self.extra.get(k).and_then(serde_json::Value::as_i64);
        for key in ["pooler_hidden_act", "conv_act"] {
            if let Some(act) = self.extra.get(key).and_then(serde_json::Value::as_str)
                && !crate::settings::known_activation(act)
            {
                return Some(format!(
                    "{key} is `{act}`; supported: gelu, gelu_new, gelu_pytorch_tanh, tanh, relu"
                ));
            }
        }
        if let Some(size) = int("attention_head_size").filter(|&d| d != self.head_dim()) {
            return Some(format!(
                "attention_head_size {size} differs from hidden_size / num_attention_heads = {}; not supported",
                self.head_dim()
            ));
        }
        if let Some(size) = int("pooler_hidden_size").filter(|&d| d != self.hidden_size) {
            return Some(format!(
                "pooler_hidden_size {size} differs from hidden_size {}; not supported",
                self.hidden_size
            ));
        }
        if s.relative_attention && s.span() < 1 {
            return Some(
                "relative_attention without a positive position_buckets or max_relative_positions"
                    .into(),
            );
        }
        if s.conv_kernel_size > 0 && self.hidden_size % s.conv_groups.max(1) != 0 {
            return Some(format!(
                "hidden_size {} is not a multiple of conv_groups {}",
                self.hidden_size, s.conv_groups
            ));
        }
        None
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
    fn model_types_name_their_family_and_unknown_ones_list_the_supported() {
        let mut config = BertConfig::tiny(10, 8, 1);
        for (t, family, stem) in MODEL_TYPES {
            config.model_type = t.into();
            config.pad_token_id = 1;
            assert_eq!((config.family(), config.class_stem()), (family, stem));
            config.validate(Path::new("c.json")).unwrap();
        }
        config.model_type = "roberta".into();
        assert_eq!(config.max_input_tokens(), 512 - 2);
        config.model_type = "albert".into();
        let err = config.validate(Path::new("m/config.json")).unwrap_err();
        assert!(
            err.to_string().contains(
                "`albert`; supported: bert, roberta, xlm-roberta, camembert, distilbert, electra, deberta-v2, modernbert"
            ),
            "{err}"
        );
    }

    #[test]
    fn deberta_settings_are_checked_by_name() {
        let mut config = BertConfig::tiny(10, 8, 1);
        config.model_type = "deberta-v2".into();
        config.type_vocab_size = 0;
        config.validate(Path::new("c.json")).unwrap();
        for (key, value, says) in [
            (
                "pooler_hidden_act",
                serde_json::json!("swish"),
                "pooler_hidden_act is `swish`",
            ),
            (
                "attention_head_size",
                serde_json::json!(3),
                "attention_head_size 3",
            ),
            (
                "pooler_hidden_size",
                serde_json::json!(16),
                "pooler_hidden_size 16",
            ),
        ] {
            let mut c = config.clone();
            c.extra.insert(key.into(), value);
            let err = c.validate(Path::new("c.json")).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        // Token types: 0 is DeBERTa-v3's; BERT needs one.
        config.model_type = "bert".into();
        let err = config
            .validate(Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("type_vocab_size is 0"), "{err}");
    }

    #[test]
    fn distilbert_configs_read_as_bert_keys_and_write_back_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let text = r#"{"model_type":"distilbert","architectures":["DistilBertForSequenceClassification"],
            "vocab_size":100,"dim":32,"n_layers":2,"n_heads":4,"hidden_dim":64,"activation":"gelu",
            "dropout":0.1,"attention_dropout":0.05,"seq_classif_dropout":0.3,"max_position_embeddings":64,
            "sinusoidal_pos_embds":false,"pad_token_id":0}"#;
        std::fs::write(&path, text).unwrap();
        let config = BertConfig::from_file(&path).unwrap();
        assert_eq!(config.family(), Family::DistilBert);
        assert_eq!(
            (
                config.hidden_size,
                config.num_hidden_layers,
                config.intermediate_size
            ),
            (32, 2, 64)
        );
        assert_eq!(config.attention_probs_dropout_prob, 0.05);
        assert_eq!(config.seq_classif_dropout(), 0.3);
        config.to_file(&path).unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            (back["dim"].as_i64(), back["n_heads"].as_i64()),
            (Some(32), Some(4))
        );
        assert_eq!(back["attention_dropout"], 0.05);
        for bert_key in [
            "hidden_size",
            "type_vocab_size",
            "layer_norm_eps",
            "hidden_act",
        ] {
            assert!(back.get(bert_key).is_none(), "{bert_key} written: {back}");
        }
        assert_eq!(back["sinusoidal_pos_embds"], false);
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
