"""Live swap: `kb serve` keeps answering (every request a 200) while `kb ingest` rewrites the KB underneath it, and
serves the new content afterwards without a restart (index.json is reloaded by mtime; the store is SQLite WAL)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from kbcli import cli; cli()"]
QUERIES = ["spin lock IRQL", "IoCompleteRequest", "would you please help", "DMA common buffer", "WdfRequestSend",
           "page 12 power"]
# Only stopwords: the keyword legs get no terms, so only the dense leg (the vector index) can find the new page.
DENSE_ONLY = "would you please help"
NEW_PAGE = "# Would you please help\n\n## Would you please help\n\n" + "would you please help thanks hello " * 40 + "\n"


def _page(i: int, version: str) -> str:
    topic = ["IRQL and spin lock", "DMA common buffer", "power IRPs", "PnP removal"][i % 4]
    return (f"# Page {i} about {topic}\n\n## {topic} in page {i}\n\nThe {version} text on {topic}: drivers call "
            f"IoCompleteRequest and WdfRequestSend at the right IRQL. Detail {i} {version}.\n\n"
            f"## More on {topic}\n\nRelease every resource before the device is removed ({version}, {i}).\n")


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    # KB_API_RATE_LIMIT=0: the test's client searches as fast as it can, far above the default 120 per minute.
    return env | {"KB_EMBED_MODEL": "fake", "KB_INDEX_BACKEND": "numpy", "KB_DATA_DIR": str(data),
                  "PYTHONPATH": str(ROOT), "KB_API_RATE_LIMIT": "0"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 10) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")[:300]
    except (OSError, ValueError) as exc:  # connection refused/reset, timeout, bad JSON: a failed request
        return 0, repr(exc)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    tree, data = tmp_path / "tree", tmp_path / "data"
    tree.mkdir()
    for i in range(40):
        (tree / f"page-{i:02d}.md").write_text(_page(i, "original"))
    built = subprocess.run([*CLI, "ingest", "--quiet", str(tree)], env=_env(data), cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--threads", "4"], env=_env(data), cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while _get(base + "/api/health", timeout=2)[0] != 200:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "kb serve did not answer /api/health within 60 s"
            time.sleep(0.2)
        yield {"base": base, "tree": tree, "data": data, "proc": proc}
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()


def _search(base: str, query: str) -> tuple[int, Any]:
    return _get(f"{base}/api/search?" + urllib.parse.urlencode({"q": query, "k": 5}))


def test_search_never_fails_while_ingest_swaps_the_kb(server: dict[str, Any]) -> None:
    base, tree = server["base"], server["tree"]
    before = _search(base, DENSE_ONLY)
    assert before[0] == 200 and not any(r["source"]["path"] == "new-page.md" for r in before[1]["results"])

    stop = threading.Event()
    outcomes: list[tuple[int, str]] = []

    def client() -> None:
        deadline = time.monotonic() + 30  # bounded even if the test forgets to stop it
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            status, body = _search(base, QUERIES[i % len(QUERIES)])
            outcomes.append((status, "" if status == 200 else str(body)))
            i += 1

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    try:
        for i in range(40):  # every other page rewritten, five removed, one added: pairs deleted under the server
            if i % 2 == 0:
                (tree / f"page-{i:02d}.md").write_text(_page(i, "revised"))
        for i in range(35, 40):
            (tree / f"page-{i:02d}.md").unlink()
        (tree / "new-page.md").write_text(NEW_PAGE)
        during = len(outcomes)
        ingest = subprocess.run([*CLI, "ingest", "--quiet", str(tree)], env=_env(server["data"]), cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        assert ingest.returncode == 0, ingest.stderr
        during = len(outcomes) - during
        deadline = time.monotonic() + 15
        while True:  # the server notices the new index.json on its next search
            status, body = _search(base, DENSE_ONLY)
            assert status == 200, body
            if any(r["source"]["path"] == "new-page.md" for r in body["results"]):
                break
            assert time.monotonic() < deadline, f"new page not served after the ingest: {body['results'][:2]}"
            time.sleep(0.2)
        time.sleep(0.5)  # a few more requests against the new KB
    finally:
        stop.set()
        thread.join(timeout=40)
    failures = [o for o in outcomes if o[0] != 200]
    assert during >= 5, "too few requests overlapped the ingest to show anything"
    assert failures == [], failures[:5]
    assert server["proc"].poll() is None, "kb serve died"
    revised = _search(base, "revised text on IRQL and spin lock")[1]["results"]  # pages 0, 4, 8...: rewritten
    assert revised and all("original" not in r["answer"] for r in revised if r["source"]["path"] == "page-04.md")
    assert any("revised" in r["answer"] for r in revised)
    for i in range(35, 40):  # removed pages are gone from every leg
        hits = _search(base, f"page {i} original")[1]["results"]
        assert not any(r["source"]["path"] == f"page-{i:02d}.md" for r in hits)
