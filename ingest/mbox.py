"""Mailing-list archives in mbox format (NTDEV style) to question/answer pairs, one question per thread."""

from __future__ import annotations

import email
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import decode_header
from email.header import make_header
from email.message import Message
from email.utils import parseaddr
from email.utils import parsedate_to_datetime

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

# A header line: an RFC 5322 field name (printable ASCII except ':') followed by a colon.
_HEADER_LINE = re.compile(r"[!-9;-~]+:")
# "From sender Tue Mar  5 09:31:07 2024": later separators must carry the time, unlike prose lines.
_SEPARATOR = re.compile(r"From \S+.*\b\d{1,2}:\d{2}")
_MSGID = re.compile(r"<[^<>\s]+>")
_SUBJECT_TAGS = re.compile(r"^\s*(?:(?:re|aw|sv|antw|fwd?)\s*(?:\[\d+\])?\s*:\s*|\[[^\]]{1,40}\]\s*)", re.IGNORECASE)
_REPLY_TAG = re.compile(r"^\s*(?:re|aw|sv|antw)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_LIST_TAG = re.compile(r"\[([^\]\s]{1,40})\]")
_ANONYMIZED = re.compile(r"x+@", re.IGNORECASE)  # OSR's archive replaces addresses by xxxxx@lists.osr.com
# Where a list footer starts: NTDEV's ("NTDEV is sponsored by OSR", "You are currently subscribed to ntdev as:")
# and Mailman's ("ntdev mailing list").
_FOOTER = re.compile(
    r"^\s*(?:NTDEV is sponsored by|\w+ is sponsored by OSR|You are currently subscribed to|To unsubscribe"
    r"|Questions\? First check the|For our schedule of|MONTHLY seminars on|OSR is hiring|[\w.-]+ mailing list\s*$)",
    re.IGNORECASE,
)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(?:Original Message|Forwarded message)\s*-{2,}\s*$", re.IGNORECASE)
_ATTRIBUTION = re.compile(r"^.{0,200}\b(?:wrote|writes|schrieb|a écrit)\s*:\s*$", re.IGNORECASE)
_RULE = re.compile(r"^\s*(?:-{2,}|_{2,}|={2,}|\u2014+)\s*$")


def looks_like(text: str) -> bool:
    """True when ``text`` starts with an mbox ``From `` separator followed by a header line."""
    lines = text.lstrip("\r\n").split("\n", 2)
    return len(lines) >= 2 and lines[0].startswith("From ") and bool(_HEADER_LINE.match(lines[1]))


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse an mbox archive into one question per thread and its ranked answers.

    Threads follow In-Reply-To / References, falling back to the normalized subject for "Re:" messages.
    Quoted ``>`` text, attribution lines, Outlook "Original Message" blocks, list footers and
    signatures are stripped; multipart messages give their text/plain part (or converted text/html).

    Args:
        text: the whole mbox file.
        source: the file (its path names the list when the messages carry no List-Id).

    Returns:
        A ``SourceMeta``, then ``Pair`` records with locator ``{"question": [Message-ID, ...],
        "answer": [Message-ID, ...]}`` and ``OpenQuestion`` records for threads nobody answered.

    Raises:
        ParseError: the text does not start with a ``From `` line or a message has no headers.
    """
    mails = [_mail(number, line, chunk) for number, line, chunk in _split(text)]
    unique: dict[str, _Mail] = {}
    for mail in mails:
        unique.setdefault(mail.msgid, mail)  # the same message twice (cross-posts, re-imports) counts once
    threads = _threads(list(unique.values()))
    records: list[Pair | OpenQuestion] = []
    for thread in threads:
        records.extend(thread_records(thread))
    texts = [r.question for r in records] + [r.answer for r in records if isinstance(r, Pair)]
    yield SourceMeta(
        title=_list_name(mails, source.path),
        url=source.url,
        description=f"mailing-list archive: {len(unique)} messages in {len(threads)} threads",
        api_names=api_names(*texts),
        extra={"messages": len(unique), "threads": len(threads)},
    )
    yield from records


@dataclass
class _Mail:
    number: int
    msgid: str
    subject: str
    author: str | None
    author_key: str | None
    date: str | None
    in_reply_to: str | None
    references: list[str]
    body: str
    list_id: str
    url: str | None

    @property
    def subject_key(self) -> str:
        return " ".join(_strip_subject(self.subject).lower().split())


def _split(text: str) -> Iterator[tuple[int, int, str]]:
    lines = text.replace("\r\n", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ParseError("mbox is empty; expected messages each starting with a 'From ' separator line")
    if not lines[first].startswith("From "):
        raise ParseError(f"mbox line {first + 1} is not a 'From ' separator ({lines[first][:40]!r}); not an mbox file")
    starts = [first]
    for i in range(first + 1, len(lines) - 1):
        # A separator follows a blank line, has a date and precedes a header; "From what I see..." does not.
        if not lines[i - 1].strip() and _SEPARATOR.match(lines[i]) and _HEADER_LINE.match(lines[i + 1]):
            starts.append(i)
    for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(lines)], strict=True), 1):
        chunk = lines[start + 1 : end]
        if not chunk or not _HEADER_LINE.match(chunk[0]):
            raise ParseError(f"mbox message {number} (line {start + 1}) has no headers; "
                             "expected From:, Subject: and Message-ID: lines after the 'From ' separator")
        # mboxrd escapes body lines starting with "From " as ">From "; undo one level.
        body = "\n".join(line[1:] if re.match(r">+From ", line) else line for line in chunk)
        yield number, start + 1, body


def _mail(number: int, line: int, chunk: str) -> _Mail:
    try:
        return _read_mail(number, line, chunk)
    except RecursionError:
        raise ParseError(f"mbox message {number} (line {line}) nests MIME parts too deeply to read") from None


def _read_mail(number: int, line: int, chunk: str) -> _Mail:
    msg = email.message_from_string(chunk)
    if not any(msg.get(name) for name in ("From", "Subject", "Message-ID", "Date")):
        raise ParseError(f"mbox message {number} (line {line}) has none of From:, Subject:, Message-ID:, Date:")
    raw_id = _header(msg, "Message-ID")
    found = _MSGID.search(raw_id)
    msgid = found.group(0) if found else raw_id.strip()
    if not msgid:
        # No Message-ID: derive a stable one from the content so the pair id survives re-ingest.
        msgid = f"<{hashlib.sha1(chunk.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}@generated.invalid>"
    in_reply = _MSGID.search(_header(msg, "In-Reply-To"))
    name, address = parseaddr(_header(msg, "From").replace(" at ", "@"))
    anonymized = bool(_ANONYMIZED.match(address))
    display = name.strip().strip('"') or (address.split("@")[0] if address and not anonymized else None)
    key = address.lower() if address and not anonymized else (display.lower() if display else None)
    archived = _MSGID.search(_header(msg, "Archived-At"))
    return _Mail(
        number=number,
        msgid=msgid,
        subject=" ".join(_header(msg, "Subject").split()),
        author=display,
        author_key=key,
        date=_date(_header(msg, "Date")),
        in_reply_to=in_reply.group(0) if in_reply else None,
        references=_MSGID.findall(_header(msg, "References")),
        body=clean_body(_body(msg)),
        list_id=_header(msg, "List-Id"),
        url=archived.group(0)[1:-1] if archived else None,
    )


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (HeaderParseError, LookupError, ValueError, UnicodeError):
        return str(value)


def _date(value: str) -> str | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return value.strip() or None


def _body(msg: Message) -> str:
    if not msg.is_multipart():
        text = _decode(msg)
        return html_to_markdown(text) if msg.get_content_type() == "text/html" else text
    plain = html = None
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        if part.get_content_type() == "text/plain" and plain is None:
            plain = _decode(part)
        elif part.get_content_type() == "text/html" and html is None:
            html = _decode(part)
    if plain and plain.strip():
        return plain
    return html_to_markdown(html) if html else ""


def _decode(part: Message) -> str:
    payload = part.get_payload()
    if not isinstance(payload, str):
        return ""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return payload  # 7bit/8bit text is already a str: decoding it again would garble it
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return payload
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return raw.decode("utf-8", errors="replace")


def clean_body(text: str) -> str:
    """Strip what a reader of the archive skips: quotes, attributions, original-message blocks, footers, signatures.

    Args:
        text: a decoded text/plain mail body.

    Returns:
        The author's own words, with runs of blank lines collapsed.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.rstrip()
        if line in ("-- ", "--") or _FOOTER.match(stripped) or _ORIGINAL.match(stripped) or _outlook(lines, index):
            break
        if stripped.lstrip().startswith(">"):
            continue
        if _ATTRIBUTION.match(stripped) and _quote_follows(lines, index):
            # "On Tue, Mar 5, 2024 at 10:12 AM, Tim Roberts <" + "tim@probo.com> wrote:" spans two lines.
            if out and out[-1].startswith("On ") and not out[-1].endswith((".", "?", "!")):
                out.pop()
            continue
        out.append(stripped)
    while out and (not out[-1].strip() or _RULE.match(out[-1])):
        out.pop()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _quote_follows(lines: list[str], index: int) -> bool:
    for line in lines[index + 1 :]:
        if line.strip():
            return line.lstrip().startswith(">") or bool(_FOOTER.match(line))
    return True


def _outlook(lines: list[str], index: int) -> bool:
    """An Outlook-style quoted original: "From: ..." followed within 3 lines by "Sent:" or "Date:"."""
    line = lines[index].strip()
    if re.match(r"_{10,}$", line):
        return any(next_line.startswith("From:") for next_line in lines[index + 1 : index + 3])
    if line.startswith("From:"):
        return any(re.match(r"\s*(Sent|Date):", next_line) for next_line in lines[index + 1 : index + 4])
    return False


def _strip_subject(subject: str) -> str:
    previous = None
    while previous != subject:
        previous, subject = subject, _SUBJECT_TAGS.sub("", subject, count=1)
    return subject.strip()


def _threads(mails: list[_Mail]) -> list[Thread]:
    by_id = {mail.msgid: mail for mail in mails}
    first_with_subject: dict[str, _Mail] = {}
    for mail in mails:
        first_with_subject.setdefault(mail.subject_key, mail)
    parent: dict[str, str | None] = {}
    for mail in mails:
        candidates = [mail.in_reply_to, *reversed(mail.references)]
        found = next((c for c in candidates if c and c in by_id and c != mail.msgid), None)
        if found is None and _REPLY_TAG.match(mail.subject) and mail.subject_key:
            # Some clients drop In-Reply-To; a "Re:" subject still names the thread.
            first = first_with_subject.get(mail.subject_key)
            found = first.msgid if first is not None and first is not mail else None
        parent[mail.msgid] = found
    _break_cycles(mails, parent)
    members: dict[str, list[_Mail]] = {}
    for mail in mails:
        members.setdefault(_root(mail.msgid, parent), []).append(mail)
    threads = []
    for root_id, group in members.items():
        root = by_id[root_id]
        ordered = [root, *(m for m in group if m is not root)]
        posts = [_post(m, position, parent[m.msgid]) for position, m in enumerate(ordered, 1)]
        threads.append(Thread(title=_strip_subject(root.subject), posts=posts, url=root.url))
    return threads


def _break_cycles(mails: list[_Mail], parent: dict[str, str | None]) -> None:
    number = {mail.msgid: mail.number for mail in mails}
    for mail in mails:
        path: list[str] = []
        node: str | None = mail.msgid
        while node is not None and node not in path:
            path.append(node)
            node = parent[node]
        if node is not None:
            # Forged or broken headers can make two messages reply to each other: the earlier one is the root.
            cycle = path[path.index(node) :]
            parent[min(cycle, key=number.__getitem__)] = None


def _root(msgid: str, parent: dict[str, str | None]) -> str:
    while (up := parent[msgid]) is not None:
        msgid = up
    return msgid


def _post(mail: _Mail, position: int, reply_to: str | None) -> Post:
    return Post(
        ref=mail.msgid,
        author=mail.author,
        author_key=mail.author_key,
        body=mail.body,
        label=f"message {position}",
        created=mail.date,
        reply_to=reply_to,
        url=mail.url,
    )


def _list_name(mails: list[_Mail], path: str) -> str:
    for mail in mails:
        if mail.list_id:
            # "Windows System Software Devs Interest List <ntdev.lists.osr.com>": prefer the readable name.
            name, _, ident = mail.list_id.partition("<")
            return name.strip().strip('"') or ident.rstrip(">").strip()
    tags: Counter[str] = Counter(t.lower() for m in mails for t in _LIST_TAG.findall(m.subject))
    if tags:
        return tags.most_common(1)[0][0]
    return path.rsplit("/", 1)[-1]
