"""The ready-made catalog of Windows-driver-samples (driver-samples.json) read into Sample records."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from kb.errors import ParseError
from kb.models import Record
from kb.models import Sample
from kb.models import SourceDoc
from kb.models import SourceMeta

REPO = "microsoft/Windows-driver-samples"
REPO_URL = f"https://github.com/{REPO}"
DEFAULT_REF = "main"

_SHA = re.compile(r"^[0-9a-f]{7,40}$")


def blob_base(commit: str | None = None) -> str:
    """Base URL for file links into the samples repository.

    Args:
        commit: a commit id the line numbers were taken at; ``None`` falls back to ``main``.

    Returns:
        ``https://github.com/microsoft/Windows-driver-samples/blob/<commit or main>/`` (trailing slash).
    """
    return f"{REPO_URL}/blob/{commit or DEFAULT_REF}/"


def line_url(base: str, file: str, line: int) -> str:
    """GitHub link to one line of a sample source file.

    Args:
        base: the ``blob_base`` a Sample carries in ``extra["blob_base"]``.
        file: path relative to the repository root (posix).
        line: 1-based line number.

    Returns:
        ``<base><file>#L<line>``.
    """
    return f"{base}{file.lstrip('/')}#L{line}"


def tree_url(path: str, ref: str = DEFAULT_REF) -> str:
    """GitHub folder URL of a sample path (``tree/<ref>/<path>``)."""
    return f"{REPO_URL}/tree/{ref}/{path.strip('/')}".rstrip("/")


def looks_like(text: str) -> bool:
    """True when ``text`` looks like the samples catalog (JSON with ``samples`` and ``ddi_calls``).

    Args:
        text: the decompressed file text.

    Returns:
        A cheap guess from the first few kilobytes; ``parse`` still validates the schema.
    """
    head = text[:20000].lstrip()
    return head.startswith("{") and '"samples"' in head and '"ddi_calls"' in head


def _commit_of(doc: dict[str, Any]) -> str | None:
    for key in ("commit", "sha", "revision"):
        value = doc.get(key)
        if isinstance(value, str) and _SHA.match(value.strip().lower()):
            return value.strip()
    source = doc.get("source")
    # "microsoft/Windows-driver-samples@26a27df807" also names the commit.
    if isinstance(source, str) and "@" in source:
        tail = source.rsplit("@", 1)[1].strip()
        if _SHA.match(tail.lower()):
            return tail
    return None


def _clean_class(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    # INF files sometimes quote the class name (Class="ActivityMonitor").
    cleaned = value.strip().strip('"').strip()
    return cleaned or None


def _inf_classes(infs: list[dict[str, Any]]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for inf in infs:
        name = _clean_class(inf.get("class"))
        if name and name.lower() != "none":
            seen.setdefault(name.lower(), name)
    return tuple(seen.values())


def _ddi_calls(raw: Any, where: str) -> dict[str, list[tuple[str, int]]]:
    if not isinstance(raw, dict):
        raise ParseError(f"{where}: 'ddi_calls' must be an object of name -> [[file, line], ...]")
    calls: dict[str, list[tuple[str, int]]] = {}
    for name, places in raw.items():
        if not isinstance(places, list):
            raise ParseError(f"{where}: ddi_calls[{name!r}] must be a list of [file, line] pairs")
        out: list[tuple[str, int]] = []
        for place in places:
            if not (isinstance(place, list | tuple) and len(place) == 2 and isinstance(place[0], str)):
                raise ParseError(f"{where}: ddi_calls[{name!r}] holds {place!r}; expected [file, line]")
            try:
                out.append((place[0], int(place[1])))
            except (TypeError, ValueError):
                raise ParseError(f"{where}: ddi_calls[{name!r}] has a non-integer line {place[1]!r}") from None
        calls[str(name)] = out
    return calls


def _sample(item: Any, index: int, default_commit: str | None) -> Sample:
    where = f"samples[{index}]"
    if not isinstance(item, dict):
        raise ParseError(f"{where} is a {type(item).__name__}; each sample must be an object")
    path = item.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ParseError(f"{where} has no 'path'; every sample needs its folder path in the repository")
    where = f"sample {path!r}"
    infs = item.get("infs") or []
    projects = item.get("projects") or []
    if not isinstance(infs, list) or not isinstance(projects, list):
        raise ParseError(f"{where}: 'infs' and 'projects' must be lists")
    commit = _commit_of(item) or default_commit
    extra: dict[str, Any] = {
        "projects": projects,
        "infs": infs,
        "source_files": item.get("source_files", 0),
        "blob_base": blob_base(commit),
    }
    if commit:
        extra["commit"] = commit
    types = item.get("driver_types") or []
    return Sample(
        path=path.strip("/"),
        title=str(item.get("title") or path.rsplit("/", 1)[-1]),
        description=str(item.get("description") or ""),
        url=str(item.get("url") or tree_url(path)),
        driver_types=tuple(str(t) for t in types),
        inf_classes=_inf_classes([i for i in infs if isinstance(i, dict)]),
        ddi_calls=_ddi_calls(item.get("ddi_calls", {}), where),
        extra=extra,
    )


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Read the samples catalog JSON.

    Args:
        text: the decompressed text of ``driver-samples.json.gz`` (the caller decompresses).
        source: facts about the file; ``source.url`` is ignored (the catalog names its repository).

    Yields:
        One SourceMeta (title, repository URL, ``extra={"samples": count, "commit": ...}``), then one
        Sample per catalog entry, in file order. ``Sample.extra`` holds ``projects``, ``infs``,
        ``source_files``, ``blob_base`` (for ``line_url``) and ``commit`` when the catalog names one.

    Raises:
        ParseError: the text is not JSON or does not follow the catalog schema.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON ({exc.msg} at line {exc.lineno}); pass the decompressed catalog text") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("samples"), list):
        raise ParseError("not a samples catalog: expected an object with a 'samples' list")
    commit = _commit_of(doc)
    samples = [_sample(item, i, commit) for i, item in enumerate(doc["samples"])]
    extra: dict[str, Any] = {"samples": len(samples)}
    if commit:
        extra["commit"] = commit
    yield SourceMeta(
        title="Windows driver samples catalog",
        url=REPO_URL,
        description=f"{len(samples)} sample drivers from {doc.get('source') or REPO}",
        extra=extra,
    )
    yield from samples
