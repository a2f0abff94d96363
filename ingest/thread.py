"""Blog or forum comment threads ("  N. user says:") as question/answer pairs and open questions.

The pipeline is four pure steps, each in its own module and unit-tested:
split comments (thread_split) -> classify roles (thread_roles) -> link answers to
questions (thread_link) -> group follow-ups and rank answers (thread_group); this module
turns the resulting exchanges into records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Sequence

from ingest.thread_group import Exchange
from ingest.thread_group import group_exchanges
from ingest.thread_link import ThreadView
from ingest.thread_link import link_answers
from ingest.thread_roles import classify
from ingest.thread_split import Comment
from ingest.thread_split import looks_like_thread
from ingest.thread_split import split_comments
from ingest.thread_text import api_names
from ingest.thread_text import strip_courtesy
from ingest.thread_text import to_markdown
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta

QUESTION_CHARS = 1500
CONTEXT_CHARS = 280
FOLLOW_UP_RE = re.compile(
    r"^\s*(?:then|so|but|and|ok|okay|also|by\b|when you say|as you (?:said|say)|thanks?|thank you|regarding|"
    r"about|in that case|if so|what do you mean|do you mean|you said|following up|one more|another)\b",
    re.IGNORECASE,
)


def looks_like(text: str) -> bool:
    """True for a thread of numbered comments ("  1. user says:", "  2. ...").

    Args:
        text: any document text.

    Returns:
        Whether comment headers numbered 1, 2, 3 appear in order.
    """
    return looks_like_thread(text)


def clip(text: str, limit: int) -> str:
    """Cut text at a line boundary under ``limit`` chars, closing an open code fence.

    Args:
        text: markdown text.
        limit: maximum length before the ellipsis marker.

    Returns:
        The text, or its head followed by "[…]".
    """
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = head.rfind("\n")
    head = head[:cut] if cut > limit // 2 else head
    if head.count("```") % 2:
        head += "\n```"
    return head.rstrip() + "\n\n[…]"


def first_sentence(text: str, limit: int = 120) -> str:
    """The first sentence of a text, without markdown fences, at most ``limit`` chars."""
    prose = " ".join(line for line in text.splitlines() if line.strip() and not line.startswith("```"))
    m = re.match(r"(.+?[.?!])(?:\s|$)", prose)
    sentence = (m.group(1) if m else prose).strip()
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rsplit(" ", 1)[0] + "…"


def comment_text(comment: Comment) -> str:
    """A comment's words as markdown: no greeting, closing or signature; code fenced."""
    return to_markdown(strip_courtesy(comment.body))


def _previous_exchange(exchanges: Sequence[Exchange], k: int, view: ThreadView) -> Exchange | None:
    current = exchanges[k]
    start = view.position[current.question[0]]
    for prev in reversed(exchanges[:k]):
        if view.position[current.question[0]] - view.position[prev.question[0]] > 40:
            return None
        if prev.asked_by == current.asked_by and prev.answers and view.position[prev.answers[0].comments[0]] < start:
            return prev
    return None


def question_text(exchanges: Sequence[Exchange], k: int, view: ThreadView) -> str:
    """The question of exchange k: the asker's words, plus the earlier question when it is a follow-up.

    Args:
        exchanges: all exchanges of the thread, in order.
        k: index of the exchange to render.
        view: the thread.

    Returns:
        Markdown text of at most about QUESTION_CHARS (+ context) characters.
    """
    ex = exchanges[k]
    parts = [comment_text(view.by_number[n]) for n in ex.question]
    text = clip("\n\n".join(p for p in parts if p), QUESTION_CHARS)
    prev = _previous_exchange(exchanges, k, view)
    if prev is not None:
        first = view.by_number[ex.question[0]]
        related = max(view.sim(first.number, n) for n in (*prev.question, *prev.answers[0].comments))
        if related >= 0.15 or FOLLOW_UP_RE.match(strip_courtesy(first.body)):
            earlier = " ".join(comment_text(view.by_number[n]) for n in prev.question)
            earlier = " ".join(earlier.replace("```", " ").split())
            if len(earlier) > CONTEXT_CHARS:
                earlier = earlier[: CONTEXT_CHARS - 1].rsplit(" ", 1)[0] + "…"
            numbers = ", ".join(str(n) for n in prev.question)
            text += f"\n\n_Follow-up to the same person's earlier question (comment {numbers}):_ {earlier}"
    return text


def answer_text(view: ThreadView, comments: Sequence[int], who: str) -> str:
    """One answer as markdown, each comment under "**user** (comment N):"; a double post shown once."""
    blocks: list[str] = []
    shown: list[int] = []
    for n in comments:
        if shown and view.duplicate(n, shown[-1]):
            blocks[-1] = blocks[-1].replace(f"(comment {shown[-1]})", f"(comments {shown[-1]}, {n})", 1)
            continue
        blocks.append(f"**{who or 'anonymous'}** (comment {n}):\n\n{comment_text(view.by_number[n])}")
        shown.append(n)
    return "\n\n".join(blocks)


def build_records(view: ThreadView, exchanges: Sequence[Exchange]) -> Iterator[Pair | OpenQuestion]:
    """Turn exchanges into Pairs (one per answerer, ranked) and OpenQuestions.

    Args:
        view: the thread.
        exchanges: output of step 4, in thread order.

    Yields:
        Pair(kind="thread", locator={"question": [...], "answer": [...]}) records and
        OpenQuestion(locator={"question": [...]}) records, in thread order.
    """
    for k, ex in enumerate(exchanges):
        question = question_text(exchanges, k, view)
        if not ex.answers:
            yield OpenQuestion(question=question, locator={"question": list(ex.question)}, asked_by=ex.asked_by or None)
            continue
        q_raw = "\n".join(view.by_number[n].body for n in ex.question)
        for rank, group in enumerate(ex.answers):
            a_raw = "\n".join(view.by_number[n].body for n in group.comments)
            yield Pair(
                question=question,
                answer=answer_text(view, group.comments, group.answered_by),
                locator={"question": list(ex.question), "answer": list(group.comments)},
                kind="thread",
                heading=first_sentence(question),
                answered_by=group.answered_by or None,
                rank=rank,
                api_names=api_names(q_raw + "\n" + a_raw),
                extra={"asked_by": ex.asked_by or None, "answer_kind": group.kind},
            )


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse a comment thread into SourceMeta, then Pairs and OpenQuestions.

    Args:
        text: the rendered thread: the post, then comments headed "  N. user says:".
        source: facts about the file (its URL is kept in the SourceMeta).

    Yields:
        SourceMeta(title, extra={"thread": True, "comments": n, "expert": user, ...}),
        then Pair and OpenQuestion records in thread order.

    Raises:
        ParseError: the text has no numbered comments.
    """
    split = split_comments(text)
    roles = classify(split.comments)
    view = ThreadView(split.comments, roles)
    exchanges = group_exchanges(view, link_answers(view))
    title = f"Reader questions answered by {roles.expert}" if roles.expert else first_sentence(split.post, 100)
    yield SourceMeta(
        title=title,
        url=source.url,
        description=first_sentence(split.post, 300),
        extra={
            "thread": True,
            "comments": len(split.comments),
            "expert": roles.expert or None,
            "missing_comments": list(split.missing),
        },
    )
    yield from build_records(view, exchanges)
