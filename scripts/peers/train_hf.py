"""HF `Trainer` peer of the train stage on WNUT-17 (token classification).

Same recipe as the Rust run: AdamW lr 5e-5, batch 32, linear schedule with warmup ratio 0.1,
weight decay 0.01, max_length 128 (truncation), first-sub-token labels, seed 42, fp32 CPU.
Prints one JSON line: test entity F1 (seqeval default mode) of the final model, steps, train
seconds, non-pad training tokens and tokens/s (train steps only, evaluation excluded).

Usage: python scripts/peers/train_hf.py [--epochs 3] [--max-steps N] [--threads N]
       [--grad-accum N] [--skip-test]
Data-parallel: `python -m torch.distributed.run --nproc-per-node 2 scripts/peers/train_hf.py
--batch 16 ...` (Trainer's DDP over Gloo on the CPU; `--batch` is per process, rank 0 prints).
Benchmarks only: never used at product run time.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from common import Rows
from seqeval.metrics import f1_score
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    Trainer,
    TrainingArguments,
    set_seed,
)

# The project's vendored copy (data/wnut17, with its license and citation).
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "wnut17")


def read_conll(path):
    """Sentences of (words, tags); a separator is a line that is empty after trimming."""
    sents, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                if words:
                    sents.append((words, tags))
                words, tags = [], []
                continue
            parts = line.rstrip("\n").split("\t")
            words.append(parts[0])
            tags.append(parts[-1].strip())
    if words:
        sents.append((words, tags))
    return sents


def encode(tok, sents, label2id, max_length):
    rows = []
    for words, tags in sents:
        enc = tok(words, is_split_into_words=True, truncation=True, max_length=max_length)
        labels, prev = [], None
        for w in enc.word_ids():
            if w is None or w == prev:
                labels.append(-100)
            else:
                labels.append(label2id[tags[w]])
            prev = w
        rows.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                     "token_type_ids": enc["token_type_ids"], "labels": labels})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--skip-test", action="store_true", help="train and time only")
    args = ap.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.threads:
        torch.set_num_threads(args.threads)

    train = read_conll(os.path.join(DATA, "wnut17train.conll"))
    test = read_conll(os.path.join(DATA, "emerging.test.annotated"))
    tags = sorted({t for _, ts in train + test for t in ts} - {"O"}, key=lambda t: (t[2:], t[0]))
    labels = ["O"] + tags
    label2id = {l: i for i, l in enumerate(labels)}

    set_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForTokenClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
    train_rows = encode(tok, train, label2id, 128)
    test_rows = encode(tok, test, label2id, 128)

    out = tempfile.mkdtemp(prefix="train_hf_")
    targs = TrainingArguments(
        output_dir=out, learning_rate=args.lr, per_device_train_batch_size=args.batch,
        per_device_eval_batch_size=64, gradient_accumulation_steps=args.grad_accum,
        num_train_epochs=args.epochs, max_steps=args.max_steps,
        warmup_ratio=0.1, weight_decay=0.01, lr_scheduler_type="linear", seed=args.seed,
        eval_strategy="no", save_strategy="no", logging_steps=50, report_to=[],
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=Rows(train_rows),
                      data_collator=DataCollatorForTokenClassification(tok))
    t0 = time.time()
    result = trainer.train()
    seconds = time.time() - t0
    steps = result.global_step
    # Non-pad tokens the steps consumed: one epoch's tokens per epoch done (fractional).
    per_epoch = sum(len(r["input_ids"]) for r in train_rows)
    epochs_done = steps * args.batch * args.grad_accum * world / len(train_rows)
    tokens = per_epoch * epochs_done
    result_line = {
        "peer": "hf-trainer", "transformers": __import__("transformers").__version__,
        "threads": torch.get_num_threads(), "processes": world, "steps": steps,
        "epochs": round(epochs_done, 4), "train_seconds": round(seconds, 2),
        "train_tokens": int(tokens), "tokens_per_s": round(tokens / seconds, 1),
        "final_loss": result.training_loss,
    }
    if args.skip_test:
        if rank == 0:
            print(json.dumps(result_line))
        return 0

    pred = trainer.predict(Rows(test_rows)).predictions
    y_true, y_pred = [], []
    for (words, gold), row, logits in zip(test, test_rows, pred):
        enc_words = tok(words, is_split_into_words=True, truncation=True, max_length=128).word_ids()
        p = ["O"] * len(words)
        prev = None
        for pos, w in enumerate(enc_words):
            if w is not None and w != prev:
                p[w] = labels[int(np.argmax(logits[pos]))]
            prev = w
        y_true.append(gold)
        y_pred.append(p)
    result_line["test_entity_f1"] = f1_score(y_true, y_pred)
    if rank == 0:
        print(json.dumps(result_line))


if __name__ == "__main__":
    sys.exit(main())
