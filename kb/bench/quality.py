"""Bench quality phase: dev-set metrics of the built KB and of the same store with fp32 reference vectors."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb import eval as kb_eval
from kb import index as vindex
from kb import indexer
from kb import pipeline
from kb.app import KB


def reference_pool(kb: KB, entries: Sequence[dict[str, Any]], per_query: int) -> list[int]:
    """Pair numbers the fp32 reference must embed to rank the dev set as an exhaustive index would.

    The union, over dev questions, of the configured index's top ``per_query`` dense hits, plus every pair of every
    gold page. The reference's dense leg keeps at most ``CANDIDATES`` hits; a pair the fp32 model puts in its top
    ``CANDIDATES`` while the quantised one ranks it below ``per_query`` is the only way this differs from embedding
    the whole store (int8 and fp32 vectors agree to cosine > 0.99, see the embed phase).
    """
    index = kb.index()
    pool: set[int] = set()
    for entry in entries:
        _, ids = index.search(kb.embedder.encode_query(entry["q"]), per_query)
        pool.update(int(i) for i in np.asarray(ids).ravel() if i >= 0)
    gold = sorted({g for e in entries for g in e["gold"]})
    for start in range(0, len(gold), 500):
        part = gold[start:start + 500]
        marks = ",".join("?" * len(part))
        pool.update(n for (n,) in kb.db.execute(f"SELECT n FROM pairs WHERE source IN ({marks})", part))
    return sorted(pool)


def build_reference_index(kb: KB, reference: Any, folder: Path, backend: str, pool: Sequence[int] | None
                          ) -> dict[str, Any]:
    """Index of ``reference`` vectors: for every pair (``pool`` None) or only the pool's pairs."""
    if pool is None:
        return indexer.build(kb.db, reference, folder, backend)
    rows = []
    for start in range(0, len(pool), 500):
        part = list(pool[start:start + 500])
        rows += kb.db.execute(f"SELECT n, question, answer FROM pairs WHERE hidden = 0 AND n IN "
                              f"({','.join('?' * len(part))})", part).fetchall()
    started = time.perf_counter()
    vectors = reference.encode([pipeline.embed_text(q, a) for _, q, a in rows])
    idx = vindex.create(backend, reference.dim)
    idx.build(np.asarray([n for n, _, _ in rows], dtype=np.int64), np.asarray(vectors, dtype=np.float32))
    meta = vindex.save(idx, folder, reference.name)
    return {**meta, "embedded": len(rows), "embed_seconds": round(time.perf_counter() - started, 2)}


def bench_quality(kb: KB, entries: list[dict[str, Any]] | None, reference: Any | None, ref_index: Path,
                  backend: str, pool_per_query: int = 0) -> dict[str, Any]:
    """Dev-set metrics of the built KB and, when ``reference`` is given, of the same store with fp32 vectors.

    With ``pool_per_query`` 0 the reference embeds every pair; otherwise only :func:`reference_pool` (the
    full corpus in fp32 PyTorch takes most of an hour on two cores). The reference index goes to ``ref_index``.

    Returns:
        ``{"questions", "gold_absent", "backend": {mode: metrics}, "reference": {...}, "mrr_delta": {mode: d},
        "reference_build_seconds", "reference_pairs", "reference_pool_per_query"}``, or ``{"skipped": reason}``.
    """
    if not entries:
        return {"skipped": "no dev set"}
    present = {r[0] for r in kb.db.execute("SELECT path FROM sources")}
    ours = kb_eval.evaluate(kb.search, entries, present=present)
    out: dict[str, Any] = {"questions": ours["questions"], "gold_absent": ours["skipped"], "backend": ours["modes"]}
    if reference is None:
        return out
    ref_kb = KB(kb.settings, embedder=reference)
    ref_kb.index_dir = ref_index
    started = time.perf_counter()
    pool = reference_pool(kb, entries, pool_per_query) if pool_per_query else None
    meta = build_reference_index(kb, reference, ref_index, backend, pool)
    out["reference_build_seconds"] = round(time.perf_counter() - started, 2)
    out["reference_pairs"] = meta["count"]
    out["reference_pool_per_query"] = pool_per_query or None
    out["reference"] = kb_eval.evaluate(ref_kb.search, entries, present=present)["modes"]
    out["mrr_delta"] = {m: round(ours["modes"][m]["mrr@10"] - out["reference"][m]["mrr@10"], 4) for m in ours["modes"]}
    return out
