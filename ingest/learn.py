"""Parser for Microsoft Learn conceptual pages (windows-driver-docs-pr/**.md): one pair per section."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from functools import partial

from ingest.markdown import Section
from ingest.markdown import clean_markdown
from ingest.markdown import learn_url
from ingest.markdown import plain_text
from ingest.markdown import slugify
from ingest.markdown import split_front_matter
from ingest.markdown import split_long
from ingest.markdown import split_sections
from ingest.page_questions import Frame
from ingest.page_questions import distinct_questions
from ingest.page_questions import heading_frame
from ingest.part_questions import content_questions
from ingest.questions import base_verb
from ingest.questions import generic_question
from ingest.questions import page_question
from ingest.questions import page_topic
from ingest.questions import section_question
from ingest.questions import sentence_case
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta

COLLAPSE = 1200  # a page or section whose whole text is shorter becomes one pair
MAX_CHARS = 2500  # longer pairs are split into parts
MIN_CHARS = 200  # shorter sections merge into a neighbour
MAX_API_NAMES = 20

# the question rules moved to ingest.questions; their names stay importable from here
__all__ = ["base_verb", "find_api_names", "generic_question", "page_question", "page_topic", "parse",
           "section_question", "sentence_case"]

# link lists and navigation, not answers
_DROP = {
    "see also", "related topics", "related articles", "related content", "related links", "related resources",
    "additional resources", "next steps", "next step", "in this section", "feedback", "see also:",
}

_API = re.compile(
    r"\b(?:(?:Io|Ke|Ex|Mm|Ob|Ps|Rtl|Zw|Nt|Wdf|Wdm|Hal|Po|Se|Cm|Fs|Flt|Ndis|Stor|StorPort|Scsi|Usb|Ucx|Ufx|Ucm"
    r"|Ks|Pc|Wsk|Fwps|Fwpm|Acx|Hid|Wmi|Etw|Ndk|Net|Dxgk|D3DKMT|Pep|Pcw|Evt|Wdi|Sx|Vmb|Tpm|Mb|Wpp|Cx|Pcix?|Kd)"
    r"[A-Z][A-Za-z0-9]+|I(?:WDF|Wdf|Print|Minidriver|Port|Miniport)[A-Za-z0-9]+|DriverEntry|AddDevice"
    r"|[A-Z][A-Z0-9]{1,}(?:_[A-Z0-9]+)+)\b"
)
# where a page marks a name up: **bold**, `code`, [link text](...), a heading
_MARKED = re.compile(
    r"\*\*\*?([^*\n]{3,80}?)\*?\*\*|`([^`\n]{3,80})`|\[\*{0,2}([^\]\n]{3,80}?)\*{0,2}\]\(|^#+ (.+)$", re.M
)
_ACRONYM = re.compile(r"\b([A-Z][A-Z0-9]{1,5})s?\b")
_COMMON_CAPS = set("I OK ID IDS OS PC NOTE TRUE FALSE NULL API APIS DLL GUID URL".split())


@dataclass
class _Node:
    section: Section
    path: tuple[str, ...]
    children: list[_Node] = field(default_factory=list)
    dropped: bool = False


@dataclass
class _Chunk:
    node: _Node
    text: str
    lead: bool = False  # the node's own text, its children follow as their own chunks


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Parse one conceptual docs page.

    Args:
        text: the markdown file, front matter included (missing or malformed front matter is tolerated).
        source: the file's path (links resolve against it) and, optionally, its URL.

    Returns:
        An iterator over one SourceMeta, then one Pair (kind "section") per section or part of a section;
        no pairs when the page has no body (include-only pages). No two pairs of a page share a question: a
        later part, or a section whose heading asks what an earlier one asked, asks about its own content.
    """
    meta, body = split_front_matter(text)
    sections = split_sections(clean_markdown(body, source.path, base_url=source.url))
    h1 = next((s.title for s in sections if s.level == 1), "")
    title = plain_text(_text(meta.get("title"))) or h1 or _title_from_path(source.path)
    yield SourceMeta(
        title=title,
        url=source.url or learn_url(source.path),
        description=_text(meta.get("description")),
        extra={
            "keywords": _keywords(meta.get("keywords")),
            "ms_topic": _text(meta.get("ms.topic")),
            "ms_date": _text(meta.get("ms.date")),
        },
    )
    root = _tree(sections, title)
    chunks = _merge_small(_chunks(root))
    folder = posixpath.dirname(source.path)
    topic = page_topic(title, folder)
    seen: set[str] = set()
    pairs: list[Pair] = []
    entries: list[tuple[str, Callable[[], Iterable[str]]]] = []
    for chunk in chunks:
        node = chunk.node
        is_root = node is root
        anchor = node.section.anchor
        while anchor in seen:
            anchor += "-x"
        seen.add(anchor)
        if is_root:
            base_q = _with_salient_term(page_question(title, folder), root.section.text)
        else:
            base_q = section_question(node.section.title, title, folder)
        frame = heading_frame("" if is_root else node.section.title, title, folder, fallback=topic)
        parts = split_long(chunk.text, MAX_CHARS, caption=node.section.title)
        for n, part in enumerate(parts, 1):
            locator: dict[str, object] = {"section": anchor}
            if len(parts) > 1:
                locator["part"] = n
            before = "\n\n".join(parts[: n - 1])
            entries.append((base_q, partial(_alternatives, part, before, frame, base_q, node if n == 1 else None)))
            pairs.append(Pair(
                question=base_q,
                answer=part,
                locator=locator,
                kind="section",
                heading=" > ".join((title, *node.path)),
                api_names=find_api_names(part),
            ))
    for pair, question in zip(pairs, distinct_questions(entries), strict=True):
        yield replace(pair, question=question) if question != pair.question else pair


def _alternatives(part: str, before: str, frame: Frame, question: str, node: _Node | None) -> Iterator[str]:
    """Other questions for a pair whose question an earlier pair of the page has taken, best first."""
    if node is not None and node.path:  # a whole section: its place in the page tells it apart first
        heading = node.section.title
        if len(node.path) > 1 and generic_question(node.path[-2], frame.title) is None:
            yield f"{question.rstrip('?')} ({sentence_case(node.path[-2])})?"
        if generic_question(heading, frame.title, frame.folder):
            yield f"What does the {heading} section say about {page_topic(frame.title, frame.folder)}?"
    yield from content_questions(part, frame, before, question=question)
    yield f"What else should I know about {frame.owner}?"


def find_api_names(text: str, limit: int = MAX_API_NAMES) -> tuple[str, ...]:
    """DDI-looking identifiers that a text marks up (bold, code, links to /ddi/ pages), in first-seen order.

    Args:
        text: markdown.
        limit: most names returned.

    Returns:
        Names such as ``IoCreateDevice``, ``WdfRequestSend``, ``IRP_MJ_READ``.
    """
    names: dict[str, None] = {}
    for m in _MARKED.finditer(text):
        candidate = (m.group(1) or m.group(2) or m.group(3) or m.group(4) or "").strip("*_` ()")
        for name in _API.findall(candidate):
            names.setdefault(name, None)
            if len(names) >= limit:
                return tuple(names)
    return tuple(names)


def _text(value: object) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return re.sub(r"\s+", " ", str(value)).strip()


def _keywords(value: object) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r",\s*", value) if v]
    return [_text(v) for v in value if _text(v)] if isinstance(value, list) else []


def _title_from_path(path: str) -> str:
    stem = posixpath.splitext(posixpath.basename(path))[0]
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or "Untitled"


def _tree(sections: list[Section], title: str) -> _Node:
    """Nest sections under the page root; the first H1 is the root, later H1s count as H2."""
    root = _Node(Section(1, title, slugify(title), ""), ())
    stack: list[tuple[int, _Node]] = [(1, root)]
    seen_h1 = False
    for s in sections:
        if s.level == 0 or (s.level == 1 and not seen_h1):
            root.section.text = (root.section.text + "\n\n" + s.text).strip("\n")
            seen_h1 = seen_h1 or s.level == 1
            continue
        level = max(s.level, 2)
        while stack[-1][0] >= level:
            stack.pop()
        parent = stack[-1][1]
        node = _Node(s, (*parent.path, s.title), dropped=parent.dropped or s.title.lower() in _DROP)
        parent.children.append(node)
        stack.append((level, node))
    return root


def _render(node: _Node) -> str:
    """The node's text followed by its (kept) children, each under its own heading line."""
    parts = [node.section.text] if node.section.text.strip() else []
    for child in node.children:
        if not child.dropped:
            body = _render(child)
            parts.append(f"{'#' * min(child.section.level, 6)} {child.section.title}" + (f"\n\n{body}" if body else ""))
    return "\n\n".join(parts)


def _chunks(node: _Node) -> list[_Chunk]:
    whole = _render(node)
    kids = [c for c in node.children if not c.dropped]
    if len(whole) <= COLLAPSE or not kids:
        return [_Chunk(node, whole)] if whole.strip() else []
    out = [_Chunk(node, node.section.text, lead=True)] if node.section.text.strip() else []
    for child in kids:
        out.extend(_chunks(child))
    return out


def _merge_small(chunks: list[_Chunk]) -> list[_Chunk]:
    """Fold tiny sections into a neighbour: a short lead-in takes the section after it, others join the one before."""
    out: list[_Chunk] = []
    for chunk in chunks:
        prev = out[-1] if out else None
        if prev and prev.lead and len(prev.text) < MIN_CHARS:
            if len(chunk.text) >= 4 * MIN_CHARS:  # a big section keeps its own question; the lead-in joins it
                chunk.text = f"{prev.text}\n\n{chunk.text}"
                out[-1] = chunk
            else:  # a short lead-in and a short section: one pair under the lead's heading
                prev.text += f"\n\n{_heading_line(chunk.node)}\n\n{chunk.text}"
                prev.lead = chunk.lead
            continue
        if len(chunk.text) < MIN_CHARS and prev and len(prev.text) + len(chunk.text) < MAX_CHARS:
            prev.text += f"\n\n{_heading_line(chunk.node)}\n\n{chunk.text}"
            continue
        out.append(chunk)
    return out


def _heading_line(node: _Node) -> str:
    return f"{'#' * min(max(node.section.level, 2), 6)} {node.section.title}"


def _with_salient_term(question: str, body: str) -> str:
    """Add the acronym a page keeps coming back to when its title-made question lacks it ("... (IRQL)?")."""
    if _ACRONYM.search(question) or len(question) > 100:
        return question
    counts: dict[str, int] = {}
    for m in _ACRONYM.finditer(body):
        if m.group(1) not in _COMMON_CAPS:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if ranked and ranked[0][1] >= 6 and (len(ranked) == 1 or ranked[0][1] >= 2 * ranked[1][1]):
        return f"{question[:-1]} ({ranked[0][0]})?"
    return question
