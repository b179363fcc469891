"""Python peer of the tokenize benchmark: HF `tokenizers` `encode_batch` on pre-split words.

Same corpus as the Rust side (a CoNLL file repeated to at least MIN_WORDS words), same
tokenizer.json with padding and truncation switched off. Prints one JSON line per run.

    python scripts/bench/tokenize_peer.py <conll> <model_dir> <min_words> <runs>
"""

import json
import os
import sys
import time

from tokenizers import Tokenizer


def sentences(path):
    out, current = [], []
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if not line.strip():
                if current:
                    out.append(current)
                    current = []
                continue
            word, _tag = line.rsplit("\t", 1)
            current.append(word)
    if current:
        out.append(current)
    return out


def main():
    conll, model, min_words, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    base = sentences(conll)
    batch, words = [], 0
    while words < min_words:
        for s in base:
            batch.append(s)
            words += len(s)
    tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    for _ in range(runs):
        start = time.perf_counter()
        encodings = tok.encode_batch(batch, is_pretokenized=True, add_special_tokens=True)
        seconds = time.perf_counter() - start
        assert len(encodings) == len(batch)
        print(json.dumps({
            "impl": "python-tokenizers",
            "words": words,
            "examples": len(batch),
            "seconds": seconds,
            "words_per_s": words / seconds,
        }), flush=True)


if __name__ == "__main__":
    main()
