# Type stub of the earshot package (docs/python.md). Kept in step with __init__.py.
import os
from dataclasses import dataclass
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, os.PathLike[str]]
Progress = Union[bool, Callable[[int, int], object], None]

class Error(Exception): ...
class InvalidArgumentError(Error, ValueError): ...
class MissingFileError(Error, FileNotFoundError): ...
class MissingWeightsError(Error, FileNotFoundError): ...
class NotFoundError(Error, LookupError): ...
class DecodeError(Error): ...
class CorruptCatalogError(Error): ...
class StorageError(Error, OSError): ...

class Hit(NamedTuple):
    rank: int
    id: int
    path: str
    name: str
    duration_s: float
    distance: float
    score: float
    tags: Tuple[str, ...] = ...
    same_recording: bool = ...
    same_recording_offset_s: float = ...

class DuplicateMember(NamedTuple):
    id: int
    path: str
    name: str
    duration_s: float
    offset_s: float
    similarity: float
    method: str

class DuplicateGroups(NamedTuple):
    space: str
    items: int
    unfingerprinted: int
    groups: List[List[DuplicateMember]]

class Failure(NamedTuple):
    path: str
    reason: str

class Item(NamedTuple):
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
    model: str
    found: int
    embedded: int
    unchanged: int
    failed: List[Failure]
    audio_s: float
    elapsed_s: float

@dataclass(frozen=True)
class Embedding:
    model: str
    dim: int
    embedding: npt.NDArray[np.float32]
    segments: npt.NDArray[np.float32]
    times: npt.NDArray[np.float64]
    labels: List[Tuple[str, float]]
    duration_s: float
    sample_rate_hz: int
    channels: int
    codec: str
    title: str = ...
    artist: str = ...

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
    model: str
    items: int
    missing: int
    results: List[EvalMetrics] = ...
    def __getitem__(self, metric: str) -> EvalMetrics: ...

@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    license: str
    weights_found: bool
    location: str
    dim: int
    sample_rate_hz: int
    n_labels: int

def default_model() -> str: ...
def embed(
    source: Union[PathLike, npt.NDArray[np.generic]],
    model: Optional[str] = ...,
    *,
    sample_rate: Optional[int] = ...,
    top_labels: int = ...,
    models_dir: Optional[PathLike] = ...,
    threads: int = ...,
) -> Embedding: ...
def decode(path: PathLike, sample_rate: Optional[int] = ...) -> Tuple[npt.NDArray[np.float32], int]: ...
def models(models_dir: Optional[PathLike] = ...) -> List[ModelInfo]: ...

class Library:
    def __init__(
        self,
        db: PathLike,
        create: bool = ...,
        *,
        models_dir: Optional[PathLike] = ...,
        threads: int = ...,
    ) -> None: ...
    @property
    def db(self) -> str: ...
    def __len__(self) -> int: ...
    def index(
        self,
        paths: Union[PathLike, Sequence[PathLike]],
        model: Optional[str] = ...,
        *,
        force: bool = ...,
        progress: Progress = ...,
    ) -> IndexReport: ...
    def search(
        self,
        query: Union[PathLike, npt.NDArray[np.generic], int, Embedding],
        k: int = ...,
        metric: str = ...,
        *,
        model: Optional[str] = ...,
        min_duration: Optional[float] = ...,
        max_duration: Optional[float] = ...,
        sample_rate: Optional[int] = ...,
        index: str = ...,
        ef_search: int = ...,
        nprobe: int = ...,
        tags: Union[str, Sequence[str]] = ...,
        folder: Optional[PathLike] = ...,
        allow_silent: bool = ...,
    ) -> List[Hit]: ...
    def vectors(self, space: Optional[str] = ...) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
    def add_vectors(
        self,
        space: str,
        keys: Sequence[Union[str, int]],
        vectors: npt.ArrayLike,
        metadata: Optional[Sequence[Optional[dict]]] = ...,
    ) -> Tuple[int, int]: ...
    def eval(
        self,
        manifest: PathLike,
        label_column: str = ...,
        exclude_column: Optional[str] = ...,
        *,
        model: Optional[str] = ...,
        metrics: Optional[Sequence[str]] = ...,
    ) -> EvalReport: ...
    def item(self, id: int) -> Item: ...
    def items(
        self,
        query: str = ...,
        *,
        limit: Optional[int] = ...,
        offset: int = ...,
        tags: Union[str, Sequence[str]] = ...,
        folder: Optional[PathLike] = ...,
    ) -> List[Item]: ...
    def spaces(self) -> List[Tuple[str, int, int, int]]: ...
    def dedup(self, space: Optional[str] = ...) -> DuplicateGroups: ...
    def remove(self, paths: Union[PathLike, Sequence[PathLike]]) -> int: ...
