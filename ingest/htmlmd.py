"""HTML left in docs markdown (tables, <b>, <a href>, lists) turned into plain markdown."""

from __future__ import annotations

import re
from typing import Any

_ROW = re.compile(r"<tr[^>]*>(.*?)</tr>", re.I | re.S)
_CELL = re.compile(r"<t([hd])(?:\s[^>]*)?>(.*?)</t[hd]>", re.I | re.S)


def html_table(html: str) -> str:
    """An HTML table as a markdown pipe table.

    Args:
        html: one ``<table>...</table>`` element.

    Returns:
        The pipe table between blank lines (each cell joined into one line, ``<br>`` for its paragraph
        breaks); the input unchanged when it nests tables or has no rows.
    """
    if html.lower().count("<table") > 1:
        return html
    rows = [_CELL.findall(row) for row in _ROW.findall(html)]
    rows = [r for r in rows if r]
    if not rows:
        return html
    # one _inline_html pass over all cells at once: \x01 separates them and survives every substitution
    texts = inline_html("\x01".join(cell for row in rows for _, cell in row)).split("\x01")
    width = max(len(r) for r in rows)
    lines, k = [], 0
    for row in rows:
        cells = []
        for _ in row:
            text = re.sub(r"\s*\n\s*\n\s*", "<br>", texts[k].strip())
            cells.append(re.sub(r"\s*\n\s*", " ", text).replace("|", "\\|"))
            k += 1
        lines.append("| " + " | ".join(cells + [""] * (width - len(cells))) + " |")
    lines.insert(1, "|" + " --- |" * width)
    return "\n\n" + "\n".join(lines) + "\n\n"


# (trigger, pattern, replacement): a pattern runs only when its trigger occurs in the lowercased text
_TAG_SUBS: list[tuple[str, re.Pattern[str], Any]] = [
    ("<!--", re.compile(r"<!--.*?-->", re.S), ""),
    ("<", re.compile(r"(?:<(?:span|a)\s+(?:id|name)=[\"'][^\"']*[\"']\s*/?>\s*</(?:span|a)>)+[ \t]*", re.I), ""),
    ("<a", re.compile(r"<a\s+(?:id|name)=[\"'][^\"']*[\"']\s*>(.*?)</a>", re.I | re.S), r"\1"),
    ("<a", re.compile(r"<a\s[^>]*?href=\"([^\"]*)\"[^>]*>(.*?)</a>", re.I | re.S), r"[\2](\1)"),
    ("<img", re.compile(r"<img\s[^>]*?src=\"([^\"]*)\"[^>]*?(?:alt=\"([^\"]*)\")?[^>]*>", re.I), r"![\2](\1)"),
    ("<h", re.compile(r"\s*<h([1-6])[^>]*>\s*(.*?)\s*</h\1>\s*", re.I | re.S),
     lambda m: f"\n\n{'#' * int(m[1])} {m[2]}\n\n"),
    ("<b", re.compile(r"<(b|strong)>\s*(.*?)\s*</\1>", re.I | re.S), r"**\2**"),
    ("<", re.compile(r"<(i|em)>\s*(.*?)\s*</\1>", re.I | re.S), r"*\2*"),
    ("<code", re.compile(r"<code>(.*?)</code>", re.I | re.S), r"`\1`"),
    ("<li", re.compile(r"\s*<li(?:\s[^>]*)?>\s*", re.I), "\n- "),
    ("</li", re.compile(r"\s*</li>\s*", re.I), "\n"),
    ("l>", re.compile(r"\s*</?(?:ul|ol|dl)(?:\s[^>]*)?>\s*", re.I), "\n\n"),
    ("<", re.compile(r"\s*</?(?:p|dt|dd|div)(?:\s[^>]*)?>\s*", re.I), "\n\n"),
    ("<", re.compile(r"</?(?:span|font|u)(?:\s[^>]*)?>", re.I), ""),
    ("&nbsp;", re.compile(r"&nbsp;"), " "),
]


def inline_html(text: str) -> str:
    """Simple inline HTML as markdown: <b> to **, <a href> to links, <li> to list items; comments dropped.

    Args:
        text: markdown with HTML tags in it (code spans already set aside by the caller).

    Returns:
        The text with the tags the docs use replaced by their markdown forms and the others dropped.
    """
    text = text.replace("\xa0", " ")
    if "<" not in text and "&nbsp;" not in text:
        return text
    low = text.lower()
    for trigger, pattern, repl in _TAG_SUBS:
        if trigger in low:
            text = pattern.sub(repl, text)
    return text
