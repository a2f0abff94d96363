"""Glossary content and loader, and link_terms on HTML fixtures."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from conftest import DATA
from conftest import ROOT
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from kb.errors import ParseError
from kb.glossary import link_terms
from kb.glossary import load_glossary
from kb.glossary import parse_glossary
from kb.glossary import references
from kb.glossary import slugify

FIXTURES = DATA / "glossary"
LINK = re.compile(r'<a class="term" href="/glossary#([a-z0-9-]+)" title="[^"]*" data-term="\1">(.*?)</a>', re.S)

# Terms the brief asks for by name: each must be findable by term or alias.
REQUIRED = [
    "IRQL", "PASSIVE_LEVEL", "APC_LEVEL", "DISPATCH_LEVEL", "DIRQL", "DPC", "ISR", "APC", "IRP", "IO_STACK_LOCATION",
    "PDO", "FDO", "filter DO", "device stack", "device node", "driver object", "device object", "IOCTL",
    "METHOD_BUFFERED", "METHOD_IN_DIRECT", "METHOD_OUT_DIRECT", "METHOD_NEITHER", "MDL", "nonpaged pool",
    "paged pool", "pool tag", "lookaside list", "spin lock", "queued spin lock", "fast mutex", "guarded mutex",
    "ERESOURCE", "dispatcher object", "KEVENT", "completion routine", "cancel routine", "cancel-safe queue",
    "STATUS_PENDING", "KMDF", "UMDF", "WDM", "WDF", "framework object", "object context", "WDFDEVICE", "WDFQUEUE",
    "WDFREQUEST", "WDFIOTARGET", "WDFMEMORY", "EvtDriverDeviceAdd", "EvtIoRead", "sequential dispatching",
    "parallel dispatching", "manual dispatching", "power policy owner", "selective suspend", "S0", "Sx", "D0", "D3",
    "D3cold", "wait/wake", "idle detection", "PnP manager", "IRP_MN_START_DEVICE", "IRP_MN_REMOVE_DEVICE",
    "surprise removal", "hardware ID", "compatible ID", "INF", "catalog file", "driver package", "driver store",
    "pnputil", "DevCon", "test signing", "attestation signing", "WHQL", "HLK", "Driver Verifier", "SDV", "CodeQL",
    "WPP", "ETW", "TMF", "WMI", "bug check", "!analyze", "crash dump", "KDNET", "WinDbg", "symbols", "PDB",
    "checked build", "free build", "minifilter", "filter manager", "altitude", "NDIS", "miniport",
    "protocol driver", "NetAdapterCx", "WFP callout", "USB descriptor", "URB", "USB pipe", "USB endpoint", "UCX",
    "HID", "HID report descriptor", "SPB", "GPIO", "ACPI", "KMDF coinstaller", "hardware key", "software key",
    "Plug and Play", "bus driver", "function driver", "interrupt", "MSI", "DMA", "common buffer",
    "scatter/gather", "Storport", "storage miniport", "class driver", "port driver", "WUDFHost", "reflector",
    "IoCallDriver", "IoCompleteRequest", "DriverEntry", "AddDevice", "Unload routine", "object reference count",
    "object handle", "Zw and Nt routines", "PreviousMode", "probing user buffers", "kernel stack", "DPC watchdog",
]


@pytest.fixture(scope="module")
def glossary():
    return load_glossary()


@pytest.fixture(scope="module")
def mini():
    return load_glossary(FIXTURES / "mini.yml")


def _topic_ids() -> set[str]:
    data = yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))
    return {t["id"] for t in data["topics"]}


def _unlinked(text: str) -> str:
    return LINK.sub(r"\2", text)


# --- the real glossary ------------------------------------------------------------------------------------


def test_glossary_has_at_least_130_terms(glossary):
    assert len(glossary.terms) >= 130


def test_slugs_and_names_are_unique(glossary):
    slugs = [t.slug for t in glossary.terms]
    assert len(slugs) == len(set(slugs))
    # Case variants inside one entry are allowed (they change matching); a name may not belong to two terms.
    owners: dict[str, str] = {}
    for t in glossary.terms:
        for name in t.names:
            assert owners.setdefault(name.lower(), t.term) == t.term, name
        assert len(t.names) == len(set(t.names)), t.term


def test_definitions_are_short_and_present(glossary):
    for t in glossary.terms:
        assert t.definition.strip(), t.term
        assert len(t.definition) <= 200, t.term


def test_every_entry_has_topics_from_the_taxonomy_and_1_to_3_refs(glossary):
    topics = _topic_ids()
    for t in glossary.terms:
        assert t.topics and set(t.topics) <= topics, (t.term, t.topics)
        assert 1 <= len(t.see) <= 3, t.term
        for ref in t.see:
            assert re.fullmatch(r"(windows-driver-docs-pr|wdk-ddi-src/content)/[^#\s]+\.md#[\w-]+", ref), ref


@pytest.mark.parametrize("name", REQUIRED)
def test_required_term_is_defined(glossary, name):
    assert glossary.find(name) is not None, f"{name!r} is neither a term nor an alias"


def test_find_by_slug_term_and_alias(glossary):
    assert glossary.find("irql").term == "IRQL"
    assert glossary.find("interrupt request level").slug == "irql"
    assert glossary.find("ext-irp").term == "!irp"
    assert glossary.find("no such term") is None


def test_references_cover_every_see_ref(glossary):
    refs = references()
    assert len(refs) == sum(len(t.see) for t in glossary.terms)
    where, kind, ref = refs[0]
    assert where == f"data/glossary.yml#{glossary.terms[0].slug}" and kind == "ref" and "#" in ref


def test_load_is_cached_until_the_file_changes(tmp_path):
    file = tmp_path / "g.yml"
    file.write_text((FIXTURES / "mini.yml").read_text(encoding="utf-8"), encoding="utf-8")
    first = load_glossary(file)
    assert load_glossary(file) is first


# --- loader errors ------------------------------------------------------------------------------------------

_OK = {"term": "IRP", "definition": "x", "topics": ["irp"], "see": ["a.md#b"]}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**_OK, "term": ""}, "`term` is missing"),
        ({**_OK, "definition": ""}, "`definition` is missing"),
        ({**_OK, "definition": "x" * 201}, "201 characters"),
        ({**_OK, "see": []}, "`see` needs 1 to 3"),
        ({**_OK, "see": ["a.md#1", "a.md#2", "a.md#3", "a.md#4"]}, "`see` needs 1 to 3"),
        ({**_OK, "see": ["a.md"]}, "<source path>#<anchor>"),
        ({**_OK, "topics": []}, "`topics` needs"),
        ({**_OK, "aliases": "IRPs"}, None),
        ({**_OK, "aliases": [3]}, "`aliases` must be a list"),
        ({**_OK, "slug": "Bad Slug"}, "slug"),
    ],
)
def test_bad_entries_raise_parse_error_naming_the_entry(entry, message):
    text = yaml.safe_dump([entry])
    if message is None:
        assert parse_glossary(text).terms[0].aliases == ("IRPs",)
        return
    with pytest.raises(ParseError) as err:
        parse_glossary(text, source="g.yml")
    assert "g.yml entry 1" in str(err.value) and message in str(err.value)


def test_duplicate_slug_and_duplicate_name_are_rejected():
    with pytest.raises(ParseError, match="slug 'irp' is already used"):
        parse_glossary(yaml.safe_dump([_OK, {**_OK, "term": "irp"}]))
    with pytest.raises(ParseError, match="already a name of 'IRP'"):
        parse_glossary(yaml.safe_dump([_OK, {**_OK, "term": "I/O packet", "aliases": ["irp"]}]))


@pytest.mark.parametrize("text", ["- term: [unclosed", "just a string", "[]"])
def test_malformed_documents_raise_parse_error(text):
    with pytest.raises(ParseError):
        parse_glossary(text)


def test_missing_file_raises_parse_error(tmp_path):
    with pytest.raises(ParseError, match="not found"):
        load_glossary(tmp_path / "nope.yml")


def test_slugify():
    assert slugify("filter DO") == "filter-do"
    assert slugify("!analyze") == "ext-analyze"
    assert slugify("S0/Sx") == "s0-sx"


# --- link_terms -----------------------------------------------------------------------------------------------


def test_fixture_answer_links_first_occurrences_only(mini):
    source = (FIXTURES / "answer.html").read_text(encoding="utf-8")
    out = link_terms(source, mini)
    linked = [(slug, text) for slug, text in LINK.findall(out)]
    assert linked == [
        ("irql", "IRQL"),
        ("spin-lock", "spin lock"),
        ("irp", "IRP"),
        ("irp-mj-read", "IRP_MJ_READ"),
        ("filter-device-object", "Filter DO"),
        ("device-object", "device object"),
        ("inf", "INF file"),
        ("ext-analyze", "!analyze"),
        ("plug-and-play", "Plug and Play"),
    ]
    assert _unlinked(out) == source  # nothing else changed


def test_never_links_inside_code_pre_links_headings_or_attributes(mini):
    source = (
        '<h3>IRQL</h3><p><code>IRQL</code> <a href="x">IRQL</a> <kbd>IRQL</kbd></p>'
        '<pre>IRQL</pre><p title="IRQL" data-x="IRQL">text</p>'
    )
    assert link_terms(source, mini) == source


def test_acronyms_are_case_sensitive_and_phrases_are_not(mini):
    out = link_terms("<p>an irp, an Irp and an inf; SPIN LOCK and Plug And Play</p>", mini)
    assert LINK.findall(out) == [("spin-lock", "SPIN LOCK"), ("plug-and-play", "Plug And Play")]


def test_whole_words_plurals_and_hyphens(mini):
    out = link_terms("<p>IRPSTACK and non-PnP drivers; two IRPs; PnP.</p>", mini)
    assert LINK.findall(out) == [("irp", "IRPs"), ("plug-and-play", "PnP")]


def test_longest_term_wins_when_terms_overlap(mini):
    out = link_terms("<p>The filter device object is a device object.</p>", mini)
    assert LINK.findall(out) == [("filter-device-object", "filter device object"), ("device-object", "device object")]


def test_title_attribute_is_escaped(mini):
    out = link_terms("<p>spin lock</p>", mini)
    assert 'title="A lock that raises IRQL to DISPATCH_LEVEL: &quot;busy-waits&quot; &lt;never&gt; &amp; always' in out

    class Titles(HTMLParser):
        titles: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.titles.append(dict(attrs).get("title"))

    parser = Titles()
    parser.feed(out)
    assert parser.titles == [None, mini.find("spin-lock").definition]


def test_running_twice_adds_nothing_and_never_nests(mini):
    source = (FIXTURES / "answer.html").read_text(encoding="utf-8")
    once = link_terms(source, mini)
    assert link_terms(once, mini) == once
    assert "<a class=\"term\"" not in "".join(m.group(2) for m in LINK.finditer(once))


def test_max_links_caps_new_links(mini):
    out = link_terms("<p>IRQL, IRP, INF and PnP</p>", mini, max_links=2)
    assert [slug for slug, _ in LINK.findall(out)] == ["irql", "irp"]
    assert link_terms("<p>IRQL</p>", mini, max_links=0) == "<p>IRQL</p>"


def test_entities_comments_and_void_tags_pass_through(mini):
    source = "<p>a &amp; b &#169; IRQL<br/><!-- IRQL --><img src=x alt='IRQL'></p>"
    out = link_terms(source, mini)
    assert _unlinked(out) == source
    assert LINK.findall(out) == [("irql", "IRQL")]


def test_real_glossary_links_a_typical_answer(glossary):
    answer = (
        "<p>Your DPC runs at DISPATCH_LEVEL, so it must not touch paged pool. Use a spin lock "
        "to protect data shared with the ISR, and complete the IRP with IoCompleteRequest.</p>"
    )
    slugs = [slug for slug, _ in LINK.findall(link_terms(answer, glossary))]
    assert slugs == ["dpc", "dispatch-level", "paged-pool", "spin-lock", "isr", "irp", "iocompleterequest"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("IRQLPnP spinlockdevic object-_!<>&\"'\n")), max_size=80))
def test_linking_only_ever_adds_term_links(text):
    mini = load_glossary(FIXTURES / "mini.yml")
    source = f"<p>{html.escape(text)}</p><pre>{html.escape(text)}</pre>"
    out = link_terms(source, mini)
    assert _unlinked(out) == source
    slugs = [slug for slug, _ in LINK.findall(out)]
    assert len(slugs) == len(set(slugs))


def test_glossary_file_is_the_project_default():
    assert Path(load_glossary().source) == (ROOT / "data" / "glossary.yml").resolve()
