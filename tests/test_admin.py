"""Admin: the token (header or login form), feedback moderation, hiding pairs and the background re-ingest."""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeKB
from fakes import assert_api_error
from fakes import make_test_app
from fakes import serve_app
from flask import Flask
from flask.testing import FlaskClient

from kb.app import KB
from kb.embed import FakeEmbedder
from webapp import create_app
from webapp.reingest import STARTER
from webapp.reingest import configured_sources
from webapp.reingest import get_job

TOKEN = "s3cret-admin-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
TREE = Path(__file__).resolve().parent / "data" / "catalog" / "tree"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def kb() -> FakeKB:
    return FakeKB()


@pytest.fixture
def app(kb: FakeKB) -> Flask:
    return make_test_app(kb, ADMIN_TOKEN=TOKEN, SOURCES="extra/corpus.tar.gz 'with space/docs'")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf(html: str) -> str:
    return CSRF_RE.search(html).group(1)


def login(client: FlaskClient, token: str = TOKEN, next_page: str = "") -> Any:
    form = client.get("/admin/login").get_data(as_text=True)
    return client.post("/admin/login", data={"csrf_token": csrf(form), "token": token, "next": next_page})


def signed_in(client: FlaskClient) -> str:
    """Sign in through the form; returns the session's CSRF token for later POSTs."""
    assert login(client).status_code == 303
    return csrf(client.get("/admin/").get_data(as_text=True))


# -- who may come in ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/admin/", "/admin/login", "/admin/feedback", "/admin/reingest"])
def test_without_a_configured_token_admin_is_off(path):
    client = make_test_app(FakeKB()).test_client()
    resp = client.get(path, headers=BEARER)
    assert resp.status_code == 403 and "KB_ADMIN_TOKEN" in resp.get_data(as_text=True)
    body = assert_api_error(client.get("/api/admin/feedback", headers=BEARER), 403)
    assert "KB_ADMIN_TOKEN" in body["error"]
    assert client.post("/api/admin/reingest", headers=BEARER).status_code == 403


@pytest.mark.parametrize(
    ("headers", "message"),
    [({}, "Authorization: Bearer"), ({"Authorization": "Bearer wrong"}, "not the admin token"),
     ({"Authorization": f"Basic {TOKEN}"}, "Authorization: Bearer"), ({"Authorization": "Bearer "}, "Bearer")],
)
def test_api_needs_the_bearer_token(client, headers, message):
    resp = client.get("/api/admin/feedback", headers=headers)
    body = assert_api_error(resp, 401)
    assert message in body["error"] and TOKEN not in body["error"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/admin/feedback", headers=BEARER).get_json() == {"ok": True, "feedback": []}


def test_html_pages_ask_for_the_token_with_a_login_form(client):
    resp = client.get("/admin/feedback?limit=5")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 401 and 'type="password"' in html and 'name="token"' in html
    assert 'name="next" value="/admin/feedback?limit=5"' in html
    wrong = login(client, "not-it", "/admin/feedback")
    assert wrong.status_code == 401 and "That is not the admin token." in wrong.get_data(as_text=True)
    assert "not-it" not in wrong.get_data(as_text=True)  # what was typed is never echoed
    right = login(client, next_page="/admin/feedback?limit=5")
    assert right.status_code == 303 and right.headers["Location"] == "/admin/feedback?limit=5"
    assert client.get("/admin/feedback").status_code == 200
    assert TOKEN not in client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("next_page", ["https://evil.example/", "//evil.example/admin", "/pairs/x", "/admin\\..\\x"])
def test_login_only_returns_to_admin_pages(client, next_page):
    assert login(client, next_page=next_page).headers["Location"] == "/admin/"


def test_login_form_needs_its_csrf_token(client):
    resp = client.post("/admin/login", data={"token": TOKEN})
    assert resp.status_code == 400 and client.get("/admin/").status_code == 401


def test_bearer_header_works_on_html_pages_without_a_form_token(client, kb):
    assert client.get("/admin/", headers=BEARER).status_code == 200
    pair_id = kb.pair_ids[0]
    resp = client.post(f"/admin/pairs/{pair_id}/hide", headers=BEARER, data={"hidden": "1"})
    assert resp.status_code == 303 and pair_id in kb.hidden
    assert client.get("/admin/", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_token_in_the_url_is_never_accepted(client):
    assert client.get(f"/admin/?token={TOKEN}").status_code == 401
    assert client.get(f"/api/admin/feedback?token={TOKEN}").status_code == 401


def test_session_posts_need_the_form_token(client, kb):
    token = signed_in(client)
    pair_id = kb.pair_ids[0]
    assert client.post(f"/admin/pairs/{pair_id}/hide", data={"hidden": "1"}).status_code == 400
    assert pair_id not in kb.hidden
    assert client.post(f"/admin/pairs/{pair_id}/hide", data={"hidden": "1", "csrf_token": token}).status_code == 303
    assert pair_id in kb.hidden


def test_changing_the_token_or_signing_out_ends_the_session(app, client):
    token = signed_in(client)
    app.config["ADMIN_TOKEN"] = TOKEN + "-rotated"
    assert client.get("/admin/").status_code == 401
    app.config["ADMIN_TOKEN"] = TOKEN
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/admin/").status_code == 401


def test_wrong_tokens_are_rate_limited_even_when_the_next_one_is_right(client):
    for _ in range(10):
        assert client.get("/api/admin/feedback", headers={"Authorization": "Bearer guess"}).status_code == 401
    limited = client.get("/api/admin/feedback", headers=BEARER)
    assert_api_error(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert login(client).status_code == 429  # the form shares the budget
    other = client.get("/api/admin/feedback", headers=BEARER, environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert other.status_code == 200


def test_the_token_never_reaches_the_logs(app, caplog):
    caplog.set_level(logging.DEBUG)
    with serve_app(app) as base:
        for headers in (BEARER, {"Authorization": f"Bearer {TOKEN}x"}):
            request = urllib.request.Request(base + "/api/admin/feedback", headers=headers)
            try:
                urllib.request.urlopen(request, timeout=10).read()
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
        with app.test_client() as client:
            login(client)
            login(client, TOKEN + "-typo")
    assert "/api/admin/feedback" in caplog.text  # werkzeug's request log was captured
    assert "wrong token" in caplog.text
    assert TOKEN not in caplog.text


# -- moderation --------------------------------------------------------------------------------------------------------
def test_feedback_moderation_page_lists_and_dismisses(client, kb):
    pair = kb.pair_by_question("KeSetEvent")
    kb.record_feedback("KeSetEvent at DPC", pair["id"], "not-helpful", "talks about Wait=TRUE only", origin="web")
    kb.record_feedback("irql", pair["id"], "helpful", "", origin="slack", user="U77")
    token = signed_in(client)
    html = client.get("/admin/feedback").get_data(as_text=True)
    for text in ("KeSetEvent at DPC", "talks about Wait=TRUE only", "not helpful", "slack", "U77", "2024-06-03 09:00",
                 f'href="/pairs/{pair["id"]}"', "Dismiss"):
        assert text in html, text
    resp = client.post("/admin/feedback/1/status", data={"status": "dismissed", "csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"] == "/admin/feedback#feedback-1"
    html = client.get("/admin/feedback").get_data(as_text=True)
    assert 'class="row-dismissed"' in html and "Restore" in html and "Feedback 1 dismissed." in html
    client.post("/admin/feedback/1/status", data={"status": "active", "csrf_token": token})
    assert kb.feedback_listing()[-1]["status"] == "active"
    assert client.post("/admin/feedback/99/status", data={"status": "active", "csrf_token": token}).status_code == 404
    assert client.post("/admin/feedback/1/status", data={"status": "gone", "csrf_token": token}).status_code == 400


def test_feedback_moderation_api(client, kb):
    pair_id = kb.pair_ids[2]
    kb.record_feedback("q", pair_id, "helpful")
    rows = client.get("/api/admin/feedback?limit=10", headers=BEARER).get_json()["feedback"]
    assert [(r["id"], r["query"], r["pair_id"], r["verdict"], r["origin"]) for r in rows] == [(1, "q", pair_id,
                                                                                              "helpful", "web")]
    resp = client.post("/api/admin/feedback/1", headers=BEARER, json={"status": "dismissed"})
    assert resp.get_json() == {"ok": True, "id": 1, "status": "dismissed"}
    assert_api_error(client.post("/api/admin/feedback/1", headers=BEARER, json={"status": "x"}), 400)
    assert_api_error(client.post("/api/admin/feedback/7", headers=BEARER, json={"status": "active"}), 404)
    assert_api_error(client.get("/api/admin/feedback?limit=0", headers=BEARER), 400)


def test_hide_and_unhide_a_pair(client, kb):
    pair = kb.pair_by_question("pnputil")
    token = signed_in(client)
    resp = client.post("/admin/pairs/hide", data={"pair_id": f" {pair['id']} ", "hidden": "1", "csrf_token": token})
    assert resp.status_code == 303
    html = client.get("/admin/").get_data(as_text=True)
    assert "Hidden answers (1)" in html and pair["question"] in html and "Show again" in html
    assert client.get("/api/admin/pairs/hidden", headers=BEARER).get_json()["pairs"][0]["id"] == pair["id"]
    client.post(f"/admin/pairs/{pair['id']}/hide", data={"hidden": "0", "csrf_token": token})
    assert kb.hidden == set() and "No answer is hidden." in client.get("/admin/").get_data(as_text=True)
    assert client.post("/admin/pairs/nope/hide", data={"csrf_token": token}).status_code == 404


def test_hide_api(client, kb):
    pair_id = kb.pair_ids[0]
    assert client.post(f"/api/admin/pairs/{pair_id}/hide", headers=BEARER).get_json() == {
        "ok": True, "id": pair_id, "hidden": True}
    assert pair_id in kb.hidden
    shown = client.post(f"/api/admin/pairs/{pair_id}/hide", headers=BEARER, json={"hidden": False})
    assert shown.get_json()["hidden"] is False and pair_id not in kb.hidden
    assert_api_error(client.post(f"/api/admin/pairs/{pair_id}/hide", headers=BEARER, json={"hidden": "maybe"}), 400)
    assert_api_error(client.post("/api/admin/pairs/nope/hide", headers=BEARER), 404)
    assert_api_error(client.get(f"/api/admin/pairs/{pair_id}/hide", headers=BEARER), 405)


# -- re-ingest ---------------------------------------------------------------------------------------------------------
def test_configured_sources_are_the_starter_content_then_sources():
    assert configured_sources({"SOURCES": ""}) == list(STARTER)
    extra = configured_sources({"SOURCES": "a.tar.gz 'my docs/x'"})[len(STARTER):]
    assert extra == [Path("a.tar.gz"), Path("my docs/x")]
    assert all(p.is_dir() for p in STARTER)


def test_reingest_runs_in_the_background_one_at_a_time(app, client, kb):
    kb.reingest_gate = threading.Event()
    started = client.post("/api/admin/reingest", headers=BEARER)
    assert started.status_code == 202
    status = started.get_json()
    assert status["ok"] is True and status["state"] == "running" and status["started_at"]
    assert status["sources"][-2:] == ["extra/corpus.tar.gz", "with space/docs"]
    body = assert_api_error(client.post("/api/admin/reingest", headers=BEARER), 409)
    assert "already running" in body["error"]
    token = signed_in(client)
    page = client.post("/admin/reingest", data={"csrf_token": token})
    assert page.status_code == 409 and "already running" in page.get_data(as_text=True)
    kb.reingest_gate.set()
    assert get_job(app).wait(10)
    done = client.get("/api/admin/reingest", headers=BEARER).get_json()
    assert done["state"] == "done" and done["summary"]["pairs_added"] == 2 and done["finished_at"]
    assert len(kb.reingest_calls) == 1 and kb.reingest_calls[0][:2] == [str(p) for p in STARTER]
    html = client.get("/admin/reingest").get_data(as_text=True)
    assert "pairs added 2" in html and "Start a re-ingest" in html
    again = client.post("/admin/reingest", data={"csrf_token": token})
    assert again.status_code == 303 and again.headers["Location"] == "/admin/reingest"
    assert get_job(app).wait(10) and len(kb.reingest_calls) == 2


def test_a_failed_reingest_shows_its_error(app, client, kb, monkeypatch, caplog):
    def boom(sources):
        raise RuntimeError("disk full")

    monkeypatch.setattr(kb, "reingest", boom)
    assert client.post("/api/admin/reingest", headers=BEARER).status_code == 202
    assert get_job(app).wait(10)
    status = client.get("/api/admin/reingest", headers=BEARER).get_json()
    assert status["state"] == "failed" and status["error"] == "RuntimeError: disk full"
    assert "re-ingest failed" in caplog.text
    assert "disk full" in client.get("/admin/reingest", headers=BEARER).get_data(as_text=True)


# -- a real KB ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[KB, Flask]]:
    kb = KB.open({"DATA_DIR": str(tmp_path / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    app = create_app({"TESTING": True, "DATA_DIR": str(kb.data_dir), "ADMIN_TOKEN": TOKEN, "SOURCES": str(TREE)},
                     kb=kb)
    yield kb, app


def test_real_reingest_then_moderate_and_hide(real):
    kb, app = real
    client = app.test_client()
    assert kb.stats()["pairs"] == 0
    assert client.post("/api/admin/reingest", headers=BEARER).status_code == 202
    assert get_job(app).wait(120)
    status = client.get("/api/admin/reingest", headers=BEARER).get_json()
    assert status["state"] == "done", status
    assert status["summary"]["skipped"] == [] and status["summary"]["index"]["count"] == kb.stats()["pairs"] > 20
    assert kb.get_source("ask-the-kmdf-team.txt")["pairs"] and kb.get_script("kdnet-setup")["curated"]
    hit = kb.search("KeSetEvent DPC", k=3)["results"][0]
    # moderation on the real store
    kb.record_feedback("KeSetEvent DPC", hit["id"], "not-helpful", "wrong thread")
    rows = client.get("/api/admin/feedback", headers=BEARER).get_json()["feedback"]
    assert rows[0]["query"] == "KeSetEvent DPC" and rows[0]["question"] == hit["question"]
    client.post(f"/api/admin/feedback/{rows[0]['id']}", headers=BEARER, json={"status": "dismissed"})
    assert kb.feedback_listing()[0]["status"] == "dismissed"
    # hiding takes the pair out of search and pages until it is shown again
    client.post(f"/api/admin/pairs/{hit['id']}/hide", headers=BEARER, json={"hidden": True})
    assert client.get(f"/pairs/{hit['id']}").status_code == 404
    assert hit["id"] not in [r["id"] for r in kb.search("KeSetEvent DPC", k=10)["results"]]
    assert [p["id"] for p in client.get("/api/admin/pairs/hidden", headers=BEARER).get_json()["pairs"]] == [hit["id"]]
    client.post(f"/api/admin/pairs/{hit['id']}/hide", headers=BEARER, json={"hidden": False})
    assert client.get(f"/pairs/{hit['id']}").status_code == 200
