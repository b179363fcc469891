//! One transformer layer (`encoder.layer.{i}`): attention, then the feed-forward block
//! (`intermediate` and `output`), and the encoder stacking them.

use tch::{Tensor, nn};

use crate::attention::BertAttention;
use crate::config::{BertConfig, HiddenAct};
use crate::init::{layer_norm, linear};

/// HF `intermediate`: dense to `intermediate_size` and the activation.
#[derive(Debug)]
pub struct BertIntermediate {
    dense: nn::Linear,
    act: HiddenAct,
}

impl BertIntermediate {
    /// Creates the weights under `p` (`…layer.{i}.intermediate`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            dense: linear(
                &(p / "dense"),
                config.hidden_size,
                config.intermediate_size,
                config,
            ),
            act: config.hidden_act,
        }
    }

    /// `(batch, seq_len, hidden)` → `(batch, seq_len, intermediate)`.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        let xs = xs.apply(&self.dense);
        match self.act {
            HiddenAct::Gelu => xs.gelu("none"),
            HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => xs.gelu("tanh"),
            HiddenAct::Relu => xs.relu(),
        }
    }
}

/// HF `output` (of a layer): dense back to `hidden_size`, dropout, residual LayerNorm.
#[derive(Debug)]
pub struct BertOutput {
    dense: nn::Linear,
    layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl BertOutput {
    /// Creates the weights under `p` (`…layer.{i}.output`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            dense: linear(
                &(p / "dense"),
                config.intermediate_size,
                config.hidden_size,
                config,
            ),
            layer_norm: layer_norm(&(p / "LayerNorm"), config),
            dropout: config.hidden_dropout_prob,
        }
    }

    /// `(batch, seq_len, intermediate)` plus the residual `(batch, seq_len, hidden)`.
    pub fn forward_t(&self, xs: &Tensor, input: &Tensor, train: bool) -> Tensor {
        (xs.apply(&self.dense).dropout(self.dropout, train) + input).apply(&self.layer_norm)
    }
}

/// HF `encoder.layer.{i}`.
#[derive(Debug)]
pub struct BertLayer {
    attention: BertAttention,
    intermediate: BertIntermediate,
    output: BertOutput,
}

impl BertLayer {
    /// Creates the weights under `p` (`encoder.layer.{i}`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            attention: BertAttention::new(&(p / "attention"), config),
            intermediate: BertIntermediate::new(&(p / "intermediate"), config),
            output: BertOutput::new(&(p / "output"), config),
        }
    }

    /// `(batch, seq_len, hidden)` → `(batch, seq_len, hidden)`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let attended = self.attention.forward_t(xs, mask, train);
        let inner = self.intermediate.forward(&attended);
        self.output.forward_t(&inner, &attended, train)
    }
}

/// HF `encoder`: `num_hidden_layers` layers applied in order.
#[derive(Debug)]
pub struct BertEncoder {
    layers: Vec<BertLayer>,
}

impl BertEncoder {
    /// Creates the weights under `p` (`encoder`); layer `i` lives at `encoder.layer.{i}`.
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let p = p / "layer";
        Self {
            layers: (0..config.num_hidden_layers)
                .map(|i| BertLayer::new(&(&p / i), config))
                .collect(),
        }
    }

    /// `(batch, seq_len, hidden)` → `(batch, seq_len, hidden)`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let mut xs = xs.shallow_clone();
        for layer in &self.layers {
            xs = layer.forward_t(&xs, mask, train);
        }
        xs
    }
}
