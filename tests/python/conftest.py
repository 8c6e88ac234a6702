"""Fixtures of the Python package tests: a small gm_fluidr3 subset (copied to a temp dir with its
manifest), a catalog indexed with mn04 from Python, and the earshot CLI for parity checks."""

import csv
import json
import os
import shutil
import subprocess

import pytest

import earshot

MODEL = "mn04"
N_PER_LABEL = 4
LABELS = ["piano", "guitar", "bass", "brass", "pipe", "kick"]


def shared_dir():
    d = os.environ.get("EARSHOT_SHARED_DIR") or os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "shared")
    if not os.path.isdir(os.path.join(d, "datasets")):
        pytest.fail(f"../shared not found at {d} (set EARSHOT_SHARED_DIR)")
    return os.path.abspath(d)


def earshot_bin():
    b = os.environ.get("EARSHOT_BIN")
    if not b:
        b = os.path.join(os.path.dirname(__file__), "..", "..", "build", "release", "earshot")
    if not os.path.exists(b):
        pytest.fail(f"earshot binary not found at {b} (set EARSHOT_BIN)")
    return b


def run_cli(*args, check=True, env=None):
    """Runs the earshot CLI; returns (exit code, stdout, stderr)."""
    p = subprocess.run([earshot_bin(), *map(str, args)], capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"earshot {' '.join(map(str, args))} failed: {p.stderr}")
    return p.returncode, p.stdout, p.stderr


def cli_json(*args):
    return json.loads(run_cli(*args, "--json")[1])


def cli_error(*args, env=None):
    """The one-line message the CLI prints for a failing command, without 'earshot CMD: '."""
    code, _out, err = run_cli(*args, check=False, env=env)
    assert code != 0
    line = [l for l in err.splitlines() if l.startswith("earshot ")][-1]
    return line.split(": ", 1)[1]


@pytest.fixture(scope="session")
def subset(tmp_path_factory):
    """A folder with N_PER_LABEL notes of each of LABELS (copied), a manifest.csv beside them,
    and a broken "audio" file in broken/. Returns (folder, [files], manifest path)."""
    src = os.path.join(shared_dir(), "datasets", "gm_fluidr3")
    with open(os.path.join(src, "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    root = tmp_path_factory.mktemp("gm_subset")
    audio = root / "audio"
    chosen = []
    for label in LABELS:  # notes of different presets (group_id), so eval's exclusion leaves some
        picked, groups = [], set()
        for r in rows:
            if r["label"] == label and r["group_id"] not in groups and len(picked) < N_PER_LABEL:
                picked.append(r)
                groups.add(r["group_id"])
        assert len(picked) == N_PER_LABEL, label
        chosen += picked
    files = []
    for r in chosen:
        dst = audio / r["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(src, r["path"]), dst)
        files.append(str(dst))
    manifest = audio / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(chosen)
    broken = root / "broken"
    broken.mkdir()
    (broken / "not_audio.wav").write_text("this is not audio\n")
    return str(audio), sorted(files), str(manifest)


@pytest.fixture(scope="session")
def indexed(subset, tmp_path_factory):
    """(Library, db path, IndexReport, progress calls): the subset indexed with mn04."""
    folder, _files, _manifest = subset
    db = str(tmp_path_factory.mktemp("db") / "lib.earshot")
    lib = earshot.Library(db)
    calls = []
    report = lib.index([folder], model=MODEL, progress=lambda d, t: calls.append((d, t)))
    return lib, db, report, calls
