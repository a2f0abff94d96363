"""The product on real pages with the real bundled model: the queries from the issue must work."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_subset import extract

from kb import indexer
from kb import pipeline
from kb.app import KB

pytestmark = [pytest.mark.slow, pytest.mark.corpus]

MEMBERS = [
    "windows-driver-docs-pr/debugger/debugging-a-failed-driver-unload.md",
    "windows-driver-docs-pr/kernel/managing-hardware-priorities.md",
    "windows-driver-docs-pr/debugger/bug-check-0xa--irql-not-less-or-equal.md",
    "windows-driver-docs-pr/debugger/bug-check-0xd1--driver-irql-not-less-or-equal.md",
    "windows-driver-docs-pr/wdf/sending-i-o-requests-to-general-i-o-targets.md",
    "windows-driver-docs-pr/wdf/canceling-i-o-requests.md",
    "windows-driver-docs-pr/kernel/introduction-to-spin-locks.md",
    "wdk-ddi-src/content/wdm/nf-wdm-kesetevent.md",
    "wdk-ddi-src/content/wdm/nf-wdm-keclearevent.md",
    "wdk-ddi-src/content/wdm/nf-wdm-kewaitforsingleobject.md",
    "wdk-ddi-src/content/wdfrequest/nf-wdfrequest-wdfrequestsend.md",
    "wdk-ddi-src/content/wdfrequest/nf-wdfrequest-wdfrequestmarkcancelable.md",
    "wdk-ddi-src/content/wdfrequest/nf-wdfrequest-wdfrequestcancelsentrequest.md",
    "wdk-ddi-src/content/ndis/index.md",
    "windows-driver-docs-pr/network/overview-of-ndis-selective-suspend.md",
    "windows-driver-docs-pr/network/ndis-selective-suspend-idle-notifications.md",
]
PREFIXES = ["windows-driver-docs-pr/debugger/debugger-", "wdk-ddi-src/content/wdfiotarget/"]


@pytest.fixture(scope="module")
def real_kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> KB:
    root = tmp_path_factory.mktemp("real")
    sources = extract(corpus, root / "src", MEMBERS, PREFIXES) + [corpus / "seeds", corpus / "driver-samples.json.gz"]
    kb = KB.open({"DATA_DIR": str(root / "data")})
    summary = pipeline.run(kb.db, sources)
    assert not summary.problems, summary.problems
    indexer.build(kb.db, kb.embedder, kb.index_dir, kb.settings["INDEX_BACKEND"])
    return kb


def test_exact_api_name_puts_its_reference_first(real_kb: KB) -> None:
    top = real_kb.search("KeSetEvent", k=3)["results"][0]
    assert top["source"]["path"] == "wdk-ddi-src/content/wdm/nf-wdm-kesetevent.md"
    assert top["source"]["url"] == "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent"


def test_irql_question_is_answered_with_the_irql(real_kb: KB) -> None:
    results = real_kb.search("what IRQL can I call KeSetEvent at", k=3)["results"]
    assert any("DISPATCH_LEVEL" in r["answer"] and "KeSetEvent" in r["answer"] for r in results)


def test_symptom_query_finds_the_debugging_page(real_kb: KB) -> None:
    results = real_kb.search("my driver won't unload, leaked reference", k=5)["results"]
    assert "windows-driver-docs-pr/debugger/debugging-a-failed-driver-unload.md" in [
        r["source"]["path"] for r in results]


def test_bugcheck_name_hits_exactly(real_kb: KB) -> None:
    results = real_kb.search("IRQL_NOT_LESS_OR_EQUAL", k=3)["results"]
    assert results[0]["source"]["path"].endswith("bug-check-0xa--irql-not-less-or-equal.md")


def test_thread_answer_is_found_with_its_comment_locator(real_kb: KB) -> None:
    results = real_kb.search("WdfRequestMarkCancelable assertion after WdfRequestSend", k=10,
                             kinds=("thread",))["results"]
    assert results, "the seed thread's answers should be searchable"
    locator = results[0]["source"]["locator"]
    assert set(locator) >= {"question", "answer"} and 5 in locator["question"]


@pytest.mark.parametrize("query", ["NDIS miniport selective suspend power policy owner",
                                   "WdfRequestMarkCancelable assertion after WdfRequestSend"])
def test_issue_queries_find_the_thread_answers_among_the_docs(real_kb: KB, query: str) -> None:
    results = real_kb.search(query, k=10)["results"]
    threads = [r for r in results if r["source"]["kind"] == "thread"]
    assert threads, [r["question"][:60] for r in results]
    assert threads[0]["source"]["locator"]["answer"]


def test_a_header_word_does_not_lift_the_header_page_unless_the_header_is_named(real_kb: KB) -> None:
    header = "wdk-ddi-src/content/ndis/index.md"
    top = real_kb.search("NDIS miniport selective suspend power policy owner", k=3)["results"]
    assert header not in [r["source"]["path"] for r in top]
    assert real_kb.search("what is in ndis.h", k=1)["results"][0]["source"]["path"] == header


def test_api_reference_pairs_link_samples_with_file_and_line(real_kb: KB) -> None:
    top = real_kb.search("WdfRequestSend", k=1)["results"][0]
    calls = [s for s in top["samples"] if s["reason"] == "calls-ddi"]
    assert calls and calls[0]["evidence"]["url"].startswith("https://github.com/microsoft/Windows-driver-samples/blob/")
    assert "#L" in calls[0]["evidence"]["url"]


def test_max_tokens_zero_keeps_the_models_own_length() -> None:
    from kb.embed_onnx import load_embedder_for

    shipped = load_embedder_for({"EMBED_MODEL": "bundled:all-MiniLM-L6-v2", "EMBED_BACKEND": "torch",
                                 "EMBED_MAX_TOKENS": 0, "EMBED_BATCH": 32, "DATA_DIR": "unused"})
    assert shipped.max_tokens == 256 and shipped.name == "bundled:all-MiniLM-L6-v2@256"
