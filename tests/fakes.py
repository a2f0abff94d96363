"""A FakeKB over hand-written results (tests/data/webapp/fake_kb.yml), plus web fixtures and the API error check."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from kb.errors import BadQuery
from kb.errors import NotFound
from kb.errors import UnknownTopic
from kb.models import make_pair_id
from kb.settings import DEFAULTS
from webapp import create_app

FAKE_KB_DATA = Path(__file__).resolve().parent / "data" / "webapp" / "fake_kb.yml"
_WORD_RE = re.compile(r"\w+")
# Sources the fake ranks first in topic listings, like "best sources first" in the real one.
_KIND_RANK = {"handbook": 0, "learn-doc": 1, "api-ref": 2, "sample-readme": 3, "article": 4, "thread": 5}


class FakeKB:
    """Implements kb.service.KBService over a dozen realistic pairs; word-overlap ranking.

    ``fail`` maps a method name to an exception that method raises (to test error handling).
    """

    def __init__(
        self,
        path: Path = FAKE_KB_DATA,
        top_k: int | None = None,
        max_k: int | None = None,
        max_query_chars: int | None = None,
    ) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.top_k = top_k or DEFAULTS["TOP_K"]
        self.max_k = max_k or DEFAULTS["MAX_K"]
        self.max_query_chars = max_query_chars or DEFAULTS["MAX_QUERY_CHARS"]
        self.fail: dict[str, Exception] = {}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._topics = data["topics"]
        self._sources = data["sources"]
        self._open_questions = data["open_questions"]
        self._samples = data["samples"]
        self._scripts = {s["id"]: s for s in data["scripts"]}
        self._pairs = [self._result(p) for p in data["pairs"]]
        self._by_id = {p["id"]: p for p in self._pairs}

    def _result(self, raw: dict[str, Any]) -> dict[str, Any]:
        src = self._sources[raw["source"]]
        source = {k: src[k] for k in ("kind", "path", "title", "url")} | {"locator": raw["locator"]}
        return {
            "id": make_pair_id(src["path"], raw["locator"]),
            "question": raw["question"].strip(),
            "answer": raw["answer"],
            "score": 0.0,
            "topics": list(raw.get("topics", [])),
            "source": source,
            "kind": raw.get("kind", "section"),
            "heading": raw.get("heading", ""),
            "answered_by": raw.get("answered_by"),
            "samples": [dict(s) for s in raw.get("samples", [])],
            "scripts": [dict(s) for s in raw.get("scripts", [])],
        }

    def _enter(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise self.fail[name]

    @property
    def pair_ids(self) -> list[str]:
        """Ids of every pair, in file order."""
        return [p["id"] for p in self._pairs]

    def pair_by_question(self, fragment: str) -> dict[str, Any]:
        """The first pair whose question contains ``fragment`` (test convenience)."""
        return next(p for p in self._pairs if fragment in p["question"])

    def search(
        self, query: str, k: int | None = None, topics: tuple[str, ...] = (), kinds: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        self._enter("search", query, k, topics, kinds)
        if not query or not query.strip():
            raise BadQuery("Empty query: type a question, an API name or an error code.")
        if len(query) > self.max_query_chars:
            raise BadQuery(f"Query is {len(query)} characters; shorten it to at most {self.max_query_chars}.")
        if k is not None and not 1 <= k <= self.max_k:
            raise BadQuery(f"k={k} is out of range: ask for 1 to {self.max_k} results.")
        known = {t["id"] for t in self._topics}
        for topic in topics:
            if topic not in known:
                raise UnknownTopic(f"Unknown topic {topic!r}: see /api/topics for the topic ids.")
        words = {w.lower() for w in _WORD_RE.findall(query)}
        scored = []
        for pair in self._pairs:
            if topics and not set(topics) & set(pair["topics"]):
                continue
            if kinds and pair["source"]["kind"] not in kinds:
                continue
            question = {w.lower() for w in _WORD_RE.findall(pair["question"] + " " + pair["heading"])}
            answer = {w.lower() for w in _WORD_RE.findall(pair["answer"])}
            score = 2 * len(words & question) + len(words & answer)
            if score:
                scored.append((score, pair))
        scored.sort(key=lambda item: -item[0])
        results = [copy.deepcopy(p) | {"score": round(s / 100, 4)} for s, p in scored[: k or self.top_k]]
        return {"query": query, "took_ms": 1.5, "total": len(scored), "results": results}

    def get_pair(self, pair_id: str) -> dict[str, Any]:
        self._enter("get_pair", pair_id)
        pair = self._by_id.get(pair_id)
        if pair is None:
            raise NotFound(f"No pair with id {pair_id!r}: search again, the index may have been rebuilt.")
        related = [
            copy.deepcopy(p)
            for p in self._pairs
            if p["id"] != pair_id and set(p["topics"]) & set(pair["topics"])
        ][:3]
        return copy.deepcopy(pair) | {"related": related}

    def topics(self) -> list[dict[str, Any]]:
        self._enter("topics")
        return [
            dict(t) | {"count": sum(t["id"] in p["topics"] for p in self._pairs)} for t in self._topics
        ]

    def topic_pairs(self, topic: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        self._enter("topic_pairs", topic, limit, offset)
        if topic not in {t["id"] for t in self._topics}:
            raise UnknownTopic(f"Unknown topic {topic!r}: see /topics for the list.")
        tagged = [p for p in self._pairs if topic in p["topics"]]
        tagged.sort(key=lambda p: _KIND_RANK.get(p["source"]["kind"], 9))
        return copy.deepcopy(tagged[offset : offset + limit])

    def source_kinds(self) -> list[dict[str, Any]]:
        self._enter("source_kinds")
        counts: dict[str, int] = {}
        for pair in self._pairs:
            counts[pair["source"]["kind"]] = counts.get(pair["source"]["kind"], 0) + 1
        return [{"kind": kind, "count": n} for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def get_script(self, script_id: str) -> dict[str, Any]:
        """Not in KBService yet: the shape the /scripts/<id> page expects."""
        self._enter("get_script", script_id)
        raw = self._scripts.get(script_id)
        if raw is None:
            raise NotFound(f"No script with id {script_id!r}: it may have been removed by a re-ingest.")
        src = self._sources[raw["source"]]
        source = {k: src[k] for k in ("kind", "path", "title", "url")} | {"locator": raw["locator"]}
        return {k: v for k, v in raw.items() if k != "source"} | {"source": source}

    def stats(self) -> dict[str, Any]:
        self._enter("stats")
        return {
            "sources": len(self._sources),
            "pairs": len(self._pairs),
            "open_questions": self._open_questions,
            "samples": len(self._samples),
            "scripts": len(self._scripts),
            "by_kind": {k["kind"]: k["count"] for k in self.source_kinds()},
            "index": {"backend": "fake", "model": "none", "dim": 0, "count": len(self._pairs), "built_at": None},
        }

    def pair_by_ref(self, ref: str) -> dict[str, Any] | None:
        """The pair with a stable ref ``<source path>#<anchor>`` (anchors as kb.pipeline.pair_anchor makes), or None."""
        self._enter("pair_by_ref", ref)
        from kb.pipeline import pair_anchor

        path, _, anchor = ref.partition("#")
        for pair in self._pairs:
            source = pair["source"]
            if source["path"] == path and (not anchor or pair_anchor(source["locator"]) == anchor):
                return copy.deepcopy(pair) | {"ref": f"{path}#{pair_anchor(source['locator'])}"}
        return None

    def get_sample(self, path: str) -> dict[str, Any]:
        """A catalog sample in the shape of kb.app.KB.get_sample (few facts: the fake catalog is small)."""
        self._enter("get_sample", path)
        raw = next((s for s in self._samples.values() if s["path"] == path), None)
        if raw is None:
            raise NotFound(f"no sample {path!r}: see /samples for the catalog")
        return {"description": "", "driver_types": [], "inf_classes": [], "projects": [], "ddis": [], "readme": [],
                "pairs": []} | dict(raw)


def make_test_app(kb: FakeKB | None = None, **config: Any) -> Flask:
    """A create_app() with TESTING on and a FakeKB (a fresh one unless given)."""
    return create_app({"TESTING": True} | config, kb=kb if kb is not None else FakeKB())


@pytest.fixture
def fake_kb() -> FakeKB:
    return FakeKB()


@pytest.fixture
def app(fake_kb: FakeKB) -> Flask:
    return make_test_app(fake_kb)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def assert_api_error(resp: Any, status: int) -> dict[str, Any]:
    """Pin the one JSON error shape: ``{"ok": false, "error": str, "status": int}`` with that HTTP status.

    Returns:
        The decoded body, for further checks on the message.
    """
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"ok", "error", "status"}, body
    assert body["ok"] is False
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"].strip()
    assert "Traceback" not in body["error"]
    return body
