"""Markdown (as stored in the KB) to Slack mrkdwn, and cutting answers short at a sensible boundary."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

LEARN_ORIGIN = "https://learn.microsoft.com"
# HTML that pasted wiki pages carry; anything else in angle brackets (List<T>, <= DISPATCH_LEVEL) is left as text.
_HTML_TAGS = ("a|abbr|b|br|blockquote|code|dd|div|dl|dt|em|font|h[1-6]|hr|i|iframe|img|kbd|li|ol|p|pre|s|small|"
              "span|strong|sub|sup|table|tbody|td|th|thead|tr|tt|u|ul|var")
_DROP_WITH_CONTENT_RE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_TAG_RE = re.compile(rf"</?(?:{_HTML_TAGS}|script|style)\b[^<>]*/?>", re.I)
_CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1")
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\(\s*<?((?:[^()\s>]|\([^()\s]*\))+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK_RE = re.compile(r"<(https?://[^<>\s|]+)>")
_BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_PLACEHOLDER_RE = re.compile("\x00(\\d+)\x00")
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET_RE = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_FENCE_RE = re.compile(r"^(\s*)(```|~~~)")
_BACKTICK_RUN_RE = re.compile(r"`{3,}")
_SENTENCE_END_RE = re.compile(r"[.!?:;](?=\s|$)")


def escape(text: str) -> str:
    """Escape the three characters Slack reserves in message text (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A Slack link ``<url|label>``; the label loses the characters that would end the link early."""
    label = " ".join(label.replace("|", "/").replace("*", "").replace("`", "'").split()) or url
    return f"<{url.replace('&', '&amp;').replace('<', '%3C').replace('>', '%3E').replace('|', '%7C')}|{escape(label)}>"


def resolve_url(url: str, base_url: str | None) -> str | None:
    """An absolute http(s) URL for a markdown link target, or None when it cannot be resolved safely.

    Learn-relative links (``/windows-hardware/...``) go to learn.microsoft.com; relative ``.md`` links are resolved
    against the source page. Other schemes (``javascript:``, ``file:``) never become links.
    """
    if url.startswith(("http://", "https://")):
        return url
    if url.startswith("/") and not url.startswith("//"):
        return LEARN_ORIGIN + url
    if base_url and base_url.startswith(("http://", "https://")) and re.match(r"^[\w.\-/#?=%]+$", url):
        resolved = urljoin(base_url, url)
        return re.sub(r"\.md(?=$|#)", "", resolved)
    return None


def _inline(text: str, base_url: str | None) -> str:
    saved: list[str] = []

    def keep(value: str) -> str:
        saved.append(value)
        return f"\x00{len(saved) - 1}\x00"

    def code_span(m: re.Match[str]) -> str:
        return keep("`" + escape(m.group(2).replace("`", "'")) + "`")

    def md_link(m: re.Match[str]) -> str:
        label = re.sub(r"[*_`]", "", m.group(1))
        target = resolve_url(m.group(2), base_url)
        label = html.unescape(label)
        return keep(link(target, label) if target else escape(label))

    text = text.replace("\x00", "").replace("\x01", "")  # our placeholder marks; never meaningful in an answer
    text = _DROP_WITH_CONTENT_RE.sub("", text)
    text = _TAG_RE.sub(lambda m: " " if m.group(0).lower().startswith("<br") else "", text)
    text = _CODE_SPAN_RE.sub(code_span, text)
    text = _IMAGE_RE.sub(lambda m: m.group(1), text)
    text = _LINK_RE.sub(md_link, text)
    text = _AUTOLINK_RE.sub(lambda m: keep(link(m.group(1), m.group(1))), text)
    # The docs' markdown writes "&lt;=" for "<="; decode it first so Slack shows "<=", not "&lt;=".
    text = escape(html.unescape(text))
    text = _BOLD_RE.sub(lambda m: "\x01" + (m.group(1) or m.group(2)) + "\x01", text)
    text = _ITALIC_RE.sub(r"_\1_", text)
    text = text.replace("\x01", "*")
    return _PLACEHOLDER_RE.sub(lambda m: saved[int(m.group(1))], text)


def _line(line: str, base_url: str | None) -> str | None:
    if _TABLE_RULE_RE.match(line) and "-" in line:
        return None
    stripped = line.strip()
    if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        return "   ".join(_inline(c, base_url) for c in cells)
    heading = _HEADING_RE.match(line)
    if heading:
        return "*" + _inline(heading.group(1), base_url).replace("*", "") + "*"
    bullet = _BULLET_RE.match(line)
    if bullet:
        return bullet.group(1) + "• " + _inline(bullet.group(2), base_url)
    if stripped.startswith(">"):
        return "> " + _inline(stripped.lstrip("> "), base_url)
    return _inline(line, base_url)


def _no_fence(text: str) -> str:
    # In Slack, ``` anywhere opens or closes a code block: only our own fence lines may contain one.
    return _BACKTICK_RUN_RE.sub(lambda m: "'" * len(m.group(0)), text)


def to_mrkdwn(markdown: str, base_url: str | None = None) -> str:
    """Convert KB markdown to Slack mrkdwn.

    Bold, italics, inline code, fenced code (language tags dropped), headings (bold lines), bullets, tables (one row
    per line) and links (``<url|text>``; relative ones resolved against ``base_url``) are converted; HTML tags are
    removed (script and style with their content) and ``& < >`` escaped, so nothing can inject Slack markup.

    Args:
        markdown: the answer as stored.
        base_url: URL of the source page, for relative links.

    Returns:
        mrkdwn text.
    """
    out: list[str] = []
    fence_indent: int | None = None
    for line in markdown.replace("\r\n", "\n").split("\n"):
        fence = _FENCE_RE.match(line)
        if fence:
            fence_indent = None if fence_indent is not None else len(fence.group(1))
            out.append("```")
            continue
        if fence_indent is not None:
            cut = min(fence_indent, len(line) - len(line.lstrip(" ")))
            out.append(_no_fence(escape(line[cut:])))
            continue
        converted = _line(line, base_url)
        if converted is not None:
            out.append(_no_fence(converted.rstrip()))
    if fence_indent is not None:
        out.append("```")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def to_plain(markdown: str) -> str:
    """Markdown reduced to plain words (for notification text): no emphasis marks, fences, tags or link targets."""
    text = _DROP_WITH_CONTENT_RE.sub("", markdown)
    text = _TAG_RE.sub(" ", text)
    text = _IMAGE_RE.sub(lambda m: m.group(1), text)
    text = _LINK_RE.sub(lambda m: m.group(1), text)
    text = re.sub(r"\*\*|__", "", text)
    text = re.sub(r"`{3,}|~~~|^\s*#+\s*|^\s*\|?[\s:|-]*-{2,}[\s:|-]*$", " ", text, flags=re.M)
    return text.replace("|", " ").replace("`", "'")


def _split_blocks(markdown: str) -> list[tuple[str, bool]]:
    """Paragraphs separated by blank lines; fenced code blocks whole. Returns (text, is_code) pairs."""
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    in_code = False

    def flush(is_code: bool) -> None:
        if current and any(x.strip() for x in current):
            blocks.append(("\n".join(current), is_code))
        current.clear()

    for line in markdown.replace("\r\n", "\n").split("\n"):
        if _FENCE_RE.match(line):
            if not in_code:
                flush(False)
                current.append(line)
                in_code = True
            else:
                current.append(line)
                flush(True)
                in_code = False
        elif in_code:
            current.append(line)
        elif not line.strip():
            flush(False)
        else:
            current.append(line)
    if in_code:
        current.append(current[0][: len(current[0]) - len(current[0].lstrip())] + "```")
    flush(in_code)
    return blocks


def code_excerpt(block: str, limit: int) -> str:
    """The first lines of a fenced code block (about ``limit`` characters), marked as cut and fenced again."""
    lines = block.split("\n")
    opener, body = lines[0], lines[1:-1] if len(lines) > 1 else []
    indent = opener[: len(opener) - len(opener.lstrip())]
    kept: list[str] = []
    used = 0
    for line in body:
        line = line if len(line) <= 160 else line[:157] + "..."
        if used + len(line) + 1 > limit and kept:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join([opener, *kept, indent + "...", indent + "```"])


def cut_prose(text: str, room: int) -> str:
    """``text`` cut to at most ``room`` characters after a sentence end (or a word when no sentence ends early
    enough), followed by an ellipsis."""
    if len(text) <= room:
        return text
    head = text[: max(0, room - 2)]
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(head)]
    if ends and ends[-1] >= room * 0.4:
        return head[: ends[-1]].rstrip() + " …"
    space = max(head.rfind(" "), head.rfind("\n"))
    return (head[:space] if space > room * 0.4 else head).rstrip() + " …"


def shorten(markdown: str, limit: int = 1200, code_limit: int = 800, code_excerpt_chars: int = 400) -> tuple[str, bool]:
    """Cut an answer to about ``limit`` characters at a paragraph boundary, else at a sentence end.

    Code blocks longer than ``code_limit`` keep only their first ``code_excerpt_chars`` (the full answer is linked
    from the message), and a code block is never cut open.

    Args:
        markdown: the answer as stored.
        limit: target length in characters.
        code_limit: longest code block kept whole.
        code_excerpt_chars: size of the excerpt that replaces a longer block.

    Returns:
        (shortened markdown, True if anything was left out).
    """
    parts: list[tuple[str, bool]] = []
    cut = False
    for text, is_code in _split_blocks(markdown.strip()):
        if is_code and len(text) > code_limit:
            text, cut = code_excerpt(text, code_excerpt_chars), True
        parts.append((text, is_code))
    out: list[str] = []
    used = 0
    for text, is_code in parts:
        extra = len(text) + (2 if out else 0)
        if used + extra <= limit:
            out.append(text)
            used += extra
            continue
        room = limit - used - (2 if out else 0)
        if is_code and not out:
            out.append(code_excerpt(text, max(100, room - 40)))
        elif not is_code and (room >= 200 or not out):
            out.append(cut_prose(text, max(room, 200)))
        cut = True
        break
    return "\n\n".join(out), cut


def clamp(text: str, limit: int) -> str:
    """Hard-cut mrkdwn to ``limit`` characters without leaving a link or code block open."""
    if len(text) <= limit:
        return text
    head = text[: limit - 6]
    if head.rfind("<") > head.rfind(">"):
        head = head[: head.rfind("<")]
    head = re.sub(r"&[a-z]{0,3}$", "", head)  # a cut "&amp;" would show as "&am"
    space = max(head.rfind(" "), head.rfind("\n"))
    if space > len(head) // 2:
        head = head[:space]
    head = head.rstrip() + " …"
    if head.count("```") % 2:
        head += "\n```"
    return head
