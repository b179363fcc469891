"""HF `Trainer` peer of the train stage for sequence classification (German Credit).

Reads the *same* rendered text and the *same* seeded split as our pipeline: the train, dev and
test Parquet files of an ingest artifact (`artifacts/credit-risk/ingest/<fingerprint>/`,
written by `cargo run -p pipeline -- run pipelines/credit-risk.toml`). Same recipe as
pipelines/credit-risk.toml: AdamW lr 5e-5, batch 16, 3 epochs, linear schedule with warmup
ratio 0.1, weight decay 0.01, max_length 256 (truncation), balanced class weights
(n / (k * count), scikit-learn's rule, on the train split), fp32 CPU, final model.

Prints one JSON line with test accuracy, macro F1, ROC-AUC (positive class "bad"), the
cost-weighted error per example (bad predicted good costs 5, good predicted bad 1, as the
pipeline's cost_matrix), the same on dev, steps, train seconds and non-pad tokens/s.

Usage: python scripts/peers/train_hf_seq.py [--data DIR] [--seed 42] [--threads N]
Benchmarks only: never used at product run time. Needs pyarrow (scripts/peers/requirements.txt).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
import torch
from common import Rows
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
COST = {("bad", "good"): 5.0, ("good", "bad"): 1.0}  # (gold, predicted) -> cost
POSITIVE = "bad"


def latest_ingest(pipeline):
    base = os.path.join(ROOT, "artifacts", pipeline, "ingest")
    with open(os.path.join(base, "latest"), encoding="utf-8") as f:
        return os.path.join(base, f.read().strip())


def read_split(data, split):
    t = pq.read_table(os.path.join(data, f"{split}.parquet"), columns=["id", "text", "label"])
    return t.to_pydict()


class WeightedTrainer(Trainer):
    """Cross-entropy with class weights, as our `class_weights = "balanced"`."""

    def __init__(self, *args, class_weights=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_weights = class_weights

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = torch.nn.functional.cross_entropy(outputs.logits, labels, weight=self.class_weights)
        return (loss, outputs) if return_outputs else loss


def scores(labels, gold, logits):
    probs = torch.softmax(torch.tensor(logits, dtype=torch.float64), dim=-1).numpy()
    pred = [labels[int(i)] for i in probs.argmax(-1)]
    pos = labels.index(POSITIVE)
    cost = sum(COST.get((g, p), 0.0) for g, p in zip(gold, pred))
    return {
        "examples": len(gold),
        "accuracy": accuracy_score(gold, pred),
        "macro_f1": f1_score(gold, pred, average="macro"),
        "roc_auc": roc_auc_score([g == POSITIVE for g in gold], probs[:, pos]),
        "cost_per_example": cost / len(gold),
        # rows gold, columns predicted, both in label order
        "confusion": [[sum(g == a and p == b for g, p in zip(gold, pred)) for b in labels]
                      for a in labels],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="ingest artifact directory (default: latest credit-risk)")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = args.data or latest_ingest("credit-risk")
    train, dev, test = (read_split(data, s) for s in ("train", "dev", "test"))
    labels = sorted(set(train["label"]))
    label2id = {l: i for i, l in enumerate(labels)}
    counts = np.array([train["label"].count(l) for l in labels], dtype=np.float64)
    weights = torch.tensor(len(train["label"]) / (len(labels) * counts), dtype=torch.float32)

    set_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)

    def encode(split):
        rows, truncated = [], 0
        for text, label in zip(split["text"], split["label"]):
            full = len(tok(text)["input_ids"])
            enc = tok(text, truncation=True, max_length=args.max_length)
            truncated += full > len(enc["input_ids"])
            rows.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                         "token_type_ids": enc["token_type_ids"], "labels": label2id[label]})
        return rows, truncated

    (train_rows, trunc), (dev_rows, _), (test_rows, _) = (encode(s) for s in (train, dev, test))
    out = tempfile.mkdtemp(prefix="train_hf_seq_")
    targs = TrainingArguments(
        output_dir=out, learning_rate=args.lr, per_device_train_batch_size=args.batch,
        per_device_eval_batch_size=32, num_train_epochs=args.epochs, warmup_ratio=0.1,
        weight_decay=0.01, lr_scheduler_type="linear", seed=args.seed, eval_strategy="no",
        save_strategy="no", logging_steps=50, report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = WeightedTrainer(model=model, args=targs, train_dataset=Rows(train_rows),
                              data_collator=DataCollatorWithPadding(tok), class_weights=weights)
    t0 = time.time()
    result = trainer.train()
    seconds = time.time() - t0
    steps = result.global_step
    per_epoch = sum(len(r["input_ids"]) for r in train_rows)
    epochs_done = min(args.epochs, steps * args.batch / len(train_rows))
    tokens = per_epoch * epochs_done

    out_scores = {}
    for name, rows, split in (("dev", dev_rows, dev), ("test", test_rows, test)):
        logits = trainer.predict(Rows(rows)).predictions
        out_scores[name] = scores(labels, split["label"], logits)
    print(json.dumps({
        "peer": "hf-trainer", "task": "sequence", "data": os.path.relpath(data, ROOT),
        "transformers": __import__("transformers").__version__, "seed": args.seed,
        "threads": torch.get_num_threads(), "class_weights": [round(float(w), 6) for w in weights],
        "train_truncated": trunc, "steps": steps, "train_seconds": round(seconds, 2),
        "train_tokens": int(tokens), "tokens_per_s": round(tokens / seconds, 1), **out_scores,
    }))


if __name__ == "__main__":
    sys.exit(main())
