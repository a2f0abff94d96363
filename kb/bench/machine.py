"""Bench measuring aids: percentiles, timing, package versions, machine description and data-dir sizes."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import time
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kb.embed_onnx import quantization_for_cpu


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


def dir_size(path: Path) -> dict[str, int]:
    """Bytes under ``path``: ``{"total", <top-level entry>: bytes...}``."""
    sizes: dict[str, int] = {}
    for entry in Path(path).iterdir() if Path(path).exists() else []:
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        sizes[entry.name] = sum(p.stat().st_size for p in files)
    return {"total": sum(sizes.values()), **sizes}


def _time_call(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started
