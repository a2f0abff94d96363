"""The question a developer would ask about an article section, derived from its own sentences."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

TERM_RE = re.compile(
    r"\b[A-Za-z][A-Za-z0-9_]*\.(?:EXE|DLL|SYS|DEF|INC|MAK|INI|DBG|PDB|LOG|BAT|CPP|H|exe|dll|sys|inf|ini|h|cpp)\b"
    r"|\b[A-Z][a-z0-9]*[A-Z][A-Za-z0-9_]*\b|\b[A-Z][A-Z0-9_]{2,}\b"
)
NOT_TERMS = frozenset("TRUE FALSE NULL ASSERT THE AND NOT FOR YOU".split())
# Action verbs a goal may start with ("get full release symbols"), so that "you have to do in
# user land ..." or "I wanted to talk about ..." do not become questions.
GOAL_VERBS = (
    "get|set|make|build|use|debug|find|see|check|ensure|verify|avoid|prevent|track|catch|copy|put|install|"
    "configure|connect|load|unload|run|start|write|read|call|create|define|specify|change|add|remove|rename|"
    "turn|enable|disable|produce|establish|determine|validate|fix|keep|minimize|reduce|gain|open|reestablish|"
    "test|handle|allocate|free|map|lock|unlock|dump|report|swap|register|include|generate|step|attach|break|"
    "restore|redirect|patch|wrap|compile|link|clean|share|send|cancel|complete|detect|look|watch|sign"
)
# A goal never runs past a clause boundary ("... machine and are using ...").
_STOP = r"\s+(?:is|are|was|were)\b|\s+(?:and|but|so)\s+(?:are|is|was|were|you|I|we|it)\b"

def _goal(verbs: str) -> str:
    return (
        r"(?P<goal>(?:" + verbs + r")\b(?! to\b)(?:(?!" + _STOP + r")(?:[^,;:.()?]|\.(?=\w))){6,100}?)"
        r"(?=[,;:()?]|\.(?!\w)|" + _STOP + r"|$)"
    )


_GOAL = _goal(GOAL_VERBS)
# After a bare "to", only verbs that name a task ("to ensure ...", not "to see here").
_TASK_GOAL = _goal(
    "ensure|make sure|check|verify|find|avoid|prevent|track|catch|produce|build|debug|install|configure|"
    "validate|detect|determine|establish|minimize|reduce|generate|compile|register|sign|unload|load"
)
# (pattern, template, weight): sentences that state a goal; group "goal" becomes the question.
GOAL_PATTERNS: tuple[tuple[re.Pattern[str], str, float], ...] = tuple(
    (re.compile(p), t, w)
    for p, t, w in (
        (r"^\s*To " + _GOAL + r", (?:you|I|we|just|simply|use|set|rename|start|call|copy|make|put|run|specify|"
         r"add|include|turn|look)\b", "How do I {goal}?", 1.0),
        (r"\b(?:only|best|easiest|simplest) way to " + _GOAL + r"\s+is\b", "What is the best way to {goal}?", 1.0),
        (r"\bhow to " + _GOAL, "How do I {goal}?", 1.0),
        (r"\bI (?:was determined|wanted|needed|decided|want|need) to " + _GOAL, "How do I {goal}?", 0.8),
        (r"\bif you (?:want|need) to " + _GOAL, "How do I {goal}?", 0.8),
        (r"\bto " + _TASK_GOAL, "How do I {goal}?", 0.5),
    )
)
WEAK_GOAL_RE = re.compile(
    r"^\w+(?: \w+)? (?:this|it|them|these|those|they|he|she|so|more)\b|\b(?:this|that)$"
)
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def key_terms(text: str, heading: str = "") -> list[str]:
    """Technical terms of a text, most prominent first (BUILD.EXE, WinDBG, USE_PDB, Track).

    Args:
        text: the section text.
        heading: the section heading; its terms (and its capitalized words that recur
            in the text) weigh more.

    Returns:
        Terms ordered by weighted frequency, then first appearance.
    """
    prose = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    counts: Counter[str] = Counter(
        m.group(0) for m in TERM_RE.finditer(prose) if m.group(0) not in NOT_TERMS and len(m.group(0)) >= 3
    )
    for word in re.findall(r"\b[A-Z][a-z]{3,}\b", heading):
        n = len(re.findall(rf"\b{word}\b", prose))
        if n >= 2:
            counts[word] += n
    for term in list(counts):
        if term.lower() in heading.lower():
            counts[term] *= 3
    # "BUILD" inside "BUILD.EXE" is the same thing: keep the longer form.
    for term in list(counts):
        if any(other != term and other.startswith(term + ".") for other in counts):
            del counts[term]
    first = {term: prose.find(term) for term in counts}
    return sorted(counts, key=lambda t: (-counts[t], first[t]))


def _clean_goal(goal: str) -> str:
    goal = " ".join(goal.split()).rstrip(" .")
    goal = re.sub(r"\b(?:your|my)\b", "my", goal)
    goal = re.sub(r"\b(?:you|I)\b", "I", goal)
    return re.sub(r"\s+(?:and|or|so|but|because|since|which|that)$", "", goal)


def goals(blocks: Sequence[str]) -> list[tuple[float, str]]:
    """Candidate questions from goal-stating sentences, scored (higher is better).

    Args:
        blocks: the prose and code blocks of a section part.

    Returns:
        (score, question) pairs in no particular order.
    """
    found = []
    position = 0
    for block in blocks:
        if block.startswith(("```", "**Figure")):
            continue
        for sentence in SENTENCE_RE.split(block):
            position += 1
            for pattern, template, weight in GOAL_PATTERNS:
                m = pattern.search(sentence)
                if not m:
                    continue
                goal = _clean_goal(m.group("goal"))
                words = goal.split()
                if len(words) < 3 or len(words) > 18 or WEAK_GOAL_RE.search(goal):
                    continue
                technical = min(1.0, 0.5 * len(TERM_RE.findall(goal)))
                score = weight + technical - 0.1 * max(0, len(words) - 12) - 0.02 * position
                found.append((score, template.format(goal=goal)))
                break
    return found


TIP_HEAD_RE = re.compile(r"^\s*Tip\s+\d+\s*[:.\-–]?\s*")
IMPERATIVE_RE = re.compile(r"^(?:" + GOAL_VERBS + r"|always|never|don't|do not|try|remember|consider)\b", re.IGNORECASE)


def tip_question(text: str) -> str | None:
    """A question for an imperative tip ("Tip 3 Run Driver Verifier ..." -> "Why should I run Driver Verifier ...?").

    Args:
        text: the tip paragraph.

    Returns:
        The question, or None when the tip does not open with an instruction.
    """
    body = TIP_HEAD_RE.sub("", text, count=1)
    clause = re.split(r"[,;:.]|\s+(?:because|so that|since)\s+", body, maxsplit=1)[0].strip()
    if not IMPERATIVE_RE.match(clause) or not 3 <= len(clause.split()) <= 20:
        return None
    return "Why should I " + _clean_goal(clause[0].lower() + clause[1:]) + "?"


def section_question(
    blocks: Sequence[str], heading: str, terms: Sequence[str], text: str = "", title: str = ""
) -> str:
    """The question a developer would ask that this section part answers.

    Picks the best goal-stating sentence ("I was determined to get full release symbols"
    -> "How do I get full release symbols with BUILD.EXE?"); without one, asks what to
    know about the section's main terms.

    Args:
        blocks: the blocks of the section part.
        heading: the section heading ("" for the introduction).
        terms: the section's key terms, most prominent first.
        text: the whole section, to judge whether the main term is prominent enough to name.
        title: the article's title, for the introduction's question.

    Returns:
        A question ending in "?".
    """
    if blocks and TIP_HEAD_RE.match(blocks[0]) and (tip := tip_question(blocks[0])):
        return tip
    candidates = goals(blocks)
    main = terms[0] if terms else ""
    if candidates:
        score, question = max(candidates, key=lambda sq: sq[0])
        prominent = main and (main.lower() in heading.lower() or (text or "\n".join(blocks)).count(main) >= 3)
        if prominent and main.lower() not in question.lower():
            question = question[:-1] + f" with {main}?"
        return question[0].upper() + question[1:]
    if not heading and title:
        return f"What does {title} cover ({', '.join(terms[:3])})?" if terms else f"What does {title} cover?"
    if len(terms) >= 2:
        return f"What should I know about {terms[0]} and {terms[1]}?"
    if main:
        return f"What should I know about {main}?"
    return f"What does the section \"{heading}\" explain?" if heading else "What is this article about?"
