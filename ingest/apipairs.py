"""The Q&A pairs of an API reference page: overview, parameter and remarks parts, IRQL and requirements facts."""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import replace
from functools import partial

from ingest.apipage import CALLABLE
from ingest.apipage import ApiPage
from ingest.markdown import plain_text
from ingest.markdown import split_long
from ingest.page_questions import Frame
from ingest.page_questions import distinct_questions
from ingest.part_questions import content_questions
from kb.models import Pair
from kb.models import Record
from kb.models import SourceMeta

OVERVIEW_CHARS = 3000  # the overview answer stays readable; long remarks and member lists get their own pairs
PART_CHARS = 2500
_LEVEL = re.compile(
    r"\b(?:PASSIVE|APC|DISPATCH|HIGH|CLOCK\d?|IPI|POWER|PROFILE|SYNCH|DEVICE)_LEVEL\b|\bDIRQL\b"
    r"|\bIRQL\s*(?:<=?|>=?|=|≤|≥|&lt;|&gt;)|\bany IRQL\b",
    re.I,
)


def emit(page: ApiPage) -> Iterator[Record]:
    """The records of a page, whichever parser read it.

    Args:
        page: the page.

    Returns:
        An iterator over one SourceMeta (``extra``: header, irql, api_kind) then the pairs of ``build_pairs``.
    """
    yield SourceMeta(
        title=page.title or f"{page.name} {page.kind}",
        url=page.url,
        description=page.summary or (plain_text(page.description.split("\n\n")[0])[:500] if page.description else ""),
        api_names=page.api_names,
        extra={"header": page.header, "irql": page.requirements.get("IRQL", ""), "api_kind": page.kind},
    )
    yield from build_pairs(page)


def build_pairs(page: ApiPage) -> Iterator[Pair]:
    """The pairs for one API page: overview (+ remarks/members parts when long), IRQL fact, requirements fact.

    Args:
        page: the page read from either format.

    Returns:
        An iterator over Pairs with locators ``{"section": "overview"}``, ``{"section": "remarks", "part": n}``,
        ``{"section": "members", "part": n}``, ``{"fact": "irql"}`` and ``{"fact": "requirements"}``, each with
        its own question (later parts name the members they document or ask about what they cover).
    """
    names = page.api_names or (page.name,)
    if page.is_index:
        answer = _cap(f"**{page.title or page.name}**\n\n{page.description}".strip(), OVERVIEW_CHARS)
        if page.description.strip():
            yield Pair(f"What is in {_index_subject(page)}?", answer, {"section": "overview"}, kind="overview",
                       heading=page.title, api_names=names)
        return
    heading = f"{page.name} {page.kind}"
    overview, remarks_out, params_out = _overview(page)
    pairs = [Pair(_overview_question(page), overview, {"section": "overview"}, kind="overview", heading=heading,
                  api_names=names)]
    entries: list[tuple[str, Callable[[], Iterable[str]]]] = [(pairs[0].question, tuple)]
    frame = _frame(page)
    if params_out:
        label = page.params_label.lower()
        question = _finish(f"What are the {label} of {_the(page)}")
        parts = split_long(_params_text(page, full=True), PART_CHARS, caption=f"{page.name} {label}")
        for n, part in enumerate(parts, 1):
            lead = f"{page.params_label} of **{page.name}**{' (continued)' if n > 1 else ''}:"
            pairs.append(Pair(question, f"{lead}\n\n{part}", {"section": label, "part": n}, kind="section",
                              heading=f"{heading} > {page.params_label}", api_names=names))
            documented = [p.name for p in page.params if p.name and _documents(part, p.name)]
            entries.append((question, partial(content_questions, part, frame, "\n\n".join(parts[: n - 1]),
                                              documented, label)))
    if remarks_out:
        question = _finish(f"What should I know when using {_the(page)}" if page.kind in CALLABLE
                           else f"What should I know about {_the(page)}")
        parts = split_long(page.remarks, PART_CHARS, caption=f"{page.name} remarks")
        for n, part in enumerate(parts, 1):
            # every part names the API: keyword search on the name must find each of them
            lead = f"Remarks on **{page.name}**{' (continued)' if n > 1 else ''}:"
            pairs.append(Pair(question, f"{lead}\n\n{part}", {"section": "remarks", "part": n}, kind="section",
                              heading=f"{heading} > Remarks", api_names=names))
            entries.append((question, partial(_remarks_alternatives, part, frame, "\n\n".join(parts[: n - 1]),
                                              question)))
    irql = irql_answer(page)
    if irql:
        pairs.append(Pair(_irql_question(page), irql, {"fact": "irql"}, kind="fact", heading=f"{heading} > IRQL",
                          api_names=names))
        entries.append((pairs[-1].question, tuple))
    reqs = requirements_answer(page)
    if reqs:
        pairs.append(Pair(_requirements_question(page), reqs, {"fact": "requirements"}, kind="fact",
                          heading=f"{heading} > Requirements", api_names=names))
        entries.append((pairs[-1].question, tuple))
    for pair, question in zip(pairs, distinct_questions(entries), strict=True):
        yield replace(pair, question=question) if question != pair.question else pair


def _frame(page: ApiPage) -> Frame:
    the = _the(page)
    if page.kind in CALLABLE:
        return Frame(the, f"using {the}", f"when using {the}", page.title, name=page.name)
    if page.kind == "IOCTL":
        return Frame(the, f"sending {the}", f"when sending {the}", page.title, name=page.name)
    return Frame(the, the, f"in {the}", page.title, name=page.name)


def _documents(part: str, name: str) -> bool:
    """Whether a parameters part holds the entry of ``name`` (its line starts with the name)."""
    return bool(re.search(rf"^(?:`{re.escape(name)}`|\*\*{re.escape(name)}\*\*)", part, re.M))


def _remarks_alternatives(part: str, frame: Frame, before: str, question: str) -> Iterator[str]:
    yield from content_questions(part, frame, before, question=question)
    yield _finish(f"What else should I know {frame.suffix}" if frame.suffix.startswith("when")
                  else f"What else should I know about {frame.owner}")


def _the(page: ApiPage) -> str:
    if page.kind in ("IOCTL", "function", "macro", "method"):
        return page.name
    return f"the {page.name} {page.kind}"


def _finish(question: str) -> str:
    return question.rstrip("?. ") + "?"


def _index_subject(page: ApiPage) -> str:
    name = page.name.strip()
    if name.lower().endswith(".h"):
        return name
    if not page.header:
        return f"the {name} reference" if not name.lower().startswith("the ") else name
    if re.fullmatch(r"[\w.-]+\.h", name, re.I) or "." not in name and " " not in name and page.header:
        return name if name.lower().endswith(".h") else f"{name}.h"
    return f"the {name} reference" if not name.lower().startswith("the ") else name


def _overview_question(page: ApiPage) -> str:
    name = page.name
    if page.kind in ("function", "macro", "method"):
        return f"What does {name} do and how do I use it?"
    if page.kind == "callback":
        alias = f" ({page.alias})" if page.alias else ""
        question = f"What is the {name} callback{alias} and when is it called?"
        return question if len(question) <= 120 else f"What is the {name} callback?"
    if page.kind == "IOCTL":
        return f"What is {name} used for?"
    return f"What is the {name} {page.kind}?"


def _irql_question(page: ApiPage) -> str:
    if page.kind == "callback":
        return f"At what IRQL is the {page.name} callback called?"
    if page.kind == "IOCTL":
        return f"At what IRQL can I send {page.name}?"
    if page.kind in CALLABLE:
        return f"What IRQL can I call {page.name} at?"
    return f"What IRQL applies to {_the(page)}?"


def _requirements_question(page: ApiPage) -> str:
    reqs = page.requirements
    wants = ["header"]
    if "Library" in reqs or "DLL" in reqs:
        wants.append("library")
    if "Minimum supported client" in reqs or "Minimum supported server" in reqs:
        wants.append("Windows version")
    if "Minimum KMDF version" in reqs or "Minimum UMDF version" in reqs:
        wants.append("KMDF/UMDF version")
    if len(wants) == 1:
        return f"Which header declares {page.name}?"
    return f"What {', '.join(wants[:-1])} and {wants[-1]} does {page.name} need?"


def _params_text(page: ApiPage, full: bool) -> str:
    """Parameters as markdown: "`Name` [in]: text"; compact form keeps each one's first paragraph, shortened."""
    out = []
    for p in page.params:
        if not p.text.strip() and (not p.name or not p.direction and page.kind == "IOCTL"):
            continue
        text = p.text.strip()
        if not full:
            text = _cap(text.split("\n\n")[0], 300)
        label = f"**{p.name}**" if p.name else ""
        if p.name and re.fullmatch(r"[\w:.\[\]]+", p.name):
            label = f"`{p.name}`"
        direction = f" [{p.direction}]" if p.direction else ""
        out.append((f"{label}{direction}: {text}" if text else f"{label}{direction}") if label else text)
    return "\n\n".join(out)


def _overview(page: ApiPage) -> tuple[str, bool, bool]:
    """Overview answer within OVERVIEW_CHARS; says whether remarks and the full parameter list went elsewhere."""
    head = [f"**{page.name}** ({page.kind}{', ' + page.header if page.header else ''})"]
    if page.description:
        head.append(_cap(page.description, 1200))
    params_out = False
    params = ""
    if page.params:
        params = _params_text(page, full=True)
        if len(params) > 1400:
            params, params_out = _params_text(page, full=False), True
        if len(params) > 1400:
            params = _cap(params, 1400) + f"\n\n(See the full list of {page.params_label.lower()}.)"
    returns = f"**Return value**\n\n{_cap(page.returns, 600)}" if page.returns.strip() else ""
    blocks = head + ([f"**{page.params_label}**\n\n{params}"] if params else []) + ([returns] if returns else [])
    size = sum(len(b) + 2 for b in blocks)
    if page.syntax and size + len(page.syntax) + 14 <= OVERVIEW_CHARS:
        blocks.insert(len(head), f"**Syntax**\n\n{page.syntax}")
        size += len(page.syntax) + 14
    remarks_out = bool(page.remarks.strip())
    if remarks_out and size + len(page.remarks) + 14 <= OVERVIEW_CHARS:
        blocks.append(f"**Remarks**\n\n{page.remarks}")
        remarks_out = False
    return "\n\n".join(blocks), remarks_out, params_out


def _cap(text: str, limit: int) -> str:
    """Shorten text to about ``limit`` characters at a block or sentence boundary (never inside code)."""
    if len(text) <= limit:
        return text
    first = split_long(text, limit)[0]
    if len(first) > limit * 1.3 and "\n|" in first and "```" not in first:  # a long table: keep its first rows
        kept = ""
        for line in first.split("\n"):
            if len(kept) + len(line) > limit and kept.rstrip().endswith("|") and line.startswith("|"):
                break
            kept += line + "\n"
        first = kept.rstrip()
    elif len(first) > limit * 1.3 and "```" not in first and "|" not in first:
        sentences = re.split(r"(?<=[.!?])\s+", first)
        first = ""
        for sentence in sentences:
            if first and len(first) + len(sentence) > limit:
                break
            first = f"{first} {sentence}".strip()
    if first.endswith("…"):
        return first
    return first + ("\n\n…" if first.rstrip().endswith(("|", "```")) else " …")


def irql_answer(page: ApiPage) -> str:
    """Answer to "what IRQL?": the Requirements value and the sentences that state an IRQL ("" when none do).

    Args:
        page: the API page.

    Returns:
        Markdown naming the API and the IRQL, e.g. "**KeSetEvent**: the Requirements table says ... If *Wait* ...".
    """
    value = page.requirements.get("IRQL", "")
    refers = not value or re.search(r"remarks|see\b", value, re.I)
    if not value and page.kind not in CALLABLE:
        return ""
    sentences = _irql_sentences(page)
    if not value and not sentences:
        return ""
    lines = []
    if value:
        lines.append(f"**{page.name}** — IRQL (from its Requirements table): **{value}**")
    else:
        lines.append(f"**{page.name}** — the reference page states these IRQL rules:")
    if sentences and (refers or len(sentences) <= 3):
        if value:
            lines.append("The page also says:" if not refers else "The remarks say:")
        lines.append("\n".join(f"- {s}" for s in sentences[: 5 if refers else 3]))
    return "\n\n".join(lines)


def _irql_sentences(page: ApiPage) -> list[str]:
    found: list[str] = []
    for source in (page.remarks, page.description, page.returns, "\n\n".join(p.text for p in page.params)):
        for block in re.split(r"\n\s*\n", re.sub(r"```.*?```", "", source, flags=re.S)):
            if block.lstrip().startswith("|") or not _LEVEL.search(block):
                continue
            sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z*_`\[(])", " ".join(block.split()))
            for i, sentence in enumerate(sentences):
                if not _LEVEL.search(sentence):
                    continue
                if i and re.match(r"(?:Otherwise|However|In this case|In that case|Similarly|Also|Else)\b", sentence):
                    found.append(sentences[i - 1])
                found.append(sentence)
    seen: set[str] = set()
    return [s for s in found if not (s in seen or seen.add(s))][:6]


def requirements_answer(page: ApiPage) -> str:
    """Answer to "what does X need?": the requirements the page states.

    Args:
        page: the API page.

    Returns:
        A markdown table (header, library, DLL, minimum Windows/KMDF/UMDF versions, target platform, IRQL, DDI
        compliance rules; only the rows present), or "" when the page lists none.
    """
    rows = [(label, value) for label, value in page.requirements.items() if value]
    if not rows:  # only facts the page states (a header guessed from the file name is not one)
        return ""
    if not any(label == "Header" for label, _ in rows) and page.header:
        rows.insert(0, ("Header", page.header))
    order = ["Header", "Library", "DLL", "Minimum supported client", "Minimum supported server", "Target platform",
             "Minimum KMDF version", "Minimum UMDF version", "IRQL", "DDI compliance rules"]
    rows.sort(key=lambda r: order.index(r[0]) if r[0] in order else len(order))
    table = "\n".join(f"| {label} | {value.replace('|', '/')} |" for label, value in rows)
    return f"Requirements for **{page.name}** ({page.kind}):\n\n| Requirement | Value |\n| --- | --- |\n{table}"
