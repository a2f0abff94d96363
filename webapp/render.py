"""Turn stored answers into safe HTML: sanitized markdown, plain-text snippets with highlighted terms."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup
from markupsafe import escape

# Tags a rendered answer may keep. No img: CSP allows only same-origin images, and the
# docs' relative image paths would 404 here; images become links (see _render_image).
ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
    "del", "kbd", "sup", "sub",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener"

SNIPPET_CHARS = 300
# FTS operators and filler words are not worth highlighting.
_STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from how i if in is it my near not of on or the to what when where "
    "which who why with".split()
)
_WORD_RE = re.compile(r"\w+")
# A term that looks like code (WdfRequestSend, IRP_MJ_READ, x64) is matched as a whole word only.
_IDENT_RE = re.compile(r"[a-z][A-Z]|[A-Z][a-z0-9]+[A-Z]|_|\d|^[A-Z]{2,}$")
_SPACE_RE = re.compile(r"\s+")
_ROW_END_RE = re.compile(r"</(td|th)>\s*</tr>")


def _render_image(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = token.attrGet("src") or ""
    return f'<a href="{html.escape(src)}">[image: {html.escape(alt)}]</a>'


def _markdown() -> MarkdownIt:
    # html=False: raw HTML in a source is shown as text, never passed through.
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("image", _render_image)
    return md


_MD = _markdown()


def _learn_page(url: str) -> str:
    # Microsoft Learn serves docs without the .md suffix their sources link to.
    path, sep, fragment = url.partition("#")
    if path.endswith(".md") and urlsplit(path).hostname == "learn.microsoft.com":
        path = path[: -len(".md")]
    return path + sep + fragment


def _link_filter(base_url: str | None):
    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if attr not in {"href", "src"}:
            return value
        if urlsplit(value).scheme:
            return value  # absolute: nh3 checks the scheme against ALLOWED_SCHEMES
        if not base_url:
            return None  # relative links would point into this app and 404
        return _learn_page(urljoin(base_url, value))

    return attribute_filter


def sanitize(fragment: str, base_url: str | None = None) -> Markup:
    """Clean an HTML fragment down to safe tags, attributes and URL schemes.

    Args:
        fragment: HTML, possibly hostile.
        base_url: URL relative links are resolved against (the source's page); without it they are dropped.

    Returns:
        Markup without scripts, event handlers, styles or non-http(s)/mailto links; links get
        ``rel="nofollow noopener"``.
    """
    cleaned = nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel=LINK_REL,
        attribute_filter=_link_filter(base_url),
    )
    return Markup(cleaned)


def render_markdown(text: str, base_url: str | None = None) -> Markup:
    """Render an answer's markdown (CommonMark + tables) to sanitized HTML.

    Args:
        text: markdown from a source; raw HTML in it is shown as text.
        base_url: the source page URL, for resolving its relative links.

    Returns:
        Safe Markup ready to place in a template.
    """
    return sanitize(_MD.render(text or ""), base_url)


def plain_text(text: str) -> str:
    """Markdown to one line of plain text (no markup, whitespace collapsed)."""
    # Keep table rows apart once the markup is gone ("FALSE DISPATCH_LEVEL; TRUE APC_LEVEL"). The ";" goes
    # inside the last cell: text between table tags would be moved before the table by the HTML parser.
    rendered = _ROW_END_RE.sub(r";</\1></tr>", _MD.render(text or ""))
    stripped = nh3.clean(rendered, tags=set())
    return _SPACE_RE.sub(" ", html.unescape(stripped)).strip()


def shorten(text: str, limit: int = 180) -> str:
    """One line of at most about ``limit`` characters, cut at a word, with "…" when cut.

    Thread questions are often whole posts; titles and lists show their start.
    """
    flat = _SPACE_RE.sub(" ", text or "").strip()
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + "…"


def paragraphs(text: str) -> list[str]:
    """Blank-line-separated paragraphs of plain text, each on one line (hard wraps joined)."""
    return [p for p in (_SPACE_RE.sub(" ", block).strip() for block in re.split(r"\n\s*\n", text or "")) if p]


def query_terms(query: str) -> list[str]:
    """Words of a query worth highlighting: no stop words or FTS operators, no duplicates.

    Returns:
        Terms in query order, e.g. ``["WdfRequestSend", "fails"]``.
    """
    seen: dict[str, None] = {}
    for word in _WORD_RE.findall(query or ""):
        if len(word) < 2 or word.lower() in _STOP_WORDS:
            continue
        seen.setdefault(word, None)
    return list(seen)


def _terms_pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    parts = []
    # Longest first so "WdfRequestSendAndForget" wins over a shorter term at the same place.
    for term in sorted(terms, key=len, reverse=True):
        if _IDENT_RE.search(term):
            parts.append(rf"\b{re.escape(term)}\b")
        else:
            parts.append(rf"\b{re.escape(term)}\w*")  # "unload" also marks "unloads", "unloading"
    return re.compile("|".join(parts), re.IGNORECASE)


def highlight(text: str, terms: list[str]) -> Markup:
    """Escape ``text`` and wrap each occurrence of a term in ``<mark>``.

    Matching runs on the raw text and each piece is escaped on its own, so a term can never
    match inside an entity such as ``&lt;``.

    Args:
        text: plain text (not HTML).
        terms: from ``query_terms``; identifier-like terms match whole words only, plain words
            also match words that start with them.

    Returns:
        Markup with ``<mark>`` around matches and everything else escaped.
    """
    pattern = _terms_pattern(terms)
    if pattern is None:
        return escape(text)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(str(escape(text[last : match.start()])))
        out.append(f"<mark>{escape(match.group(0))}</mark>")
        last = match.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def snippet(answer: str, terms: list[str], size: int = SNIPPET_CHARS) -> str:
    """About ``size`` characters of an answer's plain text, around the first matched term.

    Args:
        answer: markdown.
        terms: from ``query_terms``.
        size: target length; cut at word boundaries, with "…" where text was left out.

    Returns:
        Plain text (escape it, or pass it to ``highlight``).
    """
    text = plain_text(answer)
    if len(text) <= size:
        return text
    start = 0
    pattern = _terms_pattern(terms)
    match = pattern.search(text) if pattern else None
    if match and match.start() > size // 3:
        # Keep a little context before the first match, starting at a word.
        start = text.find(" ", max(0, match.start() - size // 4)) + 1
        start = min(start, max(0, len(text) - size))
    end = start + size
    if end < len(text):
        cut = text.rfind(" ", start, end)
        end = cut if cut > start else end
    piece = text[start:end].strip()
    return ("… " if start > 0 else "") + piece + (" …" if end < len(text) else "")


# What the numbers in a thread locator count, by source kind.
_POST_WORDS = {"thread": "comments", "discourse": "posts", "stackexchange": "posts", "mbox": "messages",
               "slack-export": "messages"}


def format_locator(locator: dict[str, Any] | None, kind: str | None = None) -> str:
    """Say where in its source a pair comes from, for people.

    Examples: ``{"question": [5], "answer": [6]}`` -> ``"comments 5 → 6"`` (``"messages"`` for mail and chat,
    ``"posts"`` for forums); ``{"section": "remarks", "part": 2}`` -> ``"section “remarks”, part 2"``;
    ``{"fact": "irql"}`` -> ``"fact: irql"``; ``{"block": 0}`` -> ``"code block 1"``.

    Args:
        locator: the pair's ``source.locator``.
        kind: the source kind, which names the units of a thread.

    Returns:
        A short phrase, or ``""`` for an empty locator.
    """
    if not locator:
        return ""
    loc = dict(locator)
    parts: list[str] = []
    if "section" in loc:
        parts.append(f"section “{loc.pop('section')}”")
    if "part" in loc:
        parts.append(f"part {loc.pop('part')}")
    if "fact" in loc:
        parts.append(f"fact: {loc.pop('fact')}")
    if "question" in loc and "answer" in loc:
        question = _numbers(loc.pop("question"))
        answer = _numbers(loc.pop("answer"))
        parts.append(f"{_POST_WORDS.get(kind or '', 'comments')} {question} → {answer}")
    if isinstance(loc.get("block"), int):
        parts.append(f"code block {loc.pop('block') + 1}")  # stored 0-based
    parts.extend(f"{key} {_numbers(value)}" for key, value in sorted(loc.items()))
    return ", ".join(parts)


_REASONS = {
    "mentioned": "named in this answer",
    "from-page": "from the same page",
}


def describe_reason(item: dict[str, Any]) -> str:
    """Why a sample or script is linked, in words: ``calls KeSetEvent``, ``uses pnputil``, ``same topic: usb``.

    Args:
        item: a ``samples`` / ``scripts`` entry (``reason`` code plus ``evidence``).

    Returns:
        A short phrase; unknown reasons are shown as they are.
    """
    reason = str(item.get("reason") or "")
    evidence = item.get("evidence") if isinstance(item.get("evidence"), dict) else {}
    if reason == "calls-ddi":
        return f"calls {evidence['ddi']}" if evidence.get("ddi") else "calls an API this answer is about"
    if reason == "task-match":
        tools = evidence.get("tools") or []
        return f"uses {', '.join(map(str, tools))}" if tools else "does the task this answer describes"
    if reason == "topic":
        topics = evidence.get("topics") or []
        return f"same topic: {', '.join(map(str, topics))}" if topics else "same topic"
    return _REASONS.get(reason, reason.replace("-", " "))


def _numbers(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def evidence_links(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Turn a sample's or script's ``evidence`` into ``[{"text": "file:line", "url": str | None}]``.

    Accepts ``{"file", "line", "url"?, "ddi"?}`` (what kb.linking stores), a list of ``[file, line]``
    pairs, ``"file:line"`` strings, or a list of such dicts. Entries without a file are skipped.
    GitHub URLs are built from the item's ``/tree/<branch>/`` URL when the entry has none.

    Returns:
        Up to 5 links; ``url`` is None when none can be built.
    """
    evidence = item.get("evidence")
    if not evidence:
        return []
    if isinstance(evidence, str | dict) or (
        isinstance(evidence, list | tuple) and len(evidence) == 2 and isinstance(evidence[1], int)
    ):
        evidence = [evidence]
    links = []
    for entry in list(evidence)[:5]:
        url = None
        if isinstance(entry, dict):
            file, line, url = entry.get("file") or "", entry.get("line"), entry.get("url")
        elif isinstance(entry, list | tuple) and entry:
            file, line = str(entry[0]), entry[1] if len(entry) > 1 else None
        else:
            file, _, line = str(entry).rpartition(":") if ":" in str(entry) else (str(entry), "", None)
        if not file:
            continue  # evidence without a place (a mention, shared topics, matching tools)
        text = f"{file}:{line}" if line not in (None, "") else str(file)
        links.append({"text": text, "url": url or _github_blob(item.get("url"), file, line)})
    return links


_TREE_RE = re.compile(r"^(https://github\.com/[^/]+/[^/]+)/tree/([^/]+)/")


def _github_blob(url: str | None, file: str, line: Any) -> str | None:
    match = _TREE_RE.match(url or "")
    if not match or not file:
        return None
    anchor = f"#L{line}" if str(line or "").isdigit() else ""
    return f"{match.group(1)}/blob/{match.group(2)}/{file}{anchor}"
