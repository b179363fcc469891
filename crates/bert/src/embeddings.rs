//! `BertEmbeddings`: word + absolute position + token type embeddings, LayerNorm, dropout
//! (RoBERTa's positions counted from `pad_token_id + 1` over the real tokens).

use tch::{Kind, Tensor, nn};

use crate::config::BertConfig;
use crate::error::{BertError, Result};
use crate::init::{embedding_weight, layer_norm_of};

/// HF `bert.embeddings`.
#[derive(Debug)]
pub struct BertEmbeddings {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    /// Absent for DistilBERT, which has no segments.
    token_type_embeddings: Option<Tensor>,
    layer_norm: nn::LayerNorm,
    dropout: f64,
    pad_token_id: i64,
    max_positions: i64,
    /// RoBERTa: positions start after the padding id and skip padding.
    position_offset: Option<i64>,
}

impl BertEmbeddings {
    /// Creates the weights under `p` (`p` is `bert.embeddings`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        // ELECTRA's embeddings may be narrower than its layers (`embedding_size`).
        let h = config.embedding_size();
        let r = config.initializer_range;
        let pad = Some(config.pad_token_id);
        let position_offset = config.family().position_offset(config.pad_token_id);
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
                // RoBERTa's position table has a padding row, as HF's `padding_idx`.
                position_offset.map(|_| config.pad_token_id),
            ),
            token_type_embeddings: config.family().has_token_types().then(|| {
                embedding_weight(
                    &(p / "token_type_embeddings"),
                    config.type_vocab_size,
                    h,
                    r,
                    None,
                )
            }),
            layer_norm: layer_norm_of(&(p / "LayerNorm"), h, config),
            dropout: config.hidden_dropout_prob,
            pad_token_id: config.pad_token_id,
            max_positions: config.max_position_embeddings,
            position_offset,
        }
    }

    /// `(batch, seq_len)` ids, attention mask and type ids → `(batch, seq_len, embedding_size)`
    /// (`hidden_size` but for ELECTRA).
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        token_type_ids: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let seq_len = input_ids.size()[1];
        let reserved = self.position_offset.unwrap_or(0);
        if seq_len + reserved > self.max_positions {
            return Err(BertError::Input(format!(
                "sequence length {seq_len} exceeds the {} positions of max_position_embeddings {}",
                self.max_positions - reserved,
                self.max_positions
            )));
        }
        let words =
            crate::embeddings::word_lookup(&self.word_embeddings, input_ids, self.pad_token_id)?;
        let words = match &self.token_type_embeddings {
            Some(table) => {
                words
                    + Tensor::f_embedding(table, token_type_ids, -1, false, false).map_err(
                        BertError::torch(
                            "token type embedding lookup (is a type id >= type_vocab_size?)",
                        ),
                    )?
            }
            None => words,
        };
        let positions = match self.position_offset {
            None => self
                .position_embeddings
                .index_select(
                    0,
                    &Tensor::arange(seq_len, (Kind::Int64, input_ids.device())),
                )
                .unsqueeze(0),
            // HF's `create_position_ids_from_input_ids`: count real tokens from the offset,
            // padding at the padding row. Read from the attention mask, so a batch padded with
            // any id gets the positions HF gives one padded with `pad_token_id`.
            Some(_) => {
                let real = attention_mask.ne(0).to_kind(Kind::Int64);
                let ids = real.cumsum(1, Kind::Int64) * &real + self.pad_token_id;
                Tensor::embedding(
                    &self.position_embeddings,
                    &ids,
                    self.pad_token_id,
                    false,
                    false,
                )
            }
        };
        let xs = words + positions;
        Ok(xs.apply(&self.layer_norm).dropout(self.dropout, train))
    }
}

/// The rows of the word-embedding `table` for `input_ids`, by the fallible lookup, so an
/// out-of-vocabulary id is an error (on CPU) instead of a panic. Every family's embeddings
/// start here.
pub(crate) fn word_lookup(table: &Tensor, input_ids: &Tensor, pad_token_id: i64) -> Result<Tensor> {
    Tensor::f_embedding(table, input_ids, pad_token_id, false, false).map_err(BertError::torch(
        "word embedding lookup (is an input id >= vocab_size?)",
    ))
}
