"""Domain exceptions. Each message says what to do about it; adapters translate them."""

from __future__ import annotations


class KBError(Exception):
    """Base class for every error Driver KB raises on purpose."""

    status = 500


class ParseError(KBError):
    """A source file could not be parsed."""

    status = 422


class UnknownFormat(KBError):
    """No parser is known for a file or a --format name."""

    status = 400


class IndexNotBuilt(KBError):
    """The vector index is missing: run `kb ingest` (or `kb index`) first."""

    status = 503


class IndexMismatch(KBError):
    """The saved index was built with another model or dimension: rebuild it with `kb index`."""

    status = 503


class BadQuery(KBError):
    """A search request that cannot be answered as given."""

    status = 400


class NotFound(KBError):
    """A pair, sample, script or topic that does not exist."""

    status = 404


class UnknownTopic(NotFound):
    """A topic id that is not in data/topics.yml."""


class MissingDependency(KBError):
    """An optional package is needed for this feature."""
