"""Decide a file's format from its path and first bytes, and decode its text."""

from __future__ import annotations

import codecs
import importlib
import json
import re

from kb.errors import ParseError

_FRONT_MATTER_RE = re.compile(r"\A\ufeff?---\s*\n(.*?)\n---\s*(\n|\Z)", re.S)
NOT_A_SOURCE = "not-a-source"


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM) or UTF-16 with a BOM.

    Raises:
        ParseError: binary content or an encoding we cannot read.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid UTF-16 text at byte {exc.start}") from None
    nul = data.find(b"\x00")  # the whole file: a NUL past the first 8 KB still means binary or corrupt
    if nul >= 0:
        raise ParseError(f"binary file (NUL byte at offset {nul}): not a text source")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid UTF-8 at byte {exc.start}: save the file as UTF-8") from None


def _looks_like(module: str, text: str) -> bool:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    func = getattr(mod, "looks_like", None)
    return bool(func and func(text))


def _is_json(text: str) -> bool:
    if text.lstrip()[:1] not in ("{", "["):  # a markdown page may start with "[link](...)": that fails below
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def detect(path: str, text: str) -> str:
    """The format name (a key of ``ingest.PARSERS``) for a file, or ``NOT_A_SOURCE``.

    ``NOT_A_SOURCE`` marks files that belong to a tree but hold no content (tables of
    contents, include snippets, docfx config).

    Raises:
        ParseError: the file should hold content but matches no known format.
    """
    lower = path.lower()
    name = lower.rsplit("/", 1)[-1]
    head = text[:4000]
    if lower.endswith((".yml", ".yaml")):
        return "handbook" if _looks_like("ingest.handbook", text) else NOT_A_SOURCE
    if lower.endswith((".wds", ".ps1", ".cmd")):
        return "curated-script"
    if lower.endswith(".xml"):
        if "<posts" in head.lower() or "<row " in head:
            return "stackexchange"
        return NOT_A_SOURCE
    if lower.endswith(".mbox") or name == "mbox":
        return "mbox"
    if lower.endswith(".json"):
        for fmt, module in (("samples-catalog", "ingest.samples_catalog"), ("discourse", "ingest.discourse"),
                            ("slack-export", "ingest.slack_export")):
            if _looks_like(module, text):
                return fmt
        if name in {"channels.json", "users.json", "integration_logs.json", "canvases.json", "dms.json",
                    "groups.json", "mpims.json", "docfx.json"} or name.endswith("metadata.json"):
            return NOT_A_SOURCE
        raise ParseError("JSON file of no known export format (Discourse topic, Slack export day, samples catalog)")
    if lower.endswith(".md"):
        if _is_json(text):
            raise ParseError("JSON content in a .md file: rename it to .json if it is an export, else fix its content")
        if "/includes/" in lower or lower.startswith("includes/"):
            return NOT_A_SOURCE
        if "wdk-ddi-src/" in lower:
            return "api-ref"
        if "windows-driver-docs-pr/" in lower:
            return "learn-doc"
        if name == "readme.md":
            return "sample-readme"
        match = _FRONT_MATTER_RE.match(head)
        if match and re.search(r"^(UID|api_name):", match.group(1), re.M):
            return "api-ref"
        return "learn-doc"
    if lower.endswith(".txt"):
        if _FRONT_MATTER_RE.match(head):
            fm = _FRONT_MATTER_RE.match(head).group(1)
            return "api-ref" if re.search(r"^(UID|api_name):", fm, re.M) else "learn-doc"
        for fmt, module in (("thread", "ingest.thread"), ("api-text", "ingest.apitext"), ("article", "ingest.article"),
                            ("mbox", "ingest.mbox")):
            if _looks_like(module, text):
                return fmt
        if head.lstrip().startswith("#"):
            return "learn-doc"
        raise ParseError("text file of no known format: pass --format (learn-doc, api-text, thread, article, mbox)")
    return NOT_A_SOURCE
