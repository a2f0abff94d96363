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


def embed_missing(
    db: Database, embedder: Embedder, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
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
                [(embedder.name, h, vec.astype(np.float32).tobytes())
                 for (h, _), vec in zip(chunk, vectors, strict=True)])
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


REBUILD_SHARE = 0.2  # an in-place index is rebuilt from scratch once this share of its vectors are tombstones


def _vectors_for(db: Database, model: str, ns: list[int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    ids, blobs, keys = [], [], []
    for start in range(0, len(ns), 900):
        part = ns[start:start + 900]
        for n, key, blob in db.execute(
                f"""SELECT p.n, p.content_hash, e.vector FROM pairs p
                    JOIN embeddings e ON e.model = ? AND e.content_hash = p.content_hash
                    WHERE p.n IN ({','.join('?' * len(part))}) ORDER BY p.n""", [model, *part]):
            ids.append(n)
            keys.append(key)
            blobs.append(blob)
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1) if ids else None
    return np.asarray(ids, dtype=np.int64), vectors, keys


def update_in_place(db: Database, embedder: Embedder, folder: Path, backend: str) -> tuple[Any, dict[str, int]] | None:
    """The current index with changed and removed pairs tombstoned and new ones added, or None when it must be
    rebuilt (no index yet, another backend or model, one that cannot update in place, or too many tombstones)."""
    if not getattr(vindex.BACKENDS.get(backend), "incremental", False):
        return None
    meta = vindex.read_meta(folder)
    if not meta or meta.get("backend") != backend or meta.get("model") != embedder.name:
        return None
    try:
        idx, _ = vindex.load(folder, embedder.name, embedder.dim)
    except Exception:  # unreadable or half-written by an old version: a rebuild repairs it
        return None
    # Every visible pair has its vector by now (embed_missing ran first); not joining the embeddings table here
    # keeps an update from reading every stored vector.
    wanted = dict(db.execute("SELECT n, content_hash FROM pairs WHERE hidden = 0").fetchall())
    held = idx.live()
    stale = [label for n, (label, key) in held.items() if wanted.get(n) != key]
    new = sorted(n for n, key in wanted.items() if held.get(n, (None, None))[1] != key)
    total = len(idx.labels) + len(new)
    if total and (idx.dead() + len(stale)) / total > REBUILD_SHARE:
        return None
    idx.remove_labels(stale)
    ids, vectors, keys = _vectors_for(db, embedder.name, new)
    if vectors is not None:
        idx.add(ids, vectors, keys)
    return idx, {"added": len(new), "removed": len(stale)}


def build(db: Database, embedder: Embedder, folder: Path, backend: str = "faiss",
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Embed what is missing, then update the index in place where its type allows, else build it over all pairs;
    switch to the result atomically.

    Returns:
        The index metadata plus ``{"embedded", "embed_seconds", "index_seconds", "update"}`` (``update``:
        ``{"added", "removed"}`` for an in-place update, None for a full build).
    """
    stats = embed_missing(db, embedder, progress)
    started = time.perf_counter()
    updated = update_in_place(db, embedder, folder, backend)
    if updated is not None:
        idx, change = updated
    else:
        change = None
        ids, vectors = load_vectors(db, embedder.name, embedder.dim)
        keys = [k for (k,) in db.execute(
            """SELECT p.content_hash FROM pairs p JOIN embeddings e ON e.model = ? AND e.content_hash = p.content_hash
               WHERE p.hidden = 0 ORDER BY p.n""", [embedder.name])] if getattr(
            vindex.BACKENDS.get(backend), "incremental", False) else None
        idx = vindex.create(backend, embedder.dim)
        idx.build(ids, vectors, keys)
    meta = vindex.save(idx, folder, embedder.name)
    return {**meta, "embedded": stats["embedded"], "embed_seconds": round(stats["seconds"], 2),
            "embed_chars": stats["chars"], "index_seconds": round(time.perf_counter() - started, 2), "update": change}
