"""HTML UI and app factory: pages, sanitizing, highlighting, headers and error pages, with the FakeKB."""

from __future__ import annotations

import re
import sys
import types
from html.parser import HTMLParser

import pytest
from fakes import FakeKB
from fakes import app  # noqa: F401  (pytest fixture)
from fakes import client  # noqa: F401  (pytest fixture)
from fakes import fake_kb  # noqa: F401  (pytest fixture)
from fakes import make_test_app
from hypothesis import given
from hypothesis import strategies as st

from kb.errors import IndexNotBuilt
from kb.settings import DEFAULTS
from webapp import CONTENT_SECURITY_POLICY
from webapp import create_app
from webapp import views
from webapp.render import describe_reason
from webapp.render import evidence_links
from webapp.render import format_locator
from webapp.render import highlight
from webapp.render import plain_text
from webapp.render import query_terms
from webapp.render import render_markdown
from webapp.render import sanitize
from webapp.render import snippet


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, for structural checks."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.tags if t == tag]


def assert_csp_clean(html: str) -> None:
    """No inline script, inline handler, inline style or javascript: URL: what the strict CSP requires."""
    for tag, attrs in Tags(html).tags:
        assert tag != "style", "inline <style> is blocked by the CSP"
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs
        for name, value in attrs.items():
            assert not name.startswith("on"), f"inline handler {name} on <{tag}>"
            assert name != "style", f"inline style on <{tag}>"
            if name in {"href", "src", "action", "formaction"}:
                assert not re.sub(r"\s", "", value).lower().startswith(("javascript:", "vbscript:", "data:")), value


def page(client, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert_csp_clean(html)
    return html


# --- app factory -----------------------------------------------------------------------------------------


def test_config_layers(monkeypatch):
    monkeypatch.setenv("KB_TOP_K", "7")
    monkeypatch.setenv("KB_PUBLIC_URL", "http://kb.example")
    app = create_app(kb=FakeKB())
    assert app.config["TOP_K"] == 7
    assert app.config["PUBLIC_URL"] == "http://kb.example"
    assert app.config["MAX_K"] == DEFAULTS["MAX_K"]
    assert create_app({"TOP_K": 3}, kb=FakeKB()).config["TOP_K"] == 3  # the test mapping wins


def test_kb_is_opened_once_on_first_use(monkeypatch):
    opened = []

    class KB:
        @classmethod
        def open(cls, settings):
            opened.append(settings)
            return FakeKB()

    monkeypatch.setitem(sys.modules, "kb.app", types.SimpleNamespace(KB=KB))
    app = create_app({"TESTING": True, "DATA_DIR": "/tmp/kb-test"})
    assert app.extensions["kb"] is None  # nothing opened at import or creation time
    client = app.test_client()
    assert client.get("/api/stats").status_code == 200
    assert client.get("/").status_code == 200
    assert len(opened) == 1
    assert opened[0]["DATA_DIR"] == "/tmp/kb-test"
    assert isinstance(app.extensions["kb"], FakeKB)


def test_kb_open_failure_is_a_clean_error(monkeypatch):
    class KB:
        @classmethod
        def open(cls, settings):
            raise IndexNotBuilt("The vector index is missing: run `kb ingest` first.")

    monkeypatch.setitem(sys.modules, "kb.app", types.SimpleNamespace(KB=KB))
    client = create_app({"TESTING": True}).test_client()
    assert "run `kb ingest` first" in page(client, "/", 503)


@pytest.mark.parametrize("url", ["/", "/?q=irql", "/pairs/nope", "/topics", "/about", "/static/style.css", "/nope"])
def test_security_headers_on_every_response(client, url):
    resp = client.get(url)
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"


# --- search page -----------------------------------------------------------------------------------------


def test_home_shows_intro_examples_and_stats(client):
    html = page(client, "/")
    assert 'name="q"' in html and "autofocus" in html
    assert "/?q=driver+fails+to+unload" in html  # an example query link
    assert "13 answers from 12 sources" in html
    assert '<option value="irql">IRQL (' in html
    assert '<option value="api-ref">API reference (' in html
    assert 'src="/static/app.js"' in html


def test_search_results(client, fake_kb):
    html = page(client, "/?q=KeSetEvent+IRQL")
    pair = fake_kb.pair_by_question("KeSetEvent")
    # the query goes along to the answer page, for its feedback form
    assert f'href="/pairs/{pair["id"]}?q=KeSetEvent+IRQL">At what IRQL can KeSetEvent be called?</a>' in html
    assert "<mark>KeSetEvent</mark>" in html and "<mark>IRQL</mark>" in html
    assert 'href="/topics/sync">Synchronization</a>' in html
    assert 'href="https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent"' in html
    assert "API reference" in html
    assert "Sample:" in html and "Toaster sample" in html and "calls KeSetEvent" in html
    assert 'value="KeSetEvent IRQL"' in html


def test_search_snippet_is_plain_text_and_short(client):
    html = page(client, "/?q=forward+request")
    snippets = re.findall(r'<p class="snippet">(.*?)</p>', html, re.S)
    assert snippets
    for text in snippets:
        assert len(re.sub(r"</?mark>", "", text)) < 450  # ~300 chars, plus entities
        assert "<strong>" not in text and "**" not in text


def test_search_filters_are_kept_in_the_form(client):
    html = page(client, "/?q=IRQL&topic=memory&kind=api-ref")
    assert '<option value="memory" selected>' in html
    assert '<option value="api-ref" selected>' in html
    assert "How do I allocate nonpaged pool with a tag?" in html
    assert "What causes bug check 0xD1" not in html


def test_search_with_no_results_suggests_what_to_do(client):
    html = page(client, "/?q=zzzqqq")
    assert "No results for" in html and "zzzqqq" in html


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/?q=" + "x" * 1001, 400, "shorten it"),
        ("/?q=irql&k=abc", 400, "not a number"),
        ("/?q=irql&topic=nope", 404, "Unknown topic"),
        ("/?q=%ff", 400, "not valid UTF-8"),
    ],
)
def test_search_errors_are_friendly(client, url, status, message):
    html = page(client, url, status)
    assert message in html
    assert "Traceback" not in html


def test_more_results_link(client):
    html = page(client, "/?q=IRQL&k=1")
    assert "Show more results" in html and "k=50" in html


# --- answer page -----------------------------------------------------------------------------------------


def test_answer_page_renders_markdown_and_cites(client, fake_kb):
    pair = fake_kb.pair_by_question("fails to unload")
    html = page(client, f"/pairs/{pair['id']}")
    assert "<h1 class=\"question\">How do I debug a driver that fails to unload?</h1>" in html
    assert "<pre><code>kd&gt; !object 81a578c0" in html
    assert "<ol>" in html and "<strong>IoCreateDevice</strong>" in html
    assert 'class="citation-link" href="https://learn.microsoft.com/windows-hardware/drivers/debugger/' in html
    assert "windows-driver-docs-pr/debugger/debugging-a-failed-driver-unload.md" in html
    assert "section “fixing-a-driver-that-fails-to-unload”" in html
    # relative doc links resolve against the source page, without .md
    assert 'href="https://learn.microsoft.com/windows-hardware/drivers/debugger/-object"' in html
    assert "Watch the pointer count of a leaked DeviceObject" in html
    assert "Related questions" in html


def test_thread_answer_locator_and_author(client, fake_kb):
    pair = fake_kb.pair_by_question("WdfRequestSend return FALSE")
    html = page(client, f"/pairs/{pair['id']}")
    assert "comments 5, 7 → 6" in html
    assert "answered by doronh" in html
    assert "Thread" in html


def test_answer_table_and_sample_evidence(client, fake_kb):
    pair = fake_kb.pair_by_question("KeSetEvent")
    html = page(client, f"/pairs/{pair['id']}")
    assert "<table>" in html and "<td>DISPATCH_LEVEL</td>" in html
    blob = (
        "https://github.com/microsoft/Windows-driver-samples/blob/main/"
        "general/toaster/toastDrv/kmdf/func/featured/toaster.c#L512"
    )
    assert f'href="{blob}"' in html
    assert "fact: irql" in html


def test_hostile_answer_is_sanitized(client, fake_kb):
    pair = fake_kb.pair_by_question("forward a request")
    html = page(client, f"/pairs/{pair['id']}")  # page() also runs assert_csp_clean
    answer = re.search(r'<div class="answer">(.*?)</div>\s*<aside', html, re.S).group(1)
    assert "<script" not in answer and "<img" not in answer
    assert "&lt;script&gt;" in answer  # raw HTML from the source is shown as text
    links = [a for a in Tags(answer).find("a") if a.get("class") != "term"]  # glossary links are ours
    official = "https://learn.microsoft.com/windows-hardware/drivers/wdf/forwarding-i-o-requests"
    assert [a["href"] for a in links] == [official]
    assert all(a["rel"] == "nofollow noopener" for a in links)
    # search results show the same answer as plain text
    assert_csp_clean(page(client, "/?q=forward+request+script"))


def test_script_links_and_page(client, fake_kb):
    pair = fake_kb.pair_by_question("fails to unload")
    html = page(client, f"/pairs/{pair['id']}")
    assert 'href="/scripts/s-unload-objhdr"' in html and "from the same page" in html
    script = page(client, "/scripts/s-unload-objhdr")
    assert '<pre><code>!object 81a578c0\nba w4 81a578a8 &#34;k;g&#34;' in script
    assert "<summary>Sample output</summary>" in script
    assert "code block 1" in script and "Debugging a Failed Driver Unload" in script
    page(client, "/scripts/nope", 404)


def test_script_page_without_get_script_is_a_404(fake_kb, monkeypatch):
    monkeypatch.delattr(type(fake_kb), "get_script")
    html = page(make_test_app(fake_kb).test_client(), "/scripts/s-unload-objhdr", 404)
    assert "get_script" in html


def test_long_thread_question_is_shortened_in_lists_and_whole_on_its_page(client, fake_kb):
    pair = fake_kb.pair_by_question("NDIS miniport")
    assert len(pair["question"]) > 400
    results = page(client, "/?q=NDIS+power+policy+owner")
    title = re.search(rf'href="/pairs/{pair["id"]}\?q=[^"]*">(.*?)</a>', results).group(1)
    assert title.startswith("I&#39;m trying to understand NDIS") and title.endswith("…") and len(title) < 200
    html = page(client, f"/pairs/{pair['id']}")
    assert re.search(r'<h1 class="question">I&#39;m trying to understand NDIS[^<]{60,140}…</h1>', html)
    full = re.search(r'<blockquote class="question-full".*?</blockquote>', html, re.S).group(0)
    assert "<p>The problem is that NDIS is the only power policy owner" in full
    assert "develops a device and driver" in full  # hard wraps joined
    assert "Is there any special function in NDIS for this?</p>" in full
    short = fake_kb.pair_by_question("KeSetEvent")
    assert "question-full" not in page(client, f"/pairs/{short['id']}")


def test_missing_pair_is_an_html_404(client):
    html = page(client, "/pairs/0123456789abcdef", 404)
    assert "0123456789abcdef" in html and "Not Found" in html


# --- topics, about, errors -------------------------------------------------------------------------------


def test_topics_page(client):
    html = page(client, "/topics")
    assert 'href="/topics/irql">IRQL</a>' in html
    assert "Interrupt request levels" in html
    assert re.search(r"IRQL</a>\s*<span class=\"count\">3 answers", html)


def test_topic_page_paginates(client, monkeypatch):
    monkeypatch.setattr(views, "PER_PAGE", 2)
    first = page(client, "/topics/kmdf")
    assert "Kernel-Mode Driver Framework" in first
    assert first.count('class="result"') == 2
    assert 'rel="next" href="/topics/kmdf?page=2"' in first and 'rel="prev"' not in first
    last = page(client, "/topics/kmdf?page=3")
    assert last.count('class="result"') == 1
    assert 'rel="prev" href="/topics/kmdf?page=2"' in last and 'rel="next"' not in last
    assert "page 3 of 3" in last


@pytest.mark.parametrize(
    ("url", "status"), [("/topics/nope", 404), ("/topics/kmdf?page=0", 400), ("/topics/kmdf?page=x", 400)]
)
def test_topic_page_errors(client, url, status):
    page(client, url, status)


def test_about_page(client):
    html = page(client, "/about")
    assert "What is inside" in html and "<td>13</td>" in html
    assert "/api/search" in html


def test_unknown_page_is_html_404(client):
    html = page(client, "/no/such/page", 404)
    assert "There is no page at this address" in html


def test_crash_gives_generic_html_500(client, fake_kb, caplog):
    fake_kb.fail["get_pair"] = RuntimeError("secret internals")
    html = page(client, f"/pairs/{fake_kb.pair_ids[0]}", 500)
    assert "secret" not in html and "Traceback" not in html
    assert "Something went wrong" in html


def test_index_not_built_shows_the_fix(fake_kb):
    fake_kb.fail["stats"] = IndexNotBuilt("The vector index is missing: run `kb ingest` (or `kb index`) first.")
    client = make_test_app(fake_kb).test_client()
    assert "run `kb ingest`" in page(client, "/about", 503)


# --- rendering helpers -----------------------------------------------------------------------------------


def test_highlight_escapes_before_marking():
    out = str(highlight("<b>lt</b> & WdfRequestSendAndForget, WdfRequestSend()", ["b", "lt", "WdfRequestSend"]))
    assert out.startswith("&lt;<mark>b</mark>&gt;<mark>lt</mark>&lt;/<mark>b</mark>&gt; &amp; ")
    assert "WdfRequestSendAndForget," in out  # identifiers match whole words only
    assert "<mark>WdfRequestSend</mark>()" in out


def test_highlight_plain_words_match_prefixes_case_insensitively():
    assert str(highlight("Unloading fails", ["unload"])) == "<mark>Unloading</mark> fails"


@given(text=st.text(max_size=80), query=st.text(max_size=20))
def test_highlight_only_adds_marks(text, query):
    out = str(highlight(text, query_terms(query)))
    assert "<" not in re.sub(r"</?mark>", "", out)
    unmarked = re.sub(r"</?mark>", "", out)
    assert unmarked.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"').replace("&#39;", "'").replace(
        "&amp;", "&"
    ) == text


def test_query_terms_drop_operators_and_stop_words():
    assert query_terms('How do I call "KeSetEvent" AND IRQL_NOT_LESS_OR_EQUAL at DISPATCH_LEVEL?') == [
        "call",
        "KeSetEvent",
        "IRQL_NOT_LESS_OR_EQUAL",
        "DISPATCH_LEVEL",
    ]


def test_snippet_centres_on_the_first_match():
    answer = "word " * 200 + "KeSetEvent is here. " + "tail " * 100
    text = snippet(answer, ["KeSetEvent"])
    assert "KeSetEvent" in text
    assert text.startswith("… ") and text.endswith(" …")
    assert len(text) <= 310


def test_plain_text_keeps_table_rows_apart():
    md = (
        "Intro **bold**\n\n| Wait | IRQL |\n|---|---|\n| FALSE | DISPATCH_LEVEL |\n| TRUE | APC_LEVEL |\n\n"
        "`code` <b>x</b>"
    )
    assert plain_text(md) == "Intro bold Wait IRQL; FALSE DISPATCH_LEVEL; TRUE APC_LEVEL; code <b>x</b>"


def test_sanitize_removes_active_content():
    hostile = (
        '<a href="javascript:alert(1)">x</a><img src=x onerror=alert(1)><script>alert(1)</script>'
        '<p style="color:red" onclick="x()">p</p><a href="https://example.com/">ok</a>'
    )
    out = str(sanitize(hostile))
    assert "<script" not in out and "alert" not in out
    assert "onerror" not in out and "onclick" not in out and "style" not in out
    assert "javascript:" not in out
    assert '<a href="https://example.com/" rel="nofollow noopener">ok</a>' in out


def test_render_markdown_shows_raw_html_as_text_and_drops_bad_links():
    out = str(render_markdown("<b>bold</b> [x](javascript:alert(1)) [mail](mailto:a@b.c) [rel](other.md)"))
    assert "&lt;b&gt;bold&lt;/b&gt;" in out
    assert 'href="javascript:' not in out
    assert 'href="mailto:a@b.c"' in out
    assert "other.md" not in out  # no base URL: relative links are dropped


def test_describe_reason_and_evidence_of_real_links():
    sample = {
        "url": "https://github.com/microsoft/Windows-driver-samples/tree/main/general/toaster",
        "reason": "calls-ddi",
        "evidence": {"ddi": "WdfRequestSend", "file": "general/toaster/func.c", "line": 88},
    }
    assert describe_reason(sample) == "calls WdfRequestSend"
    assert evidence_links(sample) == [
        {
            "text": "general/toaster/func.c:88",
            "url": "https://github.com/microsoft/Windows-driver-samples/blob/main/general/toaster/func.c#L88",
        }
    ]
    tools = {"reason": "task-match", "evidence": {"tools": ["pnputil", "devcon"]}}
    assert describe_reason(tools) == "uses pnputil, devcon"
    assert describe_reason({"reason": "topic", "evidence": {"topics": ["usb"]}}) == "same topic: usb"
    assert describe_reason({"reason": "mentioned", "evidence": {"alias": "toaster"}}) == "named in this answer"
    assert evidence_links({"reason": "topic", "evidence": {"topics": ["usb"]}}) == []
    assert evidence_links({"evidence": [["a.c", 3], "b.c:4"]}) == [
        {"text": "a.c:3", "url": None},
        {"text": "b.c:4", "url": None},
    ]


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://learn.microsoft.com/x", True),
        ("/scripts/s-1", True),
        ("//evil.example/x", False),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("data:text/html,x", False),
        (None, False),
    ],
)
def test_safe_url(url, safe):
    assert (views.safe_url(url) is not None) == safe


@pytest.mark.parametrize(
    ("locator", "kind", "text"),
    [
        ({"question": [5], "answer": [6]}, "thread", "comments 5 → 6"),
        ({"topic": 12, "question": [1], "answer": [3]}, "discourse", "posts 1 → 3, topic 12"),
        ({"question": ["<a@b>"], "answer": ["<c@d>"]}, "mbox", "messages <a@b> → <c@d>"),
        ({"block": 0}, "learn-doc", "code block 1"),
    ],
)
def test_format_locator_by_kind(locator, kind, text):
    assert format_locator(locator, kind) == text


@pytest.mark.parametrize(
    ("locator", "text"),
    [
        ({"question": [5], "answer": [6]}, "comments 5 → 6"),
        ({"question": [5, 7], "answer": [6]}, "comments 5, 7 → 6"),
        ({"section": "remarks", "part": 2}, "section “remarks”, part 2"),
        ({"fact": "irql"}, "fact: irql"),
        ({"line": 12}, "line 12"),
        ({}, ""),
    ],
)
def test_format_locator(locator, text):
    assert format_locator(locator) == text
