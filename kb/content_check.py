"""`kb check-content`: every reference our own content makes (paths, glossary, handbook) resolves in the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlite_utils import Database

from kb.settings import PROJECT_ROOT


@dataclass(frozen=True)
class Broken:
    """One reference that does not resolve."""

    where: str
    kind: str
    ref: str
    problem: str


def handbook_references(folder: Path | None = None) -> list[tuple[str, str, str]]:
    """(where, "source", cited path) for every handbook citation."""
    folder = folder or PROJECT_ROOT / "data" / "handbook"
    out = []
    for file in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(file.read_text()) or {}
        for entry in data.get("pairs", []):
            for cite in entry.get("cite", []) or []:
                out.append((f"data/handbook/{file.name}#{entry.get('id')}", "source", cite))
    return out


def all_references() -> list[tuple[str, str, str]]:
    """Every (where, kind, ref) our content uses: kinds ``ref``, ``source``, ``sample``, ``script``."""
    from kb import glossary
    from kb import paths

    return paths.references() + glossary.references() + handbook_references()


def resolve(db: Database, kind: str, ref: str) -> str | None:
    """None when ``ref`` resolves in the store, else what is wrong."""
    if kind == "ref":
        path, _, anchor = ref.partition("#")
        if db.execute("SELECT 1 FROM pairs WHERE ref = ? LIMIT 1", [ref]).fetchone():
            return None
        if db.execute("SELECT 1 FROM sources WHERE path = ?", [path]).fetchone() is None:
            return "source not ingested"
        return f"no section #{anchor} in the ingested page"
    if kind == "source":
        ok = db.execute("SELECT 1 FROM sources WHERE path = ?", [ref]).fetchone()
        return None if ok else "source not ingested"
    if kind == "sample":
        ok = db.execute("SELECT 1 FROM samples WHERE path = ?", [ref]).fetchone()
        return None if ok else "no such sample in the catalog"
    if kind == "script":
        ok = db.execute("SELECT 1 FROM scripts WHERE id = ?", [ref]).fetchone()
        return None if ok else "no such script"
    return f"unknown reference kind {kind!r}"


def check(db: Database, references: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    """Resolve every reference.

    Returns:
        ``{"checked": n, "broken": [Broken...], "by_kind": {kind: n}}``.
    """
    references = all_references() if references is None else references
    broken = []
    by_kind: dict[str, int] = {}
    for where, kind, ref in references:
        by_kind[kind] = by_kind.get(kind, 0) + 1
        problem = resolve(db, kind, ref)
        if problem:
            broken.append(Broken(where, kind, ref, problem))
    return {"checked": len(references), "broken": broken, "by_kind": by_kind}
