"""Vector index backends: the HNSW index that updates in place against exact search, and the indexer's delta."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb import index as vindex
from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.embed import FakeEmbedder

pytest.importorskip("faiss")


def _unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_hnsw_finds_what_exact_search_finds_and_survives_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 800)
    ids = np.arange(5000, 5800)
    exact, hnsw = vindex.create("numpy", 32), vindex.create("faiss-hnsw", 32)
    exact.build(ids, vectors)
    hnsw.build(ids, vectors, [f"h{i}" for i in ids])
    overlap = [len(set(exact.search(q, 10)[1]) & set(hnsw.search(q, 10)[1])) / 10 for q in vectors[:50]]
    assert np.mean(overlap) >= 0.95
    meta = vindex.save(hnsw, tmp_path, "fake")
    loaded, _ = vindex.load(tmp_path, "fake", 32)
    assert meta["backend"] == "faiss-hnsw" and loaded.count() == 800
    assert list(loaded.search(vectors[3], 5)[1]) == list(hnsw.search(vectors[3], 5)[1])
    assert loaded.live()[5003] == (3, "h5003")


def test_hnsw_tombstones_are_never_returned() -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 200)
    hnsw = vindex.create("faiss-hnsw", 32)
    hnsw.build(np.arange(200), vectors, [str(i) for i in range(200)])
    assert hnsw.search(vectors[7], 1)[1][0] == 7
    hnsw.remove_labels([7, 8])
    scores, ids = hnsw.search(vectors[7], 10)
    assert 7 not in ids and 8 not in ids and len(ids) == 10 and hnsw.count() == 198
    assert list(scores) == sorted(scores, reverse=True)
    hnsw.add(np.array([7]), vectors[7:8] * 1.0, ["7-new"])  # the pair changed: same number, new vector
    assert hnsw.search(vectors[7], 1)[1][0] == 7 and hnsw.live()[7] == (200, "7-new")


DOCS = {f"page{i}.md": f"---\ntitle: Page {i}\n---\n# Page {i}\n\nSection text about topic {i} and KeSetEvent {i}.\n"
        for i in range(12)}


@pytest.fixture()
def kb(tmp_path: Path) -> KB:
    return KB.open({"DATA_DIR": str(tmp_path / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "faiss-hnsw"},
                   embedder=FakeEmbedder())


def _ingest(kb: KB, tree: Path) -> dict:
    pipeline.run(kb.db, [tree])
    return indexer.build(kb.db, kb.embedder, kb.index_dir, "faiss-hnsw")


def _indexed(kb: KB) -> dict[int, str]:
    idx, _ = vindex.load(kb.index_dir, kb.embedder.name, kb.embedder.dim)
    return {n: key for n, (_, key) in idx.live().items()}


def _visible(kb: KB) -> dict[int, str]:
    return dict(kb.db.execute("SELECT n, content_hash FROM pairs WHERE hidden = 0").fetchall())


def test_indexer_updates_hnsw_in_place_and_matches_the_store(kb: KB, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, text in DOCS.items():
        (tree / name).write_text(text)
    first = _ingest(kb, tree)
    assert first["update"] is None and first["count"] == len(_visible(kb)) > 0
    assert _indexed(kb) == _visible(kb)

    (tree / "page1.md").write_text(DOCS["page1.md"].replace("Section text", "Changed text"))
    (tree / "page2.md").unlink()
    (tree / "page99.md").write_text("---\ntitle: New\n---\n# New page\n\nBrand new text.\n")
    second = _ingest(kb, tree)
    assert second["update"] == {"added": 2, "removed": 2}  # page1 changed, page2 gone, page99 new
    assert _indexed(kb) == _visible(kb)
    n = kb.db.execute("SELECT n FROM pairs WHERE source = 'page99.md'").fetchone()[0]
    assert kb.search("Brand new text", k=3, legs=("dense",))["results"][0]["source"]["path"] == "page99.md"
    assert n in _indexed(kb)

    assert _ingest(kb, tree)["update"] == {"added": 0, "removed": 0}  # nothing changed


def test_indexer_rebuilds_when_tombstones_pile_up(kb: KB, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, text in DOCS.items():
        (tree / name).write_text(text)
    _ingest(kb, tree)
    for i in range(6):  # half the pages change: more than a fifth of the vectors would be tombstones
        (tree / f"page{i}.md").write_text(DOCS[f"page{i}.md"] + "\nMore.\n")
    again = _ingest(kb, tree)
    assert again["update"] is None
    idx, _ = vindex.load(kb.index_dir, kb.embedder.name, kb.embedder.dim)
    assert idx.dead() == 0 and _indexed(kb) == _visible(kb)


def test_switching_backends_rebuilds(kb: KB, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "page0.md").write_text(DOCS["page0.md"])
    pipeline.run(kb.db, [tree])
    assert indexer.build(kb.db, kb.embedder, kb.index_dir, "faiss")["backend"] == "faiss"
    meta = indexer.build(kb.db, kb.embedder, kb.index_dir, "faiss-hnsw")
    assert meta["backend"] == "faiss-hnsw" and meta["update"] is None
