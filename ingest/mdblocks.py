"""Markdown block structure: fenced code runs, top-level blocks, and cutting long text into parts."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")


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
    return pieces + [cur] if cur else pieces


def split_long(text: str, max_chars: int) -> list[str]:
    """Split markdown into parts of at most ``max_chars`` along block boundaries.

    Prefers cutting before a heading or a top-level block; never cuts inside a code block or a table (an
    oversized code block or table stays whole); over-long paragraphs are cut between sentences; a small
    last part is folded into the one before it.

    Args:
        text: markdown.
        max_chars: the target size of a part.

    Returns:
        A list of markdown parts (one part when the text fits).
    """
    if len(text) <= max_chars:
        return [text]
    blocks: list[str] = []
    for block in _blocks(text):
        blocks.extend(_sentences(block, max_chars) if len(block) > max_chars else [block])
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
