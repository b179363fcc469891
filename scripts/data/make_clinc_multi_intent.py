"""Build data/clinc150_multi/: a small multi-intent customer-service set from CLINC150.

`python scripts/data/make_clinc_multi_intent.py` (defaults: data/clinc150 in,
data/clinc150_multi out, seed 150, 48 intents, 30 train queries per intent, about a third of
the examples two queries). Standard library only; the same arguments write the same bytes.

Each example is either one in-scope CLINC150 query (its intent the one label) or two queries of
different intents joined with " and " or ". Also, " (both intents the labels). The intents are
drawn with the seed from the 150 in-scope ones; train takes the first N queries of each drawn
intent in the source order after a seeded shuffle, dev and test take every query of the drawn
intents from CLINC150's own dev and test files, so no query crosses splits and no pair mixes
two splits. Each label has N positive training examples among about 1,100 training texts
(about 3 % of them): the regime where one sigmoid per label trained with BCE learns that every
label is absent.

Output, in GoEmotions' shape (data/goemotions_ekman): `{train,dev,test}.tsv` with
`text<TAB>comma-separated label ids<TAB>id` lines (ids are 0-based, ascending, into
`labels.txt`), no header, and `labels.txt` (one intent per line, sorted). Never used at product
run time.
"""

import argparse
import json
import os
import random

SPLITS = ("train", "dev", "test")
JOINERS = (" and ", ". Also, ")


def read_split(src, split):
    """The in-scope `(text, intent)` pairs of one CLINC150 split, in file order."""
    path = os.path.join(src, f"{split}.jsonl")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for i, r in enumerate(rows):
        if "\t" in r["text"] or "\n" in r["text"]:
            raise SystemExit(f"{path}:{i + 1}: a TAB or newline in the text")
    return [(r["text"], r["label"]) for r in rows]


def combine(queries, pair_share, rng):
    """Examples from `queries` (each used once, in a seeded order): one query, or two of
    different intents joined. Returns `(text, sorted intents)` pairs."""
    pool = list(queries)
    rng.shuffle(pool)
    out = []
    i = 0
    while i < len(pool):
        text, intent = pool[i]
        if rng.random() < pair_share:
            # The next query of another intent becomes the second half.
            j = next((k for k in range(i + 1, len(pool)) if pool[k][1] != intent), None)
            if j is not None:
                pool[i + 1], pool[j] = pool[j], pool[i + 1]
                other_text, other = pool[i + 1]
                out.append((text + rng.choice(JOINERS) + other_text, sorted((intent, other))))
                i += 2
                continue
        out.append((text, [intent]))
        i += 1
    return out


def write_tsv(path, examples, index, prefix):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for n, (text, intents) in enumerate(examples):
            ids = ",".join(str(k) for k in sorted(index[x] for x in intents))
            f.write(f"{text}\t{ids}\t{prefix}-{n:05d}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default="data/clinc150")
    ap.add_argument("--out", default="data/clinc150_multi")
    ap.add_argument("--seed", type=int, default=150)
    ap.add_argument("--intents", type=int, default=48)
    ap.add_argument("--train-per-intent", type=int, default=30)
    ap.add_argument("--pair-share", type=float, default=0.35,
                    help="share of the examples made of two queries")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    data = {s: read_split(args.src, s) for s in SPLITS}
    all_intents = sorted({intent for _, intent in data["train"]})
    chosen = sorted(rng.sample(all_intents, args.intents))
    index = {intent: k for k, intent in enumerate(chosen)}

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "labels.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(f"{x}\n" for x in chosen))
    for split in SPLITS:
        by_intent = {x: [] for x in chosen}
        for text, intent in data[split]:
            if intent in by_intent:
                by_intent[intent].append((text, intent))
        queries = []
        for intent in chosen:
            qs = by_intent[intent]
            if split == "train":
                rng.shuffle(qs)
                qs = qs[: args.train_per_intent]
            queries.extend(qs)
        examples = combine(queries, args.pair_share, rng)
        path = os.path.join(args.out, f"{split}.tsv")
        write_tsv(path, examples, index, split)
        pairs = sum(len(x) == 2 for _, x in examples)
        print(f"{path}: {len(examples)} examples ({pairs} with two intents) "
              f"from {len(queries)} queries")


if __name__ == "__main__":
    main()
