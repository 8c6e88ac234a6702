"""The documented dask.distributed recipe: 2 worker processes embed a folder's files, the client
writes one catalog, and its vectors are those `earshot index` stores for the same files."""

import os

import numpy as np
import pytest

import earshot
import earshot.cluster
from conftest import MODEL, run_cli

distributed = pytest.importorskip("distributed")  # Debian python3-distributed (scripts/setup.sh)


def test_local_cluster_gives_the_vectors_of_earshot_index(subset, tmp_path):
    folder, files, _ = subset
    broken = os.path.join(os.path.dirname(folder), "broken")
    cli_db = tmp_path / "cli.earshot"
    run_cli("index", folder, "--db", cli_db, "--model", MODEL, "--threads", 2)

    db = tmp_path / "dask.earshot"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        lib = earshot.Library(db)
        report = earshot.cluster.index(lib, [folder, broken], client, model=MODEL)
        workers_used = {ws for ws in client.run(os.getpid).values()}
    assert len(workers_used) == 2 and os.getpid() not in workers_used
    assert report.model == MODEL
    assert report.found == len(files) + 1
    assert report.embedded == len(files)
    assert [os.path.basename(f.path) for f in report.failed] == ["not_audio.wav"]

    ours = earshot.Library(db, create=False)
    theirs = earshot.Library(cli_db, create=False)
    a_ids, a = ours.vectors(MODEL)
    b_ids, b = theirs.vectors(MODEL)
    a_by_path = {ours.item(int(i)).path: v for i, v in zip(a_ids, a)}
    b_by_path = {theirs.item(int(i)).path: v for i, v in zip(b_ids, b)}
    assert sorted(a_by_path) == sorted(b_by_path) == files
    for path in files:
        assert np.array_equal(a_by_path[path], b_by_path[path]), path
    # Same metadata as indexed items where it matters for search (name, duration, labels).
    for i in a_ids[:3]:
        it = ours.item(int(i))
        other = theirs.items(it.name)[0]
        assert (it.name, it.labels) == (other.name, other.labels)
        assert it.duration_s == pytest.approx(other.duration_s)
    # And the catalog searches like the CLI's.
    q = files[2]
    assert [h.path for h in ours.search(q, k=5, model=MODEL)] == [
        h.path for h in theirs.search(q, k=5, model=MODEL)]
