"""How a page's questions name their subject (Frame), and the pass that gives every pair its own question."""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.questions import IMPERATIVE_VERBS
from ingest.questions import generic_question
from ingest.questions import sentence_case

MAX_QUESTION = 150  # a longer alternative reads as a paragraph, not a question

# headings that name no subject of their own: their section is about the page's subject
GENERIC_HEADINGS = {"note", "important", "tip", "warning", "caution", "notes", "example", "examples", "remarks",
                    "syntax", "parameters", "return value", "true", "false", "null", "optional", "contents",
                    "table of contents", "in this article", "general", "more information", "details", "summary"}


@dataclass(frozen=True)
class Frame:
    """How questions about one section or API page name their subject.

    ``owner`` follows "the flags of ...", ``topic`` follows "an example of ...", ``suffix`` ends
    "What should I know about X ...".
    """

    owner: str  # "WdfRequestSend", "the !for_each_module extension", "service metadata contents"
    topic: str  # "using WdfRequestSend", "setting contexts"
    suffix: str  # "when using WdfRequestSend", "in service metadata contents"
    title: str = ""  # the page title, for sub-headings that say "Remarks"
    folder: str = ""
    name: str = ""  # the API name, for "What do the WDF_TIMER_CONFIG members A and B mean?"


def heading_frame(heading: str, title: str, folder: str = "", fallback: str = "") -> Frame:
    """The Frame of a docs section, from its heading (generic headings such as "Remarks" use the page topic).

    Args:
        heading: the section heading (plain text).
        title: the page title.
        folder: the page's folder.
        fallback: the page topic, used when the heading says nothing of its own.

    Returns:
        e.g. Frame(owner="setting contexts", topic="setting contexts", suffix="when setting contexts").
    """
    heading = re.sub(r"\s*\([^)]*\)$", "", heading.strip("[] ")).strip()
    phrase = sentence_case(heading) if heading else ""
    first = phrase.split(" ", 1)[0].lower()
    generic = not phrase or len(phrase) > 70 or phrase.endswith("?") or phrase.lower() in GENERIC_HEADINGS
    if generic or first in {"to", "how", "what", "why", "when", "which", "step"} or generic_question(heading, title):
        phrase, preposition = fallback or sentence_case(title), "for"
    else:
        preposition = "in"
    first, _, rest = phrase.partition(" ")
    if first.lower() in IMPERATIVE_VERBS and rest:  # "Create a virtual HID device": creating a virtual HID device
        phrase = f"{_gerund(first.lower())} {rest}"
        first = phrase.split(" ", 1)[0]
    if first.endswith("ing") and len(first) > 4 and first.islower():
        preposition = "when"
    return Frame(phrase, phrase, f"{preposition} {phrase}", title, folder)


# short verbs that double their last consonant: set -> setting
_DOUBLING = set("set get run put stop map plan ship step drop scan submit debug log tag plug unplug begin commit "
                "control omit permit swap trim wrap shut cut hit let sit".split())


def _gerund(verb: str) -> str:
    if verb in _DOUBLING:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def distinct_questions(entries: Sequence[tuple[str, Callable[[], Iterable[str]]]]) -> list[str]:
    """Give every pair of a page its own question.

    A pair keeps its question unless an earlier pair of the page has it already; then it takes the first of
    its alternatives (asked for only then) that no pair has and that is at most MAX_QUESTION long; failing
    all, its question marked "(continued)" or "(part N)".

    Args:
        entries: one ``(question, alternatives)`` per pair in page order; ``alternatives`` returns candidate
            questions best first.

    Returns:
        The questions, in the same order, no two alike (compared without case and spacing).
    """
    taken: set[str] = set()
    out: list[str] = []
    for question, alternatives in entries:
        chosen = question if _key(question) not in taken else ""
        if not chosen:
            chosen = next((q for q in alternatives() if q and len(q) <= MAX_QUESTION and _key(q) not in taken), "")
        n = 1
        while not chosen or _key(chosen) in taken:
            n += 1
            chosen = f"{question.rstrip('?')} ({'continued' if n == 2 else f'part {n - 1}'})?"
        taken.add(_key(chosen))
        out.append(chosen)
    return out


def _key(question: str) -> str:
    return " ".join(question.lower().split())
