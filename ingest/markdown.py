"""Markdown helpers shared by the Microsoft Learn parsers: front matter, links, cleaning, sections."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

import yaml

from ingest.htmlmd import html_table
from ingest.htmlmd import inline_html
from ingest.mdblocks import fence_chunks
from ingest.mdblocks import split_long

LEARN = "https://learn.microsoft.com"
DRIVERS = f"{LEARN}/windows-hardware/drivers/"
DOCS_ROOT = "windows-driver-docs-pr/"
DDI_ROOT = "wdk-ddi-src/content/"

# split_long moved to ingest.mdblocks; it stays importable from here
__all__ = ["DDI_ROOT", "DOCS_ROOT", "DRIVERS", "LEARN", "Section", "clean_markdown", "learn_url", "plain_text",
           "resolve_link", "slugify", "split_front_matter", "split_long", "split_sections"]

try:  # libyaml is ~20x faster; the whole corpus has 38k front matters
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-python yaml build
    _Loader = yaml.SafeLoader

_FM_LINE = re.compile(r"^(?:[\w.-]+:.*|[ \t]+\S.*|[ \t]*-[ \t].*)$")
_HEADING = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$")
_LINK = re.compile(
    r"(!?)\[((?:\\.|[^\[\]\n\\]|\n(?![ \t]*\n)|\[(?:\\.|[^\[\]\n\\])*\])*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?"
    r"(\s+\"[^\"\n]*\")?\s*\)"
)
_MARKUP = re.compile(r"[\[\]<>*_`\\:&\xa0]")
_REFDEF = re.compile(r"^(\s*\[[^\]\n]+\]:\s*)(\S+)", re.M)
_INLINE_CODE = re.compile(r"(?<![\\`])(`+)(?!`)(?:[^`\n]|`(?!\1)|\n(?![ \t]*\n))+?(?<!`)\1(?!`)")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML front matter from a markdown page.

    Args:
        text: the whole file.

    Returns:
        ``(meta, body)``: ``meta`` is the front matter as a dict ({} when absent or malformed, never an
        exception), ``body`` the rest of the text, with LF line ends.
    """
    text = text.lstrip("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---"):
        return {}, text
    match = re.compile(r"^---[ \t]*$", re.M).search(text, 3)
    first = text.find("\n")
    if first < 0 or text[3:first].strip():
        return {}, text
    if match is None:
        # Unclosed front matter: its "key: value" lines are not page content; the body starts after them.
        rest = text[first + 1 :]
        lines = rest.split("\n")
        keep = 0
        while keep < len(lines) and _FM_LINE.match(lines[keep]):
            keep += 1
        return {}, "\n".join(lines[keep:]).lstrip("\n")
    block, body = text[first + 1 : match.start()], text[match.end() :].lstrip("\n")
    try:
        if "*" in block and any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(block, Loader=_Loader)):
            # Docs front matter never uses aliases; refusing them stops "billion laughs" expansion later.
            return {}, body
        meta = yaml.load(block, Loader=_Loader)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        # ValueError: impossible dates such as 2024-13-45 that YAML still reads as timestamps.
        return {}, body
    return (meta if isinstance(meta, dict) else {}), body


def slugify(heading: str) -> str:
    """GitHub-style anchor of a heading: markup stripped, lowercased, punctuation dropped, spaces to hyphens."""
    text = plain_text(heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def plain_text(markdown: str) -> str:
    """Inline markdown/HTML reduced to its visible text (for headings, questions and anchors)."""
    if not _MARKUP.search(markdown):
        return " ".join(markdown.split())
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)|:::image[^\n]*?:::", "", markdown)
    text = re.sub(r":::no-loc text=\"([^\"]*)\":::", r"\1", text)
    text = _LINK.sub(lambda m: "" if m.group(1) else m.group(2), text)
    text = re.sub(r"<[^>\n]+>", "", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!<>|])", r"\1", text)
    text = re.sub(r"(\*{1,3}|_{2,3}|`+)(\S(?:.*?\S)?)\1", r"\2", text)
    return re.sub(r"\s+", " ", text.replace("&nbsp;", " ").replace("\xa0", " ")).strip()


def learn_url(path: str) -> str | None:
    """Published URL of a docs repository file.

    Args:
        path: a path containing ``windows-driver-docs-pr/`` or ``wdk-ddi-src/content/``.

    Returns:
        ``https://learn.microsoft.com/windows-hardware/drivers/...`` without ``.md`` (``index.md`` gives the
        folder URL, no trailing slash), or None when the path is under neither tree.
    """
    for root, base in ((DOCS_ROOT, DRIVERS), (DDI_ROOT, DRIVERS + "ddi/")):
        at = path.find(root)
        if at >= 0 and (at == 0 or path[at - 1] in "/!:"):
            return base + _web_path(path[at + len(root) :])
    return None


def _web_path(rel: str) -> str:
    if rel.endswith(".md"):
        rel = rel[:-3]
        if rel == "index" or rel.endswith("/index"):
            rel = rel[:-6] if rel.endswith("/index") else ""
    return rel


def _guess_folder(name: str) -> str:
    # Without the page's own folder we guess from the file-name shapes the debugger docs use:
    # extensions are "-object.md" ("!object"), commands "g--go-.md", "bp--bu--bm--set-breakpoint-.md".
    if name.startswith("-") or re.fullmatch(r"[a-z0-9]+(?:--[a-z0-9-]+)+-", name):
        return "debuggercmds/"
    if name.startswith("bug-check-"):
        return "debugger/"
    return ""


def resolve_link(href: str, page_path: str, base_url: str | None = None) -> str:
    """Make a link from a docs page absolute.

    Args:
        href: the link target as written (``../debuggercmds/-object.md``, ``/windows-hardware/...``, ``#anchor``).
        page_path: path of the page the link is on (repository-relative, or any name for loose files).
        base_url: the page's own URL when known; used when ``page_path`` is under no docs tree.

    Returns:
        An absolute URL (``.md`` dropped), or ``href`` unchanged when it already is absolute or cannot be
        resolved (a bare ``#anchor`` on a page whose URL is unknown).
    """
    href = href.strip()
    if not href or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", href):
        return href
    path, sep, frag = href.partition("#")
    page_url = learn_url(page_path) or base_url
    if not path:
        return f"{page_url}#{frag}" if page_url else href
    if path.startswith("/"):
        url = LEARN + _web_path(path)
    else:
        root = next((r for r in (DOCS_ROOT, DDI_ROOT) if r in page_path), None)
        if root:
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), path))
            url = learn_url(joined) if root in joined else None
            if url is None:  # the link climbs out of its tree: fall back on its last parts
                url = DRIVERS + _web_path(path.lstrip("./").replace("../", ""))
        elif base_url:
            url = _web_path(posixpath.join(base_url.rsplit("/", 1)[0] + "/", path))
            url = re.sub(r"/(?:\./)+", "/", url)
            while re.search(r"/[^/]+/\.\./", url):
                url = re.sub(r"/[^/]+/\.\./", "/", url, count=1)
        else:
            rel = _web_path(posixpath.normpath(path).replace("../", "").lstrip("./"))
            ddi = re.match(r"(?:.*/)?(n[a-z]-([a-z0-9_]+)-[^/]+)$", rel)
            if ddi:  # an API page name carries its header: nf-wdm-keclearevent -> ddi/wdm/
                url = f"{DRIVERS}ddi/{ddi.group(2)}/{ddi.group(1)}"
            else:
                url = DRIVERS + ("" if "/" in rel else _guess_folder(rel)) + rel
    return url + sep + frag



# --- the cleaning pass -----------------------------------------------------------------------------------

_NOTE = re.compile(r"^(\s*>\s*)\[!(NOTE|TIP|IMPORTANT|CAUTION|WARNING)\]\s*$", re.M | re.I)
_DIRECTIVES = [
    (re.compile(r"^[ \t]*(?:>[ \t]*)?\[!INCLUDE\s*\[[^\]]*\]\([^)]*\)\]\s*$", re.M | re.I), ""),
    (re.compile(r"\[!INCLUDE\s*\[[^\]]*\]\([^)]*\)\]", re.I), ""),
    (re.compile(r"^\s*>\s*\[!div[^\]]*\]\s*$", re.M | re.I), ""),
    (re.compile(r"\[!VIDEO\s+([^\]\s]+)\]", re.I), r"[Video](\1)"),
    (re.compile(r":::image\s[^\n]*?source=\"([^\"]*)\"[^\n]*?alt-text=\"([^\"]*)\"[^\n]*?:::", re.I), r"![\2](\1)"),
    (re.compile(r":::image-end:::", re.I), ""),
    (re.compile(r":::no-loc\s+text=\"([^\"]*)\":::", re.I), r"\1"),
    (re.compile(r"^[ \t]*:::[^\n]*$", re.M), ""),
    (re.compile(r"\[([^\]\n]*)\]\(mailto:[^)]*\"Send comments about this topic to Microsoft\"\)"), ""),
    (re.compile(r"\[Send comments about this topic to Microsoft\]\(mailto:[^)\n]*\)", re.I), ""),
    (re.compile(r"\\_"), "_"),  # "CARD\_DATA": identifiers must stay searchable as written
]


def _clean_prose(text: str, page_path: str, base_url: str | None) -> str:
    # inline code spans are set aside so that "<b>" or "[x](y)" inside them stays literal
    spans: list[str] = []

    def keep(m: re.Match[str]) -> str:
        spans.append(m.group(0))
        return f"\x00{len(spans) - 1}\x00"

    text = _INLINE_CODE.sub(keep, text) if "`" in text else text
    text = re.sub(r"(?is)<table.*?</table>", lambda m: html_table(m.group(0)), text)
    text = re.sub(r":::image\s[^\n]*?:::\n(.*?):::image-end:::", lambda m: m.group(0).split("\n")[0], text, flags=re.S)
    for pattern, repl in _DIRECTIVES:
        text = pattern.sub(repl, text)
    text = _NOTE.sub(lambda m: f"{m.group(1)}**{m.group(2).capitalize()}:**", text)
    text = re.sub(r"^(\s*>\s*\*\*\w+:\*\*)\n\s*>\s*(?=\S)", r"\1 ", text, flags=re.M)
    text = inline_html(text)

    def link(m: re.Match[str]) -> str:
        bang, label, href, title = m.groups()
        if "](" in label:  # a link inside a link's label: [[Name](page.md)]()
            label = _LINK.sub(link, label)
        return f"{bang}[{label}]({resolve_link(href, page_path, base_url)}{title or ''})"

    text = _LINK.sub(link, text)
    text = _REFDEF.sub(lambda m: m.group(1) + resolve_link(m.group(2), page_path, base_url), text)
    if spans:
        text = re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text)
    return text


def clean_markdown(body: str, page_path: str, base_url: str | None = None) -> str:
    """Clean a docs page body into plain, portable markdown.

    Drops HTML comments, empty ``<span id>`` anchors, include directives, ``:::`` directives (images become
    markdown images), "Send comments" footers and empty headings; turns ``> [!NOTE]`` into a plain quote,
    HTML tables into pipe tables and simple inline HTML into markdown; makes every link absolute. Code
    blocks are left untouched.

    Args:
        body: markdown without front matter.
        page_path: the page's path (links resolve against it, see ``resolve_link``).
        base_url: the page's URL when the path is not under a docs tree.

    Returns:
        The cleaned markdown, blank runs collapsed, no trailing whitespace.
    """
    out: list[str] = []
    for is_code, chunk in fence_chunks(body):
        if is_code:
            out.append(chunk)
            continue
        lines: list[str] = []
        cleaned = _clean_prose(chunk, page_path, base_url)
        for line in cleaned.split("\n")[:-1] if cleaned.endswith("\n") else cleaned.split("\n"):
            # two trailing spaces are a hard line break in markdown: keep exactly those
            line = line.rstrip() + ("  " if line.endswith("  ") and line.strip() else "")
            if line.lstrip().startswith("|") and ("  " in line or "----" in line):  # padded table: fewer bytes
                indent = line[: len(line) - len(line.lstrip())]
                line = indent + re.sub(r" {2,}", " ", line.strip())
                if set(line) <= set("|-: "):
                    line = re.sub(r"-{4,}", "---", line)
            heading = _HEADING.match(line)
            if heading and not plain_text(heading.group(2) or ""):
                continue
            if line.strip() in ("", ">"):
                if lines and lines[-1] == "" or not lines and out and out[-1].endswith("\n\n"):
                    continue
                line = ""
            lines.append(line)
        out.append("\n".join(lines) + ("\n" if cleaned.endswith("\n") else ""))
    return "".join(out).strip("\n")


# --- sections --------------------------------------------------------------------------------------------------


@dataclass
class Section:
    """One heading and the text under it up to the next heading (any level)."""

    level: int  # 0 for text before the first heading
    title: str  # visible heading text
    anchor: str  # GitHub-style slug, unique within the page
    text: str  # markdown under the heading, heading line excluded


def split_sections(body: str) -> list[Section]:
    """Cut a (cleaned) markdown body at its ATX headings, ignoring ``#`` lines inside code blocks.

    Args:
        body: markdown without front matter.

    Returns:
        Sections in page order; the first has level 0 and title "" when text precedes the first heading.
        Anchors are de-duplicated the GitHub way (``name``, ``name-1``, ``name-2``).
    """
    sections: list[Section] = []
    seen: dict[str, int] = {}
    level, title, buf = 0, "", []

    def flush() -> None:
        text = "\n".join(buf).strip("\n")
        if level == 0 and not text.strip():
            return
        anchor = slugify(title)
        if anchor in seen:
            seen[anchor] += 1
            anchor = f"{anchor}-{seen[anchor]}"
        else:
            seen[anchor] = 0
        sections.append(Section(level, title, anchor, text))

    for is_code, chunk in fence_chunks(body):
        if is_code:
            buf.append(chunk.rstrip("\n"))
            continue
        for line in (chunk[:-1] if chunk.endswith("\n") else chunk).split("\n"):
            m = _HEADING.match(line)
            if m:
                flush()
                # "## >Debugging memory leaks" happens in the docs: a stray quote marker, never part of a title.
                level, title, buf = len(m.group(1)), plain_text(m.group(2) or "").lstrip("> \t"), []
            else:
                buf.append(line)
    flush()
    return sections
