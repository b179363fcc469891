//! The settings of the families whose `config.json` has keys BERT's lacks (DeBERTa-v2/v3,
//! ModernBERT), read from [`crate::config::BertConfig::extra`] with transformers' defaults.
//! They sit below both the config (which validates them) and the models (which build from
//! them), so neither depends on the other.

/// The DeBERTa settings of a config (`extra` keys, transformers' defaults).
#[derive(Debug, Clone)]
pub struct DebertaSettings {
    /// `relative_attention`.
    pub relative_attention: bool,
    /// `position_buckets` (≤ 0: none).
    pub position_buckets: i64,
    /// `max_relative_positions` (< 1: `max_position_embeddings`).
    pub max_relative_positions: i64,
    /// `pos_att_type` has `c2p`.
    pub c2p: bool,
    /// `pos_att_type` has `p2c`.
    pub p2c: bool,
    /// `share_att_key`.
    pub share_att_key: bool,
    /// `norm_rel_ebd` has `layer_norm`.
    pub norm_rel_ebd: bool,
    /// `position_biased_input`.
    pub position_biased_input: bool,
    /// `conv_kernel_size` (0: no convolution).
    pub conv_kernel_size: i64,
    /// `conv_groups`.
    pub conv_groups: i64,
    /// `conv_act`.
    pub conv_act: String,
}

impl DebertaSettings {
    /// Reads the settings from a config's `extra` keys (`max_position_embeddings` is the
    /// default relative span).
    pub fn from_extra(
        extra: &serde_json::Map<String, serde_json::Value>,
        max_position_embeddings: i64,
    ) -> Self {
        let get = |k: &str| extra.get(k);
        let bool_of = |k: &str, d: bool| get(k).and_then(serde_json::Value::as_bool).unwrap_or(d);
        let int_of = |k: &str, d: i64| get(k).and_then(serde_json::Value::as_i64).unwrap_or(d);
        let types: Vec<String> = match get("pos_att_type") {
            Some(serde_json::Value::String(s)) => s
                .to_lowercase()
                .split('|')
                .map(|x| x.trim().to_string())
                .collect(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|x| x.as_str().map(str::to_lowercase))
                .collect(),
            _ => Vec::new(),
        };
        let norm = get("norm_rel_ebd")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("none")
            .to_lowercase();
        let max_rel = int_of("max_relative_positions", -1);
        Self {
            relative_attention: bool_of("relative_attention", false),
            position_buckets: int_of("position_buckets", -1),
            max_relative_positions: if max_rel < 1 {
                max_position_embeddings
            } else {
                max_rel
            },
            c2p: types.iter().any(|t| t == "c2p"),
            p2c: types.iter().any(|t| t == "p2c"),
            share_att_key: bool_of("share_att_key", false),
            norm_rel_ebd: norm.split('|').any(|x| x.trim() == "layer_norm"),
            position_biased_input: bool_of("position_biased_input", true),
            conv_kernel_size: int_of("conv_kernel_size", 0),
            conv_groups: int_of("conv_groups", 1),
            conv_act: get("conv_act")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("tanh")
                .to_string(),
        }
    }

    /// Rows of the relative-position table used on each side of 0 (`att_span`).
    pub fn span(&self) -> i64 {
        if self.position_buckets > 0 {
            self.position_buckets
        } else {
            self.max_relative_positions
        }
    }

    /// `1 + #disentangled terms`: the factor under the square root of the score scale.
    pub(crate) fn scale_factor(&self) -> i64 {
        1 + i64::from(self.c2p) + i64::from(self.p2c)
    }
}

/// The ModernBERT settings of a config (`extra` keys, transformers' defaults).
#[derive(Debug, Clone)]
pub struct ModernSettings {
    /// `norm_bias`.
    pub norm_bias: bool,
    /// `attention_bias`.
    pub attention_bias: bool,
    /// `mlp_bias`.
    pub mlp_bias: bool,
    /// `classifier_bias`.
    pub classifier_bias: bool,
    /// `global_attn_every_n_layers`.
    pub global_every: i64,
    /// `local_attention` (window width; keys within half of it on each side).
    pub local_attention: i64,
    /// `global_rope_theta`.
    pub global_theta: f64,
    /// `local_rope_theta` (else the global one).
    pub local_theta: f64,
    /// `embedding_dropout`.
    pub embedding_dropout: f64,
    /// `mlp_dropout`.
    pub mlp_dropout: f64,
    /// `attention_dropout`.
    pub attention_dropout: f64,
    /// `classifier_activation`.
    pub classifier_activation: String,
    /// `classifier_pooling` is `mean` (else `cls`).
    pub mean_pooling: bool,
    /// `initializer_cutoff_factor`: new weights are normals truncated at this many standard
    /// deviations (transformers' config default 2.0).
    pub cutoff_factor: f64,
}

impl ModernSettings {
    /// Reads the settings from a config's `extra` keys.
    pub fn from_extra(extra: &serde_json::Map<String, serde_json::Value>) -> Self {
        let get = |k: &str| extra.get(k);
        let b = |k: &str, d: bool| get(k).and_then(serde_json::Value::as_bool).unwrap_or(d);
        let f = |k: &str, d: f64| get(k).and_then(serde_json::Value::as_f64).unwrap_or(d);
        let global_theta = f("global_rope_theta", 160_000.0);
        Self {
            norm_bias: b("norm_bias", false),
            attention_bias: b("attention_bias", false),
            mlp_bias: b("mlp_bias", false),
            classifier_bias: b("classifier_bias", false),
            global_every: get("global_attn_every_n_layers")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(3),
            local_attention: get("local_attention")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(128),
            global_theta,
            local_theta: get("local_rope_theta")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(global_theta),
            embedding_dropout: f("embedding_dropout", 0.0),
            mlp_dropout: f("mlp_dropout", 0.0),
            attention_dropout: f("attention_dropout", 0.0),
            classifier_activation: get("classifier_activation")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("gelu")
                .to_string(),
            mean_pooling: get("classifier_pooling").and_then(serde_json::Value::as_str)
                == Some("mean"),
            cutoff_factor: f("initializer_cutoff_factor", 2.0),
        }
    }

    /// Whether layer `i` attends globally.
    pub(crate) fn is_global(&self, i: i64) -> bool {
        self.global_every <= 1 || i % self.global_every == 0
    }
}

/// Whether `act` names an activation the models know (`crate::deberta`'s `activation`:
/// gelu, gelu_new, gelu_pytorch_tanh, tanh, relu); checked at config load.
pub fn known_activation(act: &str) -> bool {
    matches!(
        act,
        "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "tanh" | "relu"
    )
}
