"""Every call of the documented Python API on a gm_fluidr3 subset, checked against the CLI."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import earshot
from conftest import MODEL, cli_json, run_cli


def test_models_same_facts_as_cli():
    ours = {m.name: m for m in earshot.models()}
    theirs = {m["name"]: m for m in cli_json("models")["models"]}
    assert set(ours) == set(theirs)
    for name, m in theirs.items():
        o = ours[name]
        assert (o.dim, o.sample_rate_hz, o.n_labels) == (m["dim"], m["sample_rate_hz"], m["labels"])
        assert (o.weights_found, o.location, o.license) == (m["weights_found"], m["location"],
                                                            m["license"])
    assert ours[MODEL].weights_found and ours[MODEL].dim > 0
    assert earshot.default_model() in ours


def test_index_report_and_progress(indexed, subset):
    lib, _db, report, calls = indexed
    _folder, files, _manifest = subset
    assert report.model == MODEL
    assert report.found == len(files)
    assert report.embedded == len(files) and report.unchanged == 0 and report.failed == []
    assert report.audio_s == pytest.approx(2.0 * len(files), rel=0.05)
    assert calls and calls[-1] == (len(files), len(files))
    assert all(t == len(files) for _d, t in calls)
    assert [d for d, _t in calls] == sorted(d for d, _t in calls)
    assert len(lib) == len(files)
    # A second run only checks: everything unchanged.
    again = lib.index(_folder, model=MODEL)
    assert (again.embedded, again.unchanged) == (0, len(files))


def test_index_reports_bad_files(subset, tmp_path, capfd):
    folder, files, _ = subset
    broken = os.path.join(os.path.dirname(folder), "broken")
    lib = earshot.Library(tmp_path / "b.earshot")
    report = lib.index([broken, files[0]], model=MODEL, progress=True)
    assert report.embedded == 1
    assert len(report.failed) == 1
    path, reason = report.failed[0]
    assert path.endswith("not_audio.wav") and reason
    assert "indexing [" in capfd.readouterr().err  # the progress bar
    # The CLI gives the same reason.
    out = cli_json("index", broken, files[0], "--db", tmp_path / "c.earshot", "--model", MODEL)
    assert out["failures"][0]["reason"] == reason


def test_search_by_file_matches_cli(indexed, subset):
    lib, db, _report, _calls = indexed
    _folder, files, _ = subset
    query = files[5]
    for metric in ["cosine", "manhattan"]:  # a CLI process each: two metrics keep the test short
        hits = lib.search(query, k=5, metric=metric, model=MODEL)
        cli = cli_json("search", query, "--db", db, "-k", 5, "--metric", metric, "--model", MODEL)
        assert [h.path for h in hits] == [r["path"] for r in cli["results"]]
        assert [h.id for h in hits] == [r["id"] for r in cli["results"]]
        assert [h.distance for h in hits] == [np.float32(r["distance"]) for r in cli["results"]]
        assert [h.score for h in hits] == [np.float32(r["score"]) for r in cli["results"]]
    hits = lib.search(query, k=10, metric="cosine", model=MODEL)
    assert len(hits) == 10
    assert query not in [h.path for h in hits]  # the query itself is left out
    assert [h.rank for h in hits] == list(range(1, 11))
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    h = hits[0]
    assert isinstance(h.path, str) and isinstance(h.id, int)
    assert isinstance(h.distance, float) and isinstance(h.score, float)
    assert h.duration_s == pytest.approx(2.0, abs=0.05)
    assert h.name == os.path.basename(h.path)


def test_search_duration_filter(indexed, subset):
    lib, _db, _r, _c = indexed
    query = subset[1][0]
    assert lib.search(query, k=5, model=MODEL, min_duration=0.5, max_duration=5.0)
    assert lib.search(query, k=5, model=MODEL, min_duration=3.0) == []
    assert lib.search(query, k=5, model=MODEL, max_duration=1.0) == []


def test_search_by_vector_id_and_embedding(indexed, subset):
    lib, db, _r, _c = indexed
    ids, X = lib.vectors(MODEL)
    assert X.dtype == np.float32 and X.shape[0] == len(ids) == len(subset[1])
    assert ids.dtype == np.int64
    i = 3
    by_vector = lib.search(X[i], k=5, model=MODEL)
    assert by_vector[0].id == ids[i] and by_vector[0].distance == pytest.approx(0.0, abs=1e-6)
    by_id = lib.search(int(ids[i]), k=4, model=MODEL)
    assert [h.id for h in by_id] == [h.id for h in by_vector[1:]]  # the item itself left out
    cli = cli_json("search", "--id", int(ids[i]), "--db", db, "-k", 4, "--model", MODEL)
    assert [h.id for h in by_id] == [r["id"] for r in cli["results"]]
    # float64 input is accepted (converted to float32)
    assert [h.id for h in lib.search(X[i].astype(np.float64), k=5, model=MODEL)] == [
        h.id for h in by_vector]
    # An Embedding from earshot.embed carries its model.
    item = lib.item(int(ids[i]))
    e = earshot.embed(item.path, model=MODEL)
    assert [h.id for h in lib.search(e, k=5)] == [h.id for h in by_vector]


def test_embed_file_matches_cli(subset):
    f = subset[1][0]
    e = earshot.embed(f, model=MODEL)
    cli = cli_json("embed", f, "--model", MODEL)
    assert e.model == MODEL and e.dim == cli["dim"]
    assert e.embedding.dtype == np.float32 and e.embedding.shape == (e.dim,)
    assert np.array_equal(e.embedding, np.array(cli["embedding"], dtype=np.float32))
    n = len(cli["segments"])
    assert e.segments.shape == (n, e.dim) and e.segments.dtype == np.float32
    assert np.array_equal(e.segments,
                          np.array([s["embedding"] for s in cli["segments"]], dtype=np.float32))
    assert e.times.shape == (n, 2)
    assert np.allclose(e.times, [[s["start_s"], s["end_s"]] for s in cli["segments"]])
    assert [name for name, _ in e.labels] == [l["name"] for l in cli["labels"]]
    assert all(isinstance(s, float) for _, s in e.labels)
    assert e.duration_s == pytest.approx(cli["duration_s"])
    assert e.sample_rate_hz == 16000 and e.channels == 1 and e.codec == "flac"


def test_embed_samples(subset):
    f = subset[1][4]
    rate = {m.name: m for m in earshot.models()}[MODEL].sample_rate_hz
    from_file = earshot.embed(f, model=MODEL)
    # Samples decoded at the model's rate embed to the very same vectors as the file.
    samples, sr = earshot.decode(f, sample_rate=rate)
    assert sr == rate and samples.dtype == np.float32 and samples.ndim == 1
    same = earshot.embed(samples, model=MODEL, sample_rate=rate)
    assert np.array_equal(same.embedding, from_file.embedding)
    assert np.array_equal(same.segments, from_file.segments)
    assert same.codec == "pcm_f32" and same.sample_rate_hz == rate
    # Any other rate is resampled as files are: the vector barely moves.
    native, native_rate = earshot.decode(f)
    assert native_rate == 16000
    cos = lambda a, b: float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    for samples2, sr2 in [(native, native_rate), earshot.decode(f, sample_rate=44100)]:
        e2 = earshot.embed(samples2, model=MODEL, sample_rate=sr2)
        assert e2.embedding.shape == from_file.embedding.shape
        assert cos(e2.embedding, from_file.embedding) > 0.995, sr2
    # float64, stereo (n, 2) and int16 PCM are accepted.
    stereo = np.stack([native, native], axis=1).astype(np.float64)
    e3 = earshot.embed(stereo, model=MODEL, sample_rate=native_rate)
    pcm = np.round(native * 32767).astype(np.int16)
    e4 = earshot.embed(pcm, model=MODEL, sample_rate=native_rate)
    e2 = earshot.embed(native, model=MODEL, sample_rate=native_rate)
    assert np.allclose(e3.embedding, e2.embedding, atol=1e-5)
    assert cos(e4.embedding, e2.embedding) > 0.999


def test_search_by_samples(indexed, subset):
    lib, _db, _r, _c = indexed
    f = subset[1][7]
    rate = {m.name: m for m in earshot.models()}[MODEL].sample_rate_hz
    samples, sr = earshot.decode(f, sample_rate=rate)
    hits = lib.search(samples, sample_rate=sr, k=6, model=MODEL)
    # Not excluded as the file is: the first hit is the file itself, then the file's neighbours.
    assert hits[0].path == f and hits[0].distance == pytest.approx(0.0, abs=1e-6)
    by_file = lib.search(f, k=5, model=MODEL)
    assert [h.id for h in hits[1:]] == [h.id for h in by_file]


def test_add_vectors_round_trip_bit_identical(tmp_path):
    lib = earshot.Library(tmp_path / "v.earshot")
    rng = np.random.default_rng(7)
    X = rng.standard_normal((50, 128)).astype(np.float32)
    X[0, :4] = [np.finfo(np.float32).tiny / 8, -0.0, 1e38, 1e-30]  # subnormal, -0, huge
    keys = [f"clip-{i:03d}" for i in range(50)]
    meta = [{"name": f"Clip {i}", "duration_s": 1.5, "labels": ["dog", "bark"]} for i in range(50)]
    assert lib.add_vectors("vggish", keys, X, metadata=meta) == (50, 0)
    ids, Y = lib.vectors("vggish")
    assert Y.dtype == np.float32 and Y.shape == X.shape
    paths = [lib.item(int(i)).path for i in ids]
    order = [keys.index(p) for p in paths]
    assert np.array_equal(Y.view(np.uint32), X[order].view(np.uint32))  # bit-identical
    it = lib.item(int(ids[0]))
    assert (it.name, it.duration_s, it.labels) == (meta[order[0]]["name"], 1.5, "dog, bark")
    # Again with the same keys: updated in place, same ids.
    assert lib.add_vectors("vggish", keys, X * 2) == (0, 50)
    ids2, Y2 = lib.vectors("vggish")
    assert np.array_equal(ids2, ids) and np.array_equal(Y2, X[order] * 2)
    assert ("vggish", 128, 50, 0) in lib.spaces()
    # Searchable by vector like an import.
    assert lib.search(X[10] * 2, k=1, model="vggish")[0].path == keys[10]


def test_add_vectors_same_as_cli_import(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 16)).astype(np.float32)
    npy = tmp_path / "vecs.npy"
    np.save(npy, X)
    jsonl = tmp_path / "vecs.jsonl"
    jsonl.write_text("".join(f'{{"path": "k{i}", "name": "n{i}"}}\n' for i in range(20)))
    run_cli("import", npy, "--space", "ext", "--db", tmp_path / "cli.earshot")
    lib = earshot.Library(tmp_path / "py.earshot")
    lib.add_vectors("ext", [f"k{i}" for i in range(20)], X,
                    metadata=[{"name": f"n{i}"} for i in range(20)])
    cli_lib = earshot.Library(tmp_path / "cli.earshot", create=False)
    a_ids, a = lib.vectors("ext")
    b_ids, b = cli_lib.vectors("ext")
    assert np.array_equal(a, b)
    assert [lib.item(int(i))[1:3] for i in a_ids] == [cli_lib.item(int(i))[1:3] for i in b_ids]


def test_eval_same_numbers_as_cli(indexed, subset):
    lib, db, _r, _c = indexed
    _folder, files, manifest = subset
    report = lib.eval(manifest=manifest, label_column="label", exclude_column="group_id",
                      model=MODEL)
    cli = cli_json("eval", "--manifest", manifest, "--db", db, "--label-column", "label",
                   "--exclude-column", "group_id", "--model", MODEL)
    assert report.model == cli["model"] and report.items == cli["items"] == len(files)
    assert report.missing == cli["missing"] == 0
    assert [r.metric for r in report.results] == [r["metric"] for r in cli["results"]]
    for ours, theirs in zip(report.results, cli["results"]):
        for key in ["p_at_1", "p_at_5", "p_at_10", "map", "nn_accuracy", "queries"]:
            assert getattr(ours, key) == theirs[key], key
    assert 0.0 < report["cosine"].map <= 1.0
    one = lib.eval(manifest, "label", "group_id", model=MODEL, metrics=["euclidean"])
    assert [r.metric for r in one.results] == ["euclidean"]
    assert one["euclidean"] == report["euclidean"]


def test_items_remove_and_open_existing(indexed, subset, tmp_path):
    lib, db, _r, _c = indexed
    files = subset[1]
    assert [it.path for it in lib.items(limit=3)] == [it.path for it in lib.items()[:3]]
    assert len(lib.items("03_guitar")) == 4
    reopened = earshot.Library(db, create=False)
    assert len(reopened) == len(lib)
    # remove on a separate copy of the catalog
    other = earshot.Library(tmp_path / "r.earshot")
    other.index(files[:3], model=MODEL)
    assert other.remove(files[0]) == 1
    assert other.remove([files[0]]) == 0
    assert len(other) == 2
    assert files[0] not in [h.path for h in other.search(files[1], k=5, model=MODEL)]


def test_same_recording_and_dedup_match_cli(subset, tmp_path):
    """A re-encoded, quieter, resampled copy of a note is marked as the same recording in search
    results and grouped with its original by Library.dedup, as the CLI reports it."""
    _folder, files, _ = subset
    original = files[0]
    lib_dir = tmp_path / "audio"
    lib_dir.mkdir()
    for f in [original, files[7], files[13]]:
        shutil.copy2(f, lib_dir / os.path.basename(f))
    copy = lib_dir / "copy_of_first.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-i", original, "-af", "volume=-4dB", "-ar", "32000",
                    "-ac", "2", str(copy)], check=True)
    db = str(tmp_path / "lib.earshot")
    lib = earshot.Library(db)
    lib.index([str(lib_dir)], model=MODEL)
    orig_path = str(lib_dir / os.path.basename(original))

    hits = lib.search(str(copy), k=3, model=MODEL)
    by_path = {h.path: h for h in hits}
    assert by_path[orig_path].same_recording
    assert abs(by_path[orig_path].same_recording_offset_s) < 0.1
    assert not any(h.same_recording for h in hits if h.path != orig_path)
    cli = cli_json("search", str(copy), "--db", db, "-k", 3, "--model", MODEL)
    assert [r["same_recording"] for r in cli["results"]] == [h.same_recording for h in hits]

    report = lib.dedup()
    assert report.items == 4 and report.unfingerprinted == 0
    assert len(report.groups) == 1
    group = report.groups[0]
    assert sorted(m.path for m in group) == sorted([orig_path, str(copy)])
    assert isinstance(group[0], earshot.DuplicateMember) and group[0].offset_s == 0.0
    cli = cli_json("dedup", "--db", db)
    assert [[m["id"] for m in g["members"]] for g in cli["groups"]] == [
        [m.id for m in g] for g in report.groups]
    assert [[m["method"] for m in g["members"]] for g in cli["groups"]] == [
        [m.method for m in g] for g in report.groups]
