"""`kb bench` machinery on a tiny fixture KB with the fake embedder: report shape, percentiles, load runner."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlparse

import numpy as np
import pytest
from click.testing import CliRunner

from kb import bench
from kb.sources import walk
from kbcli.bench import bench as bench_command

DATA = Path(__file__).parent / "data" / "bench"
DOCS = DATA / "windows-driver-docs-pr"


@pytest.mark.parametrize(("values", "expected"), [
    ([1, 2, 3, 4, 5], {"p50": 3, "p95": 4.8, "p99": 4.96}),
    ([4, 1, 3, 2], {"p50": 2.5, "p95": 3.85, "p99": 3.97}),
    (list(range(101)), {"p50": 50, "p95": 95, "p99": 99}),
    ([7], {"p50": 7, "p95": 7, "p99": 7}),
])
def test_percentiles_on_known_lists(values: list[float], expected: dict[str, float]) -> None:
    assert bench.percentiles(values) == pytest.approx(expected)


def test_percentiles_agree_with_numpy_and_empty_gives_nan() -> None:
    values = list(np.random.default_rng(1).exponential(size=137))
    got = bench.percentiles(values, (5, 50, 90, 99.9))
    assert list(got.values()) == pytest.approx(list(np.percentile(values, [5, 50, 90, 99.9])))
    assert all(v != v for v in bench.percentiles([]).values())


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        query = parse_qs(urlparse(self.path).query)["q"][0]
        with self.lock:
            self.hits.append(query)
        status = 500 if query.startswith("fail") else 200
        body = b'{"results": []}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def tiny_server() -> ThreadingHTTPServer:
    _Handler.hits = []
    server = ThreadingHTTPServer((bench.LOOPBACK, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_load_runner_counts_requests_and_errors(tiny_server: ThreadingHTTPServer) -> None:
    port = tiny_server.server_address[1]
    queries = ["ok one", "fail two", "ok three"]
    result = bench.run_load(lambda: bench.HttpSearch(bench.LOOPBACK, port), queries, clients=3, per_client=4)
    # 12 calls walk the query list in order (client i starts at i * 4): every third one fails.
    assert (result["requests"], result["ok"], result["errors"]) == (12, 8, 4)
    assert result["error_kinds"] == {"HTTP 500": 4}
    assert sorted(_Handler.hits) == sorted(queries * 4)
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"]


def test_load_runner_counts_exceptions_as_errors_and_closes_clients() -> None:
    closed = []

    class Flaky:
        def __call__(self, query: str) -> bool:
            if query == "boom":
                raise ConnectionResetError("gone")
            return True

        def close(self) -> None:
            closed.append(1)

    result = bench.run_load(Flaky, ["a", "boom"], clients=2, per_client=3)
    assert (result["requests"], result["ok"], result["errors"]) == (6, 3, 3)
    assert result["error_kinds"] == {"ConnectionResetError": 3}
    assert len(closed) == 2


def test_http_client_survives_a_dead_server(tiny_server: ThreadingHTTPServer) -> None:
    port = tiny_server.server_address[1]
    tiny_server.shutdown()
    tiny_server.server_close()
    result = bench.run_load(lambda: bench.HttpSearch(bench.LOOPBACK, port, timeout=2), ["q"], clients=1, per_client=2)
    assert (result["requests"], result["errors"]) == (2, 2)


def test_stage_sources_keeps_path_keys_and_gold_pages(tmp_path: Path) -> None:
    archive = tmp_path / "docs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(5):
            data = f"# Page {i}\n\nText {i}.\n".encode()
            info = tarfile.TarInfo(f"windows-driver-docs-pr/kernel/page{i}.md")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    staged = bench.stage_sources([archive, DOCS], tmp_path / "work", limit=2,
                                 include={"windows-driver-docs-pr/kernel/page4.md",
                                          "windows-driver-docs-pr/kernel/spin-locks.md"})
    assert [s["files"] for s in staged] == [3, 3]
    keys = {sf.path for sf in walk(Path(staged[0]["staged"]), [])}
    assert keys == {f"windows-driver-docs-pr/kernel/page{i}.md" for i in (0, 1, 4)}
    assert {sf.path for sf in walk(Path(staged[1]["staged"]), [])} == {sf.path for sf in walk(DOCS, [])}


def test_ann_variants_scale_with_the_collection() -> None:
    assert {name for name, _, _ in bench.ann_variants(10)} >= {"flat", "sq8", "hnsw32-ef32", "ivf1-nprobe4"}
    assert any(name.startswith("ivf256-") for name, _, _ in bench.ann_variants(10_000))
    vectors = np.random.default_rng(0).normal(size=(120, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    result = bench.bench_ann(vectors, vectors[:5])
    flat = next(v for v in result["variants"] if v["name"] == "flat")
    assert flat["recall@10"] == 1.0 and flat["recall@100"] == 1.0
    assert all(0.0 <= v["recall@10"] <= 1.0 for v in result["variants"])


def test_reference_pool_holds_the_dense_hits_and_the_gold_pages(tmp_path: Path) -> None:
    from kb import indexer
    from kb import pipeline
    from kb.app import KB
    from kb.embed import FakeEmbedder

    kb = KB.open({"DATA_DIR": str(tmp_path / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    pipeline.run(kb.db, [DOCS])
    indexer.build(kb.db, kb.embedder, kb.index_dir, "numpy")
    pairs = dict(kb.db.execute("SELECT n, source FROM pairs").fetchall())
    gold = "windows-driver-docs-pr/kernel/spin-locks.md"
    entries = [{"q": "what IRQL can I call KeSetEvent at", "gold": [gold]}]
    pool = bench.reference_pool(kb, entries, per_query=1)
    _, top = kb.index().search(kb.embedder.encode_query(entries[0]["q"]), 1)
    assert set(pool) == {int(top[0])} | {n for n, source in pairs.items() if source == gold}
    assert set(bench.reference_pool(kb, entries, per_query=len(pairs))) == set(pairs)
    # The pooled reference index holds exactly the pool, embedded by the reference model.
    meta = bench.build_reference_index(kb, FakeEmbedder(), tmp_path / "ref", "numpy", pool)
    assert meta["count"] == meta["embedded"] == len(pool)


def test_bench_command_reports_every_phase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_EMBED_MODEL", "fake")
    monkeypatch.setenv("KB_INDEX_BACKEND", "faiss")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(bench_command, [
        "--sources", str(DOCS), "--limit", "1", "--devset", str(DATA / "devset.yml"), "--requests", "2",
        "--sample", "10", "--out", str(out), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["errors"] == []
    for phase in bench.PHASES:
        assert phase in report and "error" not in report[phase], phase
    assert report["machine"]["cores"] >= 1 and report["machine"]["versions"]["numpy"]
    # --limit 1, but the dev set's gold pages come along: all three pages, one pair each.
    assert report["ingest"]["files_seen"] == 3 and report["ingest"]["pairs"] == 3
    assert report["build"]["embedded"] == 3 and report["build"]["count"] == 3
    assert report["embed"]["texts"] == 3 and report["embed"]["cosine"]["mean"] == pytest.approx(1.0)
    assert report["embed"]["plain"]["pairs_per_s"] > 0 and report["embed"]["speedup_vs_plain"] > 0
    assert report["size"]["total"] >= report["size"]["kb.sqlite"] > 0
    assert report["reingest"]["unchanged"]["parsed"] == 0 and report["reingest"]["unchanged"]["embedded"] == 0
    assert report["reingest"]["one_page"]["parsed"] == 1 and report["reingest"]["one_page"]["embedded"] == 1
    quality = report["quality"]
    assert (quality["questions"], quality["gold_absent"]) == (3, 1)
    assert set(quality["backend"]) == set(quality["reference"]) == {"keyword", "dense", "hybrid"}
    assert quality["reference_pool_per_query"] == 300 and quality["reference_pairs"] == 3
    assert report["http"]["matches_in_process"] is True
    assert [lv["clients"] for lv in report["http"]["levels"]] == [1, 4, 16]
    assert all(lv["ok"] == lv["requests"] == 2 * lv["clients"] and lv["errors"] == 0 for lv in report["http"]["levels"])
    assert report["http"]["rss_mb"] > 0
    assert [lv["ok"] for lv in report["baseline"]["levels"]] == [2, 8, 32]
    assert "http /api/search" in result.output and "ANN vs exact" in result.output

    # --reuse measures the KB just built: no build phases, and the store keeps its pairs.
    again = tmp_path / "again.json"
    result = CliRunner().invoke(bench_command, [
        "--reuse", "--skip-reference-mrr", "--devset", str(DATA / "devset.yml"), "--requests", "1", "--sample", "10",
        "--out", str(again), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    reused = json.loads(again.read_text())
    assert reused["errors"] == [] and not {"ingest", "build", "reingest", "sources"} & set(reused)
    assert reused["quality"]["questions"] == 3 and "reference" not in reused["quality"]
    assert reused["http"]["matches_in_process"] is True and reused["ann"]["vectors"] == 3


def test_bench_command_refuses_a_non_empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kb.sqlite").write_text("x")
    result = CliRunner().invoke(bench_command, ["--sources", str(DOCS), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2 and "not empty" in result.output
    result = CliRunner().invoke(bench_command, ["--reuse", "--data-dir", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "--reuse needs a built KB" in result.output
    assert not list((tmp_path / "tmp").iterdir()), "a refused run left a work folder behind"
