"""Out-of-scope rejection metrics of CLINC150 (Larson et al. 2019) from class probabilities,
written independently of the Rust implementation (crates/metrics/src/open_set.rs) with
scikit-learn for every score: the reference of its fixture
(scripts/fixtures/metrics/make_fixtures.py) and of the HF peer's scores
(scripts/peers/train_hf_seq.py --out-of-scope). Benchmarks and fixtures only.

Rule: an example is rejected (decided out of scope) when its most probable label is the
out-of-scope label or when that label's probability (the confidence) is below the threshold t;
otherwise the answer is the most probable label (the first on ties).
"""

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, top_k_accuracy_score


def decide(labels, probs, oos, t):
    probs = np.asarray(probs)
    best = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    oos_id = labels.index(oos)
    rejected = (best == oos_id) | (conf < t)
    return [oos if r else labels[b] for r, b in zip(rejected, best)]


def scores(labels, gold, probs, oos, t):
    decided = decide(labels, probs, oos, t)
    gold = list(gold)
    ins = [i for i, g in enumerate(gold) if g != oos]
    y_true = [g == oos for g in gold]
    y_pred = [d == oos for d in decided]
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
    answered = [i for i, d in enumerate(decided) if d != oos]
    return {
        "threshold": float(t),
        "examples": len(gold),
        "in_scope": len(ins),
        "out_of_scope": len(gold) - len(ins),
        "in_scope_accuracy": accuracy_score([gold[i] for i in ins], [decided[i] for i in ins]) if ins else None,
        "out_of_scope_precision": float(p),
        "out_of_scope_recall": float(r),
        "out_of_scope_f1": float(f),
        "coverage": len(answered) / len(gold),
        "in_scope_precision": accuracy_score([gold[i] for i in answered], [decided[i] for i in answered]) if answered else None,
    }


def choose_threshold(labels, gold, probs, oos, target, value):
    """The smallest candidate threshold (0 or a dev confidence) whose `target`
    (`out_of_scope_recall` or `in_scope_precision`) reaches `value`; when none does, the one
    with the best value (the smallest on ties). Returns (threshold, reached, achieved)."""
    conf = np.asarray(probs).max(axis=1)
    candidates = np.unique(np.concatenate([[0.0], conf]))
    best = None
    for t in candidates:
        s = scores(labels, gold, probs, oos, t)[target]
        if s is None:
            continue
        if s >= value:
            return float(t), True, s
        if best is None or s > best[1]:
            best = (float(t), s)
    return best[0], False, best[1]


def top_k(labels, gold, probs, ks=(1, 3, 5)):
    ids = [labels.index(g) for g in gold]
    return {str(k): float(top_k_accuracy_score(ids, probs, k=k, labels=list(range(len(labels)))))
            for k in ks if k < len(labels)}
