#!/usr/bin/env python3
"""Peer of crates/evaluate/examples/bench_infer.rs: inference tokens/s of transformers'
BertForTokenClassification on a CoNLL file, done the way an HF evaluation loop does it:
fast tokenizer with is_split_into_words and truncation, batches sorted by length, dynamic
padding, eval mode, no grad, softmax, probabilities of every word's first sub-word copied to
the CPU. One JSON line.

Usage:
  evaluate_peer.py make-checkpoint <model dir> <out dir> <conll file>
      a token-classification checkpoint (random head, labels from the file) both sides load
  evaluate_peer.py bench <checkpoint dir> <conll file> <batch> <max_length> <threads>
"""

import json
import shutil
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer


def read_conll(path):
    sentences, tags, cur, cur_tags = [], [], [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if cur:
                sentences.append(cur)
                tags.append(cur_tags)
                cur, cur_tags = [], []
            continue
        parts = line.split("\t")
        cur.append(parts[0])
        cur_tags.append(parts[-1].strip())
    if cur:
        sentences.append(cur)
        tags.append(cur_tags)
    return sentences, tags


def make_checkpoint(model_dir, out_dir, conll):
    _, tags = read_conll(conll)
    labels = ["O"] + sorted({t for s in tags for t in s} - {"O"})
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        model_dir,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)},
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        if (Path(model_dir) / name).exists():
            shutil.copy(Path(model_dir) / name, Path(out_dir) / name)


def bench(checkpoint, conll, batch, max_length, threads):
    torch.set_num_threads(threads)
    sentences, _ = read_conll(conll)
    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForTokenClassification.from_pretrained(checkpoint)
    model.eval()
    enc = [
        tok(s, is_split_into_words=True, truncation=True, max_length=max_length)
        for s in sentences
    ]
    order = sorted(range(len(enc)), key=lambda i: -len(enc[i]["input_ids"]))
    tokens = sum(len(e["input_ids"]) for e in enc)

    def run():
        words = 0
        with torch.no_grad():
            for b in range(0, len(order), batch):
                idx = order[b : b + batch]
                feats = [{k: enc[i][k] for k in ("input_ids", "token_type_ids", "attention_mask")} for i in idx]
                padded = tok.pad(feats, return_tensors="pt")
                probs = model(**padded).logits.softmax(-1).cpu().numpy()
                for r, i in enumerate(idx):
                    prev = None
                    for pos, w in enumerate(enc[i].word_ids()):
                        if w is not None and w != prev:
                            _ = probs[r, pos].tolist()
                            words += 1
                        prev = w
        return words

    run()
    start = time.perf_counter()
    words = run()
    secs = time.perf_counter() - start
    print(json.dumps({
        "impl": "transformers",
        "sentences": len(sentences),
        "words": words,
        "tokens": tokens,
        "seconds": secs,
        "tokens_per_s": tokens / secs,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "make-checkpoint":
        make_checkpoint(*sys.argv[2:5])
    elif sys.argv[1] == "bench":
        bench(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]))
    else:
        sys.exit(__doc__)
