"""Convert CLINC150's `data_full.json` into the JSONL files under data/clinc150/.

One-off conversion, committed so it can be repeated: `python scripts/data/clinc150_to_jsonl.py
PATH/TO/data_full.json data/clinc150`. The source is the authors' file
(https://github.com/clinc/oos-eval, data/data_full.json; sha256 recorded in data/clinc150/README.md).
Each split list of `[text, intent]` pairs becomes one file of `{"text": ..., "label": ...}` lines,
in the source order; `val` is renamed `dev`. In-scope and out-of-scope (`oos`) queries stay in
separate files, as the source keeps them. Nothing else is changed (no cleaning, no de-duplication).
Never used at product run time.
"""

import hashlib
import json
import os
import sys


def main():
    src, dest = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        raw = f.read()
    print("sha256", hashlib.sha256(raw).hexdigest(), src)
    data = json.loads(raw)
    names = {"train": "train", "val": "dev", "test": "test",
             "oos_train": "oos_train", "oos_val": "oos_dev", "oos_test": "oos_test"}
    os.makedirs(dest, exist_ok=True)
    for key, name in names.items():
        path = os.path.join(dest, f"{name}.jsonl")
        with open(path, "w", encoding="utf-8", newline="\n") as out:
            for text, label in data[key]:
                out.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        print(f"{path}: {len(data[key])} lines")


if __name__ == "__main__":
    main()
