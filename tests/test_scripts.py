"""Runnable scripts: extraction from markdown and the curated scripts in data/scripts/."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from ingest import curated_script
from ingest import scripts
from kb.errors import ParseError
from kb.models import Script
from kb.models import SourceDoc
from kb.models import SourceMeta

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "data" / "scripts"
CURATED = sorted((ROOT / "data" / "scripts").iterdir())
TOPICS = {
    "kmdf", "umdf", "wdm", "usb", "networking", "power", "pnp", "hid", "storage", "filesystems", "debugging",
    "build", "install-inf", "signing", "irp", "io-targets", "synchronization", "memory", "irql",
    "interrupts-dma", "registry", "tracing", "testing-verifier", "security",
}


def _extract(name: str) -> list[Script]:
    return scripts.extract_scripts((FIXTURES / name).read_text(encoding="utf-8"), name)


# --- extraction from markdown ---


def test_kd_session_splits_commands_from_output_and_merges_steps():
    first = _extract("debugger-session.md")[0]
    assert first.tool == "windbg"
    assert first.commands.splitlines() == ["!object 81a578c0", 'ba w4 81a578a8 "k;g"']
    assert "PointerCount: 3" in first.output
    assert "kd>" not in first.commands and "kd>" not in first.output
    assert first.title == "WinDbg: !object, ba w4"
    assert first.locator == {"block": 0}
    assert first.extra["blocks"] == [0, 1]
    assert first.purpose.startswith("Use the !object extension")


def test_numbered_and_local_prompts():
    found = _extract("debugger-session.md")
    by_heading = {s.extra["heading"]: s for s in found}
    mp = by_heading["Multiprocessor prompt"]
    assert mp.commands.splitlines() == ["!irql", "kb"]
    assert "DISPATCH_LEVEL" in mp.output and "nt!KeBugCheckEx" in mp.output
    local = by_heading["Local and user-mode prompts"]
    assert local.commands.splitlines() == ["!process 0 0 System", "k"]
    assert local.output == "PROCESS ffffe0001a2b3040"


def test_syntax_lines_are_not_scripts_but_promptless_commands_are():
    found = _extract("debugger-session.md")
    assert all("Object" != s.commands.split()[-1] for s in found)
    assert not any("[Flags]" in s.commands for s in found)
    promptless = [s for s in found if s.extra["heading"] == "Prompt-less debugger commands"]
    assert promptless and promptless[0].commands.splitlines() == [".symfix", ".reload /f", "!analyze -v"]
    assert len(found) == 4


def test_console_prompts_and_output():
    found = _extract("console-commands.md")
    kdnet, bcd = found[0], found[1]
    assert kdnet.tool == "cmd" and kdnet.commands == "kdnet.exe 192.168.1.10 50000"
    assert kdnet.output.splitlines()[-1].startswith("Key=")
    assert bcd.commands.splitlines() == ["bcdedit /debug on", "bcdedit /dbgsettings net hostip:192.168.1.10 port:50000"]
    assert "The operation completed successfully." in bcd.output
    assert bcd.title == "cmd: bcdedit /debug, bcdedit /dbgsettings"


def test_promptless_console_tools_and_powershell():
    found = _extract("console-commands.md")
    pnp = next(s for s in found if "pnputil" in s.commands)
    assert pnp.commands.splitlines() == ["pnputil /add-driver C:\\drop\\mydriver.inf /install", "pnputil /enum-drivers"]
    assert pnp.title == "cmd: pnputil /add-driver, pnputil /enum-drivers"
    ps = next(s for s in found if s.tool == "powershell")
    assert ps.commands.splitlines()[0] == 'Get-PnpDevice -PresentOnly | Where-Object { $_.Status -ne "OK" }'
    assert "$dev = Get-PnpDevice" in ps.commands
    assert "Unknown USB Device" in ps.output and "Unknown USB Device" not in ps.commands
    assert ps.title.startswith("PowerShell: Get-PnpDevice")
    assert not any("<filename.inf" in s.commands for s in found)


def test_plain_code_is_not_a_script():
    assert _extract("plain-code.md") == []


@pytest.mark.parametrize(
    "markdown",
    [
        "```c\nkd> !irql\n```\n",  # tagged as code: never a script
        "```xml\n<DriverType>KMDF</DriverType>\n```\n",
        "```text\nHardware IDs: USB\\VID_045E&PID_078F\n```\n",
        "Inline `pnputil /enum-drivers` only.\n",
    ],
)
def test_non_scripts(markdown):
    assert scripts.extract_scripts(markdown, "x.md") == []


def test_parse_yields_meta_then_scripts():
    text = (FIXTURES / "debugger-session.md").read_text(encoding="utf-8")
    records = list(scripts.parse(text, SourceDoc("debugger/x.md", "learn-doc", url="https://example.test/x")))
    assert isinstance(records[0], SourceMeta)
    assert records[0].title == "Fixture - debugger sessions"
    assert records[0].url == "https://example.test/x"
    assert all(isinstance(r, Script) for r in records[1:]) and len(records) == 5
    assert records[1].extra["source_path"] == "debugger/x.md"


@pytest.mark.corpus
def test_seed_failed_unload_page(seeds):
    text = (seeds / "000_ff2a92931e1537e7.txt").read_text(encoding="utf-8")
    found = scripts.extract_scripts(text, "seeds/000")
    assert len(found) == 1
    assert found[0].title == "WinDbg: !object, ba w4"
    assert "HandleCount: 0  PointerCount: 3" in found[0].output


# --- curated scripts ---


def test_at_least_18_curated_scripts_of_each_tool():
    assert len(CURATED) >= 18
    tools = {curated_script.tool_for(p.name) for p in CURATED}
    assert tools == {"windbg", "cmd", "powershell"}


@pytest.mark.parametrize("path", CURATED, ids=lambda p: p.name)
def test_curated_script_parses_with_every_field(path: Path):
    source = SourceDoc(f"data/scripts/{path.name}", "script")
    (script,) = list(curated_script.parse(path.read_text(encoding="utf-8"), source))
    assert script.tool == curated_script.tool_for(path.name)
    assert script.title and script.purpose and script.commands.strip()
    assert set(script.extra) >= {"when", "run", "look_for", "docs"}
    assert all(script.extra[k] for k in ("when", "run", "look_for", "docs"))
    assert script.topics and set(script.topics) <= TOPICS, set(script.topics) - TOPICS
    assert 1 <= len(script.extra["docs"]) <= 3
    assert all(u.startswith("https://learn.microsoft.com/") for u in script.extra["docs"])
    assert path.name in script.extra["run"]
    # The header is not part of the commands.
    assert "title:" not in script.commands and "look-for:" not in script.commands


@pytest.mark.parametrize("path", [p for p in CURATED if p.suffix == ".wds"], ids=lambda p: p.name)
def test_windbg_script_comments_are_safe_for_condensed_runs(path: Path):
    # $$>< joins lines with ";" and a ";" ends a $$ comment, so a ";" in a comment would run its tail.
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("$$"):
            assert ";" not in line, line
        assert not line.lstrip().startswith("*"), "a * comment swallows the rest of a condensed script"


@pytest.mark.parametrize("path", [p for p in CURATED if p.suffix == ".cmd"], ids=lambda p: p.name)
def test_cmd_header_has_no_characters_cmd_would_interpret(path: Path):
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("::"):
            assert not re.search(r"[%<>|&]", line), line


@pytest.mark.parametrize("field", curated_script.FIELDS)
def test_missing_header_field_is_named(field: str):
    text = (ROOT / "data" / "scripts" / "pool-leak.wds").read_text(encoding="utf-8")
    broken = "\n".join(line for line in text.splitlines() if not line.startswith(f"$$ {field}:"))
    with pytest.raises(ParseError, match=f"'{field}:'"):
        list(curated_script.parse(broken, SourceDoc("data/scripts/pool-leak.wds", "script")))


def test_header_forms_for_each_tool():
    cmd = (
        ":: title: T\n:: what: W\n::   more\n:: when: N\n:: run: x.cmd\n:: look-for: L\n:: topics: pnp, usb\n"
        ":: docs: https://learn.microsoft.com/a\n::   https://learn.microsoft.com/b\n"
        "@echo off\npnputil /enum-drivers\n"
    )
    (s,) = list(curated_script.parse(cmd, SourceDoc("x.cmd", "script")))
    assert s.purpose == "W more" and s.topics == ("pnp", "usb")
    assert s.extra["docs"] == ["https://learn.microsoft.com/a", "https://learn.microsoft.com/b"]
    assert s.commands == "@echo off\npnputil /enum-drivers"
    ps = (
        "# title: T\n# what: W\n# when: N\n# run: x.ps1\n# look-for: L\n# topics: pnp\n"
        "# docs: https://learn.microsoft.com/a\nGet-PnpDevice\n"
    )
    (p,) = list(curated_script.parse(ps, SourceDoc("x.ps1", "script")))
    assert p.tool == "powershell" and p.commands == "Get-PnpDevice"


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("$$ title: x\n!analyze -v\n", "a.sh", "unknown script type"),
        ("", "a.wds", "missing header field 'title:'"),
        ("\n".join(f"$$ {f}: x" for f in curated_script.FIELDS), "a.wds", "no commands"),
    ],
)
def test_curated_errors(text: str, path: str, message: str):
    with pytest.raises(ParseError, match=message):
        list(curated_script.parse(text, SourceDoc(path, "script")))


@pytest.mark.corpus
def test_curated_docs_links_exist_in_the_docs_tree(corpus):
    names = set()
    with tarfile.open(corpus / "windows-driver-docs.tar.gz") as tar:
        for member in tar:
            names.add(member.name.removeprefix("./"))
    prefix = "https://learn.microsoft.com/windows-hardware/drivers/"
    for path in CURATED:
        (script,) = list(curated_script.parse(path.read_text(encoding="utf-8"), SourceDoc(path.name, "script")))
        for url in script.extra["docs"]:
            if url.startswith(prefix):
                assert f"windows-driver-docs-pr/{url[len(prefix):]}.md" in names, (path.name, url)
