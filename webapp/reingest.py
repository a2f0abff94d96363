"""The admin's re-ingest: `kb ingest` of the configured sources in a background thread, one run at a time."""

from __future__ import annotations

import shlex
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from kb.settings import PROJECT_ROOT

# What `make build` ingests before KB_SOURCES (the Makefile's STARTER): our handbook and curated scripts.
STARTER = (PROJECT_ROOT / "data" / "handbook", PROJECT_ROOT / "data" / "scripts")
EXTENSION = "reingest_job"


def configured_sources(config: dict[str, Any]) -> list[Path]:
    """The starter content plus ``SOURCES`` (space-separated; quote paths with spaces), as `make build` ingests them."""
    extra = [Path(p).expanduser() for p in shlex.split(str(config.get("SOURCES") or ""))]
    return [*STARTER, *extra]


class ReingestJob:
    """One background re-ingest at a time, with a status a page can show."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._status: dict[str, Any] = {"state": "idle", "sources": [], "started_at": None, "finished_at": None,
                                        "seconds": None, "summary": None, "error": None}

    def status(self) -> dict[str, Any]:
        """``{"state": idle|running|done|failed, "sources", "started_at", "finished_at", "seconds", "summary",
        "error"}``."""
        with self._lock:
            return dict(self._status)

    def start(self, app: Flask, kb: Any, sources: list[Path]) -> bool:
        """Start a run unless one is going.

        Args:
            app: the Flask app (its logger reports failures).
            kb: the KB service; its ``reingest(sources)`` does the work.
            sources: folders, archives and files to ingest.

        Returns:
            False when a run is already going (nothing started).
        """
        with self._lock:
            if self._status["state"] == "running":
                return False
            self._status = {"state": "running", "sources": [str(s) for s in sources],
                            "started_at": _now(), "finished_at": None, "seconds": None, "summary": None, "error": None}
            self._thread = threading.Thread(target=self._run, args=(app, kb, sources), name="kb-reingest",
                                            daemon=True)
            self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run to end (tests, shutdown). Returns False on timeout."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, app: Flask, kb: Any, sources: list[Path]) -> None:
        started = time.perf_counter()
        try:
            summary = kb.reingest(sources)
            update = {"state": "done", "summary": summary}
        except Exception as exc:  # a background thread: the status page is the only place the failure shows
            app.logger.exception("re-ingest failed")
            update = {"state": "failed", "error": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            self._status.update(update, finished_at=_now(), seconds=round(time.perf_counter() - started, 1))


def get_job(app: Flask) -> ReingestJob:
    """The app's re-ingest job (created on first use)."""
    job = app.extensions.get(EXTENSION)
    if job is None:
        job = app.extensions.setdefault(EXTENSION, ReingestJob())
    return job


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
