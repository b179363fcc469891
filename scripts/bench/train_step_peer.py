#!/usr/bin/env python3
"""PyTorch eager + transformers peer of crates/train/examples/step_bench.rs: one full training
step at fixed shapes (forward under bf16 autocast, fp32 cross-entropy, backward,
clip_grad_norm_(1.0), torch.optim.AdamW), on a BertForTokenClassification built from config
alone. Same arguments and the same JSON keys as the Rust example; `--optimizer` picks
AdamW's implementation (`foreach`, PyTorch's default on CUDA, or `fused`).

Usage: train_step_peer.py --device cuda --batch 64 --seq 128 [--optimizer fused]
"""

import argparse
import json
import time

import torch
from transformers import BertConfig, BertForTokenClassification


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--threads", type=int)
    p.add_argument("--peak-tflops", type=float)
    p.add_argument("--optimizer", choices=["foreach", "fused", "for-loop"], default="foreach")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=a.hidden, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, intermediate_size=4 * a.hidden, num_labels=9,
        attn_implementation="sdpa",
    )
    model = BertForTokenClassification(config).to(dev).train()
    non_embedding = sum(t.numel() for n, t in model.named_parameters() if "embeddings" not in n)
    decay = [t for n, t in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    no_decay = [t for n, t in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    kw = {"foreach": dict(foreach=True), "fused": dict(fused=True), "for-loop": dict(foreach=False)}
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=5e-5, **kw[a.optimizer],
    )
    ids = torch.randint(1000, 30522, (a.batch, a.seq), device=dev)
    mask = torch.ones_like(ids)
    targets = torch.randint(0, 9, (a.batch * a.seq,), device=dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step(split):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            logits = model(input_ids=ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits.float().view(-1, 9), targets)
        loss.backward()
        if split:
            sync()
        t1 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()
        return t1 - t0, time.perf_counter() - t1

    for _ in range(a.warmup):
        step(False)
    start = time.perf_counter()
    for _ in range(a.iters):
        step(False)
    secs = (time.perf_counter() - start) / a.iters
    fb = opt_s = 0.0
    for _ in range(a.iters):
        f, o = step(True)
        fb += f / a.iters
        opt_s += o / a.iters
    tokens_per_s = a.batch * a.seq / secs
    print(json.dumps({
        "impl": f"transformers (PyTorch eager, AdamW {a.optimizer})",
        "device": a.device, "precision": a.precision,
        "layers": a.layers, "hidden": a.hidden, "batch": a.batch, "seq": a.seq, "iters": a.iters,
        "non_embedding_params": non_embedding,
        "ms_per_step": secs * 1e3, "ms_forward_backward": fb * 1e3, "ms_clip_optimizer": opt_s * 1e3,
        "samples_per_s": a.batch / secs, "tokens_per_s": tokens_per_s,
        "mfu": 6 * non_embedding * tokens_per_s / (a.peak_tflops * 1e12) if a.peak_tflops else None,
    }))


if __name__ == "__main__":
    main()
