"""The handbook (data/handbook/*.yml) and its parser, ingest.handbook."""

from __future__ import annotations

import functools
import re
import tarfile
from pathlib import Path

import pytest
import yaml

from ingest.handbook import cite_link
from ingest.handbook import looks_like
from ingest.handbook import parse
from kb.errors import ParseError
from kb.models import Pair
from kb.models import SourceDoc
from kb.models import SourceMeta
from kb.topics import load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
HANDBOOK = sorted((ROOT / "data" / "handbook").glob("*.yml"))
TARBALLS = ("windows-driver-docs.tar.gz", "windows-driver-docs-ddi.tar.gz")


@functools.lru_cache(maxsize=2)
def corpus_pages(corpus: Path) -> frozenset[str]:
    """Member names of the docs and API-reference tarballs (read once per session)."""
    names: set[str] = set()
    for tarball in TARBALLS:
        with tarfile.open(corpus / tarball) as tar:
            names.update(tar.getnames())
    return frozenset(names)


def _parse_file(path: Path) -> list:
    return list(parse(path.read_text(encoding="utf-8"), SourceDoc(path=f"data/handbook/{path.name}", kind="handbook")))


def _all_entries() -> list[tuple[str, dict]]:
    out = []
    for path in HANDBOOK:
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["pairs"]:
            out.append((path.name, entry))
    return out


# ---- the content ---------------------------------------------------------------------------


def test_handbook_has_enough_pairs_across_themes() -> None:
    assert len(HANDBOOK) >= 8
    assert len(_all_entries()) >= 90


@pytest.mark.parametrize("path", HANDBOOK, ids=[p.name for p in HANDBOOK])
def test_handbook_file_parses(path: Path) -> None:
    records = _parse_file(path)
    meta, pairs = records[0], records[1:]
    assert isinstance(meta, SourceMeta) and meta.title and meta.title != f"data/handbook/{path.name}"
    assert pairs and all(isinstance(p, Pair) for p in pairs)
    for pair in pairs:
        assert pair.kind == "handbook"
        assert set(pair.locator) == {"entry"}
        assert pair.extra["cite"]
        assert pair.answer.splitlines()[-1].startswith("Sources: [")
        assert "https://learn.microsoft.com/windows-hardware/drivers/" in pair.answer


def test_entry_ids_are_unique() -> None:
    ids = [entry["id"] for _, entry in _all_entries()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize(("name", "entry"), _all_entries(), ids=[e["id"] for _, e in _all_entries()])
def test_entry_is_well_formed(name: str, entry: dict) -> None:
    taxonomy = load_taxonomy()
    assert entry["question"].rstrip().endswith("?"), "a question reads as a question"
    words = len(entry["answer"].split())
    assert 80 <= words <= 250, f"{entry['id']}: answer has {words} words, keep it to 80-250"
    assert 1 <= len(entry["topics"]) <= 3
    taxonomy.check(entry["topics"])
    assert entry["cite"] and len(set(entry["cite"])) == len(entry["cite"])
    for path in entry["cite"]:
        assert re.fullmatch(r"(windows-driver-docs-pr/[\w./-]+|wdk-ddi-src/content/[\w.-]+/[\w.(),-]+)\.md", path), path


@pytest.mark.corpus
def test_every_cite_exists_in_the_corpus(corpus: Path) -> None:
    pages = corpus_pages(corpus)
    missing = [(entry["id"], path) for _, entry in _all_entries() for path in entry["cite"] if path not in pages]
    assert not missing


# ---- the parser ----------------------------------------------------------------------------

GOOD = """\
title: IRQL basics
pairs:
  - id: paged-at-dispatch
    question: Why does touching paged memory at DISPATCH_LEVEL crash?
    topics: [irql, memory]
    answer: |
      The dispatcher cannot page in memory at `DISPATCH_LEVEL`; see `KeGetCurrentIrql` and `IRQL_NOT_LESS_OR_EQUAL`.
    cite:
      - windows-driver-docs-pr/kernel/managing-hardware-priorities.md
      - wdk-ddi-src/content/wdm/nf-wdm-kegetcurrentirql.md
  - id: second
    question: Another question?
    answer: An answer without sources.
"""


def _records(text: str) -> list:
    return list(parse(text, SourceDoc(path="data/handbook/x.yml", kind="handbook")))


def test_parse_yields_meta_then_pairs() -> None:
    meta, first, second = _records(GOOD)
    assert meta == SourceMeta(title="IRQL basics")
    assert first.question == "Why does touching paged memory at DISPATCH_LEVEL crash?"
    assert first.topics == ("irql", "memory")
    assert first.locator == {"entry": "paged-at-dispatch"}
    assert first.kind == "handbook" and first.heading == "IRQL basics"
    assert first.extra == {"cite": ["windows-driver-docs-pr/kernel/managing-hardware-priorities.md",
                                    "wdk-ddi-src/content/wdm/nf-wdm-kegetcurrentirql.md"]}
    assert first.answer.endswith(
        "\n\nSources: [kernel/managing-hardware-priorities]"
        "(https://learn.microsoft.com/windows-hardware/drivers/kernel/managing-hardware-priorities) · "
        "[wdm/nf-wdm-kegetcurrentirql]"
        "(https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kegetcurrentirql)")
    assert first.api_names == ("DISPATCH_LEVEL", "KeGetCurrentIrql", "IRQL_NOT_LESS_OR_EQUAL")
    assert second.answer == "An answer without sources." and second.topics == () and second.extra == {"cite": []}


def test_parse_without_title_uses_the_path() -> None:
    meta = _records("pairs:\n  - {id: a, question: 'Q?', answer: A.}\n")[0]
    assert meta.title == "data/handbook/x.yml"


@pytest.mark.parametrize(("text", "message"), [
    ("title: [unclosed\n", "not valid YAML"),
    ("title: x\n", "top-level `pairs:` list"),
    ("pairs:\n  - just a string\n", "entry #1"),
    ("pairs:\n  - {question: 'Q?', answer: A.}\n", "entry #1: needs an `id`"),
    ("pairs:\n  - {id: Bad Id, question: 'Q?', answer: A.}\n", "entry #1: needs an `id`"),
    ("pairs:\n  - {id: no-question, answer: A.}\n", "entry 'no-question': missing `question`"),
    ("pairs:\n  - {id: no-answer, question: 'Q?', answer: '  '}\n", "entry 'no-answer': missing `answer`"),
    ("pairs:\n  - {id: twice, question: 'Q?', answer: A.}\n  - {id: twice, question: 'Q2?', answer: B.}\n",
     "entry 'twice': duplicate id"),
    ("pairs:\n  - {id: t, question: 'Q?', answer: A., topics: usb}\n", "entry 't': `topics` must be a list"),
    ("pairs:\n  - {id: c, question: 'Q?', answer: A., cite: [https://example.com/page]}\n", "entry 'c': cite"),
    ("pairs:\n  - {id: c, question: 'Q?', answer: A., cite: [windows-driver-docs-pr/kernel/x.txt]}\n", "entry 'c'"),
])
def test_parse_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ParseError) as err:
        _records(text)
    assert message in str(err.value)


def test_looks_like() -> None:
    assert looks_like(GOOD)
    assert all(looks_like(p.read_text(encoding="utf-8")) for p in HANDBOOK)
    assert not looks_like("title: x\nitems: []\n")
    assert not looks_like("pairs: [\n")  # the key, but not YAML
    assert not looks_like("pairs: 3\n")
    assert not looks_like("- id: toc\n  href: x.md\n")  # a docs table of contents


@pytest.mark.parametrize(("path", "link"), [
    ("windows-driver-docs-pr/debugger/debugging-a-failed-driver-unload.md",
     "[debugger/debugging-a-failed-driver-unload]"
     "(https://learn.microsoft.com/windows-hardware/drivers/debugger/debugging-a-failed-driver-unload)"),
    ("wdk-ddi-src/content/wdm/nf-wdm-kesetevent.md",
     "[wdm/nf-wdm-kesetevent](https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent)"),
    ("windows-driver-docs-pr/netcx/index.md",
     "[netcx/index](https://learn.microsoft.com/windows-hardware/drivers/netcx)"),
])
def test_cite_link(path: str, link: str) -> None:
    assert cite_link(path) == link
