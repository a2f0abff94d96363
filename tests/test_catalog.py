"""Source pages, open questions, samples, scripts and web feedback: with the FakeKB, and on a real KB built from
tests/data/catalog/tree plus our curated scripts (data/scripts), and on the corpus' samples catalog when present."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from fakes import FakeKB
from fakes import app  # noqa: F401  (pytest fixture)
from fakes import client  # noqa: F401  (pytest fixture)
from fakes import fake_kb  # noqa: F401  (pytest fixture)
from fakes import make_test_app
from flask import Flask
from flask.testing import FlaskClient
from test_webapp import Tags
from test_webapp import assert_csp_clean

from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.embed import FakeEmbedder
from webapp import create_app
from webapp.catalog import download_name
from webapp.catalog import post_refs
from webapp.catalog import thread_groups

ROOT = Path(__file__).resolve().parent.parent
TREE = Path(__file__).resolve().parent / "data" / "catalog" / "tree"
THREAD = "seeds/003_c11bf7d89f898402.txt"  # the FakeKB's thread source
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.status_code, resp.get_data(as_text=True)[:400])
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert_csp_clean(html)
    return html


def csrf(html: str) -> str:
    return CSRF_RE.search(html).group(1)


# --- helpers ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("numbers", "kind", "text"),
    [([5, 7], "thread", "comments 5, 7"), ([6], "thread", "comment 6"), ([3], "discourse", "post 3"),
     ([1, 2], "mbox", "messages 1, 2"), (4, None, "comment 4"), ([], "thread", ""), (None, "thread", "")],
)
def test_post_refs(numbers, kind, text):
    assert post_refs(numbers, kind) == text


def test_thread_groups_show_a_question_once_for_its_answers():
    def pair(q, refs, a):
        return {"question": q, "source": {"locator": {"question": refs, "answer": a}}, "asked_by": "x"}

    groups = thread_groups([pair("Q1", [1], [2]), pair("Q1", [1], [3]), pair("Q2", [4], [5]), pair("Q1", [1], [6])])
    assert [(g["question"], len(g["pairs"])) for g in groups] == [("Q1", 2), ("Q2", 1), ("Q1", 1)]


@pytest.mark.parametrize(
    ("script", "name"),
    [({"id": "object-leak", "tool": "windbg", "extra": {"file": "object-leak.wds"}}, "object-leak.wds"),
     ({"id": "irql", "tool": "windbg", "extra": {"file": "irql.txt"}}, "irql.txt"),
     ({"id": "s-1", "tool": "windbg", "extra": {}}, "s-1.txt"),
     ({"id": "add", "tool": "cmd"}, "add.cmd"),
     ({"id": "usb", "tool": "powershell", "extra": {"file": "usb.ps1"}}, "usb.ps1"),
     ({"id": "usb", "tool": "powershell", "extra": {"file": "other.wds"}}, "usb.ps1"),  # not its own file
     ({"id": 'a"b/../c;\r\nx', "tool": "cmd"}, "a-b-..-c-x.cmd"),
     ({"id": "...", "tool": "mystery"}, "script.txt")],
)
def test_download_name(script, name):
    assert download_name(script) == name


# --- samples (FakeKB) -------------------------------------------------------------------------------------------------
def test_samples_catalog_lists_every_sample_with_types_and_linked_answers(client):
    html = page(client, "/samples")
    items = re.findall(r'<h2 class="result-question"><a href="/samples/([^"]+)">', html)
    assert items == ["general/echo/umdf2", "general/toaster", "usb/kmdf_fx2"]
    assert "3 of 3 samples" in html and "2 linked answers" in html and "0 linked answers" in html
    assert '<option value="KMDF">KMDF (2)</option>' in html and '<option value="UMDF">UMDF (1)</option>' in html
    form = Tags(html).find("form")
    assert any(f.get("action") == "/samples" and f.get("method") == "get" for f in form)  # works without JS


@pytest.mark.parametrize(
    ("query", "expected"),
    [("type=KMDF", ["general/toaster", "usb/kmdf_fx2"]), ("type=kmdf", ["general/toaster", "usb/kmdf_fx2"]),
     ("type=UMDF", ["general/echo/umdf2"]), ("type=NDIS", []), ("topic=irql", ["general/toaster"]),
     ("topic=usb", ["general/toaster", "usb/kmdf_fx2"]), ("type=WDM&topic=usb", ["general/toaster"])],
)
def test_samples_filter_by_type_and_topic(client, query, expected):
    html = page(client, "/samples?" + query)
    assert re.findall(r'<h2 class="result-question"><a href="/samples/([^"]+)">', html) == expected
    if not expected:
        assert "No sample matches these filters" in html
    else:
        assert "show all" in html


def test_samples_unknown_topic_is_a_404(client):
    assert "Unknown topic" in page(client, "/samples?topic=nope", 404)


def test_sample_page_shows_readme_ddis_and_linking_answers(client, fake_kb):
    html = page(client, "/samples/general/toaster")
    assert "<h1 class=\"page-title\">Toaster sample</h1>" in html
    assert "imaginary toaster device" in html and "TOASTER" in html and "wdffeatured" in html
    assert 'href="https://github.com/microsoft/Windows-driver-samples/tree/main/general/toaster"' in html
    # how to build and run it: the README pairs, rendered
    assert "<code>toaster.sln</code>" in html and "<strong>x64 Debug</strong>" in html
    # 23 DDIs: folded; each with file:line links; documented ones searchable
    assert '<details class="ddis">' in html and "All 23 DDIs" in html
    blob = "https://github.com/microsoft/Windows-driver-samples/blob/main/general/toaster/toastDrv"
    assert f'href="{blob}/kmdf/func/featured/toaster.c#L512"' in html
    assert "toastDrv/wdm/func/power.c:88</a>" in html
    assert '<a href="/?q=KeSetEvent"><code>KeSetEvent</code></a>' in html
    assert "<code>_TOASTER_EXTENSION</code>" in html and 'q=_TOASTER_EXTENSION' not in html
    # the answers that link here, with the reason
    kesetevent = fake_kb.pair_by_question("KeSetEvent")
    assert f'href="/pairs/{kesetevent["id"]}"' in html and "— calls KeSetEvent" in html
    assert "— same topic: kmdf" in html


def test_short_ddi_list_is_not_folded_and_missing_readme_says_so(client):
    html = page(client, "/samples/usb/kmdf_fx2")
    assert "<details" not in html and "WdfDeviceAssignS0IdleSettings" in html
    assert "This KB has no README for this sample" in html
    assert "No DDI calls are recorded" in page(client, "/samples/general/echo/umdf2")
    assert "no sample" in page(client, "/samples/no/such", 404)


# --- scripts (FakeKB) -------------------------------------------------------------------------------------------------
def test_scripts_list_is_curated_unless_asked_for_all(client):
    html = page(client, "/scripts")
    assert re.findall(r'href="/scripts/([^"]+)">', html) == ["object-leak", "usb-devices"]
    assert "1 powershell, 1 windbg" in html
    every = page(client, "/scripts?all=1")
    assert set(re.findall(r'href="/scripts/([^"/]+)">', every)) == {"object-leak", "usb-devices", "s-pnputil-add",
                                                                     "s-unload-objhdr"}


def test_curated_script_page(client):
    html = page(client, "/scripts/object-leak")
    assert '<div id="script-commands" class="code-block"><pre><code>$$ replace the address' in html
    copy = [b for b in Tags(html).find("button") if "copy-button" in b.get("class", "")]
    assert copy and copy[0]["data-copy-target"] == "script-commands" and "hidden" in copy[0]  # shown by app.js
    assert 'href="/scripts/object-leak/download" download="object-leak.wds"' in html
    assert "<summary>Sample output</summary>" in html and "Object: 81a578c0" in html
    assert "<dt>When</dt>" in html and "does not unload" in html
    assert "<code>$$&gt;&lt;C:\\kb\\scripts\\object-leak.wds</code>" in html
    assert "<dt>What to look for</dt>" in html
    assert 'href="https://learn.microsoft.com/windows-hardware/drivers/debuggercmds/-obtrace"' in html
    assert "Curated script <code class=\"path\">object-leak.wds</code>" in html
    assert "No answer links to this script yet." in html


def test_extracted_script_page_links_its_source_and_answers(client, fake_kb):
    html = page(client, "/scripts/s-unload-objhdr")
    source = "windows-driver-docs-pr/debugger/debugging-a-failed-driver-unload.md"
    assert f'href="/sources/{source}">Debugging a Failed Driver Unload</a>' in html
    assert "code block 1" in html and "original page" in html
    unload = fake_kb.pair_by_question("fails to unload")
    assert f'href="/pairs/{unload["id"]}"' in html and "— from the same page" in html
    assert "No script with id &#39;nope&#39;" in page(client, "/scripts/nope", 404)


@pytest.mark.parametrize(
    ("script_id", "filename", "first_line"),
    [("object-leak", "object-leak.wds", "$$ Find who holds"), ("usb-devices", "usb-devices.ps1", "# List USB"),
     ("s-pnputil-add", "s-pnputil-add.cmd", ":: Add and install"),
     ("s-unload-objhdr", "s-unload-objhdr.txt", "$$ Watch")],
)
def test_script_download(client, script_id, filename, first_line):
    resp = client.get(f"/scripts/{script_id}/download")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain" and resp.mimetype_params.get("charset") == "utf-8"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    body = resp.get_data(as_text=True)
    assert body.startswith(first_line) and body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")
    assert f"From Driver KB: http://127.0.0.1:5000/scripts/{script_id}" in body  # PUBLIC_URL, not the Host header


def test_script_download_of_unknown_script_is_a_404(client):
    assert client.get("/scripts/nope/download").status_code == 404


def test_catalog_pages_without_catalog_methods_are_404s(fake_kb, monkeypatch):
    monkeypatch.delattr(type(fake_kb), "samples")
    html = page(make_test_app(fake_kb).test_client(), "/samples", 404)
    assert "this KB has no samples()" in html


# --- source pages (FakeKB) --------------------------------------------------------------------------------------------
def test_thread_source_page_shows_who_asked_and_answered_which_comments(client, fake_kb):
    html = page(client, "/sources/" + THREAD)
    assert "Ask a driver question (comments)" in html
    send = fake_kb.pair_by_question("WdfRequestSend return FALSE")
    ndis = fake_kb.pair_by_question("NDIS miniport")
    assert f'id="pair-{send["id"]}"' in html and f'id="pair-{ndis["id"]}"' in html
    assert "Question (comments 5, 7) by <strong>velcro42</strong>" in html
    assert "Answer (comment 6) by <strong>doronh</strong>" in html
    assert "Question (comment 1) by <strong>ndis_dev</strong>" in html
    assert html.index(f'id="pair-{ndis["id"]}"') < html.index(f'id="pair-{send["id"]}"')  # reading order
    assert "<strong>WdfRequestSend</strong> fails the request" in html  # answers rendered
    # the thread's open questions, in comment order
    never = html[html.index("Never answered"):]
    assert 'id="open-oq-thread-3"' in never and 'id="open-oq-thread-9"' in never
    assert never.index("open-oq-thread-3") < never.index("open-oq-thread-9")
    assert "Question (comment 3) by <strong>pdq_dev</strong> — never answered" in never
    assert "<p>We tried load order groups but the results look random.</p>" in never


def test_docs_source_page_lists_its_answers_with_anchors(client, fake_kb):
    pair = fake_kb.pair_by_question("fails to unload")
    html = page(client, "/sources/" + pair["source"]["path"])
    assert f'id="pair-{pair["id"]}"' in html
    assert 'href="https://learn.microsoft.com/windows-hardware/drivers/debugger/debugging-a-failed-driver-unload"' \
        in html
    assert "Never answered" not in html and "Fixing a driver that fails to unload" in html
    assert "no source" in page(client, "/sources/no/such.md", 404)


def test_answer_page_and_search_results_link_into_the_source(client, fake_kb):
    send = fake_kb.pair_by_question("WdfRequestSend return FALSE")
    anchor = f'href="/sources/{THREAD}#pair-{send["id"]}"'
    html = page(client, f"/pairs/{send['id']}")
    assert f'<a class="thread-link" {anchor}>in the thread</a>' in html
    docs = fake_kb.pair_by_question("KeSetEvent")
    html = page(client, f"/pairs/{docs['id']}")
    assert "in the thread" not in html and "Every answer from this source" in html
    assert 'href="/samples/general/toaster">Toaster sample</a>' in html  # our sample page, GitHub next to it
    results = page(client, "/?q=WdfRequestSend+STATUS_INVALID_DEVICE_STATE")
    assert f'<a class="thread-link" {anchor}>in the thread</a>' in results
    assert f'href="/pairs/{send["id"]}?q=WdfRequestSend+STATUS_INVALID_DEVICE_STATE"' in results


# --- open questions (FakeKB) ------------------------------------------------------------------------------------------
def test_open_questions_page(client):
    html = page(client, "/open-questions")
    slack = html[html.index("Asked in Slack"):html.index("Never answered in threads")]
    assert "(1)" in slack and "survive a surprise removal" in slack and "U0123" in slack
    assert "<time datetime=\"2024-06-02T08:30:00Z\">2024-06-02</time>" in slack
    assert "search the KB for it" in slack
    threads = html[html.index("Never answered in threads"):]
    assert "(2)" in threads
    assert f'href="/sources/{THREAD}#open-oq-thread-3">in the thread</a>' in threads
    assert threads.index("oq-thread-3") < threads.index("oq-thread-9")


# --- feedback on answers (FakeKB) -------------------------------------------------------------------------------------
def test_feedback_form_carries_the_query_and_a_token(client, fake_kb):
    pair = fake_kb.pair_by_question("KeSetEvent")
    html = page(client, f"/pairs/{pair['id']}?q=KeSetEvent+at+DPC")
    form = next(f for f in Tags(html).find("form") if f.get("action") == f"/pairs/{pair['id']}/feedback")
    assert form["method"] == "post"
    assert '<input type="hidden" name="q" value="KeSetEvent at DPC">' in html
    assert len(csrf(html)) >= 32
    assert 'name="verdict" value="helpful"' in html and 'name="verdict" value="not-helpful"' in html
    assert 'type="hidden" name="q"' not in page(client, f"/pairs/{pair['id']}")  # no search, no query


def test_helpful_feedback_is_recorded_and_thanked_once(client, fake_kb):
    pair = fake_kb.pair_by_question("KeSetEvent")
    token = csrf(page(client, f"/pairs/{pair['id']}?q=irql"))
    resp = client.post(f"/pairs/{pair['id']}/feedback", data={"csrf_token": token, "q": "irql", "verdict": "helpful",
                                                               "reason": "ignored for helpful"})
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/pairs/{pair['id']}?q=irql#feedback"
    assert fake_kb.calls[-1] == ("record_feedback", ("irql", pair["id"], "helpful", "", "web", None))
    thanked = page(client, resp.headers["Location"].split("#")[0])
    assert "Thank you: your feedback was recorded" in thanked and 'name="verdict"' not in thanked
    again = client.post(f"/pairs/{pair['id']}/feedback", data={"csrf_token": token, "verdict": "not-helpful"})
    assert again.status_code == 303 and again.headers["Location"] == f"/pairs/{pair['id']}#feedback"
    assert "You already sent feedback" in page(client, f"/pairs/{pair['id']}")
    assert sum(1 for name, _ in fake_kb.calls if name == "record_feedback") == 1


def test_not_helpful_keeps_the_reason_and_cleans_the_query(client, fake_kb):
    pair = fake_kb.pair_by_question("fails to unload")
    token = csrf(page(client, f"/pairs/{pair['id']}"))
    client.post(f"/pairs/{pair['id']}/feedback", data={"csrf_token": token, "q": " unload\x00  hangs ",
                                                        "verdict": "not-helpful", "reason": "  x" * 1500})
    query, pair_id, verdict, reason, origin, user = fake_kb.calls[-1][1]
    assert (query, pair_id, verdict, origin, user) == ("unload hangs", pair["id"], "not-helpful", "web", None)
    assert reason.startswith("x  x") and len(reason) == 2000


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [({"verdict": "helpful"}, 400, "This form has expired"),
     ({"verdict": "helpful", "csrf_token": "forged"}, 400, "This form has expired"),
     ({"verdict": "great", "csrf_token": None}, 400, "Pick Helpful or Not helpful")],
)
def test_feedback_is_refused_without_the_token_or_a_verdict(client, fake_kb, data, status, message):
    pair = fake_kb.pair_by_question("KeSetEvent")
    token = csrf(page(client, f"/pairs/{pair['id']}"))
    data = {k: (token if v is None else v) for k, v in data.items()}
    resp = client.post(f"/pairs/{pair['id']}/feedback", data=data)
    assert resp.status_code == status and message in resp.get_data(as_text=True)
    assert not any(name == "record_feedback" for name, _ in fake_kb.calls)


def test_feedback_on_an_unknown_pair_is_a_404(client):
    token = csrf(page(client, "/samples/general/toaster") + page(client, f"/pairs/{FakeKB().pair_ids[0]}"))
    resp = client.post("/pairs/nope/feedback", data={"csrf_token": token, "verdict": "helpful"})
    assert resp.status_code == 404


def test_feedback_from_another_site_without_the_session_cookie_is_refused(app: Flask, fake_kb):
    pair = fake_kb.pair_by_question("KeSetEvent")
    token = csrf(page(app.test_client(), f"/pairs/{pair['id']}"))
    stranger = app.test_client()  # no session cookie: a cross-site form post
    resp = stranger.post(f"/pairs/{pair['id']}/feedback", data={"csrf_token": token, "verdict": "helpful"})
    assert resp.status_code == 400
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax" and app.config["SECRET_KEY"]


# --- a real KB: tests/data/catalog/tree + data/scripts ----------------------------------------------------------------
@pytest.fixture(scope="module")
def real_kb(tmp_path_factory: pytest.TempPathFactory) -> KB:
    base = tmp_path_factory.mktemp("catalog")
    kb = KB.open({"DATA_DIR": str(base / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    summary = pipeline.run(kb.db, [TREE, ROOT / "data" / "scripts"])
    assert summary.problems == [] and summary.samples == 3 and summary.scripts >= 20
    indexer.build(kb.db, kb.embedder, kb.index_dir, "numpy")
    return kb


@pytest.fixture(scope="module")
def real_client(real_kb: KB) -> FlaskClient:
    app = create_app({"TESTING": True, "DATA_DIR": str(real_kb.data_dir), "API_RATE_LIMIT": 0}, kb=real_kb)
    return app.test_client()


def test_real_samples_catalog_and_filters(real_client):
    html = page(real_client, "/samples")
    assert "3 of 3 samples" in html and '<option value="WDM">WDM (2)</option>' in html
    found = re.findall(r'<a href="/samples/([^"]+)">', page(real_client, "/samples?type=WDM"))
    assert found == ["general/toaster/toastDrv", "wdm/event"]
    assert re.findall(r'<a href="/samples/([^"]+)">', page(real_client, "/samples?type=UMDF")) == ["general/echo/umdf2"]


def test_real_sample_page(real_client):
    html = page(real_client, "/samples/general/toaster/toastDrv")
    assert "<code>toaster.sln</code>" in html and "devcon install" in html  # README pairs, rendered
    assert "How do I build the Toaster (toastDrv) sample?" in html
    blob = "https://github.com/microsoft/Windows-driver-samples/blob/26a27df807/general/toaster/toastDrv"
    assert f'href="{blob}/wdm/func/power.c#L41"' in html  # the catalog's commit, not a moving branch
    assert "<details" not in html  # three DDIs: shown open
    assert "— calls KeSetEvent" in html and "— named in this answer" in html
    assert "Can KeSetEvent be called at DISPATCH_LEVEL from my DPC?" in html


def test_real_scripts_curated_page_and_download(real_client, real_kb):
    html = page(real_client, "/scripts")
    listed = re.findall(r'<h2 class="result-question"><a href="/scripts/([^"]+)">', html)
    assert "kdnet-setup" in listed and "object-leak" in listed and len(listed) == len(real_kb.scripts())
    script = page(real_client, "/scripts/kdnet-setup")
    assert "<dt>How to run it</dt>" in script and "Curated script" in script and "kdnet-setup.cmd" in script
    resp = real_client.get("/scripts/kdnet-setup/download")
    assert resp.headers["Content-Disposition"] == 'attachment; filename="kdnet-setup.cmd"'
    commands = real_kb.get_script("kdnet-setup")["commands"]
    assert commands.splitlines()[0] in resp.get_data(as_text=True)
    wds = real_client.get("/scripts/bugcheck-triage/download")
    assert wds.headers["Content-Disposition"] == 'attachment; filename="bugcheck-triage.wds"'
    assert "!analyze -v\r\n" in wds.get_data(as_text=True)


def test_real_extracted_script_links_its_docs_page(real_client, real_kb):
    extracted = [s for s in real_kb.scripts(curated_only=False) if s["source"].startswith("windows-driver-docs-pr/")]
    assert extracted
    html = page(real_client, f"/scripts/{extracted[0]['id']}")
    assert 'href="/sources/windows-driver-docs-pr/kernel/signaling-an-event.md">Signaling an event object</a>' in html
    assert "How do I signal an event object?" in html  # the pair that links to it
    source = page(real_client, "/sources/windows-driver-docs-pr/kernel/signaling-an-event.md")
    assert 'href="https://learn.microsoft.com/windows-hardware/drivers/kernel/signaling-an-event"' in source


def test_real_thread_page_and_open_questions(real_client, real_kb):
    html = page(real_client, "/sources/ask-the-kmdf-team.txt")
    assert "Question (comment 1) by <strong>velcro42</strong>" in html
    assert "Answer (comment 2) by <strong>marta_k</strong>" in html
    assert "Question (comment 6) by <strong>tal_z</strong>" in html
    assert "Question (comment 5) by <strong>anna_b</strong> — never answered" in html
    pair_ids = [p["id"] for p in real_kb.get_source("ask-the-kmdf-team.txt")["pairs"]]
    assert all(f'id="pair-{pid}"' in html for pid in pair_ids)
    real_kb.record_open_question("How do I debug a hang in EvtIoStop?", origin="slack", asked_by="U42")
    oq = page(real_client, "/open-questions")
    slack, threads = oq.split("Never answered in threads")
    assert "How do I debug a hang in EvtIoStop?" in slack and "U42" in slack
    oid = real_kb.get_source("ask-the-kmdf-team.txt")["open_questions"][0]["id"]
    assert f'href="/sources/ask-the-kmdf-team.txt#open-{oid}">in the thread</a>' in threads
    assert f'id="open-{oid}"' in html


def test_real_search_links_thread_answers_to_their_place(real_client, real_kb):
    html = page(real_client, "/?q=" + quote("KeSetEvent DPC DISPATCH_LEVEL"))
    tal = next(p for p in real_kb.get_source("ask-the-kmdf-team.txt")["pairs"] if "DPC" in p["question"])
    assert f'href="/sources/ask-the-kmdf-team.txt#pair-{tal["id"]}">in the thread</a>' in html
    assert f'href="/pairs/{tal["id"]}?q=KeSetEvent+DPC+DISPATCH_LEVEL"' in html


def test_real_feedback_from_the_answer_page_is_stored(real_client, real_kb):
    tal = next(p for p in real_kb.get_source("ask-the-kmdf-team.txt")["pairs"] if "DPC" in p["question"])
    token = csrf(page(real_client, f"/pairs/{tal['id']}?q=KeSetEvent+in+a+DPC"))
    resp = real_client.post(f"/pairs/{tal['id']}/feedback", data={
        "csrf_token": token, "q": "KeSetEvent in a DPC", "verdict": "not-helpful", "reason": "too short"})
    assert resp.status_code == 303
    rows = [r for r in real_kb.feedback_listing() if r["pair_id"] == tal["id"]]
    assert [(r["query"], r["verdict"], r["reason"], r["origin"]) for r in rows] == [
        ("KeSetEvent in a DPC", "not-helpful", "too short", "web")]


# --- the corpus' samples catalog, READMEs and the 382-comment thread --------------------------------------------------
@pytest.mark.corpus
def test_corpus_catalog_pages(corpus: Path, tmp_path: Path) -> None:
    kb = KB.open({"DATA_DIR": str(tmp_path / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    summary = pipeline.run(kb.db, [corpus / "driver-samples.json.gz", corpus / "driver-samples-readmes.tar.gz",
                                   corpus / "seeds" / "003_c11bf7d89f898402.txt"])
    assert summary.problems == [] and summary.samples == 136
    client = create_app({"TESTING": True, "DATA_DIR": str(kb.data_dir)}, kb=kb).test_client()
    kmdf = page(client, "/samples?type=KMDF")
    assert "52 of 136 samples" in kmdf
    toaster = page(client, "/samples/general/toaster/toastDrv")
    assert '<details class="ddis">' in toaster and "How do I build" in toaster
    assert "blob/26a27df807/general/toaster/toastDrv/" in toaster
    thread = page(client, "/sources/003_c11bf7d89f898402.txt")
    assert thread.count('class="source-pair" id="pair-') == len(kb.get_source("003_c11bf7d89f898402.txt")["pairs"])
    assert "by <strong>doronh</strong>" in thread and thread.count("— never answered") >= 40


def test_a_changed_page_relinks_its_own_pairs_and_a_changed_curated_script_relinks_all(tmp_path: Path) -> None:
    import shutil

    tree, scripts = tmp_path / "tree", tmp_path / "scripts"
    shutil.copytree(TREE, tree)
    shutil.copytree(ROOT / "data" / "scripts", scripts)
    kb = KB.open({"DATA_DIR": str(tmp_path / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    first = pipeline.run(kb.db, [tree, scripts])
    every = kb.db.execute("SELECT count(*) FROM links").fetchone()[0]
    assert first.links == every > 0

    page = tree / "windows-driver-docs-pr" / "kernel" / "signaling-an-event.md"
    # The new section holds a debugger session: the page's extracted scripts change too.
    page.write_text(page.read_text() + "\n## Check the event\n\nCall **KeSetEvent** with Wait set to FALSE, then:\n\n"
                    "```dbgcmd\nkd> !object \\BaseNamedObjects\\MyEvent\n```\n")
    own = pipeline.run(kb.db, [tree, scripts])
    page_links = kb.db.execute("SELECT count(*) FROM links l JOIN pairs p ON p.n = l.pair_n WHERE p.source = ?",
                               ["windows-driver-docs-pr/kernel/signaling-an-event.md"]).fetchone()[0]
    assert own.parsed == 1 and own.links == page_links < kb.db.execute("SELECT count(*) FROM links").fetchone()[0]

    script = sorted(scripts.glob("*.ps1"))[0]
    script.write_text(script.read_text() + "\n# one more comment\n")
    everything = pipeline.run(kb.db, [tree, scripts])
    assert everything.parsed == 1 and everything.links == kb.db.execute("SELECT count(*) FROM links").fetchone()[0]
