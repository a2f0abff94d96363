"""Bench phases that build the KB: ingest, embed-and-index, and re-ingest (unchanged and one page edited)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.bench.embedding import _tokens
from kb.bench.staging import change_one_page


@contextlib.contextmanager
def _timed(module: Any, name: str) -> Iterator[dict[str, float]]:
    """Wrap ``module.name`` to add up the time spent in it (the bench runs one ingest at a time)."""
    original, stats = getattr(module, name), {"seconds": 0.0, "calls": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            stats["seconds"] += time.perf_counter() - started
            stats["calls"] += 1

    setattr(module, name, wrapper)
    try:
        yield stats
    finally:
        setattr(module, name, original)


def bench_ingest(kb: KB, sources: Sequence[Path]) -> dict[str, Any]:
    """Ingest into a fresh store, timing the parsers apart from reading, storing and linking.

    Returns:
        ``{"files_seen", "parsed", "problems", "pairs", "seconds", "parse_seconds", "store_seconds", "pairs_per_s"}``.
    """
    with _timed(pipeline, "parse_file") as parse:
        summary = pipeline.run(kb.db, [Path(s) for s in sources])
    pairs = int(kb.db.execute("SELECT count(*) FROM pairs").fetchone()[0])
    return {"files_seen": summary.files_seen, "parsed": summary.parsed, "problems": len(summary.problems),
            "pairs": pairs, "seconds": round(summary.seconds, 2), "parse_seconds": round(parse["seconds"], 2),
            "store_seconds": round(summary.seconds - parse["seconds"], 2),
            "pairs_per_s": round(pairs / max(summary.seconds, 1e-9), 1)}


def bench_build(kb: KB, embedder: Any, backend: str) -> dict[str, Any]:
    """Embed every pair and build the index (``indexer.build``), with the token count of what was embedded.

    Returns:
        ``{"embedded", "embed_seconds", "pairs_per_s", "tokens", "tokens_per_s", "index_seconds", "count"}``.
    """
    todo = indexer.missing_embeddings(kb.db, embedder.name)
    tokens = _tokens(embedder, [text for _, text in todo])
    meta = indexer.build(kb.db, embedder, kb.index_dir, backend)
    seconds = meta["embed_seconds"] if meta["embed_seconds"] >= 0.1 else None  # too short to give a rate
    return {"embedded": meta["embedded"], "embed_seconds": meta["embed_seconds"],
            "pairs_per_s": round(meta["embedded"] / seconds, 1) if seconds else None, "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1) if seconds and tokens is not None else None,
            "index_seconds": meta["index_seconds"], "count": meta["count"], "model": meta["model"]}


def bench_reingest(kb: KB, staged: Sequence[dict[str, Any]], embedder: Any, backend: str) -> dict[str, Any]:
    """Ingest the same sources again: once unchanged, once with one page edited; each including the index update.

    Returns:
        ``{"unchanged": {"seconds", "parsed", "embedded"}, "one_page": {... , "page", "pairs_updated"}}``.
    """
    sources = [Path(s["staged"]) for s in staged]
    out: dict[str, Any] = {}
    for label in ("unchanged", "one_page"):
        page = change_one_page(staged, kb) if label == "one_page" else None
        if label == "one_page" and page is None:
            out[label] = {"skipped": "no folder source with pairs to edit"}
            continue
        started = time.perf_counter()
        summary = pipeline.run(kb.db, sources)
        meta = indexer.build(kb.db, embedder, kb.index_dir, backend)
        out[label] = {"seconds": round(time.perf_counter() - started, 2), "parsed": summary.parsed,
                      "pairs_updated": summary.pairs_updated + summary.pairs_added, "embedded": meta["embedded"],
                      **({"page": page} if page else {})}
    return out
