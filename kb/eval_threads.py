"""Score a comment-thread parser against a hand annotation (pairs, open questions, topics)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from kb.errors import KBError
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import SourceDoc

Key = tuple[frozenset[int], frozenset[int]]


@dataclass(frozen=True)
class GoldPair:
    """One annotated pair: question comments, answer comments, topic ids."""

    question: frozenset[int]
    answer: frozenset[int]
    topics: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Gold:
    """A thread annotation: its pairs, its open questions, and the comment range it covers."""

    pairs: tuple[GoldPair, ...]
    open: tuple[frozenset[int], ...]
    annotated_range: tuple[int, int] | None = None
    dev_range: tuple[int, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _numbers(value: Any, where: str) -> frozenset[int]:
    if isinstance(value, int):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, int) for v in value):
        raise KBError(f"{where}: expected a list of comment numbers, got {value!r}; fix the annotation")
    return frozenset(value)


def _range(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    lo, hi = value
    return int(lo), int(hi)


def gold_from_dict(data: dict[str, Any]) -> Gold:
    """Build a Gold from parsed YAML.

    Accepts one ``annotations`` list whose items are ``{question, answer, topics}`` or
    ``{question, open: true}``, or separate ``pairs`` and ``open`` lists.

    Args:
        data: the annotation mapping.

    Returns:
        The Gold annotation.

    Raises:
        KBError: an item lacks comment numbers or has neither an answer nor ``open: true``.
    """
    items = list(data.get("annotations") or []) + list(data.get("pairs") or [])
    items += [{**x, "open": True} if isinstance(x, dict) else {"question": x, "open": True}
              for x in data.get("open") or []]
    pairs, opens = [], []
    for k, item in enumerate(items):
        where = f"annotation {k + 1}"
        question = _numbers(item.get("question"), where)
        if item.get("open"):
            opens.append(question)
        elif "answer" in item:
            topics = frozenset(item.get("topics") or [])
            pairs.append(GoldPair(question, _numbers(item["answer"], where), topics))
        else:
            raise KBError(f"{where}: give `answer: [...]` or `open: true`")
    return Gold(
        pairs=tuple(pairs),
        open=tuple(opens),
        annotated_range=_range(data.get("annotated_range")),
        dev_range=_range(data.get("dev_range")),
        meta={k: v for k, v in data.items() if k not in {"annotations", "pairs", "open"}},
    )


def load_gold(path: str | Path) -> Gold:
    """Read a thread annotation YAML file (see data/eval/threads/*.yml).

    Args:
        path: the annotation file.

    Returns:
        The Gold annotation.

    Raises:
        KBError: the file is malformed (the message names the item to fix).
    """
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return gold_from_dict(data)


def _in(numbers: Iterable[int], rng: tuple[int, int] | None) -> bool:
    return rng is None or rng[0] <= min(numbers) <= rng[1]


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def evaluate(predicted: Iterable[Any], gold: Gold, comment_range: tuple[int, int] | None = None) -> dict[str, Any]:
    """Compare predicted records with a gold annotation.

    A pair matches when its question comment set and answer comment set both equal a
    gold pair's. Open questions match on their question comment set. Topics are scored
    (micro-averaged) over the matched pairs only.

    Args:
        predicted: records from a thread parser (Pairs and OpenQuestions; others ignored).
        gold: the annotation.
        comment_range: (first, last) comment numbers; only questions starting in it count.

    Returns:
        {"pairs": {precision, recall, f1, tp, predicted, gold}, "open": {...},
         "topics": {precision, recall, f1, tp, fp, fn}, "missed": [...], "extra": [...],
         "range": [first, last] or None}.
    """
    pred_pairs: dict[Key, Pair] = {}
    pred_open: set[frozenset[int]] = set()
    for rec in predicted:
        if isinstance(rec, Pair) and "question" in rec.locator and "answer" in rec.locator:
            q, a = frozenset(rec.locator["question"]), frozenset(rec.locator["answer"])
            if _in(q, comment_range):
                pred_pairs[(q, a)] = rec
        elif isinstance(rec, OpenQuestion) and "question" in rec.locator:
            q = frozenset(rec.locator["question"])
            if _in(q, comment_range):
                pred_open.add(q)
    gold_pairs = {(g.question, g.answer): g for g in gold.pairs if _in(g.question, comment_range)}
    gold_open = {q for q in gold.open if _in(q, comment_range)}
    matched = pred_pairs.keys() & gold_pairs.keys()
    tp_t = fp_t = fn_t = 0
    for key in matched:
        predicted_topics, gold_topics = set(pred_pairs[key].topics), set(gold_pairs[key].topics)
        tp_t += len(predicted_topics & gold_topics)
        fp_t += len(predicted_topics - gold_topics)
        fn_t += len(gold_topics - predicted_topics)
    open_tp = len(pred_open & gold_open)
    show = lambda keys: sorted([sorted(q), sorted(a)] for q, a in keys)  # noqa: E731
    return {
        "range": list(comment_range) if comment_range else None,
        "pairs": {**_prf(len(matched), len(pred_pairs), len(gold_pairs)), "tp": len(matched),
                  "predicted": len(pred_pairs), "gold": len(gold_pairs)},
        "open": {**_prf(open_tp, len(pred_open), len(gold_open)), "tp": open_tp,
                 "predicted": len(pred_open), "gold": len(gold_open)},
        "topics": {**_prf(tp_t, tp_t + fp_t, tp_t + fn_t), "tp": tp_t, "fp": fp_t, "fn": fn_t},
        "missed": show(gold_pairs.keys() - matched),
        "extra": show(pred_pairs.keys() - matched),
        "missed_open": sorted(sorted(q) for q in gold_open - pred_open),
        "extra_open": sorted(sorted(q) for q in pred_open - gold_open),
    }


def assign_topics(records: Iterable[Any], source_path: str = "") -> list[Any]:
    """Give Pairs without topics the topics kb.topics assigns (records returned in order).

    Args:
        records: parser output.
        source_path: passed to the classifier.

    Returns:
        The records, Pairs with ``topics`` filled when kb.topics is available.
    """
    try:
        from kb.topics import load_taxonomy
    except ImportError:  # the taxonomy module is optional for this evaluation
        return list(records)
    taxonomy = load_taxonomy()
    out = []
    for rec in records:
        if isinstance(rec, Pair) and not rec.topics:
            topics = taxonomy.classify(f"{rec.question}\n\n{rec.answer}", source_path, rec.api_names)
            rec = dataclasses.replace(rec, topics=tuple(t if isinstance(t, str) else t[0] for t in topics))
        out.append(rec)
    return out


def run(
    thread_path: str | Path,
    gold_path: str | Path,
    limit_to_annotated: bool = True,
    comment_range: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Parse a thread file, tag topics, and score it against its annotation.

    Args:
        thread_path: the rendered thread text file.
        gold_path: its annotation YAML.
        limit_to_annotated: only count questions inside the annotation's ``annotated_range``.
        comment_range: an explicit (first, last) range, e.g. the gold's ``dev_range``; wins.

    Returns:
        The metrics dict of ``evaluate`` plus ``thread`` and ``gold`` paths.
    """
    from ingest.thread import parse

    text = Path(thread_path).read_text(encoding="utf-8")
    gold = load_gold(gold_path)
    records = assign_topics(parse(text, SourceDoc(path=str(thread_path), kind="thread")))
    rng = comment_range or (gold.annotated_range if limit_to_annotated else None)
    metrics = evaluate(records, gold, rng)
    return {"thread": str(thread_path), "gold": str(gold_path), **metrics}


def format_report(metrics: dict[str, Any]) -> str:
    """Human-readable summary of ``run``/``evaluate`` metrics.

    Args:
        metrics: the dict returned by run() or evaluate().

    Returns:
        A few lines: pair, open-question and topic scores, then the mismatches.
    """
    lines = []
    if metrics.get("thread"):
        lines.append(f"thread: {metrics['thread']}")
    if metrics.get("range"):
        lines.append(f"questions in comments {metrics['range'][0]}-{metrics['range'][1]}")
    for name in ("pairs", "open", "topics"):
        m = metrics[name]
        counts = (f"tp={m['tp']} predicted={m['predicted']} gold={m['gold']}" if name != "topics"
                  else f"tp={m['tp']} fp={m['fp']} fn={m['fn']}")
        lines.append(f"{name:7s} P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f}  ({counts})")
    for label, key in (("missed pairs", "missed"), ("extra pairs", "extra"),
                       ("missed open", "missed_open"), ("extra open", "extra_open")):
        if metrics.get(key):
            shown = ", ".join(str(x) for x in metrics[key][:30])
            more = f" (+{len(metrics[key]) - 30} more)" if len(metrics[key]) > 30 else ""
            lines.append(f"{label}: {shown}{more}")
    return "\n".join(lines)
