"""HF `Trainer` peer of the train stage for sequence classification.

Reads the *same* examples as our pipeline: the train, dev and test Parquet files of an ingest
artifact (`--data`, default the latest `artifacts/credit-risk/ingest/<fingerprint>/`), or, with
`--files TRAIN DEV TEST`, JSONL files of `{"text", "label"}` lines (data/clinc150/*.jsonl).

Defaults are the recipe of pipelines/credit-risk.toml: AdamW lr 5e-5, batch 16, 3 epochs,
linear schedule with warmup ratio 0.1, weight decay 0.01, max_length 256 (truncation), balanced
class weights (n / (k * count), scikit-learn's rule, on the train split), fp32 CPU, final model.
`--sampler random` is HF's default training order; `--sampler group` sets `group_by_length`.

Prints one JSON line with test and dev accuracy and macro F1 and, for German Credit (labels
good/bad), ROC-AUC (positive class "bad") and the cost-weighted error per example (bad
predicted good costs 5, good predicted bad 1, as the pipeline's cost_matrix); steps, the loss
every 50 steps, train seconds and non-pad tokens/s. Predictions are scored against the
`label_ids` that `Trainer.predict` returns (a length-grouped eval sampler reorders them).

Usage: python scripts/peers/train_hf_seq.py [--data DIR | --files TRAIN DEV TEST] [--seed 42]
       [--threads N] [--batch 16] [--max-length 256] [--class-weights balanced|none]
       [--sampler random|group] [--dropout P] [--order-file F] [--save-init DIR]
Same-order runs (scripts/bench/clinc150_same_order.sh): `--save-init DIR` writes the seeded
initial model (pretrained encoder + new head) and exits, so both sides start from the same
weights; `--order-file F` (one JSON array of batches of train row indices per epoch, written by
`cargo run -p train --example batch_order`) replaces the sampler, so both see the same batches;
`--dropout 0` removes the last random draw.
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


def read_jsonl(path):
    rows = {"text": [], "label": []}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows["text"].append(row["text"])
                rows["label"].append(row["label"])
    return rows


class FixedOrder(torch.utils.data.Sampler):
    """The train rows in a given order: epoch k yields the batches of line k of an order file."""

    def __init__(self, epochs):
        self.epochs = epochs
        self.calls = 0

    def __len__(self):
        return sum(len(b) for b in self.epochs[0])

    def __iter__(self):
        if self.calls >= len(self.epochs):
            raise RuntimeError(f"the order file has {len(self.epochs)} epochs; a further one was asked for")
        batches = self.epochs[self.calls]
        self.calls += 1
        for b in batches:
            yield from b


class FixedOrderTrainer(Trainer):
    """HF `Trainer` with the train sampler replaced by a `FixedOrder`."""

    def __init__(self, *args, order=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = order

    def _get_train_sampler(self, train_dataset=None):
        return self.order


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
    out = {
        "examples": len(gold),
        "accuracy": accuracy_score(gold, pred),
        "macro_f1": f1_score(gold, pred, average="macro"),
    }
    if sorted(labels) == ["bad", "good"]:
        pos = labels.index(POSITIVE)
        cost = sum(COST.get((g, p), 0.0) for g, p in zip(gold, pred))
        out["roc_auc"] = roc_auc_score([g == POSITIVE for g in gold], probs[:, pos])
        out["cost_per_example"] = cost / len(gold)
        # rows gold, columns predicted, both in label order
        out["confusion"] = [[sum(g == a and p == b for g, p in zip(gold, pred)) for b in labels]
                            for a in labels]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="ingest artifact directory (default: latest credit-risk)")
    ap.add_argument("--files", nargs=3, metavar=("TRAIN", "DEV", "TEST"),
                    help="JSONL files of {text, label} lines instead of an ingest artifact")
    ap.add_argument("--class-weights", choices=["balanced", "none"], default="balanced")
    ap.add_argument("--sampler", choices=["random", "group"], default="random")
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dropout", type=float, help="hidden, attention and classifier dropout")
    ap.add_argument("--order-file", help="train batches per epoch (JSON lines of index lists)")
    ap.add_argument("--save-init", help="write the seeded initial model here and exit")
    ap.add_argument("--out-of-scope", metavar="LABEL",
                    help="out-of-scope label: add CLINC150's rejection metrics (open_set.py)")
    ap.add_argument("--reject-target", default="out_of_scope_recall=0.8",
                    help="with --out-of-scope: METRIC=VALUE the dev threshold must reach")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.files:
        data = os.path.dirname(os.path.abspath(args.files[0]))
        train, dev, test = (read_jsonl(f) for f in args.files)
    else:
        data = args.data or latest_ingest("credit-risk")
        train, dev, test = (read_split(data, s) for s in ("train", "dev", "test"))
    labels = sorted(set(train["label"]))
    label2id = {l: i for i, l in enumerate(labels)}
    counts = np.array([train["label"].count(l) for l in labels], dtype=np.float64)
    weights = None
    if args.class_weights == "balanced":
        weights = torch.tensor(len(train["label"]) / (len(labels) * counts), dtype=torch.float32)

    set_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)
    extra = {}
    if args.dropout is not None:
        extra = dict(hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                     classifier_dropout=args.dropout)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id,
        **extra)
    if args.save_init:
        model.save_pretrained(args.save_init)
        tok.save_pretrained(args.save_init)
        print(json.dumps({"saved_init": args.save_init, "labels": len(labels)}))
        return 0
    order = None
    if args.order_file:
        with open(args.order_file, encoding="utf-8") as f:
            order = FixedOrder([json.loads(l) for l in f if l.strip()])
        seen = sorted(i for b in order.epochs[0] for i in b)
        if seen != list(range(len(train["label"]))):
            raise SystemExit("--order-file: epoch 1 is not a permutation of the train rows")

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
        per_device_eval_batch_size=32, num_train_epochs=args.epochs, warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay, group_by_length=args.sampler == "group", lr_scheduler_type="linear", seed=args.seed, eval_strategy="no",
        save_strategy="no", logging_steps=50, report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True)
    common_args = dict(model=model, args=targs, train_dataset=Rows(train_rows),
                       data_collator=DataCollatorWithPadding(tok))
    # Without class weights, HF's own loss path (the model's mean cross-entropy).
    if order is not None:
        if weights is not None:
            raise SystemExit("--order-file runs without class weights (--class-weights none)")
        trainer = FixedOrderTrainer(**common_args, order=order)
    else:
        trainer = (Trainer(**common_args) if weights is None
                   else WeightedTrainer(**common_args, class_weights=weights))
    t0 = time.time()
    result = trainer.train()
    seconds = time.time() - t0
    steps = result.global_step
    per_epoch = sum(len(r["input_ids"]) for r in train_rows)
    epochs_done = min(args.epochs, steps * args.batch / len(train_rows))
    tokens = per_epoch * epochs_done

    out_scores, raw = {}, {}
    for name, rows in (("dev", dev_rows), ("test", test_rows)):
        pred = trainer.predict(Rows(rows))
        gold = [labels[int(i)] for i in pred.label_ids]
        out_scores[name] = scores(labels, gold, pred.predictions)
        raw[name] = (gold, torch.softmax(torch.tensor(pred.predictions, dtype=torch.float64), -1).numpy())
    if args.out_of_scope:
        import open_set
        target, value = args.reject_target.split("=")
        t, reached, achieved = open_set.choose_threshold(
            labels, *raw["dev"], args.out_of_scope, target, float(value))
        out_scores["reject"] = {"target": target, "value": float(value), "threshold": t,
                                "reached": reached, "dev_value": achieved}
        for name in ("dev", "test"):
            out_scores[name]["open_set"] = open_set.scores(labels, *raw[name], args.out_of_scope, t)
            out_scores[name]["top_k"] = open_set.top_k(labels, *raw[name])
    losses = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history
              if "loss" in h]
    if order is not None and order.calls != len(order.epochs):
        raise SystemExit(f"the sampler was read {order.calls} times for {len(order.epochs)} epochs")
    print(json.dumps({
        "peer": "hf-trainer", "task": "sequence", "data": os.path.relpath(data, ROOT),
        "transformers": __import__("transformers").__version__, "seed": args.seed,
        "threads": torch.get_num_threads(),
        "sampler": "order-file" if order is not None else args.sampler, "dropout": args.dropout,
        "class_weights": None if weights is None else [round(float(w), 6) for w in weights],
        "losses": losses,
        "train_truncated": trunc, "steps": steps, "train_seconds": round(seconds, 2),
        "train_tokens": int(tokens), "tokens_per_s": round(tokens / seconds, 1), **out_scores,
    }))


if __name__ == "__main__":
    sys.exit(main())
