"""Step 2 of the thread pipeline: who is the expert, which comments ask, thank or report a fix."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from ingest.thread_split import Comment
from ingest.thread_text import addressed_names
from ingest.thread_text import drop_quoted
from ingest.thread_text import name_match
from ingest.thread_text import norm_name
from ingest.thread_text import paragraph_names
from ingest.thread_text import signature_name
from ingest.thread_text import strip_courtesy

# All patterns here are lowercase and run on lowercased text (much faster than IGNORECASE).
# (pattern, weight): phrases that ask for help even without a question mark.
ASK_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p), w)
    for p, w in (
        (r"\b(?:any|some|an) (?:idea|ideas|clue|suggestions?|help|hints?|pointers?|insights?|thoughts|advice|tips?)\b",
         1.5),
        (r"\bhow (?:do|can|could|should|would|does|did|is|are) (?:i|we|you|one|it|this|the|my)\b", 1.5),
        (r"\bhow to\b", 1.0),
        (r"\b(?:is (?:it|there)|there is) (?:possible|a way|any ?way|anything|some ?way|a method|any method)\b", 1.5),
        (r"\b(?:can|could|would|will) (?:you|anyone|anybody|someone|somebody) (?:please )?"
         r"(?:help|tell|explain|point|suggest|advi[cs]e|guide|give|let|clarify|comment|review|lead)", 1.5),
        (r"\bif you (?:can|could) (?:please )?(?:give|explain|tell|help|describe|post|write|point|suggest)\b", 1.5),
        (r"\bplease (?:help|advi[cs]e|suggest|guide|let me know|explain|clarify|comment|correct|give|tell)", 1.5),
        (r"\bhelp(?: me)?(?:,)? please\b|\bplease help\b|\bhelp me\b|\bneed (?:your |some )?help\b", 1.5),
        (r"(?:^|[.!…]\s+)i (?:would like|want|need|wish|wanted) to (?:know|understand|ask|find out)\b", 1.5),
        (r"(?:^|[.!…]\s+)i (?:want|wanna|need|would like|wish) to\b", 1.0),
        (r"\bwonder(?:ing)?,? (?:if|whether|why|how|what|which|when)\b", 2.0),
        (r"\bwonder(?:ing)?\b", 1.0),
        (r"\bmaybe i should\b|\bshould i\b", 1.5),
        (r"\bi (?:get|got|see|saw|receive|received|hit|encounter) (?:the following|this|these|a|an)\b|"
         r"\bi(?: a|')m (?:getting|seeing)\b", 1.5),
        (r"\bi(?: a|')m (?:trying|attempting) to\b", 0.75),
        (r"\b(?:do|does|did) (?:not|n't) (?:understand|know (?:how|why|what|where))\b|\bdon'?t understand\b", 1.5),
        (r"\bi (?:have|had|got|encounter(?:ed)?|face|am facing|am having) (?:a |an |some |the )?"
         r"(?:problem|issue|question|doubt|trouble|bug)", 1.5),
        (r"\b(?:the only|one|another|the) (?:problem|issue|thing) (?:that )?i (?:still )?(?:have|face|encounter|see)\b|"
         r"\bstill (?:persists|remains|happens|occurs)\b|\bproblem still\b", 1.5),
        (r"\b(?:i will|i'll|i would|i'd) be (?:very |really )?(?:glad|grateful|thankful|happy) if\b", 1.5),
        (r"\bgive me (?:some |a |any )?(?:directions?|pointers?|hints?|ideas?|advice|suggestions?|information|info|"
         r"samples?|examples?)\b", 1.5),
        (r"\b(?:what|why|which|where|when|who) (?:is|are|does|do|did|should|would|could|can|will)\b", 0.5),
        (r"\bsuggestions?\b|\badvi[cs]e\b|\bappreciate\b|\bthanks? in advance\b|\bthanks? in adv", 0.75),
        (r"\bam i (?:correct|right|missing)\b|\bis (?:my|this|that) (?:understanding|assumption|correct|right)\b", 1.5),
        (r"\blet me know\b|\bkindly\b|\bguide me\b|\bpoint me\b", 1.0),
        (r"\bi have (?:a|one|some|two|few|a few) (?:more )?(?:questions?|doubts?)\b", 1.5),
        (r"\bi asked (?:if|whether|how|why|about)\b", 1.0),
        (r"\bnobody (?:told|explained|answered)(?: me)? (?:why|how|what)\b", 1.5),
    )
)
def ask_weight(prose: str) -> float:
    """Sum of the weights of the asking phrases found in lowercased prose (each phrase counted once)."""
    return sum(w for pattern, w in ASK_PATTERNS if pattern.search(prose))


_AUX = r"(?:do|does|did|is|are|can|could|would|will|should|shall|has|have|am|was|were)"
INTERROGATIVE_RE = re.compile(
    r"(?:^|[.!:;…]\s+)(?:so |and |but |also |then |btw,? )?(?:" + _AUX + r"\s+(?:i|you|we|it|there|this|that|the|"
    r"a|an|my|your|anyone|anybody|someone|kmdf|wdf|windows|they)|(?:what|which|where|who)\s+" + _AUX
    + r")\b[^.!?…]{3,200}(?:[.!…]|$)|(?:^|[.!:;…]\s+|thing is\s*,?\s+)(?:how|why)\b[^.!?…]{5,200}|\bdo you mean\b"
)
PROBLEM_RE = re.compile(
    r"\b(?:doesn'?t|does not|don'?t|do not|didn'?t|won'?t|can'?t|cannot|not able to|unable to|fails?|failed|"
    r"failing|failure|crash(?:es|ed)?|bug ?check|bsod|blue ?screen|hangs?|hung|assert(?:ion)?|error|"
    r"problem|issue|stuck|wrong|strange|weird|confus\w+|no luck|not working)\b"
)
SOLUTION_RE = re.compile(
    r"\b(?:it works|works (?:now|well|fine)|(?:now )?(?:it|this|that) works|i (?:am|'m) (?:now )?able to "
    r"(?![^.]*\bbut\b)|now i (?:am|'m) able|solved|resolved|figured (?:it )?out|the problem was|problem (?:has )?"
    r"(?:finished|disappeared|went away|is gone)|turns? out|turned out|^(?:well,? |ok,? |so,? )?we need to|"
    r"(?:the )?(?:fix|solution|trick|answer) (?:is|was)|managed to|succeeded|(?:my|the) best (?:route|way|approach|"
    r"option) is|our solution|work-?around (?:is|was)|fixed (?:it|the))\b"
)
FIX_REACH = 250  # a reported fix leads the comment; "it works on XP but ..." deep in a report is not one
THANKS_RE = re.compile(
    r"\b(?:thanks|thank you|thank u|thx|thks|many thanks|appreciated?|glad|great to hear|you(?:'re| are) welcome|"
    r"helped|helpful|got it|good guy|god save|cheers)\b"
)
SUCCESS_RE = re.compile(r"\b(?:works|worked|working now|it works|solved)\b")


@dataclass(frozen=True)
class Roles:
    """What step 2 learned about the thread.

    ``questions`` are comments that ask; ``acks`` only thank or acknowledge;
    ``solutions`` report a fix; ``names`` maps each user to the names they go by.
    """

    expert: str
    expert_names: frozenset[str]
    questions: frozenset[int]
    acks: frozenset[int]
    solutions: frozenset[int]
    names: dict[str, set[str]] = field(default_factory=dict)
    addressed: dict[int, tuple[str, ...]] = field(default_factory=dict)
    mentioned: dict[int, tuple[str, ...]] = field(default_factory=dict)


@functools.lru_cache(maxsize=4096)
def prose_of(text: str) -> str:
    """A comment's own words, lowercased, one line, spelling variants unified ("u" -> "you", ’ -> ')."""
    body = drop_quoted(strip_courtesy(text)).lower()
    lines = (" ".join(line.split()) for line in body.splitlines())
    prose = " ".join(line for line in lines if line and not line.startswith(("//", "kd>", "***")))
    prose = prose.replace("\u2019", "'").replace("\u2018", "'").replace("...", "…")
    prose = re.sub(r"\bu\b", "you", prose)
    return re.sub(r"\b(?:pls|plz)\b", "please", prose)


def _fix_in(prose: str) -> bool:
    for m in SOLUTION_RE.finditer(prose[:FIX_REACH]):
        rest = re.split(r"[.!?…]", prose[m.end() :], maxsplit=1)[0]
        if not re.search(r"\b(?:but|however|except)\b", rest):  # "works fine but ..." reports a problem
            return True
    return False


def reports_fix(text: str) -> bool:
    """True when a comment opens by reporting a solution ("I figured it out: ...", "It works now")."""
    return _fix_in(prose_of(text))


@functools.lru_cache(maxsize=4096)
def question_score(text: str) -> float:
    """How strongly a comment asks for help (0 = not at all; 2 or more = a question).

    Args:
        text: comment body (quoted lines are ignored).

    Returns:
        Weighted sum of question marks, asking phrases and problem words,
        lowered when the comment reports a solution.
    """
    prose = prose_of(text)
    score = 0.0
    marks = len(re.findall(r"(?<![?/])\?+(?![?=&\w/])|\?+(?=[A-Za-z])", prose))
    if marks:
        score += 2.0 + min(1.0, 0.5 * (marks - 1))
    elif INTERROGATIVE_RE.search(prose):
        # "Do you have a general recommendation ... ." asks even without the mark.
        score += 2.0
    score += min(4.0, ask_weight(prose))
    score += min(1.5, 0.5 * len(PROBLEM_RE.findall(prose)))
    if _fix_in(prose):
        score -= 0.5 if marks else 1.0
    return score


def is_ack(text: str, success_counts: bool = True) -> bool:
    """True for a short comment that only thanks, acknowledges or reports success.

    Args:
        text: comment body.
        success_counts: whether "it works" alone makes an acknowledgement (true for
            someone who asked earlier; a newcomer saying "it works" is recommending).

    Returns:
        Whether it is short, grateful or positive, and asks nothing.
    """
    body = " ".join(drop_quoted(text).lower().split())
    core = prose_of(text)
    words = len(core.split())
    if words > 60 or "?" in body or INTERROGATIVE_RE.search(core):
        return False
    asks = ask_weight(core)
    # Gratitude in the words themselves; a bare closing ("Thanks and Regards") only when nothing else is said.
    positive = THANKS_RE.search(core) or (not core and THANKS_RE.search(body))
    if success_counts:
        positive = positive or SUCCESS_RE.search(core)
    return bool(positive) and asks < 1.5 and (words <= 35 or not PROBLEM_RE.search(core))


def find_expert(comments: Sequence[Comment]) -> str:
    """The thread's expert: the most frequent author, when they wrote a clear share of the comments.

    Args:
        comments: the thread's comments.

    Returns:
        The user name, or "" when nobody stands out (then no comment is an expert answer).
    """
    counts = Counter(c.user for c in comments if c.user)
    if not counts:
        return ""
    user, n = counts.most_common(1)[0]
    runner_up = counts.most_common(2)[1][1] if len(counts) > 1 else 0
    return user if n >= max(3, 0.1 * len(comments), 2 * runner_up) else ""


def learn_names(comments: Sequence[Comment]) -> dict[str, set[str]]:
    """Names each user signs with ("Tal Zur" -> talzur), first names included.

    Args:
        comments: the thread's comments.

    Returns:
        user -> set of names seen in that user's signatures.
    """
    names: dict[str, set[str]] = {}
    for c in comments:
        sig = signature_name(c.body)
        if sig:
            names.setdefault(c.user, set()).update({sig, sig.split()[0]})
    return names


def classify(comments: Sequence[Comment], threshold: float = 2.0) -> Roles:
    """Mark the expert, the questions, the acknowledgements and the reported fixes.

    Args:
        comments: the thread's comments.
        threshold: question_score at or above which a non-expert comment is a question.

    Returns:
        Roles for the thread.
    """
    expert = find_expert(comments)
    addressed = {c.number: tuple(addressed_names(c.body)) for c in comments}
    greeted: Counter[str] = Counter()
    for c in comments:
        if c.user != expert:
            greeted.update(n for n in addressed[c.number] if _like_expert(n, expert))
    expert_names = frozenset({expert, *greeted})
    questions, acks, solutions = set(), set(), set()
    asked: set[str] = set()
    for c in comments:
        if c.user == expert and expert:
            if is_ack(c.body) and len(c.body.split()) <= 25:
                acks.add(c.number)
            continue
        if is_ack(c.body, success_counts=c.user in asked):
            acks.add(c.number)
            continue
        if reports_fix(c.body):
            solutions.add(c.number)
        if question_score(c.body) >= threshold:
            questions.add(c.number)
            asked.add(c.user)
    return Roles(
        expert=expert,
        expert_names=expert_names,
        questions=frozenset(questions),
        acks=frozenset(acks),
        solutions=frozenset(solutions),
        names=learn_names(comments),
        addressed=addressed,
        mentioned={c.number: tuple(paragraph_names(c.body)) for c in comments if c.user == expert},
    )


def addresses_expert(roles: Roles, number: int) -> bool:
    """True when a comment opens by greeting the expert ("Hi Doron,")."""
    return any(n in roles.expert_names or _like_expert(n, roles.expert) for n in roles.addressed.get(number, ()))


def _like_expert(name: str, expert: str) -> bool:
    # Readers misspell the expert's name ("Doran", "Dorohn"): the first three letters agree.
    n, e = norm_name(name.split()[-1]) if name.split() else "", norm_name(expert)
    return bool(e) and (name_match(name, expert) > 0 or (len(n) >= 3 and n[:3] == e[:3]))
