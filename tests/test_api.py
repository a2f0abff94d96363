"""JSON API: result shapes, validation at the edge and the one error shape."""

from __future__ import annotations

import logging

import pytest
from fakes import app  # noqa: F401  (pytest fixture)
from fakes import assert_api_error
from fakes import client  # noqa: F401  (pytest fixture)
from fakes import fake_kb  # noqa: F401  (pytest fixture)
from fakes import make_test_app
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from kb.errors import IndexNotBuilt
from kb.errors import MissingDependency
from kb.errors import UnknownTopic
from kb.settings import DEFAULTS
from webapp import CONTENT_SECURITY_POLICY


def test_search_returns_the_kb_result(client, fake_kb):
    resp = client.get("/api/search", query_string={"q": "KeSetEvent IRQL"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) >= {"query", "took_ms", "total", "results"}
    first = body["results"][0]
    assert first["question"] == "At what IRQL can KeSetEvent be called?"
    assert set(first) >= {"id", "question", "answer", "score", "topics", "source", "kind", "samples", "scripts"}
    assert fake_kb.calls[-1] == ("search", ("KeSetEvent IRQL", None, (), ()))


def test_search_passes_k_topics_and_kinds(client, fake_kb):
    resp = client.get("/api/search?q=IRQL&k=2&topic=irql,kmdf&topic=sync&kind=api-ref&kind=learn-doc,api-ref")
    assert resp.status_code == 200
    assert fake_kb.calls[-1] == ("search", ("IRQL", 2, ("irql", "kmdf", "sync"), ("api-ref", "learn-doc")))
    results = resp.get_json()["results"]
    assert 1 <= len(results) <= 2
    assert all(r["source"]["kind"] in {"api-ref", "learn-doc"} for r in results)


def test_search_filters_narrow_results(client):
    everything = client.get("/api/search?q=IRQL&k=50").get_json()["results"]
    memory = client.get("/api/search?q=IRQL&k=50&topic=memory").get_json()["results"]
    assert len(memory) < len(everything)
    assert memory and all("memory" in r["topics"] for r in memory)


@pytest.mark.parametrize(
    ("query_string", "status"),
    [
        ("", 400),  # no q at all
        ("q=", 400),
        ("q=%20%20%09", 400),  # only whitespace
        ("q=irql&k=0", 400),
        ("q=irql&k=-1", 400),
        ("q=irql&k=abc", 400),
        ("q=irql&k=1.5", 400),
        ("q=irql&k=9999", 400),
        ("q=irql&k=", 200),  # empty k means the default
        ("q=irql&k=50", 200),
        ("q=" + "a" * 5000, 400),
        ("q=%22foo", 200),  # unbalanced FTS quote
        ("q=AND%20OR", 200),
        ("q=NEAR(", 200),
        ("q=*", 200),
        ("q=irql%00%01%1b%7f", 200),  # control characters become spaces
        ("q=%00%01", 400),  # ... and nothing else is left
        ("q=%ff%fe", 400),  # not UTF-8
        ("q=caf%E9", 400),  # latin-1, not UTF-8
        ("q=caf%C3%A9", 200),
        ("q=irql&topic=no-such-topic", 404),
    ],
)
def test_search_validation_table(client, query_string, status):
    resp = client.get("/api/search?" + query_string)
    if status == 200:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert "results" in resp.get_json()
    else:
        assert_api_error(resp, status)


def test_control_characters_are_cleaned_before_the_kb(client, fake_kb):
    assert client.get("/api/search?q=KeSetEvent%00IRQL%0d%0a").status_code == 200
    assert fake_kb.calls[-1][1][0] == "KeSetEvent IRQL"


def test_query_length_limit_comes_from_settings(fake_kb):
    client = make_test_app(fake_kb, MAX_QUERY_CHARS=10, MAX_K=3).test_client()
    body = assert_api_error(client.get("/api/search?q=" + "x" * 11), 400)
    assert "10" in body["error"]
    assert_api_error(client.get("/api/search?q=irql&k=4"), 400)
    assert client.get("/api/search?q=irql&k=3").status_code == 200


@pytest.fixture
def unlimited_client(fake_kb):
    """A client without the API rate limit: the property test below sends 150 requests, more than API_RATE_LIMIT."""
    return make_test_app(fake_kb, API_RATE_LIMIT=0).test_client()


@given(q=st.text(max_size=60))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_query_text_gives_json_never_500(unlimited_client, q):
    resp = unlimited_client.get("/api/search", query_string={"q": q})
    assert resp.status_code in {200, 400}, resp.get_data(as_text=True)
    if resp.status_code == 400:
        assert_api_error(resp, 400)


def test_pair(client, fake_kb):
    pair_id = fake_kb.pair_ids[1]
    resp = client.get(f"/api/pairs/{pair_id}")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["id"] == pair_id
    assert body["related"] and all(r["id"] != pair_id for r in body["related"])


def test_pair_not_found(client):
    body = assert_api_error(client.get("/api/pairs/0123456789abcdef"), 404)
    assert "0123456789abcdef" in body["error"]


def test_pair_path_not_utf8(client):
    assert_api_error(client.get("/api/pairs/%ff%fe"), 400)


def test_topics_and_stats_and_health(client):
    topics = client.get("/api/topics").get_json()["topics"]
    assert {"id", "name", "description", "count"} <= set(topics[0])
    assert any(t["id"] == "irql" and t["count"] >= 3 for t in topics)
    stats = client.get("/api/stats").get_json()
    assert stats["pairs"] == 13 and "index" in stats
    health = client.get("/api/health").get_json()
    assert health["ok"] is True and health["index"]["count"] == 13


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (IndexNotBuilt("The vector index is missing: run `kb ingest` first."), 503),
        (UnknownTopic("Unknown topic 'x': see /api/topics."), 404),
        (MissingDependency("faiss is not installed: pip install faiss-cpu, or set KB_INDEX_BACKEND=numpy."), 500),
    ],
)
def test_kb_errors_keep_their_status_and_message(client, fake_kb, exc, status):
    fake_kb.fail["stats"] = exc
    body = assert_api_error(client.get("/api/health"), status)
    assert body["error"] == str(exc)


def test_unknown_endpoint_is_json_404(client):
    body = assert_api_error(client.get("/api/nope"), 404)
    assert "/api/search" in body["error"]
    assert_api_error(client.get("/api"), 404)


def test_wrong_method_is_json_405(client):
    resp = client.post("/api/search", data={"q": "irql"})
    body = assert_api_error(resp, 405)
    assert "GET" in body["error"]
    assert "GET" in resp.headers["Allow"]


def test_crash_is_logged_and_hidden(client, fake_kb, caplog):
    fake_kb.fail["search"] = RuntimeError("secret: /srv/kb/kb.sqlite is locked")
    with caplog.at_level(logging.ERROR):
        body = assert_api_error(client.get("/api/search?q=irql"), 500)
    assert "secret" not in body["error"] and "kb.sqlite" not in body["error"]
    assert any(r.exc_info and "secret" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize("path", ["/api/search?q=irql", "/api/health", "/api/nope", "/api/search"])
def test_api_responses_carry_security_headers(client, path):
    resp = client.get(path)
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_default_k_is_left_to_the_kb(client, fake_kb):
    client.get("/api/search?q=IRQL")
    assert fake_kb.calls[-1][1][1] is None
    assert len(client.get("/api/search?q=IRQL").get_json()["results"]) <= DEFAULTS["TOP_K"]
