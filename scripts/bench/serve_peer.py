#!/usr/bin/env python3
"""Peer of `serve` (crates/serve) for scripts/bench/serve.sh: a transformers text-classification
pipeline behind Python's standard http.server (threaded, one model call at a time under a
lock, as a minimal server without a batching framework would do it). POST /predict with
{"inputs": "text"} answers {"label": ..., "probs": {...}}; GET /health answers ok.

`serve-batching` is the fairer peer of our dynamic batching (as infinity-emb or a Triton
dynamic batcher do it): request threads put their text on a queue, one model thread takes
whatever queued while the last batch ran (up to 64 texts), runs them as one padded batch and
hands each request its answer.

Usage:
  serve_peer.py make-checkpoint <model dir> <out dir> <labels comma-separated>
      a sequence-classification checkpoint (pooler + random head, seed 0) both servers load
  serve_peer.py serve <checkpoint dir> <port> <threads>
  serve_peer.py serve-batching <checkpoint dir> <port> <threads>
"""

import json
import queue
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline


def make_checkpoint(model_dir, out_dir, labels):
    labels = labels.split(",")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)},
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    for f in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        if (Path(model_dir) / f).exists():
            shutil.copy(Path(model_dir) / f, Path(out_dir) / f)


def batching_classifier(ckpt, max_batch=64):
    """A function text -> probs that batches concurrent callers on one model thread."""
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModelForSequenceClassification.from_pretrained(ckpt).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    jobs = queue.Queue()

    def worker():
        while True:
            batch = [jobs.get()]
            while len(batch) < max_batch:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            texts = [t for t, _ in batch]
            enc = tokenizer(texts, truncation=True, max_length=128, padding=True, return_tensors="pt")
            with torch.inference_mode():
                probs = model(**enc).logits.softmax(-1).tolist()
            for (_, slot), p in zip(batch, probs):
                slot.put(p)

    threading.Thread(target=worker, daemon=True).start()

    def classify(text):
        slot = queue.Queue(maxsize=1)
        jobs.put((text, slot))
        return [{"label": l, "score": s} for l, s in zip(labels, slot.get())]

    return classify


def serve(ckpt, port, threads, batching=False):
    torch.set_num_threads(threads)
    if batching:
        classify = batching_classifier(ckpt)
        lock = None
    else:
        tokenizer = AutoTokenizer.from_pretrained(ckpt)
        # Same encoding as ours: truncation at 128 sub-words, no padding to a fixed length.
        classify = pipeline(
            "text-classification",
            model=AutoModelForSequenceClassification.from_pretrained(ckpt).eval(),
            tokenizer=tokenizer,
            top_k=None,
            truncation=True,
            max_length=128,
            device="cpu",
        )
        lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def answer(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.answer(200, {"status": "ok"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            try:
                text = json.loads(self.rfile.read(n))["inputs"]
            except (ValueError, KeyError) as e:
                self.answer(422, {"error": str(e)})
                return
            if lock is None:
                scores = classify(text)
            else:
                with lock, torch.inference_mode():
                    scores = classify(text)
            if scores and isinstance(scores[0], list):  # some versions nest one text's scores
                scores = scores[0]
            probs = {s["label"]: s["score"] for s in scores}
            self.answer(200, {"text": text, "label": max(probs, key=probs.get), "probs": probs})

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "make-checkpoint":
        make_checkpoint(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "serve-batching":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), batching=True)
    else:
        sys.exit(__doc__)
