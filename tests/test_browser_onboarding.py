"""Onboarding as a new user sees it, in headless Chromium over the FakeKB: Start here, a path, progress, glossary.

Screenshots land in test-artifacts/screenshots/onboarding-*.png (git-ignored); a reviewed set is kept in
docs/screenshots/.
"""

# The fixtures of tests/test_browser.py are imported by name and then taken as parameters, which ruff reads as
# redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import re
from typing import Any

import pytest
from test_browser import SCREENSHOTS
from test_browser import Console
from test_browser import assert_console_clean
from test_browser import base_url  # noqa: F401  (pytest fixture)
from test_browser import browser  # noqa: F401  (pytest fixture)
from test_browser import kb  # noqa: F401  (pytest fixture)
from test_browser import page  # noqa: F401  (pytest fixture)

from kb.glossary import load_glossary
from kb.paths import get_path
from kb.paths import load_paths

pytestmark = pytest.mark.browser

PATH_ID = "first-kmdf-driver"


def shot(page: Any, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"onboarding-{name}.png"), full_page=full_page)


def progress_text(page: Any) -> str:
    return page.locator(".progress-panel .progress-text").inner_text()


def test_new_user_follows_a_path_and_keeps_progress(page, base_url):
    path = get_path(PATH_ID)
    total = len(path.steps)

    page.goto(base_url + "/")
    with page.expect_navigation():
        page.locator(".start-callout a", has_text="Start here").click()
    assert page.url == base_url + "/start"
    cards = page.locator("ol.path-cards > li.path-card")
    assert cards.count() == len(load_paths())
    first_card = cards.first
    assert first_card.locator("h3").inner_text() == path.title
    assert first_card.locator(".progress-text").inner_text() == f"0 of {total} done"
    shot(page, "start", full_page=False)

    with page.expect_navigation():
        first_card.locator("h3 a").click()
    assert page.url == f"{base_url}/paths/{PATH_ID}"
    assert progress_text(page) == f"0 of {total} done"
    with page.expect_navigation():
        page.locator("a.continue-link").click()

    for number, step in enumerate(path.steps[:3], 1):
        assert page.url == f"{base_url}/paths/{PATH_ID}/{step.id}"
        assert page.locator("h1").inner_text() == step.title
        assert f"Step {number} of {total}" in page.locator(".step-kicker").inner_text()
        # The FakeKB holds none of these docs pages: each entry is the clear note, never an error.
        assert page.locator(".entry-missing").count() == len(step.entries)
        assert "not in this KB" in page.locator(".entry-missing").first.inner_text()
        details = page.locator(".check-yourself details")
        assert not details.evaluate("d => d.open")
        details.locator("summary").click()
        assert page.locator(".check-yourself details p").inner_text() == step.check_answer
        button = page.locator("button.mark-done")
        assert button.get_attribute("aria-pressed") == "false"
        button.click()
        assert button.get_attribute("aria-pressed") == "true"
        assert button.inner_text() == "Done ✓"
        if number == 1:
            shot(page, "step")
        with page.expect_navigation():
            page.locator("a.step-next").click()

    # Step 4 is open; back on the path page three steps are done, and a reload keeps them.
    page.goto(f"{base_url}/paths/{PATH_ID}")
    for _ in range(2):
        assert progress_text(page) == f"3 of {total} done"
        checks = page.locator("input.step-done")
        assert [checks.nth(i).is_checked() for i in range(5)] == [True, True, True, False, False]
        assert page.locator("progress").first.evaluate("p => p.value") == 3
        assert page.locator("a.continue-link").inner_text().startswith(f"Continue with step 4: {path.steps[3].title}")
        page.reload()
    shot(page, "path-progress", full_page=False)

    page.goto(base_url + "/start")
    assert page.locator("ol.path-cards > li.path-card").first.locator(".progress-text").inner_text() == (
        f"3 of {total} done"
    )

    # One click clears the path (no dialog); Undo brings it back; clearing sticks across a reload.
    page.goto(f"{base_url}/paths/{PATH_ID}")
    page.locator("button[data-action=clear-progress]").click()
    assert progress_text(page) == f"0 of {total} done"
    assert page.locator(".undo-clear").is_visible()
    shot(page, "path-cleared", full_page=False)
    page.locator("button[data-action=undo-clear]").click()
    assert progress_text(page) == f"3 of {total} done"
    page.locator("button[data-action=clear-progress]").click()
    page.reload()
    assert progress_text(page) == f"0 of {total} done"
    assert page.locator("input.step-done:checked").count() == 0

    # A checkbox on the path page marks a step too.
    page.locator("input.step-done").nth(4).check()
    page.reload()
    assert progress_text(page) == f"1 of {total} done"
    assert page.locator("input.step-done").nth(4).is_checked()
    assert_console_clean(page)


def test_glossary_term_in_an_answer_shows_its_definition(page, base_url, kb):
    glossary = load_glossary()
    pair = kb.pair_by_question("KeSetEvent")
    page.goto(f"{base_url}/pairs/{pair['id']}")
    terms = page.locator("div.answer a.term")
    assert terms.count() >= 2
    slugs = terms.evaluate_all("els => els.map(e => e.dataset.term)")
    assert len(slugs) == len(set(slugs))  # first occurrence only
    assert page.locator("div.answer code a.term, div.answer pre a.term").count() == 0
    term = terms.first
    definition = glossary.find(slugs[0]).definition
    assert term.get_attribute("title") is None  # app.js moved it to data-def: one tooltip, not two
    assert term.get_attribute("data-def") == definition
    assert term.get_attribute("aria-description") == definition

    def tooltip() -> str:
        return term.evaluate("e => getComputedStyle(e, '::after').content")

    assert tooltip() in ("none", "normal", "")
    term.hover()
    assert tooltip() == f'"{definition}"'
    shot(page, "term-tooltip", full_page=False)

    page.mouse.move(0, 0)
    assert tooltip() in ("none", "normal", "")
    # Keyboard users get the definition on focus.
    page.goto(f"{base_url}/pairs/{pair['id']}")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('term')"):
            break
    else:
        pytest.fail("Tab never reached a glossary term")
    focused = page.locator("div.answer a.term:focus")
    assert focused.evaluate("e => getComputedStyle(e, '::after').content").startswith('"')
    shot(page, "term-focus", full_page=False)

    with page.expect_navigation():
        term.click()
    assert page.url == f"{base_url}/glossary#{slugs[0]}"
    assert page.locator(f"#{slugs[0]}").evaluate("e => e.matches(':target')")
    shot(page, "glossary-target", full_page=False)
    assert_console_clean(page)


def test_glossary_filters_as_you_type(page, base_url):
    total = len(load_glossary())
    page.goto(base_url + "/glossary")
    entries = page.locator(".term-entry")
    assert entries.count() == total
    page.locator("#glossary-q").fill("spin lock")
    visible = page.locator(".term-entry:not([hidden])")
    names = visible.locator("dfn").all_inner_texts()
    assert 1 <= len(names) < total
    assert any(re.search("spin lock", n, re.IGNORECASE) for n in names)
    assert page.locator("#glossary-count").inner_text() == f"{len(names)} of {total} terms match"
    assert page.locator(".letter-group:not([hidden])").count() < page.locator(".letter-group").count()
    shot(page, "glossary-filter")
    page.locator("#glossary-q").fill("")
    assert page.locator(".term-entry:not([hidden])").count() == total
    page.goto(base_url + "/glossary")
    shot(page, "glossary", full_page=False)
    assert_console_clean(page)


def test_step_with_an_answer_in_the_kb(page, base_url):
    # kernel-debugging's IRQL bug-check step points at the 0xD1 page, which the FakeKB holds.
    path = get_path("kernel-debugging")
    step = next(s for s in path.steps if any("bug-check-0xd1" in r for r in s.entries))
    page.goto(f"{base_url}/paths/{path.id}/{step.id}")
    entry = page.locator("article.step-entry")
    assert entry.count() >= 1
    assert entry.first.locator("a.term").count() >= 1
    assert entry.first.locator(".badge").first.inner_text()  # the citation's source kind
    shot(page, "step-answer")
    assert_console_clean(page)


def test_topic_page_lists_its_paths(page, base_url):
    page.goto(base_url + "/topics/kmdf")
    links = page.locator(".topic-paths a").all_inner_texts()
    assert get_path("first-kmdf-driver").title in links
    shot(page, "topic-paths", full_page=False)
    assert_console_clean(page)


def test_narrow_window_and_dark_scheme(browser, base_url):
    for name, options in [("narrow", {"viewport": {"width": 360, "height": 780}}),
                          ("dark", {"color_scheme": "dark", "viewport": {"width": 1100, "height": 900}})]:
        context = browser.new_context(**options)
        try:
            page = context.new_page()
            page.console = Console(page)
            for what, url in [("start", "/start"), ("step", f"/paths/{PATH_ID}/hello-world"),
                              ("path", f"/paths/{PATH_ID}")]:
                page.goto(base_url + url)
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, f"{url} scrolls sideways by {overflow}px ({name})"
                shot(page, f"{name}-{what}", full_page=name == "narrow")
            assert_console_clean(page)
        finally:
            context.close()


def test_works_without_javascript(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base_url}/paths/{PATH_ID}")
        assert page.locator("ol.steps > li.step").count() == len(get_path(PATH_ID).steps)
        assert not page.locator("input.step-done").first.is_visible()  # no state to keep without JS
        assert not page.locator(".progress-panel").is_visible()
        page.goto(base_url + "/glossary")
        page.fill("#glossary-q", "IRQL")
        with page.expect_navigation():
            page.click("form.glossary-filter button[type=submit]")
        assert "q=IRQL" in page.url
        names = page.locator(".term-entry dfn").all_inner_texts()
        assert "IRQL" in names and len(names) < len(load_glossary())
        shot(page, "nojs-glossary-q", full_page=False)
    finally:
        context.close()
