"""Build the vector index from the store: embed only what the cache lacks, then swap atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from kb import index as vindex
from kb.embed import Embedder
from kb.pipeline import embed_text

CHUNK = 2048  # texts per encode call: progress and cache writes stay incremental, so a killed build resumes


def missing_embeddings(db: Database, model: str) -> list[tuple[str, str]]:
    """(content_hash, text) of visible pairs whose embedding is not cached for ``model``, shortest first."""
    cursor = db.execute(
        """SELECT p.content_hash, p.question, p.answer FROM pairs p
           LEFT JOIN embeddings e ON e.model = ? AND e.content_hash = p.content_hash
           WHERE e.content_hash IS NULL GROUP BY p.content_hash""", [model])
    todo = [(h, embed_text(q, a)) for h, q, a in cursor]
    todo.sort(key=lambda item: len(item[1]))  # similar lengths per batch: less padding
    return todo


def embed_missing(db: Database, embedder: Embedder, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Embed every pair text not yet cached and store the vectors.

    Returns:
        ``{"embedded": n, "seconds": s, "chars": c}``.
    """
    todo = missing_embeddings(db, embedder.name)
    started = time.perf_counter()
    done = 0
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        vectors = embedder.encode([text for _, text in chunk])
        with db.atomic():
            db.conn.executemany(
                "INSERT OR REPLACE INTO embeddings(model, content_hash, vector) VALUES (?, ?, ?)",
                [(embedder.name, h, vec.astype(np.float32).tobytes()) for (h, _), vec in zip(chunk, vectors)])
        done += len(chunk)
        if progress:
            progress(done, len(todo))
    return {"embedded": len(todo), "seconds": time.perf_counter() - started, "chars": sum(len(t) for _, t in todo)}


def load_vectors(db: Database, model: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids (pair row numbers) and vectors of every visible, embedded pair."""
    cursor = db.execute(
        """SELECT p.n, e.vector FROM pairs p JOIN embeddings e ON e.model = ? AND e.content_hash = p.content_hash
           WHERE p.hidden = 0 ORDER BY p.n""", [model])
    ids: list[int] = []
    blobs: list[bytes] = []
    for n, blob in cursor:
        ids.append(n)
        blobs.append(blob)
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
    return np.asarray(ids, dtype=np.int64), vectors


def build(db: Database, embedder: Embedder, folder: Path, backend: str = "faiss",
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Embed what is missing, build the index over all pairs and switch to it atomically.

    Returns:
        The index metadata plus ``{"embedded", "embed_seconds", "index_seconds"}``.
    """
    stats = embed_missing(db, embedder, progress)
    started = time.perf_counter()
    ids, vectors = load_vectors(db, embedder.name, embedder.dim)
    idx = vindex.create(backend, embedder.dim)
    idx.build(ids, vectors)
    meta = vindex.save(idx, folder, embedder.name)
    return {**meta, "embedded": stats["embedded"], "embed_seconds": round(stats["seconds"], 2),
            "embed_chars": stats["chars"], "index_seconds": round(time.perf_counter() - started, 2)}
