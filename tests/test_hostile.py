"""Hostile queries and hostile pages against the real app (create_app over a real fixture KB, fake embedder).

Queries full of FTS5 syntax, control characters, 100 KB of text or non-UTF-8 bytes get a 200 or a 4xx (JSON under
/api), never a 500. A page full of script injections is ingested and no HTML page shows any of it live. Every
response carries the CSP header; no template has inline script or event handlers.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fakes import assert_api_error
from flask import Flask
from flask.testing import FlaskClient

from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.embed import FakeEmbedder
from webapp import create_app

TEMPLATES = Path(__file__).resolve().parent.parent / "webapp" / "templates"
HOSTILE_PAGE = """---
title: <script>alert('title')</script> Hostile page
description: <img src=x onerror=alert('description')>
---
# Hostile <script>alert('h1')</script> page

## <img src=x onerror=alert('heading')> Script tags in a section about IRQL

An answer about IRQL with <script>alert(1)</script> inside, an image <img src=x onerror=alert(1)>, and
<svg onload=alert(1)></svg> plus <b onmouseover=alert(1)>bold</b> text for spin locks.

Click [the javascript link](javascript:alert(1)) or [upper case](JAVASCRIPT:alert(2)) or
[spaced]( javascript:alert(3)) or [tab](java&#09;script:alert(4)) or [vb](vbscript:msgbox(1)).
A <a href="data:text/html,<script>alert(1)</script>">data link</a> and [data md](data:text/html;base64,PHNjcmlwdD4=).

<iframe src="https://evil.example/"></iframe>
<object data="x.swf"></object><embed src="x.swf"><form action="javascript:alert(1)"><input></form>
<style>body { display: none }</style>
<meta http-equiv="refresh" content="0;url=javascript:alert(1)">

![image](javascript:alert(5)) and an autolink <javascript:alert(6)>.

## Raw HTML block about spin locks

<div onclick="alert(7)">
<script src="https://evil.example/x.js"></script>
</div>

```html
<script>alert('in a code block: shown as text, fine')</script>
```
"""
GOOD_PAGE = """# Spin locks

## Acquiring a spin lock

KeAcquireSpinLock raises the IRQL to DISPATCH_LEVEL. Code holding a spin lock must not touch paged memory.

## Queued spin locks

KeAcquireInStackQueuedSpinLock is fairer than an ordinary spin lock on machines with many processors.
"""
HOSTILE_QUERIES = [
    '"foo', 'foo"', '""', "AND OR", "OR", "NOT", "NEAR(", "NEAR(a b, 2)", "*", "a*", "*a", "col:x", "question:irql",
    "^", "^irql", "-", "-irql", "+", "(", ")", "(irql", "{a b}", "[", "]", "'", "''", ";", "--", "/*", "\\",
    "irql AND", "AND irql", '"irql" NEAR "spin"', "irql OR OR spin", "pairs_fts MATCH 'x'", "'); DROP TABLE pairs;--",
    "%", "%%", "_", "%_%", "\x00", "a\x00b", "\x01\x02\x03\x1b[31m", "\x7f", "\r\n", "\t", " ", "\u200b", "\ufeff",
    "\u202e irql", "\ud7ff", "😀 irql", "ＩＲＱＬ", "𝐈𝐑𝐐𝐋", "İrql", "ß", "a" * 1000, "a " * 499, "irql " * 200,
    "KeAcquireSpinLock" * 50, "0x" + "f" * 900, "<script>alert(1)</script>", "{{7*7}}", "${7*7}", "../../etc/passwd",
    "x" * 100_000, "irql " * 20_000,
]
NON_UTF8 = ["%ff%fe", "%c3%28", "%80", "%ed%a0%80", "irql%ff", "%f8%88%80%80%80"]
EVENT_ATTR = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I)


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KB:
    base = tmp_path_factory.mktemp("hostile")
    tree = base / "tree"
    tree.mkdir()
    (tree / "hostile.md").write_text(HOSTILE_PAGE)
    (tree / "spin-locks.md").write_text(GOOD_PAGE)
    kb = KB.open({"DATA_DIR": str(base / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    summary = pipeline.run(kb.db, [tree])
    assert summary.problems == [] and summary.pairs_added >= 2
    indexer.build(kb.db, kb.embedder, kb.index_dir, "numpy")
    return kb


@pytest.fixture(scope="module")
def app(kb: KB) -> Flask:
    # No API rate limit: this module sends over a hundred /api requests to one app (the limit is tested below).
    return create_app({"TESTING": True, "DATA_DIR": str(kb.data_dir), "API_RATE_LIMIT": 0}, kb=kb)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _hostile_pairs(kb: KB) -> list[dict[str, Any]]:
    return [{"id": r[0], "topics": r[1]} for r in kb.db.execute(
        "SELECT id, topics FROM pairs WHERE source = 'hostile.md'")]


# -- hostile queries ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=lambda q: repr(q[:24]) + (f"+{len(q)}" if len(q) > 24 else ""))
def test_hostile_query_never_500(client: FlaskClient, query: str) -> None:
    api = client.get("/api/search", query_string={"q": query})
    if api.status_code == 200:
        assert isinstance(api.get_json()["results"], list)
    else:
        assert_api_error(api, api.status_code)
        assert 400 <= api.status_code < 500
    page = client.get("/", query_string={"q": query})
    assert page.status_code in (200, 400), page.status_code
    assert page.mimetype == "text/html"


@pytest.mark.parametrize("bad", NON_UTF8)
@pytest.mark.parametrize("where", ["/?q={}", "/api/search?q={}", "/pairs/{}", "/topics/{}", "/api/pairs/{}",
                                   "/{}", "/api/{}", "/topics/{}?page={}"])
def test_non_utf8_url_is_a_4xx(client: FlaskClient, where: str, bad: str) -> None:
    resp = client.get(where.format(bad, bad))
    assert 400 <= resp.status_code < 500, (where, bad, resp.status_code)
    if where.startswith("/api"):
        assert_api_error(resp, resp.status_code)


@pytest.mark.parametrize("path", ["/pairs/" + quote(x, safe="") for x in ("'", '"', "..", "%00", "a" * 5000, "<x>")]
                         + ["/topics/" + quote(x, safe="") for x in ("'", "..", "a" * 5000, "<script>")]
                         + ["/topics/irql?page=" + x for x in ("0", "-1", "x", "9" * 18, "9" * 40, "1e9", "%ff")]
                         + ["/api/pairs/" + quote(x, safe="") for x in ("'", "a" * 5000)]
                         + ["/api/search?q=irql&k=" + x for x in ("0", "-1", "x", "9" * 40, "1.5", "%ff")]
                         + ["/api/search?q=irql&topic=" + x for x in ("nope", "'", "%ff")])
def test_hostile_ids_and_params_never_500(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200 or 400 <= resp.status_code < 500, (path, resp.status_code)
    if path.startswith("/api") and resp.status_code != 200:
        assert_api_error(resp, resp.status_code)


# -- hostile pages -----------------------------------------------------------------------------------------------------
class LiveContent(HTMLParser):
    """Collects everything in an HTML page that a browser would run or load from a hostile source."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script" and not names.get("src", "").startswith("/static/"):
            self.found.append(f"<script {names}>")
        if tag in {"iframe", "object", "embed", "frame", "frameset", "applet", "base", "meta", "svg", "math", "img",
                   "style"} and not (tag == "meta" and set(names) <= {"charset", "name", "content"}):
            self.found.append(f"<{tag} {names}>")
        if tag == "form" and not names.get("action", "").startswith("/"):  # our search forms post to this site
            self.found.append(f"<form {names}>")
        for name, value in names.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            squeezed = re.sub(r"[\x00-\x20]+", "", value).lower()
            if name in {"href", "src", "action", "formaction", "data", "xlink:href", "srcset", "poster", "background"} \
                    and squeezed.startswith(("javascript:", "vbscript:", "data:")):
                self.found.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def live_content(html: str) -> list[str]:
    """What in ``html`` is live hostile content (our own search forms and stylesheet links are not)."""
    parser = LiveContent()
    parser.feed(html)
    return parser.found


def test_the_scanner_sees_live_content() -> None:
    assert live_content('<p>ok</p><script>alert(1)</script>') and live_content('<a href=" jAvA\tscript:x">')
    assert live_content('<img src=x onerror=alert(1)>') and live_content('<iframe src="https://e/">')
    assert (live_content('<a href="data:text/html,x">')
            and not live_content("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"))
    assert not live_content('<script src="/static/app.js" defer></script><a href="https://learn.microsoft.com/x">')


def _pages(client: FlaskClient, kb: KB) -> list[str]:
    pages = ["/", "/topics", "/about", "/?q=IRQL+script", "/?q=alert", "/?q=javascript", "/?q=spin+locks+IRQL",
             "/?q=" + quote("<script>alert(1)</script>"), "/?q=onerror"]
    for pair in _hostile_pairs(kb):
        pages.append(f"/pairs/{pair['id']}")
        pages += [f"/topics/{t}" for t in re.findall(r'"([^"]+)"', pair["topics"])]
    return pages


def test_hostile_page_was_ingested(kb: KB) -> None:
    answers = " ".join(r[0] for r in kb.db.execute("SELECT answer FROM pairs WHERE source = 'hostile.md'"))
    assert "alert" in answers, "the fixture must reach the renderer for the test to mean anything"
    assert len(_hostile_pairs(kb)) >= 1


def test_no_hostile_content_is_live_in_any_html_page(client: FlaskClient, kb: KB) -> None:
    pages = _pages(client, kb)
    assert any(p.startswith("/pairs/") for p in pages)
    for page in pages:
        resp = client.get(page)
        assert resp.status_code == 200, page
        assert resp.mimetype == "text/html"
        assert live_content(resp.get_data(as_text=True)) == [], page


def test_api_responses_are_json_and_carry_no_rendered_html(client: FlaskClient, kb: KB) -> None:
    paths = ["/api/search?q=alert+script+IRQL", "/api/topics", "/api/stats", "/api/health"]
    paths += [f"/api/pairs/{p['id']}" for p in _hostile_pairs(kb)]
    for path in paths:
        resp = client.get(path)
        assert resp.status_code == 200 and resp.mimetype == "application/json", path
        assert resp.headers["X-Content-Type-Options"] == "nosniff"

        def walk(value: Any, key: str = "", path: str = path) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, k)
            elif isinstance(value, list):
                for v in value:
                    walk(v, key)
            elif isinstance(value, str) and key.endswith("html"):  # a field meant to be inserted as HTML
                assert live_content(value) == [], (path, key)

        walk(resp.get_json())


@pytest.mark.parametrize("path", ["/", "/?q=irql", "/topics", "/about", "/nope", "/api/search?q=irql", "/api/nope",
                                  "/api/search", "/static/app.js", "/static/style.css", "/pairs/nope", "/%ff"])
def test_csp_header_on_every_response(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "object-src 'none'" in csp, (path, resp.status_code, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_script_or_event_handlers(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    assert not INLINE_SCRIPT.search(text), "inline <script>: move it to static/app.js"
    assert not EVENT_ATTR.search(text), "inline event handler: attach it in static/app.js"
    assert "javascript:" not in text.lower()
    assert not re.search(r"\|\s*safe\b", text), "|safe: build Markup in webapp/render.py (sanitized) instead"


# -- rate limiting -----------------------------------------------------------------------------------------------------
def test_api_rate_limit_answers_429_with_retry_after(kb: KB) -> None:
    app = create_app({"TESTING": True, "DATA_DIR": str(kb.data_dir), "API_RATE_LIMIT": 5}, kb=kb)
    client = app.test_client()
    statuses = [client.get("/api/search?q=irql", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code
                for _ in range(20)]
    assert statuses[:5] == [200] * 5 and 429 in statuses
    limited = client.get("/api/search?q=irql", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    body = assert_api_error(limited, 429)
    assert "slow down" in body["error"].lower() or "too many" in body["error"].lower()
    assert int(limited.headers["Retry-After"]) >= 1
    other = client.get("/api/search?q=irql", environ_base={"REMOTE_ADDR": "10.9.8.6"})
    assert other.status_code == 200  # the bucket is per client
    assert client.get("/", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 200  # HTML pages not limited
