"""Topic taxonomy (data/topics.yml) and the rule-based classifier that tags text with topic ids."""

from __future__ import annotations

import fnmatch
import functools
import math
import re
from collections import Counter
from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kb.errors import UnknownTopic

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "topics.yml"

# Evidence weights. A source path or header is near-certain; an API name the parser
# extracted is strong; identifiers and terms found in free text add up with their counts.
PATH_WEIGHT = 5.0
HEADER_WEIGHT = 4.0
API_NAME_WEIGHT = 2.0
TEXT_HEADER_WEIGHT = 1.5
IDENTIFIER_WEIGHT = 1.0
# An identifier also counts, at this fraction, for topics whose prefix matched it but
# was not the longest (WdfUsbTargetPipe...: usb fully, kmdf at half).
SHORTER_PREFIX_FRACTION = 0.5
# Term weights by the form the term is written in (an explicit `term: weight` wins).
PHRASE_WEIGHT = 1.5  # several words, or an identifier-like form (DriverEntry, IRP_MJ_READ, !analyze)
ACRONYM_WEIGHT = 1.0  # one upper-case or capitalized word (USB, Storport)
WORD_WEIGHT = 0.6  # one lower-case word: common, weak on its own (pool, install)
REPEAT_GAIN = 0.5  # repeats add evidence with diminishing returns: 1, 1.5, 1.8, 2 for 1-4 hits
# Selection: a topic is kept when its score reaches MIN_SCORE and RELATIVE x the best score.
MIN_SCORE = 1.5
MIN_TOP_SCORE = 1.2  # the best topic of a short text needs less
RELATIVE = 0.25
FOURTH_RELATIVE = 0.8  # a fourth topic needs more: forum Q&A is about one to three things

_TOKEN = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")
_HEADER_IN_TEXT = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)\.h\b")
_MAX_CACHE = 200_000


@dataclass(frozen=True)
class Topic:
    """One topic of the taxonomy with the rules that recognise it."""

    id: str
    name: str
    description: str
    paths: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    ddi_prefixes: tuple[str, ...] = ()
    terms: tuple[tuple[str, float], ...] = ()
    acronyms: tuple[str, ...] = ()
    boost: float = 1.0


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _is_glob(rule: str) -> bool:
    return "*" in rule or "?" in rule


def _term_weight(term: str) -> float:
    if " " in term.strip() or re.search(r"[_!./\\<>=\-]", term) or (len(term) > 4 and re.search(r"[a-z][A-Z]", term)):
        return PHRASE_WEIGHT
    if re.search(r"\d", term):
        return PHRASE_WEIGHT if len(term) > 3 else ACRONYM_WEIGHT
    return WORD_WEIGHT if term.islower() else ACRONYM_WEIGHT


def _parse_terms(raw: Iterable[Any], topic_id: str) -> tuple[tuple[str, float], ...]:
    out = []
    for item in raw or ():
        if isinstance(item, dict) and len(item) == 1:
            (term, weight), = item.items()
            if not isinstance(weight, (int, float)):
                raise ValueError(f"topic {topic_id!r}: term {item!r} needs a numeric weight (quote terms with ': ')")
            out.append((str(term), float(weight)))
        elif isinstance(item, (str, int, float)):
            out.append((str(item), _term_weight(str(item))))
        else:
            raise ValueError(f"topic {topic_id!r}: a term must be a string or `term: weight`, got {item!r}")
    return tuple(out)


def _topic_from_dict(raw: dict[str, Any]) -> Topic:
    topic_id = raw.get("id")
    if not topic_id or not raw.get("name"):
        raise ValueError(f"every topic needs an `id` and a `name`: fix the entry {raw!r:.80}")
    return Topic(
        id=str(topic_id),
        name=str(raw["name"]),
        description=str(raw.get("description", "")),
        paths=tuple(raw.get("paths") or ()),
        headers=tuple(h.lower() for h in raw.get("headers") or ()),
        ddi_prefixes=tuple(raw.get("ddi_prefixes") or ()),
        terms=_parse_terms(raw.get("terms"), str(topic_id)),
        acronyms=tuple(raw.get("acronyms") or ()),
        boost=float(raw.get("boost", 1.0)),
    )


class _PhraseIndex:
    """Token-sequence lookup: finds every listed phrase in a token list in one pass."""

    def __init__(self) -> None:
        self.phrases: dict[tuple[str, ...], list[tuple[str, float]]] = defaultdict(list)
        self.canonical: dict[tuple[str, ...], tuple[str, ...]] = {}  # a plural form -> the term it spells
        self.max_len: dict[str, int] = {}

    def add(self, tokens: Sequence[str], topic_id: str, weight: float, spelling_of: Sequence[str] = ()) -> None:
        key = tuple(tokens)
        if not key:
            return
        canonical = self.canonical.setdefault(key, tuple(spelling_of) or key)
        entries = self.phrases[canonical]
        for i, (tid, w) in enumerate(entries):
            if tid == topic_id:
                entries[i] = (tid, max(w, weight))
                break
        else:
            entries.append((topic_id, weight))
        self.max_len[key[0]] = max(self.max_len.get(key[0], 0), len(key))

    def count(self, tokens: Sequence[str]) -> Counter[tuple[str, ...]]:
        """Occurrences of each listed phrase (plurals counted under their singular)."""
        found: Counter[tuple[str, ...]] = Counter()
        n = len(tokens)
        for i, tok in enumerate(tokens):
            longest = self.max_len.get(tok)
            if not longest:
                continue
            # Prefer the longest phrase at a position, so "selective suspend" is not also "suspend".
            for length in range(min(longest, n - i), 0, -1):
                canonical = self.canonical.get(tuple(tokens[i : i + length]))
                if canonical is not None:
                    found[canonical] += 1
                    break
        return found


class Taxonomy:
    """The topics, their lookup by id, and the classifier over their rules."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.topics: tuple[Topic, ...] = tuple(topics)
        self._by_id: dict[str, Topic] = {}
        for topic in self.topics:
            if topic.id in self._by_id:
                raise ValueError(f"duplicate topic id {topic.id!r} in the taxonomy: ids must be unique")
            self._by_id[topic.id] = topic
        self._compile()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Taxonomy:
        """Build a taxonomy from the parsed YAML mapping (``{"topics": [...]}``).

        Raises:
            ValueError: the mapping has no topic list, or a topic is malformed.
        """
        if not isinstance(data, dict) or not isinstance(data.get("topics"), list):
            raise ValueError("the taxonomy needs a top-level `topics:` list")
        return cls([_topic_from_dict(raw) for raw in data["topics"]])

    def ids(self) -> list[str]:
        """Topic ids in taxonomy order."""
        return [t.id for t in self.topics]

    def get(self, topic_id: str) -> Topic:
        """The topic with this id.

        Raises:
            UnknownTopic: no topic has that id; the message lists the valid ids.
        """
        try:
            return self._by_id[topic_id]
        except KeyError:
            raise UnknownTopic(f"unknown topic {topic_id!r}; use one of: {', '.join(self.ids())}") from None

    def check(self, topic_ids: Iterable[str]) -> list[str]:
        """Return ``topic_ids`` as a list after checking each one exists.

        Raises:
            UnknownTopic: one of the ids is not in the taxonomy.
        """
        ids = list(topic_ids)
        for topic_id in ids:
            self.get(topic_id)
        return ids

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self._by_id

    def __iter__(self) -> Iterator[Topic]:
        return iter(self.topics)

    def __len__(self) -> int:
        return len(self.topics)

    def _compile(self) -> None:
        self._path_prefixes: list[tuple[str, str]] = []
        self._path_globs: list[tuple[re.Pattern[str], str]] = []
        self._header_exact: dict[str, list[str]] = defaultdict(list)
        self._header_globs: list[tuple[re.Pattern[str], str]] = []
        self._prefixes: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        self._terms = _PhraseIndex()  # lower-cased tokens
        self._acronyms = _PhraseIndex()  # case-sensitive tokens
        for topic in self.topics:
            for rule in topic.paths:
                if _is_glob(rule):
                    self._path_globs.append((re.compile(fnmatch.translate(rule)), topic.id))
                else:
                    self._path_prefixes.append((rule, topic.id))
            for rule in topic.headers:
                if _is_glob(rule):
                    self._header_globs.append((re.compile(fnmatch.translate(rule)), topic.id))
                else:
                    self._header_exact[rule].append(topic.id)
            for prefix in topic.ddi_prefixes:
                family = prefix.endswith("*")
                prefix = prefix.rstrip("*")
                if (topic.id, family) not in self._prefixes[prefix]:
                    self._prefixes[prefix].append((topic.id, family))
            for term, weight in topic.terms:
                singular = [t.lower() for t in _tokens(term)]
                self._terms.add(singular, topic.id, weight)
                if not term.endswith(("s", "x", "sh", "ch")):
                    self._terms.add([t.lower() for t in _tokens(term + "s")], topic.id, weight, singular)
            for acronym in topic.acronyms:
                self._acronyms.add(_tokens(acronym), topic.id, ACRONYM_WEIGHT)
        self._header_cache: dict[str, tuple[str, ...]] = {}
        self._ident_cache: dict[str, tuple[tuple[str, float], ...]] = {}

    def _header_topics(self, header: str) -> tuple[str, ...]:
        header = header.lower()
        cached = self._header_cache.get(header)
        if cached is None:
            found = list(self._header_exact.get(header, ()))
            found += [tid for rx, tid in self._header_globs if rx.match(header) and tid not in found]
            cached = tuple(found)
            if len(self._header_cache) < _MAX_CACHE:
                self._header_cache[header] = cached
        return cached

    def _identifier_topics(self, name: str) -> tuple[tuple[str, float], ...]:
        cached = self._ident_cache.get(name)
        if cached is not None:
            return cached
        matches: list[tuple[int, str, bool]] = []
        for cut in range(len(name), 1, -1):
            # A prefix ends at the end of the name, after "_", or before an upper-case letter,
            # digit or "_": `Ke` matches KeSetEvent but not Kernel.
            if cut < len(name) and name[cut - 1] != "_" and not (name[cut].isupper() or name[cut].isdigit()
                                                                 or name[cut] == "_"):
                continue
            for tid, family in self._prefixes.get(name[:cut], ()):
                matches.append((cut, tid, family))
        result: dict[str, float] = {}
        if matches:
            longest = matches[0][0]
            for cut, tid, family in matches:
                weight = 1.0 if cut == longest or family else SHORTER_PREFIX_FRACTION
                result[tid] = max(result.get(tid, 0.0), weight)
        cached = tuple(result.items())
        if len(self._ident_cache) < _MAX_CACHE:
            self._ident_cache[name] = cached
        return cached

    def _path_topics(self, source_path: str) -> set[str]:
        path = source_path.replace("\\", "/")
        found = {tid for prefix, tid in self._path_prefixes if path.startswith(prefix)}
        found |= {tid for rx, tid in self._path_globs if rx.match(path)}
        return found

    def _evidence(self, text: str, source_path: str, api_names: Sequence[str]) -> Iterator[tuple[str, str, float]]:
        if source_path:
            for tid in self._path_topics(source_path):
                yield tid, f"path {source_path}", PATH_WEIGHT
            parts = source_path.replace("\\", "/").split("/")
            if len(parts) > 3 and parts[0] == "wdk-ddi-src" and parts[1] == "content":
                for tid in self._header_topics(parts[2] + ".h"):
                    yield tid, f"header {parts[2]}.h", HEADER_WEIGHT
        for name in set(api_names):
            if name in text:
                continue  # found again below as an identifier of the text: count it once
            for tid, weight in self._identifier_topics(name):
                yield tid, f"api {name}", API_NAME_WEIGHT * weight
        for header in set(_HEADER_IN_TEXT.findall(text)):
            for tid in self._header_topics(header + ".h"):
                yield tid, f"header {header}.h", TEXT_HEADER_WEIGHT
        tokens = _tokens(text)
        counted: set[tuple[str, str]] = set()
        for word, count in _identifiers(tokens).items():
            for tid, weight in self._identifier_topics(word):
                counted.add((word.lower(), tid))
                yield tid, f"identifier {word} x{count}", IDENTIFIER_WEIGHT * weight * _repeat(count)
        lowered = [t.lower() for t in tokens]
        for index, case_tokens in ((self._terms, lowered), (self._acronyms, tokens)):
            for key, count in index.count(case_tokens).items():
                for tid, weight in index.phrases[key]:
                    if len(key) == 1 and (key[0], tid) in counted:
                        continue  # already counted as an identifier
                    yield tid, f"term {' '.join(key)} x{count}", weight * _repeat(count)

    def scores(self, text: str, source_path: str = "", api_names: Sequence[str] = ()) -> dict[str, float]:
        """Evidence score per topic for a text (only topics with some evidence appear).

        Args:
            text: the question and answer (or any text) to classify.
            source_path: the source's path in the corpus, e.g. ``windows-driver-docs-pr/usbcon/x.md``.
            api_names: API names the parser attached to the text.

        Returns:
            ``{topic_id: score}``; :meth:`classify` keeps the topics with enough of it.
        """
        score: dict[str, float] = defaultdict(float)
        for tid, _reason, weight in self._evidence(text, source_path, api_names):
            score[tid] += weight
        return {tid: s * self._by_id[tid].boost for tid, s in score.items()}

    def explain(self, text: str, source_path: str = "", api_names: Sequence[str] = ()) -> dict[str, list[str]]:
        """Why each topic scored: ``{topic_id: ["term usb x3 (+2.0)", ...]}``, for tuning the rules."""
        out: dict[str, list[str]] = defaultdict(list)
        for tid, reason, weight in self._evidence(text, source_path, api_names):
            out[tid].append(f"{reason} (+{weight:.1f})")
        return dict(out)

    def classify(self, text: str, source_path: str = "", api_names: Sequence[str] = (),
                 max_topics: int = 4) -> list[str]:
        """Topic ids for a text, best first (multi-label; may be empty).

        Args:
            text: the question and answer (or any text) to classify.
            source_path: the source's path in the corpus, if it has a meaningful one.
            api_names: API names the parser attached to the text.
            max_topics: most topics to return.

        Returns:
            Up to ``max_topics`` topic ids, highest evidence first. A topic needs a score of
            ``MIN_SCORE`` and ``RELATIVE`` of the best one, so a passing mention is not enough.
        """
        score = self.scores(text, source_path, api_names)
        if not score:
            return []
        ranked = sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))
        if ranked[0][1] < MIN_TOP_SCORE:
            return []
        # The floor follows the best *unboosted* score, so a boosted framework topic that
        # dominates a long text does not crowd out the topics the text is about.
        best = max(s / self._by_id[tid].boost for tid, s in ranked)
        chosen = [ranked[0][0]]
        for tid, s in ranked[1:]:
            relative = RELATIVE if len(chosen) < 3 else FOURTH_RELATIVE
            if s >= MIN_SCORE and s >= relative * best:
                chosen.append(tid)
        return chosen[:max_topics]


def _identifiers(tokens: Sequence[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for i, tok in enumerate(tokens):
        if len(tok) < 3 or tok.islower() or not (tok[0].isalpha() or tok[0] == "_"):
            continue
        if i >= 2 and tokens[i - 1] == "!" and tokens[i - 2][-1:].isalnum():
            continue  # a frame of a call stack (nt!KeWaitForSingleObject): says debugging, not the API's topic
        found[tok] += 1
    return found


def _repeat(count: int) -> float:
    return 1.0 + REPEAT_GAIN * math.log2(count) if count > 1 else 1.0


@functools.lru_cache(maxsize=8)
def _load(path: str) -> Taxonomy:
    with open(path, encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return Taxonomy.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load (once per path) the topic taxonomy.

    Args:
        path: a topics YAML file; default ``data/topics.yml`` in the project.

    Returns:
        The :class:`Taxonomy`, cached: later calls with the same path return the same object.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not valid YAML or a topic is malformed.
    """
    return _load(str(Path(path or DEFAULT_PATH).resolve()))
