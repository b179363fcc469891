//! bf16 autocast through libtorch's C++ API (`bert::autocast`).

use bert::{Autocast, TaskKind, autocast, load};
use tch::{Device, Kind, Tensor};

use crate::util::{fixtures, inputs, max_abs_diff, read_tensors};

#[test]
fn cpu_autocast_casts_matmuls_to_bf16_and_restores_the_state() {
    let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
    let w = Tensor::ones([3, 4], (Kind::Float, Device::Cpu));
    let before = autocast::dtype(Device::Cpu);
    assert!(!autocast::is_enabled(Device::Cpu));
    {
        let _ac = Autocast::enter(Device::Cpu, Kind::BFloat16);
        assert!(autocast::is_enabled(Device::Cpu));
        assert_eq!(autocast::dtype(Device::Cpu), Some(Kind::BFloat16));
        assert_eq!(x.matmul(&w).kind(), Kind::BFloat16);
        // Element-wise ops keep their input dtype, as under `torch.autocast`.
        assert_eq!((&x + 1.0).kind(), Kind::Float);
    }
    assert!(!autocast::is_enabled(Device::Cpu));
    assert_eq!(autocast::dtype(Device::Cpu), before);
    assert_eq!(x.matmul(&w).kind(), Kind::Float);
}

/// Setting CUDA's autocast dtype needs no GPU: libtorch keeps it per thread. The default is
/// fp16 (what `tch::autocast` uses); the guard sets bf16, nests and restores.
#[test]
fn cuda_autocast_dtype_is_set_nested_and_restored() {
    let gpu = Device::Cuda(0);
    assert_eq!(autocast::dtype(gpu), Some(Kind::Half));
    assert!(!autocast::is_enabled(gpu));
    {
        let _outer = Autocast::enter(gpu, Kind::BFloat16);
        assert_eq!(autocast::dtype(gpu), Some(Kind::BFloat16));
        assert!(autocast::is_enabled(gpu));
        assert!(!autocast::is_enabled(Device::Cpu));
        {
            let _inner = Autocast::enter(gpu, Kind::Half);
            assert_eq!(autocast::dtype(gpu), Some(Kind::Half));
        }
        assert_eq!(autocast::dtype(gpu), Some(Kind::BFloat16));
        assert!(autocast::is_enabled(gpu));
    }
    assert_eq!(autocast::dtype(gpu), Some(Kind::Half));
    assert!(!autocast::is_enabled(gpu));
}

#[test]
#[should_panic(expected = "BFloat16 or Half")]
fn autocast_to_fp32_is_refused() {
    let _ac = Autocast::enter(Device::Cpu, Kind::Float);
}

/// The tiny token classifier under CPU bf16 autocast against `transformers` under
/// `torch.autocast("cpu", dtype=torch.bfloat16)` on the same weights and inputs
/// (`scripts/fixtures/bert/autocast_fixture.py`): the same ops are cast, so the
/// logits agree far more closely than either does with fp32.
#[test]
fn bf16_logits_match_transformers_under_autocast() {
    let expected = read_tensors(&fixtures().join("tiny_expected.safetensors"));
    let hf = read_tensors(&fixtures().join("tiny_autocast_bf16.safetensors"));
    for (task, dir, key) in [
        (TaskKind::Token, "tiny-token", "token_logits"),
        (TaskKind::Sequence, "tiny-sequence", "sequence_logits"),
    ] {
        let (model, _vs, _) = load(&fixtures().join(dir), task, &[], Device::Cpu).unwrap();
        let logits = {
            let _ac = Autocast::enter(Device::Cpu, Kind::BFloat16);
            tch::no_grad(|| model.forward_t(&inputs(&expected), false))
                .unwrap()
                .logits
        };
        assert_eq!(logits.kind(), hf[key].kind(), "{key}");
        let logits = logits.to_kind(Kind::Float);
        let vs_hf = max_abs_diff(&logits, &hf[key].to_kind(Kind::Float));
        let vs_fp32 = max_abs_diff(&logits, &expected[key]);
        eprintln!("{key}: bf16 vs HF bf16 {vs_hf:e}, vs fp32 {vs_fp32:e}");
        assert!(vs_fp32 > 0.0, "{key}: autocast changed nothing");
        assert!(vs_hf <= vs_fp32 / 4.0, "{key}: {vs_hf:e} vs {vs_fp32:e}");
    }
}
