"""Vector index: normalised vectors, inner product (= cosine), ids = pair row numbers.

Saved as ``index-<stamp>.<backend>`` plus ``index.json`` (model, dim, count, built_at, version,
file). ``index.json`` is replaced atomically last, so readers always see a complete index.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import Protocol

import numpy as np

from kb import __version__
from kb.errors import IndexMismatch
from kb.errors import IndexNotBuilt
from kb.errors import MissingDependency

META_FILE = "index.json"


def single_threaded_search() -> None:
    """Make faiss search each query on one thread: in a server the request threads already use every core, and
    OpenMP threads of concurrent searches only fight each other (measured in docs/performance.md)."""
    try:
        import faiss
    except ImportError:  # the numpy backend needs nothing
        return
    faiss.omp_set_num_threads(1)


class Index(Protocol):
    """What search needs from a vector index."""

    backend: str
    dim: int

    def build(self, ids: np.ndarray, vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        """Replace the contents with ``vectors`` (n, dim) under int64 ``ids`` (n,); ``keys`` (content hashes) are
        kept by indexes that update in place."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for one query vector: (scores (k,), ids (k,)), best first; missing slots have id -1."""

    def count(self) -> int:
        """Number of vectors held."""

    def save(self, path: Path) -> None:
        """Write the index to ``path``."""

    def load(self, path: Path) -> None:
        """Read the index from ``path``."""


class NumpyIndex:
    """Exact search with a matrix product: no extra dependency, the reference for faiss."""

    backend = "numpy"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def build(self, ids: np.ndarray, vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.ids) == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores = self.vectors @ np.asarray(query, dtype=np.float32)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return scores[top], self.ids[top]

    def count(self) -> int:
        return int(len(self.ids))

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, ids=self.ids, vectors=self.vectors)

    def load(self, path: Path) -> None:
        with np.load(path) as data:
            self.build(data["ids"], data["vectors"])


class FaissIndex:
    """faiss ``IndexIDMap2(IndexFlatIP)``: exact inner-product search, fast on 2 cores."""

    backend = "faiss"

    def __init__(self, dim: int) -> None:
        try:
            import faiss
        except ImportError as exc:  # pragma: no cover
            raise MissingDependency(
                "faiss is not available: pip install faiss-cpu, or set KB_INDEX_BACKEND=numpy"
            ) from exc
        self._faiss = faiss
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def build(self, ids: np.ndarray, vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        self._index = self._faiss.IndexIDMap2(self._faiss.IndexFlatIP(self.dim))
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index.ntotal == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores, ids = self._index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), min(k, self._index.ntotal))
        return scores[0], ids[0]

    def count(self) -> int:
        return int(self._index.ntotal)

    def save(self, path: Path) -> None:
        self._faiss.write_index(self._index, str(path))

    def load(self, path: Path) -> None:
        self._index = self._faiss.read_index(str(path))


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover
        raise MissingDependency("faiss is not available: pip install faiss-cpu, or set KB_INDEX_BACKEND=numpy") from exc
    return faiss


class HnswIndex:
    """faiss ``IndexHNSWFlat`` (inner product) that updates in place: approximate, ~0.6 ms a query at 100k vectors.

    faiss HNSW labels are positions 0..ntotal-1 and cannot be removed, so the index keeps, per label, the pair
    number and content hash it holds; a pair that changed or went away turns its label into a tombstone (-1) that
    searches skip. ``kb.indexer`` adds what is new and rebuilds from scratch once tombstones pass a fifth.
    """

    backend = "faiss-hnsw"
    incremental = True
    M = 32
    EF_CONSTRUCTION = 40
    EF_SEARCH = 256  # recall@100 0.99 against exact search on the full corpus (docs/performance.md)

    def __init__(self, dim: int) -> None:
        self._faiss = _import_faiss()
        self.dim = dim
        self._new_graph()

    def _new_graph(self) -> None:
        self._index = self._faiss.IndexHNSWFlat(self.dim, self.M, self._faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = self.EF_CONSTRUCTION
        self.labels = np.zeros(0, dtype=np.int64)
        self.keys = np.zeros(0, dtype="S64")
        self._dead = 0

    def build(self, ids: np.ndarray, vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        self._new_graph()
        self.add(ids, vectors, keys)

    def add(self, ids: np.ndarray, vectors: np.ndarray, keys: Sequence[str] | None = None) -> None:
        """Append vectors for pairs ``ids`` (with their content hashes ``keys``)."""
        if not len(ids):
            return
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.labels = np.concatenate([self.labels, np.asarray(ids, dtype=np.int64)])
        new_keys = np.asarray(list(keys) if keys is not None else [""] * len(ids), dtype="S64")
        self.keys = np.concatenate([self.keys, new_keys])

    def live(self) -> dict[int, tuple[int, str]]:
        """Pair number -> (label, content hash) of every vector not tombstoned."""
        alive = np.flatnonzero(self.labels >= 0)
        return {int(self.labels[i]): (int(i), self.keys[i].decode()) for i in alive}

    def remove_labels(self, labels: Sequence[int]) -> None:
        """Tombstone these labels: searches no longer return them."""
        if len(labels):
            self.labels[np.asarray(labels, dtype=np.int64)] = -1
            self._dead = int((self.labels < 0).sum())

    def dead(self) -> int:
        """Tombstoned labels."""
        return self._dead

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        total = self._index.ntotal
        if total == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        fetch = min(total, k * 2 if self.dead() else k)
        params = self._faiss.SearchParametersHNSW(efSearch=max(self.EF_SEARCH, fetch))
        scores, labels = self._index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), fetch, params=params)
        ids = np.where(labels[0] >= 0, self.labels[np.maximum(labels[0], 0)], -1)
        keep = ids >= 0
        return scores[0][keep][:k], ids[keep][:k]

    def count(self) -> int:
        return int(len(self.labels) - self.dead())

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, graph=self._faiss.serialize_index(self._index), labels=self.labels, keys=self.keys)

    def load(self, path: Path) -> None:
        with np.load(path) as data:
            self._index = self._faiss.deserialize_index(data["graph"])
            self.labels = data["labels"].astype(np.int64)
            self.keys = data["keys"]
        self._dead = int((self.labels < 0).sum())


BACKENDS = {"faiss": FaissIndex, "faiss-hnsw": HnswIndex, "numpy": NumpyIndex}


def create(backend: str, dim: int) -> Index:
    """A new empty index of the named backend.

    Raises:
        ValueError: unknown backend name.
    """
    try:
        return BACKENDS[backend](dim)
    except KeyError:
        raise ValueError(f"unknown index backend {backend!r}; use one of {sorted(BACKENDS)}") from None


def save(index: Index, folder: Path, model: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``index`` under ``folder`` and switch ``index.json`` to it atomically.

    Returns:
        The metadata written to ``index.json``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    file_name = f"index-{stamp}.{index.backend}"
    tmp = folder / (file_name + ".tmp")
    index.save(tmp)
    os.replace(tmp, folder / file_name)
    meta = {
        "file": file_name, "backend": index.backend, "model": model, "dim": index.dim, "count": index.count(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kb_version": __version__, **(extra or {}),
    }
    meta_tmp = folder / (META_FILE + f".{os.getpid()}.tmp")
    meta_tmp.write_text(json.dumps(meta, indent=2))
    os.replace(meta_tmp, folder / META_FILE)
    for old in folder.glob("index*"):
        if old.name.endswith(".tmp") and _writer_gone(old.name) or (
                old.name.startswith("index-") and old.name != file_name and not old.name.endswith(".tmp")):
            try:
                old.unlink()
            except OSError:
                pass  # a reader on another platform may hold it; the next save retries
    return meta


_TMP_RE = re.compile(r"index-\d{8}T\d{6}-(\d+)-\d+\.\w+\.tmp|index\.json\.(\d+)\.tmp")


def _writer_gone(name: str) -> bool:
    # A .tmp whose writing process no longer exists was left by a killed save (another live save keeps its own).
    match = _TMP_RE.fullmatch(name)
    if match is None or os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return False
    pid = int(match.group(1) or match.group(2))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The current ``index.json`` of ``folder``, or None when no index was built."""
    try:
        return json.loads((folder / META_FILE).read_text())
    except FileNotFoundError:
        return None


def load(folder: Path, model: str, dim: int) -> tuple[Index, dict[str, Any]]:
    """Load the current index, checking it was built with the same model and dimension.

    Raises:
        IndexNotBuilt: there is no index yet.
        IndexMismatch: built by another model or with another dimension.
    """
    meta = read_meta(folder)
    if meta is None:
        raise IndexNotBuilt(f"no vector index in {folder}: run `kb ingest SOURCE...` (or `kb index`) first")
    if meta["model"] != model or int(meta["dim"]) != dim:
        raise IndexMismatch(
            f"the index in {folder} was built with model {meta['model']!r} (dim {meta['dim']}), but the configured "
            f"model is {model!r} (dim {dim}): run `kb index` to rebuild it"
        )
    index = create(meta["backend"], dim)
    index.load(folder / meta["file"])
    return index, meta
