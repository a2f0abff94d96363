"""The nouns every layer shares: what parsers yield and what the store keeps."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any


def locator_key(locator: dict[str, Any]) -> str:
    """Canonical, order-independent text form of a locator, used in stable references."""
    return json.dumps(locator, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_pair_id(source_path: str, locator: dict[str, Any]) -> str:
    """Stable pair id: derived from the source path and the locator only."""
    digest = hashlib.sha1(f"{source_path}\n{locator_key(locator)}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class SourceMeta:
    """Facts a parser learns about the whole file (title, canonical URL, API names)."""

    title: str = ""
    url: str | None = None
    description: str = ""
    api_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pair:
    """One question with its answer, cut from a source.

    ``locator`` says where in the source the pair comes from and, with the source
    path, gives the pair its stable id. Examples: ``{"section": "fixing-a-driver"}``,
    ``{"section": "remarks", "part": 2}``, ``{"fact": "irql"}``,
    ``{"question": [5, 7], "answer": [6]}``.
    """

    question: str
    answer: str
    locator: dict[str, Any]
    kind: str = "section"
    topics: tuple[str, ...] = ()
    heading: str = ""
    answered_by: str | None = None
    rank: int = 0
    api_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenQuestion:
    """A question nobody answered in its source (kept for maintainers, never served as an answer)."""

    question: str
    locator: dict[str, Any]
    asked_by: str | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Script:
    """Runnable commands (WinDbg, cmd, PowerShell) with the sample output kept apart."""

    commands: str
    tool: str
    locator: dict[str, Any]
    title: str = ""
    purpose: str = ""
    output: str = ""
    topics: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """A WDK sample driver from microsoft/Windows-driver-samples."""

    path: str
    title: str
    description: str = ""
    url: str = ""
    driver_types: tuple[str, ...] = ()
    inf_classes: tuple[str, ...] = ()
    ddi_calls: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


Record = SourceMeta | Pair | OpenQuestion | Script | Sample


@dataclass(frozen=True)
class SourceDoc:
    """What a parser is told about the file it parses: never file handles, only facts."""

    path: str
    kind: str
    url: str | None = None
