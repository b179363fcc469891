//! `BertAttention`: multi-head self-attention (`attention.self`) and its output projection
//! with residual LayerNorm (`attention.output`).

use tch::{Tensor, nn};

use crate::config::BertConfig;
use crate::init::{layer_norm, linear};

/// HF `attention.self`: query/key/value projections and scaled dot-product attention.
#[derive(Debug)]
pub struct BertSelfAttention {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    num_heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl BertSelfAttention {
    /// Creates the weights under `p` (`…attention.self`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let h = config.hidden_size;
        Self {
            query: linear(&(p / "query"), h, h, config),
            key: linear(&(p / "key"), h, h, config),
            value: linear(&(p / "value"), h, h, config),
            num_heads: config.num_attention_heads,
            head_dim: config.head_dim(),
            dropout: config.attention_probs_dropout_prob,
        }
    }

    /// `(batch, seq_len, hidden)` → `(batch, seq_len, hidden)`.
    ///
    /// `mask` is additive, broadcastable to `(batch, heads, seq_len, seq_len)`: 0 where a key
    /// may be attended, the dtype's minimum where it is padding; `None` attends everywhere.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        // Inputs were checked to be (batch, seq_len) ids, so `xs` is 3-D.
        let size = xs.size();
        let (batch, seq_len, hidden) = (size[0], size[1], size[2]);
        let heads = |t: Tensor| {
            t.view([batch, seq_len, self.num_heads, self.head_dim])
                .transpose(1, 2)
        };
        let q = heads(xs.apply(&self.query));
        let k = heads(xs.apply(&self.key));
        let v = heads(xs.apply(&self.value));
        // Under autocast q is reduced precision while the mask was built in fp32; SDPA wants
        // a float mask in the query's dtype.
        let mask = mask.map(|m| {
            if m.kind() == q.kind() {
                m.shallow_clone()
            } else {
                m.to_kind(q.kind())
            }
        });
        let dropout = if train { self.dropout } else { 0.0 };
        Tensor::scaled_dot_product_attention(&q, &k, &v, mask, dropout, false, None::<f64>, false)
            .transpose(1, 2)
            .reshape([batch, seq_len, hidden])
    }
}

/// HF `attention.output`: dense, dropout, LayerNorm of the residual sum.
#[derive(Debug)]
pub struct BertSelfOutput {
    dense: nn::Linear,
    layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl BertSelfOutput {
    /// Creates the weights under `p` (`…attention.output`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let h = config.hidden_size;
        Self {
            dense: linear(&(p / "dense"), h, h, config),
            layer_norm: layer_norm(&(p / "LayerNorm"), config),
            // DistilBERT's `out_lin` has no dropout after it.
            dropout: if config.family() == crate::config::Family::DistilBert {
                0.0
            } else {
                config.hidden_dropout_prob
            },
        }
    }

    /// Projects `xs` and adds the residual `input`, both `(batch, seq_len, hidden)`.
    pub fn forward_t(&self, xs: &Tensor, input: &Tensor, train: bool) -> Tensor {
        (xs.apply(&self.dense).dropout(self.dropout, train) + input).apply(&self.layer_norm)
    }
}

/// HF `attention`: `self` followed by `output`.
#[derive(Debug)]
pub struct BertAttention {
    self_attention: BertSelfAttention,
    output: BertSelfOutput,
}

impl BertAttention {
    /// Creates the weights under `p` (`…layer.{i}.attention`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            self_attention: BertSelfAttention::new(&(p / "self"), config),
            output: BertSelfOutput::new(&(p / "output"), config),
        }
    }

    /// `(batch, seq_len, hidden)` → `(batch, seq_len, hidden)`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let attended = self.self_attention.forward_t(xs, mask, train);
        self.output.forward_t(&attended, xs, train)
    }
}
