"""Long-form magazine articles (rendered plain text): one question/answer pair per section or part."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field

from ingest.article_questions import key_terms
from ingest.article_questions import section_question
from ingest.thread_split import looks_like_thread
from ingest.thread_text import api_names
from kb.errors import ParseError
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta

BOILERPLATE_RE = re.compile(
    r"^\s*(?:This article may contain URLs that were valid when originally published.*|"
    r".*\bHomepage\s*$|Code for this article:.*|From the .{3,40} issue of .*|Back to top\s*|Top of page\s*|"
    r"©.*|Copyright .*)$",
    re.IGNORECASE,
)
DATE_RE = re.compile(
    r"^\s*(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"(?:\s+\d{1,2},)?\s+(?:19|20)\d\d\s*$"
)
ISSUE_RE = re.compile(r"^\s*From the (?P<date>.{3,40}?) issue of (?P<pub>.+?)\.?\s*$", re.IGNORECASE)
HOMEPAGE_RE = re.compile(r"^\s*(?P<pub>.+?)\s+Homepage\s*$", re.IGNORECASE)
CODE_RE = re.compile(r"^\s*Code for this article:\s*(?P<code>.+?)\s*$", re.IGNORECASE)
BIO_RE = re.compile(r"^(?P<name>[A-Z][a-z]+(?: [A-Z]\.)?(?: [A-Z][A-Za-z'\-]+){1,2}) (?:is|was) (?:an?|the) ")
FIGURE_RE = re.compile(r"^\s*Figure\s+(?P<num>\d+)\b\s*(?P<caption>.*)$")
TIP_RE = re.compile(r"^\s*Tip\s+(?P<num>\d+)\b")
CODEISH_RE = re.compile(
    r"[;{}]\s*$|^\s*[{}]|^\s*(?://|/\*|\*|#include|#define|#if)|\(\s*$|,\s*$|^\s*\w+\s*\(.*\)\s*$|="
)
SENTENCE_END_RE = re.compile(r"[.!?:;]\s*$|[.!?][\"”’)]\s*$")

PART_CHARS = 2500  # a section longer than this is split at paragraph boundaries
MIN_PART_CHARS = 600


@dataclass
class Section:
    """A heading and the blocks under it (prose paragraphs, fenced code, figure captions, tips)."""

    heading: str
    blocks: list[str] = field(default_factory=list)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def looks_like_code(line: str) -> bool:
    """True for a line of source code or a code comment rather than article prose."""
    s = line.strip()
    if re.match(r"(?://|/\*|\*|#\s*\w|[{}()\[\]])", s) or re.search(r"[;{}]\s*$|==|!=|&&|\|\||->|\w \(\s*\"", s):
        return True
    symbols = sum(s.count(ch) for ch in "(){};=*&<>[]")
    return symbols >= 3 and symbols >= 0.25 * len(s.split())


def is_prose(line: str) -> bool:
    """True for a paragraph line: indented and long, or a long sentence ending in punctuation."""
    if looks_like_code(line):
        return False
    words = line.split()
    if len(words) >= 8 and _indent(line) >= 3 and not re.search(r"[;{]\s*$", line):
        return True
    return len(words) >= 14 and bool(SENTENCE_END_RE.search(line)) and not re.search(r"[;{}]\s*$", line)


def is_heading(line: str, prev_blank: bool, next_blank: bool) -> bool:
    """True for a section heading: a short standalone line in title case, without a final period.

    Args:
        line: the candidate line.
        prev_blank: the line before is blank (or the text starts).
        next_blank: the line after is blank (or the text ends).

    Returns:
        Whether it reads like "BUILD.EXE is, Uhhh, Different" or "Doing the WinDBG Dance".
    """
    s = line.strip()
    words = s.split()
    if not (prev_blank and next_blank) or not 1 <= len(words) <= 10 or len(s) > 70 or _indent(line) >= 3:
        return False
    if SENTENCE_END_RE.search(s) or CODEISH_RE.search(s) or FIGURE_RE.match(s) or DATE_RE.match(s):
        return False
    capitalized = sum(1 for w in words if w[0].isupper() or not w[0].isalpha())
    return capitalized >= max(1, (len(words) + 1) // 2) and words[0][0].isupper()


def slugify(text: str) -> str:
    """Lowercase words joined by dashes: "BUILD.EXE is, Uhhh, Different" -> "build-exe-is-uhhh-different"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _fence(lines: list[str]) -> str:
    body = "\n".join(line.rstrip() for line in lines)
    return "```\n" + body.strip("\n") + "\n```"


def read_meta(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Pick the article facts out of the boilerplate and drop the boilerplate lines.

    Args:
        lines: the article's lines.

    Returns:
        (facts: date, publication, code download, author when a bio line names one;
        the remaining lines).
    """
    facts: dict[str, str] = {}
    kept = []
    for line in lines:
        if m := ISSUE_RE.match(line):
            facts.setdefault("date", m.group("date").strip())
            facts.setdefault("publication", m.group("pub").strip())
        elif m := HOMEPAGE_RE.match(line):
            facts.setdefault("publication", m.group("pub").strip())
        elif m := CODE_RE.match(line):
            facts.setdefault("code_download", m.group("code"))
        if BOILERPLATE_RE.match(line):
            continue
        if DATE_RE.match(line) and not kept_prose(kept):
            facts.setdefault("date", line.strip())
            continue
        kept.append(line)
    for line in kept[:40]:
        m = BIO_RE.match(line.strip())
        if m and is_prose(line):
            facts.setdefault("author", m.group("name"))
            break
    return facts, kept


def kept_prose(lines: list[str]) -> bool:
    """True once a prose paragraph has been seen (dates after that are part of the text)."""
    return any(is_prose(line) for line in lines)


def sectionize(lines: list[str]) -> tuple[str, list[Section]]:
    """Group lines into sections under their headings; code, tables and figures become fenced blocks.

    Args:
        lines: article lines without boilerplate.

    Returns:
        (column or title line found before the first paragraph, sections in order).
    """
    title = ""
    sections = [Section("")]
    pre: list[str] = []  # preformatted lines (code, tables, output) waiting to be fenced
    n = len(lines)

    def flush_pre() -> None:
        if any(x.strip() for x in pre):
            sections[-1].blocks.append(_fence(pre))
        pre.clear()

    for i, line in enumerate(lines):
        s = line.strip()
        prev_blank = i == 0 or not lines[i - 1].strip()
        next_blank = i + 1 >= n or not lines[i + 1].strip()
        if not s:
            if pre:
                pre.append("")
            continue
        if fig := FIGURE_RE.match(line):
            if not is_prose(line):
                caption = f"**Figure {fig.group('num')}** {fig.group('caption').strip()}".rstrip()
                code = _fence(pre) if any(x.strip() for x in pre) else ""
                pre.clear()
                sections[-1].blocks.append(caption + ("\n\n" + code if code else ""))
                continue
        if is_prose(line):
            flush_pre()
            sections[-1].blocks.append(s)
            continue
        if not pre and is_heading(line, prev_blank, next_blank):
            if not kept_prose(lines[:i]):
                title = title or s
                continue
            sections.append(Section(s))
            continue
        pre.append(line)
    flush_pre()
    return title, [sec for sec in sections if sec.blocks]


def split_parts(blocks: list[str], limit: int = PART_CHARS) -> list[list[str]]:
    """Split a section's blocks into parts of about ``limit`` chars at paragraph boundaries.

    A fenced block stays with the paragraph before it (the text that introduces it),
    and a last part shorter than MIN_PART_CHARS joins the one before.

    Args:
        blocks: the section's blocks in order.
        limit: target size of a part.

    Returns:
        Lists of blocks, one per part.
    """
    parts: list[list[str]] = [[]]
    size = 0
    for block in blocks:
        starts_new = size + len(block) > limit and parts[-1] and not block.startswith(("```", "**Figure"))
        if starts_new:
            parts.append([])
            size = 0
        parts[-1].append(block)
        size += len(block)
    if len(parts) > 1 and sum(len(b) for b in parts[-1]) < MIN_PART_CHARS:
        parts[-2].extend(parts.pop())
    return parts


def looks_like(text: str) -> bool:
    """True for a long article: several long paragraphs and standalone headings, not a comment thread.

    Args:
        text: any document text.

    Returns:
        Whether the text reads like a magazine article.
    """
    if looks_like_thread(text):
        return False
    lines = text.splitlines()
    paragraphs = sum(1 for line in lines if is_prose(line) and len(line.split()) >= 40)
    blank = [not line.strip() for line in lines] + [True]
    headings = sum(
        1 for i, line in enumerate(lines) if not blank[i] and is_heading(line, i == 0 or blank[i - 1], blank[i + 1])
    )
    return paragraphs >= 5 and headings >= 2


def _tip_pairs(section: Section, used: set[str]) -> Iterator[tuple[str, str, str, dict]]:
    tips: list[tuple[str, list[str]]] = []
    for block in section.blocks:
        m = TIP_RE.match(block)
        if m:
            tips.append((m.group("num"), [block]))
        elif tips:
            tips[-1][1].append(block)  # the example code that follows a tip belongs to it
    for num, blocks in tips:
        slug = f"tip-{num}"
        used.add(slug)
        yield f"Tip {num}", slug, "\n\n".join(blocks), {"section": slug}


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse an article into SourceMeta and one Pair per section (long sections split into parts).

    Args:
        text: the article as plain text (boilerplate lines, title lines, indented paragraphs,
            headings, code figures, tips).
        source: facts about the file.

    Yields:
        SourceMeta(title, description, extra={date, author, publication, ...}), then
        Pair(kind="article", locator={"section": slug} or {"section": slug, "part": n}).

    Raises:
        ParseError: the text has no prose paragraphs to make pairs from.
    """
    # Pages indent with non-breaking spaces as often as with spaces.
    facts, lines = read_meta(text.replace("\xa0", " ").splitlines())
    column, sections = sectionize(lines)
    if not any(is_prose(b) for sec in sections for b in sec.blocks):
        raise ParseError("no prose paragraphs found: expected an article with paragraphs; use another format")
    intro = next((b for b in sections[0].blocks if is_prose(b) and not BIO_RE.match(b)), "")
    name = column or (sections[1].heading if len(sections) > 1 else "Article")
    when = ", ".join(x for x in (facts.get("publication"), facts.get("date")) if x)
    yield SourceMeta(
        title=f"{name} ({when})" if when else name,
        url=source.url,
        description=intro[:400],
        api_names=api_names(text),
        extra={"column": column or None, **facts},
    )
    used: set[str] = set()
    for section in sections:
        heading = section.heading or name
        slug = slugify(section.heading or "introduction")
        if TIP_RE.match(next(iter(section.blocks), "")):
            for title, _tip_slug, block, locator in _tip_pairs(section, used):
                terms = key_terms(block, title)
                yield Pair(question=section_question([block], title, terms, block), answer=block, locator=locator,
                           kind="article", heading=title, api_names=api_names(block))
            continue
        blocks = [b for b in section.blocks if not BIO_RE.match(b)]
        if not blocks:
            continue
        while slug in used:
            slug += "-2"
        used.add(slug)
        parts = split_parts(blocks)
        for k, part in enumerate(parts, start=1):
            answer = "\n\n".join(part)
            locator = {"section": slug, "part": k} if len(parts) > 1 else {"section": slug}
            whole = "\n".join(blocks)
            terms = key_terms(whole, section.heading)
            yield Pair(
                question=section_question(part, section.heading, terms, whole, title=name),
                answer=answer,
                locator=locator,
                kind="article",
                heading=heading if len(parts) == 1 else f"{heading} ({k}/{len(parts)})",
                api_names=api_names(answer),
                extra={"author": facts.get("author"), "date": facts.get("date")},
            )
