"""Tests for the Microsoft Learn page parser and the shared markdown helpers."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ingest import apiref
from ingest import learn
from ingest.learn import base_verb
from ingest.learn import page_question
from ingest.learn import section_question
from ingest.markdown import clean_markdown
from ingest.markdown import learn_url
from ingest.markdown import resolve_link
from ingest.markdown import slugify
from ingest.markdown import split_front_matter
from ingest.markdown import split_long
from ingest.markdown import split_sections
from ingest.page_questions import Frame
from ingest.page_questions import distinct_questions
from ingest.page_questions import heading_frame
from ingest.part_questions import content_questions
from kb.models import Pair
from kb.models import SourceDoc
from kb.models import SourceMeta

DATA = Path(__file__).parent / "data" / "learn"
DOCS = "windows-driver-docs-pr/"
RELATIVE_MD_LINK = re.compile(r"\]\((?!https?:|mailto:)[^)\s]*\.md(?:#[^)]*)?\)")


def parse_file(name: str, path: str | None = None) -> tuple[SourceMeta, list[Pair]]:
    text = (DATA / name).read_text(encoding="utf-8")
    records = list(learn.parse(text, SourceDoc(path=path or f"{DOCS}kernel/{name}", kind="learn-doc")))
    assert isinstance(records[0], SourceMeta)
    assert all(isinstance(r, Pair) for r in records[1:])
    return records[0], records[1:]


def fences_balanced(text: str) -> bool:
    return len(re.findall(r"^\s*```", text, re.M)) % 2 == 0


# --- markdown helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Debugging a Failed Driver Unload", "debugging-a-failed-driver-unload"),
        ("SYMOPT\\_CASE\\_INSENSITIVE", "symopt_case_insensitive"),
        ("<span id=\"x\"></span>Choosing a **spin lock** type", "choosing-a-spin-lock-type"),
        ("What's new in WDK 10.0?", "whats-new-in-wdk-100"),
        ("[IoCallDriver](/windows-hardware/drivers/ddi/wdm/nf-wdm-iocalldriver) rules", "iocalldriver-rules"),
    ],
)
def test_slugify(heading: str, slug: str) -> None:
    assert slugify(heading) == slug


@pytest.mark.parametrize(
    ("path", "url"),
    [
        (f"{DOCS}kernel/spin-locks.md", "https://learn.microsoft.com/windows-hardware/drivers/kernel/spin-locks"),
        (f"{DOCS}kernel/index.md", "https://learn.microsoft.com/windows-hardware/drivers/kernel"),
        (f"{DOCS}index.md", "https://learn.microsoft.com/windows-hardware/drivers/"),
        ("wdk-ddi-src/content/wdm/nf-wdm-kesetevent.md",
         "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent"),
        ("000_ff2a92931e1537e7.txt", None),
    ],
)
def test_learn_url(path: str, url: str | None) -> None:
    assert learn_url(path) == url


@pytest.mark.parametrize(
    ("href", "page", "url"),
    [
        ("../debuggercmds/-object.md", f"{DOCS}debugger/page.md", "debuggercmds/-object"),
        ("-object.md", f"{DOCS}debuggercmds/page.md", "debuggercmds/-object"),
        ("/windows-hardware/drivers/ddi/wdm/nf-wdm-iocalldriver", f"{DOCS}kernel/a.md", "ddi/wdm/nf-wdm-iocalldriver"),
        ("irp-mj-read.md#remarks", f"{DOCS}kernel/a.md", "kernel/irp-mj-read#remarks"),
        ("#queued", f"{DOCS}kernel/a.md", "kernel/a#queued"),
        ("images/x.png", f"{DOCS}kernel/a.md", "kernel/images/x.png"),
        ("../kernel/index.md", f"{DOCS}wdf/a.md", "kernel"),
        ("./nf-wdm-keclearevent.md", "wdk-ddi-src/content/wdm/nf-wdm-kesetevent.md", "ddi/wdm/nf-wdm-keclearevent"),
        # loose files (the seeds): a best guess, always absolute
        ("-object.md", "000_ff2a92931e1537e7.txt", "debuggercmds/-object"),
        ("g--go-.md", "000_ff2a92931e1537e7.txt", "debuggercmds/g--go-"),
        ("../wdfrequest/nf-wdfrequest-wdfrequestsend.md", "page.md", "ddi/wdfrequest/nf-wdfrequest-wdfrequestsend"),
    ],
)
def test_resolve_link(href: str, page: str, url: str) -> None:
    assert resolve_link(href, page) == "https://learn.microsoft.com/windows-hardware/drivers/" + url


def test_resolve_link_keeps_absolute_and_uses_base_url() -> None:
    assert resolve_link("https://example.com/a.md", "x.md") == "https://example.com/a.md"
    assert resolve_link("mailto:a@b.c", "x.md") == "mailto:a@b.c"
    base = "https://learn.microsoft.com/windows-hardware/drivers/debugger/page"
    assert resolve_link("../kernel/foo.md", "x.txt", base) == base.replace("debugger/page", "kernel/foo")


def test_split_front_matter_tolerates_missing_and_malformed() -> None:
    assert split_front_matter("# Title\n\ntext") == ({}, "# Title\n\ntext")
    meta, body = split_front_matter("---\ntitle: [broken\n---\n# T\n")
    assert meta == {} and body.startswith("# T")
    meta, body = split_front_matter("---\r\ntitle: Crlf\r\nms.date: 1/2/2024\r\n---\r\n# T\r\n")
    assert meta == {"title": "Crlf", "ms.date": "1/2/2024"} and body == "# T\n"
    assert split_front_matter("---\ntitle: no closing line\n# T")[0] == {}
    assert split_front_matter("---\n- a list\n- not a mapping\n---\nbody") == ({}, "body")


def test_clean_markdown_drops_noise_and_keeps_code() -> None:
    text = (DATA / "spin-locks.md").read_text(encoding="utf-8")
    cleaned = clean_markdown(split_front_matter(text)[1], f"{DOCS}kernel/spin-locks.md")
    for noise in ("<span", "<!--", "[!INCLUDE", ":::", "Send comments", "<table", "[!NOTE]", "\\_"):
        assert noise not in cleaned
    assert "> **Note:** A driver that runs at DIRQL" in cleaned
    assert "| Queued spin lock<br>(faster under contention) | `KeAcquireInStackQueuedSpinLock` |" in cleaned
    assert "# this line starts with a hash but is code, not a heading\n" in cleaned
    assert "![Diagram of the states of a spin lock.](https://learn.microsoft.com/windows-hardware/drivers/kernel/" \
           "images/spin-lock-states.png)" in cleaned
    assert "KLOCK_QUEUE_HANDLE" in cleaned and not RELATIVE_MD_LINK.search(cleaned)


def test_clean_markdown_fence_edge_cases() -> None:
    # a one-line ```code``` is inline code, not a fence; a closing fence with a stray language tag still closes
    body = "```typedef struct _X *PX;```\n\nSee [A](a.md).\n\n```console\nremote /q\n```dbgcmd\n\n## Parameters\n\nB"
    cleaned = clean_markdown(body, f"{DOCS}debugger/p.md")
    assert "[A](https://learn.microsoft.com/windows-hardware/drivers/debugger/a)" in cleaned
    assert "```console\nremote /q\n```\n" in cleaned
    assert [s.title for s in split_sections(cleaned)] == ["", "Parameters"]
    # escaped backticks do not open code spans that would hide links
    cleaned = clean_markdown("Use \\` or (\\`) in [names](../debugger/names.md).", f"{DOCS}debuggercmds/p.md")
    assert "(https://learn.microsoft.com/windows-hardware/drivers/debugger/names)" in cleaned


def test_split_sections_ignores_hashes_in_code_and_dedupes_anchors() -> None:
    body = "Intro\n\n## Step\n\n```\n# not a heading\n```\n\n## Step\n\ntext\n### Deep\n\nmore"
    sections = split_sections(body)
    assert [(s.level, s.title, s.anchor) for s in sections] == [
        (0, "", ""), (2, "Step", "step"), (2, "Step", "step-1"), (3, "Deep", "deep")]
    assert "# not a heading" in sections[1].text


def test_split_long_never_cuts_code_or_tables() -> None:
    paragraph = "A sentence about drivers that is long enough to matter. " * 8
    code = "```c\n" + "int x = 0;\n" * 80 + "```"
    table = "| a | b |\n| --- | --- |\n" + "| cell | value |\n" * 59 + "| cell | value |"
    text = "\n\n".join([paragraph, paragraph, code, paragraph, table, paragraph])
    parts = split_long(text, 1000)
    assert len(parts) > 3
    assert any(code in p for p in parts) and any(table in p for p in parts)
    assert all(fences_balanced(p) for p in parts)
    assert split_long("short", 1000) == ["short"]


def test_split_long_cuts_a_big_table_into_valid_tables() -> None:
    head = "| Flag | Meaning |\n| --- | --- |"
    rows = [f"| WDF_FLAG_{i} | What flag number {i} does, said in enough words to matter. |" for i in range(120)]
    text = "Intro paragraph.\n\n**WDF_REQUEST_SEND_OPTIONS flags**\n\n" + head + "\n" + "\n".join(rows) + "\n\nAfter."
    parts = split_long(text, 1000)
    assert len(parts) > 5 and all(len(p) <= 1250 for p in parts)
    seen, first = [], 1
    for part in parts:
        if "| WDF_FLAG_" not in part:
            continue
        table = part[part.index("| Flag |"):].split("\n\n")[0].split("\n")
        assert table[:2] == head.split("\n")  # every piece is a table of its own, header first
        got = [line for line in table[2:] if line.startswith("| WDF_FLAG_")]
        if seen:
            lead = f"(continued: rows {first}–{first + len(got) - 1} of the WDF_REQUEST_SEND_OPTIONS flags table)"
            assert part.startswith(lead)
        seen += got
        first += len(got)
    assert seen == rows and parts[-1].endswith("After.")
    # no caption of its own: the caller's (the section title) names it
    parts = split_long(head + "\n" + "\n".join(rows), 1000, caption="Send options")
    assert parts[1].startswith("(continued: rows ") and "of the Send options table)" in parts[1]
    assert split_long(head + "\n" + "\n".join(rows[:40]), 1000) == [head + "\n" + "\n".join(rows[:40])]  # < 4000


def test_split_long_cuts_a_huge_code_block_at_blank_lines_only() -> None:
    functions = [f"int f{i}(void)\n{{\n" + "    x = x + 1;  // step\n" * 12 + "}" for i in range(40)]
    code = "```c\n" + "\n\n".join(functions) + "\n```"
    parts = split_long(code, 2500)
    assert len(code) > 8000 and len(parts) > 2 and all(len(p) < 4200 for p in parts)
    assert parts[0].startswith("```c\nint f0(void)") and all(p.endswith("\n```") for p in parts)
    assert all(fences_balanced(p) for p in parts)
    assert all(re.match(r"\(continued: lines \d+–\d+ of the code block\)\n\n```c\nint f", p) for p in parts[1:])
    bodies = [p[p.index("```c\n") + 5 : -4] for p in parts]
    assert "\n\n".join(bodies) == "\n\n".join(functions)
    solid = "```\n" + "mov eax, 1\n" * 900 + "```"  # no blank line to cut at: stays whole
    assert split_long(solid, 2500) == [solid]
    medium = "```\n" + "line\n\n" * 1000 + "```"  # 6,000 chars: under the 8,000 limit, whole
    assert split_long("Text.\n\n" + medium, 2500)[0].endswith(medium)


def test_split_long_cuts_long_lists_between_items() -> None:
    items = [f"- [**WdfFunction{i}**](https://learn.microsoft.com/x/nf-wdf-wdffunction{i})" for i in range(150)]
    nested = "- Top item\n" + "\n".join(f"      - nested item number {i} with words" for i in range(120))
    for text in ("\n".join(items), nested):
        parts = split_long(text, 1000)
        assert len(parts) > 2 and all(len(p) <= 1250 for p in parts)  # a small last part may join its neighbour
        assert all(p.startswith("- ") for p in parts), "a part starts inside an item or as indented code"
    assert [line for p in split_long("\n".join(items), 1000) for line in p.split("\n")] == items
    syntax = " ".join(f"[/option{i}:<value>]" for i in range(400))  # no sentence ends at all
    assert all(len(p) <= 2000 for p in split_long(syntax, 1000))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["p", "code", "table", "list"]), st.integers(1, 40)), min_size=1,
                max_size=12))
def test_split_long_keeps_every_block_whole(blocks: list[tuple[str, int]]) -> None:
    pieces = []
    for i, (kind, n) in enumerate(blocks):
        if kind == "p":
            pieces.append(" ".join(f"Word{i}x{j}." for j in range(n * 5)))
        elif kind == "code":
            pieces.append("```\n" + "\n".join(f"line {i} {j}" for j in range(n)) + "\n```")
        elif kind == "table":
            pieces.append("| h |\n| --- |\n" + "\n".join(f"| r{i}{j} |" for j in range(n)))
        else:
            pieces.append("\n".join(f"- item {i} {j}" for j in range(n)))
    parts = split_long("\n\n".join(pieces), 400)
    joined = "\n\n".join(parts)
    for piece in pieces:
        if not piece.startswith(("```", "|")):
            continue
        assert sum(piece in p for p in parts) == 1, "a code block or table was cut"
    assert all(fences_balanced(p) for p in parts)
    assert re.sub(r"\s+", " ", joined) == re.sub(r"\s+", " ", "\n\n".join(pieces))


# --- questions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "question"),
    [
        ("Debugging a Failed Driver Unload", "How do I debug a failed driver unload?"),
        ("Introduction to Adapter Objects", "What are adapter objects?"),
        ("Spin Locks", "What are spin locks?"),
        ("Using Custom Hardware IDs and Compatible IDs", "How do I use custom hardware IDs and compatible IDs?"),
        ("How to Run Stress and Transfer Performance Tests for MUTT Devices",
         "How do I run stress and transfer performance tests for MUTT devices?"),
        ("What is a Driver?", "What is a driver?"),
        ("How Windows Selects Drivers", "How does Windows select drivers?"),
        ("Bug Check 0xA3 ACPI_DRIVER_INTERNAL", "What does bug check 0xA3 ACPI_DRIVER_INTERNAL mean?"),
        ("SyncReqSend Rule (KMDF)", "What does the SyncReqSend rule (KMDF) check?"),
        ("NDIS_MDL_LINKAGE macro", "What does the NDIS_MDL_LINKAGE macro do?"),
        ("MIB_IPNET_TABLE2 structure (Windows Drivers)", "What is the MIB_IPNET_TABLE2 structure?"),
        ("C28715 Warning", "What does code analysis warning C28715 mean?"),
        ("Requirements to create a WPD driver", "What are the requirements to create a WPD driver?"),
        ("Packaging Your Driver", "How do I package my driver?"),
        ("Troubleshooting Windows Update Drivers", "How do I troubleshoot Windows Update drivers?"),
        ("Best practices for INF files", "What are the best practices for INF files?"),
        ("!object", "What does the !object debugger extension do?"),
        ("DEBUG_ENGOPT_XXX", "What is DEBUG_ENGOPT_XXX?"),
        ("Allocating the Bus-Master Adapter Object", "How do I allocate the bus-master adapter object?"),
    ],
)
def test_page_questions(title: str, question: str) -> None:
    assert page_question(title) == question


@pytest.mark.parametrize(
    ("heading", "title", "question"),
    [
        ("Remarks", "Spin Locks", "What should I know about spin locks?"),
        ("Requirements", "KeSetEvent function", "What are the requirements for the KeSetEvent function?"),
        ("Cause", "Bug Check 0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL",
         "What causes bug check 0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL?"),
        ("Examples", "Using WPP Tracing", "What is an example of using WPP tracing?"),
        ("Step 3: Install the driver", "Write a Hello World Driver", "How do I install the driver?"),
        ("To enable WPP tracing", "Tracing", "How do I enable WPP tracing?"),
        ("Overview", "Filter Drivers", "What are filter drivers?"),
        ("Debugging", "USB Drivers", "How do I debug USB drivers?"),
        ("Are custom APNs migrated to the database?", "APN FAQ", "Are custom APNs migrated to the database?"),
        ("SYMOPT_NO_CPP", "Symbol Options", "What is SYMOPT_NO_CPP in symbol options?"),
        ("How the I/O Manager Handles IRPs", "IRPs", "How does the I/O manager handle IRPs?"),
        ("NMR_INVALID_STATE Parameters", "Bug Check 0x125 NMR_INVALID_STATE",
         "What are the parameters of bug check 0x125 NMR_INVALID_STATE?"),
    ],
)
def test_section_questions(heading: str, title: str, question: str) -> None:
    assert section_question(heading, title) == question


@pytest.mark.parametrize(
    ("gerund", "verb"),
    [("Debugging", "debug"), ("Creating", "create"), ("Querying", "query"), ("Handling", "handle"),
     ("Installing", "install"), ("Enabling", "enable"), ("Receiving", "receive"), ("Submitting", "submit"),
     ("Determining", "determine"), ("Supporting", "support"), ("Configuring", "configure"), ("Using", "use")],
)
def test_base_verb(gerund: str, verb: str) -> None:
    assert base_verb(gerund) == verb


# --- questions of parts and distinct questions -------------------------------------------------------------

SEND = Frame("WdfRequestSend", "using WdfRequestSend", "when using WdfRequestSend", "WdfRequestSend function",
             name="WdfRequestSend")
METADATA = heading_frame("Service metadata contents", "Service Metadata Overview")


@pytest.mark.parametrize(
    ("part", "frame", "kwargs", "expected"),
    [
        # a table cut by rows: the rows it holds; a table of flags and meanings: what the flags mean
        ("(continued: rows 3–4 of the Send options table)\n\n| Flag | Meaning |\n| --- | --- |\n"
         "| WDF_REQUEST_SEND_OPTION_TIMEOUT | x |\n| WDF_REQUEST_SEND_OPTION_SYNCHRONOUS | y |", SEND, {},
         ["What does the Send options table say about WDF_REQUEST_SEND_OPTION_TIMEOUT and "
          "WDF_REQUEST_SEND_OPTION_SYNCHRONOUS?", "What do the WDF_REQUEST_SEND_OPTION_* flags mean?"]),
        ("| Flag | Meaning |\n| --- | --- |\n| WDF_REQUEST_SEND_OPTION_TIMEOUT | x |\n"
         "| WDF_REQUEST_SEND_OPTION_IGNORE_TARGET_STATE | y |", SEND, {},
         ["What do the WDF_REQUEST_SEND_OPTION_* flags mean?"]),
        ("`Size`: bytes.\n\n`Period`: milliseconds.", SEND, {"names": ["Size", "Period"], "kind": "members"},
         ["What do the WdfRequestSend members Size and Period mean?"]),
        ("The following example shows how to send a request synchronously.\n\n```c\nWdfRequestSend(r, t, &o);\n```",
         SEND, {}, ["How do I send a request synchronously?"]),
        ("If the driver sets a time-out value, the framework cancels the request when it expires.", SEND, {},
         ["What happens if the driver sets a time-out value when using WdfRequestSend?"]),
        ("1. Copy the files.\n1. Run the tool.\n1. Restart.", METADATA,
         {"before": "1. Open.\n1. Select.", "question": "How do I install it?"}, ["How do I install it (steps 3–5)?"]),
        ("Q: Why does AEC resample to 16 kHz?\n\nA: Because it works at 16 kHz.", METADATA, {},
         ["Why does AEC resample to 16 kHz?"]),
        ("- **Operator logo**  \n  A logo.\n- **MB Internet profile**  \n  A profile.", METADATA, {},
         ["What should I know about Operator logo and MB Internet profile in service metadata contents?"]),
        ("[**WdfIoQueueCreate**](a)\n[**WdfIoQueueStart**](b)\n[**WdfIoQueueStop**](c)", METADATA,
         {"question": "What does the DriverCreate rule apply to?"},
         ["What does the DriverCreate rule apply to (WdfIoQueueCreate to WdfIoQueueStop)?"]),
        ("[]()**enlistment**  \nAn association.\n\n[]()**transaction manager**  \nThe manager.", METADATA, {},
         ["What should I know about enlistment and transaction manager in service metadata contents?"]),
        ("- [**Message-Signaled Interrupts**](u) trigger an interrupt.\n- [**DPC objects**](v) run later.", METADATA,
         {}, ["What should I know about Message-Signaled Interrupts and DPC objects in service metadata contents?"]),
        ("Resource manager  \nA component.\n\nTransaction  \nA set of changes.", METADATA, {},
         ["What should I know about Resource manager and Transaction in service metadata contents?"]),
        ("(continued: rows 19–24 of the Toolbar Buttons table)\n\n| Button | Use |\n| --- | --- |\n| ![a](b) | Opens |",
         METADATA, {}, ["What do rows 19–24 of the Toolbar Buttons table say?"]),
        ("```dbgcmd\n0: kd> !process 0 0\nPROCESS ffff\n```", METADATA, {},
         ["What does !process show in service metadata contents?"]),
    ],
)
def test_content_questions(part: str, frame: Frame, kwargs: dict, expected: list[str]) -> None:
    assert list(content_questions(part, frame, **kwargs))[: len(expected)] == expected


@pytest.mark.parametrize(
    ("heading", "owner", "suffix"),
    [
        ("Service metadata contents", "service metadata contents", "in service metadata contents"),
        ("Setting Contexts", "setting contexts", "when setting contexts"),
        ("Create a virtual HID device", "creating a virtual HID device", "when creating a virtual HID device"),
        ("Remarks", "spin locks", "for spin locks"),  # a generic heading: the page's topic
        ("", "spin locks", "for spin locks"),
    ],
)
def test_heading_frame(heading: str, owner: str, suffix: str) -> None:
    frame = heading_frame(heading, "Spin Locks", "kernel", fallback="spin locks")
    assert (frame.owner, frame.suffix) == (owner, suffix)


def test_distinct_questions_asks_for_alternatives_only_when_taken() -> None:
    asked: list[str] = []

    def alternatives(*questions: str):
        def ask():
            asked.append(" | ".join(questions))
            return iter(questions)
        return ask

    out = distinct_questions([
        ("What is A?", alternatives("never asked?")),
        ("What is B?", alternatives("never asked?")),
        ("what is  a?", alternatives("What is A?", "What is C?")),  # the same question, other case and spacing
        ("What is A?", alternatives("What is C?")),
        ("What is A?", alternatives()),
    ])
    assert out == ["What is A?", "What is B?", "What is C?", "What is A (continued)?", "What is A (part 2)?"]
    assert asked == ["What is A? | What is C?", "What is C?", ""]


# --- whole pages ------------------------------------------------------------------------------------------


def test_page_meta_and_sections() -> None:
    meta, pairs = parse_file("spin-locks.md")
    assert meta.title == "Spin Locks"
    assert meta.url == "https://learn.microsoft.com/windows-hardware/drivers/kernel/spin-locks"
    assert meta.description.startswith("How kernel-mode drivers")
    assert meta.extra == {"keywords": ["spin locks WDK kernel", "KeAcquireSpinLock"], "ms_topic": "concept-article",
                          "ms_date": "03/14/2024"}
    by_heading = {p.heading: p for p in pairs}
    assert list(by_heading) == ["Spin Locks", "Spin Locks > Choosing a spin lock type",
                                "Spin Locks > Queued spin locks", "Spin Locks > Remarks"]  # "See also" dropped
    assert by_heading["Spin Locks > Remarks"].question == "What should I know about spin locks?"
    assert by_heading["Spin Locks > Choosing a spin lock type"].question == "How do I choose a spin lock type?"
    assert by_heading["Spin Locks"].locator == {"section": "spin-locks"}
    assert by_heading["Spin Locks > Queued spin locks"].locator == {"section": "queued-spin-locks"}
    assert "KeAcquireSpinLock" in by_heading["Spin Locks"].api_names
    assert by_heading["Spin Locks > Remarks"].api_names == ("IoCallDriver", "DRIVER_IRQL_NOT_LESS_OR_EQUAL")
    for pair in pairs:
        assert pair.kind == "section" and pair.topics == ()
        assert not RELATIVE_MD_LINK.search(pair.answer) and "<span" not in pair.answer
        assert not pair.answer.startswith("#")


def test_page_without_or_with_broken_front_matter() -> None:
    meta, pairs = parse_file("no-front-matter.md")
    assert meta.title == "Handling IRPs" and meta.extra["keywords"] == []
    assert [p.question for p in pairs] == ["How do I handle IRPs?"]
    meta, pairs = parse_file("malformed-front-matter.md")
    assert meta.title == "Using Timers" and meta.description == ""
    assert [p.question for p in pairs] == ["How do I use timers?"]
    assert pairs[0].api_names == ("KeInitializeTimer", "KeSetTimer")


def test_short_page_with_tiny_sections_is_one_pair() -> None:
    _, pairs = parse_file("tiny-sections.md")
    assert len(pairs) == 1
    assert "## Check the INF" in pairs[0].answer and "InfVerif" in pairs[0].answer


def test_long_section_is_split_at_block_boundaries() -> None:
    _, pairs = parse_file("long-section.md")
    assert [p.locator for p in pairs] == [{"section": "mapping-device-registers", "part": n} for n in (1, 2, 3)]
    assert pairs[0].question == "How do I map device registers?"
    # later parts say what they cover: the code example, then the steps it names
    assert pairs[1].question == "What is an example of mapping device registers that calls MmMapIoSpaceEx?"
    assert len({p.question for p in pairs}) == 3
    assert all(len(p.answer) <= 2500 for p in pairs)
    assert all(fences_balanced(p.answer) for p in pairs)
    assert sum("return STATUS_SUCCESS;\n}\n```" in p.answer for p in pairs) == 1
    assert "| Memory | READ_REGISTER_ULONG |" in pairs[-1].answer
    assert pairs[0].answer.startswith("A function driver starts its device")  # the short intro leads in


def test_include_only_page_yields_meta_only() -> None:
    meta, pairs = parse_file("include-only.md")
    assert meta.title == "Caution about deprecated INF directives" and pairs == []
    empty = "---\ntitle: Empty\n---\n\n<!-- nothing -->\n"
    records = list(learn.parse(empty, SourceDoc(path="e.md", kind="learn-doc")))
    assert len(records) == 1


def test_crlf_page_parses_like_lf() -> None:
    text = (DATA / "spin-locks.md").read_text(encoding="utf-8")
    source = SourceDoc(path=f"{DOCS}kernel/spin-locks.md", kind="learn-doc")
    assert list(learn.parse(text.replace("\n", "\r\n"), source)) == list(learn.parse(text, source))


# --- the real corpus --------------------------------------------------------------------------------------

REAL_PAGES = [
    "kernel/managing-hardware-priorities.md",
    "debugger/symbol-options.md",
    "debugger/remote-server-query-command.md",
    "debugger/debugging-a-failed-driver-unload.md",
    "kernel/eprocess.md",
    "debuggercmds/c---numbers-and-operators.md",
    "network/wdi-tlv-mac-statistics.md",
    "devtest/application-verifier-stop-codes-miscellaneous.md",
    "network/wdi-oid-to-wdi-message-mapping.md",
    "devtest/kmdf-drivercreate.md",
    "mobilebroadband/service-metadata.md",
]


@pytest.fixture(scope="module")
def real_pages(corpus: Path) -> dict[str, list]:
    wanted = {DOCS + name for name in REAL_PAGES}
    pages = {}
    with tarfile.open(corpus / "windows-driver-docs.tar.gz") as tar:
        for member in tar:
            if member.name in wanted:
                text = tar.extractfile(member).read().decode("utf-8")
                pages[member.name[len(DOCS):]] = list(learn.parse(text, SourceDoc(path=member.name, kind="learn-doc")))
    assert set(pages) == set(REAL_PAGES)
    return pages


@pytest.mark.corpus
def test_seed_learn_page(seeds: Path) -> None:
    text = (seeds / "000_ff2a92931e1537e7.txt").read_text(encoding="utf-8")
    meta, *pairs = learn.parse(text, SourceDoc(path="000_ff2a92931e1537e7.txt", kind="learn-doc"))
    assert meta.title == "Debugging a Failed Driver Unload" and meta.extra["ms_date"] == "05/23/2017"
    assert pairs and pairs[0].question == "How do I debug a failed driver unload?"
    answers = "\n".join(p.answer for p in pairs)
    assert "    ``` syntax\n    kd> !object 81a578c0" in answers
    assert 'kd> ba w4 81a578a8 "k;g"' in answers
    assert "Send comments" not in answers and "mailto:" not in answers and "<span" not in answers
    links = re.findall(r"\]\(([^)]+)\)", answers)
    assert links and all(link.startswith("https://learn.microsoft.com/") for link in links)
    assert "https://learn.microsoft.com/windows-hardware/drivers/debuggercmds/-object" in links
    assert "IoCreateDevice" in pairs[0].api_names


@pytest.mark.corpus
def test_real_pages(real_pages: dict[str, list]) -> None:
    def pairs_of(name: str) -> list[Pair]:
        return real_pages[name][1:]

    irql = pairs_of("kernel/managing-hardware-priorities.md")
    assert len(irql) > 2 and all(p.locator["section"] == "managing-hardware-priorities" for p in irql)
    assert [p.locator["part"] for p in irql] == list(range(1, len(irql) + 1))
    assert "hardware priorities" in irql[0].question and "IRQL" in irql[0].question
    assert any("KeRaiseIrql" in p.api_names for p in irql)

    symbols = {p.heading: p for p in pairs_of("debugger/symbol-options.md")}
    assert symbols["Symbol Options > SYMOPT_CASE_INSENSITIVE"].question.startswith("What is SYMOPT_CASE_INSENSITIVE")
    assert "| 0x1 | [SYMOPT_CASE_INSENSITIVE](https://learn.microsoft.com/" in symbols["Symbol Options"].answer

    remote = pairs_of("debugger/remote-server-query-command.md")
    assert all(fences_balanced(p.answer) for p in remote)
    assert "## Parameters" in remote[0].answer and "<span" not in remote[0].answer

    unload = pairs_of("debugger/debugging-a-failed-driver-unload.md")
    assert "debug" in unload[0].question.lower() and "unload" in unload[0].question.lower()

    eprocess = "\n".join(p.answer for p in pairs_of("kernel/eprocess.md"))
    assert "(https://learn.microsoft.com/windows-hardware/drivers/kernel/exxxxtimer-routines-and-ex-timer-objects)" \
        in eprocess
    numbers = "\n".join(p.answer for p in pairs_of("debuggercmds/c---numbers-and-operators.md"))
    assert "(https://learn.microsoft.com/windows-hardware/drivers/debugger/symbol-syntax-and-symbol-matching)" \
        in numbers

    tlv = pairs_of("network/wdi-tlv-mac-statistics.md")
    assert "[!INCLUDE" not in "".join(p.answer for p in tlv) and any("| --- |" in p.answer for p in tlv)

    stops = pairs_of("devtest/application-verifier-stop-codes-miscellaneous.md")
    assert any("TerminateThread" in p.question for p in stops)

    # a 100,000-character table: valid tables of a few rows each, header repeated, what rows they hold said
    mapping = [p for p in pairs_of("network/wdi-oid-to-wdi-message-mapping.md")
               if p.locator["section"] == "native-wlan-to-wdi-oid-mapping"]
    assert len(mapping) > 10 and all(len(p.answer) < 4000 for p in mapping)
    assert all("| DDI | Query | Set/Method/Function |\n|---|---|---|\n| " in p.answer for p in mapping[1:])
    assert all(p.answer.startswith("(continued: rows ") for p in mapping[2:])
    assert re.fullmatch(r"What does the Native WLAN to WDI OID mapping table say about OID_\w+ through OID_\w+\?",
                        mapping[2].question)
    applies = [p for p in pairs_of("devtest/kmdf-drivercreate.md") if p.locator["section"] == "applies-to"]
    assert len(applies) > 5 and applies[0].question == "What does the DriverCreate rule (KMDF) apply to?"
    assert re.fullmatch(r"What does the DriverCreate rule \(KMDF\) apply to \(Wdf\w+ to Wdf\w+\)\?",
                        applies[1].question)
    contents = [p.question for p in pairs_of("mobilebroadband/service-metadata.md")
                if p.locator["section"] == "service-metadata-contents"]
    assert contents[0] == "What are service metadata contents?"
    assert contents[1].startswith("What should I know about Operator logo, ") and len(set(contents)) == len(contents)
    for pages in real_pages.values():
        for pair in pages[1:]:
            assert not RELATIVE_MD_LINK.search(pair.answer) and "<span id" not in pair.answer


def _check_pair(pair: Pair, where: str) -> None:
    assert pair.question.strip() and len(pair.question) < 200, where
    assert pair.question.endswith("?"), where
    assert pair.answer.strip(), where
    assert "<span id" not in pair.answer, where
    assert not RELATIVE_MD_LINK.search(pair.answer), where


@pytest.fixture(scope="module")
def corpus_pages(corpus: Path) -> dict[str, tuple[SourceMeta, list[Pair]]]:
    """Every page of both trees parsed once: path -> (SourceMeta, pairs)."""
    pages = {}
    for archive, parser, prefix in (("windows-driver-docs.tar.gz", learn, DOCS),
                                    ("windows-driver-docs-ddi.tar.gz", apiref, "wdk-ddi-src/content/")):
        with tarfile.open(corpus / archive) as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith(".md") or "/includes/" in member.name:
                    continue
                assert member.name.startswith(prefix)
                text = tar.extractfile(member).read().decode("utf-8", "replace")
                meta, *pairs = parser.parse(text, SourceDoc(path=member.name, kind="doc"))
                pages[member.name] = (meta, pairs)
    return pages


@pytest.mark.slow
@pytest.mark.corpus
def test_every_corpus_page_parses(corpus_pages: dict[str, tuple[SourceMeta, list[Pair]]]) -> None:
    """Both trees end to end: no exception, sane pairs, unique locators per page."""
    counts: dict[str, int] = {}
    for name, (meta, pairs) in corpus_pages.items():
        assert isinstance(meta, SourceMeta) and meta.url, name
        locators = [tuple(sorted(p.locator.items())) for p in pairs]
        assert len(set(locators)) == len(locators), name
        for pair in pairs:
            _check_pair(pair, name)
            counts[pair.kind] = counts.get(pair.kind, 0) + 1
    assert counts["section"] > 40_000 and counts["overview"] > 20_000 and counts["fact"] > 20_000


@pytest.mark.slow
@pytest.mark.corpus
def test_no_two_pairs_of_a_page_share_a_question(corpus_pages: dict[str, tuple[SourceMeta, list[Pair]]]) -> None:
    """Search shows questions: two alike from one page (a split section's parts) tell the user nothing."""
    shared = {}
    for name, (_, pairs) in corpus_pages.items():
        questions = [" ".join(p.question.lower().split()) for p in pairs]
        if len(set(questions)) != len(questions):
            shared[name] = sorted({q for q in questions if questions.count(q) > 1})
    assert not shared, f"{len(shared)} pages repeat a question, e.g. {list(shared.items())[:3]}"
    # the last resort ("... (continued)?") stays rare: parts ask about what they hold
    numbered = [p.question for _, pairs in corpus_pages.values() for p in pairs
                if re.search(r"\((?:continued|part \d+)\)\?$", p.question)]
    assert len(numbered) < 200, numbered[:20]


def _unsplittable_code(answer: str) -> bool:
    """One code block too big to stand alone that the splitter may not cut (no blank line, or under 8,000)."""
    big = [m.group(0) for m in re.finditer(r"^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[ \t]*$", answer, re.M | re.S)
           if len(m.group(0)) > 4000]
    if len(big) != 1:
        return False
    inner = big[0].split("\n")[1:-1]
    return len(big[0]) <= 8000 or not any(not line.strip() for line in inner)


@pytest.mark.slow
@pytest.mark.corpus
def test_answers_stay_readable_sizes(corpus_pages: dict[str, tuple[SourceMeta, list[Pair]]]) -> None:
    """No answer over ~6,000 characters unless it holds one code block that cannot be cut."""
    sizes = sorted(len(p.answer) for _, pairs in corpus_pages.values() for p in pairs)
    too_big = [(name, p.locator, len(p.answer)) for name, (_, pairs) in corpus_pages.items() for p in pairs
               if len(p.answer) > 6000 and not _unsplittable_code(p.answer)]
    assert not too_big, too_big[:10]
    assert sizes[int(len(sizes) * 0.99)] < 3500  # p99


def test_a_stray_quote_marker_in_a_heading_is_not_part_of_the_title() -> None:
    from ingest.markdown import split_sections

    [section] = split_sections("## >Debugging memory leaks at driver unload\n\nUse !verifier 3.\n")
    assert section.title == "Debugging memory leaks at driver unload"
    assert section.anchor == "debugging-memory-leaks-at-driver-unload"
