"""HF `Trainer` peer of the train stage for multi-label classification (GoEmotions-Ekman).

Reads the *same* examples as our pipeline: the train, dev and test Parquet files of an ingest
artifact (`--data`, a multi-label ingest: `id`, `text`, `labels: list<utf8>`, and its
`labels.json` for the label order). The model is HF's recipe for several labels per text:
`AutoModelForSequenceClassification(problem_type="multi_label_classification")`, float
multi-hot targets, the model's own loss (`BCEWithLogitsLoss`, mean over every example x label
cell), AdamW with a linear schedule, fp32 on the CPU, the final model.

Scores (scikit-learn, on the sigmoid probabilities that `Trainer.predict` returns): micro /
macro / samples F1 at `p > 0.5`, and with thresholds tuned per label on dev (best F1 per label
over the candidate thresholds 0 and every dev probability, ties nearest 0.5: the rule of
`metrics::multilabel::tune_thresholds`), Hamming loss, subset accuracy, mean per-label ROC-AUC.
Prints one JSON line with them, steps, losses, train seconds and non-pad tokens/s.

Usage: python scripts/peers/train_hf_multilabel.py --data ARTIFACT_DIR [--seed 42]
       [--threads N] [--batch 16] [--max-length 128] [--epochs 1] [--lr 5e-5] [--max-steps N]
       [--dropout P] [--order-file F] [--save-init DIR]
Same-order runs (scripts/bench/goemotions_same_order.sh): `--save-init DIR` writes the seeded
initial model and exits, `--order-file F` feeds our batch order, `--dropout 0` removes the last
random draw (as train_hf_seq.py).
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
from train_hf_seq import FixedOrder, FixedOrderTrainer
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, roc_auc_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def read_split(data, split):
    return pq.read_table(os.path.join(data, f"{split}.parquet"),
                         columns=["id", "text", "labels"]).to_pydict()


def tune(y, p, default=0.5):
    """Per label: the threshold (0 or a probability) with the best F1 under p > t."""
    out = []
    for j in range(y.shape[1]):
        yj, pj = y[:, j].astype(bool), p[:, j].astype(np.float64)
        if not yj.any():
            out.append(default)
            continue
        order = np.argsort(-pj, kind="stable")
        s, t = pj[order], yj[order]
        best = (0.0, float(s[0]))  # t >= top score: nothing predicted
        best_key = (0.0, -abs(best[1] - default), -best[1])
        tp = pred = 0
        i, n, pos = 0, len(s), int(yj.sum())
        while i < n:
            v = s[i]
            while i < n and s[i] == v:
                tp += int(t[i])
                pred += 1
                i += 1
            thr = float(s[i]) if i < n else 0.0
            if thr < v:  # everything down to v is above the next lower score (or 0)
                f1 = 2 * tp / (pos + pred)
                key = (f1, -abs(thr - default), -thr)
                if key > best_key:
                    best, best_key = (f1, thr), key
        out.append(best[1])
    return np.array(out)


def scores(y, p, thresholds):
    pred = (p > thresholds).astype(int)
    aucs = [roc_auc_score(y[:, j], p[:, j]) for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    return {
        "micro_f1": f1_score(y, pred, average="micro", zero_division=0),
        "macro_f1": f1_score(y, pred, average="macro", zero_division=0),
        "samples_f1": f1_score(y, pred, average="samples", zero_division=0),
        "hamming_loss": hamming_loss(y, pred),
        "subset_accuracy": accuracy_score(y, pred),
        "mean_roc_auc": float(np.mean(aucs)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="multi-label ingest artifact directory")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--epochs", type=float, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--dropout", type=float, help="hidden, attention and classifier dropout")
    ap.add_argument("--order-file", help="train batches per epoch (JSON lines of index lists)")
    ap.add_argument("--save-init", help="write the seeded initial model here and exit")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(os.path.join(args.data, "labels.json"), encoding="utf-8") as f:
        labels = json.load(f)["labels"]
    index = {l: i for i, l in enumerate(labels)}
    splits = {s: read_split(args.data, s) for s in ("train", "dev", "test")}

    set_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)
    extra = {}
    if args.dropout is not None:
        extra = dict(hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                     classifier_dropout=args.dropout)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=index,
        problem_type="multi_label_classification", **extra)
    if args.save_init:
        model.save_pretrained(args.save_init)
        tok.save_pretrained(args.save_init)
        print(json.dumps({"saved_init": args.save_init, "labels": len(labels)}))
        return 0
    order = None
    if args.order_file:
        with open(args.order_file, encoding="utf-8") as f:
            order = FixedOrder([json.loads(l) for l in f if l.strip()])

    def encode(split):
        rows, ys = [], []
        for text, ls in zip(split["text"], split["labels"]):
            enc = tok(text, truncation=True, max_length=args.max_length)
            y = [0.0] * len(labels)
            for l in ls:
                y[index[l]] = 1.0
            ys.append(y)
            rows.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                         "token_type_ids": enc["token_type_ids"], "labels": y})
        return rows, np.array(ys)

    (train_rows, _), (dev_rows, y_dev), (test_rows, y_test) = (
        encode(splits[s]) for s in ("train", "dev", "test"))
    out = tempfile.mkdtemp(prefix="train_hf_multilabel_")
    targs = TrainingArguments(
        output_dir=out, learning_rate=args.lr, per_device_train_batch_size=args.batch,
        per_device_eval_batch_size=32, num_train_epochs=args.epochs,
        warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay,
        lr_scheduler_type="linear", seed=args.seed, eval_strategy="no", save_strategy="no",
        max_steps=args.max_steps,
        logging_steps=50, report_to=[], use_cpu=True, dataloader_num_workers=0,
        disable_tqdm=True)
    common_args = dict(model=model, args=targs, train_dataset=Rows(train_rows),
                       data_collator=DataCollatorWithPadding(tok))
    trainer = (Trainer(**common_args) if order is None
               else FixedOrderTrainer(**common_args, order=order))
    t0 = time.time()
    result = trainer.train()
    seconds = time.time() - t0
    steps = result.global_step
    per_epoch = sum(len(r["input_ids"]) for r in train_rows)
    tokens = per_epoch * min(args.epochs, steps * args.batch / len(train_rows))

    probs = {}
    for name, rows in (("dev", dev_rows), ("test", test_rows)):
        pred = trainer.predict(Rows(rows))
        probs[name] = (np.array(pred.label_ids),
                       torch.sigmoid(torch.tensor(pred.predictions)).numpy())
    half = np.full(len(labels), 0.5)
    tuned = tune(*probs["dev"])
    out_scores = {name: {"at_0_5": scores(y, p, half), "tuned_on_dev": scores(y, p, tuned)}
                  for name, (y, p) in probs.items()}
    losses = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history
              if "loss" in h]
    print(json.dumps({
        "peer": "hf-trainer", "task": "multilabel", "data": os.path.relpath(args.data, ROOT),
        "transformers": __import__("transformers").__version__, "seed": args.seed,
        "threads": torch.get_num_threads(), "labels": labels, "losses": losses,
        "steps": steps, "train_seconds": round(seconds, 2), "train_tokens": int(tokens),
        "tokens_per_s": round(tokens / seconds, 1), "thresholds": [float(t) for t in tuned],
        **out_scores,
    }))


if __name__ == "__main__":
    sys.exit(main())
