"""Markdown block structure: fenced code runs, top-level blocks, and cutting long text into parts."""

from __future__ import annotations

import re

TABLE_SPLIT = 4000  # a longer table is cut into row groups
CODE_SPLIT = 8000  # a longer code block is cut at its blank lines...
CODE_PIECE = 4000  # ...into pieces of about this size

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def fence_chunks(text: str) -> list[tuple[bool, str]]:
    """Cut text into (is_code, chunk) runs along fenced code blocks (fence lines belong to the code).

    A fence that is never closed is taken as text, not as code running to the end of the page: in these docs
    it is always a typo (`````` ```dbgcmd `````` pasted after a closing fence).
    """
    lines = text.splitlines(keepends=True)
    chunks: list[tuple[bool, str]] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m and not (m.group(2)[0] == "`" and "`" in lines[i][m.end() :]):
            fence = m.group(2)
            end = next((j for j in range(i + 1, len(lines)) if _closes(lines, j, fence)), None)
            if end is not None:
                if prose:
                    chunks.append((False, "".join(prose)))
                    prose = []
                closing = re.sub(r"^(\s*[`~]+).*", r"\1", lines[end].rstrip("\n")) + "\n"
                chunks.append((True, "".join(lines[i:end]) + closing))
                i = end + 1
                continue
        prose.append(lines[i])
        i += 1
    if prose:
        chunks.append((False, "".join(prose)))
    return chunks


def _closes(lines: list[str], j: int, fence: str) -> bool:
    m = _FENCE.match(lines[j])
    if not (m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence)):
        return False
    if not lines[j].strip().strip(fence[0]):
        return True
    # "```dbgcmd" right before a heading is a closing fence with a stray language tag (a typo in the docs)
    after = next((line for line in lines[j + 1 :] if line.strip()), "")
    return after.startswith("#")


def _blocks(text: str) -> list[str]:
    """Top-level blocks separated by blank lines; code blocks and tables never cut."""
    blocks: list[str] = []
    for is_code, chunk in fence_chunks(text):
        parts = [chunk] if is_code else re.split(r"\n[ \t]*\n", chunk)
        blocks.extend(p.strip("\n") for p in parts if p.strip())
    return blocks


def _sentences(block: str, max_chars: int) -> list[str]:
    if block.lstrip().startswith(("|", "```", "~~~")) or "\n```" in block or "\n|" in block:
        return [block]
    pieces: list[str] = []
    cur = ""
    for sent in re.split(r"(?<=[.!?])\s+(?=[A-Z*_`\[(])", block):
        if cur and len(cur) + len(sent) + 1 > max_chars:
            pieces.append(cur)
            cur = sent
        else:
            cur = f"{cur} {sent}" if cur else sent
    pieces = pieces + [cur] if cur else pieces
    if all(len(piece) <= 2 * max_chars for piece in pieces):
        return pieces
    out = []  # no sentence ends to cut at (a syntax line of options): cut between words
    for piece in pieces:
        while len(piece) > 2 * max_chars:
            at = piece.rfind(" ", 0, max_chars)
            at = at if at > 0 else max_chars
            out.append(piece[:at])
            piece = piece[at:].lstrip()
        out.append(piece)
    return out


def _pack(items: list[list[str]], budget: int) -> list[list[str]]:
    """Consecutive items (runs of lines) gathered into groups of at most ``budget`` characters (one item at least)."""
    groups: list[list[str]] = []
    size = budget + 1
    for item in items:
        n = sum(len(line) + 1 for line in item)
        if groups and size + n <= budget:
            groups[-1].extend(item)
            size += n
        else:
            groups.append(list(item))
            size = n
    return groups


def _split_lines(block: str, max_chars: int) -> list[str]:
    """An over-long list or run of lines cut between items, so list markup survives; prose falls back on sentences.

    An item that is still too long (a nested list) is cut before its own sub-items, each piece dedented so that
    it does not turn into an indented code block.
    """
    lines = block.split("\n")
    items = _items(lines, len(lines[0]) - len(lines[0].lstrip()))
    if len(items) == 1 and not any(_LIST_ITEM.match(line) for line in lines[1:]):
        return _sentences(block, max_chars)
    out: list[list[str]] = []
    for item in items:
        if sum(len(line) + 1 for line in item) > max_chars and len(item) > 1:
            sub = _items(item[1:], 10**6)
            out.extend(_dedent(piece) for piece in _pack([[item[0], *sub[0]], *sub[1:]], max_chars))
        else:
            out.append(item)
    return ["\n".join(group) for group in _pack(out, max_chars)]


def _items(lines: list[str], indent: int) -> list[list[str]]:
    """Lines grouped into items: one starts at a list marker (or after a line that ends a sentence) at most
    ``indent`` deep."""
    items: list[list[str]] = [[lines[0]]]
    for prev, line in zip(lines, lines[1:], strict=False):
        at_base = len(line) - len(line.lstrip()) <= indent and line.strip()
        if at_base and (_LIST_ITEM.match(line) or re.search(r"[.:!?)*`>|]\s*$", prev)):
            items.append([line])
        else:
            items[-1].append(line)
    return items


def _dedent(lines: list[str]) -> list[str]:
    cut = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return [line[cut:] for line in lines]


def _split_table(block: str, max_chars: int, caption: str) -> list[str]:
    """A big pipe table cut into row groups, each a valid table with the header row repeated and a lead line."""
    lines = block.split("\n")
    start = _table_start(lines)
    if start is None:
        return [block]
    end = start + 2
    while end < len(lines) and "|" in lines[end]:
        end += 1
    head, rows = lines[start : start + 2], lines[start + 2 : end]
    name = re.sub(r"(?i)\s+table$", "", _plain(caption))
    name = f"the {name} table" if name else "the table"
    budget = max_chars - sum(len(line) + 1 for line in head) - len(name) - 40
    groups = _pack([[row] for row in rows], max(budget, 200))
    if len(groups) < 2:
        return [block]
    pieces, first = [], 1
    for k, group in enumerate(groups):
        table = "\n".join(head + group)
        if k == 0:
            pieces.append("\n".join(lines[:start] + [table]))
        else:
            pieces.append(f"(continued: rows {first}–{first + len(group) - 1} of {name})\n\n{table}")
        first += len(group)
    if end < len(lines):  # lines after the table stay with its last rows
        pieces[-1] += "\n" + "\n".join(lines[end:])
    return pieces


def _table_start(lines: list[str]) -> int | None:
    """Index of a pipe table's header row: a line with "|" followed by a "| --- |" rule line."""
    return next((i for i in range(len(lines) - 1)
                 if "|" in lines[i] and "|" in lines[i + 1] and _TABLE_RULE.match(lines[i + 1])), None)


def _split_code(block: str, piece_chars: int) -> list[str]:
    """A huge fenced code block cut at its blank lines, each piece a valid fenced block with a lead line."""
    lines = block.split("\n")
    opening, body, closing = lines[0], lines[1:-1], lines[-1]
    items: list[list[str]] = [[]]
    for line in body:
        if not line.strip() and items[-1]:
            items[-1].append(line)
            items.append([])
        else:
            items[-1].append(line)
    groups = _pack([item for item in items if item], piece_chars)
    if len(groups) < 2:
        return [block]
    pieces, first = [], 1
    for k, group in enumerate(groups):
        while group and not group[0].strip():  # a piece starts at its first non-blank line
            first += 1
            group.pop(0)
        size = len(group)
        while group and not group[-1].strip():
            group.pop()
        fenced = "\n".join([opening, *group, closing])
        last = first + len(group) - 1
        pieces.append(fenced if k == 0 else f"(continued: lines {first}–{last} of the code block)\n\n{fenced}")
        first += size
    return pieces


def _plain(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^#+\s*|[*`]|\\(?=[_*])", "", text.strip())
    return " ".join(text.split()).rstrip(":")


def _caption(before: list[str], default: str) -> str:
    """What a table is called: the nearest heading or bold line before it, else the caller's default."""
    for block in reversed(before):
        if block.startswith("#") or block.startswith("**") and block.rstrip(":").endswith("**") and "\n" not in block:
            return _plain(block)
    return default


def split_long(text: str, max_chars: int, caption: str = "") -> list[str]:
    """Split markdown into parts of at most ``max_chars`` along block boundaries.

    Prefers cutting before a heading or a top-level block. Code blocks and tables stay whole up to a limit:
    a table over TABLE_SPLIT characters is cut into row groups (each a valid table with its header row and a
    "(continued: rows N–M of the X table)" lead line), a code block over CODE_SPLIT characters at its blank
    lines (each piece a valid fenced block). Over-long lists are cut between items, over-long paragraphs
    between sentences; a small last part is folded into the one before it.

    Args:
        text: markdown.
        max_chars: the target size of a part.
        caption: what to call a table that has no heading or bold caption of its own (the section title).

    Returns:
        A list of markdown parts (one part when the text fits).
    """
    if len(text) <= max_chars:
        return [text]
    blocks: list[str] = []
    for block in _blocks(text):
        if len(block) <= max_chars:
            blocks.append(block)
        elif _FENCE.match(block):
            blocks.extend(_split_code(block, max(max_chars, CODE_PIECE)) if len(block) > CODE_SPLIT else [block])
        elif _table_start(block.split("\n")) is not None:
            blocks.extend(_split_table(block, max_chars, _caption(blocks, caption))
                          if len(block) > TABLE_SPLIT else [block])
        else:
            blocks.extend(_split_lines(block, max_chars))
    parts: list[list[str]] = [[]]
    size = 0
    for block in blocks:
        if parts[-1] and size + len(block) + 2 > max_chars and not (len(block) > max_chars and size < max_chars // 3):
            cut = _best_cut(parts[-1], max_chars)
            carry = parts[-1][cut:]
            parts[-1] = parts[-1][:cut]
            parts.append(carry)
            size = sum(len(b) + 2 for b in carry)
        parts[-1].append(block)
        size += len(block) + 2
    texts = ["\n\n".join(p) for p in parts if p]
    if len(texts) > 1 and len(texts[-1]) < max_chars // 5 and len(texts[-2]) + len(texts[-1]) < max_chars * 1.25:
        texts[-2:] = [texts[-2] + "\n\n" + texts[-1]]
    return texts


def _best_cut(blocks: list[str], max_chars: int) -> int:
    """Index to cut ``blocks`` at: before the last heading past half the budget, else the last top-level block."""
    pos, heading, top = 0, 0, 0
    for i, block in enumerate(blocks):
        if i and pos >= max_chars // 2:
            if block.startswith("#") or block.startswith("**") and block.endswith("**") and "\n" not in block:
                heading = i
            elif not block.startswith((" ", "\t", "|")):
                top = i
        pos += len(block) + 2
    return heading or top or len(blocks)
