"""Distributed embedding with dask.distributed (docs/python.md, "Many machines").

The workers embed files (earshot.embed, in parallel across processes or machines); the client
writes the vectors into one catalog with Library.add_vectors. The vectors are those
`earshot index` stores for the same files: same decoding, same model, same pooling.

    from dask.distributed import Client, LocalCluster
    import earshot, earshot.cluster
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        lib = earshot.Library("lib.earshot")
        report = earshot.cluster.index(lib, ["~/Samples"], client, model="mn04")

Every worker must be able to `import earshot` (same PYTHONPATH / earshot.pth) and read the
files and the model weights at the same paths.
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

import earshot
from earshot import _earshot


def audio_files(paths: Sequence[str]) -> List[str]:
    """The audio files under paths (folders walked recursively, symlinks followed), absolute and
    sorted: the files `earshot index` picks up."""
    exts = set(_earshot.audio_extensions())
    out = set()
    for p in paths:
        p = os.path.expanduser(os.fspath(p))
        if os.path.isdir(p):
            for root, _dirs, names in os.walk(p, followlinks=True):
                for n in names:
                    full = os.path.join(root, n)
                    if os.path.splitext(n)[1].lower() in exts and os.path.isfile(full):
                        out.add(os.path.abspath(full))
        elif os.path.exists(p):
            out.add(os.path.abspath(p))
        else:
            raise earshot.MissingFileError(f"'{p}': no such file or directory")
    return sorted(out)


def embed_for_catalog(path: str, model: Optional[str] = None,
                      models_dir: Optional[str] = None) -> Tuple[str, object]:
    """Runs on a worker: (path, (vector, metadata)) or (path, error message)."""
    try:
        # One intra-op thread per worker process, as `earshot index` runs one file per thread.
        e = earshot.embed(path, model=model, top_labels=3, models_dir=models_dir, threads=1)
    except earshot.Error as err:
        return path, str(err)
    meta = {
        "name": os.path.basename(path),
        "duration_s": e.duration_s,
        "labels": [name for name, _score in e.labels[:3]],
    }
    return path, (e.embedding, meta, e.model)


def index(lib: "earshot.Library", paths: Sequence[str], client, model: Optional[str] = None,
          models_dir: Optional[str] = None, batch: int = 256) -> "earshot.IndexReport":
    """Embeds the audio files under paths on the dask cluster of `client` and stores the whole-file
    vectors in lib (space = the model's name). Files that fail are reported, as by Library.index.
    Unlike Library.index it re-embeds every file and stores no per-segment vectors."""
    import time

    t0 = time.monotonic()
    files = audio_files(paths)
    futures = client.map(embed_for_catalog, files, model=model, models_dir=models_dir,
                         pure=False)
    failed: List[earshot.Failure] = []
    done: List[Tuple[str, np.ndarray, dict]] = []
    space = model or earshot.default_model()
    audio_s = 0.0
    embedded = 0

    def flush() -> None:
        nonlocal done
        if done:
            lib.add_vectors(space, [d[0] for d in done], np.stack([d[1] for d in done]),
                            metadata=[d[2] for d in done])
            done = []

    for path, result in client.gather(futures):
        if isinstance(result, str):
            failed.append(earshot.Failure(path, result))
            continue
        vector, meta, space = result
        done.append((path, vector, meta))
        audio_s += meta["duration_s"]
        embedded += 1
        if len(done) >= batch:
            flush()
    flush()
    return earshot.IndexReport(model=space, found=len(files), embedded=embedded, unchanged=0,
                               failed=failed, audio_s=audio_s,
                               elapsed_s=time.monotonic() - t0)
