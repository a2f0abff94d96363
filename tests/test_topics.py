"""The topic taxonomy (data/topics.yml) and the classifier in kb.topics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kb.errors import UnknownTopic
from kb.topics import Taxonomy
from kb.topics import load_taxonomy

ROOT = Path(__file__).resolve().parent.parent
MINI = Path(__file__).resolve().parent / "data" / "topics" / "mini.yml"
THREAD_ANNOTATION = ROOT / "data" / "eval" / "threads" / "003_c11bf7d89f898402.yml"


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def mini() -> Taxonomy:
    return load_taxonomy(MINI)


# ---- the real taxonomy ------------------------------------------------------------------


def test_taxonomy_loads_with_unique_ids(tax: Taxonomy) -> None:
    raw = yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))
    ids = [t["id"] for t in raw["topics"]]
    assert len(ids) == len(set(ids))
    assert tax.ids() == ids
    assert 25 <= len(tax) <= 35
    for topic in tax:
        assert re.fullmatch(r"[a-z][a-z0-9-]*", topic.id), topic.id
        assert topic.name and topic.description, topic.id
        assert topic.terms, f"{topic.id} has no terms: it could never be found in forum text"


def test_required_topics_exist(tax: Taxonomy) -> None:
    for topic_id in ("kmdf", "umdf", "wdm", "usb", "networking", "power", "pnp", "irql", "irp", "memory",
                     "debugging", "install-inf", "signing", "testing-verifier", "synchronization"):
        assert topic_id in tax


def test_load_is_cached(tax: Taxonomy) -> None:
    assert load_taxonomy() is tax
    assert load_taxonomy(ROOT / "data" / "topics.yml") is tax


def test_get_and_unknown_topic(tax: Taxonomy) -> None:
    assert tax.get("usb").name == "USB"
    with pytest.raises(UnknownTopic) as err:
        tax.get("usb3")
    assert "'usb3'" in str(err.value) and "kmdf" in str(err.value) and "install-inf" in str(err.value)
    assert tax.check(["usb", "power"]) == ["usb", "power"]
    with pytest.raises(UnknownTopic):
        tax.check(["usb", "nope"])


@pytest.mark.parametrize(("path", "expected"), [
    ("windows-driver-docs-pr/usbcon/usb-selective-suspend.md", {"usb", "power"}),
    ("windows-driver-docs-pr/wdf/using-automatic-synchronization.md", {"kmdf", "synchronization"}),
    ("windows-driver-docs-pr/kernel/irp-mn-set-power.md", {"power"}),
    ("windows-driver-docs-pr/kernel/irp-mn-start-device.md", {"pnp"}),
    ("windows-driver-docs-pr/debugger/bug-check-0xd1--driver-irql-not-less-or-equal.md", {"debugging", "irql"}),
    ("windows-driver-docs-pr/install/test-signing.md", {"install-inf", "signing"}),
    ("windows-driver-docs-pr/devtest/tracelog.md", {"testing-verifier", "tracing"}),
    ("wdk-ddi-src/content/wdfusb/nf-wdfusb-wdfusbtargetpipereadsynchronously.md", {"kmdf", "usb"}),
    ("wdk-ddi-src/content/fltkernel/nf-fltkernel-fltregisterfilter.md", {"filesystems"}),
    ("wdk-ddi-src/content/ndis/nf-ndis-ndismindicatereceivenetbufferlists.md", {"networking"}),
])
def test_path_rules(tax: Taxonomy, path: str, expected: set[str]) -> None:
    assert expected <= set(tax.classify("", path)), tax.explain("", path)


def test_every_top_level_docs_folder_of_drivers_has_a_rule(tax: Taxonomy) -> None:
    # Folders of the docs tree that are driver technologies (not dashboards or samples lists).
    for folder in ("audio", "bluetooth", "debugger", "debuggercmds", "devtest", "display", "hid", "ifs", "install",
                   "kernel/irp-mj-read", "netcx", "network", "pci", "print", "serports", "spb", "gpio", "storage",
                   "stream", "usbcon", "wdf"):
        assert tax.classify("", f"windows-driver-docs-pr/{folder}/x.md"), folder


# ---- classification of forum-style text -------------------------------------------------

CASES = [
    ("irql-pool-dpc", "BSOD IRQL_NOT_LESS_OR_EQUAL when I call ExAllocatePoolWithTag(PagedPool, ...) from my DPC "
     "routine. The dump says the faulting address is in paged pool. What am I doing wrong?", {"irql", "memory"},
     {"usb"}),
    ("usb-selective-suspend", "How do I enable USB selective suspend in my KMDF function driver? I call "
     "WdfDeviceAssignS0IdleSettings with IdleUsbSelectiveSuspend but the device never goes to D2 when idle.",
     {"usb", "power", "kmdf"}, set()),
    ("wdfrequestsend-invalid-state", "WdfRequestSend returns STATUS_INVALID_DEVICE_STATE when I forward the request "
     "to the default I/O target from EvtIoRead. The target was stopped?", {"kmdf", "io-targets"}, set()),
    ("unload-leaked-ref", "My driver won't unload. sc stop hangs and !drvobj shows the device object still there; I "
     "think I leaked a reference with ObReferenceObjectByHandle somewhere. How do I find it in WinDbg?",
     {"debugging"}, {"usb", "networking"}),
    ("symbols", "how do I get symbols for my driver in windbg? I set .sympath to my build output folder and did "
     ".reload but kd still says no symbols for mydriver.sys", {"debugging"}, {"usb"}),
    ("test-signing", "Driver won't load on Windows 10 x64, Code 52: Windows cannot verify the digital signature. I "
     "built it with the WDK, how do I test sign it and turn on testsigning with bcdedit?", {"signing"}, {"usb"}),
    ("inf-pnputil", "pnputil /add-driver mydriver.inf /install says the INF is invalid. infverif complains about the "
     "[Manufacturer] section and the DDInstall section name. What is wrong in my INF file?", {"install-inf"}, set()),
    ("ndis-oid", "In my NDIS 6 miniport, MiniportOidRequest gets OID_GEN_LINK_SPEED_EX and I return "
     "NDIS_STATUS_NOT_SUPPORTED. Is that why the NIC shows as disconnected?", {"networking"}, set()),
    ("minifilter-create", "My minifilter's pre-create callback (IRP_MJ_CREATE) wants to block opening files in one "
     "folder. I return FLT_PREOP_COMPLETE with STATUS_ACCESS_DENIED but explorer still shows the files.",
     {"filesystems"}, {"usb"}),
    ("spinlock-vs-mutex", "When should I use a spin lock instead of a fast mutex? I need to protect a linked list that "
     "is touched from my DPC and from my dispatch routines at PASSIVE_LEVEL.", {"synchronization"}, {"usb"}),
    ("hid-minidriver-report", "I am writing a HID minidriver for a custom touchpad. How does the report descriptor map "
     "to the input reports that hidclass reads with IOCTL_HID_READ_REPORT?", {"hid"}, set()),
    ("storport-miniport", "Our Storport miniport gets an SRB_FUNCTION_EXECUTE_SCSI with SCSIOP_READ16 and we complete "
     "it in HwStorStartIo, but the disk class driver times out the request after 30 seconds.", {"storage"}, set()),
    ("pnp-surprise-removal", "What is the order of PnP IRPs when the user yanks the device out: "
     "IRP_MN_SURPRISE_REMOVAL then IRP_MN_REMOVE_DEVICE? When can I delete my device object?", {"pnp"}, {"power"}),
    ("completion-routine-pending", "In my completion routine do I need to call IoMarkIrpPending if "
     "Irp->PendingReturned is TRUE? I return STATUS_MORE_PROCESSING_REQUIRED and then complete the IRP again from "
     "my dispatch routine.", {"irp"}, set()),
    ("wpp-tracing", "I added WPP tracing to my KMDF driver with WPP_INIT_TRACING in DriverEntry, but traceview shows "
     "nothing. Do I need the TMF files from the PDB, and how do I start a trace session with tracelog?", {"tracing"},
     set()),
    ("verifier", "Driver Verifier bugchecks with 0xC4 as soon as my driver loads, parameter 1 is 0x62. Does that mean "
     "pool leaks on unload? How do I turn on special pool only for my driver?", {"testing-verifier"}, set()),
    ("umdf-host", "My UMDF 2 driver crashes WUDFHost.exe when the device starts. How do I attach a debugger to the "
     "host process to debug the driver?", {"umdf", "debugging"}, set()),
    ("msi-interrupt", "My PCIe device supports MSI-X. Do I need to change the INF to get message-signaled interrupts "
     "and how many WDFINTERRUPT objects do I create in EvtDevicePrepareHardware?", {"interrupts-dma", "pci"},
     set()),
    ("dma-common-buffer", "How do I allocate a common buffer for DMA in KMDF? WdfCommonBufferCreate fails with "
     "STATUS_INSUFFICIENT_RESOURCES when I ask for 4MB for the device's descriptor ring.",
     {"interrupts-dma", "kmdf"}, set()),
    ("registry-params", "Where should my driver store its configuration? I read a DWORD from the Parameters subkey of "
     "the service key with WdfDriverOpenParametersRegistryKey and WdfRegistryQueryULong.", {"registry"}, set()),
    ("power-policy-owner", "Who is the power policy owner in a USB stack with my upper filter? I want to send a D3 "
     "power IRP when my device is idle but PoRequestPowerIrp fails.", {"power"}, set()),
    ("audio-portcls", "Writing a virtual audio driver based on the SYSVAD sample: the WaveRT miniport never gets "
     "KSSTATE_RUN and the endpoint does not show up in the Sound control panel.", {"audio"}, {"networking"}),
    ("display-wddm", "Our WDDM display miniport gets a TDR during DxgkDdiSubmitCommand after resume. How do I debug "
     "timeout detection and recovery issues?", {"display"}, set()),
    ("bluetooth-l2cap", "I need to open an L2CAP channel to a Bluetooth device from a profile driver. Which BRB do I "
     "send to bthport and how do I get the remote address?", {"bluetooth"}, set()),
    ("i2c-spb", "My touch controller sits on I2C. How does my KMDF driver get the connection ID from the ACPI "
     "resources and open the SPB target to send write-read sequences?", {"serial-spb-gpio"}, set()),
    ("build-vs", "After upgrading to Visual Studio 2022 and the latest WDK my driver project fails to build with error "
     "MSB8040: Spectre-mitigated libraries are required. How do I fix the build?", {"build"}, set()),
    ("ioctl-method-neither", "What is the difference between METHOD_BUFFERED and METHOD_NEITHER for my IOCTL? With "
     "METHOD_NEITHER I get the user buffer address in Type3InputBuffer; do I have to probe it?", {"irp"}, set()),
    ("kmdf-context", "How do I attach my own context structure to a WDFDEVICE? I used "
     "WDF_DECLARE_CONTEXT_TYPE_WITH_NAME but the pointer returned by my accessor is NULL after WdfDeviceCreate.",
     {"kmdf"}, {"wdm"}),
    ("passing-usb-mention", "IRQL question: my DPC calls KeWaitForSingleObject with a nonzero timeout and the system "
     "bugchecks with IRQL_NOT_LESS_OR_EQUAL. You cannot wait at DISPATCH_LEVEL; waiting with a timeout is only "
     "allowed at IRQL <= APC_LEVEL. Move the wait to a work item that runs at PASSIVE_LEVEL, or use a spin lock for "
     "short sections. Raise and lower IRQL only as the DDI docs allow; the IRQL rules are the same whether the "
     "driver is for a USB device or a PCI card, so check the IRQL annotations of every routine you call from the "
     "DPC.", {"irql"}, {"usb", "pci"}),
    ("security-sddl", "Non-admin users get access denied when they open my control device. How do I set an SDDL "
     "string so that standard users can send IOCTLs, and is that a security risk?", {"security"}, set()),
    ("printer-driver", "Our v4 printer driver's GPD file is ignored by the print spooler and the printer shows as "
     "offline. How do I debug the printer driver configuration?", {"printing"}, set()),
]


@pytest.mark.parametrize(("text", "expected", "forbidden"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify_forum_text(tax: Taxonomy, text: str, expected: set[str], forbidden: set[str]) -> None:
    got = tax.classify(text)
    assert expected <= set(got), (got, tax.explain(text))
    assert not forbidden & set(got), (got, tax.explain(text))
    assert len(got) <= 4


def test_classify_returns_known_ids_best_first(tax: Taxonomy) -> None:
    text = "USB selective suspend in my KMDF driver: the device never idles, WdfDeviceAssignS0IdleSettings fails."
    got = tax.classify(text)
    assert set(got) <= set(tax.ids())
    scores = tax.scores(text)
    assert [scores[t] for t in got] == sorted((scores[t] for t in got), reverse=True)
    assert tax.classify(text, max_topics=1) == got[:1]


def test_no_evidence_gives_no_topics(tax: Taxonomy) -> None:
    assert tax.classify("") == []
    assert tax.classify("Thanks a lot, that fixed it!") == []


def test_api_names_count_as_strong_evidence(tax: Taxonomy) -> None:
    assert "usb" in tax.classify("How do I read from this pipe?", api_names=["WdfUsbTargetPipeReadSynchronously"])


# ---- mechanics, on a tiny taxonomy ------------------------------------------------------


def test_longest_prefix_wins_and_families_always_count(mini: Taxonomy) -> None:
    assert mini.scores("call IRP_MN_SET_POWER") == {"power": pytest.approx(1.0), "pnp": pytest.approx(0.5)}
    assert mini.scores("IRP_MN_START_DEVICE") == {"pnp": 1.0}
    # `Fw*` is a family: it counts fully although FwBus is the longer match.
    assert mini.scores("FwBusOpen") == {"bus": 1.0, "frame": 1.0}
    # Prefixes stop at CamelCase boundaries: `Po` is not a prefix of Pool.
    assert mini.scores("Pool Poll PoCallDriver") == {"power": 1.0}


def test_terms_phrases_plurals_and_weights(mini: Taxonomy) -> None:
    assert mini.scores("two bus devices") == {"bus": 1.5}
    assert mini.scores("the Endpoint") == {"bus": 2.0}
    assert mini.scores("the framework") == {"frame": 0.6}  # one lower-case word is weak
    assert mini.scores("surprise removals, surprise removal") == {"pnp": pytest.approx(1.5 * 1.5)}


def test_acronyms_are_case_sensitive(mini: Taxonomy) -> None:
    assert mini.scores("the HID report descriptor") == {"hid": 2.5}
    assert mini.scores("he hid the device") == {}


def test_path_prefixes_globs_and_headers(mini: Taxonomy) -> None:
    assert mini.classify("", "docs/bus/x.md") == ["bus"]
    assert set(mini.classify("", "docs/frame/the-bus-page.md")) == {"frame", "bus"}
    assert mini.classify("", "ref/content/fwcore/fwcoreopen.md") == []
    assert mini.classify("", "wdk-ddi-src/content/fwcore/nf-fwcore-open.md") == ["frame"]
    assert mini.scores("see busioctl.h for the codes") == {"bus": 1.5}
    assert mini.classify("see busioctl.h for the codes") == ["bus"]


def test_passing_mention_is_not_enough(mini: Taxonomy) -> None:
    text = ("PoCallDriver, PoStartNextPowerIrp, PoRequestPowerIrp, PoSetPowerState, PoFxActivateComponent "
            "and PoRegisterDeviceForIdleDetection during sleep; one bus device")
    assert mini.scores(text)["bus"] == 1.5
    assert mini.classify(text) == ["power"]
    assert mini.classify(text + ", another bus device and FwBusStart") == ["power", "bus"]


def test_call_stack_frames_are_not_api_mentions(mini: Taxonomy) -> None:
    assert mini.scores("nt!PoCallDriver+0x23") == {}


def test_explain_lists_the_evidence(mini: Taxonomy) -> None:
    why = mini.explain("PoCallDriver during sleep", "docs/bus/x.md")
    assert set(why) == {"power", "bus"}
    assert any("PoCallDriver" in reason for reason in why["power"])
    assert any(reason.startswith("path ") for reason in why["bus"])


@pytest.mark.parametrize(("data", "message"), [
    ({}, "top-level `topics:`"),
    ({"topics": [{"id": "a"}]}, "`id` and a `name`"),
    ({"topics": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]}, "duplicate topic id 'a'"),
    ({"topics": [{"id": "a", "name": "A", "terms": [{"x": "heavy"}]}]}, "numeric weight"),
])
def test_malformed_taxonomy(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Taxonomy.from_dict(data)


def test_bad_yaml_file(tmp_path: Path) -> None:
    bad = tmp_path / "topics.yml"
    bad.write_text("topics: [\n  - id: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_taxonomy(bad)


# ---- topic micro-F1 on the hand-annotated seed thread -------------------------------------


def _comments(text: str) -> dict[int, str]:
    parts = re.split(r"\n {1,4}(\d+)\. ?(.*?) ?says:\n", text)
    return {int(parts[i]): parts[i + 2].strip() for i in range(1, len(parts), 3)}


def _micro_f1(tax: Taxonomy, comments: dict[int, str], annotations: list[dict], first: int, last: int) -> float:
    tp = fp = fn = 0
    for entry in annotations:
        if not (first <= entry["question"][0] <= last) or not entry["topics"]:
            continue
        text = "\n".join(comments[n] for n in entry["question"] + entry.get("answer", []))
        got, gold = set(tax.classify(text)), set(entry["topics"])
        tp, fp, fn = tp + len(got & gold), fp + len(got - gold), fn + len(gold - got)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall)


@pytest.mark.corpus
def test_topic_f1_on_annotated_forum_thread(tax: Taxonomy, seeds: Path) -> None:
    if not THREAD_ANNOTATION.exists():
        pytest.skip(f"{THREAD_ANNOTATION} is missing")
    annotation = yaml.safe_load(THREAD_ANNOTATION.read_text(encoding="utf-8"))
    comments = _comments((seeds / "003_c11bf7d89f898402.txt").read_text(encoding="utf-8"))
    assert all(t in tax for e in annotation["annotations"] for t in e["topics"])
    # The rules were tuned on the development range; the whole thread checks they generalize.
    assert _micro_f1(tax, comments, annotation["annotations"], 1, 140) >= 0.78
    assert _micro_f1(tax, comments, annotation["annotations"], 1, 382) >= 0.75
