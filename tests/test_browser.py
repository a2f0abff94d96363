"""The web UI in headless Chromium (Debian's /usr/bin/chromium driven by Playwright), over the FakeKB.

Screenshots land in test-artifacts/screenshots/ (git-ignored) for a person to look at.
Install the browser with scripts/install-browser.sh.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeKB
from fakes import make_test_app
from fakes import serve_app

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: run scripts/install-browser.sh", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing: pip install -e '.[test]'"
)

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def kb() -> FakeKB:
    return FakeKB()


@pytest.fixture(scope="module")
def base_url(kb: FakeKB) -> Iterator[str]:
    """The app with the FakeKB, served by werkzeug on a free port of 127.0.0.1 in a thread."""
    with serve_app(make_test_app(kb)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """Console errors, uncaught page errors, failed requests and dialogs seen by one page."""

    def __init__(self, page: Any) -> None:
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("requestfailed", self._request_failed)
        page.on("dialog", self._dialog)

    def _console(self, msg: Any) -> None:
        # CSP violations are reported as console errors ("Refused to execute inline script ...").
        if msg.type in {"error", "warning"}:
            self.problems.append(f"console {msg.type}: {msg.text}")

    def _request_failed(self, request: Any) -> None:
        # A load cut short by the next navigation (the favicon, typically) is not a fault of the page.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"requestfailed: {request.url} ({request.failure})")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.console = Console(page)
    try:
        yield page
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_console_clean(page: Any) -> None:
    assert page.console.problems == []
    assert page.console.dialogs == []


def test_search_then_open_an_answer(page, base_url, kb):
    page.goto(base_url + "/")
    assert page.evaluate("document.activeElement.id") == "q"  # autofocus
    shot(page, "home")
    page.keyboard.type("KeSetEvent IRQL")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    results = page.locator("ol.results > li.result")
    assert results.count() >= 1
    first = results.first.locator("h2 a")
    assert first.inner_text() == "At what IRQL can KeSetEvent be called?"
    assert page.locator("ol.results mark").first.is_visible()
    shot(page, "search-results")

    with page.expect_navigation():
        first.click()
    pair = kb.pair_by_question("KeSetEvent")
    assert page.url == f"{base_url}/pairs/{pair['id']}?q=KeSetEvent+IRQL"
    assert page.locator("h1.question").inner_text() == pair["question"]
    citation = page.locator("aside.citation a.citation-link")
    assert citation.get_attribute("href") == pair["source"]["url"]
    assert citation.get_attribute("rel") == "nofollow noopener"
    assert "Source:" in page.locator("aside.citation").inner_text()
    shot(page, "answer")
    assert_console_clean(page)


def test_keyboard_only(page, base_url, kb):
    # The answer page has no autofocus, so the first Tab lands on the skip link.
    page.goto(f"{base_url}/pairs/{kb.pair_ids[0]}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0  # visible when focused
    shot(page, "skip-link-focused")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.goto(base_url + "/?q=IRQL")  # focus starts in the autofocused search box
    first_result = page.locator("ol.results > li.result h2 a").first
    href = first_result.get_attribute("href")
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == href:
            break
    else:
        pytest.fail("Tab never reached the first result")
    shot(page, "first-result-focused")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == base_url + href

    page.keyboard.press("/")  # focuses the header search box
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("unload")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "q=unload" in page.url
    assert page.locator("ol.results > li.result").count() >= 1
    assert_console_clean(page)


def test_hostile_answer_runs_nothing(page, base_url, kb):
    pair = kb.pair_by_question("forward a request")
    page.goto(f"{base_url}/pairs/{pair['id']}")
    answer = page.locator("div.answer")
    assert "<script>alert('xss')</script>" in answer.inner_text()  # shown as text
    assert answer.locator("script, img, [onerror]").count() == 0
    hrefs = answer.locator("a:not(.term)").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert all(h and h.startswith("https://") for h in hrefs)
    shot(page, "answer-hostile")
    assert_console_clean(page)


def test_narrow_window_has_no_horizontal_overflow(browser, base_url, kb):
    context = browser.new_context(viewport={"width": 360, "height": 780})
    try:
        page = context.new_page()
        page.console = Console(page)
        for name, path in [
            ("narrow-answer-code", f"/pairs/{kb.pair_by_question('fails to unload')['id']}"),
            ("narrow-search", "/?q=WdfRequestSend+STATUS_INVALID_DEVICE_STATE"),
            ("narrow-home", "/"),
            ("narrow-topics", "/topics"),
        ]:
            page.goto(base_url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            shot(page, name)
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 360px wide"
        # long code lines scroll inside their block instead of widening the page
        page.goto(base_url + f"/pairs/{kb.pair_by_question('fails to unload')['id']}")
        pre = page.locator("pre").last
        assert pre.evaluate("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'auto'")
        assert_console_clean(page)
    finally:
        context.close()


def test_other_pages_render_cleanly(page, base_url, kb):
    for name, path in [
        ("topics", "/topics"),
        ("topic-kmdf", "/topics/kmdf"),
        ("about", "/about"),
        ("script", "/scripts/s-unload-objhdr"),
        ("thread-answer", f"/pairs/{kb.pair_by_question('NDIS miniport')['id']}"),
    ]:
        response = page.goto(base_url + path)
        assert response.status == 200, path
        shot(page, name)
    assert_console_clean(page)


@pytest.mark.parametrize(
    ("name", "path", "status", "text"),
    [
        ("error-400", "/?q=irql&k=abc", 400, "not a number"),
        ("error-404", "/no/such/page", 404, "There is no page at this address"),
    ],
)
def test_error_pages(page, base_url, name, path, status, text):
    response = page.goto(base_url + path)
    assert response.status == status
    assert text in page.inner_text("main")
    shot(page, name)
    # Chromium logs the document's own 4xx as a failed resource load; anything else is a problem.
    others = [p for p in page.console.problems if f"status of {status}" not in p]
    assert others == [] and page.console.dialogs == []


def test_dark_color_scheme(browser, base_url, kb):
    context = browser.new_context(color_scheme="dark", viewport={"width": 1100, "height": 900})
    try:
        page = context.new_page()
        page.console = Console(page)
        page.goto(base_url + "/?q=driver+unload")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(20, 23, 27)"  # the dark palette applies
        shot(page, "dark-search")
        page.goto(f"{base_url}/pairs/{kb.pair_by_question('fails to unload')['id']}")
        shot(page, "dark-answer")
        assert_console_clean(page)
    finally:
        context.close()


def test_works_without_javascript(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(base_url + "/")
        page.fill("#q", "pnputil")
        page.select_option("#kind", "learn-doc")
        with page.expect_navigation():
            page.click("form.search-form button[type=submit]")
        assert "kind=learn-doc" in page.url
        assert "pnputil" in page.locator("ol.results").inner_text()
    finally:
        context.close()
