//! `BertModel`: embeddings, encoder and the optional pooler; the model inputs and outputs.

use tch::{Device, Kind, Tensor, nn};

use crate::config::{BertConfig, Family};
use crate::deberta::DebertaModel;
use crate::embeddings::BertEmbeddings;
use crate::error::{BertError, Result};
use crate::init::linear;
use crate::layer::BertEncoder;
use crate::modernbert::ModernBertModel;

/// One batch of model inputs, all `(batch, seq_len)` int64 tensors on the model's device.
#[derive(Debug)]
pub struct Inputs {
    /// WordPiece ids.
    pub input_ids: Tensor,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// Segment ids (all 0 for single sentences).
    pub token_type_ids: Tensor,
}

impl Inputs {
    /// Inputs from ids and mask, with all-zero type ids.
    pub fn new(input_ids: Tensor, attention_mask: Tensor) -> Self {
        let token_type_ids = input_ids.zeros_like();
        Self {
            input_ids,
            attention_mask,
            token_type_ids,
        }
    }

    /// Moves all three tensors to `device`.
    pub fn to_device(&self, device: Device) -> Self {
        Self {
            input_ids: self.input_ids.to_device(device),
            attention_mask: self.attention_mask.to_device(device),
            token_type_ids: self.token_type_ids.to_device(device),
        }
    }

    /// `(batch, seq_len)`, after checking that the three tensors agree.
    pub fn shape(&self) -> Result<(i64, i64)> {
        let ids = self.input_ids.size();
        let [batch, seq_len] = ids[..] else {
            return Err(BertError::Input(format!(
                "input_ids must be (batch, seq_len), got shape {ids:?}"
            )));
        };
        for (name, t) in [
            ("attention_mask", &self.attention_mask),
            ("token_type_ids", &self.token_type_ids),
        ] {
            if t.size() != ids {
                return Err(BertError::Input(format!(
                    "{name} has shape {:?}, input_ids {ids:?}",
                    t.size()
                )));
            }
        }
        if self.input_ids.kind() != Kind::Int64 || self.token_type_ids.kind() != Kind::Int64 {
            return Err(BertError::Input(format!(
                "input_ids and token_type_ids must be int64, got {:?} and {:?}",
                self.input_ids.kind(),
                self.token_type_ids.kind()
            )));
        }
        if seq_len == 0 {
            return Err(BertError::Input("empty sequences (seq_len 0)".into()));
        }
        Ok((batch, seq_len))
    }

    /// The additive attention mask `(batch, 1, 1, seq_len)`: 0 for tokens, fp32 minimum for
    /// padding, as HF builds it. `None` on CPU when nothing is padded, which lets SDPA pick its
    /// unmasked kernel like HF does; on CUDA the check would cost a device sync, so the mask is
    /// always kept there.
    fn additive_mask(&self) -> Option<Tensor> {
        let mask = &self.attention_mask;
        if mask.device() == Device::Cpu && mask.min().int64_value(&[]) != 0 {
            return None;
        }
        let keep = mask.to_kind(Kind::Float).unsqueeze(1).unsqueeze(1);
        Some((1.0 - keep) * f64::from(f32::MIN))
    }
}

/// Output of [`BertModel::forward_t`].
#[derive(Debug)]
pub struct EncoderOutput {
    /// `(batch, seq_len, hidden)`.
    pub last_hidden_state: Tensor,
    /// `(batch, hidden)`: tanh(dense([CLS])), when the model has a pooler.
    pub pooler_output: Option<Tensor>,
}

/// HF `pooler`: dense + tanh on the first token.
#[derive(Debug)]
pub struct BertPooler {
    dense: nn::Linear,
}

impl BertPooler {
    /// Creates the weights under `p` (`pooler`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        Self {
            dense: linear(
                &(p / "dense"),
                config.hidden_size,
                config.hidden_size,
                config,
            ),
        }
    }

    /// `(batch, seq_len, hidden)` → `(batch, hidden)`.
    pub fn forward(&self, hidden: &Tensor) -> Tensor {
        hidden.select(1, 0).apply(&self.dense).tanh()
    }
}

/// HF `BertModel`: the encoder without a task head (for DeBERTa, `DebertaV2Model`).
#[derive(Debug)]
pub struct BertModel {
    inner: Encoder,
}

// One per model: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Encoder {
    /// BERT's layout (BERT, RoBERTa, DistilBERT, ELECTRA).
    Bert {
        embeddings: BertEmbeddings,
        /// ELECTRA's `embeddings_project` (`embedding_size` → `hidden_size`), when they differ.
        embeddings_project: Option<nn::Linear>,
        encoder: BertEncoder,
        pooler: Option<BertPooler>,
    },
    /// DeBERTa-v2/v3.
    Deberta(DebertaModel),
    /// ModernBERT.
    ModernBert(ModernBertModel),
}

impl BertModel {
    /// Creates randomly initialised weights under `p` (the root for a bare `BertModel`,
    /// `bert` inside a head). HF's token classifier has no pooler (`add_pooling_layer=False`);
    /// DeBERTa has none (its sequence head pools).
    pub fn new(p: &nn::Path, config: &BertConfig, add_pooling_layer: bool) -> Self {
        match config.family() {
            Family::Deberta => {
                return Self {
                    inner: Encoder::Deberta(DebertaModel::new(p, config)),
                };
            }
            Family::ModernBert => {
                return Self {
                    inner: Encoder::ModernBert(ModernBertModel::new(p, config)),
                };
            }
            _ => {}
        }
        Self {
            inner: Encoder::Bert {
                embeddings: BertEmbeddings::new(&(p / "embeddings"), config),
                embeddings_project: (config.embedding_size() != config.hidden_size).then(|| {
                    linear(
                        &(p / "embeddings_project"),
                        config.embedding_size(),
                        config.hidden_size,
                        config,
                    )
                }),
                encoder: BertEncoder::new(&(p / "encoder"), config),
                pooler: add_pooling_layer.then(|| BertPooler::new(&(p / "pooler"), config)),
            },
        }
    }

    /// Runs the encoder; `train` switches dropout on.
    pub fn forward_t(&self, inputs: &Inputs, train: bool) -> Result<EncoderOutput> {
        inputs.shape()?;
        let (embeddings, embeddings_project, encoder, pooler) = match &self.inner {
            Encoder::Deberta(model) => {
                let last_hidden_state = model.forward_t(
                    &inputs.input_ids,
                    &inputs.attention_mask,
                    &inputs.token_type_ids,
                    train,
                )?;
                return Ok(EncoderOutput {
                    last_hidden_state,
                    pooler_output: None,
                });
            }
            Encoder::ModernBert(model) => {
                let last_hidden_state =
                    model.forward_t(&inputs.input_ids, &inputs.attention_mask, train)?;
                return Ok(EncoderOutput {
                    last_hidden_state,
                    pooler_output: None,
                });
            }
            Encoder::Bert {
                embeddings,
                embeddings_project,
                encoder,
                pooler,
            } => (embeddings, embeddings_project, encoder, pooler),
        };
        let xs = embeddings.forward_t(
            &inputs.input_ids,
            &inputs.attention_mask,
            &inputs.token_type_ids,
            train,
        )?;
        let xs = match embeddings_project {
            Some(project) => xs.apply(project),
            None => xs,
        };
        let mask = inputs.additive_mask();
        let last_hidden_state = encoder.forward_t(&xs, mask.as_ref(), train);
        let pooler_output = pooler.as_ref().map(|p| p.forward(&last_hidden_state));
        Ok(EncoderOutput {
            last_hidden_state,
            pooler_output,
        })
    }
}
