"""Bench ann phase: recall, speed and size of faiss ANN variants against exact search."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from kb.bench.machine import percentiles

ANN_K = (10, 100)


def ann_variants(n: int) -> list[tuple[str, str, dict[str, int]]]:
    """(name, faiss factory string, search parameters) of the ANN variants compared with exact search."""
    nlist = max(1, min(int(4 * n ** 0.5), n // 39))
    out = [("flat", "Flat", {}), ("sq8", "SQ8", {})]
    out += [(f"hnsw32-ef{ef}", "HNSW32", {"efSearch": ef}) for ef in (32, 128, 256)]
    out += [(f"ivf{nlist}-nprobe{p}", f"IVF{nlist},Flat", {"nprobe": p}) for p in (4, 16, 64) if p <= nlist or p == 4]
    out.append((f"ivf{nlist}-sq8-nprobe16", f"IVF{nlist},SQ8", {"nprobe": min(16, nlist)}))
    return out


def bench_ann(vectors: np.ndarray, query_vectors: np.ndarray) -> dict[str, Any]:
    """Recall of faiss ANN variants against exact flat search, with build and query times and size.

    Returns:
        ``{"vectors", "queries", "variants": [{"name", "build_s", "mb", "recall@10", "recall@100", "query_ms"}]}``.
    """
    import faiss

    xb = np.ascontiguousarray(vectors, dtype=np.float32)
    xq = np.ascontiguousarray(query_vectors, dtype=np.float32)
    exact = faiss.IndexFlatIP(xb.shape[1])
    exact.add(xb)
    ks = [min(k, len(xb)) for k in ANN_K]
    _, truth = exact.search(xq, max(ks))
    variants = []
    for name, spec, params in ann_variants(len(xb)):
        started = time.perf_counter()
        index = faiss.index_factory(xb.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            index.train(xb)
        index.add(xb)
        build = time.perf_counter() - started
        space = faiss.ParameterSpace()
        for key, value in params.items():
            space.set_index_parameter(index, key, value)
        lat, found = [], []
        for q in xq:
            started = time.perf_counter()
            _, ids = index.search(q.reshape(1, -1), max(ks))
            lat.append(time.perf_counter() - started)
            found.append(ids[0])
        row: dict[str, Any] = {"name": name, "build_s": round(build, 3),
                               "mb": round(faiss.serialize_index(index).nbytes / 1e6, 2)}
        for k, label in zip(ks, ANN_K, strict=True):
            hits = [len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)] if k else []
            row[f"recall@{label}"] = round(float(np.mean(hits)), 4) if hits else None
        row["query_ms"] = round(percentiles(lat, (50,))["p50"] * 1000, 3)
        variants.append(row)
    return {"vectors": len(xb), "queries": len(xq), "variants": variants}
