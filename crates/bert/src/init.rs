//! Weight creation with HF's `BertPreTrainedModel._init_weights` initialisation:
//! normal(0, `initializer_range`) for linear and embedding weights, zero biases, LayerNorm
//! weight 1 and bias 0, and a zero embedding row for the padding id.

use tch::{Tensor, nn};

use crate::config::BertConfig;

/// Optimizer group of biases and LayerNorm parameters, which by convention get no weight
/// decay (`opt.set_weight_decay_group(NO_DECAY_GROUP, 0.0)`); every other weight is in group 0.
pub const NO_DECAY_GROUP: usize = 1;

/// A linear layer `p.weight (out, in)`, `p.bias (out)`.
pub(crate) fn linear(p: &nn::Path, input: i64, output: i64, config: &BertConfig) -> nn::Linear {
    let ws = p.var(
        "weight",
        &[output, input],
        nn::Init::Randn {
            mean: 0.0,
            stdev: config.initializer_range,
        },
    );
    let bs = p
        .set_group(NO_DECAY_GROUP)
        .var("bias", &[output], nn::Init::Const(0.0));
    nn::Linear { ws, bs: Some(bs) }
}

/// An embedding table `p.weight (rows, dim)`; the `pad` row starts at zero like HF's.
pub(crate) fn embedding_weight(
    p: &nn::Path,
    rows: i64,
    dim: i64,
    range: f64,
    pad: Option<i64>,
) -> Tensor {
    let ws = p.var(
        "weight",
        &[rows, dim],
        nn::Init::Randn {
            mean: 0.0,
            stdev: range,
        },
    );
    if let Some(pad) = pad.filter(|&i| (0..rows).contains(&i)) {
        tch::no_grad(|| {
            let _ = ws.get(pad).fill_(0.0);
        });
    }
    ws
}

/// A LayerNorm over the hidden size with HF's parameter names `weight` and `bias`.
pub(crate) fn layer_norm(p: &nn::Path, config: &BertConfig) -> nn::LayerNorm {
    layer_norm_of(p, config.hidden_size, config)
}

/// [`layer_norm`] over `width` features (ELECTRA's embeddings are narrower than its layers).
pub(crate) fn layer_norm_of(p: &nn::Path, width: i64, config: &BertConfig) -> nn::LayerNorm {
    nn::layer_norm(
        p.set_group(NO_DECAY_GROUP),
        vec![width],
        nn::LayerNormConfig {
            eps: config.layer_norm_eps,
            ..Default::default()
        },
    )
}
