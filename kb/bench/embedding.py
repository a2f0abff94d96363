"""Bench embed phase: throughput and agreement of the configured embedder against the fp32 reference."""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from kb import pipeline
from kb.app import KB
from kb.bench.load import query_pool
from kb.bench.machine import _time_call
from kb.bench.machine import percentiles


def _tokens(embedder: Any, texts: list[str]) -> int | None:
    return embedder.count_tokens(texts) if hasattr(embedder, "count_tokens") else None


def sample_texts(kb: KB, n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` pair texts (as the embedder sees them), a seeded random sample."""
    texts = [pipeline.embed_text(q, a) for q, a in kb.db.execute("SELECT question, answer FROM pairs WHERE hidden = 0")]
    return random.Random(seed).sample(texts, min(n, len(texts)))


def bench_embed_compare(texts: list[str], embedder: Any, reference: Any, chunk: int = 256, plain: Any = None
                        ) -> dict[str, Any]:
    """Throughput of the configured embedder and of the fp32 reference on the same texts, and their agreement.

    They run in alternating chunks (order rotated each time), so background load hits all alike. ``plain``, when
    given, is fp32 ``encode`` as shipped (the model's own max length): timed too, not compared for agreement.

    Returns:
        ``{"texts", "tokens", "backend": {"name", "seconds", "pairs_per_s", "tokens_per_s", "query_ms"},
        "reference": {...}, "speedup", "cosine": {"mean", "min", "p5"}}``, plus ``"plain"`` and
        ``"speedup_vs_plain"`` with ``plain``.
    """
    if not texts:
        return {"skipped": "no pairs to embed"}
    ours, theirs, shipped = [], [], []
    seconds = {"backend": 0.0, "reference": 0.0, "plain": 0.0}
    same = reference is embedder  # the torch backend is its own reference: measure it once
    order = [("backend", embedder, ours)] + ([] if same else [("reference", reference, theirs)])
    order += [("plain", plain, shipped)] if plain is not None else []
    for _label, model, _out in order:
        model.encode(texts[:8])
    for i, start in enumerate(range(0, len(texts), chunk)):
        part = texts[start:start + chunk]
        shift = i % len(order)
        for label, model, out in order[shift:] + order[:shift]:
            started = time.perf_counter()
            out.append(model.encode(part))
            seconds[label] += time.perf_counter() - started
    if same:
        theirs, seconds["reference"] = ours, seconds["backend"]
    a, b = np.concatenate(ours), np.concatenate(theirs)
    cos = (a * b).sum(axis=1) if len(texts) else np.zeros(0)
    tokens = _tokens(embedder, texts)
    queries = query_pool([], 40)

    def side(label: str, model: Any) -> dict[str, Any]:
        took = max(seconds[label], 1e-9)
        # Single queries, uncached (encode, not encode_query): what one search pays for its dense leg.
        lat = [_time_call(lambda q=q: model.encode([q])) for q in queries]
        return {"name": model.name, "seconds": round(seconds[label], 2), "pairs_per_s": round(len(texts) / took, 1),
                "tokens_per_s": round(tokens / took, 1) if tokens is not None else None,
                "query_ms": round(percentiles(lat, (50,))["p50"] * 1000, 2)}

    result = {"texts": len(texts), "tokens": tokens, "backend": side("backend", embedder),
              "reference": side("reference", reference)}
    result["speedup"] = round(seconds["reference"] / max(seconds["backend"], 1e-9), 2)
    if plain is not None:
        result["plain"] = {**side("plain", plain), "max_tokens": getattr(plain, "max_tokens", None)}
        result["speedup_vs_plain"] = round(seconds["plain"] / max(seconds["backend"], 1e-9), 2)
    result["cosine"] = {"mean": round(float(cos.mean()), 4) if len(cos) else None,
                        "min": round(float(cos.min()), 4) if len(cos) else None,
                        "p5": round(float(np.percentile(cos, 5)), 4) if len(cos) else None}
    return result
