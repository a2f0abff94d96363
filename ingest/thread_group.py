"""Step 4 of the thread pipeline: turn links into exchanges (question comments + ranked answers)."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.thread_link import Linked
from ingest.thread_link import ThreadView

MERGE_SIM = 0.2  # two questions by one asker in a row with this much in common are one question
KIND_ORDER = {"expert": 0, "reader": 1, "self": 2}


@dataclass(frozen=True)
class AnswerGroup:
    """The comments one person wrote to answer one question (a double post is one group)."""

    comments: tuple[int, ...]
    answered_by: str
    kind: str


@dataclass(frozen=True)
class Exchange:
    """A question (one or more comments by its asker) and its answers, best first."""

    question: tuple[int, ...]
    asked_by: str
    answers: tuple[AnswerGroup, ...] = ()


def _answer_sets(linked: Linked) -> dict[int, dict[tuple[str, str], list[int]]]:
    answers: dict[int, dict[tuple[str, str], list[int]]] = {}
    for link in linked.links:
        for q in link.questions:
            answers.setdefault(q, {}).setdefault((link.answered_by, link.kind), []).append(link.answer)
    return answers


def _mergeable(view: ThreadView, group: list[int], q: int, answers: dict) -> bool:
    last = group[-1]
    first = view.by_number[group[0]]
    other = view.by_number[q]
    if other.user != first.user:
        return False
    if {k: sorted(v) for k, v in answers.get(group[0], {}).items()} != {
        k: sorted(v) for k, v in answers.get(q, {}).items()
    }:
        return False
    between = view.between(last, q)
    if any(c.user != first.user and c.number not in view.roles.acks for c in between):
        return False
    return max(view.sim(g, q) for g in group) >= MERGE_SIM


def group_exchanges(view: ThreadView, linked: Linked) -> list[Exchange]:
    """Merge an asker's consecutive comments into one question and rank each question's answers.

    Two question comments by the same asker join when nothing by anyone else comes
    between them, they got exactly the same answers (or none) and they are about the
    same thing; clarifying comments (step 3) join the question they clarify. Answers
    are grouped per answerer and ranked: the expert first, then other readers, then
    the asker's own fix.

    Args:
        view: the thread with its roles.
        linked: the links from step 3.

    Returns:
        Exchanges in thread order; an exchange without answers is an open question.
    """
    answers = _answer_sets(linked)
    extra: dict[int, list[int]] = {}
    for clarifying, q in linked.clarifies.items():
        extra.setdefault(q, []).append(clarifying)
    groups: list[list[int]] = []
    for c in view.comments:
        q = c.number
        if q not in view.roles.questions:
            continue
        if groups and _mergeable(view, groups[-1], q, answers):
            groups[-1].append(q)
        else:
            groups.append([q])
    exchanges = []
    for group in groups:
        members = sorted({*group, *(x for g in group for x in extra.get(g, []))})
        merged: dict[tuple[str, str], set[int]] = {}
        for g in group:
            for key, nums in answers.get(g, {}).items():
                merged.setdefault(key, set()).update(nums)
        ranked = sorted(merged.items(), key=lambda kv: (KIND_ORDER[kv[0][1]], min(kv[1])))
        exchanges.append(
            Exchange(
                question=tuple(members),
                asked_by=view.by_number[group[0]].user,
                answers=tuple(AnswerGroup(tuple(sorted(nums)), who, kind) for (who, kind), nums in ranked),
            )
        )
    return exchanges
