"""Runnable snippets (WinDbg sessions, cmd and PowerShell commands) pulled out of markdown fenced blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

from ingest.sample_readme import split_front_matter
from kb.models import Record
from kb.models import Script
from kb.models import SourceDoc
from kb.models import SourceMeta

TOOL_LABELS = {"windbg": "WinDbg", "cmd": "cmd", "powershell": "PowerShell"}

# Fence tags that can hold commands; anything else (c, cpp, inf, xml, ...) is code and never a script.
SHELL_TAGS = frozenset({"", "dbgcmd", "windbg", "kd", "console", "cmd", "command", "bat", "batch", "dos",
                        "powershell", "ps", "ps1", "pwsh", "syntax", "dbgsyntax", "text", "txt", "shell"})
PS_TAGS = frozenset({"powershell", "ps", "ps1", "pwsh"})
DBG_TAGS = frozenset({"dbgcmd", "windbg", "kd", "dbgsyntax"})

_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([^\s`{]*)")
_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
# WinDbg prompts: kd>, 0: kd>, 1: kd>, lkd>, 0:000>, 0:000:x86>.
_DBG_PROMPT = re.compile(r"^\s*(?:(?:\d+:\s*)?l?kd|\d+:\d+(?::\w+)?)>\s?(.*)$")
# Console prompts: C:\>, C:\KDNET>, PS C:\Users\me>, PS>.
_CON_PROMPT = re.compile(r"^\s*(PS\s+)?[A-Za-z]:\\[^>\n]*>\s?(.*)$|^\s*(PS)>\s?(.*)$")
_BARE_PROMPT = re.compile(r"^>\s?(\S.*)$")
TOOLS = (
    "pnputil devcon verifier bcdedit tracelog tracefmt tracepdb tracewpp tracerpt signtool inf2cat makecert "
    "certmgr certutil msbuild infverif stampinf kdnet logman wpr xperf gflags windbg windbgx kd cdb ntsd "
    "poolmon sc reg shutdown wevtutil devgen drvload dism umdh livekd dumpchk symchk symstore dvl usbview "
    "infdefaultinstall rundll32 sfc powercfg"
)
_TOOL = re.compile(
    r"^\s*(?:[A-Za-z]:\\(?:[^\s\"]+\\)*|\"[^\"]*\\)?(" + "|".join(TOOLS.split()) + r")(?:\.exe)?\"?"
    r"(?=\s+[-/\"\w\\.*<%]|\s*$)",
    re.I,
)
# Tools whose first plain word is the action ("reg add", "sc query", "devcon status").
_VERB_TOOLS = frozenset({"reg", "sc", "devcon", "logman", "wevtutil", "certutil"})
_CMD_BUILTIN = re.compile(r"^\s*(cd|copy|xcopy|robocopy|set|mkdir|md|del|dir|type|findstr|net|start)\s+\S", re.I)
_CMDLET = re.compile(
    r"^\s*(?:\$[\w:]+\s*=\s*)?(?:&\s*)?((?:Get|Set|New|Remove|Add|Enable|Disable|Start|Stop|Restart|Export|"
    r"Import|Invoke|Select|Where|Test|Install|Uninstall|Clear|Mount|Dismount|Format|Out|Write|Register|"
    r"Unregister|Update|Copy|Move|Rename|Resolve|Convert|ConvertTo|ConvertFrom|Measure|Sort|Wait|Find)"
    r"-[A-Z][A-Za-z]+)\b"
)
_DBG_CMD = re.compile(
    r"^\s*(?:!\w[\w.]*|\.\w+|\$\$[<>]?|~\S*|\?\?|k[bcdpPvn]?|kv|lm\w*|dt|dx|dv|d[abcdqwpsu]|dps|dqs|u[fb]?|r|g[hnu]?|"
    r"p|t|b[pumalcde]|x|ln|sx[deni]?|q[dq]?|ed|eq|eb|s|\?)(?=\s|$)"
)
# "[Flags]", "{a | b}" and "<a | b>" mark syntax descriptions, not commands to run.
_SYNTAX = re.compile(r"\[[^\]\s]*[A-Za-z][^\]]*\]|\{[^}]*\|[^}]*\}|<[^>]*\|[^>]*>")
_PLACEHOLDER = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*\b|\b(?:Address|Object|Handle|Flags|Options|Processor|Detail)\b")


@dataclass
class _Block:
    index: int
    tag: str
    lines: list[str]
    heading: str
    lead: str  # the paragraph just before the block


@dataclass
class _Found:
    tool: str
    commands: list[str]
    output: list[str]
    blocks: list[int] = field(default_factory=list)


def _clean_inline(text: str) -> str:
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*`]|:::no-loc text=\"([^\"]*)\":::", lambda m: m.group(1) or "", text)
    return re.sub(r"\s+", " ", text).strip()


def _blocks(markdown: str) -> Iterator[_Block]:
    lines = markdown.splitlines()
    heading, para, index, i = "", [], 0, 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE_OPEN.match(line)
        if m:
            indent, fence, tag = len(m.group(1)), m.group(2), m.group(3).lower()
            body: list[str] = []
            i += 1
            while i < len(lines):
                stripped = lines[i].strip()
                if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                    break
                raw = lines[i]
                # Drop the fence's own indentation (blocks nested in numbered steps).
                body.append(raw[min(indent, len(raw) - len(raw.lstrip(" \t"))) :])
                i += 1
            yield _Block(index, tag, body, heading, _clean_inline(" ".join(para))[:300])
            index += 1
            para = []
            i += 1
            continue
        h = _HEADING.match(line)
        if h:
            # Docs headings are often only <span id=...> anchors: keep the last readable one.
            heading = _clean_inline(h.group(2)) or heading
            para = []
        elif not line.strip():
            pass
        elif re.match(r"^\s*(?:\d+\.|[-*+])\s+", line) or not para or not lines[i - 1].strip():
            para = [line.strip()]
        else:
            para.append(line.strip())
        i += 1


def _is_console_command(line: str) -> bool:
    return bool(_TOOL.match(line) or _CMDLET.match(line) or _CMD_BUILTIN.match(line))


def _is_dbg_command(line: str) -> bool:
    return bool(_DBG_CMD.match(line))


def _session(block: _Block) -> _Found | None:
    lines = [ln.rstrip() for ln in block.lines]
    nonblank = [ln for ln in lines if ln.strip()]
    if not nonblank or block.tag not in SHELL_TAGS or block.tag == "output":
        return None
    if any(_DBG_PROMPT.match(ln) for ln in nonblank):
        commands, output = [], []
        for ln in lines:
            m = _DBG_PROMPT.match(ln)
            if m:
                if m.group(1).strip():
                    commands.append(m.group(1).strip())
            elif ln.strip():
                output.append(ln)
        return _Found("windbg", commands, output) if commands else None
    con = [(_CON_PROMPT.match(ln), ln) for ln in lines]
    if any(m for m, _ in con):
        commands, output, ps = [], [], block.tag in PS_TAGS
        for m, ln in con:
            if m:
                text = (m.group(2) if m.group(2) is not None else m.group(4) or "").strip()
                ps = ps or bool(m.group(1) or m.group(3)) or bool(_CMDLET.match(text))
                if text:
                    commands.append(text)
            elif ln.strip():
                output.append(ln)
        return _Found("powershell" if ps else "cmd", commands, output) if commands else None
    if block.tag in {"cmd", "console", "command", "bat", "batch"} and any(_BARE_PROMPT.match(ln) for ln in nonblank):
        commands = [_BARE_PROMPT.match(ln).group(1).strip() for ln in nonblank if _BARE_PROMPT.match(ln)]
        output = [ln for ln in nonblank if not _BARE_PROMPT.match(ln)]
        return _Found("cmd", commands, output)
    return _promptless(block, nonblank)


def _only_placeholders(line: str) -> bool:
    args = line.split()[1:]
    return bool(args) and all(_PLACEHOLDER.fullmatch(a) for a in args)


def _promptless(block: _Block, nonblank: list[str]) -> _Found | None:
    syntaxy = block.tag in {"syntax", "dbgsyntax"}
    if block.tag in PS_TAGS:
        code = [ln for ln in nonblank if not ln.lstrip().startswith("#")]
        if any(_CMDLET.match(ln) or _TOOL.match(ln) for ln in code):
            return _Found("powershell", [ln for ln in nonblank], [])
        return None
    if all(_is_dbg_command(ln) for ln in nonblank) and (
        block.tag in DBG_TAGS or any(ln.lstrip()[:1] in "!." for ln in nonblank)
    ):
        if syntaxy or any(_SYNTAX.search(ln) for ln in nonblank):
            return None
        # A lone "!obtrace Object" is the reference page's syntax line, not something to run.
        if len(nonblank) == 1 and _PLACEHOLDER.search(nonblank[0].split(None, 1)[-1] if " " in nonblank[0] else ""):
            return None
        # "!dpa Options" lines are syntax from a reference page, not commands to run.
        runnable = [ln.strip() for ln in nonblank if not _only_placeholders(ln)]
        return _Found("windbg", runnable, []) if runnable else None
    cmdlets = [ln for ln in nonblank if _CMDLET.match(ln)]
    # Variables, pipes and comments mean a PowerShell script: every line belongs to it.
    if cmdlets and any(ln.lstrip()[:1] in "$#" or " | " in ln for ln in nonblank):
        return _Found("powershell", [ln.rstrip() for ln in nonblank], [])
    commands, output, seen_command = [], [], False
    for ln in nonblank:
        if _is_console_command(ln) and not _SYNTAX.search(ln):
            commands.append(ln.strip())
            seen_command = True
        elif seen_command:
            output.append(ln)
        else:
            # Text before the first command (a syntax line, a banner): not part of the script.
            continue
    if not any(_TOOL.match(c) or _CMDLET.match(c) for c in commands):
        return None
    tool = "powershell" if any(_CMDLET.match(c) for c in commands) else "cmd"
    return _Found(tool, commands, output)


def _command_name(tool: str, command: str) -> str:
    parts = command.split()
    if not parts:
        return ""
    first = parts[0]
    if tool == "windbg":
        # "ba w4 addr" -> "ba w4"; everything else by its first word ("!object", ".reload").
        if first.lower() in {"ba"} and len(parts) > 1:
            return f"{first} {parts[1]}"
        return first
    m = _CMDLET.match(command)
    if m:
        return m.group(1)
    m = _TOOL.match(command)
    name = m.group(1).lower() if m else first.rsplit("\\", 1)[-1].lower().removesuffix(".exe")
    if name in _VERB_TOOLS and len(parts) > 1 and parts[1].isalpha():
        return f"{name} {parts[1].lower()}"
    switch = next((p for p in parts[1:] if p[:1] in "/-" and len(p) > 1), None)
    return f"{name} {switch}" if switch else name


def _title(found: _Found) -> str:
    names: list[str] = []
    for command in found.commands:
        if found.tool == "powershell" and not (_CMDLET.match(command) or _TOOL.match(command)):
            continue  # "$x = ..." and "}" lines do not name what the script does
        name = _command_name(found.tool, command)
        if name and name not in names:
            names.append(name)
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return f"{TOOL_LABELS[found.tool]}: {shown}"


def extract_scripts(markdown: str, source_path: str) -> list[Script]:
    """Find the runnable snippets in a markdown text.

    A fenced block counts when it holds a WinDbg session (``kd>``, ``0: kd>``, ``lkd>``, ``0:000>``
    prompts), console commands (``C:\\>``, ``PS C:\\>`` prompts, or lines starting with a known tool:
    pnputil, verifier, bcdedit, tracelog, signtool, ...) or PowerShell cmdlets. Prompts are stripped;
    lines without a prompt after a command are kept apart as output. Consecutive blocks of the same
    tool under one heading form one Script (a procedure's steps). C code, INF text and syntax lines
    (``[Flags]``, ``{a | b}``) are not scripts.

    Args:
        markdown: an answer or a whole page (front matter allowed).
        source_path: the file the text came from (kept in ``extra["source_path"]``).

    Returns:
        Scripts in text order: ``tool`` in {windbg, cmd, powershell}, ``title`` like
        ``"WinDbg: !object, ba w4"``, ``purpose`` = the sentence that introduces the block (or the
        heading), ``locator={"block": n}`` (index of the first fenced block, 0-based), ``extra`` with
        ``heading``, ``blocks``, ``lang`` and ``source_path``.
    """
    _fields, body = split_front_matter(markdown)
    merged: list[tuple[_Found, _Block]] = []
    last_heading: str | None = None
    for block in _blocks(body):
        found = _session(block)
        if found is None:
            continue
        found.blocks = [block.index]
        if merged and merged[-1][0].tool == found.tool and last_heading == block.heading:
            prev = merged[-1][0]
            prev.commands.extend(found.commands)
            prev.output.extend(found.output)
            prev.blocks.append(block.index)
        else:
            merged.append((found, block))
        last_heading = block.heading
    scripts = []
    for found, first in merged:
        scripts.append(
            Script(
                commands="\n".join(found.commands),
                tool=found.tool,
                locator={"block": first.index},
                title=_title(found),
                purpose=first.lead or first.heading,
                output="\n".join(found.output),
                extra={"heading": first.heading, "blocks": found.blocks, "lang": first.tag,
                       "source_path": source_path},
            )
        )
    return scripts


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Yield the scripts of a whole markdown file.

    Args:
        text: the markdown file.
        source: facts about the file (path, URL).

    Yields:
        One SourceMeta (front-matter ``title`` or the first heading, ``source.url``), then the Scripts
        from ``extract_scripts``. A file without runnable blocks yields only the SourceMeta.
    """
    fields, body = split_front_matter(text)
    title = str(fields.get("title") or "")
    if not title:
        m = re.search(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", body, re.M)
        title = _clean_inline(m.group(1)) if m else ""
    yield SourceMeta(title=title, url=source.url)
    yield from extract_scripts(text, source.path)
