"""Step 3 of the thread pipeline: decide which comments answer which questions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.thread_roles import Roles
from ingest.thread_roles import addresses_expert
from ingest.thread_roles import question_score
from ingest.thread_split import Comment
from ingest.thread_text import TermIndex
from ingest.thread_text import content_text
from ingest.thread_text import drop_quoted
from ingest.thread_text import name_match
from ingest.thread_text import shingles
from ingest.thread_text import strip_courtesy

WINDOW = 90  # answers in this thread come up to ~50 comments late; look a bit further.
SIM_WEIGHT = 6.0
NON_TARGET_PENALTY = 1.0  # a reply to a comment that asks nothing is usually not an answer
MIN_LINK = 1.0  # below this the best candidate is a guess: the reply answers nothing we can name
SECONDARY_MIN = 1.5
# A comment that asks or reports a problem only faintly (no question mark) becomes a question
# when the expert answers it with at least this many words.
PROMOTE_SCORE = 0.5
PROMOTE_WORDS = 20
ADDRESS_MATCH = 0.7
ADDENDUM_RE = re.compile(r"^\s*(?:also|in addition|additionally|one more thing|furthermore|ps|p\.s\.|btw)\b[,:]?",
                         re.IGNORECASE)
YES_NO_RE = re.compile(r"^\s*(?:\d[.)]\s*)?(?:yes|no|nope|yep|correct|right)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """One answering comment and the question comments it answers."""

    answer: int
    questions: tuple[int, ...]
    answered_by: str
    kind: str  # "expert", "reader" or "self"


@dataclass(frozen=True)
class Linked:
    """Result of step 3: the links, plus comments that only clarify an earlier question."""

    links: tuple[Link, ...]
    clarifies: dict[int, int]  # clarifying comment -> question comment it belongs to
    answer_only: frozenset[int] = frozenset()  # question-like comments that turned out to be answers
    promoted: frozenset[int] = frozenset()  # faint questions the expert answered


class ThreadView:
    """Read-only lookups over a thread: comments by number, similarity, quotes, names."""

    def __init__(self, comments: Sequence[Comment], roles: Roles) -> None:
        self.comments = list(comments)
        self.by_number = {c.number: c for c in comments}
        self.roles = roles
        clean = {c.number: content_text(drop_quoted(strip_courtesy(c.body))) for c in comments}
        self.index = TermIndex(clean)
        self._shingles = {c.number: shingles(c.body) for c in comments}
        self.position = {c.number: i for i, c in enumerate(comments)}
        self._sims: dict[tuple[int, int], float] = {}

    def sim(self, a: int, b: int) -> float:
        """Cosine similarity of two comments' content (memoized: the linker asks often)."""
        key = (a, b) if a < b else (b, a)
        value = self._sims.get(key)
        if value is None:
            value = self._sims[key] = self.index.sim(a, b)
        return value

    def quotes(self, a: int, b: int) -> bool:
        """True when comment a repeats a run of comment b's words (a quote or pasted output)."""
        return bool(self._shingles[a] & self._shingles[b])

    def duplicate(self, a: int, b: int) -> bool:
        """True when comments a and b are (nearly) the same text: a double post."""
        sa, sb = self._shingles[a], self._shingles[b]
        if not sa or not sb:
            return self.sim(a, b) > 0.95
        return len(sa & sb) / min(len(sa), len(sb)) >= 0.8

    def between(self, a: int, b: int) -> list[Comment]:
        """Comments strictly between numbers a and b (a < b), in order."""
        return self.comments[self.position[a] + 1 : self.position[b]]

    def words(self, n: int) -> int:
        """Word count of a comment without greetings and signature."""
        return len(strip_courtesy(self.by_number[n].body).split())


def _addressed_users(view: ThreadView, c: Comment, aliases: dict[str, set[str]], users: set[str]) -> set[str]:
    names = [n for n in view.roles.addressed.get(c.number, ()) if n not in view.roles.expert_names]
    names += [n for n in view.roles.mentioned.get(c.number, ()) if n not in view.roles.expert_names]
    found: set[str] = set()
    for name in names:
        scored = [(name_match(name, u, aliases.get(u, ())), u) for u in users if u != c.user]
        best = max((s for s, _u in scored), default=0.0)
        if best >= ADDRESS_MATCH:
            found.update(u for s, u in scored if s >= best - 0.05)
    return found


class _Linker:
    """Walks the thread once, in order, keeping what has been asked and answered so far."""

    def __init__(self, view: ThreadView) -> None:
        self.view = view
        self.roles = view.roles
        self.aliases = {u: set(names) for u, names in view.roles.names.items()}
        self.answered: dict[int, set[str]] = {}  # question -> kinds of answers it got so far
        self.last_answer_pos: dict[int, int] = {}
        self.clarifies: dict[int, int] = {}
        self.links: list[Link] = []
        self.helpers: set[str] = set()
        self.answer_only: set[int] = set()
        self.promoted: set[int] = set()
        self.answers_given: set[int] = set()
        self.proximity_weight = 1.0
        self.replies_to: dict[str, list[int]] = {}  # asker -> answers addressed to them

    def is_question(self, n: int) -> bool:
        return n in self.roles.questions or n in self.promoted

    def target_of(self, n: int) -> int | None:
        if self.is_question(n):
            return n
        return self.clarifies.get(n)

    def window(self, c: Comment) -> list[Comment]:
        pos = self.view.position[c.number]
        return self.view.comments[max(0, pos - WINDOW) : pos]

    def catching_up(self, a: Comment) -> bool:
        """True inside a run of expert replies to old questions: then nearness says little."""
        pos = self.view.position[a.number]
        if pos == 0 or self.view.comments[pos - 1].user != a.user or not self.links:
            return False
        last = self.links[-1]
        if last.answer != self.view.comments[pos - 1].number:
            return False
        return pos - 1 - self.view.position[max(last.questions)] > 5

    def done(self, question: int, kind: str) -> bool:
        """Already answered, as far as an answer of this kind is concerned.

        The expert often answers after a reader did, so for the expert only the
        expert's own answers count; for anyone else any answer does.
        """
        kinds = self.answered.get(question, set())
        return "expert" in kinds if kind == "expert" else bool(kinds)

    def score(self, a: Comment, cand: Comment, addressed: set[str], pending: bool, distance: int, kind: str) -> float:
        view = self.view
        s = SIM_WEIGHT * view.sim(a.number, cand.number)
        if view.quotes(a.number, cand.number):
            s += 3.0
        if addressed and pending:
            s += 3.0 if cand.user in addressed else -1.5
        elif cand.user in addressed:
            # The named person has nothing open: an addendum, or another person of that name.
            s += 1.0
        s += self.proximity_weight * 1.5 / (1.0 + distance / 2.0)
        target = self.target_of(cand.number)
        if target is None:
            s -= NON_TARGET_PENALTY
        elif self.done(target, kind):
            since = view.position[a.number] - self.last_answer_pos[target]
            s -= 1.5 + min(3.0, 0.05 * since)
        return s

    def candidates(self, a: Comment, exclude_users: set[str], kind: str) -> list[tuple[float, Comment]]:
        window = self.window(a)
        self.proximity_weight = 0.3 if self.catching_up(a) else 1.0
        addressed = _addressed_users(self.view, a, self.aliases, {c.user for c in window})
        pending = any(
            c.user in addressed and (t := self.target_of(c.number)) is not None and not self.done(t, kind)
            for c in window
        )
        out = []
        distance = 0
        for cand in reversed(window):
            if cand.user == self.roles.expert:
                continue
            if cand.user not in exclude_users:
                out.append((self.score(a, cand, addressed, pending, distance, kind), cand))
            if cand.number not in self.roles.acks:
                distance += 1
        out.sort(key=lambda x: -x[0])
        return out

    def choose(self, a: Comment, kind: str) -> tuple[int, ...]:
        exclude = {a.user, self.roles.expert}
        ranked = self.candidates(a, exclude, kind)
        if not ranked:
            return ()
        best_score, best = ranked[0]
        if kind == "expert" and self.target_of(best.number) is None and self.promotable(a, best, best_score):
            self.promoted.add(best.number)  # the expert answered it, so it was a question after all
            best_score += NON_TARGET_PENALTY
        first = self.target_of(best.number)
        if first is None or best_score < MIN_LINK or (kind == "reader" and self.done(first, kind)):
            return ()
        asker = self.view.by_number[first].user
        addressed = _addressed_users(self.view, a, self.aliases, {c.user for c in self.window(a)})
        chosen = [first]
        for s, cand in ranked[1:]:
            t = self.target_of(cand.number)
            if t is None or t in chosen or self.done(t, kind):
                continue
            related = cand.user == asker or cand.user in addressed
            topical = self.view.sim(a.number, cand.number) >= 0.1 or self.view.quotes(a.number, cand.number)
            if related and topical and s >= SECONDARY_MIN:
                chosen.append(t)
        self._learn_alias(a, asker)
        return tuple(sorted(chosen))

    def promotable(self, a: Comment, cand: Comment, score: float) -> bool:
        """A problem report the expert answers at length ("There is no other indication of why ...")."""
        return (
            score + NON_TARGET_PENALTY >= MIN_LINK
            and cand.number not in self.roles.acks
            and cand.number not in self.answers_given
            and self.view.words(a.number) >= PROMOTE_WORDS
            and question_score(cand.body) >= PROMOTE_SCORE
        )

    def _learn_alias(self, a: Comment, asker: str) -> None:
        # "Avi, ..." answering serg_pery teaches that serg_pery goes by Avi.
        users = {c.user for c in self.window(a)}
        for name in self.roles.addressed.get(a.number, ()):
            if name in self.roles.expert_names:
                continue
            if max((name_match(name, u, self.aliases.get(u, ())) for u in users), default=0.0) < ADDRESS_MATCH:
                self.aliases.setdefault(asker, set()).add(name)

    def record(self, a: Comment, questions: tuple[int, ...], kind: str) -> None:
        if not questions:
            return
        self.links.append(Link(a.number, questions, a.user, kind))
        self.answers_given.add(a.number)
        for q in questions:
            self.answered.setdefault(q, set()).add(kind)
            self.last_answer_pos[q] = self.view.position[a.number]
            self.replies_to.setdefault(self.view.by_number[q].user, []).append(a.number)
        if kind == "reader":
            self.helpers.add(a.user)

    def pending_own(self, c: Comment, reach: int = 30) -> int | None:
        """The asker's latest unanswered question shortly before c, if no answer reached them since."""
        since = self.replies_to.get(c.user, [])
        for cand in reversed(self.window(c)[-reach:]):
            if cand.user == c.user and self.is_question(cand.number) and cand.number not in self.answer_only:
                if cand.number in self.answered or any(r > cand.number for r in since):
                    return None
                return cand.number
        return None

    def maybe_clarify(self, c: Comment) -> None:
        q = self.pending_own(c, reach=12)
        if q is None or self.is_question(c.number) or c.number in self.roles.solutions:
            return
        adjacent = all(x.user == c.user for x in self.view.between(q, c.number))
        to_q = self.view.sim(c.number, q)
        to_answers = max((self.view.sim(c.number, r) for r in self.replies_to.get(c.user, [])[-3:]), default=0.0)
        if to_q >= to_answers and (adjacent or to_q >= 0.15):
            self.clarifies[c.number] = q

    def maybe_reader_answer(self, c: Comment) -> bool:
        view, roles = self.view, self.roles
        if addresses_expert(roles, c.number) or c.number in roles.acks:
            return False
        users = {x.user for x in self.window(c)}
        addressed = _addressed_users(view, c, self.aliases, users)
        # Helpers (who answered before) get back to questions a little further up.
        span = 15 if c.user in self.helpers else 4
        recent = [x for x in self.window(c)[-span:] if x.user not in (c.user, roles.expert)]
        open_recent = [x for x in recent if self.is_question(x.number) and x.number not in self.answered]
        # Someone other than the asker, not talking to the expert, right after an open question
        # on the same subject, is answering it (helpers, who answered before, may also ask back).
        reach = 0.1 if c.user in self.helpers else 0.08
        plausible = bool(addressed)
        if not plausible and (not self.is_question(c.number) or c.user in self.helpers):
            plausible = any(view.sim(c.number, x.number) >= reach for x in open_recent)
        if not plausible and open_recent and open_recent[-1].number == self.window(c)[-1].number:
            plausible = view.words(c.number) <= 25 and bool(YES_NO_RE.match(strip_courtesy(c.body)))
        own = self.pending_own(c)
        if own is not None and open_recent and view.sim(c.number, own) >= max(view.sim(c.number, x.number)
                                                                              for x in open_recent):
            plausible = False  # closer to the commenter's own open question: continuing it
        if not plausible:
            return False
        targets = self.choose(c, "reader")
        self.record(c, targets, "reader")
        if targets and self.is_question(c.number):
            self.answer_only.add(c.number)  # "Why do you need SET_ADDRESS?" asks back inside an answer
        return bool(targets)

    def maybe_self_answer(self, c: Comment) -> None:
        if c.number not in self.roles.solutions:
            return
        q = self.pending_own(c)
        if q is not None and (self.view.sim(c.number, q) >= 0.05 or self.view.position[c.number]
                              - self.view.position[q] <= 3):
            self.record(c, (q,), "self")

    def run(self) -> Linked:
        expert = self.roles.expert
        for c in self.view.comments:
            if c.number in self.roles.acks:
                continue
            if expert and c.user == expert:
                dup = self._duplicate_of(c) or self._addendum_to(c)
                if dup is not None:
                    self.record(c, dup.questions, dup.kind)
                else:
                    self.record(c, self.choose(c, "expert"), "expert")
                continue
            fixing_own = c.number in self.roles.solutions and self.pending_own(c) is not None
            if not fixing_own and self.maybe_reader_answer(c):
                continue
            self.maybe_self_answer(c)
            self.maybe_clarify(c)
        return Linked(tuple(self.links), dict(self.clarifies), frozenset(self.answer_only), frozenset(self.promoted))

    def _addendum_to(self, c: Comment) -> Link | None:
        # "Also, if you ran your driver under the verifier ..." extends the author's own earlier answer.
        if not ADDENDUM_RE.match(strip_courtesy(c.body)):
            return None
        recent = [x for x in self.links[-6:] if x.answered_by == c.user]
        scored = [(self.view.sim(c.number, x.answer), x) for x in recent]
        best = max(scored, key=lambda sx: sx[0], default=None)
        return best[1] if best and best[0] >= 0.2 else None

    def _duplicate_of(self, c: Comment) -> Link | None:
        for link in reversed(self.links[-4:]):
            if link.answered_by == c.user and self.view.duplicate(c.number, link.answer):
                return link
        return None


def link_answers(view: ThreadView) -> Linked:
    """Find, for every answering comment, the question comment(s) it answers.

    Signals, combined into one score per candidate: content similarity (TF-IDF over
    words and identifiers), quoted text, the first name the reply opens with (matched
    to user names, signatures and names learned from earlier replies), distance, and
    whether the candidate was already answered. The expert's comments are answers;
    another reader's comment is an answer when it addresses an asker or closely matches
    an unanswered question; an asker's own "it works now: ..." answers their question.

    Args:
        view: the thread with its roles (step 2).

    Returns:
        Linked(links in thread order, clarifying comment -> its question).
    """
    return _Linker(view).run()
