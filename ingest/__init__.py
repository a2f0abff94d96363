"""Source formats and their parsers: one pure module per format.

Each parser is ``parse(text: str, source: SourceDoc) -> Iterator[Record]`` and does no I/O.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from collections.abc import Iterator

from kb.errors import UnknownFormat
from kb.models import Record
from kb.models import SourceDoc

Parser = Callable[[str, SourceDoc], Iterator[Record]]

# format name -> (module:function, source kind stored with the pairs)
PARSERS: dict[str, tuple[str, str]] = {
    "learn-doc": ("ingest.learn:parse", "learn-doc"),
    "api-ref": ("ingest.apiref:parse", "api-ref"),
    "api-text": ("ingest.apitext:parse", "api-ref"),
    "handbook": ("ingest.handbook:parse", "handbook"),
    "thread": ("ingest.thread:parse", "thread"),
    "article": ("ingest.article:parse", "article"),
    "discourse": ("ingest.discourse:parse", "discourse"),
    "mbox": ("ingest.mbox:parse", "mbox"),
    "stackexchange": ("ingest.stackexchange:parse", "stackexchange"),
    "slack-export": ("ingest.slack_export:parse", "slack-export"),
    "samples-catalog": ("ingest.samples_catalog:parse", "samples-catalog"),
    "sample-readme": ("ingest.sample_readme:parse", "sample-readme"),
    "curated-script": ("ingest.curated_script:parse", "curated-script"),
    "scripts": ("ingest.scripts:parse", "scripts"),
}


def get_parser(name: str) -> Parser:
    """Return the parse function registered under ``name``.

    Raises:
        UnknownFormat: no parser has that name.
    """
    try:
        target, _kind = PARSERS[name]
    except KeyError:
        known = ", ".join(sorted(PARSERS))
        raise UnknownFormat(f"unknown format {name!r}; use one of: {known}") from None
    module_name, func = target.split(":")
    return getattr(importlib.import_module(module_name), func)


def kind_of(name: str) -> str:
    """The source kind stored for files parsed by format ``name``."""
    return PARSERS[name][1]
