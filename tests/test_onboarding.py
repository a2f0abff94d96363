"""Onboarding pages (Start here, learning paths, steps, glossary, term links) with the FakeKB and a small real KB."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakes import FakeKB
from fakes import make_test_app
from flask.testing import FlaskClient
from markupsafe import escape
from test_webapp import Tags
from test_webapp import assert_csp_clean

import ingest
from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.embed import FakeEmbedder
from kb.errors import ParseError
from kb.glossary import load_glossary
from kb.paths import LEVELS
from kb.paths import get_path
from kb.paths import load_paths
from webapp import CONTENT_SECURITY_POLICY
from webapp import onboarding

TEMPLATES = Path(__file__).resolve().parent.parent / "webapp" / "templates" / "onboarding"
PATHS = load_paths()
GLOSSARY = load_glossary()
# Refs the FakeKB holds (tests/data/webapp/fake_kb.yml): one path step and one glossary term point at each.
D1_CAUSE = "windows-driver-docs-pr/debugger/bug-check-0xd1--driver-irql-not-less-or-equal.md#cause"
PNPUTIL_ADD = "windows-driver-docs-pr/devtest/pnputil-examples.md#add-driver"


@pytest.fixture
def kb() -> FakeKB:
    return FakeKB()


@pytest.fixture
def client(kb: FakeKB) -> FlaskClient:
    return make_test_app(kb).test_client()


def get(client: FlaskClient, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "text/html"
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    html = resp.get_data(as_text=True)
    assert_csp_clean(html)
    return html


def step_of(ref: str) -> tuple[str, str]:
    return next((p.id, s.id) for p in PATHS for s in p.steps if ref in s.entries)


class TermLinks(HTMLParser):
    """Glossary links in a page's answer blocks, and those found inside code or pre (there must be none)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.slugs: list[str] = []
        self.titles: dict[str, str] = {}
        self.in_code: list[str] = []
        self._open: list[str] = []
        self._answer_depth: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in {"br", "hr", "input", "img", "meta", "link"}:
            return
        self._open.append(tag)
        if tag == "div" and "answer" in (attrs.get("class") or "").split():
            self._answer_depth.append(len(self._open))
        if tag == "a" and attrs.get("data-term") and self._answer_depth:
            self.slugs.append(attrs["data-term"])
            self.titles[attrs["data-term"]] = attrs.get("title") or ""
            if {"code", "pre"} & set(self._open):
                self.in_code.append(attrs["data-term"])

    def handle_endtag(self, tag):
        if tag in self._open:
            while self._open:
                if self._answer_depth and len(self._open) == self._answer_depth[-1]:
                    self._answer_depth.pop()
                if self._open.pop() == tag:
                    break


# --- helpers -----------------------------------------------------------------------------------------------------


def test_suggested_order_puts_beginner_paths_first_then_by_order():
    ordered = onboarding.suggested_order(PATHS)
    assert sorted(p.id for p in ordered) == sorted(p.id for p in PATHS)
    levels = [LEVELS.index(p.level) for p in ordered]
    assert levels == sorted(levels)
    assert ordered[0].id == "first-kmdf-driver"
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.level == b.level:
            assert a.order < b.order


@pytest.mark.parametrize(
    ("query", "expected", "absent"),
    [
        ("irql", "IRQL", None),
        ("Interrupt Request Level", "IRQL", None),  # alias, any case
        ("spin lock", "spin lock", "IRQL"),
        ("busy-waits", "spin lock", None),  # words of the definition
        ("!irp", "!irp", "IRP"),
        ("", "IRQL", None),
    ],
)
def test_filter_terms_matches_names_aliases_and_definitions(query, expected, absent):
    names = [t.term for t in onboarding.filter_terms(GLOSSARY.terms, query)]
    assert expected in names
    if absent:
        assert absent not in names


def test_sort_key_and_letter_file_debugger_commands_under_their_letter():
    irp = GLOSSARY.find("!irp")
    assert onboarding.letter_of(irp) == "I"
    assert onboarding.sort_key(irp) == "irp"
    assert onboarding.letter_of(GLOSSARY.find("IRQL")) == "I"


@pytest.mark.parametrize(
    ("ref", "names", "label"),
    [
        ("windows-driver-docs-pr/kernel/managing-hardware-priorities.md#x", (), "managing hardware priorities"),
        ("wdk-ddi-src/content/wdm/nf-wdm-keacquirespinlock.md#overview", ("spin lock", "KeAcquireSpinLock"),
         "KeAcquireSpinLock (wdm.h)"),
        ("wdk-ddi-src/content/wdfrequest/nf-wdfrequest-wdfrequestsend.md#remarks", (), "wdfrequestsend (wdfrequest.h)"),
    ],
)
def test_ref_label(ref, names, label):
    assert onboarding.ref_label(ref, names) == label


def test_docs_url_points_at_microsoft_learn():
    assert onboarding.docs_url("windows-driver-docs-pr/kernel/writing-an-isr.md#writing-an-isr") == (
        "https://learn.microsoft.com/windows-hardware/drivers/kernel/writing-an-isr#writing-an-isr"
    )
    # API reference anchors are our section names, not the page's: link the page.
    assert onboarding.docs_url("wdk-ddi-src/content/wdm/nf-wdm-kesetevent.md#irql") == (
        "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent"
    )
    assert onboarding.docs_url("handbook/kmdf-requests.md#forwarding") is None


# --- Start here and the paths ------------------------------------------------------------------------------------


def test_start_page_is_linked_from_home_and_nav_and_lists_every_path(client):
    home = get(client, "/")
    assert 'class="start-callout"' in home and 'href="/start"' in home
    html = get(client, "/start")
    nav = re.search(r'<nav class="site-nav".*?</nav>', html, re.S).group(0)
    assert 'href="/start" aria-current="page">Start here' in nav and 'href="/glossary"' in nav
    cards = [a for a in Tags(html).find("a") if a.get("href", "").startswith("/paths/")]
    assert [a["href"] for a in cards] == [f"/paths/{p.id}" for p in onboarding.suggested_order(PATHS)]
    progress = Tags(html).find("div")
    boxes = [d for d in progress if "path-progress" in d.get("class", "")]
    assert len(boxes) == len(PATHS)
    for box, path in zip(boxes, onboarding.suggested_order(PATHS), strict=True):
        assert box["data-path"] == path.id and box["data-steps"].split() == [s.id for s in path.steps]
        assert "hidden" in box  # app.js shows it; without JS there is no progress to show
    assert f"0 of {len(PATHS[0].steps)} done" in html
    assert "Learning paths, in the order we suggest" in html
    assert get(client, "/paths").count('class="path-card"') == len(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.id)
def test_every_path_page_and_step_page_renders(client, path):
    html = get(client, f"/paths/{path.id}")
    assert path.title in html and f"{len(path.steps)} steps" in html
    for step in path.steps:
        assert f'href="/paths/{path.id}/{step.id}"' in html
        assert f'data-step="{step.id}"' in html
    # Without JS the page is a plain ordered list: checkboxes, progress and Clear sit in hidden containers.
    assert html.count('<label class="done-toggle" hidden>') == len(path.steps)
    assert re.search(r'<div class="progress-panel path-progress"[^>]* hidden>', html)
    assert 'data-action="clear-progress"' in html

    for n, step in enumerate(path.steps, 1):
        page = get(client, f"/paths/{path.id}/{step.id}")
        assert f"Step {n} of {len(path.steps)}" in page
        for text in (step.title, step.learn, step.why, step.check, step.check_answer):
            assert str(escape(text)) in page
        assert re.search(r"<details>\s*<summary>Show the answer</summary>", page)
        prev_href = f"/paths/{path.id}/{path.steps[n - 2].id}" if n > 1 else f"/paths/{path.id}"
        next_href = f"/paths/{path.id}/{path.steps[n].id}" if n < len(path.steps) else f"/paths/{path.id}"
        assert re.search(rf'class="step-prev"[^>]*href="{re.escape(prev_href)}"', page)
        assert re.search(rf'class="step-next"[^>]*href="{re.escape(next_href)}"', page)
        assert re.search(r'<button type="button" class="mark-done"[^>]*hidden>Mark done</button>', page)


def test_step_with_refs_not_in_the_kb_shows_the_note(client, kb):
    path = get_path("first-kmdf-driver")
    step = path.steps[0]
    html = get(client, f"/paths/{path.id}/{step.id}")
    assert html.count('class="notice entry-missing"') == len(step.entries)
    assert html.count("This entry is not in this KB</strong> (ingest the docs corpus") == len(step.entries)
    for ref in step.entries:
        assert ref in html
    assert 'href="https://learn.microsoft.com/windows-hardware/drivers/gettingstarted/' in html
    # The sample and the script are not in the FakeKB either: notes, with the sample's GitHub folder.
    assert f"The sample <code class=\"path\">{step.sample}</code> is not in this KB" in html
    assert f"https://github.com/microsoft/Windows-driver-samples/tree/26a27df807/{step.sample}" in html
    assert f"The script <code class=\"path\">{step.script}</code> is not in this KB" in html
    assert ("pair_by_ref", (step.entries[0],)) in kb.calls


def test_step_shows_the_answer_it_points_at_with_citation_and_term_links(client, kb):
    path_id, step_id = step_of(D1_CAUSE)
    html = get(client, f"/paths/{path_id}/{step_id}")
    pair = kb.pair_by_ref(D1_CAUSE)
    assert f'href="/pairs/{pair["id"]}"' in html
    assert str(escape(pair["question"])) in html
    assert 'class="entry-cite"' in html and pair["source"]["title"] in html
    assert f'href="{pair["source"]["url"]}"' in html
    links = TermLinks(html)
    assert len(links.slugs) == len(set(links.slugs))
    assert "irql" in links.slugs and not links.in_code


def test_step_shows_sample_and_script_when_the_kb_has_them(client, kb):
    path = get_path("usb-client-drivers")
    step = next(s for s in path.steps if s.sample == "usb/kmdf_fx2")
    kb._scripts[step.script] = dict(kb._scripts["s-pnputil-add"], id=step.script, title="A script for this step")
    html = get(client, f"/paths/{path.id}/{step.id}")
    assert 'href="/samples/usb/kmdf_fx2"' in html and "KMDF OSR USB-FX2 sample" in html
    assert 'href="https://github.com/microsoft/Windows-driver-samples/tree/main/usb/kmdf_fx2"' in html
    assert f'href="/scripts/{step.script}"' in html and "A script for this step" in html
    assert "<pre><code>pnputil /add-driver toaster.inf /install</code></pre>" in html
    assert "is not in this KB's catalog" not in html


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/paths/no-such-path", "no learning path 'no-such-path'; known paths: first-kmdf-driver"),
        ("/paths/first-kmdf-driver/no-such-step", "path 'first-kmdf-driver' has no step 'no-such-step'"),
        ("/paths/no-such-path/what-is-a-driver", "no learning path"),
    ],
)
def test_unknown_path_or_step_is_a_404_that_names_the_fix(client, url, message):
    html = get(client, url, status=404)
    assert str(escape(message)) in html


# --- glossary ----------------------------------------------------------------------------------------------------


def test_glossary_has_every_term_with_anchor_definition_aliases_and_letters(client):
    html = get(client, "/glossary")
    ids = [a["id"] for a in Tags(html).find("div") if "term-entry" in a.get("class", "")]
    assert ids == [t.slug for t in sorted(GLOSSARY.terms, key=onboarding.sort_key)]
    for term in GLOSSARY.terms:
        chunk = html[html.index(f'id="{term.slug}"'):]
        chunk = chunk[: chunk.index("</div>")]
        assert str(escape(term.definition)) in chunk
        for alias in term.aliases:
            assert str(escape(alias)) in chunk
    letters = {onboarding.letter_of(t) for t in GLOSSARY.terms}
    for letter in letters:
        assert f'href="#letter-{letter}"' in html and f'id="letter-{letter}"' in html
    assert f"{len(GLOSSARY)} terms" in html


def test_glossary_links_see_refs_to_the_kb_answer_when_present(client, kb):
    term = next(t for t in GLOSSARY.terms if PNPUTIL_ADD in t.see)
    html = get(client, "/glossary")
    chunk = html[html.index(f'id="{term.slug}"'):]
    chunk = chunk[: chunk.index("</div>")]
    assert f'href="/pairs/{kb.pair_by_ref(PNPUTIL_ADD)["id"]}"' in chunk
    other = next(t for t in GLOSSARY.terms if t.slug == "irql")
    chunk = html[html.index(f'id="{other.slug}"'):]
    assert "not in this KB" in chunk[: chunk.index("</div>")]


@pytest.mark.parametrize(
    ("query", "present", "absent"),
    [
        ("spin lock", ["spin-lock"], ["irql", "irp"]),
        ("SPIN   LOCK", ["spin-lock"], ["irql"]),
        ("interrupt request level", ["irql"], ["spin-lock"]),
    ],
)
def test_glossary_q_filters_on_the_server(client, query, present, absent):
    html = get(client, "/glossary?" + "q=" + query.replace(" ", "+"))
    for slug in present:
        assert f'id="{slug}"' in html
    for slug in absent:
        assert f'id="{slug}"' not in html
    shown = html.count('class="term-entry"')
    assert f"{shown} of {len(GLOSSARY)} terms match" in html
    assert 'href="/glossary">Show all terms</a>' in html


def test_glossary_q_with_no_match_or_markup_is_escaped_and_says_so(client):
    html = get(client, "/glossary?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'class="term-entry"' not in html and "No term matches" in html
    long_query = "x" * 5000
    html = get(client, "/glossary?q=" + long_query)
    assert "x" * (onboarding.MAX_FILTER_CHARS + 1) not in html


# --- term links on the answer page ------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(FakeKB().pair_ids)))
def test_answer_page_links_each_term_once_and_never_inside_code(client, kb, index):
    html = get(client, f"/pairs/{kb.pair_ids[index]}")
    links = TermLinks(html)
    assert len(links.slugs) == len(set(links.slugs)), links.slugs
    assert links.in_code == []
    for slug, title in links.titles.items():
        assert title == GLOSSARY.find(slug).definition


def test_answer_page_term_links_point_at_the_glossary(client, kb):
    pair = kb.pair_by_question("KeSetEvent")
    html = get(client, f"/pairs/{pair['id']}")
    links = TermLinks(html)
    assert {"irql", "dispatch-level"} <= set(links.slugs)
    assert '<a class="term" href="/glossary#irql" title="' in html


def test_hostile_answer_stays_inert_with_term_links(client, kb):
    pair = kb.pair_by_question("forward a request")
    html = get(client, f"/pairs/{pair['id']}")
    answer = html[html.index('<div class="answer">'):]
    answer = answer[: answer.index("</div>")]
    tags = Tags(answer).tags
    assert TermLinks(html).slugs  # terms were linked in this answer too
    assert "script" not in {tag for tag, _ in tags} and "img" not in {tag for tag, _ in tags}
    for tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not attrs.get("href", "").lower().startswith("javascript:"), attrs


def test_answer_page_still_renders_when_the_glossary_is_broken(client, kb, monkeypatch):
    def broken(path=None):
        raise ParseError("glossary.yml entry 3: `definition` is missing or empty")

    monkeypatch.setattr(onboarding, "load_glossary", broken)
    html = get(client, f"/pairs/{kb.pair_by_question('KeSetEvent')['id']}")
    assert 'class="term"' not in html and "KeSetEvent" in html


def test_link_glossary_runs_after_sanitizing():
    from webapp.render import render_markdown

    hostile = 'An IRQL <a href="javascript:alert(1)" data-term="irql">x</a> <span class="term">IRP</span>'
    html = str(onboarding.link_glossary(render_markdown(hostile)))
    links = Tags(html).find("a")
    # The raw HTML stayed text (markdown html=False, then nh3); only our two term links are elements.
    assert [(a["href"], a["class"], a["data-term"]) for a in links] == [
        ("/glossary#irql", "term", "irql"), ("/glossary#irp", "term", "irp")]
    assert "span" not in {tag for tag, _ in Tags(html).tags}


# --- topic pages -------------------------------------------------------------------------------------------------


def test_topic_page_lists_the_paths_that_cover_it(client):
    html = get(client, "/topics/kmdf")
    section = html[html.index('class="topic-paths"'):]
    section = section[: section.index("</aside>")]
    covering = [p for p in PATHS if "kmdf" in p.topics]
    assert covering
    for path in covering:
        assert f'href="/paths/{path.id}"' in section
    assert 'class="topic-paths"' not in get(client, "/topics/ndis")  # no path lists the fake's "ndis"


# --- CSP ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_script_style_or_handlers(template):
    text = template.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", text, re.I)
    assert not re.search(r"<style|\sstyle=", text, re.I)
    assert not re.search(r"\son[a-z]+=", text, re.I)


# --- a small real KB ----------------------------------------------------------------------------------------------

DOCS = {
    "irql.md": "# IRQL basics\nQ: What IRQL can I call KeSetEvent at?\nA: Callers of KeSetEvent run at IRQL <= "
               "DISPATCH_LEVEL when Wait is FALSE; see `KeSetEvent` and the DPC rules.\n",
    "unload.md": "# Unload\nQ: My driver won't unload\nA: A leaked reference on the device object keeps it loaded; "
                 "find the missing ObDereferenceObject. Use `!object` on the IRP's device.\n",
}


@pytest.fixture(scope="module")
def real_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, KB]]:
    root = tmp_path_factory.mktemp("onboarding-kb")
    tree = root / "tree"
    tree.mkdir()
    for name, text in DOCS.items():
        (tree / name).write_text(text)
    kb = KB.open({"DATA_DIR": str(root / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(ingest.PARSERS, "qa", ("tests.qa_parser:parse", "handbook"))
        pipeline.run(kb.db, [tree], fmt="qa")
    indexer.build(kb.db, kb.embedder, kb.index_dir, kb.settings["INDEX_BACKEND"])
    yield make_test_app(kb).test_client(), kb


def test_real_kb_renders_every_onboarding_page_with_notes(real_client):
    client, kb = real_client
    assert "Start here" in get(client, "/start")
    for path in PATHS:
        get(client, f"/paths/{path.id}")
        for step in path.steps:
            html = get(client, f"/paths/{path.id}/{step.id}")
            # This KB holds none of the docs the paths cite, nor the samples catalog or the scripts.
            assert html.count('class="notice entry-missing"') == len(step.entries)
            assert "is not in this KB's catalog (ingest the samples catalog)" in html
    html = get(client, "/glossary")
    assert html.count('class="term-entry"') == len(GLOSSARY)
    assert get(client, "/glossary?q=irql").count('class="term-entry"') < len(GLOSSARY)


def test_real_kb_answer_page_links_terms(real_client):
    client, kb = real_client
    pair_id = kb.db.execute("SELECT id FROM pairs WHERE question LIKE '%KeSetEvent%'").fetchone()[0]
    links = TermLinks(get(client, f"/pairs/{pair_id}"))
    assert {"irql", "dispatch-level", "dpc"} <= set(links.slugs)
    assert len(links.slugs) == len(set(links.slugs)) and links.in_code == []
    assert kb.pair_by_ref(f"unload.md#{'q1'}") is not None  # refs do resolve where the KB holds the page
