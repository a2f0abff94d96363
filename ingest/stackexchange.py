"""Stack Exchange data dump ``Posts.xml`` to question/answer pairs (accepted answer first, then by score)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest._threading import Post
from ingest._threading import Thread
from ingest._threading import api_names
from ingest._threading import html_to_markdown
from ingest._threading import thread_records
from kb.errors import ParseError
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta

DEFAULT_SITE = "https://stackoverflow.com"
_QUESTION = 1
_ANSWER = 2
# Entity declarations allow "billion laughs" expansion; dumps never need them, so any DTD is refused.
_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_CHUNK = 1 << 16


def looks_like(text: str) -> bool:
    """True when ``text`` looks like a Stack Exchange ``Posts.xml`` dump."""
    head = text[:4096]
    return "<posts" in head and "<row" in head and "PostTypeId" in head


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse a ``Posts.xml`` dump into pairs: each question with each of its answers.

    Args:
        text: the XML text (``<posts><row Id=".." PostTypeId="1" .../></posts>``).
        source: the file; ``source.url`` (any URL of the site) sets the site used in links,
            default ``https://stackoverflow.com``.

    Returns:
        A ``SourceMeta``, then ``Pair`` records (locator ``{"question": [Id], "answer": [Id]}``, tags in
        ``extra["tags"]``) and ``OpenQuestion`` records for questions with no answer.

    Raises:
        ParseError: the XML is malformed, declares a DOCTYPE/ENTITY, or a row lacks Id, PostTypeId
            or (for answers) ParentId, or has a non-numeric Score.
    """
    if _DTD.search(text):
        raise ParseError("Posts.xml declares a DOCTYPE or ENTITY; refusing to expand entities in untrusted input "
                         "(remove the declaration: dumps never need one)")
    site = _site(source.url)
    questions: dict[str, _Question] = {}
    answers: list[tuple[str, Post]] = []
    for number, row in _rows(text):
        post_type = _int(row, "PostTypeId", number, required=True)
        post_id = row.get("Id", "").strip()
        if not post_id:
            raise ParseError(f"Posts.xml row {number}: missing Id")
        if post_type == _QUESTION:
            questions[post_id] = _question(row, post_id, number, site)
        elif post_type == _ANSWER:
            parent = row.get("ParentId", "").strip()
            if not parent:
                raise ParseError(f"Posts.xml row {number} (Id={post_id}): answer without ParentId")
            answers.append((parent, _answer(row, post_id, number, site)))
    orphans = 0
    for parent, answer in answers:
        question = questions.get(parent)
        if question is None:
            orphans += 1  # filtered dumps can keep an answer whose question was dropped
            continue
        answer.accepted = answer.ref == question.accepted_id
        question.thread.posts.append(answer)
    records: list[Pair | OpenQuestion] = []
    for question in questions.values():
        records.extend(thread_records(question.thread, asker_followups=False))
    texts = [r.question for r in records] + [r.answer for r in records if isinstance(r, Pair)]
    yield SourceMeta(
        title=f"Stack Exchange posts from {urlsplit(site).netloc}",
        url=site,
        description=f"{len(questions)} questions, {len(answers) - orphans} answers",
        api_names=api_names(*texts),
        extra={"site": site, "questions": len(questions), "answers": len(answers) - orphans,
               "orphan_answers": orphans},
    )
    yield from records


@dataclass
class _Question:
    thread: Thread
    accepted_id: int | str | None = None


def _ref(post_id: str) -> int | str:
    # Ids are numbers in every dump; keep them numeric in locators like Discourse post numbers.
    return int(post_id) if re.fullmatch(r"[0-9]{1,18}", post_id) else post_id


def _site(url: str | None) -> str:
    if url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return DEFAULT_SITE


def _rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    parser = ET.XMLPullParser(events=("start", "end"))
    state = {"depth": 0, "rows": 0}
    try:
        for offset in range(0, len(text), _CHUNK):
            # A str is fed as UTF-8 whatever the XML declaration says, so no encoding surprises.
            parser.feed(text[offset : offset + _CHUNK])
            yield from _row_events(parser, state)
        parser.close()
        yield from _row_events(parser, state)
    except ET.ParseError as exc:
        raise ParseError(f"Posts.xml is not well-formed XML ({exc}); expected <posts><row .../></posts>") from None


def _row_events(parser: ET.XMLPullParser, state: dict[str, int]) -> Iterator[tuple[int, dict[str, str]]]:
    for event, elem in parser.read_events():
        if event == "start":
            state["depth"] += 1
            if state["depth"] == 1 and elem.tag != "posts":
                raise ParseError(f"Posts.xml root element is <{elem.tag}>, expected <posts>")
            continue
        state["depth"] -= 1
        if state["depth"] == 1 and elem.tag == "row":
            state["rows"] += 1
            yield state["rows"], dict(elem.attrib)
            elem.clear()  # keep memory flat on large dumps


def _int(row: dict[str, str], name: str, number: int, required: bool = False) -> int:
    value = row.get(name, "").strip()
    if not value:
        if required:
            where = f"Posts.xml row {number}" + (f" (Id={row['Id']})" if row.get("Id") else "")
            raise ParseError(f"{where}: missing {name}")
        return 0
    if not re.fullmatch(r"-?[0-9]{1,12}", value):
        raise ParseError(f"Posts.xml row {number}: {name}={value[:20]!r} is not an integer")
    return int(value)


def _tags(value: str) -> tuple[str, ...]:
    # Older dumps write "<kmdf><usb>", newer ones "|kmdf|usb|".
    if "<" in value:
        return tuple(t for t in re.findall(r"<([^<>]+)>", value) if t)
    return tuple(t for t in value.split("|") if t)


def _owner(row: dict[str, str]) -> tuple[str | None, str | None]:
    name = row.get("OwnerDisplayName", "").strip()
    user_id = row.get("OwnerUserId", "").strip()
    display = name or (f"user {user_id}" if user_id else None)
    return display, (f"id:{user_id}" if user_id else (name.lower() if name else None))


def _question(row: dict[str, str], post_id: str, number: int, site: str) -> _Question:
    author, key = _owner(row)
    url = f"{site}/q/{post_id}"
    post = Post(
        ref=_ref(post_id),
        author=author,
        author_key=key,
        body=html_to_markdown(row.get("Body", ""), site),
        label=f"question {post_id}",
        created=row.get("CreationDate") or None,
        score=_int(row, "Score", number),
        url=url,
    )
    extra: dict[str, object] = {"question_score": post.score}
    if row.get("ClosedDate"):
        extra["closed"] = row["ClosedDate"]
    thread = Thread(title=row.get("Title", "").strip(), posts=[post], url=url, tags=_tags(row.get("Tags", "")),
                    extra=extra)
    accepted = row.get("AcceptedAnswerId", "").strip()
    return _Question(thread=thread, accepted_id=_ref(accepted) if accepted else None)


def _answer(row: dict[str, str], post_id: str, number: int, site: str) -> Post:
    author, key = _owner(row)
    return Post(
        ref=_ref(post_id),
        author=author,
        author_key=key,
        body=html_to_markdown(row.get("Body", ""), site),
        label=f"answer {post_id}",
        created=row.get("CreationDate") or None,
        score=_int(row, "Score", number),
        url=f"{site}/a/{post_id}",
    )
