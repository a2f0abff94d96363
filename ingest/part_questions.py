"""Questions from a part's own content: what a later part of a split section, or a taken section, covers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Sequence

from ingest.markdown import plain_text
from ingest.page_questions import GENERIC_HEADINGS
from ingest.page_questions import Frame
from ingest.questions import finish_question
from ingest.questions import section_question

_HEADING_LINE = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.M)
_BOLD_LINE = re.compile(r"^\*\*([^*\n]{3,100})\*\*:?$", re.M)
# a bold term that stands for a sub-heading: alone on its line ("- **Operator logo**  ") or defined after it
# ("**CheckForHangTimeInSeconds**: ...", "**DIRQL** - ...")
_BOLD_LEAD = re.compile(r"^[ \t]*(?:[-*+][ \t]+|\d+[.)][ \t]+)?(?:\[\]\([^)]*\))?(?:\*\*([^*\n]{2,60}?)\*\*"
                        r"(?:[ \t]*$|:|[ \t]+[-–—][ \t])|\[\*\*([^*\n]{2,60}?)\*\*\]\()", re.M)
# a glossary term: a short line that ends in a hard line break, its definition on the next line
_TERM_LINE = re.compile(r"^(?:\[\]\([^)]*\))?([A-Za-z][^\n*|]{2,60}?) {2,}\n(?=\S)", re.M)
_CONTINUED_RANGE = re.compile(r"^\(continued: (rows \d+–\d+) of (the .+? table)\)")
_CONTINUED_ROWS = re.compile(r"^\(continued: rows \d+–\d+ of the (.+?) table\)")
_CONTINUED_CODE = re.compile(r"^\(continued: (lines \d+–\d+) of the code block\)")
_TABLE_LEAD = re.compile(r"\b(?:following|this|the) table (?:shows|lists|describes|summarizes|contains|defines|gives|"
                         r"provides)\s+(?:the\s+)?([^.:;]{4,80}?)[.:]?\s*$", re.I)
_DEBUGGER_COMMAND = re.compile(r"^\s*(?:\d+: )?k?d>\s+([!.]?[a-z][\w.]*)", re.M)
# a command line in a console block: "```console\ndevcon install <INF file> <hardware ID>"
_CONSOLE = re.compile(r"^[ \t]*```(?:console|cmd|command|powershell|ps|bat|shell)[ \t]*\n"
                      r"[ \t]*(?:[A-Z]:\\[^>\n]*>|PS>)?[ \t]*([A-Za-z][\w.-]*(?: [^\s`]+){0,5})", re.M | re.I)
_QA_LEAD = re.compile(r"^(?:\*\*)?(?:Q|Question):(?:\*\*)?\s*(.{8,160}?\?)", re.M)
_STEP_LEAD = re.compile(r"^(?:[-*+]\s+)?(?:\*\*)?Step \d+(?:\*\*)?:(?:\*\*)?\s*(.{6,120}?)\.?$", re.M)
_PLAIN_NAME = re.compile(r"\b([A-Z][a-z]+[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*|[A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+)\b")
_MARKED = re.compile(r"`([^`\n]{3,60})`|\*\*([^*\n]{3,60}?)\*\*|\[\*{0,2}([^\]\n]{3,60}?)\*{0,2}\]\(")
_IDENTIFIER = re.compile(r"^[!.@#]?[A-Za-z_][\w:.!#@]*$")
# a call inside a body (indented, or after "=", "(" or ","); an unindented "Name(" starts a definition
_CALLED = re.compile(r"(?:^[ \t]+|[=(,]\s*|\breturn\s+)"
                     r"([A-Z][A-Za-z0-9]+[A-Z][A-Za-z0-9]*|[A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+)\s*\(", re.M)
_EXAMPLE_LEAD = re.compile(
    r"\b(?:The|This|These) following (?:\w+ ){0,3}?(?:example|examples|sample|snippet|listing|code|output|XML|INF)"
    r"\s+(?:\w+\s+){0,3}?(?:shows?|demonstrates?|illustrates?|describes?|gives?|contains?)\s+(how to\s+)?"
    r"(.{6,140}?)(?:[.:]\s|[.:]?$)",
    re.I,
)
_CLAUSE_LEAD = re.compile(r"^(If|When|Before|After|While|Once|Unless|Until)\s+([^,;:.]{8,110}),\s")
_TO_LEAD = re.compile(r"^To\s+([a-z]+\s[^,;:.]{4,100}),\s")
_DETERMINER = re.compile(r"^(?:The|A|An|Each|Every|Some|All|Most|Many|Any|Other|Such|Both)\s")
_VERB = re.compile(
    r"\s(?:is|are|was|were|must|should|can|cannot|may|might|does|do|will|would|has|have|"
    r"(?:specifie|contain|provide|return|define|describe|indicate|hold|use|receive|send|call|generate|create|"
    r"share|grant|run|set|get|allow|require|support|handle|process|passe|need|include|represent|identifie|"
    r"determine|enable|control|manage|perform|cause|consist|appear|occur|mean|refer|point|store|report|"
    r"display|show|list|take|make|keep|remain|become|follow|work|apply|applie|depend)s)\b"
)
# an opening phrase to look past for the subject: "As a general rule, a driver that ..."
_INTRO = re.compile(r"^(?:As a general rule|In general|Generally|Typically|Usually|However|Also|In addition|"
                    r"Additionally|Otherwise|Similarly|Likewise|Finally|First|Next|Then|For example|Note that),?\s+")
_MEANING_COLUMNS = {"meaning", "description", "descriptions", "value", "values", "purpose", "remarks", "comments",
                    "comment", "details", "explanation", "definition", "notes", "use", "usage"}


def content_questions(part: str, frame: Frame, before: str = "", names: Sequence[str] = (),
                      kind: str = "", question: str = "") -> Iterator[str]:
    """Questions that say what one part of a section covers, best first, from the part's own content.

    Args:
        part: the part's markdown.
        frame: how to name the section's subject.
        before: the text of the earlier parts of the same section (terms already covered there count less,
            and the sub-heading still in effect at the part's start comes from it).
        names: the parameter, member or value names the part documents (API pages), in order.
        kind: what ``names`` are ("members", "parameters", "values").
        question: the section's own question; a part that only lists names asks it for its range of names.

    Returns:
        An iterator over candidate questions (possibly none).
    """
    text = part.strip()
    lead = _first_block(text)
    if names:
        yield from _names_questions(names, kind, frame)
    heading = _HEADING_LINE.match(text) or _BOLD_LINE.match(lead)
    if heading:
        yield _heading_question(heading.group(1), frame)
    for lead_pattern in (_QA_LEAD, _STEP_LEAD):
        led = lead_pattern.match(plain_text(lead)) if lead_pattern is _QA_LEAD else lead_pattern.match(lead)
        if led:
            yield finish_question(led.group(1)) if lead_pattern is _QA_LEAD else _heading_question(led.group(1), frame)
    listed = _listed_terms(text)
    if listed and question:
        yield f"{question.rstrip('?')} ({listed[0]} to {listed[-1]})?"
    yield from _table_questions(text, frame)
    steps = _step_range(text, before)
    if steps and question:
        yield f"{question.rstrip('?')} (steps {steps[0]}–{steps[1]})?"
    yield from _code_questions(text, frame, question)
    terms = _bold_leads(text, frame)
    for n in range(min(len(terms), 3), 0, -1):  # fewer names when the question grows too long
        yield finish_question(f"What should I know about {_join(terms[:n])} {frame.suffix}")
    later = _HEADING_LINE.search(text)
    if later and later.start() < len(text) // 3:
        yield _heading_question(later.group(1), frame)
    sentence = _sentence_question(plain_text(lead), frame)
    if sentence:
        yield sentence
    marked = _marked_terms(text, before, frame)
    for n in range(min(len(marked), 2), 0, -1):
        yield finish_question(f"What should I know about {_join(marked[:n])} {frame.suffix}")
    in_effect = _HEADING_LINE.findall(before)
    if in_effect:
        yield _heading_question(in_effect[-1], frame)


def _table_questions(text: str, frame: Frame) -> Iterator[str]:
    """Questions about a table the part starts with or holds: what its entries mean, which rows it covers."""
    continued = _CONTINUED_ROWS.match(text)
    at = 0 if continued or text.startswith("|") else text.find("\n|") + 1
    if not continued and not text.startswith("|") and not 0 < at < len(text) // 2:
        return  # no table in the part's first half
    rows = _first_cells(text)
    if continued and rows:
        yield finish_question(f"What does the {continued.group(1)} table say about {_span(rows)}")
    elif continued:  # rows with no text to name them (images): their numbers
        span = _CONTINUED_RANGE.match(text)
        if span:
            yield finish_question(f"What do {span.group(1)} of {span.group(2)} say")
    question = _table_question(text, frame)
    if question:
        yield question
    said = _TABLE_LEAD.search(plain_text(text[:at])) if at > 0 else None
    if said:
        what = re.sub(r"\b(?:these|those|this)\b", "the", said.group(1))
        yield finish_question(f"What {'are' if what.endswith('s') else 'is'} the {what} {frame.suffix}")
    if rows:
        table = frame.owner if re.search(r"\btable\b", frame.owner, re.I) else f"table for {frame.owner}"
        yield finish_question(f"What does the {table} say about {_span(rows)}")


def _step_range(text: str, before: str) -> tuple[int, int] | None:
    """The numbers of the steps a part holds when it goes on with a numbered list (lists often number "1." all)."""
    steps = re.findall(r"^\d+[.)]\s", text, re.M)
    if len(steps) < 2 or not re.match(r"\d+[.)]\s", text):
        return None
    first = len(re.findall(r"^\d+[.)]\s", before, re.M)) + 1 if before else 1
    return first, first + len(steps) - 1


def _code_questions(text: str, frame: Frame, question: str) -> Iterator[str]:
    """Questions about an example: its lead sentence, the debugger commands it runs, the functions it calls."""
    example = _EXAMPLE_LEAD.search(plain_text(" ".join(text[:600].split("\n\n")[:2])))
    if example:
        yield _example_question(example, frame)
    continued = _CONTINUED_CODE.match(text)
    if not continued and _code_share(text) <= 0.5:
        return
    commands = list(dict.fromkeys(_DEBUGGER_COMMAND.findall(text)))[:2]
    if commands:
        yield finish_question(f"What {'does' if len(commands) == 1 else 'do'} {_join(commands)} show {frame.suffix}")
    console = _CONSOLE.search(text)
    if console:
        yield finish_question(f"How do I run {console.group(1)} {frame.suffix}")
    called = [name for name in dict.fromkeys(_CALLED.findall(text)) if name not in frame.owner]
    called = sorted(called, key=lambda name: name.isupper())[:2]  # functions say more than macros
    if called:
        yield finish_question(f"What is an example of {frame.topic} that calls {_join(called)}")
    yield finish_question(f"What is an example of {frame.topic}")
    if continued and question:
        yield f"{question.rstrip('?')} ({continued.group(1)})?"


def _first_block(text: str) -> str:
    return text.split("\n\n", 1)[0].strip()


def _heading_question(heading: str, frame: Frame) -> str:
    return section_question(plain_text(heading), frame.title or frame.owner, frame.folder)


def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _span(names: Sequence[str]) -> str:
    """Up to three names listed, more as a range: "A, B and C", "A through F"."""
    return _join(names) if len(names) <= 3 else f"{names[0]} through {names[-1]}"


def _names_questions(names: Sequence[str], kind: str, frame: Frame) -> Iterator[str]:
    label = kind or "entries"
    if len(names) == 1:
        one = {"entries": "entry", "values": "value", "members": "member", "parameters": "parameter"}.get(label, label)
        yield finish_question(f"What is the {names[0]} {one} of {frame.owner}")
        yield finish_question(f"What does {names[0]} mean")  # long names: the short form stays under 200
    else:
        yield finish_question(f"What do the {frame.name or frame.owner} {label} {_span(names)} mean")
        yield finish_question(f"What do {_span(names)} mean")


def _plural(noun: str) -> str:
    noun = noun.strip()
    if re.search(r"(?:s|x|ch|sh)$", noun, re.I):
        return noun + "es" if not noun.endswith("s") else noun
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


def _cells(line: str) -> list[str]:
    """A table row's cells as plain text, each cut at its first line break (a cell's title comes first)."""
    return [plain_text(re.split(r"<br\s*/?>", c, maxsplit=1)[0]).strip() for c in line.strip().strip("|").split("|")]


def _first_cells(text: str) -> list[str]:
    """First-column values of the table's data rows (group rows, with the other cells empty, left out)."""
    lines = [line for line in text.split("\n") if line.lstrip().startswith("|")]
    rows = [_cells(line) for line in lines[2:]]
    values = [row[0] for row in rows if len(row) < 2 or any(row[1:])]
    return [v for v in values if v and len(v) <= 60 and not re.fullmatch(r"[-: ]*", v)]


def _table_question(text: str, frame: Frame) -> str:
    lines = [line for line in text.split("\n") if line.lstrip().startswith("|")]
    header = _cells(lines[0]) if lines else []
    first = header[0].lower() if header else ""
    if not re.fullmatch(r"[a-z][a-z /-]{1,30}", first) or len(first.split()) > 3:
        return ""
    values = _first_cells(text)
    prefix = _common_prefix(values)
    things = _plural(first)
    if prefix:
        things = f"{prefix}* {things}"
    if len(header) > 1 and header[1].lower() in _MEANING_COLUMNS:
        return finish_question(f"What do the {things} of {frame.owner} mean" if not prefix
                               else f"What do the {things} mean")
    return ""


def _common_prefix(values: list[str]) -> str:
    """The identifier prefix shared by table values ("WDF_REQUEST_SEND_OPTION_"), if they share one."""
    idents = [v for v in values if re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+", v)]
    if len(idents) < 2 or len(idents) < len(values) * 0.8:
        return ""
    prefix = idents[0]
    for value in idents[1:]:
        while not value.startswith(prefix):
            prefix = prefix[:-1]
    prefix = prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""
    return prefix if len(prefix) >= 4 else ""


def _example_question(match: re.Match[str], frame: Frame) -> str:
    what = re.sub(r"^(?:an? |the )?(?:example|sample)s? (?:of |for )", "", match.group(2).strip())
    what = re.sub(r"\s+(?:in|for) (?:this|the following) (?:example|code|topic)$", "", what)
    how = re.match(r"how (?:to|you can|a driver can|drivers can)\s+(.+)", what, re.I)
    if how:
        return finish_question(f"How do I {how.group(1)}")
    if match.group(1):
        return finish_question(f"How do I {what}")
    return finish_question(f"What is an example of {what}")


def _code_share(text: str) -> float:
    code = sum(len(m.group(0)) for m in re.finditer(r"^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[ \t]*$", text, re.M | re.S))
    return code / max(len(text), 1)


def _listed_terms(text: str) -> list[str]:
    """The names a part consists of when it is nothing but a list of them (one link or term per line)."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) < 3 or "```" in text or "|" in text:
        return []
    terms = [plain_text(re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", line)) for line in lines]
    if not all(0 < len(t) <= 90 and len(t.split()) <= 12 and not t.endswith((".", ":")) for t in terms):
        return []
    return terms


def _bold_leads(text: str, frame: Frame) -> list[str]:
    """Bold terms that head the part's items, in order; a label repeated in every item ("Meaning") is no term."""
    terms = []
    heads = [m.group(1) or m.group(2) for m in _BOLD_LEAD.finditer(text)] or _TERM_LINE.findall(text)
    for head in heads:
        term = plain_text(head).strip(" :.[(")
        if len(term) < 2 or term.lower() in GENERIC_HEADINGS or term.lower().startswith(("note", "important")):
            continue
        if term not in (frame.name, frame.owner) and term.lower() not in frame.owner.lower():
            terms.append(term)
    return [term for term in dict.fromkeys(terms) if terms.count(term) == 1]


def _sentence_question(lead: str, frame: Frame) -> str:
    """A question from the part's opening sentence: "If X, ..." -> "What happens if X ...?" and the like."""
    lead = re.sub(r"^>\s*|^[-*+]\s+|^\d+[.)]\s+", "", lead)
    lead = _INTRO.sub("", lead)
    lead = lead[:1].upper() + lead[1:]
    m = _CLAUSE_LEAD.match(lead)
    if m and len(m.group(2).split()) <= 14:
        core = frame.owner.split(" ", 1)[-1] if frame.suffix.startswith("when") else frame.owner
        suffix = "" if core.lower() in m.group(2).lower() else f" {frame.suffix}"  # the clause names it already
        return finish_question(f"What happens {m.group(1).lower()} {m.group(2)}{suffix}")
    m = _TO_LEAD.match(lead)
    if m and len(m.group(1).split()) <= 14:
        return finish_question(f"How do I {m.group(1)}")
    subject = _subject(lead)
    if subject and subject.lower() not in frame.owner.lower():
        suffix = "" if frame.owner.lower() in subject.lower() else f" {frame.suffix}"
        return finish_question(f"What should I know about {subject[0].lower() + subject[1:]}{suffix}")
    return ""


def _subject(sentence: str) -> str:
    """The subject of a sentence that opens with a determiner ("The PnP manager generates ..." -> "The PnP
    manager"), looking past relative clauses ("a driver that uses X has ..." -> "a driver that uses X")."""
    if not _DETERMINER.match(sentence):
        return ""
    for verb in _VERB.finditer(sentence[:160]):
        subject = sentence[: verb.start()]
        if re.search(r"[,;:.()]", subject) or re.search(r"\b(?:following|this|these)\b", subject):
            return ""
        if not re.search(r"\b(?:that|which|who)$", subject):
            return subject if 2 <= len(subject.split()) <= 10 else ""
    return ""


def _marked_terms(text: str, before: str, frame: Frame) -> list[str]:
    """Identifiers the part marks up (code, bold, link text), those not met in earlier parts first."""
    terms = []
    for m in _MARKED.finditer(text):
        term = (m.group(1) or m.group(2) or m.group(3) or "").strip("*_ ()")
        if _IDENTIFIER.match(term) and (re.search(r"[a-z][A-Z]|_|^[A-Z]{2,}", term)) and term not in frame.owner:
            terms.append(term)
    terms += [t for t in _PLAIN_NAME.findall(re.sub(r"\]\([^)]*\)", "]", text)) if t not in frame.owner]
    terms = list(dict.fromkeys(terms))
    new = [t for t in terms if t not in before]
    return new or terms
