"""Discourse topic JSON (``/t/<id>.json``, as on community.osr.com) to question/answer pairs."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any
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

DEFAULT_SITE = "https://community.osr.com"
# Discourse post types: 1 regular, 2 moderator action, 3 small action ("closed this topic"), 4 whisper.
_REGULAR_POST = 1
_LIKE_ACTION = 2
_QUOTE_TAG = re.compile(r"\[quote(?:=[^\]\n]*)?\]|\[/quote\]", re.IGNORECASE)


def looks_like(text: str) -> bool:
    """True when ``text`` looks like a Discourse topic JSON (or a JSON list of topics)."""
    head = text.lstrip()[:1]
    return head in ("{", "[") and '"post_stream"' in text


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse one Discourse topic, or a JSON list of topics, into pairs.

    Question = topic title + first post (+ the asker's follow-ups before any answer); each other
    author's reply is an answer, ranked accepted first, then likes, then staff, then order.

    Args:
        text: the topic JSON, as served by ``https://<site>/t/<id>.json``, or a list of such objects.
        source: the file; ``source.url`` (any URL on the forum) sets the site used in links.

    Returns:
        A ``SourceMeta``, then ``Pair`` records (locator ``{"question": [1], "answer": [3]}``, plus
        ``"topic": <id>`` for lists) and ``OpenQuestion`` records for topics without replies.

    Raises:
        ParseError: the text is not JSON or a topic lacks ``post_stream.posts`` or post numbers.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(
            f"Discourse JSON is not valid JSON ({exc}); export the topic again from /t/<id>.json"
        ) from None
    site = _site(source.url)
    if isinstance(data, list):
        if not data:
            raise ParseError("Discourse JSON is an empty list; expected topic objects with post_stream.posts")
        topics = [_topic(item, site, index) for index, item in enumerate(data, 1)]
    else:
        topics = [_topic(data, site, None)]
    records: list[Pair | OpenQuestion] = []
    for thread in topics:
        records.extend(thread_records(thread))
    yield _meta(topics, site, records)
    yield from records


def _site(url: str | None) -> str:
    if url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return DEFAULT_SITE


def _meta(topics: list[Thread], site: str, records: list[Pair | OpenQuestion]) -> SourceMeta:
    texts = [r.question for r in records] + [r.answer for r in records if isinstance(r, Pair)]
    if len(topics) == 1:
        only = topics[0]
        description = f"Discourse topic, {_plural(len(only.posts), 'post')}"
        return SourceMeta(title=only.title, url=only.url, description=description,
                          api_names=api_names(*texts), extra={"site": site, **only.extra})
    return SourceMeta(title=f"{len(topics)} Discourse topics", url=site,
                      description=", ".join(t.title for t in topics)[:500], api_names=api_names(*texts),
                      extra={"site": site, "topics": [t.extra.get("topic_id") for t in topics]})


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _where(index: int | None) -> str:
    return "Discourse JSON" if index is None else f"Discourse JSON topic {index}"


def _topic(data: Any, site: str, index: int | None) -> Thread:
    where = _where(index)
    if not isinstance(data, dict):
        raise ParseError(f"{where} is a {type(data).__name__}, expected an object with post_stream.posts")
    stream = data.get("post_stream")
    posts = stream.get("posts") if isinstance(stream, dict) else None
    if not isinstance(posts, list):
        raise ParseError(f"{where} has no post_stream.posts; export it from /t/<id>.json (not /latest.json)")
    if not posts:
        raise ParseError(f"{where} has an empty post_stream.posts list")
    topic_id = data.get("id")
    if not isinstance(topic_id, (int, str)) or isinstance(topic_id, bool):
        first = posts[0] if isinstance(posts[0], dict) else {}
        topic_id = first.get("topic_id") if isinstance(first.get("topic_id"), (int, str)) else None
    slug = data.get("slug") if isinstance(data.get("slug"), str) else None
    title = data.get("title") or data.get("fancy_title") or ""
    title = html.unescape(title) if isinstance(title, str) else ""
    accepted_number = _accepted_number(data.get("accepted_answer"))
    base_url = f"{site}/t/{slug or 'topic'}/{topic_id}" if topic_id is not None else None
    parsed = [_post(raw, number, where, site, base_url, accepted_number) for number, raw in enumerate(posts, 1)]
    thread_posts = sorted((p for p in parsed if p is not None), key=lambda p: p.ref)
    if not thread_posts:
        raise ParseError(f"{where} has no regular posts (post_type 1) in post_stream.posts")
    extra: dict[str, Any] = {"topic_id": topic_id}
    stream_ids = stream.get("stream") if isinstance(stream, dict) else None
    if isinstance(stream_ids, list) and len(stream_ids) > len(posts):
        # /t/<id>.json carries only the first ~20 posts; the rest need /t/<id>/posts.json?post_ids[]=...
        extra["posts_missing"] = len(stream_ids) - len(posts)
    return Thread(
        title=title,
        posts=thread_posts,
        locator={} if index is None else {"topic": topic_id if topic_id is not None else index},
        url=base_url,
        tags=_tags(data.get("tags")),
        extra=extra,
    )


def _accepted_number(value: Any) -> int | None:
    if isinstance(value, dict):
        number = value.get("post_number")
        if isinstance(number, int) and not isinstance(number, bool):
            return number
    return None


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = []
    for tag in value:
        # Newer Discourse versions send tags as objects {"id", "name", "slug"}.
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name:
            names.append(name)
    return tuple(names)


def _post(raw: Any, position: int, where: str, site: str, base_url: str | None, accepted: int | None) -> Post | None:
    if not isinstance(raw, dict):
        raise ParseError(f"{where}: post_stream.posts[{position - 1}] is not an object")
    number = raw.get("post_number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise ParseError(f"{where}: post_stream.posts[{position - 1}] has no integer post_number")
    post_type = raw.get("post_type", _REGULAR_POST)
    if post_type != _REGULAR_POST or raw.get("deleted_at") or raw.get("hidden") is True:
        return None
    username = raw.get("username") if isinstance(raw.get("username"), str) else None
    full_name = raw.get("name")
    name = full_name.strip() if isinstance(full_name, str) and full_name.strip() else None
    reply_to = raw.get("reply_to_post_number")
    created = raw.get("created_at")
    return Post(
        ref=number,
        author=name or username,
        author_key=username.lower() if username else (name.lower() if name else None),
        body=_body(raw, site),
        label=f"post {number}",
        created=created if isinstance(created, str) else None,
        score=_likes(raw),
        accepted=raw.get("accepted_answer") is True or (accepted is not None and accepted == number),
        expert=any(raw.get(flag) is True for flag in ("staff", "moderator", "admin")),
        reply_to=reply_to if isinstance(reply_to, int) and not isinstance(reply_to, bool) else None,
        url=f"{base_url}/{number}" if base_url else None,
    )


def _body(raw: dict[str, Any], site: str) -> str:
    cooked = raw.get("cooked")
    if isinstance(cooked, str) and cooked.strip():
        return html_to_markdown(cooked, site)
    text = raw.get("raw")
    return _strip_quotes(text) if isinstance(text, str) else ""


def _strip_quotes(text: str) -> str:
    """Drop ``[quote=...]...[/quote]`` blocks (nested ones too); an unclosed quote is kept as written."""
    kept: list[str] = []
    depth, last, opened = 0, 0, 0
    for match in _QUOTE_TAG.finditer(text):
        if match.group(0)[1] != "/":
            if depth == 0:
                kept.append(text[last : match.start()])
                opened = match.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                last = match.end()
    kept.append(text[opened:] if depth else text[last:])
    return re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip()


def _likes(raw: dict[str, Any]) -> int:
    count = raw.get("like_count")
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    actions = raw.get("actions_summary")
    if isinstance(actions, list):
        for action in actions:
            if isinstance(action, dict) and action.get("id") == _LIKE_ACTION:
                value = action.get("count")
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
    return 0
