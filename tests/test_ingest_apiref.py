"""Tests for the API reference parsers: markdown source (ingest.apiref) and rendered text (ingest.apitext)."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from ingest import apiref
from ingest import apitext
from kb.errors import ParseError
from kb.models import Pair
from kb.models import SourceDoc
from kb.models import SourceMeta

DATA = Path(__file__).parent / "data" / "apiref"
DDI = "wdk-ddi-src/content/"
DDI_URL = "https://learn.microsoft.com/windows-hardware/drivers/ddi/"


def parse_md(name: str, path: str | None = None) -> tuple[SourceMeta, dict[str, Pair]]:
    """SourceMeta and the pairs keyed by their locator's value ("overview", "irql", "remarks-2"...)."""
    text = (DATA / name).read_text(encoding="utf-8")
    folder = name.split("-")[1] if name.count("-") >= 2 else "wdftimer"
    return _keyed(apiref.parse(text, SourceDoc(path=path or f"{DDI}{folder}/{name}", kind="api-ref")))


def _keyed(records) -> tuple[SourceMeta, dict[str, Pair]]:
    meta, *pairs = list(records)
    assert isinstance(meta, SourceMeta) and all(isinstance(p, Pair) for p in pairs)
    keyed = {}
    for pair in pairs:
        key = pair.locator.get("section") or pair.locator.get("fact")
        key = f"{key}-{pair.locator['part']}" if "part" in pair.locator else key
        assert key not in keyed
        keyed[key] = pair
    return meta, keyed


def test_function_page() -> None:
    meta, pairs = parse_md("nf-wdm-kesetevent.md")
    assert meta.title == "KeSetEvent function (wdm.h)"
    assert meta.url == DDI_URL + "wdm/nf-wdm-kesetevent"
    assert meta.api_names == ("KeSetEvent",)
    assert meta.extra["header"] == "wdm.h" and meta.extra["irql"] == "See Remarks section."
    assert list(pairs) == ["overview", "irql", "requirements"]  # short remarks stay in the overview

    overview = pairs["overview"]
    assert overview.question == "What does KeSetEvent do and how do I use it?"
    assert overview.kind == "overview" and overview.api_names == ("KeSetEvent",)
    assert overview.answer.startswith("**KeSetEvent** (function, wdm.h)")
    assert "`Wait` [in]: Whether the caller" in overview.answer and "**Return value**" in overview.answer
    assert "**Remarks**" in overview.answer
    assert f"[KeWaitForSingleObject]({DDI_URL}wdm/nf-wdm-kewaitforsingleobject)" in overview.answer
    assert f"[KeWaitForMultipleObjects]({DDI_URL}wdm/nf-wdm-kewaitformultipleobjects)" in overview.answer
    assert "(https://learn.microsoft.com/windows-hardware/drivers/kernel/event-objects)" in overview.answer
    assert "KeResetEvent" not in overview.answer  # see-also is not part of the answer

    irql = pairs["irql"]
    assert irql.question == "What IRQL can I call KeSetEvent at?" and irql.kind == "fact"
    assert "KeSetEvent" in irql.answer and "See Remarks section." in irql.answer
    assert "IRQL <= DISPATCH_LEVEL" in irql.answer and "IRQL <= APC_LEVEL" in irql.answer

    reqs = pairs["requirements"]
    assert reqs.question == "What header, library and Windows version does KeSetEvent need?"
    for row in ("| Header | wdm.h (include Wdm.h, Ntddk.h, Ntifs.h) |", "| Library | NtosKrnl.lib |",
                "| DLL | NtosKrnl.exe |", "| Minimum supported client | Available starting with Windows 2000. |",
                "| DDI compliance rules | IrqlKeSetEvent, SignalEventInCompletion, HwStorPortProhibitedDDIs |"):
        assert row in reqs.answer
    assert "Minimum supported server" not in reqs.answer  # empty facts are left out


def test_structure_page_with_long_remarks() -> None:
    meta, pairs = parse_md("ns-wdftimer-_wdf_timer_config.md")
    assert meta.api_names == ("_WDF_TIMER_CONFIG", "WDF_TIMER_CONFIG", "PWDF_TIMER_CONFIG")
    assert meta.description == "The WDF_TIMER_CONFIG structure holds the configuration of a framework timer object."
    assert list(pairs) == ["overview", "remarks-1", "remarks-2", "requirements"]  # "_requires_same_" is no IRQL
    overview = pairs["overview"]
    assert overview.question == "What is the WDF_TIMER_CONFIG structure?"
    assert "**Members**" in overview.answer and "`UseHighResolutionTimer`:" in overview.answer
    assert len(overview.answer) <= 3000 and "Timer rule 1" not in overview.answer
    assert pairs["remarks-1"].question == "What should I know about the WDF_TIMER_CONFIG structure?"
    assert pairs["remarks-1"].answer.startswith("Remarks on **WDF_TIMER_CONFIG**:")
    # a later part asks about what it covers, never the first part's question again
    assert pairs["remarks-2"].question == (
        "What should I know about WDF_TIMER_CONFIG_INIT_PERIODIC and MyEvtTimerFunc in the WDF_TIMER_CONFIG structure?")
    assert pairs["remarks-2"].locator == {"section": "remarks", "part": 2}
    assert pairs["remarks-2"].answer.startswith("Remarks on **WDF_TIMER_CONFIG** (continued):")
    remarks = pairs["remarks-1"].answer + pairs["remarks-2"].answer
    assert all(f"Timer rule {i}:" in remarks for i in range(1, 14))
    assert "WDF_TIMER_CONFIG_INIT_PERIODIC(&config, MyEvtTimerFunc, 100);\n```" in remarks
    assert pairs["requirements"].question == "What header and KMDF/UMDF version does WDF_TIMER_CONFIG need?"


def test_ioctl_page() -> None:
    meta, pairs = parse_md("ni-usbioctl-ioctl_usb_get_node_connection_name.md")
    assert list(pairs) == ["overview", "requirements"]  # no IRQL stated anywhere: no IRQL pair
    overview = pairs["overview"]
    assert overview.question == "What is IOCTL_USB_GET_NODE_CONNECTION_NAME used for?"
    assert "**Input buffer**: A [USB_NODE_CONNECTION_NAME]" in overview.answer
    assert "**Status block**:" in overview.answer and "STATUS_BUFFER_TOO_SMALL" in overview.answer
    assert "Major code" not in overview.answer and "In out buffer" not in overview.answer  # empty entries dropped
    assert "<b>" not in overview.answer and "<a " not in overview.answer
    assert pairs["requirements"].question == "Which header declares IOCTL_USB_GET_NODE_CONNECTION_NAME?"


def test_callback_page() -> None:
    meta, pairs = parse_md("nc-wdfdevice-evt_wdf_device_d0_entry.md")
    assert pairs["overview"].question == (
        "What is the EVT_WDF_DEVICE_D0_ENTRY callback (EvtDeviceD0Entry) and when is it called?")
    assert pairs["irql"].question == "At what IRQL is the EVT_WDF_DEVICE_D0_ENTRY callback called?"
    assert "**PASSIVE_LEVEL**" in pairs["irql"].answer
    assert "| Minimum KMDF version | 1.0 |" in pairs["requirements"].answer


def test_header_index_page() -> None:
    meta, pairs = parse_md("index.md", path=f"{DDI}wdftimer/index.md")
    assert meta.url == DDI_URL + "wdftimer"
    assert list(pairs) == ["overview"]
    assert pairs["overview"].question == "What is in Wdftimer.h?"
    assert f"[WdfTimerCreate]({DDI_URL}wdftimer/nf-wdftimer-wdftimercreate)" in pairs["overview"].answer


def test_page_without_front_matter() -> None:
    meta, pairs = parse_md("nf-nofrontmatter-examplequeryflags.md", path="loose/nf-nofrontmatter-examplequeryflags.md")
    assert meta.api_names == ("ExampleQueryFlags",)
    assert meta.url == DDI_URL + "nofrontmatter/nf-nofrontmatter-examplequeryflags"  # header taken from the name
    assert list(pairs) == ["overview"]
    assert "`Object` [in]: The object to query." in pairs["overview"].answer


def test_ddi_url() -> None:
    assert apiref.ddi_url("wdm.h", "macro", "ObDereferenceObjectWithTag") == (
        DDI_URL + "wdm/nf-wdm-obdereferenceobjectwithtag")
    assert apiref.ddi_url("wdfobject.h", "structure", "WDF_OBJECT_ATTRIBUTES") == (
        DDI_URL + "wdfobject/ns-wdfobject-wdf_object_attributes")
    assert apiref.ddi_url("", "function", "X") is None


# --- rendered text ---------------------------------------------------------------------------------------


def test_looks_like() -> None:
    assert apitext.looks_like((DATA / "wdf_timer_config.txt").read_text(encoding="utf-8"))
    assert not apitext.looks_like((DATA / "nf-wdm-kesetevent.md").read_text(encoding="utf-8"))
    assert not apitext.looks_like("Driver function\nThis article explains what a driver function is.\nRemarks\n")
    assert not apitext.looks_like("")


def test_rendered_page_matches_markdown_pairs() -> None:
    text = (DATA / "wdf_timer_config.txt").read_text(encoding="utf-8")
    meta, pairs = _keyed(apitext.parse(text, SourceDoc(path="wdf_timer_config.txt", kind="api-ref")))
    assert meta.url == DDI_URL + "wdftimer/ns-wdftimer-_wdf_timer_config"  # the tag name, as the real page
    assert list(pairs) == ["overview", "requirements"]
    assert pairs["overview"].question == parse_md("ns-wdftimer-_wdf_timer_config.md")[1]["overview"].question
    assert "```cpp\ntypedef struct _WDF_TIMER_CONFIG {" in pairs["overview"].answer
    assert "`Period`: Period of a periodic timer" in pairs["overview"].answer
    assert "| Header | wdftimer.h (include Wdf.h) |" in pairs["requirements"].answer
    assert pairs["requirements"].question == "What header and KMDF/UMDF version does WDF_TIMER_CONFIG need?"


@pytest.mark.parametrize(
    ("title", "syntax", "page"),
    [
        ("FOO_INFO structure (foo.h)", "typedef struct {\n  ULONG A;\n} FOO_INFO;", "ns-foo-foo_info"),
        ("BAR_KIND enumeration (foo.h)", "typedef enum _BAR_KIND\n{\n  BarOne\n} BAR_KIND;", "ne-foo-_bar_kind"),
        ("FooQuery function (foo.h)", "NTSTATUS FooQuery(\n  [in] ULONG A\n);", "nf-foo-fooquery"),
    ],
)
def test_rendered_page_url_uses_the_tag_name(title: str, syntax: str, page: str) -> None:
    text = f"{title}\nWhat it is.\nSyntax\n{syntax}\nRequirements\nRequirement | Value |\n---|---|\nHeader | foo.h |\n"
    meta = next(iter(apitext.parse(text, SourceDoc(path="x.txt", kind="api-ref"))))
    assert meta.url == f"{DDI_URL}foo/{page}"


def test_rendered_parse_error_names_the_problem() -> None:
    with pytest.raises(ParseError, match="first line"):
        list(apitext.parse("Just some notes\nwith no title\n", SourceDoc(path="x.txt", kind="api-ref")))


# --- the real corpus -------------------------------------------------------------------------------------

REAL_PAGES = [
    "wdm/nf-wdm-kesetevent.md",
    "wdm/nf-wdm-keraiseirql.md",
    "wdfrequest/nf-wdfrequest-wdfrequestsend.md",
    "wdfobject/ns-wdfobject-_wdf_object_attributes.md",
    "wdfobject/ne-wdfobject-_wdf_execution_level.md",
    "usbioctl/ni-usbioctl-ioctl_usb_get_node_information.md",
    "wdfdriver/nc-wdfdriver-evt_wdf_driver_device_add.md",
    "vmbuskernelmodeclientlibapi/nc-vmbuskernelmodeclientlibapi-evt_vmb_channel_started.md",
    "_serports/index.md",
    "usbioctl/index.md",
]


@pytest.fixture(scope="module")
def real_pages(corpus: Path) -> dict[str, tuple[SourceMeta, dict[str, Pair]]]:
    wanted = {DDI + name for name in REAL_PAGES}
    pages = {}
    with tarfile.open(corpus / "windows-driver-docs-ddi.tar.gz") as tar:
        for member in tar:
            if member.name in wanted:
                text = tar.extractfile(member).read().decode("utf-8")
                pages[member.name[len(DDI):]] = _keyed(apiref.parse(text, SourceDoc(path=member.name, kind="api-ref")))
    assert set(pages) == set(REAL_PAGES)
    return pages


@pytest.mark.corpus
def test_real_kesetevent(real_pages) -> None:
    meta, pairs = real_pages["wdm/nf-wdm-kesetevent.md"]
    assert meta.url == DDI_URL + "wdm/nf-wdm-kesetevent"
    irql = pairs["irql"].answer
    assert "DISPATCH_LEVEL" in irql and "APC_LEVEL" in irql and "KeSetEvent" in irql
    assert "HwStorPortProhibitedDDIs" in pairs["requirements"].answer
    assert f"({DDI_URL}wdm/nf-wdm-keclearevent)" in pairs["remarks-1"].answer


@pytest.mark.corpus
def test_real_pages(real_pages) -> None:
    _, pairs = real_pages["wdm/nf-wdm-keraiseirql.md"]
    assert "Any level" in pairs["irql"].answer and "any IRQL" in pairs["irql"].answer

    meta, pairs = real_pages["wdfobject/ns-wdfobject-_wdf_object_attributes.md"]
    assert pairs["overview"].question == "What is the WDF_OBJECT_ATTRIBUTES structure?"
    assert "members-1" in pairs and "`ContextTypeInfo`" in pairs["members-2"].answer + pairs["members-1"].answer
    assert all(p.answer.startswith("Members of **WDF_OBJECT_ATTRIBUTES**") for k, p in pairs.items() if "members" in k)
    assert "irql" not in pairs
    assert pairs["members-2"].question == (
        "What do the WDF_OBJECT_ATTRIBUTES members ContextSizeOverride and ContextTypeInfo mean?")

    # the parts of long remarks ask what each covers, never "What else should I know ...?" twice
    _, pairs = real_pages["wdfrequest/nf-wdfrequest-wdfrequestsend.md"]
    remarks = [p.question for k, p in pairs.items() if k.startswith("remarks")]
    assert len(remarks) > 2 and len(set(remarks)) == len(remarks)
    assert remarks[0] == "What should I know when using WdfRequestSend?"
    assert "What happens if WdfRequestSend fails?" in remarks
    assert any(q.startswith("What is an example of using WdfRequestSend that calls ") for q in remarks)

    _, pairs = real_pages["wdfobject/ne-wdfobject-_wdf_execution_level.md"]
    assert pairs["overview"].question == "What is the WDF_EXECUTION_LEVEL enumeration?"
    assert "`WdfExecutionLevelPassive`:" in pairs["overview"].answer

    _, pairs = real_pages["usbioctl/ni-usbioctl-ioctl_usb_get_node_information.md"]
    assert pairs["overview"].question == "What is IOCTL_USB_GET_NODE_INFORMATION used for?"

    _, pairs = real_pages["wdfdriver/nc-wdfdriver-evt_wdf_driver_device_add.md"]
    assert "(EvtDriverDeviceAdd)" in pairs["overview"].question and "PASSIVE_LEVEL" in pairs["irql"].answer

    # a CRLF file: its front matter must still be read
    meta, pairs = real_pages["vmbuskernelmodeclientlibapi/nc-vmbuskernelmodeclientlibapi-evt_vmb_channel_started.md"]
    assert meta.extra["irql"] == "PASSIVE_LEVEL" and "irql" in pairs

    meta, pairs = real_pages["_serports/index.md"]
    assert pairs["overview"].question == "What is in the Serial port reference?"
    assert len(pairs["overview"].answer) < 3500 and pairs["overview"].answer.count("| --- ") <= 2
    _, pairs = real_pages["usbioctl/index.md"]
    assert pairs["overview"].question == "What is in Usbioctl.h?"

    for _, pairs in real_pages.values():
        for pair in pairs.values():
            assert not re.search(r"\]\((?!https?:)[^)]*\.md\)", pair.answer) and "<a href" not in pair.answer


@pytest.mark.corpus
def test_seed_rendered_page(seeds: Path) -> None:
    text = (seeds / "001_07b9ea4d341fb6e3.txt").read_text(encoding="utf-8")
    assert apitext.looks_like(text)
    meta, pairs = _keyed(apitext.parse(text, SourceDoc(path="001_07b9ea4d341fb6e3.txt", kind="api-ref")))
    assert meta.url == DDI_URL + "wdm/nf-wdm-obdereferenceobjectwithtag"
    assert meta.api_names == ("ObDereferenceObjectWithTag",)
    assert pairs["overview"].question == "What does ObDereferenceObjectWithTag do and how do I use it?"
    assert "`a` [in]: A pointer to the object." in pairs["overview"].answer
    assert pairs["irql"].question == "What IRQL can I call ObDereferenceObjectWithTag at?"
    assert "<= DISPATCH_LEVEL" in pairs["irql"].answer
    reqs = pairs["requirements"].answer
    assert "HwStorPortProhibitedDDIs" in reqs and "| Library | NtosKrnl.lib |" in reqs
    assert "| Header | wdm.h (include Wdm.h, Ntddk.h, Ntifs.h, Fltkernel.h) |" in reqs
    remarks = "".join(p.answer for k, p in pairs.items() if k.startswith("remarks"))
    assert "ObDereferenceObjectDeferDeleteWithTag" in remarks
    for seed in ("000_ff2a92931e1537e7.txt", "002_f576ca8a35bf746f.txt", "003_c11bf7d89f898402.txt"):
        assert not apitext.looks_like((seeds / seed).read_text(encoding="utf-8", errors="replace"))
