"""Bad input raises Python exceptions with the CLI's one-line messages; Ctrl-C stops an index."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import earshot
from conftest import MODEL, cli_error


def test_exception_hierarchy():
    assert issubclass(earshot.InvalidArgumentError, ValueError)
    assert issubclass(earshot.MissingFileError, FileNotFoundError)
    assert issubclass(earshot.MissingWeightsError, FileNotFoundError)
    assert issubclass(earshot.NotFoundError, LookupError)
    assert issubclass(earshot.StorageError, OSError)
    for cls in [earshot.InvalidArgumentError, earshot.MissingFileError, earshot.NotFoundError,
                earshot.MissingWeightsError, earshot.DecodeError, earshot.CorruptCatalogError,
                earshot.StorageError]:
        assert issubclass(cls, earshot.Error)


def test_missing_catalog(tmp_path):
    db = str(tmp_path / "none.earshot")
    with pytest.raises(FileNotFoundError) as e:
        earshot.Library(db, create=False)
    assert isinstance(e.value, earshot.MissingFileError)
    assert str(e.value) == cli_error("search", "--id", "1", "--db", db)
    assert not os.path.exists(db)


def test_corrupt_catalog(tmp_path):
    db = tmp_path / "bad.earshot"
    db.write_bytes(b"this is not an SQLite database, just bytes " * 100)
    with pytest.raises(earshot.CorruptCatalogError) as e:
        earshot.Library(db)
    assert str(e.value) == cli_error("search", "--id", "1", "--db", db)


def test_missing_and_undecodable_query(indexed, subset):
    lib, db, _r, _c = indexed
    missing = os.path.join(subset[0], "no_such.wav")
    with pytest.raises(FileNotFoundError) as e:
        lib.search(missing, model=MODEL)
    assert isinstance(e.value, earshot.MissingFileError)
    assert str(e.value) == cli_error("search", missing, "--db", db, "--model", MODEL)
    with pytest.raises(FileNotFoundError):
        earshot.embed(missing, model=MODEL)
    broken = os.path.join(os.path.dirname(subset[0]), "broken", "not_audio.wav")
    with pytest.raises(earshot.DecodeError) as e:
        lib.search(broken, model=MODEL)
    assert str(e.value) == cli_error("search", broken, "--db", db, "--model", MODEL)
    with pytest.raises(earshot.DecodeError) as e:
        earshot.embed(broken, model=MODEL)
    assert str(e.value) == cli_error("embed", broken, "--model", MODEL)


def test_bad_arguments(indexed, subset):
    lib, db, _r, _c = indexed
    f = subset[1][0]
    with pytest.raises(ValueError) as e:
        earshot.embed(f, model="nosuchmodel")
    assert str(e.value) == cli_error("embed", f, "--model", "nosuchmodel")
    with pytest.raises(ValueError) as e:
        lib.search(f, metric="hamming", model=MODEL)
    assert str(e.value) == cli_error("search", f, "--db", db, "--metric", "hamming")
    with pytest.raises(ValueError, match="k must be at least 1"):
        lib.search(f, k=0, model=MODEL)
    with pytest.raises(ValueError, match="min_duration is above max_duration"):
        lib.search(f, min_duration=3, max_duration=1, model=MODEL)
    _ids, X = lib.vectors(MODEL)
    with pytest.raises(ValueError, match="query vector has 10 dims"):
        lib.search(X[0][:10], model=MODEL)
    bad = X[0].copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lib.search(bad, model=MODEL)
    with pytest.raises(ValueError, match="shape"):
        lib.search(X[:2], model=MODEL)
    with pytest.raises(ValueError):
        lib.search(3.5, model=MODEL)
    with pytest.raises(ValueError, match="sample_rate"):
        earshot.embed(np.zeros(1000, np.float32), model=MODEL)
    with pytest.raises(ValueError, match="outside"):
        earshot.embed(np.zeros(1000, np.float32), model=MODEL, sample_rate=10)
    with pytest.raises(ValueError, match="no samples"):
        earshot.embed(np.zeros(0, np.float32), model=MODEL, sample_rate=16000)
    with pytest.raises(ValueError, match="dimensions"):
        earshot.embed(np.zeros((10, 2, 2), np.float32), model=MODEL, sample_rate=16000)
    with pytest.raises(ValueError, match="dtype"):
        earshot.embed(np.array(["a", "b"]), model=MODEL, sample_rate=16000)
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        lib.index(["/nonexistent/folder"], model=MODEL)
    with pytest.raises(FileNotFoundError):
        lib.eval("/nonexistent/manifest.csv", model=MODEL)
    with pytest.raises(ValueError, match="progress"):
        lib.index([f], model=MODEL, progress="yes")


def test_not_found_in_catalog(indexed):
    lib, db, _r, _c = indexed
    with pytest.raises(LookupError) as e:
        lib.search(999999, model=MODEL)
    assert isinstance(e.value, earshot.NotFoundError)
    assert str(e.value) == cli_error("search", "--id", "999999", "--db", db, "--model", MODEL)
    with pytest.raises(earshot.NotFoundError, match="no_space"):
        lib.vectors("no_space")
    with pytest.raises(earshot.NotFoundError):
        lib.item(999999)
    with pytest.raises(earshot.NotFoundError) as e:
        lib.search(np.zeros(8, np.float32), model="no_space")
    assert "no_space" in str(e.value)


def test_add_vectors_bad_input(tmp_path):
    lib = earshot.Library(tmp_path / "a.earshot")
    X = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="2 keys for 3 vectors"):
        lib.add_vectors("s", ["a", "b"], X)
    with pytest.raises(ValueError, match="shape"):
        lib.add_vectors("s", ["a"], X[0])
    bad = X.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        lib.add_vectors("s", ["a", "b", "c"], bad)
    with pytest.raises(ValueError, match="unknown key"):
        lib.add_vectors("s", ["a", "b", "c"], X, metadata=[{"colour": 1}, None, None])
    with pytest.raises(ValueError, match="empty"):
        lib.add_vectors("s", ["a", "", "c"], X)
    assert len(lib) == 0  # nothing half-written
    lib.add_vectors("s", ["a", "b", "c"], X)
    with pytest.raises(ValueError, match="dim"):
        lib.add_vectors("s", ["d"], np.ones((1, 5), np.float32))


def test_missing_weights_like_cli(subset, tmp_path):
    # No weights anywhere: an empty shared dir and HOME.
    env = dict(os.environ, EARSHOT_SHARED_DIR=str(tmp_path), HOME=str(tmp_path))
    env.pop("EARSHOT_MODELS_DIR", None)
    env.pop("XDG_DATA_HOME", None)
    f = subset[1][0]
    code = textwrap.dedent(f"""
        import earshot
        try:
            earshot.embed({f!r}, model={MODEL!r})
        except FileNotFoundError as e:
            assert isinstance(e, earshot.MissingWeightsError), type(e)
            print(str(e))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == cli_error("embed", f, "--model", MODEL, env=env)


def test_ctrl_c_stops_index_and_keeps_finished_files(subset, tmp_path):
    folder = subset[0]
    db = tmp_path / "int.earshot"
    code = textwrap.dedent(f"""
        import os, signal, threading, time, earshot
        lib = earshot.Library({str(db)!r}, threads=1)
        first = []
        def progress(done, total):
            if done >= 1 and not first:   # Ctrl-C from another thread once a file is done
                first.append(time.monotonic())
                threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            lib.index([{folder!r}], model={MODEL!r}, progress=progress)
            print("finished")
        except KeyboardInterrupt:
            print("interrupted", len(lib), round(time.monotonic() - first[0], 2))
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    words = p.stdout.split()
    assert words[0] == "interrupted", p.stdout
    stored, after_s = int(words[1]), float(words[2])
    total = len(subset[1])
    assert 1 <= stored < total
    assert after_s < 5.0
    # The next run embeds only what is missing.
    report = earshot.Library(db).index([folder], model=MODEL)
    assert (report.unchanged, report.embedded) == (stored, total - stored)
