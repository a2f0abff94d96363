"""Bench load: realistic distinct queries, the concurrent load runner, and the naive in-process baseline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np

from kb.bench.machine import percentiles

# Realistic queries on top of the dev set's: symptoms, API names, error codes, how-tos.
QUERIES = (
    "what IRQL can I call KeSetEvent at", "WdfRequestSend", "IRQL_NOT_LESS_OR_EQUAL in my DPC",
    "how do I complete an IRP with STATUS_PENDING", "driver verifier detected violation 0xC4",
    "WdfDeviceCreate returns STATUS_INVALID_DEVICE_STATE", "how to sign a driver for testing",
    "ExAllocatePool2 vs ExAllocatePoolWithTag", "KMDF power managed queue stops", "inf file AddReg HKR",
    "windbg !analyze -v", "how do I read a registry value in DriverEntry", "IoCallDriver returns STATUS_PENDING",
    "UMDF 2 driver does not load", "cancel safe queue IoCsqInsertIrp", "MmMapLockedPagesSpecifyCache",
    "how to share memory between user mode and a kernel driver", "DRIVER_POWER_STATE_FAILURE 0x9F",
    "ObReferenceObjectByHandle access mode", "PnP remove lock IoAcquireRemoveLock", "WPP tracing setup",
    "USB bulk transfer with WdfUsbTargetPipeWriteSynchronously", "spin lock at DISPATCH_LEVEL",
    "how to install a filter driver with devcon", "ZwCreateFile from a system thread", "what is a KMDF collection",
)
PREFIXES = ("", "how do I fix: ", "question about ", "in a KMDF driver, ", "windows driver: ", "help: ", "quick q: ")


def query_pool(entries: Sequence[dict[str, Any]], n: int) -> list[str]:
    """``n`` distinct realistic queries (dev set first, then built-ins, then prefixed variants).

    Distinct, so the servers' query-vector caches do not flatter the latencies.
    """
    base = [e["q"] for e in entries] + list(QUERIES)
    pool = list(dict.fromkeys(prefix + q for prefix in PREFIXES for q in base))
    return [pool[i % len(pool)] for i in range(n)]


def run_load(make_call: Callable[[], Callable[[str], bool]], queries: Sequence[str], clients: int,
             per_client: int, time_limit: float = 120.0) -> dict[str, Any]:
    """Run ``clients`` threads, each making up to ``per_client`` calls (stopping at ``time_limit`` seconds).

    Args:
        make_call: gives each thread its own ``call(query)``, returning True when it worked, else False or a short
            error kind (``"HTTP 503"``); an exception counts as an error of its type's name. A ``close`` attribute
            on the call is called when the thread ends.
        queries: client i uses ``queries[i * per_client:]`` (wrapping), so no two calls share a query.
        clients: concurrent threads.
        per_client: calls per thread.
        time_limit: seconds after which threads stop starting calls.

    Returns:
        ``{"clients", "requests", "ok", "errors", "error_kinds": {kind: n}, "seconds", "qps", "latency_ms":
        {"p50", "p95", "p99", "mean", "max"}}`` (latencies of successful calls).
    """
    results: list[tuple[float, bool | str]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit

    def worker(i: int) -> None:
        call = make_call()
        try:
            for j in range(per_client):
                if time.monotonic() > deadline:
                    break
                query = queries[(i * per_client + j) % len(queries)]
                started = time.perf_counter()
                try:
                    outcome = call(query)
                except Exception as exc:
                    outcome = type(exc).__name__
                with lock:
                    results.append((time.perf_counter() - started, outcome))
        finally:
            if hasattr(call, "close"):
                call.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, deadline - time.monotonic()) + 60)
    wall = time.perf_counter() - started
    lat = [t for t, outcome in results if outcome is True]
    ok = len(lat)
    kinds: dict[str, int] = {}
    for _, outcome in results:
        if outcome is not True:
            kinds[str(outcome or "failed")] = kinds.get(str(outcome or "failed"), 0) + 1
    stats = {k: round(v * 1000, 2) for k, v in percentiles(lat).items()}
    stats["mean"] = round(1000 * sum(lat) / ok, 2) if ok else float("nan")
    stats["max"] = round(1000 * max(lat), 2) if ok else float("nan")
    return {"clients": clients, "requests": len(results), "ok": ok, "errors": len(results) - ok, "error_kinds": kinds,
            "seconds": round(wall, 2), "qps": round(ok / wall, 1) if wall else 0.0, "latency_ms": stats}


def bench_baseline(vectors: np.ndarray, reference: Any, queries: Sequence[str], levels: Sequence[int],
                   per_client: int, time_limit: float) -> dict[str, Any]:
    """The naive search: fp32 query encode + faiss ``IndexFlatIP``, in this process, no keyword legs, no HTTP.

    Returns:
        ``{"vectors", "levels": [run_load results]}``.
    """
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def make_call() -> Callable[[str], bool]:
        def call(query: str) -> bool:
            flat.search(reference.encode([query]).reshape(1, -1), 10)
            return True
        return call

    return {"vectors": int(flat.ntotal),
            "levels": [run_load(make_call, queries, c, per_client, time_limit) for c in levels]}
