"""`kb bench`: measure ingest, embedding, index, re-ingest, quality, HTTP latency and ANN options; return dicts."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from kb import eval as kb_eval
from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.bench.ann import ann_variants
from kb.bench.ann import bench_ann
from kb.bench.build import bench_build
from kb.bench.build import bench_ingest
from kb.bench.build import bench_reingest
from kb.bench.embedding import bench_embed_compare
from kb.bench.embedding import sample_texts
from kb.bench.load import bench_baseline
from kb.bench.load import query_pool
from kb.bench.load import run_load
from kb.bench.machine import dir_size
from kb.bench.machine import machine_info
from kb.bench.machine import percentiles
from kb.bench.quality import bench_quality
from kb.bench.quality import build_reference_index
from kb.bench.quality import reference_pool
from kb.bench.server import LOOPBACK
from kb.bench.server import HttpSearch
from kb.bench.server import bench_http
from kb.bench.staging import default_sources
from kb.bench.staging import stage_sources

__all__ = [
    "LOOPBACK", "PHASES", "BenchOptions", "HttpSearch", "ann_variants", "bench_ann", "build_reference_index",
    "default_sources", "machine_info", "percentiles", "reference_pool", "run", "run_load", "stage_sources",
]


@dataclass
class BenchOptions:
    """What `kb bench` measures and where."""

    sources: list[Path]
    work_dir: Path
    data_dir: Path
    settings: dict[str, Any]
    reuse: bool = False
    limit: int | None = None
    sample: int = 2000
    skip_reference_mrr: bool = False
    devset: Path | None = None
    levels: tuple[int, ...] = (1, 4, 16)
    per_client: int = 25
    time_limit: float = 120.0
    ann_queries: int = 200
    reference_pool: int = 0
    phases: set[str] = field(default_factory=lambda: set(PHASES))


PHASES = ("ingest", "build", "embed", "size", "reingest", "quality", "http", "baseline", "ann")


def run(options: BenchOptions, embedder: Any, reference: Any, progress: Callable[[str], None] = lambda _s: None,
        plain: Any = None
        ) -> dict[str, Any]:
    """Run every phase; a failing phase records ``{"error": ...}`` and the others still run.

    Args:
        options: sources, folders, sizes and which phases to run.
        embedder: the configured embedder (the KB is built with it).
        reference: the fp32 PyTorch embedder to compare with (same model and max length).
        plain: optional ``SentenceTransformer.encode`` as shipped (the model's own max length, batch 32): a second
            throughput reference for the embed phase.
        progress: called with each phase name as it starts.

    Returns:
        ``{"started", "machine", "settings", "sources", <phase>: {...}..., "errors": [phase...]}``.
    """
    s = options.settings
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine_info(),
                              "settings": {k: s.get(k) for k in ("EMBED_MODEL", "EMBED_BACKEND", "EMBED_MAX_TOKENS",
                                                                   "EMBED_BATCH", "INDEX_BACKEND", "THREADS")},
                              "embedder": embedder.name, "reference": reference.name, "errors": []}
    entries = None
    if options.devset and options.devset.exists():
        entries = kb_eval.load_devset(options.devset)
    kb = KB({**s, "DATA_DIR": str(options.data_dir)}, embedder=embedder)

    def phase(name: str, fn: Callable[[], Any]) -> None:
        if name not in options.phases:
            return
        progress(name)
        try:
            report[name] = fn()
        except Exception as exc:  # one broken phase must not hide the others' numbers
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            report["errors"].append(name)

    with _frozen_fingerprint():
        _run_phases(options, report, phase, kb, embedder, reference, entries, plain)
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return report


@contextlib.contextmanager
def _frozen_fingerprint() -> Iterator[None]:
    """Pin the parser-code fingerprint for the run: this process parses with the code it imported, even when
    someone edits the parsers meanwhile (which would make the "unchanged" re-ingest parse everything again)."""
    original = getattr(pipeline, "code_fingerprint", None)
    if original is None:
        yield
        return
    value = original()
    pipeline.code_fingerprint = lambda: value
    try:
        yield
    finally:
        pipeline.code_fingerprint = original


def _run_phases(options: BenchOptions, report: dict[str, Any], phase: Callable[[str, Callable[[], Any]], None],
                kb: KB, embedder: Any, reference: Any, entries: list[dict[str, Any]] | None, plain: Any = None) -> None:
    s, backend = options.settings, options.settings["INDEX_BACKEND"]
    staged: list[dict[str, Any]] = []
    if not options.reuse:
        gold = {g for e in entries or [] for g in e["gold"]}
        staged = stage_sources(options.sources, options.work_dir / "sources", options.limit, gold)
        report["sources"] = staged
        phase("ingest", lambda: bench_ingest(kb, [Path(x["staged"]) for x in staged]))
        phase("build", lambda: bench_build(kb, embedder, backend))
    texts = sample_texts(kb, options.sample)
    phase("embed", lambda: bench_embed_compare(texts, embedder, reference, plain=plain))
    kb.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # count the store's pages where they will stay
    phase("size", lambda: dir_size(options.data_dir))
    if not options.reuse:
        phase("reingest", lambda: bench_reingest(kb, staged, embedder, backend))
    phase("quality", lambda: bench_quality(kb, entries, None if options.skip_reference_mrr else reference,
                                           options.work_dir / "index-fp32", backend,
                                           options.reference_pool))
    queries = query_pool(entries or [], 1 + max(options.levels, default=1) * options.per_client * len(options.levels))
    env = {f"KB_{k}": str(v) for k, v in s.items() if k.startswith(("EMBED_", "INDEX_", "THREADS")) and v is not None}
    env["KB_API_RATE_LIMIT"] = "0"  # one client address sends every request: measure the service, not the limiter
    phase("http", lambda: bench_http(kb, env, queries, options.levels, options.per_client, options.time_limit,
                                     options.work_dir / "serve.log"))
    _, vectors = indexer.load_vectors(kb.db, embedder.name, embedder.dim)
    phase("baseline", lambda: bench_baseline(vectors, reference, queries, options.levels, options.per_client,
                                             options.time_limit))
    phase("ann", lambda: bench_ann(vectors, embedder.encode(query_pool(entries or [], options.ann_queries))))
