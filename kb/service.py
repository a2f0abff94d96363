"""The KB facade: the one object every adapter (web UI, JSON API, Slack, CLI) talks to.

Result shape (``SearchResult``), shared by ``/api/search``, ``kb search --json`` and ``kb export``::

    {"id": "3f2a...", "question": "...", "answer": "markdown", "score": 0.032,
     "topics": ["kmdf", "irp"],
     "source": {"kind": "learn-doc", "path": "windows-driver-docs-pr/...md", "title": "...",
                "url": "https://learn.microsoft.com/..." | None, "locator": {...}},
     "kind": "section", "heading": "Page > Section", "answered_by": None,
     "samples": [{"path", "title", "url", "reason", "evidence"}],
     "scripts": [{"id", "path", "title", "url", "reason", "evidence"}]}

``search`` returns ``{"query", "took_ms", "results": [SearchResult, ...]}`` (plus ``"total"`` candidates).
"""

from __future__ import annotations

from typing import Any
from typing import Protocol


class KBService(Protocol):
    """What adapters may call. ``kb.app.KB`` implements it; tests may pass a fake."""

    def search(
        self, query: str, k: int | None = None, topics: tuple[str, ...] = (), kinds: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Hybrid search. Raises kb.errors.BadQuery for empty/oversized queries or bad k."""

    def get_pair(self, pair_id: str) -> dict[str, Any]:
        """One SearchResult (score 0) plus ``"related": [SearchResult...]``. Raises kb.errors.NotFound."""

    def topics(self) -> list[dict[str, Any]]:
        """Every topic: ``[{"id", "name", "description", "count"}]`` (count = pairs tagged with it)."""

    def topic_pairs(self, topic: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Pairs tagged with a topic, best sources first. Raises kb.errors.UnknownTopic."""

    def source_kinds(self) -> list[dict[str, Any]]:
        """``[{"kind", "count"}]`` of ingested source kinds (for the filter menu)."""

    def stats(self) -> dict[str, Any]:
        """Counts: ``{"sources", "pairs", "open_questions", "samples", "scripts", "index": {...}}``."""
