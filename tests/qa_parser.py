"""A minimal parser for core tests: `Q: ...` / `A: ...` blocks, one pair each."""

from __future__ import annotations

from collections.abc import Iterator

from kb.errors import ParseError
from kb.models import Pair
from kb.models import Record
from kb.models import SourceDoc
from kb.models import SourceMeta


def parse(text: str, source: SourceDoc) -> Iterator[Record]:
    """Yield a pair for each `Q:`/`A:` block; the first line `# title` names the source."""
    if "BROKEN" in text:
        raise ParseError("file says BROKEN")
    lines = text.splitlines()
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("#") else source.path
    yield SourceMeta(title=title, api_names=tuple(w for w in text.split() if w.startswith("Api:"))
                     and tuple(w[4:] for w in text.split() if w.startswith("Api:")))
    for i, block in enumerate(text.split("Q:")[1:], start=1):
        question, _, answer = block.partition("A:")
        yield Pair(question=question.strip(), answer=answer.strip(), locator={"section": f"q{i}"})
