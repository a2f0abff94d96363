"""Tests for the long-form article parser: boilerplate, headings, figures, tips, parts and questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.article import is_heading
from ingest.article import looks_like
from ingest.article import parse
from ingest.article import slugify
from ingest.article import split_parts
from ingest.article_questions import key_terms
from ingest.article_questions import section_question
from ingest.article_questions import tip_question
from kb.errors import ParseError
from kb.models import Pair
from kb.models import SourceDoc
from kb.models import SourceMeta

DATA = Path(__file__).parent / "data"
SEED = "002_f576ca8a35bf746f.txt"


def records_of(text: str) -> list:
    return list(parse(text, SourceDoc(path="column.txt", kind="article", url="https://example.com/a")))


@pytest.fixture(scope="module")
def column():
    return records_of((DATA / "article" / "column.txt").read_text(encoding="utf-8"))


def pairs_of(records) -> dict:
    return {(r.locator["section"], r.locator.get("part")): r for r in records if isinstance(r, Pair)}


def test_meta_has_title_date_author_and_no_boilerplate(column):
    meta = column[0]
    assert isinstance(meta, SourceMeta)
    assert meta.title == "Kernel Corner (Driver Clinic, March 2001)"
    assert meta.extra["date"] == "March 2001" and meta.extra["author"] == "Jane Doe"
    assert meta.extra["code_download"] == "Mar01Kernel.exe (20KB)"
    assert meta.description.startswith("This month I look at")
    everything = "\n".join(r.answer for r in column[1:])
    for boilerplate in ("may contain URLs", "Homepage", "Code for this article", "From the March 2001 issue",
                        "Jane Doe is a driver developer"):
        assert boilerplate not in everything


def test_sections_follow_headings_and_long_ones_split_into_parts(column):
    pairs = pairs_of(column)
    assert set(pairs) == {
        ("introduction", None), ("checked-builds-without-tears", None),
        ("finding-pool-leaks", 1), ("finding-pool-leaks", 2), ("tip-3", None), ("tip-4", None),
    }
    part1, part2 = pairs[("finding-pool-leaks", 1)], pairs[("finding-pool-leaks", 2)]
    assert part1.heading == "Finding Pool Leaks (1/2)" and part1.kind == "article"
    assert part1.answer.startswith("Paragraph 1 ") and part2.answer.startswith("Paragraph ")
    assert "Paragraph 10 " in part2.answer and "Paragraph 10 " not in part1.answer


def test_code_figures_are_fenced_with_their_caption(column):
    answer = pairs_of(column)[("checked-builds-without-tears", None)].answer
    assert "**Figure 1** A Minimal SOURCES File\n\n```\nTARGETNAME=leaky\nTARGETTYPE=DRIVER" in answer
    assert answer.index("Figure 1 shows a minimal one") < answer.index("**Figure 1**")
    assert "CHECKED_ALT_DIR" in pairs_of(column)[("checked-builds-without-tears", None)].api_names


def test_tips_are_pairs_with_their_example(column):
    tip = pairs_of(column)[("tip-3", None)]
    assert tip.heading == "Tip 3"
    assert "```\nverifier /flags 0x1 /driver leaky.sys\n```" in tip.answer
    assert tip.question == "Why should I run Driver Verifier with special pool on my driver during every test pass?"


def test_questions_come_from_the_sections_own_goals(column):
    pairs = pairs_of(column)
    checked = pairs[("checked-builds-without-tears", None)]
    assert checked.question == "How do I get a checked build of my driver with SOURCES?"
    assert pairs[("finding-pool-leaks", 1)].question.startswith("How do I find the leaking allocation quickly")
    assert pairs[("introduction", None)].question.startswith("What does Kernel Corner cover")
    assert all(r.question.endswith("?") for r in column[1:])


@pytest.mark.parametrize(
    "line, expected",
    [
        ("BUILD.EXE is, Uhhh, Different", True),
        ("Doing the WinDBG Dance", True),
        ("Wrap-Up", True),
        ("This is a sentence that ends.", False),
        ("     Indented paragraph Text", False),
        ("Figure 4 Track Functions", False),
        ("TARGETNAME=leaky", False),
        ("January 1999", False),
    ],
)
def test_is_heading(line, expected):
    assert is_heading(line, True, True) is expected


def test_heading_needs_blank_lines_around_it():
    assert not is_heading("Memory ExAllocatePool", False, False)


def test_slugify():
    assert slugify("BUILD.EXE is, Uhhh, Different") == "build-exe-is-uhhh-different"


def test_split_parts_keeps_code_with_its_paragraph():
    blocks = ["a" * 1500, "b" * 900, "```\ncode\n```", "c" * 1500, "d" * 100]
    parts = split_parts(blocks, limit=2500)
    assert parts == [["a" * 1500, "b" * 900, "```\ncode\n```"], ["c" * 1500, "d" * 100]]


def test_key_terms_and_goal_questions():
    text = "BUILD.EXE reads SOURCES. I was determined to get full release symbols, and BUILD.EXE can produce them."
    terms = key_terms(text, "BUILD.EXE is, Uhhh, Different")
    assert terms[0] == "BUILD.EXE"
    assert section_question([text], "BUILD.EXE is, Uhhh, Different", terms) == \
        "How do I get full release symbols with BUILD.EXE?"
    fallback = section_question(["Nothing to see here at all."], "Wrap-Up", [])
    assert fallback == 'What does the section "Wrap-Up" explain?'
    assert tip_question("Tip 15 When debugging drivers, I swap builds.") is None


def test_looks_like_articles_but_not_threads_or_short_text():
    assert looks_like((DATA / "article" / "column.txt").read_text(encoding="utf-8"))
    assert not looks_like((DATA / "thread" / "conversation.txt").read_text(encoding="utf-8"))
    assert not looks_like("A title\n\nOne short paragraph.")


def test_text_without_prose_raises_parse_error():
    with pytest.raises(ParseError, match="no prose paragraphs"):
        records_of("Title\n\nint x = 1;\n")


@pytest.mark.corpus
def test_seed_article(seeds):
    text = (seeds / SEED).read_text(encoding="utf-8")
    assert looks_like(text)
    records = records_of(text)
    meta = records[0]
    assert meta.extra["date"] == "January 1999" and meta.extra["author"] == "John Robbins"
    assert meta.title == "Bugslayer (Microsoft Systems Journal, January 1999)"
    pairs = [r for r in records if isinstance(r, Pair)]
    sections = {p.locator["section"] for p in pairs}
    assert {"introduction", "build-exe-is-uhhh-different", "doing-the-windbg-dance", "track-this", "a-small-aside",
            "back-on-track", "wrap-up", "tip-15", "tip-16"} == sections
    questions = [p.question for p in pairs]
    symbols = next(q for p, q in zip(pairs, questions, strict=True) if "full release symbols" in p.answer)
    assert symbols.startswith("How do I ") and "BUILD.EXE" in symbols
    assert "full release symbols" in symbols or "full PDB files in free builds" in symbols
    assert any("WinDBG" in q for q in questions)
    figure5 = next(p for p in pairs if "**Figure 5**" in p.answer)
    assert "```\nPVOID Track_MmMapIoSpace" in figure5.answer and "MmUnmapIoSpace ( BaseAddress" in figure5.answer
    assert figure5.answer.count("```") == 2  # the whole figure is one code block
    assert "```\nImagePath = " in next(p for p in pairs if p.locator["section"] == "tip-15").answer
    assert not any("This article may contain URLs" in p.answer for p in pairs)
    assert all(len(p.answer) < 5000 for p in pairs)
