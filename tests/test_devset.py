"""The search dev set (data/eval/devset.yml): size, spread, valid topics and gold pages in the corpus."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from test_handbook import corpus_pages

from kb.eval import load_devset
from kb.topics import load_taxonomy

DEVSET = Path(__file__).resolve().parent.parent / "data" / "eval" / "devset.yml"
GOLD = re.compile(r"windows-driver-docs-pr/[\w./-]+\.md|wdk-ddi-src/content/[\w.-]+/[\w.(),-]+\.md")
# An exact DDI, IOCTL, status or bug check name, as users paste them from code or a dump.
EXACT_NAME = re.compile(r"\b(?:[A-Z][a-z]+[A-Z]\w+|[A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+|0x[0-9A-Fa-f]+)\b")


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    return yaml.safe_load(DEVSET.read_text(encoding="utf-8"))["questions"]


def test_devset_loads_through_kb_eval(entries: list[dict]) -> None:
    assert load_devset(DEVSET) == entries


def test_devset_size_and_spread(entries: list[dict]) -> None:
    assert len(entries) >= 70
    topics = Counter(t for e in entries for t in e["topics"])
    assert len(topics) >= 20, "questions should cover most of the taxonomy"
    assert max(topics.values()) <= len(entries) // 4, "no single topic should dominate"
    assert sum(1 for e in entries if EXACT_NAME.search(e["q"])) >= 10


def test_entries_are_well_formed(entries: list[dict]) -> None:
    taxonomy = load_taxonomy()
    questions = [e["q"].strip().lower() for e in entries]
    assert len(questions) == len(set(questions)), "duplicate questions"
    for entry in entries:
        assert set(entry) == {"q", "gold", "topics"}, entry
        assert 3 <= len(entry["q"].split()) <= 40, entry["q"]
        assert 1 <= len(entry["gold"]) <= 3 and len(set(entry["gold"])) == len(entry["gold"])
        assert all(GOLD.fullmatch(path) for path in entry["gold"]), entry["gold"]
        assert 1 <= len(entry["topics"]) <= 3
        taxonomy.check(entry["topics"])


def test_questions_are_not_page_titles(entries: list[dict]) -> None:
    # Users do not know page titles: a question must not simply be its gold page's file name
    # (pasted API names such as OID_GEN_LINK_SPEED are fine: that is how people ask).
    for entry in entries:
        prose = EXACT_NAME.sub(" ", entry["q"])
        words = set(re.findall(r"[a-z0-9]+", prose.lower()))
        for path in entry["gold"]:
            slug = [w for w in path.rsplit("/", 1)[-1].removesuffix(".md").split("-") if len(w) > 2]
            assert len(slug) < 3 or len([w for w in slug if w in words]) < len(slug), (entry["q"], path)


@pytest.mark.corpus
def test_every_gold_page_exists_in_the_corpus(entries: list[dict], corpus: Path) -> None:
    pages = corpus_pages(corpus)
    missing = [path for entry in entries for path in entry["gold"] if path not in pages]
    assert not missing
