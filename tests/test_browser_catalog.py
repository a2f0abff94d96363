"""Samples, scripts, source pages, feedback and admin in headless Chromium, over the FakeKB.

Reuses the browser, page and console helpers of tests/test_browser.py; screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fakes import FakeKB
from fakes import make_test_app
from fakes import serve_app
from test_browser import Console
from test_browser import assert_console_clean
from test_browser import browser  # noqa: F401  (pytest fixture)
from test_browser import page  # noqa: F401  (pytest fixture)
from test_browser import shot

pytestmark = pytest.mark.browser

TOKEN = "browser-test-admin-token-0123456789abcdef"
THREAD = "seeds/003_c11bf7d89f898402.txt"


@pytest.fixture(scope="module")
def kb() -> FakeKB:
    return FakeKB()


@pytest.fixture(scope="module")
def base_url(kb: FakeKB) -> Iterator[str]:
    """The app (admin on, API unlimited) served by werkzeug on a free port of 127.0.0.1 in a thread."""
    with serve_app(make_test_app(kb, ADMIN_TOKEN=TOKEN, API_RATE_LIMIT=0)) as url:
        yield url


def test_samples_filter_open_a_sample_then_a_script(page, base_url):  # noqa: F811
    page.goto(base_url + "/samples")
    assert page.locator("ul.sample-list > li").count() == 3
    shot(page, "samples")
    page.select_option("#sample-type", "KMDF")
    with page.expect_navigation():
        page.click("form.catalog-filter button[type=submit]")
    assert "type=KMDF" in page.url
    titles = page.locator("ul.sample-list h2 a").all_inner_texts()
    assert titles == ["Toaster sample", "KMDF OSR USB-FX2 sample"]
    shot(page, "samples-kmdf")

    with page.expect_navigation():
        page.click("text=Toaster sample")
    assert page.url == base_url + "/samples/general/toaster"
    assert page.locator("h1").inner_text() == "Toaster sample"
    ddis = page.locator("details.ddis")
    assert not ddis.locator("ul.ddi-list").is_visible()  # 23 DDIs start folded
    ddis.locator("summary").click()
    assert ddis.locator("ul.ddi-list").is_visible()
    link = page.locator("ul.ddi-list a[href$='toaster.c#L512']")
    assert link.count() == 1 and link.get_attribute("rel") == "nofollow noopener"
    assert page.locator(".readme-part code", has_text="toaster.sln").is_visible()
    shot(page, "sample")

    page.goto(base_url + "/scripts")
    with page.expect_navigation():
        page.click("text=Find who holds a reference on a leaked object")
    assert page.url == base_url + "/scripts/object-leak"
    shot(page, "script-curated")
    assert_console_clean(page)


def test_copy_button_and_download(browser, base_url, kb):  # noqa: F811
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    try:
        page = context.new_page()
        page.console = Console(page)
        page.goto(base_url + "/scripts/object-leak")
        button = page.locator("button.copy-button")
        assert button.is_visible()  # app.js shows it where the clipboard API exists
        button.click()
        page.wait_for_function("document.querySelector('button.copy-button').textContent === 'Copied'")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == kb.get_script("object-leak")["commands"].rstrip() + "\n"
        assert "clipboard" in page.locator(".copy-status").inner_text()
        shot(page, "script-copied")

        with page.expect_download() as info:
            page.click("a.download-link")
        download = info.value
        assert download.suggested_filename == "object-leak.wds"
        text = open(download.path(), encoding="utf-8", newline="").read()
        assert "!obtrace 81a578c0\r\n" in text and text.startswith("$$ Find who holds")
        assert_console_clean(page)
    finally:
        context.close()


def test_copy_button_stays_hidden_without_javascript(browser, base_url):  # noqa: F811
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(base_url + "/scripts/object-leak")
        assert not page.locator("button.copy-button").is_visible()
        assert page.locator("#script-commands pre").is_visible()
        page.goto(base_url + "/samples?type=UMDF")  # the filter form works without JS too
        assert page.locator("ul.sample-list h2 a").all_inner_texts() == ["Echo sample (UMDF version 2)"]
    finally:
        context.close()


def test_thread_link_feedback_and_open_questions(page, base_url, kb):  # noqa: F811
    send = kb.pair_by_question("WdfRequestSend return FALSE")
    page.goto(base_url + "/?q=WdfRequestSend+surprise+removal")
    with page.expect_navigation():
        page.locator(f"a.thread-link[href$='#pair-{send['id']}']").click()
    assert page.url.endswith(f"/sources/{THREAD}#pair-{send['id']}")
    target = page.locator(f"#pair-{send['id']}")
    assert target.evaluate("e => e.matches(':target')")
    assert "Answer (comment 6) by doronh" in target.inner_text()
    shot(page, "source-thread")

    page.goto(base_url + "/?q=WdfRequestSend+surprise+removal")
    with page.expect_navigation():
        page.locator(f"ol.results h2 a[href^='/pairs/{send['id']}']").click()
    assert "q=WdfRequestSend" in page.url
    assert not page.locator("#feedback-reason").is_visible()  # "Not helpful" asks for the reason first
    page.click("details.feedback-more summary")
    page.fill("#feedback-reason", "It does not say how to stop the queue first.")
    page.locator("section.feedback").scroll_into_view_if_needed()
    shot(page, "answer-feedback-form")
    with page.expect_navigation():
        page.click("button[value=not-helpful]")
    assert page.url.endswith("#feedback")
    assert "Thank you" in page.locator("section.feedback").inner_text()
    name, args = next(c for c in reversed(kb.calls) if c[0] == "record_feedback")
    assert args[:5] == ("WdfRequestSend surprise removal", send["id"], "not-helpful",
                        "It does not say how to stop the queue first.", "web")
    shot(page, "answer-feedback-thanks")

    page.goto(base_url + "/open-questions")
    shot(page, "open-questions")
    with page.expect_navigation():
        page.click("a[href$='#open-oq-thread-3']")
    assert page.locator("#open-oq-thread-3").evaluate("e => e.matches(':target')")
    assert_console_clean(page)


def test_admin_login_and_moderation(page, base_url, kb):  # noqa: F811
    kb.record_feedback("KeSetEvent IRQL", kb.pair_ids[0], "not-helpful", "the table is wrong", origin="slack",
                       user="U1")
    page.goto(base_url + "/admin/feedback")
    assert page.locator("input[type=password]").is_visible()
    shot(page, "admin-login")
    page.fill("#admin-token", TOKEN)
    with page.expect_navigation():
        page.click("form.admin-form button[type=submit]")
    assert page.url == base_url + "/admin/feedback"
    row = page.locator("table.admin-table tbody tr").first
    assert "the table is wrong" in row.inner_text()
    with page.expect_navigation():
        row.locator("button", has_text="Dismiss").click()
    assert "dismissed" in page.locator("table.admin-table tbody tr").first.inner_text()
    shot(page, "admin-feedback")
    page.goto(base_url + "/admin/reingest")
    shot(page, "admin-reingest")
    # Chromium logs the 401 of the login form's first load as a failed resource load; nothing else may show.
    assert [p for p in page.console.problems if "status of 401" not in p] == [] and page.console.dialogs == []


def test_catalog_pages_fit_a_narrow_window(browser, base_url, kb):  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 780})
    try:
        page = context.new_page()
        page.console = Console(page)
        for name, path in [("narrow-samples", "/samples"), ("narrow-sample", "/samples/general/toaster"),
                           ("narrow-script", "/scripts/object-leak"), ("narrow-source", f"/sources/{THREAD}"),
                           ("narrow-open-questions", "/open-questions"), ("narrow-scripts", "/scripts")]:
            page.goto(base_url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            shot(page, name)
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 360px wide"
        assert_console_clean(page)
    finally:
        context.close()


def test_catalog_pages_in_dark_mode(browser, base_url):  # noqa: F811
    context = browser.new_context(color_scheme="dark", viewport={"width": 1100, "height": 900})
    try:
        page: Any = context.new_page()
        page.console = Console(page)
        for name, path in [("dark-sample", "/samples/general/toaster"), ("dark-script", "/scripts/object-leak")]:
            page.goto(base_url + path)
            shot(page, name)
        assert_console_clean(page)
    finally:
        context.close()
