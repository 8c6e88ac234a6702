#!/usr/bin/env python3
# Usage: tools/split_manifest.py MANIFEST.csv OUT_DIR [--group-column C] [--test-fraction F] [--seed S]
# Splits a dataset manifest (../shared/datasets/*/manifest.csv) into OUT_DIR/train.csv and
# OUT_DIR/test.csv for held-out evaluation of `earshot train` models (docs/training.md).
# Whole groups go to one side (C = group_id: test presets are unseen in training); without
# --group-column every row is its own group. The groups are sorted, shuffled with
# random.Random(S) and the first round(F * n_groups) become the test set.
# Output: the same columns as the input, with `path` made absolute (so the CSVs work from any
# folder); rows keep their input order. Prints "train: N rows, test: M rows (G test groups)".
import argparse
import csv
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("manifest")
ap.add_argument("out_dir")
ap.add_argument("--group-column", default="")
ap.add_argument("--test-fraction", type=float, default=0.3)
ap.add_argument("--seed", type=int, default=1234)
a = ap.parse_args()

folder = os.path.dirname(os.path.abspath(a.manifest))
with open(a.manifest, newline="") as f:
    reader = csv.DictReader(f)
    fields = reader.fieldnames
    rows = list(reader)
key = (lambda r: r[a.group_column]) if a.group_column else (lambda r: r["path"])
groups = sorted({key(r) for r in rows})
random.Random(a.seed).shuffle(groups)
test_groups = set(groups[: round(a.test_fraction * len(groups))])
os.makedirs(a.out_dir, exist_ok=True)
counts = {}
for name, want in (("train", False), ("test", True)):
    with open(os.path.join(a.out_dir, name + ".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        n = 0
        for r in rows:
            if (key(r) in test_groups) == want:
                r = dict(r)
                r["path"] = os.path.join(folder, r["path"])
                w.writerow(r)
                n += 1
        counts[name] = n
print("train: %d rows, test: %d rows (%d test groups)" % (counts["train"], counts["test"], len(test_groups)))
