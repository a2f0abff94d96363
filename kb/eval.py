"""`kb eval`: retrieval quality on our dev set, for keyword-only, dense-only and hybrid search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kb.settings import PROJECT_ROOT

DEVSET = PROJECT_ROOT / "data" / "eval" / "devset.yml"
MODES: dict[str, tuple[str, ...]] = {
    "keyword": ("keyword", "ident", "api"),
    "dense": ("dense",),
    "hybrid": ("keyword", "ident", "dense", "api"),
}
CUTOFFS = (1, 5, 10)


def load_devset(path: Path | None = None) -> list[dict[str, Any]]:
    """Dev-set entries: ``[{"q", "gold": [source paths], "topics"}]``.

    Raises:
        ValueError: the file has no entries or an entry lacks q/gold.
    """
    data = yaml.safe_load(Path(path or DEVSET).read_text())
    entries = data.get("questions", data) if isinstance(data, dict) else data
    if not entries:
        raise ValueError(f"{path or DEVSET}: no questions")
    for i, entry in enumerate(entries):
        if not entry.get("q") or not entry.get("gold"):
            raise ValueError(f"{path or DEVSET}: entry {i} needs q and gold")
    return entries


def first_hit_rank(results: list[dict[str, Any]], gold: set[str]) -> int | None:
    """1-based rank of the first result whose source path is gold, or None."""
    for rank, result in enumerate(results, start=1):
        if result["source"]["path"] in gold:
            return rank
    return None


def score(ranks: list[int | None]) -> dict[str, float]:
    """Recall@1/5/10 (share of questions with a gold source in the top k) and MRR@10."""
    n = len(ranks) or 1
    out = {f"recall@{k}": sum(1 for r in ranks if r is not None and r <= k) / n for k in CUTOFFS}
    out["mrr@10"] = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    return {k: round(v, 4) for k, v in out.items()}


def evaluate(search: Callable[..., dict[str, Any]], entries: list[dict[str, Any]],
             modes: dict[str, tuple[str, ...]] | None = None, present: set[str] | None = None) -> dict[str, Any]:
    """Run every question through each mode.

    Args:
        search: ``search(query, k=10, legs=...)`` returning the search dict (``KB.search``).
        entries: dev-set entries.
        modes: mode name -> legs (default keyword, dense, hybrid).
        present: source paths in the KB; questions whose gold is absent are left out (and counted).

    Returns:
        ``{"questions": n, "skipped": m, "modes": {mode: metrics}, "misses": {mode: [q...]}}``.
    """
    modes = modes or MODES
    usable = [e for e in entries if present is None or set(e["gold"]) & present]
    report: dict[str, Any] = {"questions": len(usable), "skipped": len(entries) - len(usable), "modes": {},
                              "misses": {}}
    for mode, legs in modes.items():
        ranks = []
        for entry in usable:
            results = search(entry["q"], k=10, legs=legs)["results"]
            ranks.append(first_hit_rank(results, set(entry["gold"])))
        report["modes"][mode] = score(ranks)
        report["misses"][mode] = [e["q"] for e, r in zip(usable, ranks, strict=True) if r is None]
    return report


def format_report(report: dict[str, Any]) -> str:
    """A plain table of the metrics per mode."""
    cols = [f"recall@{k}" for k in CUTOFFS] + ["mrr@10"]
    lines = [f"questions: {report['questions']} (skipped, gold not ingested: {report['skipped']})",
             f"{'mode':<10}" + "".join(f"{c:>11}" for c in cols)]
    for mode, metrics in report["modes"].items():
        lines.append(f"{mode:<10}" + "".join(f"{metrics[c]:>11.3f}" for c in cols))
    return "\n".join(lines)
