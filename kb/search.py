"""Hybrid search: keyword legs (stemmed prose, exact identifiers) + dense leg, fused by RRF.

One function, ``search``, serves every adapter. Each leg returns pair row numbers best first;
``rrf`` fuses them; pairs of an API reference page the query names come first; near-duplicates
are dropped from the top.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlite_utils import Database

from kb.errors import BadQuery
from kb.store import extract_identifiers
from kb.store import loads
from kb.store import rows

WORD_RE = re.compile(r"[A-Za-z0-9_]+")
STOPWORDS = frozenset(
    """a an and are as at be but by can could do does did for from how i if in into is it its me my of on or our
    so that the their them then there these this to was we what when where which who why will with would you your
    should get got use using used any some have has had not no yes than too very just about also after before
    am been being here while way make makes need needs want wants know help please thanks hi hello""".split()
)


@dataclass
class Filters:
    """Restrictions every leg applies: topic ids and source kinds (empty = no restriction)."""

    topics: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def sql(self, alias: str = "p") -> tuple[str, list[Any]]:
        """A WHERE fragment (starting with AND) and its parameters."""
        parts = [f"{alias}.hidden = 0"]
        params: list[Any] = []
        if self.topics:
            parts.append(f"{alias}.n IN (SELECT pair_n FROM pair_topics "
                         f"WHERE topic IN ({','.join('?' * len(self.topics))}))")
            params.extend(self.topics)
        if self.kinds:
            parts.append(f"{alias}.source IN (SELECT path FROM sources "
                         f"WHERE kind IN ({','.join('?' * len(self.kinds))}))")
            params.extend(self.kinds)
        return " AND " + " AND ".join(parts), params


def query_terms(query: str) -> list[str]:
    """Lowercased content words of a query (stopwords dropped, order kept, no duplicates)."""
    seen: dict[str, None] = {}
    for word in WORD_RE.findall(query):
        lower = word.lower()
        if lower not in STOPWORDS and (len(lower) > 1 or lower.isdigit()):
            seen.setdefault(lower, None)
    return list(seen)


def fts_or(terms: Sequence[str]) -> str:
    """An FTS5 query matching any of the terms, each quoted so no FTS syntax can leak in."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def rrf(rankings: Sequence[tuple[Sequence[int], float]], k: int = 60) -> dict[int, float]:
    """Weighted Reciprocal Rank Fusion.

    Args:
        rankings: (ids best first, weight) per leg.
        k: the RRF constant; larger flattens the curve.

    Returns:
        id -> fused score (sum of weight / (k + rank), rank from 1).
    """
    fused: dict[int, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


class TermStats:
    """Document frequencies of query terms in ``pairs_fts``, cached for a few minutes (ingest changes them slowly).

    A term in more than half of all pairs gets an inverse document frequency of zero from FTS5's bm25, so it cannot
    change the order of the other terms' matches; it only makes FTS5 score most of the table. ``informative``
    drops such terms (unless nothing else is left).
    """

    TTL = 300.0
    MAX_TERMS = 20_000

    def __init__(self) -> None:
        self._df: dict[tuple[int, str, int], tuple[float, int]] = {}
        self._total: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _cached(self, cache: dict[Any, tuple[float, int]], key: Any, compute: Any) -> int:
        now = time.monotonic()
        with self._lock:
            hit = cache.get(key)
        if hit and now - hit[0] < self.TTL:
            return hit[1]
        value = int(compute())
        with self._lock:
            if len(cache) >= self.MAX_TERMS:
                cache.clear()
            cache[key] = (now, value)
        return value

    def total(self, db: Database) -> int:
        return self._cached(self._total, id(db.conn), lambda: db.execute("SELECT count(*) FROM pairs").fetchone()[0])

    def df(self, db: Database, term: str, cap: int) -> int:
        """Pairs whose stemmed text holds ``term``, counted up to ``cap``."""
        sql = "SELECT count(*) FROM (SELECT 1 FROM pairs_fts WHERE pairs_fts MATCH ? LIMIT ?)"
        return self._cached(self._df, (id(db.conn), term, cap),
                            lambda: db.execute(sql, [fts_or([term]), cap]).fetchone()[0])

    def informative(self, db: Database, terms: Sequence[str]) -> list[str]:
        """``terms`` without those in more than half of the pairs (all of them when every term is that common)."""
        if len(terms) < 2:
            return list(terms)
        half = self.total(db) // 2
        kept = [t for t in terms if self.df(db, t, half + 1) <= half]
        return kept or list(terms)


TERM_STATS = TermStats()


def keyword_leg(db: Database, terms: Sequence[str], filters: Filters, limit: int,
                stats: TermStats | None = TERM_STATS) -> list[int]:
    """Pairs matching prose terms, by bm25 (question weighted over heading over answer); terms too common to rank
    anything are left out (see :class:`TermStats`)."""
    if not terms:
        return []
    if stats is not None:
        terms = stats.informative(db, terms)
    return _fts_leg(db, "pairs_fts", "bm25(pairs_fts, 4.0, 1.0, 2.0)", fts_or(terms), filters, limit)


def _fts_leg(db: Database, table: str, order: str, match: str, filters: Filters, limit: int) -> list[int]:
    """Rows of full-text ``table`` matching ``match``, best ``order`` first, visible and filtered pairs only.

    Without filters the full-text index ranks on its own (no join per matching row) and hidden pairs are dropped from
    the top afterwards: a query with common words stays fast on 100k pairs. With filters the join does the work.
    """
    if not (filters.topics or filters.kinds):
        fetch = limit * 2
        ranked = [r[0] for r in db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY {order} LIMIT ?",
                                           [match, fetch])]
        hidden = {r[0] for r in db.execute(
            f"SELECT n FROM pairs WHERE hidden != 0 AND n IN ({','.join('?' * len(ranked))})",
            ranked)} if ranked else set()
        found = [n for n in ranked if n not in hidden]
        if len(found) >= limit or len(ranked) < fetch:  # enough, or every match was seen
            return found[:limit]
    where, params = filters.sql()
    sql = (f"SELECT p.n FROM {table} JOIN pairs p ON p.n = {table}.rowid WHERE {table} MATCH ? {where} "
           f"ORDER BY {order} LIMIT ?")
    return [r[0] for r in db.execute(sql, [match, *params, limit])]


def ident_leg(db: Database, idents: Sequence[str], filters: Filters, limit: int) -> list[int]:
    """Pairs naming the query's identifiers exactly (unstemmed, ``_`` kept)."""
    if not idents:
        return []
    return _fts_leg(db, "pairs_idents", "pairs_idents.rank", fts_or([i.lower() for i in idents]), filters, limit)


def named_api_pairs(db: Database, words: Sequence[str], filters: Filters, query: str = "") -> list[tuple[int, str]]:
    """(pair n, source) of the API reference pages whose API name the query spells out (any case), page order.

    A header's overview page (``.../<header>/index.md``) counts only when the query names the header file
    (``ndis.h``): the bare word "NDIS" or "miniport" in a question is a topic, not a request for the header.
    """
    names = sorted({w.lower() for w in words if len(w) > 3})
    if not names:
        return []
    where, params = filters.sql()
    # Only API reference pages are "the API's own" pages: an article that mentions the API is not.
    sql = (f"SELECT p.n, p.source, a.name FROM api_index a JOIN sources s ON s.path = a.source AND s.kind = 'api-ref' "
           f"JOIN pairs p ON p.source = a.source WHERE a.name IN ({','.join('?' * len(names))}) {where} "
           f"ORDER BY p.source, p.position")
    lowered = query.lower()
    return [(r[0], r[1]) for r in db.execute(sql, [*names, *params])
            if not r[1].endswith("/index.md") or f"{r[2]}.h" in lowered]


def dense_leg(index: Any, vector: np.ndarray, db: Database, filters: Filters, limit: int) -> list[int]:
    """Nearest pairs by cosine; with filters, over-fetch and keep the matching ones."""
    if index is None:
        return []
    fetch = limit if not (filters.topics or filters.kinds) else limit * 20
    _scores, ids = index.search(vector, fetch)
    found = [int(i) for i in ids if i >= 0]
    if not (filters.topics or filters.kinds) or not found:
        return found[:limit]
    where, params = filters.sql()
    keep = {r[0] for r in db.execute(
        f"SELECT p.n FROM pairs p WHERE p.n IN ({','.join('?' * len(found))}) {where}", [*found, *params])}
    return [i for i in found if i in keep][:limit]


def _shingles(text: str) -> set[str]:
    words = WORD_RE.findall(text.lower())
    return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


def _answer_shingles(item: dict[str, Any]) -> set[str]:
    cached = item.get("_shingles")
    if cached is None:
        cached = item["_shingles"] = _shingles(item["answer"][:3000])
    return cached


def near_duplicate(a: dict[str, Any], b: dict[str, Any], threshold: float = 0.8) -> bool:
    """True when two pairs say the same thing: their answers share most word 3-grams."""
    sa, sb = _answer_shingles(a), _answer_shingles(b)
    if not sa or not sb:
        return False
    return len(sa & sb) / min(len(sa), len(sb)) >= threshold


def hydrate(db: Database, ns: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Full result dicts (the API shape) for pair row numbers."""
    if not ns:
        return {}
    sql = f"""SELECT p.n, p.id, p.question, p.answer, p.topics, p.kind, p.heading, p.answered_by, p.locator, p.source,
              p.ref, p.rank, s.kind AS source_kind, s.title AS source_title, s.url AS source_url
              FROM pairs p JOIN sources s ON s.path = p.source
              WHERE p.hidden = 0 AND p.n IN ({','.join('?' * len(ns))})"""
    out: dict[int, dict[str, Any]] = {}
    for r in rows(db, sql, ns):
        out[r["n"]] = {
            "id": r["id"], "question": r["question"], "answer": r["answer"], "score": 0.0,
            "topics": loads(r["topics"], []), "kind": r["kind"], "heading": r["heading"], "ref": r["ref"],
            "answered_by": r["answered_by"],
            "source": {"kind": r["source_kind"], "path": r["source"], "title": r["source_title"],
                       "url": r["source_url"], "locator": loads(r["locator"], {})},
            "samples": [], "scripts": [],
        }
    from kb.linking import attach
    attach(db, out)
    return out


@dataclass
class SearchParams:
    """The tunable knobs of one search (defaults come from the settings table)."""

    k: int = 10
    candidates: int = 100
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    ident_weight: float = 1.0
    legs: tuple[str, ...] = ("keyword", "ident", "dense", "api")
    use_feedback: bool = True


def search(db: Database, query: str, *, index: Any = None, embedder: Any = None, params: SearchParams | None = None,
           filters: Filters | None = None) -> dict[str, Any]:
    """Answer a query from the store.

    Args:
        db: the store.
        query: what the user typed.
        index: the vector index (None: keyword legs only).
        embedder: encodes the query for the dense leg.
        params: k, candidate depth, fusion constants and which legs to use.
        filters: topic and source-kind restrictions.

    Returns:
        ``{"query", "took_ms", "total", "results": [result dicts, best first]}``; each result has the API
        shape (see kb.service) plus ``ref``.

    Raises:
        BadQuery: the query has no searchable content.
    """
    started = time.perf_counter()
    params = params or SearchParams()
    filters = filters or Filters()
    query = query.strip()
    if not query:
        raise BadQuery("empty query: type a question, an error message or an API name")
    terms = query_terms(query)
    idents = extract_identifiers(query)
    words = WORD_RE.findall(query)
    rankings: list[tuple[list[int], float]] = []
    if "keyword" in params.legs:
        rankings.append((keyword_leg(db, terms, filters, params.candidates), params.keyword_weight))
    if "ident" in params.legs and idents:
        rankings.append((ident_leg(db, idents, filters, params.candidates), params.ident_weight))
    if "dense" in params.legs and index is not None and embedder is not None:
        vector = embedder.encode_query(query)
        rankings.append((dense_leg(index, vector, db, filters, params.candidates), params.dense_weight))
    fused = rrf(rankings, params.rrf_k)
    named = named_api_pairs(db, words, filters, query) if "api" in params.legs else []
    if named:
        # The query spells out an API: its own reference pairs lead. A bare name lists the page in order
        # (overview first); a question about the API lifts only the API's best two pairs by fused score,
        # so the conceptual pages that answer the question still make the first page of results.
        top = max(fused.values(), default=0.0) + 1.0
        bare = bool(terms) and all(db.execute("SELECT 1 FROM api_index WHERE name = ?", [t]).fetchone() for t in terms)
        if bare:
            for position, (n, _source) in enumerate(named):
                fused[n] = top + 1.0 - position * 1e-3
        else:
            by_source: dict[str, list[int]] = {}
            for n, source in named:
                by_source.setdefault(source, []).append(n)
            for ns in by_source.values():
                for n in sorted(ns, key=lambda n: -fused.get(n, 0.0))[:2]:
                    fused[n] = top + fused.get(n, 0.0)
    ordered = sorted(fused, key=lambda n: -fused[n])
    results: list[dict[str, Any]] = []
    window = ordered[: params.k * 4 + 20]
    details = hydrate(db, window)
    if params.use_feedback:
        from kb.feedback import adjustments
        factors = adjustments(db, query)
        if factors:
            for n in window:
                if n in details and details[n]["id"] in factors:
                    fused[n] *= factors[details[n]["id"]]
            window.sort(key=lambda n: -fused[n])
    for n in window:
        item = details.get(n)
        if item is None:  # in the index but deleted since: the store is the truth
            continue
        if any(near_duplicate(item, kept) for kept in results):
            continue
        item["score"] = round(fused[n], 6)
        results.append(item)
        if len(results) >= params.k:
            break
    for item in results:
        item.pop("_shingles", None)
    return {"query": query, "took_ms": round((time.perf_counter() - started) * 1000, 2), "total": len(fused),
            "results": results}
