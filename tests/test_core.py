"""Store, pipeline, index and search, end to end with the fake embedder and a tiny test parser."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import ingest
from kb import index as vindex
from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.embed import FakeEmbedder
from kb.errors import BadQuery
from kb.errors import IndexMismatch
from kb.errors import IndexNotBuilt
from kb.errors import NotFound
from kb.models import make_pair_id
from kb.search import fts_or
from kb.search import query_terms
from kb.search import rrf
from kb.store import extract_identifiers

DOCS = {
    "irql.qa": "# IRQL basics\nQ: What IRQL can I call KeSetEvent at?\n"
               "A: Callers of KeSetEvent run at IRQL <= DISPATCH_LEVEL "
               "when Wait is FALSE. Api:KeSetEvent\n"
               "Q: Why does paged code crash at DISPATCH_LEVEL?\nA: Page faults cannot be serviced at DISPATCH_LEVEL; "
               "the result is bug check IRQL_NOT_LESS_OR_EQUAL.\n",
    "kmdf.qa": "# KMDF requests\nQ: How do I send a request to an I/O target?\nA: Call WdfRequestSend with the target "
               "from WdfDeviceGetIoTarget.\nQ: How do I cancel a sent request?\nA: Use WdfRequestCancelSentRequest.\n",
    "unload.qa": "# Unload\nQ: My driver won't unload\nA: A leaked reference on the device object keeps it loaded; "
                 "find the missing ObDereferenceObject.\n",
}


@pytest.fixture()
def qa_format(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(ingest.PARSERS, "qa", ("tests.qa_parser:parse", "handbook"))
    return "qa"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name.replace(".qa", ".md")).write_text(text)
    return root


@pytest.fixture()
def kb(tmp_path: Path) -> KB:
    return KB.open({"DATA_DIR": str(tmp_path / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                   embedder=FakeEmbedder())


def build(kb: KB, tree: Path, fmt: str) -> pipeline.Summary:
    summary = pipeline.run(kb.db, [tree], fmt=fmt)
    indexer.build(kb.db, kb.embedder, kb.index_dir, kb.settings["INDEX_BACKEND"])
    return summary


def test_identifiers_keep_api_names_and_bugchecks_whole() -> None:
    found = extract_identifiers("call WdfRequestSend; bug check IRQL_NOT_LESS_OR_EQUAL at DISPATCH_LEVEL, not 0x9F")
    assert found == ["WdfRequestSend", "IRQL_NOT_LESS_OR_EQUAL", "DISPATCH_LEVEL"]


@pytest.mark.parametrize("query", ['"foo', "AND OR", "NEAR(", "*", "col:x", "a\x00b", "^", "'); DROP TABLE pairs;--"])
def test_fts_query_is_always_quoted(query: str) -> None:
    expr = fts_or(query_terms(query) or ["x"])
    assert all(part.startswith('"') and part.endswith('"') for part in expr.split(" OR "))


def test_rrf_prefers_items_ranked_high_by_several_legs() -> None:
    fused = rrf([([1, 2, 3], 1.0), ([3, 1, 4], 1.0)], k=60)
    assert max(fused, key=fused.get) == 1
    assert fused[3] > fused[2] and fused[4] < fused[2]


def test_ingest_search_and_incremental_reingest(kb: KB, tree: Path, qa_format: str) -> None:
    first = build(kb, tree, qa_format)
    assert (first.parsed, first.pairs_added, first.problems) == (3, 5, [])
    hit = kb.search("WdfRequestSend", k=3)["results"][0]
    assert "WdfRequestSend" in hit["answer"] and hit["source"]["path"] == "kmdf.md"
    assert kb.search("what IRQL can I call KeSetEvent at", k=3)["results"][0]["question"].startswith("What IRQL")
    assert kb.search("IRQL_NOT_LESS_OR_EQUAL", k=1)["results"][0]["source"]["path"] == "irql.md"
    ids_before = {r[0] for r in kb.db.execute("SELECT id FROM pairs")}

    again = pipeline.run(kb.db, [tree], fmt=qa_format)
    assert (again.unchanged, again.parsed, again.pairs_added) == (3, 0, 0)

    (tree / "kmdf.md").write_text(
        DOCS["kmdf.qa"].replace("WdfRequestCancelSentRequest", "WdfRequestCancelSentRequest now"))
    (tree / "unload.md").unlink()
    changed = pipeline.run(kb.db, [tree], fmt=qa_format)
    assert (changed.parsed, changed.pairs_updated, changed.pairs_unchanged) == (1, 1, 1)
    assert (changed.sources_removed, changed.pairs_removed) == (1, 1)
    ids_after = {r[0] for r in kb.db.execute("SELECT id FROM pairs")}
    assert ids_after == ids_before - {make_pair_id("unload.md", {"section": "q1"})}
    stats = indexer.build(kb.db, kb.embedder, kb.index_dir, "numpy")
    assert stats["embedded"] == 1 and stats["count"] == 4


def test_bad_file_is_reported_and_the_rest_ingested(kb: KB, tree: Path, qa_format: str) -> None:
    (tree / "bad.md").write_text("BROKEN")
    (tree / "binary.md").write_bytes(b"\x00\x01\x02binary")
    (tree / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    summary = pipeline.run(kb.db, [tree, tree.parent / "missing-folder"], fmt=qa_format)
    problems = {p.path.rsplit("/", 1)[-1]: p.problem for p in summary.problems}
    assert problems["bad.md"] == "file says BROKEN"
    assert "binary" in problems["binary.md"] and "UTF-8" in problems["latin1.md"]
    assert "no such file" in problems["missing-folder"]
    assert summary.pairs_added == 5


def test_tar_archive_members_keep_their_paths(kb: KB, tree: Path, tmp_path: Path, qa_format: str) -> None:
    import tarfile
    archive = tmp_path / "docs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="windows-driver-docs-pr/kernel")
    summary = pipeline.run(kb.db, [archive], fmt=qa_format)
    assert summary.parsed == 3
    paths = {r[0] for r in kb.db.execute("SELECT path FROM sources")}
    assert "windows-driver-docs-pr/kernel/irql.md" in paths
    url = kb.db.execute("SELECT url FROM sources WHERE path = ?",
                        ["windows-driver-docs-pr/kernel/irql.md"]).fetchone()[0]
    assert url == "https://learn.microsoft.com/windows-hardware/drivers/kernel/irql"


def test_filters_and_errors(kb: KB, tree: Path, qa_format: str) -> None:
    build(kb, tree, qa_format)
    assert kb.search("request", kinds=("thread",))["results"] == []
    assert kb.search("request", kinds=("handbook",))["results"]
    with pytest.raises(BadQuery):
        kb.search("   ")
    with pytest.raises(BadQuery):
        kb.search("x" * 5000)
    with pytest.raises(BadQuery):
        kb.search("irql", k=0)
    with pytest.raises(NotFound):
        kb.get_pair("nope")
    pair = kb.search("KeSetEvent", k=1)["results"][0]
    assert kb.get_pair(pair["id"])["question"] == pair["question"]


def test_index_metadata_is_checked(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    with pytest.raises(IndexNotBuilt, match="kb ingest"):
        vindex.load(folder, "fake", 64)
    idx = vindex.create("numpy", 64)
    idx.build(np.array([1, 2]), FakeEmbedder().encode(["a", "b"]))
    vindex.save(idx, folder, "fake")
    with pytest.raises(IndexMismatch, match="kb index"):
        vindex.load(folder, "other-model", 64)
    loaded, meta = vindex.load(folder, "fake", 64)
    assert loaded.count() == 2 and meta["count"] == 2
    assert len(list(folder.glob("index-*"))) == 1
    assert json.loads((folder / "index.json").read_text())["file"] == meta["file"]


def test_faiss_matches_brute_force_numpy() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1000, 1500)
    exact, fast = vindex.create("numpy", 32), vindex.create("faiss", 32)
    exact.build(ids, vectors)
    fast.build(ids, vectors)
    for q in vectors[:20]:
        assert list(exact.search(q, 10)[1]) == list(fast.search(q, 10)[1])


def test_sources_samples_scripts_and_hiding(kb: KB, tree: Path, qa_format: str) -> None:
    from kb.errors import NotFound as NF
    build(kb, tree, qa_format)
    page = kb.get_source("kmdf.md")
    assert [p["question"] for p in page["pairs"]][0].startswith("How do I send")
    with pytest.raises(NF):
        kb.get_sample("no/such")
    with pytest.raises(NF):
        kb.get_script("nope")
    assert kb.samples() == []
    pid = page["pairs"][0]["id"]
    kb.set_hidden(pid, True)
    assert pid not in [r["id"] for r in kb.search("send a request to an I/O target", k=10)["results"]]
    kb.set_hidden(pid, False)
    assert pid in [r["id"] for r in kb.search("send a request to an I/O target", k=10)["results"]]


def test_feedback_demotes_a_pair_for_the_same_question(kb: KB, tree: Path, qa_format: str) -> None:
    build(kb, tree, qa_format)
    query = "how do I send a request to an I/O target"
    first = kb.search(query, k=5)["results"]
    top = first[0]["id"]
    kb.record_feedback(query, top, "not-helpful", "wrong answer")
    again = kb.search("How do I send a request to an I/O target?", k=5)["results"]
    assert again[0]["id"] != top
    assert top in [r["id"] for r in again]
    assert kb.search("unrelated words entirely", k=5)["query"]


def test_keyword_legs_leave_out_hidden_pairs_on_both_paths(kb: KB, tree: Path, qa_format: str) -> None:
    from kb.search import Filters
    from kb.search import ident_leg
    from kb.search import keyword_leg

    build(kb, tree, qa_format)
    n = kb.db.execute("SELECT n FROM pairs WHERE question LIKE 'What IRQL%'").fetchone()[0]
    assert n in keyword_leg(kb.db, ["irql", "kesetevent"], Filters(), 10)
    kb.db.execute("UPDATE pairs SET hidden = 1 WHERE n = ?", [n])
    kb.db.conn.commit()
    for limit in (1, 10):  # 1: the unfiltered top is all hidden, so the joined query answers
        assert n not in keyword_leg(kb.db, ["irql", "kesetevent"], Filters(), limit)
        assert n not in ident_leg(kb.db, ["KeSetEvent"], Filters(), limit)
    kind = kb.db.execute("SELECT kind FROM sources LIMIT 1").fetchone()[0]
    assert n not in keyword_leg(kb.db, ["irql", "kesetevent"], Filters(kinds=(kind,)), 10)
    assert n not in ident_leg(kb.db, ["KeSetEvent"], Filters(kinds=(kind,)), 10)
    kb.db.execute("UPDATE pairs SET hidden = 0 WHERE n = ?", [n])
    kb.db.conn.commit()
    assert n in ident_leg(kb.db, ["KeSetEvent"], Filters(kinds=(kind,)), 10)


def test_terms_in_most_pairs_do_not_reach_the_keyword_leg(kb: KB, tree: Path, qa_format: str) -> None:
    from kb.search import TermStats

    build(kb, tree, qa_format)
    stats = TermStats()
    total = stats.total(kb.db)
    assert total == 5
    # "the" is in 3 of the 5 pairs (bm25 gives it no weight), "irql" in 2, "kesetevent" in 1.
    assert [stats.df(kb.db, t, total) for t in ("the", "irql", "kesetevent")] == [3, 2, 1]
    assert stats.df(kb.db, "the", 2) == 2  # counting stops at the cap
    assert stats.informative(kb.db, ["the", "irql", "kesetevent"]) == ["irql", "kesetevent"]
    assert stats.informative(kb.db, ["the"]) == ["the"]
    assert stats.informative(kb.db, ["the", "i"]) == ["the", "i"]  # nothing informative left: keep them all


def test_cli_search_prints_readable_text(kb: KB, tree: Path, qa_format: str) -> None:
    from click.testing import CliRunner

    from kbcli import cli

    (tree / "entities.md").write_text("# Entities\nQ: Where can WdfSpinLockAcquire run?\n"
                                      "A: At IRQL &lt;= DISPATCH_LEVEL &amp; no higher.\n")
    build(kb, tree, qa_format)
    env = {"KB_DATA_DIR": str(kb.data_dir), "KB_EMBED_MODEL": "fake", "KB_INDEX_BACKEND": "numpy"}
    result = CliRunner().invoke(cli, ["search", "WdfSpinLockAcquire"], env=env)
    assert result.exit_code == 0, result.output
    assert "IRQL <= DISPATCH_LEVEL & no higher" in result.output
