"""One curated script from data/scripts/ (WinDbg .wds/.txt, PowerShell .ps1, cmd .cmd/.bat) with its header."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from kb.errors import ParseError
from kb.models import Record
from kb.models import Script
from kb.models import SourceDoc

# Header fields every curated script must have, in the order we write them.
FIELDS: tuple[str, ...] = ("title", "what", "when", "run", "look-for", "topics", "docs")
TOOL_BY_EXT = {".wds": "windbg", ".txt": "windbg", ".ps1": "powershell", ".cmd": "cmd", ".bat": "cmd"}
# What starts a comment line in each tool, for the header.
COMMENT = {"windbg": ("$$",), "powershell": ("#",), "cmd": ("::", "rem ", "REM ", "Rem ")}
HOW_TO_COMMENT = {"windbg": "$$ ", "powershell": "# (or a <# ... #> block)", "cmd": ":: "}

_FIELD = re.compile(r"^([a-z][a-z-]*)\s*:\s?(.*)$")


def tool_for(path: str) -> str:
    """The tool that runs a script file, from its extension.

    Args:
        path: the script's file name or path.

    Returns:
        ``windbg``, ``powershell`` or ``cmd``.

    Raises:
        ParseError: the extension is not one of .wds, .txt, .ps1, .cmd, .bat.
    """
    ext = posixpath.splitext(path.replace("\\", "/"))[1].lower()
    try:
        return TOOL_BY_EXT[ext]
    except KeyError:
        known = ", ".join(sorted(TOOL_BY_EXT))
        raise ParseError(f"unknown script type {ext or '(none)'!r}; name the file with one of: {known}") from None


def _strip_comment(line: str, tool: str) -> str | None:
    stripped = line.lstrip()
    for marker in COMMENT[tool]:
        if stripped.startswith(marker):
            rest = stripped[len(marker) :]
            # One space separates the marker from the text; more spaces mark a continuation line.
            return rest[1:] if rest.startswith(" ") and not marker.endswith(" ") else rest
    return None


def _header_lines(lines: list[str], tool: str) -> tuple[list[str], int]:
    """The header's text lines without comment markers, and the index of the first body line."""
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if tool == "powershell" and i < len(lines) and lines[i].strip().startswith("<#"):
        out = []
        first = lines[i].strip()[2:]
        if "#>" in first:
            return [first.split("#>", 1)[0]], i + 1
        if first.strip():
            out.append(first)
        j = i + 1
        while j < len(lines) and "#>" not in lines[j]:
            out.append(lines[j])
            j += 1
        if j < len(lines):
            out.append(lines[j].split("#>", 1)[0])
        return out, j + 1
    out = []
    while i < len(lines):
        text = _strip_comment(lines[i], tool)
        if text is None:
            break
        out.append(text)
        i += 1
    return out, i


def parse_header(lines: list[str]) -> dict[str, str]:
    """Read ``key: value`` header lines; indented lines continue the previous field.

    Args:
        lines: header lines with the comment markers already removed.

    Returns:
        Field name -> value (continuations joined with a space).
    """
    fields: dict[str, str] = {}
    last: str | None = None
    for raw in lines:
        if not raw.strip():
            last = None
            continue
        # Unindented "key: value" starts a field; indented lines continue it (URLs, long sentences).
        match = None if raw[:1] in " \t" else _FIELD.match(raw.rstrip())
        if match:
            last = match.group(1)
            fields[last] = match.group(2).strip()
        elif last is not None:
            fields[last] = f"{fields[last]} {raw.strip()}".strip()
    return fields


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Read one curated script file.

    Args:
        text: the file text: a header in the file type's comment syntax (``$$`` for WinDbg,
            ``<# #>`` or ``#`` for PowerShell, ``::`` or ``rem`` for cmd) with the fields title, what,
            when, run, look-for, topics, docs; then the commands.
        source: ``source.path`` gives the extension (the tool) and the locator.

    Yields:
        One Script: ``commands`` = the body after the header, ``tool`` from the extension,
        ``title``, ``purpose`` (what), ``topics`` (comma-separated ids), ``locator={"script": file name}``,
        ``extra={"when", "run", "look_for", "docs": [urls], "file"}``.

    Raises:
        ParseError: the extension is unknown, a header field is missing or empty, or there are no
            commands after the header.
    """
    tool = tool_for(source.path)
    lines = text.splitlines()
    header, body_start = _header_lines(lines, tool)
    fields = parse_header(header)
    name = posixpath.basename(source.path.replace("\\", "/"))
    for key in FIELDS:
        if not fields.get(key):
            raise ParseError(
                f"missing header field '{key}:' in {name}; add a line '{HOW_TO_COMMENT[tool]}{key}: ...' to the "
                f"header at the top (fields: {', '.join(FIELDS)})"
            )
    commands = "\n".join(lines[body_start:]).strip("\n")
    if not commands.strip():
        raise ParseError(f"{name} has a header but no commands after it; add the commands below the header")
    topics = tuple(t.strip() for t in re.split(r"[,\s]+", fields["topics"]) if t.strip())
    docs = [u for u in re.split(r"[\s,]+", fields["docs"]) if u]
    yield Script(
        commands=commands,
        tool=tool,
        locator={"script": name},
        title=fields["title"],
        purpose=fields["what"],
        topics=topics,
        extra={
            "when": fields["when"],
            "run": fields["run"],
            "look_for": fields["look-for"],
            "docs": docs,
            "file": name,
        },
    )
