"""Step 4 of the thread pipeline: turn links into exchanges (question comments + ranked answers)."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.thread_link import Linked
from ingest.thread_link import ThreadView

MERGE_SIM = 0.05  # below this, two questions in a row by one asker share nothing: keep them apart
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


def _mergeable(view: ThreadView, group: list[int], q: int, answers: dict, covered: dict[int, set[int]]) -> bool:
    first = view.by_number[group[0]]
    if view.by_number[q].user != first.user:
        return False
    mine = {k: sorted(v) for k, v in answers.get(group[0], {}).items()}
    if mine != {k: sorted(v) for k, v in answers.get(q, {}).items()}:
        return False
    if any(c.user != first.user and c.number not in view.roles.acks for c in view.between(group[-1], q)):
        return False
    if max(view.sim(g, q) for g in group) < MERGE_SIM:
        return False
    if not mine:  # both open and related
        return True
    # A reply that also answers this asker's questions elsewhere is a batch answer to
    # distinct questions; one that covers just this run answers one question in two parts.
    asked = {n for a in {x for v in answers[q].values() for x in v} for n in covered.get(a, set())
             if view.by_number[n].user == first.user}
    return asked <= {*group, q}


def group_exchanges(view: ThreadView, linked: Linked) -> list[Exchange]:
    """Merge an asker's consecutive comments into one question and rank each question's answers.

    Two question comments by the same asker join when nothing by anyone else comes
    between them and they got exactly the same answers, which answer nothing else the
    asker asked (or both are unanswered and related); clarifying comments (step 3) join
    the question they clarify. Answers
    are grouped per answerer and ranked: the expert first, then other readers, then
    the asker's own fix.

    Args:
        view: the thread with its roles.
        linked: the links from step 3.

    Returns:
        Exchanges in thread order; an exchange without answers is an open question.
    """
    answers = _answer_sets(linked)
    covered: dict[int, set[int]] = {}
    for link in linked.links:
        covered.setdefault(link.answer, set()).update(link.questions)
    extra: dict[int, list[int]] = {}
    for clarifying, q in linked.clarifies.items():
        extra.setdefault(q, []).append(clarifying)
    groups: list[list[int]] = []
    for c in view.comments:
        q = c.number
        if (q not in view.roles.questions and q not in linked.promoted) or q in linked.answer_only:
            continue
        if groups and _mergeable(view, groups[-1], q, answers, covered):
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
