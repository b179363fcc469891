//! ModernBERT (`model_type = "modernbert"`): a pre-norm encoder with **rotary positions**,
//! a **GeGLU** feed-forward block and **alternating global and local (sliding-window)
//! attention**, equal to transformers' `ModernBertModel` with its SDPA attention.
//!
//! Each at transformers' weight name under `model.`:
//! - `embeddings.tok_embeddings` → `embeddings.norm` (no absolute positions, no token types);
//! - layer `i`: `attn_norm` (none in layer 0) → `attn.Wqkv` (one projection for q, k, v) →
//!   rotary positions on q and k (`global_rope_theta` on global layers, every
//!   `global_attn_every_n_layers`-th from 0; `local_rope_theta` on the others) → SDPA with the
//!   padding mask, on local layers also masking keys farther than `local_attention / 2` →
//!   `attn.Wo`, residual; `mlp_norm` → `mlp.Wi` (to twice `intermediate_size`) → GELU of the
//!   first half times the second half → `mlp.Wo`, residual;
//! - `final_norm`. LayerNorms and linears have biases only when `norm_bias`, `attention_bias`,
//!   `mlp_bias` say so.
//!
//! The heads ([`crate::heads`]) put transformers' `ModernBertPredictionHead` (`head.dense` →
//! `classifier_activation` → `head.norm`) before `classifier`, on every token or on the first
//! token / the mean over real tokens (`classifier_pooling`).

use tch::{Kind, Tensor, nn};

use crate::config::{BertConfig, HiddenAct};
use crate::error::{BertError, Result};
use crate::init::{NO_DECAY_GROUP, embedding_weight};

pub use crate::settings::ModernSettings;

impl ModernSettings {
    /// Reads the settings from `config.extra`.
    pub fn of(config: &BertConfig) -> Self {
        Self::from_extra(&config.extra)
    }
}

/// A LayerNorm whose bias is optional (`norm_bias`).
#[derive(Debug)]
pub(crate) struct Norm {
    weight: Tensor,
    bias: Option<Tensor>,
    eps: f64,
    width: i64,
}

impl Norm {
    pub(crate) fn new(p: &nn::Path, width: i64, eps: f64, bias: bool) -> Self {
        let p = p.set_group(NO_DECAY_GROUP);
        Self {
            weight: p.var("weight", &[width], nn::Init::Const(1.0)),
            bias: bias.then(|| p.var("bias", &[width], nn::Init::Const(0.0))),
            eps,
            width,
        }
    }

    pub(crate) fn forward(&self, xs: &Tensor) -> Tensor {
        xs.layer_norm(
            [self.width],
            Some(&self.weight),
            self.bias.as_ref(),
            self.eps,
            true,
        )
    }
}

/// Which of transformers' ModernBERT initialisations a new linear weight gets
/// (`ModernBertPreTrainedModel._init_weights`): a normal truncated at
/// `initializer_cutoff_factor` standard deviations, with the standard deviation of its role.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InitStd {
    /// `initializer_range`: `Wqkv`, `Wi`.
    In,
    /// `initializer_range / sqrt(2 · num_hidden_layers)`: each block's `Wo` and `head.dense`.
    Out,
    /// `hidden_size^-0.5`: the task classifier.
    FinalOut,
}

impl InitStd {
    fn of(self, config: &BertConfig) -> f64 {
        match self {
            Self::In => config.initializer_range,
            Self::Out => config.initializer_range / (2.0 * config.num_hidden_layers as f64).sqrt(),
            Self::FinalOut => (config.hidden_size as f64).powf(-0.5),
        }
    }
}

/// A linear layer `p.weight (out, in)` with [`InitStd`]'s truncated-normal weight and, when
/// `bias`, a zero `p.bias`.
pub(crate) fn linear_opt(
    p: &nn::Path,
    input: i64,
    output: i64,
    bias: bool,
    std: InitStd,
    config: &BertConfig,
) -> nn::Linear {
    let cutoff = ModernSettings::of(config).cutoff_factor;
    let ws = p.var("weight", &[output, input], nn::Init::Const(0.0));
    tch::no_grad(|| {
        let mut w = ws.shallow_clone();
        w.copy_(&trunc_normal(
            &[output, input],
            std.of(config),
            cutoff,
            ws.device(),
        ));
    });
    let bs = bias.then(|| {
        p.set_group(NO_DECAY_GROUP)
            .var("bias", &[output], nn::Init::Const(0.0))
    });
    nn::Linear { ws, bs }
}

/// A ModernBERT task classifier (`classifier`, always with a bias) as transformers starts
/// one: truncated normal with standard deviation `hidden_size^-0.5`.
pub(crate) fn classifier(p: &nn::Path, config: &BertConfig) -> nn::Linear {
    linear_opt(
        p,
        config.hidden_size,
        config.num_labels(),
        true,
        InitStd::FinalOut,
        config,
    )
}

/// Normal(0, `std`) samples truncated to `±cutoff · std`, drawn as `torch.nn.init.trunc_normal_`
/// draws them (inverse CDF of a uniform over the kept interval) from torch's generator.
pub(crate) fn trunc_normal(shape: &[i64], std: f64, cutoff: f64, device: tch::Device) -> Tensor {
    let edge = Tensor::from(cutoff / std::f64::consts::SQRT_2)
        .erf()
        .double_value(&[]);
    Tensor::empty(shape, (Kind::Float, device))
        .uniform_(-edge, edge)
        .erfinv_()
        .multiply_scalar(std * std::f64::consts::SQRT_2)
        .clamp(-cutoff * std, cutoff * std)
}

/// `(cos, sin)` of rotary positions `0..len` for heads of `dim` at base `theta`, each
/// `(len, dim)` fp32, as transformers' default rope computes them.
pub fn rotary(len: i64, dim: i64, theta: f64, device: tch::Device) -> (Tensor, Tensor) {
    let exponents = Tensor::arange_start_step(0, dim, 2, (Kind::Int64, device))
        .to_kind(Kind::Float)
        / dim as f64;
    // `base ** (arange / dim)` with a Python float base: a float32 power.
    let base = Tensor::from(theta as f32).to_device(device);
    let inv_freq = base.pow(&exponents).reciprocal();
    let positions = Tensor::arange(len, (Kind::Float, device));
    let freqs = positions.unsqueeze(1) * inv_freq.unsqueeze(0);
    let emb = Tensor::cat(&[&freqs, &freqs], -1);
    (emb.cos(), emb.sin())
}

/// `x · cos + rotate_half(x) · sin`, `x (batch, heads, len, dim)`, `cos`/`sin` `(len, dim)`.
fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    let rotated = Tensor::cat(&[&x2.neg(), &x1], -1);
    x * cos + rotated * sin
}

/// `model.layers.{i}`.
#[derive(Debug)]
struct ModernLayer {
    attn_norm: Option<Norm>,
    wqkv: nn::Linear,
    wo: nn::Linear,
    mlp_norm: Norm,
    wi: nn::Linear,
    mlp_wo: nn::Linear,
    act: HiddenAct,
    global: bool,
    num_heads: i64,
    head_dim: i64,
    intermediate: i64,
    s: ModernSettings,
}

impl ModernLayer {
    fn new(p: &nn::Path, i: i64, config: &BertConfig, s: &ModernSettings) -> Self {
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let attn = p / "attn";
        let mlp = p / "mlp";
        Self {
            attn_norm: (i > 0).then(|| Norm::new(&(p / "attn_norm"), h, eps, s.norm_bias)),
            wqkv: linear_opt(
                &(&attn / "Wqkv"),
                h,
                3 * h,
                s.attention_bias,
                InitStd::In,
                config,
            ),
            wo: linear_opt(
                &(&attn / "Wo"),
                h,
                h,
                s.attention_bias,
                InitStd::Out,
                config,
            ),
            mlp_norm: Norm::new(&(p / "mlp_norm"), h, eps, s.norm_bias),
            wi: linear_opt(
                &(&mlp / "Wi"),
                h,
                2 * config.intermediate_size,
                s.mlp_bias,
                InitStd::In,
                config,
            ),
            mlp_wo: linear_opt(
                &(&mlp / "Wo"),
                config.intermediate_size,
                h,
                s.mlp_bias,
                InitStd::Out,
                config,
            ),
            act: config.hidden_act,
            global: s.is_global(i),
            num_heads: config.num_attention_heads,
            head_dim: config.head_dim(),
            intermediate: config.intermediate_size,
            s: s.clone(),
        }
    }

    fn forward_t(&self, xs: &Tensor, ctx: &Context, train: bool) -> Tensor {
        let size = xs.size();
        let (batch, len, hidden) = (size[0], size[1], size[2]);
        let normed = match &self.attn_norm {
            Some(n) => n.forward(xs),
            None => xs.shallow_clone(),
        };
        let qkv = normed
            .apply(&self.wqkv)
            .view([batch, len, 3, self.num_heads, self.head_dim]);
        let qkv = qkv.transpose(3, 1);
        let (q, k, v) = (qkv.select(2, 0), qkv.select(2, 1), qkv.select(2, 2));
        let (cos, sin) = if self.global {
            (&ctx.global_cos, &ctx.global_sin)
        } else {
            (&ctx.local_cos, &ctx.local_sin)
        };
        let (cos, sin) = (cos.to_kind(q.kind()), sin.to_kind(q.kind()));
        let q = apply_rotary(&q, &cos, &sin);
        let k = apply_rotary(&k, &cos, &sin);
        let mask = if self.global {
            &ctx.global_mask
        } else {
            &ctx.local_mask
        };
        let mask = if mask.kind() == q.kind() {
            mask.shallow_clone()
        } else {
            mask.to_kind(q.kind())
        };
        let dropout = if train { self.s.attention_dropout } else { 0.0 };
        let attended = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            Some(mask),
            dropout,
            false,
            None::<f64>,
            false,
        )
        .transpose(1, 2)
        .contiguous()
        .view([batch, len, hidden]);
        let attended = attended
            .apply(&self.wo)
            .dropout(self.s.attention_dropout, train);
        let xs = xs + attended;
        let inner = self.mlp_norm.forward(&xs).apply(&self.wi);
        let input = inner.narrow(-1, 0, self.intermediate);
        let gate = inner.narrow(-1, self.intermediate, self.intermediate);
        let activated = match self.act {
            HiddenAct::Gelu => input.gelu("none"),
            HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => input.gelu("tanh"),
            HiddenAct::Relu => input.relu(),
        };
        let mlp = (activated * gate)
            .dropout(self.s.mlp_dropout, train)
            .apply(&self.mlp_wo);
        &xs + mlp
    }
}

/// What every layer shares in one forward pass.
struct Context {
    global_cos: Tensor,
    global_sin: Tensor,
    local_cos: Tensor,
    local_sin: Tensor,
    /// `(batch, 1, len, len)` additive: the dtype minimum at padded keys.
    global_mask: Tensor,
    /// The same, also at keys farther than `local_attention / 2`.
    local_mask: Tensor,
}

/// transformers' `ModernBertModel` (`model.`).
#[derive(Debug)]
pub struct ModernBertModel {
    tok_embeddings: Tensor,
    norm: Norm,
    layers: Vec<ModernLayer>,
    final_norm: Norm,
    pad_token_id: i64,
    head_dim: i64,
    max_positions: i64,
    s: ModernSettings,
}

impl ModernBertModel {
    /// Creates the weights under `p` (`model`).
    pub fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let s = ModernSettings::of(config);
        let e = p / "embeddings";
        let l = p / "layers";
        let h = config.hidden_size;
        Self {
            tok_embeddings: embedding_weight(
                &(&e / "tok_embeddings"),
                config.vocab_size,
                h,
                config.initializer_range,
                Some(config.pad_token_id),
            ),
            norm: Norm::new(&(&e / "norm"), h, config.layer_norm_eps, s.norm_bias),
            layers: (0..config.num_hidden_layers)
                .map(|i| ModernLayer::new(&(&l / i), i, config, &s))
                .collect(),
            final_norm: Norm::new(&(p / "final_norm"), h, config.layer_norm_eps, s.norm_bias),
            pad_token_id: config.pad_token_id,
            head_dim: config.head_dim(),
            max_positions: config.max_position_embeddings,
            s,
        }
    }

    /// `(batch, seq_len, hidden)` last hidden state (after `final_norm`).
    pub fn forward_t(&self, input_ids: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let len = input_ids.size()[1];
        if len > self.max_positions {
            return Err(BertError::Input(format!(
                "sequence length {len} exceeds max_position_embeddings {}",
                self.max_positions
            )));
        }
        let device = input_ids.device();
        let words =
            crate::embeddings::word_lookup(&self.tok_embeddings, input_ids, self.pad_token_id)?;
        let mut xs = self
            .norm
            .forward(&words)
            .dropout(self.s.embedding_dropout, train);
        // transformers' `_prepare_4d_attention_mask` in fp32, then the window band.
        let min = f64::from(f32::MIN);
        let keep = mask.to_kind(Kind::Float).unsqueeze(1).unsqueeze(1);
        let padded: Tensor = keep.ones_like() - &keep;
        let global_mask = (padded * min).expand([-1, 1, len, len], false);
        let rows = Tensor::arange(len, (Kind::Int64, device));
        let distance = (rows.unsqueeze(0) - rows.unsqueeze(1)).abs();
        let far = distance
            .gt(self.s.local_attention / 2)
            .unsqueeze(0)
            .unsqueeze(0);
        let local_mask = global_mask.masked_fill(&far, min);
        let (global_cos, global_sin) = rotary(len, self.head_dim, self.s.global_theta, device);
        let (local_cos, local_sin) = rotary(len, self.head_dim, self.s.local_theta, device);
        let ctx = Context {
            global_cos,
            global_sin,
            local_cos,
            local_sin,
            global_mask,
            local_mask,
        };
        for layer in &self.layers {
            xs = layer.forward_t(&xs, &ctx, train);
        }
        Ok(self.final_norm.forward(&xs))
    }
}

/// transformers' `ModernBertPredictionHead` (`head.`): dense, activation, norm.
#[derive(Debug)]
pub(crate) struct PredictionHead {
    dense: nn::Linear,
    act: String,
    norm: Norm,
}

impl PredictionHead {
    pub(crate) fn new(p: &nn::Path, config: &BertConfig) -> Self {
        let s = ModernSettings::of(config);
        let h = config.hidden_size;
        Self {
            dense: linear_opt(
                &(p / "dense"),
                h,
                h,
                s.classifier_bias,
                InitStd::Out,
                config,
            ),
            act: s.classifier_activation,
            norm: Norm::new(&(p / "norm"), h, config.layer_norm_eps, s.norm_bias),
        }
    }

    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(self.norm.forward(&crate::deberta::activation(
            &xs.apply(&self.dense),
            &self.act,
        )?))
    }
}

/// The first token, or with `mean` the mean of the real tokens (`classifier_pooling`).
pub(crate) fn pool(hidden: &Tensor, mask: &Tensor, mean: bool) -> Tensor {
    if !mean {
        return hidden.select(1, 0);
    }
    let m = mask.unsqueeze(-1).to_kind(hidden.kind());
    (hidden * &m).sum_dim_intlist(1, false, hidden.kind())
        / mask
            .sum_dim_intlist(1, true, Kind::Int64)
            .to_kind(hidden.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotary_angles_are_position_times_inverse_frequency() {
        let (cos, sin) = rotary(4, 8, 10_000.0, tch::Device::Cpu);
        assert_eq!(cos.size(), [4, 8]);
        // Position 3, pair 1: angle 3 / 10000^(2/8); both halves repeat the pairs.
        let angle = 3.0 / 10_000f64.powf(2.0 / 8.0);
        let c = cos.double_value(&[3, 1]);
        assert!((c - angle.cos()).abs() < 1e-6, "{c}");
        assert_eq!(cos.double_value(&[3, 1]), cos.double_value(&[3, 5]));
        assert!((sin.double_value(&[3, 0]) - 3f64.sin()).abs() < 1e-6);
    }

    /// New weights start as transformers' `_init_weights` starts them: truncated normals
    /// (at `initializer_cutoff_factor` deviations) with the deviation of their role.
    #[test]
    fn new_weights_are_truncated_normals_with_transformers_deviations() {
        tch::manual_seed(7);
        let mut config = BertConfig::tiny(50, 64, 2);
        config.model_type = "modernbert".into();
        config.set_labels(&(0..40).map(|i| format!("L{i}")).collect::<Vec<_>>());
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _model = crate::heads::BertForTokenClassification::new(&vs.root(), &config);
        let vars = vs.variables();
        // (name, std): classifier hidden^-0.5; Wqkv 0.02; Wo and head.dense 0.02 / sqrt(2 L).
        let out = 0.02 / (2.0 * 2.0f64).sqrt();
        for (name, std) in [
            ("classifier.weight", 64f64.powf(-0.5)),
            ("model.layers.0.attn.Wqkv.weight", 0.02),
            ("model.layers.1.attn.Wo.weight", out),
            ("model.layers.0.mlp.Wo.weight", out),
            ("head.dense.weight", out),
        ] {
            let w = &vars[name];
            let max = w.abs().max().double_value(&[]);
            assert!(
                max <= 2.0 * std * (1.0 + 1e-6),
                "{name}: max {max} beyond 2 std {std}"
            );
            assert!(
                max > 1.5 * std,
                "{name}: max {max}, not a normal of std {std}"
            );
            // A normal truncated at 2 deviations has 0.880 of the deviation.
            let sd = w.std(true).double_value(&[]);
            assert!(
                (sd / std - 0.880).abs() < 0.06,
                "{name}: std {sd} for {std}"
            );
            assert!(w.mean(tch::Kind::Float).double_value(&[]).abs() < 0.1 * std);
        }
        assert_eq!(
            vars["classifier.bias"]
                .abs()
                .sum(tch::Kind::Float)
                .double_value(&[]),
            0.0
        );
    }
}
