"""Shared helpers for discussion exports: HTML to markdown, API names, ranking answers within a thread."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from kb.models import OpenQuestion
from kb.models import Pair

# --- API names -------------------------------------------------------------------------------------------------

# Prefixes of kernel/WDF/driver DDIs; the next character must be upper case so "Example" or "Kernel" do not match.
_DDI_PREFIXES = (
    "Wdf|Wdm|Io|Ke|Ex|Mm|Ob|Ps|Rtl|Zw|Nt|Po|Hal|Cm|Flt|Fs|Se|Ndis|Wsk|Usbd|Ks|Hid|Acx|Wpp|Etw|Kd|Dbg|StorPort"
    "|ScsiPort|Ufx|Ucx|Udecx|Vhf|NetAdapter|Net|Dxgk|Evt|Wmi|Tdi|SetupDi|Sdbus|Spb|Gpio|TraceLogging|Tlg"
)
_CAMEL_RE = re.compile(rf"\b(?:{_DDI_PREFIXES})[A-Z][A-Za-z0-9_]*\b")
# IRP_MJ_READ, IOCTL_USB_GET_NODE_INFORMATION, DISPATCH_LEVEL, STATUS_*, bug-check names (IRQL_NOT_LESS_OR_EQUAL).
_UPPER_RE = re.compile(r"\b_?[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
_KNOWN_NAMES = re.compile(r"\b(?:DriverEntry|DriverUnload|AddDevice|DeviceIoControl|CreateFile[AW]?)\b")
_MAX_API_NAMES = 40


def api_names(*texts: str) -> tuple[str, ...]:
    """DDI-like identifiers mentioned in ``texts``, in order of first appearance.

    Args:
        texts: question, answer or any other prose.

    Returns:
        Unique names such as ``("WdfRequestSend", "STATUS_INVALID_DEVICE_STATE", "IRP_MJ_READ")``, at most 40.
    """
    found: dict[tuple[int, int], str] = {}
    for index, text in enumerate(texts):
        for regex in (_CAMEL_RE, _UPPER_RE, _KNOWN_NAMES):
            for match in regex.finditer(text):
                if len(match.group(0)) >= 5:
                    found.setdefault((index, match.start()), match.group(0))
    unique = dict.fromkeys(found[key] for key in sorted(found))
    return tuple(unique)[:_MAX_API_NAMES]


# --- HTML to markdown ------------------------------------------------------------------------------------------

_VOID = {"br", "img", "hr", "input", "meta", "link", "source", "wbr", "col", "area", "base", "embed", "track"}
_DROP = {"script", "style", "head", "title", "template", "noscript", "svg", "button", "iframe", "video", "audio"}
_BLOCKS = {"p", "div", "section", "article", "details", "summary", "figure", "figcaption", "header", "footer",
           "main", "center", "dl", "dt", "dd", "nav", "address"}
_WS = re.compile(r"\s+")
# Deeper nesting is flattened: real posts nest a few levels, and recursion must stay bounded on hostile input.
_MAX_DEPTH = 60


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID and len(self.stack) < _MAX_DEPTH:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(_Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        # Unbalanced HTML is common in forum posts: close up to the matching tag, ignore stray end tags.
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def html_to_markdown(html: str, base_url: str | None = None) -> str:
    """Convert a post body (Discourse ``cooked``, Stack Exchange ``Body``, an HTML mail part) to markdown.

    Code blocks become fences, links are made absolute against ``base_url``, Discourse quoted replies
    (``<aside class="quote">``) and emoji images are removed, and ``javascript:`` links lose their target.

    Args:
        html: the HTML fragment.
        base_url: site root used to resolve relative links, e.g. ``"https://community.osr.com"``.

    Returns:
        Markdown text with blank lines between blocks, stripped.
    """
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return _normalize(_render(builder.root, base_url))


def _normalize(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _text(node: _Node) -> str:
    return "".join(c if isinstance(c, str) else ("\n" if c.tag == "br" else _text(c)) for c in node.children)


def _render(node: _Node, base: str | None) -> str:
    parts: list[str] = []
    at_line_start = True
    for child in node.children:
        if isinstance(child, str):
            chunk = _WS.sub(" ", child)
            if at_line_start:
                chunk = chunk.lstrip()
        else:
            chunk = _element(child, base)
            if chunk.startswith("\n") and parts:
                parts[-1] = parts[-1].rstrip(" ")
        if chunk:
            parts.append(chunk)
            at_line_start = chunk.endswith("\n")
    return "".join(parts)


def _block(text: str) -> str:
    text = _normalize(text)
    return f"\n\n{text}\n\n" if text else ""


def _element(el: _Node, base: str | None) -> str:
    tag, classes = el.tag, el.classes()
    if tag in _DROP or (tag == "aside" and "quote" in classes):
        return ""
    if tag == "aside" and "onebox" in classes:
        src = el.attrs.get("data-onebox-src") or _first_href(el)
        return _block(_absolute(src, base) or "")
    if tag == "pre":
        code_node = next((c for c in el.children if isinstance(c, _Node) and c.tag == "code"), None)
        lang = _language(classes | (code_node.classes() if code_node else set()))
        code = _text(el).strip("\n")
        fence = "~~~~" if "```" in code else "```"
        return f"\n\n{fence}{lang}\n{code}\n{fence}\n\n"
    if tag in ("code", "kbd", "tt"):
        code = _text(el)
        return f"`` {code} ``" if "`" in code else (f"`{code}`" if code else "")
    if tag == "br":
        return "\n"
    if tag == "hr":
        return "\n\n---\n\n"
    if tag in _BLOCKS:
        return _block(_render(el, base))
    if len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
        inner = _normalize(_render(el, base)).replace("\n", " ")
        return _block(f"{'#' * int(tag[1])} {inner}") if inner else ""
    if tag in ("strong", "b", "em", "i", "s", "del", "strike"):
        inner = _render(el, base).strip()
        mark = "**" if tag in ("strong", "b") else ("*" if tag in ("em", "i") else "~~")
        return f"{mark}{inner}{mark}" if inner else ""
    if tag == "a":
        return _link(el, base)
    if tag == "img":
        if "emoji" in classes:
            return ""
        src = _absolute(el.attrs.get("src", ""), base)
        return f"![{el.attrs.get('alt', '') or 'image'}]({src})" if src else ""
    if tag in ("ul", "ol"):
        return _list(el, base)
    if tag == "li":
        return "\n- " + _normalize(_render(el, base)) + "\n"
    if tag == "blockquote":
        inner = _normalize(_render(el, base))
        return _block("\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))) if inner else ""
    if tag == "table":
        return _table(el, base)
    return _render(el, base)


def _language(classes: set[str]) -> str:
    for cls in classes:
        for prefix in ("lang-", "language-"):
            if cls.startswith(prefix) and cls[len(prefix):] not in ("auto", "none", "nohighlight"):
                return cls[len(prefix):]
    return ""


def _first_href(el: _Node) -> str:
    for child in el.children:
        if isinstance(child, _Node):
            if child.tag == "a" and child.attrs.get("href"):
                return child.attrs["href"]
            found = _first_href(child)
            if found:
                return found
    return ""


def _absolute(href: str, base: str | None) -> str:
    href = href.strip()
    if not href or href.lower().startswith(("javascript:", "data:", "vbscript:")):
        return ""
    return urljoin(base + "/", href) if base and not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", href) else href


def _link(el: _Node, base: str | None) -> str:
    text = _normalize(_render(el, base)).replace("\n", " ")
    classes = el.classes()
    href = el.attrs.get("href", "")
    if "mention" in classes or "hashtag" in classes or href.startswith("#"):
        return text
    target = _absolute(href, base)
    if not target or text == target:
        return text or target
    return f"[{text or target}]({target})"


def _list(el: _Node, base: str | None) -> str:
    ordered = el.tag == "ol"
    start_attr = el.attrs.get("start", "")
    start = int(start_attr) if re.fullmatch(r"[0-9]{1,6}", start_attr) else 1
    lines: list[str] = []
    items = [c for c in el.children if isinstance(c, _Node) and c.tag == "li"]
    for number, item in enumerate(items, start):
        prefix = f"{number}. " if ordered else "- "
        body = _normalize(_render(item, base)).split("\n")
        lines.append(prefix + body[0])
        lines.extend((" " * len(prefix) + line) if line else "" for line in body[1:])
    return f"\n\n{chr(10).join(lines)}\n\n" if lines else ""


def _table(el: _Node, base: str | None) -> str:
    rows: list[list[str]] = []

    def walk(node: _Node) -> None:
        for child in node.children:
            if isinstance(child, _Node):
                if child.tag == "tr":
                    cells = [c for c in child.children if isinstance(c, _Node) and c.tag in ("td", "th")]
                    rows.append([_normalize(_render(c, base)).replace("\n", " ").replace("|", "\\|") for c in cells])
                else:
                    walk(child)

    walk(el)
    rows = [r for r in rows if r]
    if not rows:
        return ""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return _block("\n".join(lines))


# --- threads ---------------------------------------------------------------------------------------------------


@dataclass
class Post:
    """One message of a discussion, already cleaned to markdown by its format's parser."""

    ref: Any
    author: str | None
    author_key: str | None
    body: str
    label: str
    created: str | None = None
    score: int = 0
    accepted: bool = False
    expert: bool = False
    reply_to: Any = None
    url: str | None = None


@dataclass
class Thread:
    """A question post followed by the posts that reply to it, in the order they were written."""

    title: str
    posts: list[Post]
    locator: dict[str, Any] = field(default_factory=dict)
    url: str | None = None
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def thread_records(thread: Thread, asker_followups: bool = True) -> Iterator[Pair | OpenQuestion]:
    """Turn a thread into ranked question/answer pairs, or an open question when nobody answered.

    The asker's own posts before the first answer are merged into the question; later ones are dropped
    unless accepted (a self-answer). An answerer's post that replies to, or directly follows, their own
    answer is merged into it. Answers rank accepted first, then by score, then experts, then by order.

    Args:
        thread: the question post first, then the replies.
        asker_followups: False for formats where every reply is an answer (Stack Exchange).

    Returns:
        ``Pair`` records (kind ``"thread"``, rank 0 = best) or one ``OpenQuestion``.
    """
    posts = [p for p in thread.posts if p.body.strip()]
    if not thread.posts or (not posts and not thread.title.strip()):
        return
    root = thread.posts[0]
    asker = root.author_key
    question_posts = [root] if root.body.strip() else []
    groups: list[list[Post]] = []
    by_ref: dict[Any, list[Post]] = {}
    previous: list[Post] | None = None
    for post in posts:
        if post is root:
            continue
        if asker_followups and asker is not None and post.author_key == asker and not post.accepted:
            if not groups:
                question_posts.append(post)
            previous = None
            continue
        parent = by_ref.get(post.reply_to) if post.reply_to is not None else None
        target = parent if parent and parent[0].author_key == post.author_key else previous
        if target is not None and post.author_key is not None and target[0].author_key == post.author_key:
            target.append(post)
        else:
            target = [post]
            groups.append(target)
        by_ref[post.ref] = target
        previous = target
    question = "\n\n".join(p for p in [thread.title.strip(), *(q.body.strip() for q in question_posts)] if p)
    question_refs = [q.ref for q in question_posts] or [root.ref]
    if not groups:
        yield OpenQuestion(question=question, locator={**thread.locator, "question": question_refs},
                           asked_by=root.author, topics=())
        return
    order = {id(g): i for i, g in enumerate(groups)}
    ranked = sorted(groups, key=lambda g: (not _accepted(g), -_score(g), not any(p.expert for p in g), order[id(g)]))
    for rank, group in enumerate(ranked):
        yield _pair(thread, question, question_refs, root, group, rank)


def _accepted(group: list[Post]) -> bool:
    return any(p.accepted for p in group)


def _score(group: list[Post]) -> int:
    return max(p.score for p in group)


def _pair(thread: Thread, question: str, question_refs: list[Any], root: Post, group: list[Post], rank: int) -> Pair:
    first = group[0]
    accepted = _accepted(group)
    flags = ", accepted" if accepted else ""
    labels = ", ".join(p.label for p in group)
    body = "\n\n".join(p.body.strip() for p in group)
    answer = f"**{first.author or 'anonymous'}** ({labels}{flags}):\n\n{body}"
    extra: dict[str, Any] = {**thread.extra, "asked_by": root.author, "accepted": accepted, "score": _score(group)}
    url = first.url or thread.url
    if url:
        extra["url"] = url
    if thread.url:
        extra["question_url"] = thread.url
    if root.created:
        extra["asked_at"] = root.created
    if first.created:
        extra["answered_at"] = first.created
    if thread.tags:
        extra["tags"] = list(thread.tags)
    return Pair(
        question=question,
        answer=answer,
        locator={**thread.locator, "question": list(question_refs), "answer": [p.ref for p in group]},
        kind="thread",
        heading=thread.title.strip(),
        answered_by=first.author,
        rank=rank,
        api_names=api_names(question, body),
        extra=extra,
    )
