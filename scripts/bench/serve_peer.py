#!/usr/bin/env python3
"""Peer of `serve` (crates/serve) for scripts/bench/serve.sh: a transformers text-classification
pipeline behind Python's standard http.server (threaded, one model call at a time under a
lock, as a minimal server without a batching framework would do it). POST /predict with
{"inputs": "text"} answers {"label": ..., "probs": {...}}; GET /health answers ok.

Usage:
  serve_peer.py make-checkpoint <model dir> <out dir> <labels comma-separated>
      a sequence-classification checkpoint (pooler + random head, seed 0) both servers load
  serve_peer.py serve <checkpoint dir> <port> <threads>
"""

import json
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


def serve(ckpt, port, threads):
    torch.set_num_threads(threads)
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
    else:
        sys.exit(__doc__)
