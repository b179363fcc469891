//! `BertEmbeddings`: word + absolute position + token type embeddings, LayerNorm, dropout.

use tch::{Kind, Tensor, nn};

use crate::config::BertConfig;
use crate::error::{BertError, Result};
use crate::init::{embedding_weight, layer_norm};

/// HF `bert.embeddings`.
#[derive(Debug)]
pub struct BertEmbeddings {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    layer_norm: nn::LayerNorm,
    dropout: f64,
    pad_token_id: i64,
    max_positions: i64,
}

impl BertEmbeddings {
    /// Creates the weights under `p` (`p` is `bert.embeddings`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let h = config.hidden_size;
        let r = config.initializer_range;
        let pad = Some(config.pad_token_id);
        Self {
            word_embeddings: embedding_weight(
                &(p / "word_embeddings"),
                config.vocab_size,
                h,
                r,
                pad,
            ),
            position_embeddings: embedding_weight(
                &(p / "position_embeddings"),
                config.max_position_embeddings,
                h,
                r,
                None,
            ),
            token_type_embeddings: embedding_weight(
                &(p / "token_type_embeddings"),
                config.type_vocab_size,
                h,
                r,
                None,
            ),
            layer_norm: layer_norm(&(p / "LayerNorm"), config),
            dropout: config.hidden_dropout_prob,
            pad_token_id: config.pad_token_id,
            max_positions: config.max_position_embeddings,
        }
    }

    /// `(batch, seq_len)` ids and type ids → `(batch, seq_len, hidden)`.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        token_type_ids: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let seq_len = input_ids.size()[1];
        if seq_len > self.max_positions {
            return Err(BertError::Input(format!(
                "sequence length {seq_len} exceeds max_position_embeddings {}",
                self.max_positions
            )));
        }
        // The fallible form turns an out-of-vocabulary id into an error (on CPU) instead of a panic.
        let words = Tensor::f_embedding(
            &self.word_embeddings,
            input_ids,
            self.pad_token_id,
            false,
            false,
        )
        .map_err(BertError::torch(
            "word embedding lookup (is an input id >= vocab_size?)",
        ))?;
        let types = Tensor::f_embedding(
            &self.token_type_embeddings,
            token_type_ids,
            -1,
            false,
            false,
        )
        .map_err(BertError::torch(
            "token type embedding lookup (is a type id >= type_vocab_size?)",
        ))?;
        let positions = Tensor::arange(seq_len, (Kind::Int64, input_ids.device()));
        let positions = self.position_embeddings.index_select(0, &positions);
        let xs = words + types + positions.unsqueeze(0);
        Ok(xs.apply(&self.layer_norm).dropout(self.dropout, train))
    }
}
