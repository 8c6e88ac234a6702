#!/usr/bin/python3
"""Benchmark (not a test) of the Python package's overhead (docs/performance.md#python).

1. lib.search(vector) from Python vs the same engine->search_vector call timed in a C++ loop in
   the same process, on the same catalog (per-call microseconds, k = 10).
2. earshot.embed(file) (model loaded once) vs `earshot embed FILE --json` (a process per file: start,
   model load, decode, embed, JSON), as x realtime over the same files.

Usage (after the release build):
  PYTHONPATH=build/release/python /usr/bin/python3 tools/bench_python.py \
      [--db scratch.earshot] [--dataset ../shared/datasets/gm_fluidr3] [--files 40] [--model mn04]
"""

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

import earshot


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default=os.path.join(here, "..", "..", "shared", "datasets",
                                                      "gm_fluidr3"))
    ap.add_argument("--files", type=int, default=40, help="files to index and embed")
    ap.add_argument("--model", default="mn04")
    ap.add_argument("--calls", type=int, default=20000, help="search calls per measurement")
    ap.add_argument("--earshot", default=os.path.join(here, "..", "build", "release", "earshot"))
    args = ap.parse_args()

    with open(os.path.join(args.dataset, "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // args.files)
    files = [os.path.join(args.dataset, r["path"]) for r in rows[::step][: args.files]]

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        lib = earshot.Library(os.path.join(tmp, "bench.earshot"))
        lib.index(files, model=args.model)
        # A bigger space for the search: the indexed vectors plus random ones (1771 x dim).
        _ids, X = lib.vectors(args.model)
        rng = np.random.default_rng(1)
        extra = rng.standard_normal((2000, X.shape[1])).astype(np.float32)
        lib.add_vectors(args.model, [f"r{i}" for i in range(len(extra))], extra)
        _ids, X = lib.vectors(args.model)
        q = X[5]
        req = earshot._earshot.search_request(args.model, "cosine", 10, None, None, "", 0, 0)
        for _ in range(500):
            lib.search(q, k=10, model=args.model)
        # Best batch of 500 calls, batches interleaved: the least disturbed by other load.
        best_py, best_cpp = 1e9, 1e9
        batch = 500
        for _ in range(max(1, args.calls // batch)):
            t0 = time.perf_counter()
            for _ in range(batch):
                lib.search(q, k=10, model=args.model)
            best_py = min(best_py, (time.perf_counter() - t0) / batch)
            best_cpp = min(best_cpp, lib._lib._time_search_vector(q, req, batch) / batch)
        print(f"search by vector, {len(X)} x {X.shape[1]} flat cosine, k=10, best batch of "
              f"{batch} out of {args.calls} calls:")
        print(f"  C++ engine->search_vector  {best_cpp * 1e6:8.1f} us/call")
        print(f"  Python lib.search(vector)  {best_py * 1e6:8.1f} us/call  "
              f"(overhead {(best_py - best_cpp) * 1e6:.1f} us, x{best_py / best_cpp:.2f})")

    # embed: Python (model cached) vs one CLI process per file.
    audio_s = 0.0
    earshot.embed(files[0], model=args.model)  # model load, not counted
    t0 = time.perf_counter()
    for f in files:
        audio_s += earshot.embed(f, model=args.model).duration_s
    py_s = time.perf_counter() - t0
    with open("/proc/loadavg") as f:
        print(f"load average during the run: {f.read().split()[0]}")
    t0 = time.perf_counter()
    for f in files:
        subprocess.run([args.earshot, "embed", f, "--model", args.model, "--json"], check=True,
                       stdout=subprocess.DEVNULL)
    cli_s = time.perf_counter() - t0
    print(f"embed {len(files)} files, {audio_s:.0f} s of audio, model {args.model}:")
    print(f"  earshot.embed(file)          {audio_s / py_s:8.1f} x realtime "
          f"({py_s / len(files) * 1e3:.1f} ms/file)")
    print(f"  `earshot embed FILE --json`  {audio_s / cli_s:8.1f} x realtime "
          f"({cli_s / len(files) * 1e3:.1f} ms/file, a process each)")


if __name__ == "__main__":
    sys.exit(main())
