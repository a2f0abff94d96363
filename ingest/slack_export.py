"""One day file of a Slack workspace export (``<channel>/YYYY-MM-DD.json``) to question/answer pairs."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

from ingest._threading import Post
from ingest._threading import Thread
from ingest._threading import api_names
from ingest._threading import thread_records
from kb.errors import ParseError
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta

# Reactions that mean "this solved it" on a reply, and the ones that count as a vote.
ACCEPT_REACTIONS = frozenset({"white_check_mark", "heavy_check_mark", "ballot_box_with_check", "accepted"})
SCORE_REACTIONS = frozenset({"+1", "thumbsup"})
# Subtypes that are still a person talking; every other subtype (channel_join, bot_message, ...) is skipped.
_USER_SUBTYPES = frozenset({"thread_broadcast", "file_share", "me_message"})
_TS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,9})?")  # seconds since 1970 (10 digits last until 2286)
_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_ANGLE = re.compile(r"<([^<>\n]+)>")


def looks_like(text: str) -> bool:
    """True when ``text`` looks like a Slack export day file (a JSON list of messages with ``ts``)."""
    head = text.lstrip()[:65536]  # the first "ts" can follow a long user_profile or blocks
    return head.startswith("[") and bool(re.search(r'"ts"\s*:\s*"\d+\.\d+"', head)) and '"post_stream"' not in head


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse one day of one channel into pairs, one question per thread.

    Question = thread parent (+ the asker's replies before anyone answered); answers = the others'
    replies, ranked by a check-mark reaction (accepted), then ``+1`` count, then order. Replies of a
    thread that continue in a later day file are not seen (a known limit of per-file parsing).

    Args:
        text: the day file, a JSON list of message objects.
        source: the file; ``source.path`` like ``driver-help/2024-03-05.json`` names the channel.

    Returns:
        A ``SourceMeta``, then ``Pair`` records (locator ``{"question": [ts], "answer": [ts]}``) and
        ``OpenQuestion`` records for threads nobody answered and for unthreaded messages asking something.

    Raises:
        ParseError: the text is not a JSON list of message objects, or a message has no valid ``ts``.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"Slack day file is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise ParseError(f"Slack day file must be a JSON list of messages, got {type(data).__name__} "
                         "(channels.json and users.json are not day files; pass <channel>/YYYY-MM-DD.json)")
    parts = source.path.replace("\\", "/").split("/")
    channel = parts[-2] if len(parts) >= 2 else ""
    messages = [_check(message, index) for index, message in enumerate(data)]
    names = _names(messages)
    people = [m for m in messages if _is_person(m)]
    people.sort(key=lambda m: float(m["ts"]))
    threads, incomplete = _threads(people, names, channel)
    records: list[Pair | OpenQuestion] = []
    for thread in threads:
        records.extend(thread_records(thread))
    texts = [r.question for r in records] + [r.answer for r in records if isinstance(r, Pair)]
    day = parts[-1].removesuffix(".json")
    yield SourceMeta(
        title=f"#{channel} {day}" if channel else day,
        url=source.url,
        description=f"Slack export: {len(people)} messages, {len(threads)} threads",
        api_names=api_names(*texts),
        extra={"channel": channel, "incomplete_threads": incomplete},
    )
    yield from records


def _check(message: Any, index: int) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise ParseError(f"Slack message {index} is a {type(message).__name__}, expected an object")
    ts = message.get("ts")
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        ts = f"{ts:.6f}" if isinstance(ts, float) else str(ts)
    if not isinstance(ts, str) or not _TS.fullmatch(ts):
        got = message.get("ts")
        raise ParseError(f"Slack message {index} has no valid ts (got {got!r}); expected like '1709647200.123456'")
    thread_ts = message.get("thread_ts")
    if thread_ts is not None and (not isinstance(thread_ts, str) or not _TS.fullmatch(thread_ts)):
        raise ParseError(f"Slack message {index} has an invalid thread_ts {thread_ts!r}")
    return {**message, "ts": ts}


def _is_person(message: dict[str, Any]) -> bool:
    subtype = message.get("subtype")
    if message.get("type", "message") != "message" or message.get("bot_id") or subtype == "bot_message":
        return False
    return subtype is None or (isinstance(subtype, str) and subtype in _USER_SUBTYPES)


def _names(messages: list[dict[str, Any]]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in messages:
        user, profile = message.get("user"), message.get("user_profile")
        if isinstance(user, str) and isinstance(profile, dict):
            for key in ("real_name", "display_name", "name"):
                if isinstance(profile.get(key), str) and profile[key].strip():
                    names.setdefault(user, profile[key].strip())
                    break
    return names


def _threads(
    messages: list[dict[str, Any]], names: dict[str, str], channel: str
) -> tuple[list[Thread], list[str]]:
    parents: dict[str, list[dict[str, Any]]] = {}
    order: list[str] = []
    for message in messages:
        thread_ts = message.get("thread_ts")
        if thread_ts is None or thread_ts == message["ts"]:
            parents[message["ts"]] = [message]
            order.append(message["ts"])
    for message in messages:
        thread_ts = message.get("thread_ts")
        if thread_ts is not None and thread_ts != message["ts"] and thread_ts in parents:
            parents[thread_ts].append(message)  # replies whose parent is in an earlier day file are dropped
    threads: list[Thread] = []
    incomplete: list[str] = []
    for ts in order:
        group = parents[ts]
        parent = group[0]
        expected = parent.get("reply_count")
        if isinstance(expected, int) and expected > len(group) - 1:
            incomplete.append(ts)
            if len(group) == 1:
                continue  # all replies are in later day files: nothing to pair here
        if len(group) == 1 and "?" not in str(parent.get("text", "")):
            continue  # unthreaded chatter ("thanks!", announcements) is not a question
        posts = [_post(m, names, position) for position, m in enumerate(group)]
        threads.append(Thread(title="", posts=posts, extra={"channel": channel, "thread_ts": ts}))
    return threads, incomplete


def _post(message: dict[str, Any], names: dict[str, str], position: int) -> Post:
    user = message.get("user") if isinstance(message.get("user"), str) else None
    reactions = message.get("reactions") if isinstance(message.get("reactions"), list) else []
    body = mrkdwn_to_markdown(str(message.get("text") or ""), names)
    files = message.get("files") if isinstance(message.get("files"), list) else []
    attached = [f.get("name") or f.get("title") for f in files if isinstance(f, dict)]
    attached = [a for a in attached if isinstance(a, str) and a]
    if attached:
        body = f"{body}\n\n(attached: {', '.join(attached)})".strip()
    return Post(
        ref=message["ts"],
        author=names.get(user, user) if user else None,
        author_key=user,
        body=body,
        label="question" if position == 0 else f"reply {position}",
        created=datetime.fromtimestamp(float(message["ts"]), UTC).isoformat(),
        score=_reaction_count(reactions, SCORE_REACTIONS),
        accepted=position > 0 and _reaction_count(reactions, ACCEPT_REACTIONS) > 0,
    )


def _reaction_count(reactions: list[Any], wanted: frozenset[str]) -> int:
    total = 0
    for reaction in reactions:
        if isinstance(reaction, dict) and isinstance(reaction.get("name"), str) and reaction["name"] in wanted:
            count = reaction.get("count")
            users = reaction.get("users")
            if isinstance(count, int) and not isinstance(count, bool):
                total += count
            elif isinstance(users, list):
                total += len(users)
            else:
                total += 1
    return total


def mrkdwn_to_markdown(text: str, names: dict[str, str] | None = None) -> str:
    """Convert Slack mrkdwn to markdown.

    Handles ``<https://x|label>`` links, ``<@U123>`` mentions (named from ``names``), ``<#C1|chan>``,
    ``<!here>``, fenced and inline code (left untouched), ``*bold*``, ``_italic_``, ``~strike~`` and
    the ``&lt; &gt; &amp;`` escapes Slack applies to message text.

    Args:
        text: the ``text`` field of a Slack message.
        names: user id -> display name, e.g. ``{"U024BE7LH": "Tim Roberts"}``.

    Returns:
        Markdown text.
    """
    names = names or {}
    pieces: list[str] = []
    last = 0
    for match in _FENCE.finditer(text):
        pieces.append(_inline(text[last : match.start()], names))
        code = html.unescape(match.group(1)).strip("\n")
        pieces.append(f"\n```\n{code}\n```\n")
        last = match.end()
    pieces.append(_inline(text[last:], names))
    out = "".join(pieces)
    out = re.sub(r"[ \t]+\n", "\n", out)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def _inline(text: str, names: dict[str, str]) -> str:
    codes: list[str] = []

    def keep_code(match: re.Match[str]) -> str:
        codes.append(html.unescape(match.group(1)))
        return f"\x00{len(codes) - 1}\x00"

    text = _INLINE_CODE.sub(keep_code, text)
    text = _ANGLE.sub(lambda m: _angle(m.group(1), names), text)
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"**\1**", text)
    text = re.sub(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])", r"*\1*", text)
    text = re.sub(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])", r"~~\1~~", text)
    text = re.sub(r"^\s*•\s*", "- ", text, flags=re.MULTILINE)
    text = html.unescape(text)
    return re.sub(r"\x00(\d+)\x00", lambda m: f"`{codes[int(m.group(1))]}`", text)


def _angle(inner: str, names: dict[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label or names.get(target[1:], target[1:]))
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        return "@" + (label or target[1:].split("^")[0])
    if target.startswith("mailto:"):
        return label or target[len("mailto:") :]
    if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", target):
        return f"[{label}]({target})" if label and label != target else target
    return f"<{inner}>"
