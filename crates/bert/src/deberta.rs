//! DeBERTa-v2/v3 (`model_type = "deberta-v2"`): BERT's layer with **disentangled attention**
//! (He et al. 2021), equal to transformers' `DebertaV2Model`.
//!
//! What differs from BERT, each at transformers' weight name under `deberta.`:
//! - Attention scores add content→position (`c2p`) and position→content (`p2c`) terms: the
//!   queries (keys) against projections of shared relative-position embeddings
//!   (`encoder.rel_embeddings`, LayerNorm-ed by `encoder.LayerNorm` when `norm_rel_ebd` says
//!   `layer_norm`), gathered at each pair's relative distance, bucketed logarithmically beyond
//!   `position_buckets / 2` (v3). The projections are the layer's own `query_proj`/`key_proj`
//!   (`share_att_key`) or `pos_query_proj`/`pos_key_proj`; the scale is
//!   `sqrt(head_dim · (1 + #terms))`.
//! - The mask is pairwise (a padded query attends to nothing), and the embeddings are zeroed
//!   at padding; no absolute positions unless `position_biased_input`; no token types when
//!   `type_vocab_size` is 0; `embed_proj` (no bias) when `embedding_size` ≠ `hidden_size`.
//! - An optional convolution after the first layer (`encoder.conv`, `conv_kernel_size` > 0,
//!   DeBERTa-v2 xlarge).
//!
//! The feed-forward block and the output LayerNorms are BERT's ([`crate::layer`]). The
//! sequence head is transformers' `ContextPooler` (`pooler.dense` and `pooler_hidden_act` on the
//! first token) then `classifier` ([`crate::heads`]).

use tch::{Kind, Tensor, nn};

use crate::attention::BertSelfOutput;
use crate::config::BertConfig;
use crate::error::{BertError, Result};
use crate::init::{NO_DECAY_GROUP, embedding_weight, layer_norm, linear};
use crate::layer::{BertIntermediate, BertOutput};

/// `hidden_act`-style activation by name (`gelu`, `tanh`, …) as transformers' `ACT2FN`.
pub(crate) fn activation(xs: &Tensor, name: &str) -> Result<Tensor> {
    Ok(match name {
        "gelu" => xs.gelu("none"),
        "gelu_new" | "gelu_pytorch_tanh" => xs.gelu("tanh"),
        "tanh" => xs.tanh(),
        "relu" => xs.relu(),
        other => {
            return Err(BertError::Input(format!(
                "activation `{other}` is not supported (gelu, gelu_new, gelu_pytorch_tanh, tanh, relu)"
            )));
        }
    })
}

pub use crate::settings::DebertaSettings;

impl DebertaSettings {
    /// Reads the settings from `config.extra`.
    pub fn of(config: &BertConfig) -> Self {
        Self::from_extra(&config.extra, config.max_position_embeddings)
    }
}

/// Relative positions `q − k` `(len, len)` (int64), bucketed logarithmically beyond
/// `buckets / 2` when `buckets > 0` (transformers' `make_log_bucket_position`, in fp32).
pub fn relative_positions(
    len: i64,
    buckets: i64,
    max_position: i64,
    device: tch::Device,
) -> Tensor {
    let ids = Tensor::arange(len, (Kind::Int64, device));
    let rel = ids.unsqueeze(1) - ids.unsqueeze(0);
    if buckets <= 0 || max_position <= 0 {
        return rel;
    }
    let mid = buckets / 2;
    let sign = rel.sign();
    let inside = rel.lt(mid).logical_and(&rel.gt(-mid));
    let abs_pos = rel.abs().where_self(
        &inside.logical_not(),
        &Tensor::from(mid - 1).to_device(device),
    );
    let denom = Tensor::from(((max_position - 1) as f64 / mid as f64) as f32)
        .to_device(device)
        .log();
    let log_pos = ((abs_pos.to_kind(Kind::Float) / mid as f64).log() / denom * (mid - 1) as f64)
        .ceil()
        + mid as f64;
    let near = abs_pos.le(mid);
    rel.to_kind(Kind::Float)
        .where_self(&near, &(log_pos * sign.to_kind(Kind::Float)))
        .to_kind(Kind::Int64)
}

/// `deberta.embeddings`.
#[derive(Debug)]
struct DebertaEmbeddings {
    word_embeddings: Tensor,
    position_embeddings: Option<Tensor>,
    token_type_embeddings: Option<Tensor>,
    embed_proj: Option<Tensor>,
    layer_norm: nn::LayerNorm,
    dropout: f64,
    pad_token_id: i64,
    max_positions: i64,
}

impl DebertaEmbeddings {
    fn new(p: &nn::Path, config: &BertConfig, s: &DebertaSettings) -> Self {
        let e = config.embedding_size();
        let r = config.initializer_range;
        Self {
            word_embeddings: embedding_weight(
                &(p / "word_embeddings"),
                config.vocab_size,
                e,
                r,
                Some(config.pad_token_id),
            ),
            position_embeddings: s.position_biased_input.then(|| {
                embedding_weight(
                    &(p / "position_embeddings"),
                    config.max_position_embeddings,
                    e,
                    r,
                    None,
                )
            }),
            token_type_embeddings: (config.type_vocab_size > 0).then(|| {
                embedding_weight(
                    &(p / "token_type_embeddings"),
                    config.type_vocab_size,
                    e,
                    r,
                    None,
                )
            }),
            embed_proj: (e != config.hidden_size).then(|| {
                (p / "embed_proj").var(
                    "weight",
                    &[config.hidden_size, e],
                    nn::Init::Randn {
                        mean: 0.0,
                        stdev: r,
                    },
                )
            }),
            layer_norm: layer_norm(&(p / "LayerNorm"), config),
            dropout: config.hidden_dropout_prob,
            pad_token_id: config.pad_token_id,
            max_positions: config.max_position_embeddings,
        }
    }

    // `+=` on a tch tensor is the in-place `add_`; these sums make new tensors for autograd.
    #[allow(clippy::assign_op_pattern)]
    fn forward_t(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        token_type_ids: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let seq_len = input_ids.size()[1];
        let mut xs =
            crate::embeddings::word_lookup(&self.word_embeddings, input_ids, self.pad_token_id)?;
        if let Some(table) = &self.position_embeddings {
            if seq_len > self.max_positions {
                return Err(BertError::Input(format!(
                    "sequence length {seq_len} exceeds max_position_embeddings {}",
                    self.max_positions
                )));
            }
            let ids = Tensor::arange(seq_len, (Kind::Int64, input_ids.device()));
            xs = xs + table.index_select(0, &ids).unsqueeze(0);
        }
        if let Some(table) = &self.token_type_embeddings {
            xs = xs
                + Tensor::f_embedding(table, token_type_ids, -1, false, false).map_err(
                    BertError::torch(
                        "token type embedding lookup (is a type id >= type_vocab_size?)",
                    ),
                )?;
        }
        if let Some(w) = &self.embed_proj {
            xs = xs.matmul(&w.tr());
        }
        let xs = xs.apply(&self.layer_norm);
        let kind = xs.kind();
        let xs = xs * mask.unsqueeze(2).to_kind(kind);
        Ok(xs.dropout(self.dropout, train))
    }
}

/// `attention.self`: content and disentangled position scores.
#[derive(Debug)]
struct DisentangledSelfAttention {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    pos_key: Option<nn::Linear>,
    pos_query: Option<nn::Linear>,
    num_heads: i64,
    head_dim: i64,
    settings: DebertaSettings,
    dropout: f64,
    pos_dropout: f64,
}

/// `torch.finfo(torch.bfloat16).min`.
const BF16_MIN: f64 = -3.389_531_389_251_535_5e38;
/// `torch.finfo(torch.float16).min`.
const F16_MIN: f64 = -65504.0;

/// What every layer's attention shares in one forward pass.
struct Positions {
    /// `(len, len)` int64 relative positions.
    relative: Tensor,
    /// `(2 · span, hidden)` relative embeddings, normalised.
    embeddings: Tensor,
}

impl DisentangledSelfAttention {
    fn new(p: &nn::Path, config: &BertConfig, s: &DebertaSettings) -> Self {
        let h = config.hidden_size;
        let separate = s.relative_attention && !s.share_att_key;
        Self {
            query: linear(&(p / "query_proj"), h, h, config),
            key: linear(&(p / "key_proj"), h, h, config),
            value: linear(&(p / "value_proj"), h, h, config),
            pos_key: (separate && s.c2p).then(|| linear(&(p / "pos_key_proj"), h, h, config)),
            pos_query: (separate && s.p2c).then(|| linear(&(p / "pos_query_proj"), h, h, config)),
            num_heads: config.num_attention_heads,
            head_dim: config.head_dim(),
            settings: s.clone(),
            dropout: config.attention_probs_dropout_prob,
            pos_dropout: config.hidden_dropout_prob,
        }
    }

    /// `(batch, len, hidden)` → `(batch, heads, len, head_dim)`.
    fn heads(&self, t: Tensor) -> Tensor {
        let size = t.size();
        t.view([size[0], size[1], self.num_heads, self.head_dim])
            .transpose(1, 2)
    }

    /// `xs (batch, len, hidden)`, `pair_mask (batch, 1, len, len)` bool.
    #[allow(clippy::assign_op_pattern)] // `+=` would be tch's in-place `add_`
    fn forward_t(
        &self,
        xs: &Tensor,
        pair_mask: &Tensor,
        positions: Option<&Positions>,
        train: bool,
    ) -> Tensor {
        let size = xs.size();
        let (batch, len, hidden) = (size[0], size[1], size[2]);
        let q = self.heads(xs.apply(&self.query));
        let k = self.heads(xs.apply(&self.key));
        let v = self.heads(xs.apply(&self.value));
        let factor = self.settings.scale_factor();
        // transformers: sqrt of an fp32 tensor, cast to the query's dtype.
        let scale = Tensor::from((self.head_dim as f32 * factor as f32).sqrt())
            .to_device(xs.device())
            .to_kind(q.kind());
        let mut scores = q.matmul(&(k.transpose(-1, -2) / &scale));
        if let Some(pos) = positions.filter(|_| self.settings.relative_attention) {
            let rel = pos.embeddings.dropout(self.pos_dropout, train).unsqueeze(0);
            scores = scores + self.position_bias(&q, &k, &pos.relative, &rel, &scale, batch, len);
        }
        // transformers fills with the dtype's minimum; under autocast its softmax is fp32.
        let min = match scores.kind() {
            Kind::BFloat16 => BF16_MIN,
            Kind::Half => F16_MIN,
            _ => f64::from(f32::MIN),
        };
        let scores = scores.masked_fill(&pair_mask.logical_not(), min);
        let probs = scores.softmax(-1, Kind::Float).dropout(self.dropout, train);
        probs
            .matmul(&v)
            .transpose(1, 2)
            .contiguous()
            .view([batch, len, hidden])
    }

    /// The `c2p` + `p2c` scores `(batch, heads, len, len)`.
    #[allow(clippy::too_many_arguments)]
    fn position_bias(
        &self,
        q: &Tensor,
        k: &Tensor,
        relative: &Tensor,
        rel: &Tensor,
        scale: &Tensor,
        batch: i64,
        len: i64,
    ) -> Tensor {
        let span = self.settings.span();
        let rel = rel.narrow(1, 0, (2 * span).min(rel.size()[1]));
        let project = |own: &nn::Linear, separate: &Option<nn::Linear>| {
            self.heads(rel.apply(separate.as_ref().unwrap_or(own)))
        };
        let expand = |idx: Tensor| idx.expand([batch, self.num_heads, len, len], false);
        let mut terms = Vec::with_capacity(2);
        if self.settings.c2p {
            let pos_key = project(&self.key, &self.pos_key);
            let c2p = q.matmul(&pos_key.transpose(-1, -2));
            let idx = (relative + span).clamp(0, 2 * span - 1);
            let c2p = c2p.gather(-1, &expand(idx), false);
            terms.push(c2p / scale);
        }
        if self.settings.p2c {
            let pos_query = project(&self.query, &self.pos_query);
            let p2c = k.matmul(&pos_query.transpose(-1, -2));
            let idx = (relative.neg() + span).clamp(0, 2 * span - 1);
            let p2c = p2c.gather(-1, &expand(idx), false).transpose(-1, -2);
            terms.push(p2c / scale);
        }
        let mut terms = terms.into_iter();
        let first = terms
            .next()
            .unwrap_or_else(|| Tensor::zeros([1], (q.kind(), q.device())));
        terms.fold(first, |acc, t| acc + t)
    }
}

/// `encoder.layer.{i}`.
#[derive(Debug)]
struct DebertaLayer {
    attention: DisentangledSelfAttention,
    attention_output: BertSelfOutput,
    intermediate: BertIntermediate,
    output: BertOutput,
}

impl DebertaLayer {
    fn new(p: &nn::Path, config: &BertConfig, s: &DebertaSettings) -> Self {
        let a = p / "attention";
        Self {
            attention: DisentangledSelfAttention::new(&(&a / "self"), config, s),
            attention_output: BertSelfOutput::new(&(&a / "output"), config),
            intermediate: BertIntermediate::new(&(p / "intermediate"), config),
            output: BertOutput::new(&(p / "output"), config),
        }
    }

    fn forward_t(
        &self,
        xs: &Tensor,
        pair_mask: &Tensor,
        positions: Option<&Positions>,
        train: bool,
    ) -> Tensor {
        let attended = self.attention.forward_t(xs, pair_mask, positions, train);
        let attended = self.attention_output.forward_t(&attended, xs, train);
        let inner = self.intermediate.forward(&attended);
        self.output.forward_t(&inner, &attended, train)
    }
}

/// `encoder.conv`: a 1-D convolution over the embeddings added to the first layer's output.
#[derive(Debug)]
struct ConvLayer {
    weight: Tensor,
    bias: Tensor,
    layer_norm: nn::LayerNorm,
    padding: i64,
    groups: i64,
    act: String,
    dropout: f64,
}

impl ConvLayer {
    fn new(p: &nn::Path, config: &BertConfig, s: &DebertaSettings) -> Self {
        let h = config.hidden_size;
        let k = s.conv_kernel_size;
        let c = p / "conv";
        // Conv1d's default initialisation is replaced by the checkpoint's weights; a fresh
        // encoder is never built without them.
        Self {
            weight: c.var(
                "weight",
                &[h, h / s.conv_groups.max(1), k],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: config.initializer_range,
                },
            ),
            bias: c
                .set_group(NO_DECAY_GROUP)
                .var("bias", &[h], nn::Init::Const(0.0)),
            layer_norm: layer_norm(&(p / "LayerNorm"), config),
            padding: (k - 1) / 2,
            groups: s.conv_groups.max(1),
            act: s.conv_act.clone(),
            dropout: config.hidden_dropout_prob,
        }
    }

    fn forward_t(
        &self,
        hidden: &Tensor,
        residual: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let out = hidden
            .permute([0, 2, 1])
            .contiguous()
            .conv1d(
                &self.weight,
                Some(&self.bias),
                [1],
                [self.padding],
                [1],
                self.groups,
            )
            .permute([0, 2, 1])
            .contiguous();
        let padded = mask.eq(0).unsqueeze(-1).expand_as(&out);
        let out = out.masked_fill(&padded, 0.0);
        let out = activation(&out.dropout(self.dropout, train), &self.act)?;
        let normed = (residual + out).apply(&self.layer_norm);
        Ok(&normed * mask.unsqueeze(2).to_kind(normed.kind()))
    }
}

/// transformers' `DebertaV2Model` (`deberta.`): embeddings and the relative-position encoder.
#[derive(Debug)]
pub struct DebertaModel {
    embeddings: DebertaEmbeddings,
    layers: Vec<DebertaLayer>,
    rel_embeddings: Option<Tensor>,
    rel_layer_norm: Option<nn::LayerNorm>,
    conv: Option<ConvLayer>,
    settings: DebertaSettings,
}

impl DebertaModel {
    /// Creates the weights under `p` (`deberta`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let s = DebertaSettings::of(config);
        let e = p / "encoder";
        let l = &e / "layer";
        Self {
            embeddings: DebertaEmbeddings::new(&(p / "embeddings"), config, &s),
            layers: (0..config.num_hidden_layers)
                .map(|i| DebertaLayer::new(&(&l / i), config, &s))
                .collect(),
            rel_embeddings: s.relative_attention.then(|| {
                embedding_weight(
                    &(&e / "rel_embeddings"),
                    2 * s.span(),
                    config.hidden_size,
                    config.initializer_range,
                    None,
                )
            }),
            rel_layer_norm: s
                .norm_rel_ebd
                .then(|| layer_norm(&(&e / "LayerNorm"), config)),
            conv: (s.conv_kernel_size > 0).then(|| ConvLayer::new(&(&e / "conv"), config, &s)),
            settings: s,
        }
    }

    /// `(batch, seq_len, hidden)` last hidden state; `mask` is the `(batch, seq_len)`
    /// attention mask.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        mask: &Tensor,
        token_type_ids: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let embedded = self
            .embeddings
            .forward_t(input_ids, mask, token_type_ids, train)?;
        let len = input_ids.size()[1];
        let m = mask.ne(0);
        let pair_mask = (m.unsqueeze(1).unsqueeze(2)).logical_and(&m.unsqueeze(1).unsqueeze(3));
        let positions = self.rel_embeddings.as_ref().map(|table| {
            let s = &self.settings;
            Positions {
                relative: relative_positions(
                    len,
                    s.position_buckets,
                    s.max_relative_positions,
                    input_ids.device(),
                ),
                embeddings: match &self.rel_layer_norm {
                    Some(ln) => table.apply(ln),
                    None => table.shallow_clone(),
                },
            }
        });
        let mut xs = embedded.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            xs = layer.forward_t(&xs, &pair_mask, positions.as_ref(), train);
            if i == 0
                && let Some(conv) = &self.conv
            {
                xs = conv.forward_t(&embedded, &xs, mask, train)?;
            }
        }
        Ok(xs)
    }
}

/// The sequence head's activation of a DeBERTa config (`pooler_hidden_act`, default `gelu`).
pub(crate) fn pooler_act(config: &BertConfig) -> String {
    config
        .extra
        .get("pooler_hidden_act")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("gelu")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_keep_near_distances_and_compress_far_ones() {
        let rel = relative_positions(40, 8, 64, tch::Device::Cpu);
        let row: Vec<i64> = Vec::try_from(rel.get(0)).unwrap();
        // q = 0: distances 0, -1, …; |d| <= 4 unchanged, then ceil(log(|d|/4)/log(63/4)·3)+4.
        let want = |d: i64| -> i64 {
            let a = d.abs();
            if a <= 4 {
                d
            } else {
                let l = ((a as f32 / 4.0).ln() / (63f32 / 4.0).ln() * 3.0).ceil() + 4.0;
                -(l as i64)
            }
        };
        for (k, &got) in row.iter().enumerate() {
            assert_eq!(got, want(-(k as i64)), "k = {k}");
        }
        assert_eq!(row[39], -7);
        let plain = relative_positions(5, -1, 64, tch::Device::Cpu);
        assert_eq!(Vec::<i64>::try_from(plain.get(4)).unwrap(), [4, 3, 2, 1, 0]);
    }
}
