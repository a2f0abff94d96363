"""Load test: N concurrent clients query /api/search on a local `kb serve` for a fixed time; prints latency and QPS.

Only loopback targets are allowed. Without --url it starts `kb serve` itself on a free port against KB_DATA_DIR.
Bounded: stops after --seconds or --max-requests, whichever comes first.

Example: python scripts/loadtest.py --clients 16 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERIES = [
    "At what IRQL can I call KeSetEvent?", "driver fails to unload", "WdfRequestSend STATUS_INVALID_DEVICE_STATE",
    "0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL", "USB selective suspend in KMDF", "how do I pend an IRP",
    "IoCompleteRequest after IoMarkIrpPending", "spin lock at DISPATCH_LEVEL", "allocate nonpaged pool",
    "ExAllocatePool2 POOL_FLAG_NON_PAGED", "set up kernel debugging over the network", "bug check 0x9F power",
    "WdfDeviceCreate fails", "how to sign a driver for testing", "INF file DestinationDirs", "DMA common buffer",
    "IRP_MN_REMOVE_DEVICE handling", "Driver Verifier special pool", "KeWaitForSingleObject timeout",
    "PnP start device resources", "!analyze -v", "filter driver attach to device stack",
]
LOOPBACK = ("127.", "localhost", "[::1]")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(threads: int) -> tuple[subprocess.Popen[bytes], str]:
    """`kb serve` on a free loopback port (KB_DATA_DIR and the other KB_* settings come from the environment).

    The API rate limit is off for it: every client of the test shares one loopback address.
    """
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from kbcli import cli; cli()", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--threads", str(threads)], cwd=ROOT,
                            env={**os.environ, "KB_API_RATE_LIMIT": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kb serve exited with status {proc.returncode}: is there a KB in KB_DATA_DIR?")
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("kb serve did not answer /api/health within 120 s")


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (0-100) of an ascending list, nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def run(url: str, clients: int, seconds: float, max_requests: int, k: int) -> dict[str, object]:
    """Hammer ``url``/api/search from ``clients`` threads; returns the counts and latency percentiles (ms)."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = [0]

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            with lock:
                if sent[0] >= max_requests:
                    return
                sent[0] += 1
            query = rng.choice(QUERIES)
            target = f"{url}/api/search?" + urllib.parse.urlencode({"q": query, "k": k})
            started = time.perf_counter()
            error = None
            try:
                with urllib.request.urlopen(target, timeout=30) as resp:
                    json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                error = type(exc).__name__
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if error:
                    errors[error] = errors.get(error, 0) + 1
                else:
                    latencies.append(elapsed)

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 60)
    wall = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies) + sum(errors.values()), "ok": len(latencies), "errors": errors,
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(latencies[-1], 1) if latencies else None,
        "qps": round(len(latencies) / wall, 1) if wall else 0.0, "seconds": round(wall, 1), "clients": clients,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="A running kb serve (loopback only), e.g. http://127.0.0.1:5000")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent clients (default 16).")
    parser.add_argument("--seconds", type=float, default=60, help="How long to run (default 60).")
    parser.add_argument("--max-requests", type=int, default=200_000, help="Stop after this many requests.")
    parser.add_argument("--k", type=int, default=10, help="Results per search (default 10).")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("KB_THREADS", "8")),
                        help="Waitress threads of the server this script starts (default KB_THREADS or 8).")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    proc = None
    url = args.url
    if url:
        host = urllib.parse.urlsplit(url).netloc
        if not host.startswith(LOOPBACK):
            parser.error("only loopback targets (127.0.0.1, localhost, [::1]) may be load-tested")
    else:
        proc, url = start_server(args.threads)
    try:
        result = run(url.rstrip("/"), args.clients, args.seconds, args.max_requests, args.k)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=30)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['requests']} requests, {sum(result['errors'].values())} errors {result['errors'] or ''} "
              f"in {result['seconds']} s with {result['clients']} clients")
        print(f"latency ms: p50 {result['p50_ms']}, p95 {result['p95_ms']}, p99 {result['p99_ms']}, "
              f"max {result['max_ms']}; {result['qps']} QPS")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
