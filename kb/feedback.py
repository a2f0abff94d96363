"""Feedback on answers: stored with the query, and used to rank a pair lower (or higher) for that
query and near-identical ones."""

from __future__ import annotations

import time
from typing import Any

from sqlite_utils import Database

from kb.search import query_terms
from kb.store import dumps
from kb.store import loads
from kb.store import rows

VERDICTS = ("helpful", "not-helpful")
SIMILAR = 0.7  # Jaccard of content words above which two queries count as the same question
DEMOTE = 0.25  # a not-helpful pair keeps this share of its fused score for such queries
PROMOTE = 1.5


def similarity(a: list[str], b: list[str]) -> float:
    """Jaccard similarity of two queries' content words."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


def record(db: Database, query: str, pair_id: str, verdict: str, reason: str = "", origin: str = "web",
           user: str | None = None) -> int:
    """Store one verdict.

    Returns:
        The feedback row id.

    Raises:
        ValueError: unknown verdict.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}")
    cur = db.execute(
        "INSERT INTO feedback(query, query_terms, pair_id, verdict, reason, origin, user, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [query, dumps(query_terms(query)), pair_id, verdict, reason[:2000], origin, user,
         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())])
    return int(cur.lastrowid)


def adjustments(db: Database, query: str) -> dict[str, float]:
    """pair id -> score multiplier from active feedback on near-identical queries."""
    terms = query_terms(query)
    if not terms:
        return {}
    net: dict[str, int] = {}
    for row in rows(db, "SELECT query_terms, pair_id, verdict FROM feedback WHERE status = 'active'"):
        if similarity(terms, loads(row["query_terms"], [])) >= SIMILAR:
            net[row["pair_id"]] = net.get(row["pair_id"], 0) + (1 if row["verdict"] == "helpful" else -1)
    return {pid: (DEMOTE if score < 0 else PROMOTE) for pid, score in net.items() if score != 0}


def listing(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """Recent feedback with the pair's question, newest first (for maintainers)."""
    return list(rows(db, """SELECT f.id, f.query, f.pair_id, f.verdict, f.reason, f.origin, f.user, f.created_at,
                                   f.status, p.question FROM feedback f LEFT JOIN pairs p ON p.id = f.pair_id
                            ORDER BY f.id DESC LIMIT ?""", [limit]))


def set_status(db: Database, feedback_id: int, status: str) -> None:
    """Moderate one verdict: ``active`` counts in ranking, ``dismissed`` does not."""
    if status not in ("active", "dismissed"):
        raise ValueError("status must be active or dismissed")
    db.execute("UPDATE feedback SET status = ? WHERE id = ?", [status, feedback_id])
