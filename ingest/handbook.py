"""Parser for our own handbook (data/handbook/*.yml): one curated question-and-answer pair per entry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from ingest.markdown import learn_url
from kb.errors import ParseError
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta

KIND = "handbook"
CITE_PREFIXES = ("windows-driver-docs-pr/", "wdk-ddi-src/content/")
_PAIRS_KEY = re.compile(r"^pairs\s*:", re.M)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# A backticked DDI name: WdfRequestSend, IoCallDriver(), IRP_MN_START_DEVICE, KSPIN_LOCK.
_API_IN_CODE = re.compile(r"`((?:[A-Z][a-z0-9]+){1,}[A-Z][A-Za-z0-9]*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:\(\))?`")


def looks_like(text: str) -> bool:
    """Whether ``text`` is a handbook file: YAML whose top level has a ``pairs:`` list.

    Returns:
        True for a mapping with a ``pairs`` list (cheap check first, then a YAML parse).
    """
    if not _PAIRS_KEY.search(text):
        return False
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("pairs"), list)


def cite_link(path: str) -> str:
    """A markdown link to a cited docs page: ``[kernel/irp-mj-read](https://learn.microsoft.com/...)``.

    Raises:
        ParseError: the path is not a ``.md`` page of the docs or API-reference trees.
    """
    url = learn_url(path) if path.startswith(CITE_PREFIXES) and path.endswith(".md") else None
    if url is None:
        raise ParseError(f"cite {path!r} must be a windows-driver-docs-pr/...md or wdk-ddi-src/content/...md path")
    label = path.removeprefix("wdk-ddi-src/content/").removeprefix("windows-driver-docs-pr/").removesuffix(".md")
    return f"[{label}]({url})"


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Yield the file's SourceMeta, then one Pair per handbook entry.

    Each answer gets a final ``Sources:`` line linking the cited pages; the pair keeps the entry's
    topics, ``kind="handbook"``, ``locator={"entry": id}`` and ``extra={"cite": [...]}``.

    Args:
        text: the YAML file (``title:`` and ``pairs:`` with ``id``, ``question``, ``answer``, ``topics``, ``cite``).
        source: what the caller knows about the file.

    Raises:
        ParseError: not YAML, no ``pairs`` list, or an entry without id, question or answer, with a
            duplicate id, or with a malformed topics or cite list; the message names the entry.
    """
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: impossible dates such as 2024-13-45
        raise ParseError(f"not valid YAML: {_yaml_problem(exc)}; fix the syntax (quote strings with ': ')") from None
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
        raise ParseError("a handbook file needs a top-level `pairs:` list of entries")
    title = str(data.get("title") or "").strip()
    entries = [_entry(raw, i) for i, raw in enumerate(data["pairs"], start=1)]
    seen: set[str] = set()
    for entry in entries:
        if entry["id"] in seen:
            raise ParseError(f"entry {entry['id']!r}: duplicate id; ids must be unique within the file")
        seen.add(entry["id"])
    yield SourceMeta(title=title or source.path, description=str(data.get("description") or ""))
    for entry in entries:
        links = " · ".join(cite_link(path) for path in entry["cite"])
        answer = entry["answer"].rstrip() + (f"\n\nSources: {links}" if links else "")
        yield Pair(
            question=entry["question"],
            answer=answer,
            locator={"entry": entry["id"]},
            kind=KIND,
            topics=tuple(entry["topics"]),
            heading=title,
            api_names=_api_names(entry["question"] + "\n" + entry["answer"]),
            extra={"cite": list(entry["cite"])},
        )


def _entry(raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ParseError(f"entry #{index}: expected a mapping with id, question, answer, topics and cite")
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not _ID.match(entry_id):
        raise ParseError(f"entry #{index}: needs an `id` of lower-case letters, digits and dashes, got {entry_id!r}")
    name = f"entry {entry_id!r}"
    out: dict[str, Any] = {"id": entry_id}
    for key in ("question", "answer"):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ParseError(f"{name}: missing `{key}`; every entry needs a question and an answer")
        out[key] = value.strip() if key == "question" else value.strip("\n")
    for key in ("topics", "cite"):
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ParseError(f"{name}: `{key}` must be a list of strings, got {value!r}")
        out[key] = value
    for path in out["cite"]:
        try:
            cite_link(path)
        except ParseError as exc:
            raise ParseError(f"{name}: {exc}") from None
    return out


def _api_names(text: str) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for match in _API_IN_CODE.finditer(text):
        names.setdefault(match.group(1), None)
    return tuple(names)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else str(problem)
