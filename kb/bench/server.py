"""Bench http phase: a `kb serve` subprocess, a keep-alive search client, and latency and memory under load."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from kb.app import KB
from kb.bench.load import run_load
from kb.bench.machine import _time_call
from kb.settings import PROJECT_ROOT

LOOPBACK = "127.0.0.1"


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
