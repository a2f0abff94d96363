"""Fuzz every registered parser and the query layer with hypothesis.

A parser must yield records (at most one SourceMeta, first) or raise ParseError, nothing else; a search must return
results or raise BadQuery; /api/search must answer 200 or a 4xx JSON error. About 10,000 generated inputs by default
(deterministic, ~30-60 s); KB_FUZZ_EXAMPLES=100000 scales every test up for a long run.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import ingest
from kb import indexer
from kb import pipeline
from kb.app import KB
from kb.embed import FakeEmbedder
from kb.errors import BadQuery
from kb.errors import ParseError
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import Sample
from kb.models import Script
from kb.models import SourceDoc
from kb.models import SourceMeta
from kb.search import search as kb_search
from webapp import create_app

TOTAL = int(os.environ.get("KB_FUZZ_EXAMPLES", "10000"))
settings.register_profile(
    "kb-fuzz", derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)
PROFILE = settings.get_profile("kb-fuzz")


def budget(share: float) -> settings:
    """Settings for one test: ``share`` of the total number of generated inputs."""
    return settings(PROFILE, max_examples=max(10, int(TOTAL * share)))


# -- strategies -------------------------------------------------------------------------------------------------------
WORDS = ["IRQL", "KeSetEvent", "WdfRequestSend", "DISPATCH_LEVEL", "driver", "the", "IRP", "0xD1", "spin", "lock",
         "says", "wrote:", "Syntax", "Parameters", "Requirements", "Remarks", "Return value", "Q:", "A:", "---", "#",
         "```", "|", ">", "-", "1.", "[!NOTE]", ":::image", "<br>", "<table>", "</td>", "&amp;", "\t", "\\", "*", "_"]
ENGLISH = ("when a driver calls this routine at raised IRQL it must not wait because the system cannot page "
           "so the request completes with an error and the device stops responding until the next reboot").split()
vocab = st.sampled_from(WORDS + ENGLISH)
word = st.one_of(vocab, vocab, vocab, vocab, st.text(min_size=1, max_size=12))  # mostly plausible, some noise
line = st.lists(word, max_size=12).map(" ".join)
clean_line = st.lists(vocab, min_size=1, max_size=10).map(" ".join)  # no newlines or control characters
sentence = st.lists(word, min_size=4, max_size=20).map(lambda ws: " ".join(ws).capitalize() + ".")
prose = st.one_of(st.lists(line, max_size=8).map("\n".join), st.lists(sentence, min_size=1, max_size=6).map(" ".join))
random_text = st.one_of(st.text(max_size=400), prose, st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
# An impossible date such as 2024-13-45 has its own test (test_impossible_yaml_date).
yaml_value = st.one_of(line, st.sampled_from(["[a, b", "{x: 1}", "*alias", "&a x", "- a\n- b", "'unclosed", "|\n  x",
                                              "null", "123", "2024-03-45x", "\t tab", "[KeSetEvent, IoCallDriver]"]))
front_matter = st.dictionaries(st.sampled_from(["title", "description", "UID", "api_name", "ms.topic", "keywords",
                                                "req.header", "req.irql", "name", "topics", "ms.date", "api_type"]),
                               yaml_value, max_size=6).map(
    lambda d: "---\n" + "".join(f"{k}: {v}\n" for k, v in d.items()) + "---\n")


@st.composite
def markdown_page(draw: Callable[..., Any]) -> str:
    """Front matter + headings + paragraphs, code fences (some unclosed), tables, lists, notes and links."""
    parts = [draw(st.one_of(st.just(""), front_matter))]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["h", "p", "code", "table", "list", "note", "link", "html"]))
        if kind == "h":
            parts.append("#" * draw(st.integers(1, 7)) + " " + draw(line))
        elif kind == "p":
            parts.append(draw(prose))
        elif kind == "code":
            fence = draw(st.sampled_from(["```", "~~~", "````"]))
            parts.append(f"{fence}{draw(st.sampled_from(['', 'c', 'cpp', 'console']))}\n{draw(prose)}\n"
                         + draw(st.sampled_from([fence, "", "```"])))
        elif kind == "table":
            cols = draw(st.integers(1, 4))
            rows = draw(st.lists(st.lists(line, min_size=cols, max_size=cols), max_size=4))
            parts.append("\n".join(["| " + " | ".join(["h"] * cols) + " |", "|" + "---|" * cols]
                                   + ["| " + " | ".join(r) + " |" for r in rows]))
        elif kind == "list":
            parts.append("\n".join(" " * draw(st.integers(0, 8)) + draw(st.sampled_from(["-", "*", "1."])) + " "
                                   + draw(line) for _ in range(draw(st.integers(1, 5)))))
        elif kind == "note":
            parts.append(f"> [!{draw(st.sampled_from(['NOTE', 'TIP', 'WARNING', 'x']))}]\n> {draw(line)}")
        elif kind == "link":
            parts.append(f"[{draw(line)}]"
                         f"({draw(st.sampled_from(['a.md', '../b.md#x', 'https://x/y', '', '(', 'javascript:x']))})")
        else:
            parts.append(draw(st.sampled_from(["<table><tr><td>a</td></tr></table>", "<br/>", "<!-- c -->", "<b>x",
                                               "<span id=\"a\"></span>", "[!INCLUDE[x](y.md)]",
                                               ":::image source=\"a.png\" alt-text=\"b\":::"])))
    return "\n\n".join(parts)


@st.composite
def comment_thread(draw: Callable[..., Any]) -> str:
    """Numbered comments ('  3. alice says:' ...) with quotes and code, numbers sometimes out of order."""
    out = [draw(line)]
    for i in range(1, draw(st.integers(1, 8)) + 1):
        number = draw(st.one_of(st.just(i), st.integers(0, 20)))
        who = draw(st.sampled_from(["alice", "bob", "Tim Roberts", "", "a b c d e f"]))
        verb = draw(st.sampled_from(["says:", "says:", "says:", "wrote:", ""]))
        out.append(f"{' ' * draw(st.integers(0, 3))}{number}. {who} {verb}")
        out.append(draw(prose))
    return "\n".join(out)


@st.composite
def with_hole(draw: Callable[..., Any], value: Any) -> Any:
    """``value`` (nested dicts and lists), sometimes with one key dropped or one value of the wrong type."""
    if draw(st.integers(0, 3)) != 3:  # 0 (what hypothesis tries first) keeps it whole
        return value
    holders = []

    def collect(v: Any) -> None:
        if isinstance(v, dict) and v:
            holders.append(v)
            for item in v.values():
                collect(item)
        elif isinstance(v, list):
            for item in v:
                collect(item)

    collect(value)
    if holders:
        target = draw(st.sampled_from(holders))
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just([]), st.just({})))
    return value


@st.composite
def discourse_topic(draw: Callable[..., Any]) -> dict[str, Any]:
    posts = [{"id": 100 + i, "post_number": i + 1, "post_type": draw(st.sampled_from([1, 1, 1, 2, 3])),
              "username": draw(st.sampled_from(["asker", "helper", "mod"])), "cooked": f"<p>{draw(prose)}</p>",
              "created_at": "2024-03-05T09:12:44Z", "like_count": draw(st.integers(0, 5)),
              "reply_to_post_number": draw(st.one_of(st.none(), st.integers(1, 6))),
              "accepted_answer": draw(st.booleans())} for i in range(draw(st.integers(1, 6)))]
    topic = {"id": draw(st.integers(1, 99999)), "title": draw(line), "slug": "t",
             "tags": draw(st.lists(st.sampled_from(["kmdf", "usb", "irql"]), max_size=2)),
             "post_stream": {"posts": posts}}
    return draw(with_hole(topic))


@st.composite
def slack_day(draw: Callable[..., Any]) -> list[dict[str, Any]]:
    messages = []
    for i in range(draw(st.integers(1, 8))):
        ts = f"17096298{i:02d}.{draw(st.integers(0, 999999)):06d}"
        msg = {"type": "message", "ts": ts, "user": draw(st.sampled_from(["U1", "U2", "U3"])), "text": draw(prose)}
        if messages and draw(st.booleans()):
            msg["thread_ts"] = messages[0]["ts"]
        if draw(st.integers(0, 4)) == 0:
            msg["reactions"] = [{"name": draw(st.sampled_from(["+1", "white_check_mark"])), "count": 2,
                                 "users": ["U1"]}]
        if draw(st.integers(0, 6)) == 0:
            msg["subtype"] = draw(st.sampled_from(["channel_join", "bot_message", "thread_broadcast"]))
        messages.append(msg)
    if messages and "thread_ts" not in messages[0] and any("thread_ts" in m for m in messages):
        messages[0]["thread_ts"] = messages[0]["ts"]
    return draw(with_hole(messages))


@st.composite
def samples_catalog(draw: Callable[..., Any]) -> dict[str, Any]:
    samples = [{"path": f"general/sample{i}", "title": draw(line), "description": draw(prose),
                "ddi_calls": {draw(st.sampled_from(["WdfDeviceCreate", "KeSetEvent", "IoCallDriver"])):
                              [[f"driver{i}.c", draw(st.integers(1, 500))]]},
                "infs": [f"sample{i}.inf"], "projects": [f"sample{i}.vcxproj"]} for i in range(draw(st.integers(0, 4)))]
    return draw(with_hole({"samples": samples}))


@st.composite
def xml_rows(draw: Callable[..., Any]) -> list[dict[str, str]]:
    rows = []
    for i in range(1, draw(st.integers(1, 6)) + 1):
        question = i == 1 or draw(st.booleans())
        row = {"Id": str(i), "PostTypeId": "1" if question else "2", "Score": str(draw(st.integers(-2, 9))),
               "Body": f"<p>{draw(prose)}</p>", "CreationDate": "2024-02-11T14:02:33.517"}
        row |= {"Title": draw(line), "Tags": "<windows><driver>"} if question else {"ParentId": "1"}
        rows.append(row)
    return draw(with_hole(rows))


_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # not allowed in XML 1.0


def _xml(rows: list[dict[str, Any]], wrap: bool) -> str:
    from xml.sax.saxutils import quoteattr
    body = "\n".join("<row " + " ".join(f"{k}={quoteattr(_XML_BAD.sub('', str(v)))}" for k, v in r.items()) + " />"
                     for r in rows if isinstance(r, dict))
    return f'<?xml version="1.0"?>\n<posts>\n{body}\n</posts>' if wrap else body


posts_xml = st.builds(_xml, xml_rows(), st.integers(0, 9).map(bool))


@st.composite
def mbox_text(draw: Callable[..., Any]) -> str:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        out.append(draw(st.sampled_from(["From alice@x Mon Mar  4 10:00:00 2024", "From ", "From x"])))
        for header in draw(st.lists(st.sampled_from(["From: a@x", "Subject: Re: IRQL", "Message-ID: <1@x>",
                                                     "In-Reply-To: <1@x>", "Date: Mon, 4 Mar 2024 10:00:00 +0000",
                                                     "Content-Type: multipart/mixed; boundary=b", "--b"]), max_size=5)):
            out.append(header)
        out.append("")
        out.append(draw(prose))
    return "\n".join(out)


@st.composite
def handbook_yaml(draw: Callable[..., Any]) -> str:
    out = [f"title: {draw(st.one_of(clean_line, clean_line, yaml_value))}", "pairs:"]
    for _ in range(draw(st.integers(1, 3))):
        keys = draw(st.lists(st.sampled_from(["id", "question", "answer", "topics", "cite"]), unique=True))
        if draw(st.integers(0, 3)) != 3:  # mostly complete entries with plain values
            keys = ["id", "question", "answer", "topics", "cite"]
        values = {k: draw(st.one_of(clean_line, clean_line, clean_line, sentence, yaml_value)) for k in keys}
        values = {k: json.dumps(v) for k, v in values.items()} | (
            {"topics": "[debugging]", "cite": "[windows-driver-docs-pr/kernel/x.md]"}
            if draw(st.integers(0, 3)) != 3 else {})
        values = {k: v for k, v in values.items() if k in keys}
        out.append("  - " + "\n    ".join(f"{k}: {v}" for k, v in values.items()) if keys else "  -")
    return "\n".join(out)


@st.composite
def script_text(draw: Callable[..., Any]) -> str:
    prefix = draw(st.sampled_from(["$$ "] * 6 + ["# ", "rem ", ":: ", "$$"]))  # .wds: WinDbg comments
    keys = draw(st.lists(st.sampled_from(["title", "what", "when", "run", "look-for", "topics", "docs"]), unique=True))
    if draw(st.integers(0, 3)) != 3:  # mostly a complete header
        keys = ["title", "what", "when", "run", "look-for", "topics", "docs"]
    header = [f"{prefix}{k}: {draw(st.one_of(clean_line, clean_line, clean_line, line))}" for k in keys]
    return "\n".join(header + [draw(line) for _ in range(draw(st.integers(1, 5)))])


@st.composite
def api_text(draw: Callable[..., Any]) -> str:
    name = draw(st.sampled_from(["KeSetEvent", "WdfRequestSend", "IO_STACK_LOCATION", "x"]))
    kind = draw(st.sampled_from(["function", "structure", "callback function", "macro", ""]))
    out = [f"{name} {kind} ({draw(st.sampled_from(['wdm.h', 'wdfrequest.h', '']))})", draw(prose)]
    for heading in draw(st.lists(st.sampled_from(["Syntax", "Parameters", "Return value", "Remarks", "Requirements",
                                                   "See also"]), max_size=5)):
        out += [heading, draw(prose)]
    return "\n".join(out)


discourse_json = st.builds(json.dumps, st.one_of(discourse_topic(), st.lists(discourse_topic(), max_size=3)))
slack_json = st.builds(json.dumps, slack_day())
catalog_json = st.builds(json.dumps, samples_catalog())
STRUCTURED: dict[str, tuple[st.SearchStrategy[str], str]] = {
    "learn-doc": (markdown_page(), "windows-driver-docs-pr/kernel/fuzz-page.md"),
    "api-ref": (markdown_page(), "wdk-ddi-src/content/wdm/nf-wdm-kesetevent.md"),
    "api-text": (api_text(), "api/KeSetEvent.txt"),
    "handbook": (handbook_yaml(), "handbook/fuzz.yml"),
    "thread": (comment_thread(), "seeds/000_fuzz.txt"),
    "article": (st.one_of(markdown_page(), prose), "articles/fuzz.txt"),
    "discourse": (discourse_json, "forum/t/1234.json"),
    "mbox": (mbox_text(), "lists/ntdev.mbox"),
    "stackexchange": (posts_xml, "se/Posts.xml"),
    "slack-export": (slack_json, "driver-help/2024-03-05.json"),
    "samples-catalog": (catalog_json, "driver-samples.json"),
    "sample-readme": (st.builds("# {}\n\n{}".format, clean_line, markdown_page()) | markdown_page(),
                      "usb/kmdf_fx2/README.md"),
    "curated-script": (script_text(), "scripts/fuzz.wds"),
    "scripts": (markdown_page(), "windows-driver-docs-pr/debugger/fuzz.md"),
}
RECORDS = (SourceMeta, Pair, OpenQuestion, Script, Sample)
# Parsers registered after this file was written still get random text; their structured strategy is markdown.
FORMATS = sorted(ingest.PARSERS)
SHARE = 0.78 / (2 * len(FORMATS))  # parsers get ~78% of the inputs, the query layer the rest


def _parser(fmt: str) -> Callable[[str, SourceDoc], Any]:
    module, func = ingest.PARSERS[fmt][0].split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except ImportError as exc:  # pragma: no cover - a format registered before its module landed
        pytest.skip(f"{module} is not importable yet: {exc}")


def check_parser(fmt: str, text: str, path: str) -> None:
    """The parser contract: records, at most one SourceMeta and first; or ParseError; nothing else."""
    parse = _parser(fmt)
    try:
        records = list(parse(text, SourceDoc(path=path, kind=ingest.kind_of(fmt))))
    except ParseError as exc:
        assert str(exc).strip(), "a ParseError must say what is wrong"
        return
    assert all(isinstance(r, RECORDS) for r in records), [type(r) for r in records]
    metas = [i for i, r in enumerate(records) if isinstance(r, SourceMeta)]
    assert metas in ([], [0]), f"SourceMeta at positions {metas}"
    for record in records:
        if isinstance(record, Pair):
            json.dumps(record.locator)  # locators are stored as JSON
            assert isinstance(record.question, str) and isinstance(record.answer, str)


@pytest.mark.parametrize("fmt", FORMATS)
def test_parser_on_random_text(fmt: str) -> None:
    path = STRUCTURED.get(fmt, (None, f"fuzz/{fmt}.md"))[1]

    @budget(SHARE)
    @given(random_text)
    def run(text: str) -> None:
        check_parser(fmt, text, path)

    run()


@pytest.mark.parametrize("fmt", FORMATS)
def test_parser_on_plausible_pages(fmt: str) -> None:
    strategy, path = STRUCTURED.get(fmt, (markdown_page(), f"fuzz/{fmt}.md"))

    @budget(SHARE)
    @given(strategy)
    def run(text: str) -> None:
        check_parser(fmt, text, path)

    run()


@pytest.mark.parametrize("fmt", ["learn-doc", "api-ref", "sample-readme", "handbook"])
def test_impossible_yaml_date(fmt: str) -> None:
    text = ("title: 2024-13-45\npairs: []\n" if fmt == "handbook"
            else "---\ntitle: X\nms.date: 2024-13-45\n---\n# X\n\n## Y\n\nSome text about IRQL here.\n")
    check_parser(fmt, text, STRUCTURED[fmt][1])


# -- the query layer --------------------------------------------------------------------------------------------------
PAGES = {
    "irql.md": "# IRQL\n\n## Raising IRQL\n\nKeRaiseIrql raises the IRQL; KeLowerIrql restores it. Code at "
               "DISPATCH_LEVEL must not touch paged memory or wait, or the result is bug check 0xD1.\n",
    "kmdf.md": "# KMDF requests\n\n## Sending a request\n\nWdfRequestSend sends a request to an I/O target; check "
               "WdfRequestGetStatus when it returns FALSE. STATUS_INVALID_DEVICE_STATE means the target is stopped.\n",
    "dma.md": "# DMA\n\n## Common buffers\n\nAllocateCommonBuffer gives memory both the device and the driver can "
              "reach; free it with FreeCommonBuffer. Scatter/gather lists come from GetScatterGatherList.\n",
}
query_text = st.one_of(st.text(max_size=200), st.lists(st.one_of(word, st.sampled_from(
    ['"', "'", "*", "^", "-", "+", "(", ")", "NEAR(", "AND", "OR", "NOT", ":", "col:x", "{", "}", "\x00", "%ff"])),
    max_size=15).map(" ".join), st.text(alphabet=st.characters(codec="utf-8"), min_size=990, max_size=1100))


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> KB:
    base = tmp_path_factory.mktemp("fuzz-kb")
    (base / "tree").mkdir()
    for name, text in PAGES.items():
        (base / "tree" / name).write_text(text)
    kb = KB.open({"DATA_DIR": str(base / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"},
                 embedder=FakeEmbedder())
    assert pipeline.run(kb.db, [base / "tree"]).problems == []
    indexer.build(kb.db, kb.embedder, kb.index_dir, "numpy")
    return kb


def test_search_on_random_queries(small_kb: KB) -> None:
    index = small_kb.index()

    @budget(0.11)
    @given(query_text)
    def run(query: str) -> None:
        try:
            result = kb_search(small_kb.db, query, index=index, embedder=small_kb.embedder)
        except BadQuery as exc:
            assert str(exc)
            return
        assert isinstance(result["results"], list) and len(result["results"]) <= 10
        assert all(r["id"] and r["source"]["path"] in PAGES for r in result["results"])

    run()


def test_api_search_on_random_queries(small_kb: KB) -> None:
    # API_RATE_LIMIT 0: a thousand searches from one address would otherwise mostly test the 429 path.
    client = create_app({"TESTING": True, "DATA_DIR": str(small_kb.data_dir), "API_RATE_LIMIT": 0},
                        kb=small_kb).test_client()

    @budget(0.11)
    @given(query_text, st.one_of(st.none(), st.integers(-5, 60).map(str), st.text(max_size=5)))
    def run(query: str, k: str | None) -> None:
        args = {"q": query} | ({"k": k} if k is not None else {})
        resp = client.get("/api/search", query_string=args)
        assert resp.status_code == 200 or 400 <= resp.status_code < 500, (resp.status_code, resp.get_data()[:200])
        body = resp.get_json()
        if resp.status_code == 200:
            assert isinstance(body["results"], list)
        else:
            assert body["ok"] is False and body["status"] == resp.status_code and body["error"]

    run()


def test_fuzz_budget_is_at_least_10000_by_default() -> None:
    per_parser = 2 * len(FORMATS) * max(10, int(10000 * SHARE))
    assert per_parser + 2 * int(10000 * 0.11) >= 9900 and Path(__file__).name == "test_fuzz.py"
