"""earshot: audio similarity search from Python and numpy.

    import earshot, numpy as np
    lib = earshot.Library("lib.earshot")
    report = lib.index(["~/Samples"], model="mn04", progress=True)
    hits = lib.search("query.wav", k=10, metric="cosine")
    e = earshot.embed("clip.flac", model="mn04")

The heavy work runs in the C++ engine (the extension earshot._earshot) with the GIL released, so
several Python threads can search and embed at once. Results are plain Python objects and numpy
arrays. Errors are earshot.Error subclasses that also derive from the matching built-in exception
(ValueError, FileNotFoundError, LookupError, OSError) and carry the CLI's one-line messages.
Full reference: docs/python.md.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _earshot
from ._earshot import (
    CorruptCatalogError,
    DecodeError,
    Error,
    InvalidArgumentError,
    MissingFileError,
    MissingWeightsError,
    NotFoundError,
    StorageError,
)

__all__ = [
    "Library",
    "Hit",
    "Item",
    "IndexReport",
    "Failure",
    "DuplicateMember",
    "DuplicateGroups",
    "Embedding",
    "EvalReport",
    "EvalMetrics",
    "ModelInfo",
    "embed",
    "decode",
    "models",
    "default_model",
    "Error",
    "InvalidArgumentError",
    "MissingFileError",
    "MissingWeightsError",
    "NotFoundError",
    "DecodeError",
    "CorruptCatalogError",
    "StorageError",
]

__version__ = "0.1.0"

PathLike = Union[str, "os.PathLike[str]"]
Progress = Union[bool, Callable[[int, int], object], None]


class Hit(NamedTuple):
    """One search result, best first."""

    rank: int  #: 1-based
    id: int  #: catalog item id
    path: str  #: the item's path (absolute, as indexed) or import key
    name: str  #: file name shown to people
    duration_s: float
    distance: float  #: smaller is closer (the metric's distance)
    score: float  #: similarity in [0, 1] for cosine/correlation, 1 / (1 + distance) otherwise
    tags: Tuple[str, ...] = ()  #: the item's tags, best first (docs/cli.md "Tags")
    #: the same recording as the query (another encode, trim, gain; docs/dedup.md)
    same_recording: bool = False
    #: when same_recording: the query starts this many seconds into the result
    same_recording_offset_s: float = 0.0


class DuplicateMember(NamedTuple):
    """One item of a same-recording group (`Library.dedup`)."""

    id: int
    path: str
    name: str
    duration_s: float
    #: this member starts offset_s seconds into the group's first member (0 for that one)
    offset_s: float
    similarity: float  #: of the link that joined it (bit agreement or correlation)
    method: str  #: "chromaprint" (music) or "signature" (the short-sound check), as `earshot dedup`


class DuplicateGroups(NamedTuple):
    """`Library.dedup`'s answer: groups of 2 or more items, largest first; in each group the
    reference (the longest member) first."""

    space: str
    items: int  #: items compared (with a fingerprint)
    unfingerprinted: int  #: items without a fingerprint (`earshot reindex --fingerprints`)
    groups: List[List[DuplicateMember]]


class Failure(NamedTuple):
    """A file `Library.index` skipped, and why."""

    path: str
    reason: str


class Item(NamedTuple):
    """A catalog item (`Library.item`, `Library.items`)."""

    id: int
    path: str
    name: str
    duration_s: float
    sample_rate_hz: int
    channels: int
    codec: str
    labels: str
    title: str
    artist: str


@dataclass(frozen=True)
class IndexReport:
    """What `Library.index` did. `failed` lists the skipped files with the reason."""

    model: str
    found: int  #: audio files found under the paths
    embedded: int  #: new or changed files embedded and stored
    unchanged: int  #: skipped: already embedded, same size and modification time
    failed: List[Failure]
    audio_s: float  #: seconds of audio embedded
    elapsed_s: float


@dataclass(frozen=True)
class Embedding:
    """A file's (or an array's) embedding: `earshot.embed`."""

    model: str
    dim: int
    embedding: np.ndarray  #: float32 (dim,): the whole-file vector (what the catalog stores)
    segments: np.ndarray  #: float32 (n, dim): one vector per model segment, in time order
    times: np.ndarray  #: float64 (n, 2): start and end of each segment, seconds
    labels: List[Tuple[str, float]]  #: (class name, mean score), best first; [] without a head
    duration_s: float
    sample_rate_hz: int  #: the source's rate
    channels: int
    codec: str
    title: str = ""
    artist: str = ""


@dataclass(frozen=True)
class EvalMetrics:
    metric: str
    p_at_1: float
    p_at_5: float
    p_at_10: float
    map: float
    nn_accuracy: float
    queries: int


@dataclass(frozen=True)
class EvalReport:
    """`Library.eval`: the numbers `earshot eval --manifest` prints, per metric."""

    model: str
    items: int
    missing: int
    results: List[EvalMetrics] = field(default_factory=list)

    def __getitem__(self, metric: str) -> EvalMetrics:
        for r in self.results:
            if r.metric == metric:
                return r
        raise KeyError(metric)


@dataclass(frozen=True)
class ModelInfo:
    """One row of `earshot models`."""

    name: str
    description: str
    license: str
    weights_found: bool
    location: str  #: weights folder, or why they were not found
    dim: int
    sample_rate_hz: int
    n_labels: int


def _path(p: PathLike) -> str:
    return os.path.expanduser(os.fspath(p))


def _is_uri(db: str) -> bool:
    return "://" in db


class _Bar:
    """A one-line progress bar on stderr: files, files/s, time left."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.t0 = time.monotonic()
        self.last = -1.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total == 0 or (done < total and now - self.last < 0.1):
            return
        self.last = now
        frac = done / total
        rate = done / (now - self.t0) if now > self.t0 else 0.0
        eta = f"{(total - done) / rate:.0f} s" if rate > 0 and done < total else "-"
        width = 30
        filled = int(frac * width)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{' ' * (width - filled)}] {done}/{total} "
            f"{frac * 100:3.0f}%  {rate:.1f} files/s  eta {eta}   "
        )
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _progress(progress: Progress, label: str):
    if progress is None or progress is False:
        return None, None
    if progress is True:
        bar = _Bar(label)
        return bar, bar
    if callable(progress):
        return progress, None
    raise InvalidArgumentError("progress must be True, False, None or a callable (done, total)")


def _embedding(raw) -> Embedding:
    model, dim, vec, segs, times, labels, info = raw
    return Embedding(
        model=model,
        dim=dim,
        embedding=vec,
        segments=segs,
        times=times,
        labels=[(n, float(s)) for n, s in labels],
        duration_s=info["duration_s"],
        sample_rate_hz=info["sample_rate_hz"],
        channels=info["channels"],
        codec=info["codec"],
        title=info["title"],
        artist=info["artist"],
    )


def default_model() -> str:
    """The model used when none is given (as the CLI)."""
    return _earshot.default_model()


def embed(
    source: Union[PathLike, np.ndarray],
    model: Optional[str] = None,
    *,
    sample_rate: Optional[int] = None,
    top_labels: int = 10,
    models_dir: Optional[PathLike] = None,
    threads: int = 0,
) -> Embedding:
    """Embeds an audio file, or samples in a numpy array, with a model (default: the CLI's).

    source: a path (any format FFmpeg reads), or a numpy array of samples (n,) or (n, channels),
    float in [-1, 1] or int16/int32 PCM, at `sample_rate` Hz (required for arrays; resampled to
    the model's rate as files are). top_labels: how many class labels to keep (0 = all).
    Same vectors as `earshot embed --json`. Models are loaded once per process and reused.
    """
    name = model or ""
    mdir = _path(models_dir) if models_dir is not None else ""
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise InvalidArgumentError("embedding an array needs sample_rate=")
        return _embedding(
            _earshot.embed_array(source, int(sample_rate), name, mdir, threads, top_labels)
        )
    if sample_rate is not None:
        raise InvalidArgumentError("sample_rate= is only for numpy arrays, not files")
    if isinstance(source, (bytes, bytearray)):
        raise InvalidArgumentError("pass a path or a numpy array of samples, not bytes")
    return _embedding(_earshot.embed_path(_path(source), name, mdir, threads, top_labels))


def decode(path: PathLike, sample_rate: Optional[int] = None) -> Tuple[np.ndarray, int]:
    """Decodes an audio file to mono float32 samples in [-1, 1] as earshot does before embedding:
    returns (samples, sample_rate). sample_rate=None keeps the file's own rate."""
    samples, rate, _info = _earshot.decode(_path(path), int(sample_rate or 0))
    return samples, rate


def models(models_dir: Optional[PathLike] = None) -> List[ModelInfo]:
    """The models earshot knows and whether their weights were found (`earshot models`)."""
    mdir = _path(models_dir) if models_dir is not None else ""
    return [ModelInfo(**d) for d in _earshot.models(mdir)]


def _tag_list(tags: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(tags, str):
        return [tags] if tags else []
    return [str(t) for t in tags if t]


def _folder(folder: Optional[PathLike]) -> str:
    # An existing directory as the catalog stores paths (absolute); anything else as given.
    if folder is None:
        return ""
    text = os.fspath(folder)
    if text and os.path.isdir(text):
        return os.path.normpath(os.path.abspath(text))
    return text


class Library:
    """A catalog of embedded audio (an SQLite file, or a catalog URI the engine accepts).

    Library(db, create=True, models_dir=None, threads=0): opens `db`, creating it unless
    create=False (then a missing file raises MissingFileError). threads: worker threads for
    indexing and scans (0 = all cores). A Library may be shared by threads.
    """

    def __init__(
        self,
        db: PathLike,
        create: bool = True,
        *,
        models_dir: Optional[PathLike] = None,
        threads: int = 0,
    ) -> None:
        text = os.fspath(db)
        self._db = text if _is_uri(text) else _path(text)
        mdir = _path(models_dir) if models_dir is not None else ""
        self._threads = int(threads)
        self._lib = _earshot.Library(self._db, bool(create), mdir, self._threads)

    @property
    def db(self) -> str:
        return self._db

    def __repr__(self) -> str:
        return f"earshot.Library({self._db!r})"

    def __len__(self) -> int:
        return self._lib.count("")

    def index(
        self,
        paths: Union[PathLike, Sequence[PathLike]],
        model: Optional[str] = None,
        *,
        force: bool = False,
        progress: Progress = False,
    ) -> IndexReport:
        """Embeds the audio files under `paths` (folders are walked recursively) and stores them
        (`earshot index`). Unchanged files are skipped, so an interrupted run resumes; files that
        cannot be decoded are listed in report.failed. progress=True draws a bar on stderr, or
        pass a callable (done, total). Ctrl-C raises KeyboardInterrupt after storing the files
        finished so far."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        callback, bar = _progress(progress, "indexing")
        try:
            model_name, found, added, unchanged, failed, audio_s, elapsed_s = self._lib.index(
                [_path(p) for p in paths], model or "", bool(force), callback
            )
        finally:
            if bar is not None:
                bar.close()
        return IndexReport(
            model=model_name,
            found=found,
            embedded=added,
            unchanged=unchanged,
            failed=[Failure(p, r) for p, r in failed],
            audio_s=audio_s,
            elapsed_s=elapsed_s,
        )

    def search(
        self,
        query: Union[PathLike, np.ndarray, int, Embedding],
        k: int = 10,
        metric: str = "cosine",
        *,
        model: Optional[str] = None,
        min_duration: Optional[float] = None,
        max_duration: Optional[float] = None,
        sample_rate: Optional[int] = None,
        index: str = "",
        ef_search: int = 0,
        nprobe: int = 0,
        tags: Union[str, Sequence[str]] = (),
        folder: Optional[PathLike] = None,
        allow_silent: bool = False,
    ) -> List[Hit]:
        """The k catalog items most similar to `query`, best first (`earshot search`).

        query is one of:
          - a path to an audio file (in the library or not; the file itself is left out);
          - an item id (int): "more like this" (the item is left out);
          - a numpy vector (dim,) of the space `model`, e.g. from lib.vectors() or embed();
          - a numpy array of samples with sample_rate= (embedded with `model` first);
          - an Embedding from earshot.embed (its model is the space).
        metric: cosine, euclidean, manhattan or correlation. min_duration / max_duration (s)
        filter by item length. index/ef_search/nprobe as `earshot search --index ...`.
        tags: only items with every one of these tags (a str is one tag); folder: only items
        under this folder. Both apply inside the search (k results that pass, whenever k exist).
        A silent query (peak below -50 dBFS) raises InvalidArgumentError unless allow_silent.
        """
        if isinstance(query, Embedding):
            model = model or query.model
            query = query.embedding
        req = _earshot.search_request(
            model or "",
            metric,
            k,
            min_duration,
            max_duration,
            index,
            ef_search,
            nprobe,
            _tag_list(tags),
            _folder(folder),
            bool(allow_silent),
        )
        if isinstance(query, np.ndarray):
            if sample_rate is not None:
                raw = self._lib.search_samples(query, int(sample_rate), req)
            else:
                raw = self._lib.search_vector(query, req)
        elif isinstance(query, (bool, np.bool_)):
            raise InvalidArgumentError("query must be a path, an item id or a numpy array")
        elif isinstance(query, (int, np.integer)):
            raw = self._lib.search_id(int(query), req)
        elif isinstance(query, (str, os.PathLike)):
            if sample_rate is not None:
                raise InvalidArgumentError("sample_rate= is only for numpy arrays of samples")
            raw = self._lib.search_file(_path(query), req)
        else:
            raise InvalidArgumentError(
                f"query must be a path, an item id, a numpy array or an Embedding, "
                f"not {type(query).__name__}"
            )
        return [Hit(*h) for h in raw]

    def vectors(self, space: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
        """All whole-item vectors of a space (a model name or an import space): (ids int64 (n,),
        X float32 (n, dim)), ordered by id. `earshot export --format npy` gives the same rows."""
        return self._lib.vectors(space or "")

    def add_vectors(
        self,
        space: str,
        keys: Sequence[Union[str, int]],
        vectors: np.ndarray,
        metadata: Optional[Sequence[Optional[dict]]] = None,
    ) -> Tuple[int, int]:
        """Stores precomputed vectors in a space, as `earshot import` does: one item per key (an
        external id or a path; an existing item with that key gets the new vector and keeps its
        metadata). vectors: (n, dim), stored as float32 exactly. metadata: optional dicts per row
        with any of "name", "duration_s", "labels" (str or list of str). A space named after a
        model (e.g. "mn04") can then also be searched by audio. Returns (added, updated)."""
        x = np.asarray(vectors)
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        keys = [os.fspath(k) if isinstance(k, os.PathLike) else str(k) for k in keys]
        names: List[str] = []
        durations: List[float] = []
        labels: List[str] = []
        if metadata is not None:
            if len(metadata) != len(keys):
                raise InvalidArgumentError(f"{len(metadata)} metadata rows for {len(keys)} keys")
            allowed = {"name", "duration_s", "labels"}
            for i, m in enumerate(metadata):
                m = m or {}
                unknown = set(m) - allowed
                if unknown:
                    raise InvalidArgumentError(
                        f"metadata row {i}: unknown key(s) {sorted(unknown)} "
                        f"(known: duration_s, labels, name)"
                    )
                names.append(str(m.get("name", "")))
                durations.append(float(m.get("duration_s", 0.0)))
                lab = m.get("labels", "")
                labels.append(lab if isinstance(lab, str) else ", ".join(map(str, lab)))
        return tuple(self._lib.add_vectors(space, keys, x, names, durations, labels))

    def eval(
        self,
        manifest: PathLike,
        label_column: str = "label",
        exclude_column: Optional[str] = None,
        *,
        model: Optional[str] = None,
        metrics: Optional[Sequence[str]] = None,
    ) -> EvalReport:
        """Leave-one-out retrieval quality on a labelled manifest (`earshot eval --manifest`):
        files not yet in the catalog are embedded first. Returns P@1/5/10, mAP and 1-NN accuracy
        per metric (report["cosine"].map)."""
        model_name, items, missing, results = self._lib.eval(
            _path(manifest), label_column, exclude_column or "", model or "", list(metrics or [])
        )
        return EvalReport(
            model=model_name,
            items=items,
            missing=missing,
            results=[EvalMetrics(*r) for r in results],
        )

    def item(self, id: int) -> Item:
        """One catalog item by id (NotFoundError if there is none)."""
        return Item(*self._lib.item(int(id)))

    def items(
        self,
        query: str = "",
        *,
        limit: Optional[int] = None,
        offset: int = 0,
        tags: Union[str, Sequence[str]] = (),
        folder: Optional[PathLike] = None,
    ) -> List[Item]:
        """Items ordered by id; query filters by a case-insensitive substring of the path, the
        name or a tag (`earshot list --query`); tags: only items with every one of these tags; folder:
        only items under this folder (`earshot list --tag --folder`)."""
        return [
            Item(*t)
            for t in self._lib.items(
                query, offset, -1 if limit is None else limit, _tag_list(tags), _folder(folder)
            )
        ]

    def spaces(self) -> List[Tuple[str, int, int, int]]:
        """(space, dim, items, segments) of each embedding space in the catalog."""
        return [tuple(s) for s in self._lib.spaces()]

    def dedup(self, space: Optional[str] = None) -> DuplicateGroups:
        """Groups the items that are the same recording (another encode, bitrate, sample rate,
        channel count, gain, a few seconds trimmed), as `earshot dedup`. space: the embedding space
        used for candidates and short sounds (default: the catalog's default)."""
        name, items, unfingerprinted, groups = self._lib.dedup(space or "", self._threads)
        return DuplicateGroups(
            name,
            items,
            unfingerprinted,
            [[DuplicateMember(*m) for m in g] for g in groups],
        )

    def remove(self, paths: Union[PathLike, Sequence[PathLike]]) -> int:
        """Removes items by path; returns how many were removed (`earshot remove`)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        return self._lib.remove([os.fspath(p) for p in paths])
