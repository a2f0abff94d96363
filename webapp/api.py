"""JSON API blueprint (/api/*) and the request validation shared with the HTML search page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import jsonify
from flask import request
from werkzeug.datastructures import MultiDict

from kb.errors import BadQuery
from webapp import get_kb

bp = Blueprint("api", __name__, url_prefix="/api")

# C0 controls and DEL mean nothing to a search; they become spaces instead of reaching FTS.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]+")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class SearchArgs:
    """A validated search request: the arguments of ``KBService.search``."""

    query: str
    k: int | None
    topics: tuple[str, ...]
    kinds: tuple[str, ...]


def clean_query(raw: str | None) -> str:
    """Control characters to spaces, whitespace collapsed and trimmed."""
    return _SPACE_RE.sub(" ", _CONTROL_RE.sub(" ", raw or "")).strip()


def _multi(args: MultiDict[str, str], name: str) -> tuple[str, ...]:
    # ?topic=irql&topic=kmdf and ?topic=irql,kmdf mean the same; order kept, duplicates dropped.
    values: dict[str, None] = {}
    for raw in args.getlist(name):
        for part in raw.split(","):
            part = part.strip()
            if part:
                values.setdefault(part, None)
    return tuple(values)


def parse_search_args(args: MultiDict[str, str], require_query: bool = True) -> SearchArgs:
    """Validate ``q``, ``k``, ``topic`` and ``kind`` from a query string.

    Args:
        args: ``request.args``.
        require_query: raise on an empty ``q`` (the HTML page shows its intro instead).

    Returns:
        SearchArgs; ``k`` is None when not given (the KB then uses TOP_K).

    Raises:
        BadQuery: empty or too long ``q``, or ``k`` not an integer in 1..MAX_K.
    """
    config = current_app.config
    max_chars = int(config["MAX_QUERY_CHARS"])
    max_k = int(config["MAX_K"])
    raw_q = args.get("q", "")
    if len(raw_q) > max_chars:
        raise BadQuery(f"The query is {len(raw_q)} characters long; shorten it to at most {max_chars}.")
    query = clean_query(raw_q)
    if require_query and not query:
        raise BadQuery("Missing query: pass ?q= with a question, an API name (KeSetEvent) or an error code (0xD1).")
    k: int | None = None
    raw_k = args.get("k", "").strip()
    if raw_k:
        try:
            k = int(raw_k)
        except ValueError:
            raise BadQuery(f"k={raw_k[:20]!r} is not a number: pass an integer from 1 to {max_k}.") from None
        if not 1 <= k <= max_k:
            raise BadQuery(f"k={k} is out of range: pass an integer from 1 to {max_k}.")
    return SearchArgs(query=query, k=k, topics=_multi(args, "topic"), kinds=_multi(args, "kind"))


@bp.get("/search")
def search() -> Any:
    """``GET /api/search?q=&k=&topic=&kind=``: the KB search result dict."""
    params = parse_search_args(request.args)
    return jsonify(get_kb().search(params.query, k=params.k, topics=params.topics, kinds=params.kinds))


@bp.get("/pairs/<pair_id>")
def pair(pair_id: str) -> Any:
    """``GET /api/pairs/<id>``: one pair with its ``related`` pairs."""
    return jsonify(get_kb().get_pair(pair_id))


@bp.get("/topics")
def topics() -> Any:
    """``GET /api/topics``: ``{"topics": [{"id", "name", "description", "count"}]}``."""
    return jsonify({"topics": get_kb().topics()})


@bp.get("/stats")
def stats() -> Any:
    """``GET /api/stats``: counts of sources, pairs, samples, scripts and the index status."""
    return jsonify(get_kb().stats())


@bp.get("/health")
def health() -> Any:
    """``GET /api/health``: ``{"ok": true, "index": {...}}``, or the error shape (e.g. 503) when the KB cannot serve."""
    return jsonify({"ok": True, "index": get_kb().stats().get("index", {})})
