#!/usr/bin/env python3
"""PyTorch transformers peer of crates/bert/examples/fwd_bwd.rs: forward + backward tokens/s
of BertForTokenClassification (train mode, dropout on) on random ids; one JSON line.

Usage: bert_fwd_bwd.py <model_dir> <batch> <seq_len> <iters> <threads>
"""

import json
import sys
import time

import torch
from transformers import AutoModelForTokenClassification


def main():
    model_dir, batch, seq, iters, threads = sys.argv[1], *map(int, sys.argv[2:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=9)
    model.train()
    vocab = model.config.vocab_size
    ids = torch.randint(1000, vocab, (batch, seq))
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    targets = torch.randint(0, 9, (batch * seq,))

    def step():
        model.zero_grad(set_to_none=False)
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), targets)
        loss.backward()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    secs = time.perf_counter() - start
    print(json.dumps({
        "impl": "transformers", "batch": batch, "seq": seq, "iters": iters, "threads": threads,
        "seconds": round(secs, 3), "tokens_per_s": round(batch * seq * iters / secs, 1),
        "attn_implementation": model.config._attn_implementation,
    }))


if __name__ == "__main__":
    main()
