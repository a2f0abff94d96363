"""Crash safety: `kb ingest` killed with SIGKILL while parsing, mid-transaction, while embedding and while saving the
index leaves a store that opens, passes integrity checks and still serves searches from the previous index; a re-run
then gives exactly the KB of one clean run.

The subprocess runs the real CLI with the fake embedder; a few hooks (installed by the ``-c`` wrapper) print a
marker line and pause at the moment we want to kill, so each kill lands where it should without timing guesses.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kb.app import KB
from kb.embed import FakeEmbedder
from kb.store import open_db
from kbcli import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = 240
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

# Runs `kb ingest` with hooks: MARK <moment> is printed (and flushed) when the moment is reached, then the process
# pauses long enough to be killed there. KB_CRASH_AT names the moment.
WRAPPER = textwrap.dedent(
    """
    import os, sys, time
    from kb import index as vindex
    from kb import indexer, pipeline
    from kb.embed import FakeEmbedder
    at = os.environ["KB_CRASH_AT"]
    indexer.CHUNK = 20  # several embedding chunks, each committed on its own

    def mark(name):
        if name == at:
            print("MARK", name, flush=True)
            time.sleep(60)  # the test kills us here

    write, ingest_file, encode, np_save = (pipeline.Ingestor._write, pipeline.Ingestor.ingest_file,
                                           FakeEmbedder.encode, vindex.NumpyIndex.save)
    def hooked_ingest(self, sf):
        ingest_file(self, sf)
        if self.summary.files_seen == 100:
            mark("parsing")
    def hooked_write(self, sf, *args):
        write(self, sf, *args)
        if self.summary.parsed == 60:
            mark("in-transaction")  # the file's rows are written, its transaction not committed
    calls = []
    def hooked_encode(self, texts, **kw):
        calls.append(1)
        if len(calls) == 3:
            mark("embedding")
        return encode(self, texts, **kw)
    def hooked_save(self, path):
        mark("index-before-write")
        np_save(self, path)
        mark("index-written")  # the new index file exists, index.json still names the old one
    pipeline.Ingestor._write, pipeline.Ingestor.ingest_file = hooked_write, hooked_ingest
    FakeEmbedder.encode, vindex.NumpyIndex.save = hooked_encode, hooked_save
    from kbcli import cli
    cli(["ingest", "--quiet", *sys.argv[1:]])
    """
)
MOMENTS = ["parsing", "in-transaction", "embedding", "index-before-write", "index-written"]


def _page(i: int, version: str) -> str:
    topic = ["IRQL", "spin locks", "DMA", "power IRPs", "PnP", "WDF queues"][i % 6]
    body = "\n\n".join(
        f"## Part {j} of page {i}\n\nThis {version} text explains {topic} for page {i}, part {j}: drivers call "
        f"KeAcquireSpinLock, IoCompleteRequest and WdfRequestSend in the right order, at the right IRQL, and "
        f"release every resource they took before the device is removed. Detail {i * 7 + j} {version}."
        for j in range(3)
    )
    return f"---\ntitle: Page {i} about {topic}\n---\n# Page {i} about {topic}\n\n{body}\n"


def write_tree(tree: Path, version: str) -> None:
    """Version A: pages 0..PAGES-1. Version B: every third page changed, pages 0-9 gone, ten new pages."""
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    numbers = range(PAGES) if version == "A" else range(10, PAGES + 10)
    for i in numbers:
        changed = version == "B" and i % 3 == 0
        (tree / f"sec{i % 8}").mkdir(exist_ok=True)
        (tree / f"sec{i % 8}" / f"page-{i:03d}.md").write_text(_page(i, "revised" if changed else "original"))


def _env(data: Path, moment: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    return env | {"KB_EMBED_MODEL": "fake", "KB_INDEX_BACKEND": "numpy", "KB_DATA_DIR": str(data),
                  "KB_CRASH_AT": moment, "PYTHONPATH": str(ROOT)}


def ingest_in_process(tree: Path, data: Path) -> None:
    result = CliRunner().invoke(cli, ["ingest", "--quiet", str(tree)], env=_env(data))
    assert result.exit_code == 0, result.output


def snapshot(data: Path) -> dict[str, Any]:
    """What a KB holds: pair ids per source with the source hash, and the index count."""
    db = open_db(data / "kb.sqlite")
    try:
        # the content part of the hash only: the rest is the parsers' code fingerprint
        sources = {path: digest.split(":")[0] for path, digest in db.execute("SELECT path, hash FROM sources")}
        pairs: dict[str, set[str]] = {}
        for pid, source in db.execute("SELECT id, source FROM pairs"):
            pairs.setdefault(source, set()).add(pid)
        return {"sources": sources, "pairs": pairs, "count": db.execute("SELECT count(*) FROM pairs").fetchone()[0]}
    finally:
        db.conn.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Clean single runs of version A and of version B."""
    base = tmp_path_factory.mktemp("crash-ref")
    out = {}
    for version in ("A", "B"):
        write_tree(base / version / "tree", version)
        ingest_in_process(base / version / "tree", base / version / "data")
        out[version] = snapshot(base / version / "data")
    return out


def kill_at(moment: str, tree: Path, data: Path) -> str:
    """Run `kb ingest tree` in a subprocess and SIGKILL it when it prints MARK <moment>; returns its output."""
    with subprocess.Popen([sys.executable, "-c", WRAPPER, str(tree)], env=_env(data, moment), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        try:
            line = proc.stdout.readline()  # blocks until the marker (or EOF if the run ended without reaching it)
            assert line.strip() == f"MARK {moment}", line
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            return line
        finally:
            if proc.poll() is None:
                proc.kill()


def check_consistent(data: Path, reference: dict[str, dict[str, Any]]) -> None:
    """The store after a kill: opens, integrity ok, no orphans, each source wholly version A or wholly version B."""
    db = open_db(data / "kb.sqlite")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.execute("INSERT INTO pairs_fts(pairs_fts) VALUES('integrity-check')")
        db.execute("INSERT INTO pairs_idents(pairs_idents) VALUES('integrity-check')")
        assert db.execute("SELECT id FROM pairs GROUP BY id HAVING count(*) > 1").fetchall() == []
        assert db.execute(
            "SELECT count(*) FROM pairs WHERE source NOT IN (SELECT path FROM sources)").fetchone()[0] == 0
        assert db.execute(
            "SELECT count(*) FROM pair_topics WHERE pair_n NOT IN (SELECT n FROM pairs)").fetchone()[0] == 0
    finally:
        db.conn.close()
    now = snapshot(data)
    for path, digest in now["sources"].items():
        version = next((v for v in ("A", "B") if reference[v]["sources"].get(path) == digest), None)
        assert version, f"{path}: hash of neither version"
        assert now["pairs"].get(path, set()) == reference[version]["pairs"][path], f"{path} is half-ingested"
    # the previous index (or the new one, if the switch happened) loads and serves searches over existing pairs
    kb = KB.open({"DATA_DIR": str(data), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"}, embedder=FakeEmbedder())
    assert kb.index() is not None and kb.index().count() > 0
    found = kb.search("spin locks IRQL page", k=10, legs=("dense",))["results"]
    assert found, "the dense leg alone must still answer from the previous index"
    ids = {pid for pids in now["pairs"].values() for pid in pids}
    assert {r["id"] for r in found} <= ids
    assert kb.search("WdfRequestSend", k=5)["results"]


@pytest.mark.parametrize("moment", MOMENTS)
def test_kill_then_rerun(moment: str, tmp_path: Path, reference: dict[str, dict[str, Any]]) -> None:
    tree, data = tmp_path / "tree", tmp_path / "data"
    write_tree(tree, "A")
    ingest_in_process(tree, data)  # the previous KB, with its index
    old_index = (data / "index" / "index.json").read_text()
    write_tree(tree, "B")
    kill_at(moment, tree, data)
    assert (data / "index" / "index.json").read_text() == old_index  # killed before the switch: still the old one
    check_consistent(data, reference)

    rerun = subprocess.run([sys.executable, "-c", "from kbcli import cli; cli()", "ingest", "--quiet", str(tree)],
                           env=_env(data), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    final = snapshot(data)
    assert final["pairs"] == reference["B"]["pairs"]
    assert final["sources"] == reference["B"]["sources"]
    assert final["count"] == reference["B"]["count"]
    kb = KB.open({"DATA_DIR": str(data), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"}, embedder=FakeEmbedder())
    assert kb.index().count() == final["count"]
    assert not [p for p in (data / "index").iterdir() if p.name.endswith(".tmp")], "stale temporary index files"
