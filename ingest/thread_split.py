"""Step 1 of the thread pipeline: cut a rendered comment thread into numbered comments."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from kb.errors import ParseError

# "  12. VelcroILean says:" / "  310. says:" (the page can drop the author name).
HEADER_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<num>\d{1,5})\.[ \t]+(?P<user>.*?)[ \t]*says:[ \t]*$")
COUNT_RE = re.compile(r"^\s*Comments\s*\(\d+\)\s*$", re.IGNORECASE)
# A header may skip numbers when the page lost a comment; a bigger jump is a line inside a comment.
MAX_GAP = 5


@dataclass(frozen=True)
class Comment:
    """One numbered comment: its number on the page, its author ("" when unnamed) and its text."""

    number: int
    user: str
    body: str


@dataclass(frozen=True)
class SplitThread:
    """The post that opens the thread, its comments in page order, and numbers the page skipped."""

    post: str
    comments: tuple[Comment, ...]
    missing: tuple[int, ...] = ()


def _normalize_body(lines: list[str]) -> str:
    text = textwrap.dedent("\n".join(line.rstrip() for line in lines))
    # The page renders every paragraph break as several blank lines: keep one.
    text = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text)
    return text.strip("\n")


def header_candidates(text: str) -> list[tuple[int, int, str, int]]:
    """Lines shaped like a comment header.

    Args:
        text: the whole thread.

    Returns:
        (line index, number, user, indent width) for each line that looks like
        ``N. user says:``, in order; not all of them are real boundaries.
    """
    found = []
    for i, line in enumerate(text.splitlines()):
        m = HEADER_RE.match(line)
        if m:
            found.append((i, int(m.group("num")), m.group("user").strip(), len(m.group("indent").expandtabs())))
    return found


def split_comments(text: str) -> SplitThread:
    """Split a thread into its post and comments, accepting headers only in sequence 1, 2, 3...

    A header line counts only when its number is the next expected one (or a small
    jump ahead) and it has the indentation of the first header, so numbered lists,
    pasted logs (``110: ...``) and quoted headers inside comments stay in their comment.

    Args:
        text: the rendered thread (post, then "  N. user says:" comments).

    Returns:
        SplitThread(post, comments, missing numbers).

    Raises:
        ParseError: no comment numbered 1 (or at all) was found.
    """
    lines = text.splitlines()
    accepted: list[tuple[int, int, str]] = []
    expected, indent = 1, None
    missing: list[int] = []
    for i, num, user, width in header_candidates(text):
        if indent is not None and width != indent:
            continue  # real headers share one indentation; a quoted one inside a comment rarely does
        if num == expected or (indent is not None and expected < num <= expected + MAX_GAP):
            missing.extend(range(expected, num))
            accepted.append((i, num, user))
            expected, indent = num + 1, width if indent is None else indent
    if not accepted:
        raise ParseError("no numbered comments found: expected lines like '  1. user says:'; use another format")
    post_lines = [line for line in lines[: accepted[0][0]] if not COUNT_RE.match(line)]
    comments = []
    for k, (i, num, user) in enumerate(accepted):
        end = accepted[k + 1][0] if k + 1 < len(accepted) else len(lines)
        comments.append(Comment(num, user, _normalize_body(lines[i + 1 : end])))
    return SplitThread(_normalize_body(post_lines), tuple(comments), tuple(missing))


def looks_like_thread(text: str) -> bool:
    """True when the text has comment headers numbered 1, 2, 3 in order.

    Args:
        text: any document text.

    Returns:
        Whether at least three consecutive ``N. user says:`` headers start at 1.
    """
    expected = 1
    for _i, num, _user, _w in header_candidates(text[:400_000]):
        if num == expected:
            expected += 1
            if expected > 3:
                return True
    return False
