"""`kb bench`: measure ingest, embedding, index, re-ingest, quality, HTTP latency and ANN options; return dicts."""

from __future__ import annotations

import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from kb import eval as kb_eval
from kb import index as vindex
from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.embed_onnx import quantization_for_cpu
from kb.settings import PROJECT_ROOT
from kb.sources import is_archive
from kb.sources import wanted

LOOPBACK = "127.0.0.1"
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
ANN_K = (10, 100)


def percentiles(values: Sequence[float], points: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """Percentiles by linear interpolation between closest ranks (numpy's default method).

    Returns:
        ``{"p50": v, "p95": v, "p99": v}`` (keys follow ``points``); empty input gives NaN values.
    """
    ordered = sorted(values)
    out: dict[str, float] = {}
    for p in points:
        if not ordered:
            out[f"p{p:g}"] = float("nan")
            continue
        pos = (len(ordered) - 1) * p / 100.0
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        out[f"p{p:g}"] = ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
    return out


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on.

    Returns:
        ``{"cpu", "cores", "cores_available", "ram_gb", "int8_config", "load_avg", "python", "versions": {...}}``.
    """
    cpu, ram_kb = platform.processor() or "unknown", 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        ram_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    packages = ("torch", "sentence-transformers", "transformers", "onnxruntime", "optimum", "faiss-cpu", "numpy")
    return {
        "cpu": cpu, "cores": os.cpu_count(), "cores_available": len(os.sched_getaffinity(0)),
        "ram_gb": round(ram_kb / 1024 / 1024, 1), "int8_config": quantization_for_cpu(),
        "load_avg": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
        "versions": {p: _version(p) for p in packages},
    }


def default_sources(corpus_dir: Path) -> list[Path]:
    """The full shared corpus: docs and API reference tarballs, the seeds and the samples catalog."""
    names = ("windows-driver-docs.tar.gz", "windows-driver-docs-ddi.tar.gz", "seeds", "driver-samples.json.gz")
    return [corpus_dir / name for name in names]


def _safe(name: str) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return None if not parts or ".." in parts or name.startswith("/") else "/".join(parts)


def stage_sources(sources: Sequence[Path], dest: Path, limit: int | None = None,
                  include: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """Copy folders (so a page can be changed later) and, with ``limit``, subsets of archives, into ``dest``.

    Path keys stay those of the originals: an archive subset is extracted to a folder whose walk gives the
    member names back. Single files and whole archives (no limit) are used in place.

    Args:
        sources: folders, archives and files.
        dest: empty work folder.
        limit: files per folder or archive (None: all).
        include: path keys always taken past the limit (the dev set's gold pages).

    Returns:
        ``[{"source", "staged", "files"}]`` with ``staged`` the path to ingest.
    """
    out = []
    for n, source in enumerate(sources):
        source = Path(source)
        target = dest / f"{n}" / source.name
        if source.is_dir():
            files = 0
            for folder, dirs, names in os.walk(source):
                dirs.sort()
                for name in sorted(names):
                    rel = (Path(folder) / name).relative_to(source)
                    if not wanted(name) or (limit is not None and files >= limit
                                             and f"{source.name}/{rel.as_posix()}" not in include):
                        continue
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(Path(folder) / name, target / rel)
                    files += 1
            out.append({"source": str(source), "staged": str(target), "files": files})
        elif is_archive(source) and limit is not None:
            root, files, tops = dest / f"{n}" / "x", 0, set()
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    name = _safe(member.name)
                    if not member.isfile() or name is None or not wanted(name):
                        continue
                    if files >= limit and name not in include:
                        continue
                    fh = tar.extractfile(member)
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    (root / name).write_bytes(fh.read() if fh else b"")
                    tops.add(name.split("/", 1)[0])
                    files += 1
            # One tree root (windows-driver-docs-pr, wdk-ddi-src) keeps its name as the path prefix.
            staged = root / tops.pop() if len(tops) == 1 else root
            out.append({"source": str(source), "staged": str(staged), "files": files})
        else:
            out.append({"source": str(source), "staged": str(source), "files": 1})
    return out


def dir_size(path: Path) -> dict[str, int]:
    """Bytes under ``path``: ``{"total", <top-level entry>: bytes...}``."""
    sizes: dict[str, int] = {}
    for entry in Path(path).iterdir() if Path(path).exists() else []:
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes[entry.name] = sum(p.stat().st_size for p in files)
    return {"total": sum(sizes.values()), **sizes}


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


def _tokens(embedder: Any, texts: list[str]) -> int | None:
    return embedder.count_tokens(texts) if hasattr(embedder, "count_tokens") else None


def sample_texts(kb: KB, n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` pair texts (as the embedder sees them), a seeded random sample."""
    texts = [pipeline.embed_text(q, a) for q, a in kb.db.execute("SELECT question, answer FROM pairs WHERE hidden = 0")]
    return random.Random(seed).sample(texts, min(n, len(texts)))


def bench_embed_compare(texts: list[str], embedder: Any, reference: Any, chunk: int = 256) -> dict[str, Any]:
    """Throughput of the configured embedder and of the fp32 reference on the same texts, and their agreement.

    The two run in alternating chunks (order swapped each time), so background load hits both alike.

    Returns:
        ``{"texts", "tokens", "backend": {"name", "seconds", "pairs_per_s", "tokens_per_s", "query_ms"},
        "reference": {...}, "speedup", "cosine": {"mean", "min", "p5"}}``.
    """
    if not texts:
        return {"skipped": "no pairs to embed"}
    ours, theirs = [], []
    seconds = {"backend": 0.0, "reference": 0.0}
    same = reference is embedder  # the torch backend is its own reference: measure it once
    embedder.encode(texts[:8])
    reference.encode(texts[:8])
    for i, start in enumerate(range(0, len(texts), chunk)):
        part = texts[start:start + chunk]
        order = [("backend", embedder, ours)] + ([] if same else [("reference", reference, theirs)])
        for label, model, out in order if i % 2 == 0 else order[::-1]:
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
    result["cosine"] = {"mean": round(float(cos.mean()), 4) if len(cos) else None,
                        "min": round(float(cos.min()), 4) if len(cos) else None,
                        "p5": round(float(np.percentile(cos, 5)), 4) if len(cos) else None}
    return result


def _time_call(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def change_one_page(staged: Sequence[dict[str, Any]], kb: KB) -> str | None:
    """Edit the smallest page (with pairs) of the first staged folder; returns its path key, or None."""
    for item in staged:
        root = Path(item["staged"])
        if not root.is_dir() or item["staged"] == item["source"]:
            continue
        prefix = root.name + "/" if root.name in ("windows-driver-docs-pr", "wdk-ddi-src") else ""
        counts = dict(kb.db.execute("SELECT source, count(*) FROM pairs GROUP BY source").fetchall())
        files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        for path in files:
            key = prefix + path.relative_to(root).as_posix()
            if counts.get(key) and not path.name.endswith(".gz"):
                answer = kb.db.execute("SELECT answer FROM pairs WHERE source = ? ORDER BY position LIMIT 1",
                                       [key]).fetchone()[0]
                text = path.read_text(errors="replace")
                snippet = next((w for w in answer.split() if len(w) > 6 and w in text), None)
                edited = text.replace(snippet, snippet + " (edited)", 1) if snippet else text + "\nEdited.\n"
                path.write_text(edited)
                return key
    return None


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


class HttpSearch:
    """One keep-alive HTTP connection making ``GET /api/search?q=...&k=10`` calls (a load-test client)."""

    def __init__(self, host: str, port: int, path: str = "/api/search", timeout: float = 60.0) -> None:
        self.host, self.port, self.path, self.timeout = host, port, path, timeout
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def __call__(self, query: str) -> bool | str:
        try:
            self.conn.request("GET", f"{self.path}?{urlencode({'q': query, 'k': 10})}")
            response = self.conn.getresponse()
            response.read()
            return True if response.status == 200 else f"HTTP {response.status}"
        except (OSError, http.client.HTTPException):
            self.conn.close()  # a fresh connection for the next call
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            raise

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def process_memory(pid: int) -> dict[str, float | None]:
    """Resident memory of a process in MB: ``{"rss_mb", "peak_rss_mb"}`` (None when unknown)."""
    out: dict[str, float | None] = {"rss_mb": None, "peak_rss_mb": None}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = {"VmRSS:": "rss_mb", "VmHWM:": "peak_rss_mb"}.get(line.split(" ", 1)[0].split("\t")[0])
            if key:
                out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


@dataclass
class Server:
    """A `kb serve` subprocess on 127.0.0.1."""

    proc: subprocess.Popen
    port: int
    log: Path


def start_server(data_dir: Path, env: dict[str, str], log: Path, timeout: float = 180.0) -> Server:
    """Start `kb serve` on 127.0.0.1 and a free port, and wait until /api/health answers.

    Raises:
        RuntimeError: the server exited or did not answer in time (the log's tail is in the message).
    """
    port = free_port()
    cmd = [sys.executable, "-c", "from kbcli import cli; cli()", "serve", "--host", LOOPBACK, "--port", str(port),
           "--data-dir", str(data_dir)]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=fh, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                conn.close()
                return server
            conn.close()
        time.sleep(0.3)
    stop_server(server)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"`kb serve` did not become ready on port {port}: {tail}")


def stop_server(server: Server) -> None:
    """Terminate the server (kill it after 10 s)."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(10)


def bench_http(kb: KB, env: dict[str, str], queries: Sequence[str], levels: Sequence[int], per_client: int,
               time_limit: float, log: Path) -> dict[str, Any]:
    """Search latency through HTTP against a real `kb serve` subprocess (always stopped afterwards).

    Returns:
        ``{"levels": [run_load results], "rss_mb", "peak_rss_mb", "matches_in_process", "warmup_ms"}``.
    """
    server = start_server(kb.data_dir, env, log)
    try:
        call = HttpSearch(LOOPBACK, server.port, timeout=300)
        probe = queries[0]
        warmup = _time_call(lambda: call(probe + " warm up"))  # loads the model and the index
        conn = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60)
        conn.request("GET", f"/api/search?{urlencode({'q': probe, 'k': 10})}")
        served = [r["id"] for r in json.loads(conn.getresponse().read())["results"]]
        conn.close()
        call.close()
        # Served results equal to in-process ones mean the server searched with the same embedder and index.
        matches = served == [r["id"] for r in kb.search(probe, k=10)["results"]]
        out: dict[str, Any] = {"port": server.port, "warmup_ms": round(warmup * 1000, 1), "matches_in_process": matches,
                               "levels": []}
        offset = 1  # queries[0] was the probe: every timed request asks something not asked before
        for clients in levels:
            part = list(queries[offset:]) + list(queries[:offset])
            load = run_load(lambda: HttpSearch(LOOPBACK, server.port), part, clients, per_client, time_limit)
            out["levels"].append(load)
            offset = (offset + clients * per_client) % len(queries)
        out.update(process_memory(server.proc.pid))
        return out
    finally:
        stop_server(server)


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


def run(options: BenchOptions, embedder: Any, reference: Any, progress: Callable[[str], None] = lambda _s: None
        ) -> dict[str, Any]:
    """Run every phase; a failing phase records ``{"error": ...}`` and the others still run.

    Args:
        options: sources, folders, sizes and which phases to run.
        embedder: the configured embedder (the KB is built with it).
        reference: the fp32 PyTorch embedder to compare with (same model and max length).
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
        _run_phases(options, report, phase, kb, embedder, reference, entries)
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
                kb: KB, embedder: Any, reference: Any, entries: list[dict[str, Any]] | None) -> None:
    s, backend = options.settings, options.settings["INDEX_BACKEND"]
    staged: list[dict[str, Any]] = []
    if not options.reuse:
        gold = {g for e in entries or [] for g in e["gold"]}
        staged = stage_sources(options.sources, options.work_dir / "sources", options.limit, gold)
        report["sources"] = staged
        phase("ingest", lambda: bench_ingest(kb, [Path(x["staged"]) for x in staged]))
        phase("build", lambda: bench_build(kb, embedder, backend))
    texts = sample_texts(kb, options.sample)
    phase("embed", lambda: bench_embed_compare(texts, embedder, reference))
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
