//! AdamW on the model's tensors, the learning-rate schedule and gradient-norm clipping.
//!
//! AdamW is written here rather than taken from `tch::nn::Optimizer` because a resumable run
//! must save and restore the optimizer moments, which libtorch's C++ optimizer behind tch
//! does not expose. The update is PyTorch's `torch.optim.AdamW(fused=True)`: libtorch's fused
//! kernel (`_fused_adamw_`, CPU and CUDA) called once per parameter group, and the clipping is
//! `clip_grad_norm_`'s multi-tensor path (`_foreach_norm`, `_foreach_mul_`), so a step costs a
//! few kernel launches rather than a dozen per parameter (which bounds a GPU step).

use std::collections::BTreeMap;
use std::path::Path;

use tch::{Kind, Tensor};

use crate::error::{Result, TrainError};
use crate::params::Scheduler;

/// Largest flat gradient bucket of a data-parallel all-reduce (DDP's default `bucket_cap_mb`).
pub const BUCKET_BYTES: usize = 25 << 20;

/// One trainable tensor with its AdamW state.
#[derive(Debug)]
struct Slot {
    name: String,
    param: Tensor,
    decay: bool,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// AdamW hyper-parameters (everything but the learning rate, which the schedule sets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay of the decayed group.
    pub weight_decay: f64,
}

/// Whether a parameter gets weight decay: not biases, not LayerNorm parameters (HF's rule,
/// `get_decay_parameter_names`).
pub fn decays(name: &str) -> bool {
    !(name.ends_with("bias") || name.contains("LayerNorm") || name.contains("layer_norm"))
}

/// AdamW over named parameters, moments kept by parameter name.
#[derive(Debug)]
pub struct AdamW {
    slots: Vec<Slot>,
    config: AdamWConfig,
    /// Optimizer steps taken (the bias-correction exponent).
    pub steps: u64,
    /// `steps` as the fused kernel reads it (a 0-d float tensor on the parameters' device).
    step_tensor: Option<Tensor>,
}

impl AdamW {
    /// An optimizer over `params` (name, tensor), sorted by name so the state is stable.
    pub fn new(params: impl IntoIterator<Item = (String, Tensor)>, config: AdamWConfig) -> Self {
        let mut slots: Vec<Slot> = params
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, param)| Slot {
                decay: decays(&name),
                exp_avg: param.zeros_like(),
                exp_avg_sq: param.zeros_like(),
                name,
                param,
            })
            .collect();
        slots.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            slots,
            config,
            steps: 0,
            step_tensor: None,
        }
    }

    /// Names of the parameters with and without weight decay.
    pub fn groups(&self) -> (Vec<&str>, Vec<&str>) {
        let (d, n): (Vec<&Slot>, Vec<&Slot>) = self.slots.iter().partition(|s| s.decay);
        (
            d.iter().map(|s| s.name.as_str()).collect(),
            n.iter().map(|s| s.name.as_str()).collect(),
        )
    }

    /// Drops every gradient (`zero_grad(set_to_none=True)`, PyTorch's default): the next
    /// backward pass allocates them, so nothing is cleared or launched here.
    pub fn zero_grad(&mut self) -> Result<()> {
        let params: Vec<&Tensor> = self.slots.iter().map(|s| &s.param).collect();
        Ok(bert::torch_ext::grads_to_none(&params)?)
    }

    /// The gradients that exist (autograd leaves a parameter without one when it took no
    /// part in the loss), with their slots' indices.
    fn grads(&self) -> Vec<(usize, Tensor)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.param.grad()))
            .filter(|(_, g)| g.defined())
            .collect()
    }

    /// The global L2 norm of all gradients (as if concatenated); scales them to `max_norm`
    /// when above it (`torch.nn.utils.clip_grad_norm_`, with its 1e-6). `max_norm` 0 only
    /// measures. Returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> Result<f64> {
        let grads = self.grads();
        if grads.is_empty() {
            return Ok(0.0);
        }
        let refs: Vec<&Tensor> = grads.iter().map(|(_, g)| g).collect();
        tch::no_grad(|| {
            let total = bert::torch_ext::total_norm(&refs)?
                .f_double_value(&[])
                .map_err(TrainError::torch("gradient norm"))?;
            if max_norm > 0.0 && total.is_finite() {
                let coef = max_norm / (total + 1e-6);
                if coef < 1.0 {
                    bert::torch_ext::scale_(&refs, coef)?;
                }
            }
            Ok(total)
        })
    }

    /// One AdamW step at learning rate `lr` with the current gradients; parameters without a
    /// gradient are left alone, as PyTorch does.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        self.steps += 1;
        let AdamWConfig {
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.config;
        let grads = self.grads();
        let Some((first, _)) = grads.first() else {
            return Ok(());
        };
        // The fused kernel reads the step count (for bias correction) from a float tensor on
        // the parameters' device; one, shared by every parameter, refilled each step.
        let device = self.slots[*first].param.device();
        let step = match &mut self.step_tensor {
            Some(t) if t.device() == device => t,
            slot => slot.insert(Tensor::zeros([], (Kind::Float, device))),
        };
        let _ = step.fill_(self.steps as f64);
        tch::no_grad(|| {
            for decay in [true, false] {
                let group: Vec<(&Slot, &Tensor)> = grads
                    .iter()
                    .map(|(i, g)| (&self.slots[*i], g))
                    .filter(|(s, _)| s.decay == decay)
                    .collect();
                if group.is_empty() {
                    continue;
                }
                let params: Vec<&Tensor> = group.iter().map(|(s, _)| &s.param).collect();
                let grads: Vec<&Tensor> = group.iter().map(|(_, g)| *g).collect();
                let exp_avgs: Vec<&Tensor> = group.iter().map(|(s, _)| &s.exp_avg).collect();
                let exp_avg_sqs: Vec<&Tensor> = group.iter().map(|(s, _)| &s.exp_avg_sq).collect();
                bert::torch_ext::fused_adamw_(
                    &params,
                    &grads,
                    &exp_avgs,
                    &exp_avg_sqs,
                    step,
                    lr,
                    (beta1, beta2),
                    if decay { weight_decay } else { 0.0 },
                    eps,
                )?;
            }
            Ok(())
        })
    }

    /// Data-parallel step: sums every rank's gradients in place (c10d all-reduce over flat
    /// buckets of at most [`BUCKET_BYTES`], all in flight at once), so each rank ends with the
    /// gradients of the whole global batch. A parameter without a gradient here (a rank with
    /// no micro-batch in the step) takes the others' sum. `flags` ride along in the same
    /// collective (summed; e.g. "a rank was asked to stop"); their sums are returned.
    pub fn all_reduce_grads(
        &mut self,
        pg: &bert::torch_ext::ProcessGroup,
        flags: &[f64],
    ) -> Result<Vec<f64>> {
        tch::no_grad(|| {
            let n = self.slots.len();
            let grads: Vec<Tensor> = self.slots.iter().map(|s| s.param.grad()).collect();
            let device = self
                .slots
                .first()
                .map_or(tch::Device::Cpu, |s| s.param.device());
            let mut head = vec![0f64; n];
            for (i, g) in grads.iter().enumerate() {
                if g.defined() {
                    head[i] = 1.0;
                }
            }
            head.extend_from_slice(flags);
            let head = Tensor::from_slice(&head).to_device(device);
            let mut buckets: Vec<(Vec<usize>, Tensor)> = Vec::new();
            let mut current: Vec<usize> = Vec::new();
            let mut bytes = 0usize;
            let flush = |members: &mut Vec<usize>, buckets: &mut Vec<(Vec<usize>, Tensor)>| {
                if members.is_empty() {
                    return;
                }
                let parts: Vec<Tensor> = members
                    .iter()
                    .map(|&i| {
                        let g = &grads[i];
                        if g.defined() {
                            g.to_kind(Kind::Float).view(-1)
                        } else {
                            Tensor::zeros(
                                [self.slots[i].param.numel() as i64],
                                (Kind::Float, device),
                            )
                        }
                    })
                    .collect();
                buckets.push((std::mem::take(members), Tensor::cat(&parts, 0)));
            };
            for (i, s) in self.slots.iter().enumerate() {
                let size = s.param.numel() * 4;
                if bytes + size > BUCKET_BYTES && !current.is_empty() {
                    flush(&mut current, &mut buckets);
                    bytes = 0;
                }
                current.push(i);
                bytes += size;
            }
            flush(&mut current, &mut buckets);
            let mut all: Vec<&Tensor> = buckets.iter().map(|(_, t)| t).collect();
            all.push(&head);
            pg.all_reduce(&all, bert::torch_ext::ReduceOp::Sum)
                .map_err(|e| TrainError::Distributed(format!("gradient all-reduce: {e}")))?;
            let head = Vec::<f64>::try_from(&head.to_device(tch::Device::Cpu))
                .map_err(TrainError::torch("reading the all-reduced flags"))?;
            let mut missing: Vec<(usize, Tensor)> = Vec::new();
            for (members, flat) in &buckets {
                let mut offset = 0i64;
                for &i in members {
                    let param = &self.slots[i].param;
                    let numel = param.numel() as i64;
                    let part = flat.narrow(0, offset, numel).view_as(param);
                    offset += numel;
                    if grads[i].defined() {
                        let mut g = grads[i].shallow_clone();
                        g.f_copy_(&part)
                            .map_err(TrainError::torch("writing back a reduced gradient"))?;
                    } else if head[i] > 0.0 {
                        missing.push((i, part.to_kind(param.kind())));
                    }
                }
            }
            if !missing.is_empty() {
                let params: Vec<&Tensor> =
                    missing.iter().map(|(i, _)| &self.slots[*i].param).collect();
                let values: Vec<&Tensor> = missing.iter().map(|(_, g)| g).collect();
                bert::torch_ext::set_grads(&params, &values)?;
            }
            Ok(head[n..].to_vec())
        })
    }

    /// Makes every rank's weights, moments and step count rank 0's (at the start of a
    /// data-parallel run: a resumed rank 0 brings its checkpoint to everyone).
    pub fn broadcast_state(&mut self, pg: &bert::torch_ext::ProcessGroup) -> Result<()> {
        tch::no_grad(|| {
            let steps = Tensor::from_slice(&[self.steps as f64]);
            let mut all: Vec<&Tensor> = Vec::with_capacity(3 * self.slots.len() + 1);
            for s in &self.slots {
                all.extend([&s.param, &s.exp_avg, &s.exp_avg_sq]);
            }
            all.push(&steps);
            pg.broadcast(&all, 0).map_err(|e| {
                TrainError::Distributed(format!("broadcasting rank 0's state: {e}"))
            })?;
            self.steps = steps.double_value(&[0]) as u64;
            Ok(())
        })
    }

    /// A checksum of the weights (sum of every element, in f64): equal on every rank of a
    /// data-parallel run, whose weights must never diverge.
    pub fn weight_checksum(&self) -> f64 {
        tch::no_grad(|| {
            self.slots
                .iter()
                .map(|s| s.param.sum(Kind::Double).double_value(&[]))
                .sum()
        })
    }

    /// Saves the moments (`exp_avg.<name>`, `exp_avg_sq.<name>`) as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            named.push((
                format!("exp_avg.{}", s.name),
                s.exp_avg.to_device(tch::Device::Cpu),
            ));
            named.push((
                format!("exp_avg_sq.{}", s.name),
                s.exp_avg_sq.to_device(tch::Device::Cpu),
            ));
        }
        Tensor::write_safetensors(&named, path)
            .map_err(TrainError::torch(format!("writing {}", path.display())))
    }

    /// Restores moments written by [`Self::save`]; every parameter must have both.
    pub fn load(&mut self, path: &Path, steps: u64) -> Result<()> {
        let read = Tensor::read_safetensors(path)
            .map_err(TrainError::torch(format!("reading {}", path.display())))?;
        let mut by_name: BTreeMap<String, Tensor> = read.into_iter().collect();
        for s in &mut self.slots {
            for (prefix, dst) in [
                ("exp_avg", &mut s.exp_avg),
                ("exp_avg_sq", &mut s.exp_avg_sq),
            ] {
                let key = format!("{prefix}.{}", s.name);
                let src = by_name.remove(&key).ok_or_else(|| TrainError::Resume {
                    path: path.to_path_buf(),
                    message: format!("no `{key}` (the checkpoint is of another model)"),
                })?;
                if src.size() != dst.size() {
                    return Err(TrainError::Resume {
                        path: path.to_path_buf(),
                        message: format!(
                            "`{key}` has shape {:?}, the model {:?}",
                            src.size(),
                            dst.size()
                        ),
                    });
                }
                tch::no_grad(|| dst.f_copy_(&src))
                    .map_err(TrainError::torch(format!("restoring `{key}`")))?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// The learning rate of each optimizer step: linear warmup from 0, then the schedule
/// (HF's `get_linear_schedule_with_warmup` and friends).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// Peak learning rate.
    pub base: f64,
    /// Warmup steps.
    pub warmup: u64,
    /// Total optimizer steps.
    pub total: u64,
    /// Shape after warmup.
    pub kind: Scheduler,
}

impl LrSchedule {
    /// Warmup steps from the params: `warmup_steps` when positive, else
    /// `ceil(total * warmup_ratio)` (as HF's `get_warmup_steps`).
    pub fn warmup_steps(total: u64, steps: u64, ratio: f64) -> u64 {
        if steps > 0 {
            steps
        } else {
            (total as f64 * ratio).ceil() as u64
        }
    }

    /// Learning rate of the optimizer step after `done` completed steps.
    pub fn lr(&self, done: u64) -> f64 {
        let s = done as f64;
        if done < self.warmup {
            return self.base * s / self.warmup.max(1) as f64;
        }
        let factor = match self.kind {
            Scheduler::Constant => 1.0,
            Scheduler::Linear => {
                let rest = self.total.saturating_sub(self.warmup).max(1) as f64;
                ((self.total as f64 - s) / rest).max(0.0)
            }
            Scheduler::Cosine => {
                let rest = self.total.saturating_sub(self.warmup).max(1) as f64;
                let progress = (s - self.warmup as f64) / rest;
                (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
        };
        self.base * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_hf_linear_with_warmup() {
        let s = LrSchedule {
            base: 1.0,
            warmup: 10,
            total: 110,
            kind: Scheduler::Linear,
        };
        assert_eq!(s.lr(0), 0.0);
        assert_eq!(s.lr(5), 0.5);
        assert_eq!(s.lr(10), 1.0);
        assert_eq!(s.lr(60), 0.5);
        assert_eq!(s.lr(110), 0.0);
        let c = LrSchedule {
            kind: Scheduler::Cosine,
            ..s
        };
        assert!((c.lr(60) - 0.5).abs() < 1e-12);
        assert_eq!(LrSchedule::warmup_steps(321, 0, 0.1), 33);
        assert_eq!(LrSchedule::warmup_steps(321, 7, 0.1), 7);
    }

    #[test]
    fn no_decay_on_biases_and_layer_norms() {
        assert!(decays("bert.encoder.layer.0.attention.self.query.weight"));
        assert!(!decays("bert.encoder.layer.0.attention.self.query.bias"));
        assert!(!decays("bert.embeddings.LayerNorm.weight"));
        assert!(decays("classifier.weight"));
    }

    /// AdamW with PyTorch's default betas and epsilon over named leaf tensors.
    fn optimizer(params: &[(&str, &Tensor)], weight_decay: f64) -> AdamW {
        let config = AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        };
        AdamW::new(
            params
                .iter()
                .map(|(name, t)| (name.to_string(), t.shallow_clone())),
            config,
        )
    }

    /// Reference values from PyTorch (`scripts/fixtures/train/adamw.py` prints them):
    /// `torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.5)`
    /// on p = [1, -2], two steps with gradients [0.5, 0.25] then [-1, 2].
    #[test]
    fn adamw_matches_torch() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let mut opt = optimizer(&[("w", &p)], 0.5);
        let expected = [[0.85f32, -2.0], [0.844_110_37, -1.982_146_5]];
        for (grad, want) in [[0.5f32, 0.25], [-1.0, 2.0]].iter().zip(expected) {
            opt.zero_grad().unwrap();
            (&p * Tensor::from_slice(grad)).sum(Kind::Float).backward();
            opt.step(0.1).unwrap();
            let got = Vec::<f32>::try_from(&p.detach()).unwrap();
            for (a, b) in got.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        }
    }

    /// `clip_grad_norm_`: the norm of all gradients together, scaled to `max_norm` only
    /// when above it.
    #[test]
    fn clipping_scales_all_gradients_by_the_global_norm() {
        let a = Tensor::from_slice(&[1.0f32, 1.0]).set_requires_grad(true);
        let b = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let mut opt = optimizer(&[("a", &a), ("b", &b)], 0.0);
        let loss = (&a * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float)
            + (&b * Tensor::from_slice(&[12.0f32])).sum(Kind::Float);
        loss.backward();
        assert!((opt.clip_grad_norm(0.0).unwrap() - 13.0).abs() < 1e-5);
        assert_eq!(Vec::<f32>::try_from(&a.grad()).unwrap(), [3.0, 4.0]);
        assert!((opt.clip_grad_norm(26.0).unwrap() - 13.0).abs() < 1e-5);
        assert_eq!(Vec::<f32>::try_from(&b.grad()).unwrap(), [12.0]);
        assert!((opt.clip_grad_norm(1.0).unwrap() - 13.0).abs() < 1e-5);
        let scaled = Vec::<f32>::try_from(&a.grad()).unwrap();
        let want = [3.0 / (13.0 + 1e-6), 4.0 / (13.0 + 1e-6)];
        assert!((scaled[0] - want[0]).abs() < 1e-6 && (scaled[1] - want[1]).abs() < 1e-6);
        // set_to_none: no gradient at all until the next backward pass.
        opt.zero_grad().unwrap();
        assert!(!a.grad().defined() && !b.grad().defined());
        assert_eq!(opt.clip_grad_norm(1.0).unwrap(), 0.0);
    }

    /// A parameter that took no part in the loss has no gradient: PyTorch leaves it (and its
    /// moments) alone, weight decay included.
    #[test]
    fn parameters_without_gradients_are_left_alone() {
        let used = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let unused = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let mut opt = optimizer(&[("used.weight", &used), ("unused.weight", &unused)], 0.5);
        (&used * 2.0).sum(Kind::Float).backward();
        opt.step(0.1).unwrap();
        assert!(Vec::<f32>::try_from(&used.detach()).unwrap()[0] < 1.0);
        assert_eq!(Vec::<f32>::try_from(&unused.detach()).unwrap(), [1.0]);
    }
}
