"""A FakeKB over hand-written results (tests/data/webapp/fake_kb.yml), plus web fixtures and the API error check."""

from __future__ import annotations

import contextlib
import copy
import re
import threading
from collections.abc import Iterator
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
FAKE_CATALOG_DATA = Path(__file__).resolve().parent / "data" / "catalog" / "fake_catalog.yml"
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
        self._load_catalog(FAKE_CATALOG_DATA)

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
        """One script in the shape of kb.app.KB.get_script (the scripts row, its source's facts, linking pairs)."""
        self._enter("get_script", script_id)
        raw = self._scripts.get(script_id)
        if raw is None:
            raise NotFound(f"No script with id {script_id!r}: it may have been removed by a re-ingest.")
        return copy.deepcopy(self._script_row(raw)) | {"pairs": self._linking("scripts", "id", script_id)}

    # -- catalog: samples, scripts, source pages, open questions, feedback, admin (tests/data/catalog) ---------------
    def _load_catalog(self, path: Path) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.feedback_rows: list[dict[str, Any]] = []
        self.hidden: set[str] = set()
        self.reingest_calls: list[list[str]] = []
        self.reingest_gate: Any = None  # a threading.Event the fake reingest waits on, when a test sets one
        for key, src in self._sources.items():
            src.setdefault("key", key)
        by_path = {s["path"]: s for s in self._samples.values()}
        for sample_path, facts in data["samples"].items():
            sample = by_path.setdefault(sample_path, {"path": sample_path})
            sample.update({k: v for k, v in facts.items() if k not in ("ddis", "more_ddis", "readme_source")})
            ddis = list(facts.get("ddis", []))
            ddis += [{"name": f"WdfHelper{i:02d}", "documented": False, "places": [[f"{sample_path}/helper.c", 10 + i]]}
                     for i in range(facts.get("more_ddis", 0))]
            blob = "https://github.com/microsoft/Windows-driver-samples/blob/main/"
            sample["ddis"] = [{"name": d["name"], "documented": d["documented"],
                               "places": [{"file": f, "line": ln, "url": f"{blob}{f}#L{ln}"} for f, ln in d["places"]]}
                              for d in ddis]
            readme = self._sources[facts["readme_source"]]["path"] if facts.get("readme_source") else None
            sample["readme"] = [p for p in self._pairs if p["source"]["path"] == readme]
            sample["pairs"] = self._linking("samples", "path", sample_path)
        self._samples = {s["path"]: s for s in by_path.values()}
        asked = {(self._sources[a["source"]]["path"], tuple(a["question"])): a["asked_by"] for a in data["askers"]}
        for pair in self._pairs:
            pair["asked_by"] = asked.get((pair["source"]["path"], tuple(pair["source"]["locator"].get("question", []))))
        self._catalog_open = []
        for item in data["open_questions"]:
            src = self._sources.get(item["source"]) if item["source"] else None
            self._catalog_open.append(dict(item) | {"source": src["path"] if src else None,
                                                    "source_title": src["title"] if src else None,
                                                    "source_url": src["url"] if src else None})
        for raw in data["curated_scripts"]:  # their source is their own file: not one of the fake's sources
            self._scripts[raw["id"]] = dict(raw) | {"source": None, "locator": {"script": raw["extra"]["file"]}}

    def _linking(self, field: str, key: str, target: str) -> list[dict[str, Any]]:
        out = []
        for pair in self._pairs:
            link = next((x for x in pair[field] if x.get(key) == target), None)
            if link is not None:
                out.append(copy.deepcopy(pair) | {"link": copy.deepcopy(link)})
        return out

    def _script_row(self, raw: dict[str, Any]) -> dict[str, Any]:
        curated = raw["source"] is None
        src = {"kind": "curated-script", "title": None, "url": None} if curated else self._sources[raw["source"]]
        path = raw["extra"]["file"] if curated else src["path"]
        return {k: v for k, v in raw.items() if k != "source"} | {
            "source": path, "source_kind": src["kind"], "source_title": path if curated else src["title"],
            "source_url": src["url"], "curated": curated, "extra": dict(raw.get("extra") or {}),
            "topics": list(raw.get("topics") or [])}

    def scripts(self, curated_only: bool = True) -> list[dict[str, Any]]:
        self._enter("scripts", curated_only)
        rows = [self._script_row(raw) for raw in self._scripts.values()]
        rows = [r for r in rows if r["curated"] or not curated_only]
        keys = ("id", "title", "tool", "purpose", "topics", "source")
        return sorted(({k: r[k] for k in keys} for r in rows), key=lambda r: r["title"])

    def samples(self, driver_type: str | None = None, topic: str | None = None) -> list[dict[str, Any]]:
        self._enter("samples", driver_type, topic)
        out = []
        for s in sorted(self._samples.values(), key=lambda s: s["path"]):
            types = s.get("driver_types", [])
            if driver_type and driver_type.upper() not in [t.upper() for t in types]:
                continue
            if topic and not any(topic in p["topics"] for p in s.get("pairs", [])):
                continue
            out.append({"path": s["path"], "title": s["title"], "description": s.get("description", ""),
                        "url": s.get("url", ""), "driver_types": types, "inf_classes": s.get("inf_classes", []),
                        "ddi_count": len(s.get("ddis", [])), "pair_count": len(s.get("pairs", []))})
        return out

    def get_source(self, path: str) -> dict[str, Any]:
        self._enter("get_source", path)
        src = next((s for s in self._sources.values() if s["path"] == path and path), None)
        if src is None:
            raise NotFound(f"no source {path!r} in this KB")
        return {"path": path, "kind": src["kind"], "title": src["title"], "url": src["url"], "description": "",
                "meta": {"thread": True} if src["kind"] == "thread" else {},
                "pairs": [copy.deepcopy(p) for p in self._pairs if p["source"]["path"] == path],
                "open_questions": [{k: q[k] for k in ("id", "question", "asked_by", "locator")}
                                   for q in self._catalog_open if q["source"] == path]}

    def source_page(self, path: str) -> dict[str, Any]:
        return self.get_source(path)

    def open_questions(self, limit: int = 200) -> list[dict[str, Any]]:
        self._enter("open_questions", limit)
        return copy.deepcopy(sorted(self._catalog_open, key=lambda q: (q["origin"], q["source"] or ""))[:limit])

    def record_feedback(self, query: str, pair_id: str, verdict: str, reason: str = "", origin: str = "web",
                        user: str | None = None) -> int:
        self._enter("record_feedback", query, pair_id, verdict, reason, origin, user)
        if pair_id not in self._by_id:
            raise NotFound(f"no pair with id {pair_id!r}")
        if verdict not in ("helpful", "not-helpful"):
            raise BadQuery("verdict must be one of ('helpful', 'not-helpful')")
        self.feedback_rows.insert(0, {"id": len(self.feedback_rows) + 1, "query": query, "pair_id": pair_id,
                                      "verdict": verdict, "reason": reason, "origin": origin, "user": user,
                                      "created_at": "2024-06-03T09:00:00Z", "status": "active",
                                      "question": self._by_id[pair_id]["question"]})
        return len(self.feedback_rows)

    def feedback_listing(self, limit: int = 200) -> list[dict[str, Any]]:
        self._enter("feedback_listing", limit)
        return copy.deepcopy(self.feedback_rows[:limit])

    def set_feedback_status(self, feedback_id: int, status: str) -> None:
        self._enter("set_feedback_status", feedback_id, status)
        row = next((r for r in self.feedback_rows if r["id"] == feedback_id), None)
        if row is None:
            raise NotFound(f"no feedback with id {feedback_id}: reload the feedback list")
        if status not in ("active", "dismissed"):
            raise BadQuery("status must be active or dismissed")
        row["status"] = status

    def set_hidden(self, pair_id: str, hidden: bool) -> None:
        self._enter("set_hidden", pair_id, hidden)
        if pair_id not in self._by_id:
            raise NotFound(f"no pair with id {pair_id!r}")
        (self.hidden.add if hidden else self.hidden.discard)(pair_id)

    def hidden_pairs(self, limit: int = 200) -> list[dict[str, Any]]:
        self._enter("hidden_pairs", limit)
        return [{"id": p["id"], "question": p["question"], "source": p["source"]["path"], "heading": p["heading"]}
                for p in self._pairs if p["id"] in self.hidden][:limit]

    def reingest(self, sources: list[Path]) -> dict[str, Any]:
        self._enter("reingest", sources)
        self.reingest_calls.append([str(s) for s in sources])
        if self.reingest_gate is not None and not self.reingest_gate.wait(10):
            raise RuntimeError("the test never opened the reingest gate")
        return {"parsed": 1, "pairs_added": 2, "pairs_updated": 0, "pairs_removed": 0, "skipped": [],
                "index": {"count": len(self._pairs)}}

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


@contextlib.contextmanager
def serve_app(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug on a free port of 127.0.0.1 in a thread; yields its base URL, always stops."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kb-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


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
