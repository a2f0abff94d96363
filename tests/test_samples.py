"""Sample drivers: the catalog, the clone scanner, sample READMEs and the alias table."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from ingest import sample_readme
from ingest import samples_catalog
from ingest import samples_scan
from kb.errors import ParseError
from kb.models import Pair
from kb.models import Sample
from kb.models import SourceDoc
from kb.models import SourceMeta
from kb.sample_mentions import Alias
from kb.sample_mentions import aliases_from_yaml
from kb.sample_mentions import find_sample_mentions
from kb.sample_mentions import load_aliases

ROOT = Path(__file__).resolve().parent.parent
CLONE = Path(__file__).resolve().parent / "data" / "samples" / "clone"
CATALOG_DOC = SourceDoc("driver-samples.json.gz", "samples-catalog")


def _small_catalog(**overrides) -> str:
    sample = {
        "path": "usb/usbsamp",
        "title": "Usbsamp Generic USB Driver",
        "description": "Bulk and isochronous transfers.",
        "url": "https://github.com/microsoft/Windows-driver-samples/tree/main/usb/usbsamp",
        "driver_types": ["KMDF"],
        "projects": [{"file": "usb/usbsamp/sys/usbsamp.vcxproj", "target": "usbsamp", "type": "Driver"}],
        "infs": [{"file": "usb/usbsamp/sys/usbsamp.inx", "class": '"Sample"'}, {"file": "x.inf", "class": None}],
        "source_files": 12,
        "ddi_calls": {"WdfRequestSend": [["usb/usbsamp/sys/bulkrwr.c", 120], ["usb/usbsamp/sys/isorwr.c", 88]]},
    }
    sample.update(overrides)
    return json.dumps({"source": "microsoft/Windows-driver-samples", "commit": "26a27df807", "samples": [sample]})


# --- catalog ---


def test_catalog_small():
    records = list(samples_catalog.parse(_small_catalog(), CATALOG_DOC))
    meta, sample = records
    assert isinstance(meta, SourceMeta) and meta.extra == {"samples": 1, "commit": "26a27df807"}
    assert isinstance(sample, Sample)
    assert sample.inf_classes == ("Sample",)
    assert sample.ddi_calls["WdfRequestSend"][0] == ("usb/usbsamp/sys/bulkrwr.c", 120)
    base = sample.extra["blob_base"]
    assert base == "https://github.com/microsoft/Windows-driver-samples/blob/26a27df807/"
    assert samples_catalog.line_url(base, "usb/usbsamp/sys/bulkrwr.c", 120) == (
        "https://github.com/microsoft/Windows-driver-samples/blob/26a27df807/usb/usbsamp/sys/bulkrwr.c#L120"
    )
    assert sample.extra["projects"][0]["target"] == "usbsamp" and sample.extra["source_files"] == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"items": []}', "'samples' list"),
        ('{"samples": [{"title": "x"}]}', "no 'path'"),
        (_small_catalog(ddi_calls=["WdfRequestSend"]), "'ddi_calls' must be an object"),
        (_small_catalog(ddi_calls={"X": [["a.c"]]}), r"expected \[file, line\]"),
        (_small_catalog(ddi_calls={"X": [["a.c", "ten"]]}), "non-integer line"),
    ],
)
def test_catalog_schema_errors(text: str, message: str):
    with pytest.raises(ParseError, match=message):
        list(samples_catalog.parse(text, CATALOG_DOC))


def test_catalog_looks_like():
    assert samples_catalog.looks_like(_small_catalog())
    assert not samples_catalog.looks_like('{"pairs": []}')
    assert not samples_catalog.looks_like("# A markdown page")


@pytest.mark.corpus
def test_catalog_real(corpus):
    text = gzip.decompress((corpus / "driver-samples.json.gz").read_bytes()).decode("utf-8")
    assert samples_catalog.looks_like(text)
    records = list(samples_catalog.parse(text, CATALOG_DOC))
    assert isinstance(records[0], SourceMeta)
    samples = records[1:]
    assert len(samples) == 136 and all(isinstance(s, Sample) for s in samples)
    by_path = {s.path: s for s in samples}
    usbsamp = by_path["usb/usbsamp"]
    assert usbsamp.driver_types == ("KMDF",)
    assert any(name.startswith("WdfUsbTargetPipe") for name in usbsamp.ddi_calls)
    assert sum(1 for s in samples if s.ddi_calls) >= 120
    assert all(len(places) <= 5 for s in samples for places in s.ddi_calls.values())
    assert by_path["filesys/miniFilter/minispy"].inf_classes == ("ActivityMonitor",)
    assert all('"' not in c for s in samples for c in s.inf_classes)


# --- clone scanner ---


@pytest.fixture(scope="module")
def scanned() -> dict[str, Sample]:
    known = samples_scan.fallback_ddis()
    return {s.path: s for s in samples_scan.scan_clone(CLONE, known)}


def test_scan_finds_each_sln_folder(scanned):
    assert sorted(scanned) == [
        "general/echo/kmdf",
        "general/toaster/toastDrv",
        "general/toaster/toastDrv/wdm/bus",
        "usb/usbsamp",
    ]


def test_scan_echo_sample(scanned):
    echo = scanned["general/echo/kmdf"]
    assert echo.title == "KMDF Echo Sample"
    assert echo.description.startswith("Demonstrates how to use a sequential queue")
    assert echo.driver_types == ("KMDF",)
    assert echo.inf_classes == ("Sample",)
    assert echo.ddi_calls["WdfDeviceCreate"] == [("general/echo/kmdf/driver/device.c", 14)]
    assert echo.ddi_calls["WdfRequestSend"] == [("general/echo/kmdf/driver/queue.c", 8)]
    # Named only in comments or a string literal: not calls.
    for name in ("IoCreateDevice", "IoDeleteDevice", "WdfIoQueueCreate"):
        assert name not in echo.ddi_calls
    assert {p["type"] for p in echo.extra["projects"]} == {"Driver", "Application"}
    assert echo.url == "https://github.com/microsoft/Windows-driver-samples/tree/main/general/echo/kmdf"
    assert echo.extra["source_files"] == 3


def test_scan_nested_sample_owns_its_files(scanned):
    toaster, bus = scanned["general/toaster/toastDrv"], scanned["general/toaster/toastDrv/wdm/bus"]
    assert "IoCreateDevice" not in toaster.ddi_calls
    assert "WdfDeviceCreate" in toaster.ddi_calls
    assert bus.ddi_calls["IoCreateDevice"] == [("general/toaster/toastDrv/wdm/bus/pnp.c", 4)]
    assert bus.driver_types == ("WDM",) and bus.inf_classes == ("System",)
    assert toaster.title == "Toaster Sample Driver"  # the heading reads better than name: 'ToasterSample'


def test_scan_framework_property_and_utf16_inf(scanned):
    usbsamp = scanned["usb/usbsamp"]
    assert usbsamp.driver_types == ("KMDF",)  # from KMDF_VERSION_MAJOR, no DriverType element
    assert usbsamp.inf_classes == ("USBDevice",)
    assert usbsamp.description == (
        "The USBSAMP sample demonstrates bulk and isochronous transfers to a generic USB device."
    )


def test_scan_keeps_at_most_five_places(tmp_path: Path):
    sample = tmp_path / "general" / "many"
    sample.mkdir(parents=True)
    (sample / "many.sln").write_text("")
    (sample / "a.c").write_text("\n".join("IoCompleteRequest(Irp, IO_NO_INCREMENT);" for _ in range(9)))
    (found,) = list(samples_scan.scan_clone(tmp_path, {"IoCompleteRequest"}))
    assert found.ddi_calls["IoCompleteRequest"] == [("general/many/a.c", n) for n in range(1, 6)]
    assert found.title == "many"


def test_is_samples_clone(tmp_path: Path):
    assert samples_scan.is_samples_clone(CLONE)
    assert not samples_scan.is_samples_clone(tmp_path)
    assert not samples_scan.is_samples_clone(CLONE / "usb")
    assert not samples_scan.is_samples_clone(CLONE / "README.md")


def test_git_remote_and_commit(tmp_path: Path):
    clone = tmp_path / "wds"
    shutil.copytree(CLONE, clone)
    (clone / "README.md").unlink()
    git = clone / ".git"
    git.mkdir()
    (git / "config").write_text('[remote "origin"]\n\turl = https://github.com/microsoft/Windows-driver-samples.git\n')
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs with: peeled\n26a27df807aa refs/heads/main\n")
    assert samples_scan.is_samples_clone(clone)
    sample = next(samples_scan.scan_clone(clone, {"WdfDeviceCreate"}))
    assert sample.extra["commit"] == "26a27df807aa"
    assert sample.extra["blob_base"].endswith("/blob/26a27df807aa/")


def test_fallback_ddis_file():
    names = samples_scan.fallback_ddis()
    assert {"WdfDeviceCreate", "WdfRequestSend", "IoCreateDevice", "KeAcquireSpinLock"} <= names
    assert not any(re.fullmatch(r"[a-z0-9]+", n) for n in names)  # header names like "ntddk" are left out
    lines = [ln for ln in samples_scan.FALLBACK_DDIS.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines == sorted(lines) and len(lines) == len(set(lines))


@pytest.mark.corpus
def test_fallback_ddis_come_from_the_catalog(corpus):
    catalog = json.loads(gzip.decompress((corpus / "driver-samples.json.gz").read_bytes()))
    keys = {name for s in catalog["samples"] for name in s["ddi_calls"]}
    assert samples_scan.fallback_ddis() <= keys
    assert len(samples_scan.fallback_ddis()) > 4000


# --- sample READMEs ---


@pytest.mark.parametrize(
    ("path", "url", "folder"),
    [
        ("readmes/usb/usbsamp/README.md", None, "usb/usbsamp"),
        ("./usb/usbsamp/README.md", None, "usb/usbsamp"),
        ("/home/me/src/Windows-driver-samples/general/echo/kmdf/README.md", None, "general/echo/kmdf"),
        ("./README.md", None, ""),
        ("x/README.md", "https://github.com/microsoft/Windows-driver-samples/tree/main/hid/vhidmini2", "hid/vhidmini2"),
    ],
)
def test_sample_folder(path: str, url: str | None, folder: str):
    assert sample_readme.sample_folder(path, url) == folder


def test_absolutize_links():
    text = "[h](../drivercode/SharedTypes.h) [a](#build) [l](/windows-hardware/drivers/wdf/) " \
           "[m](https://msdn.microsoft.com/library/mt761968(v=vs.85).aspx) ![i](img/a.png)"
    out = sample_readme.absolutize_links(text, "video/IndirectDisplay/IddSampleApp")
    blob = "https://github.com/microsoft/Windows-driver-samples/blob/main/"
    assert f"[h]({blob}video/IndirectDisplay/drivercode/SharedTypes.h)" in out
    assert f"[a]({blob}video/IndirectDisplay/IddSampleApp/README.md#build)" in out
    assert "[l](https://learn.microsoft.com/windows-hardware/drivers/wdf/)" in out
    assert "[m](https://msdn.microsoft.com/library/mt761968(v=vs.85).aspx)" in out
    assert f"![i]({blob}video/IndirectDisplay/IddSampleApp/img/a.png)" in out


def _readme_records(text: str, path: str) -> tuple[SourceMeta, dict[str, Pair]]:
    records = list(sample_readme.parse(text, SourceDoc(path, "sample-readme")))
    meta = records[0]
    assert isinstance(meta, SourceMeta)
    pairs = {r.extra["task"]: r for r in records[1:]}
    assert all(isinstance(p, Pair) and p.kind == "sample-readme" for p in pairs.values())
    return meta, pairs


def test_readme_fixture():
    text = (CLONE / "general" / "echo" / "kmdf" / "README.md").read_text()
    meta, pairs = _readme_records(text, "readmes/general/echo/kmdf/README.md")
    assert meta.title == "KMDF Echo Sample"
    assert meta.url == "https://github.com/microsoft/Windows-driver-samples/tree/main/general/echo/kmdf"
    assert meta.extra["page_type"] == "sample" and meta.extra["sample_path"] == "general/echo/kmdf"
    assert set(pairs) == {"overview", "build", "test"}
    assert pairs["overview"].question == "What does the KMDF Echo sample demonstrate?"
    assert pairs["overview"].answer.startswith("Demonstrates how to use a sequential queue")
    assert pairs["build"].question == "How do I build the KMDF Echo sample?"
    assert pairs["build"].locator == {"section": "build-the-sample"}
    assert "Build Solution" in pairs["build"].answer
    assert pairs["test"].locator == {"section": "testing"} and "echoapp.exe -Async" in pairs["test"].answer
    assert pairs["test"].extra["sample_path"] == "general/echo/kmdf"


@pytest.mark.parametrize("text", ["", "   \n", "just some text without a title\n"])
def test_readme_without_title_is_an_error(text: str):
    with pytest.raises(ParseError, match="untitled README"):
        list(sample_readme.parse(text, SourceDoc("readmes/x/README.md", "sample-readme")))


@pytest.fixture(scope="module")
def real_readmes(corpus) -> dict[str, str]:
    wanted = {"./usb/usbsamp/README.md", "./general/echo/kmdf/README.md", "./video/IndirectDisplay/README.md"}
    out = {}
    with tarfile.open(corpus / "driver-samples-readmes.tar.gz") as tar:
        for member in tar:
            if member.name in wanted:
                out[member.name] = tar.extractfile(member).read().decode("utf-8")
    assert set(out) == wanted
    return out


@pytest.mark.corpus
def test_readme_usbsamp_real(real_readmes):
    meta, pairs = _readme_records(real_readmes["./usb/usbsamp/README.md"], "./usb/usbsamp/README.md")
    assert meta.title == "Usbsamp Generic USB Driver"
    assert set(pairs) == {"overview", "build", "install", "test", "run"}
    assert "SuperSpeed" in pairs["overview"].answer
    assert "msbuild" in pairs["build"].answer.lower()
    assert pairs["install"].locator == {"section": "automatic-deployment"}
    assert "devcon install usbsamp.inf" in pairs["install"].answer
    assert "usbsamp.exe -r 1024" in pairs["test"].answer
    locators = [p.locator["section"] for p in pairs.values()]
    assert len(locators) == len(set(locators))


@pytest.mark.corpus
def test_readme_echo_and_indirect_display_real(real_readmes):
    _, echo = _readme_records(real_readmes["./general/echo/kmdf/README.md"], "./general/echo/kmdf/README.md")
    assert "sequential queue" in echo["overview"].answer and "Echoapp.exe" in echo["test"].answer
    meta, idd = _readme_records(real_readmes["./video/IndirectDisplay/README.md"], "./video/IndirectDisplay/README.md")
    assert meta.title == "Indirect Display Driver Sample"  # trailing '#' of the heading dropped
    assert meta.extra["name"] == "IddSample"
    assert idd["overview"].question == "What does the Indirect Display sample demonstrate?"
    assert "IddCx" in idd["overview"].answer


# --- alias table and mentions ---


@pytest.fixture(scope="module")
def aliases() -> list[Alias]:
    return load_aliases()


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("There is the pcidrv sample which shows how to do it.", [("pcidrv", "general/pcidrv")]),
        ("The toastmon sample shows how to register for notifications.", [("toastmon", "general/toaster/toastDrv")]),
        ("Start from the toaster bus driver.", [("toaster bus", "general/toaster/toastDrv")]),
        ("I am using NDIS-WDM as upper edge and USBsamp as function driver.", [("usbsamp", "usb/usbsamp")]),
        ("Plug in the OSR USB-FX2 board.", [("osr usb fx2", "usb/kmdf_fx2")]),
        ("Use the OSR FX2 kit.", [("osrfx2", "usb/kmdf_fx2")]),
        ("Compare with the UMDF fx2 driver.", [("umdf fx2", "usb/umdf2_fx2")]),
        ("See the echo sample in the WDK.", [("echo", "general/echo/kmdf")]),
        ("echo.sys fails to load", [("echo", "general/echo/kmdf")]),
        ("the KMDF echo driver", [("kmdf echo", "general/echo/kmdf")]),
        (
            "I took kbfiltr sample and modified it; moufiltr too.",
            [("kbfiltr", "input/kbfiltr"), ("moufiltr", "input/moufiltr")],
        ),
        ("The nonpnp sample creates a control device.", [("nonpnp", "general/ioctl/kmdf")]),
        ("Look at the event sample.", [("event sample", "general/event")]),
        ("the serial sample in the WDK", [("serial sample", "serial/serial")]),
        ("Original BulkUsb is working fine.", [("bulkusb", "usb/usbsamp")]),
        ("the wdfsimple.inf file", [("wdfsimple", "general/toaster/toastDrv")]),
        # negatives: everyday words that are also sample names
        ("echo the value to the console", []),
        ("The driver will receive the halt event. The sample shows nothing.", []),
        ("Open a serial port and cancel the IRP.", []),
        ("Use an inspect tool on the scanner.", []),
        ("We ported the ramdisk sample from the old WDK.", []),  # removed sample: no current path
        # a sample's folder in an old DDK install, as a web page shows it without its backslashes
        ("A good place to start is WinDDK6000srckmdfpcidrvsys.", [("pcidrv", "general/pcidrv")]),
        ("see WINDDK6000srcgeneraleventexe", [("event", "general/event")]),  # the path is the context
        ("C:WinDDK5600binx86build.exe -cZ", []),
        # a module in a debugger stack is a loaded binary (here the inbox classpnp.sys), not the sample
        ("Drivernvstor CLASSPNP!TransferPktComplete", []),
        ("The classpnp library shows how a class driver queues transfers.", [("classpnp", "storage/class/classpnp")]),
    ],
)
def test_find_sample_mentions(aliases, sentence: str, expected: list[tuple[str, str]]):
    found = find_sample_mentions(sentence, aliases)
    assert [(m.alias, m.sample_path) for m in found] == expected
    for m in found:
        assert sentence[m.start : m.end].lower().replace("-", " ").replace(" ", "") == m.alias.replace(" ", "")


def test_retired_aliases_only_on_request():
    retired = [a for a in load_aliases(include_retired=True) if a.sample_path is None]
    assert {"ramdisk", "sfilter"} <= {a.name for a in retired}
    found = find_sample_mentions("the ramdisk sample", retired)
    assert [(m.alias, m.sample_path) for m in found] == [("ramdisk", None)]
    found = find_sample_mentions("a similar driver than the RamDisk driver; rebuild the ndis-edge", retired)
    assert [m.alias for m in found] == ["ramdisk", "ndisedge"]
    assert find_sample_mentions("turn RAM into a FAT or NTFS ramdisk", retired) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("names: [x]", "top-level 'aliases:'"),
        ("aliases:\n  - names: [x]", "needs 'sample'"),
        ("aliases:\n  - sample: 3\n    names: [x]", "catalog path string"),
        ("aliases:\n  - sample: a/b\n    names: 5", "list of strings"),
    ],
)
def test_alias_table_errors(text: str, message: str):
    with pytest.raises(ValueError, match=message):
        aliases_from_yaml(text)


@pytest.mark.corpus
def test_alias_paths_are_catalog_paths(corpus, aliases):
    catalog = json.loads(gzip.decompress((corpus / "driver-samples.json.gz").read_bytes()))
    paths = {s["path"] for s in catalog["samples"]}
    assert {a.sample_path for a in aliases} <= paths


@pytest.mark.corpus
def test_mentions_in_the_seed_thread(seeds, aliases):
    text = (seeds / "003_c11bf7d89f898402.txt").read_text(encoding="utf-8")
    found = find_sample_mentions(text, aliases)
    paths = {m.sample_path for m in found}
    assert {"general/pcidrv", "general/toaster/toastDrv", "usb/usbsamp", "input/kbfiltr", "wmi/wmisamp"} <= paths
    assert len(found) >= 30
