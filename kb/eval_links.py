"""`kb eval-links`: how well pairs link to the samples that show them.

Two measures from the samples issue: the share of API-reference pairs whose DDI some sample calls
that show such a sample with file:line evidence, and, against a hand annotation of which samples a
thread's comments name, the share of named samples linked from the pair holding the comment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlite_utils import Database

from kb.store import loads
from kb.store import rows


def ddi_coverage(db: Database) -> dict[str, Any]:
    """API-reference pairs whose API a sample calls, and how many of them show a calls-ddi link with a line.

    Returns:
        ``{"eligible", "linked", "share", "missing": [pair ids (first 20)]}``.
    """
    eligible = linked = 0
    missing: list[str] = []
    sql = """SELECT p.n, p.id, p.api_names FROM pairs p JOIN sources s ON s.path = p.source
             WHERE s.kind = 'api-ref' AND p.hidden = 0"""
    callers = {r[0].lower() for r in db.execute("SELECT DISTINCT ddi FROM sample_ddis")}
    with_line = {r[0] for r in db.execute(
        "SELECT pair_n FROM links WHERE target_type = 'sample' AND reason = 'calls-ddi' "
        "AND json_extract(evidence, '$.line') IS NOT NULL")}
    for r in rows(db, sql):
        names = [n.lower() for n in loads(r["api_names"], [])]
        if not any(n in callers for n in names):
            continue
        eligible += 1
        if r["n"] in with_line:
            linked += 1
        elif len(missing) < 20:
            missing.append(r["id"])
    return {"eligible": eligible, "linked": linked, "share": round(linked / eligible, 4) if eligible else None,
            "missing": missing}


def mention_recall(db: Database, annotation: Path) -> dict[str, Any]:
    """Against ``annotation`` (``{source, mentions: [{comment, samples: [paths]}]}``), the share of named samples
    linked from the pair whose question or answer holds that comment.

    Returns:
        ``{"expected", "linked", "share", "missed": [{comment, sample}]}``.
    """
    data = yaml.safe_load(annotation.read_text())
    source = data["source"]
    by_comment: dict[int, set[str]] = {}
    for r in rows(db, "SELECT p.n, p.locator FROM pairs p WHERE p.source = ?", [source]):
        loc = loads(r["locator"], {})
        linked = {x[0] for x in db.execute(
            "SELECT target FROM links WHERE pair_n = ? AND target_type = 'sample' AND reason = 'mentioned'", [r["n"]])}
        for c in loc.get("question", []) + loc.get("answer", []):
            by_comment.setdefault(int(c), set()).update(linked)
    expected = linked_count = 0
    missed = []
    for item in data.get("mentions", []):
        comment = int(item["comment"])
        if comment not in by_comment:  # the comment is in no pair (thanks, chatter, open question)
            continue
        for sample in item.get("samples", []):
            expected += 1
            if sample in by_comment[comment]:
                linked_count += 1
            else:
                missed.append({"comment": comment, "sample": sample})
    return {"expected": expected, "linked": linked_count,
            "share": round(linked_count / expected, 4) if expected else None, "missed": missed}
