"""Driver glossary (data/glossary.yml): terms with short definitions, and linking of terms in answer HTML."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from kb.errors import ParseError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "glossary.yml"
MAX_DEFINITION = 200
MAX_SEE = 3

# Text inside these elements is never linked: code, links, headings and non-content elements.
# Where a name may start: not inside a word, and not right after a hyphen ("non-PnP", "IRQL-safe").
_WORD_START = re.compile(r"(?<![\w-])[\w!./]")
_SKIP = frozenset({"a", "code", "pre", "kbd", "samp", "var", "tt", "h1", "h2", "h3", "h4", "h5", "h6",
                   "script", "style", "textarea", "button", "title", "svg", "math"})


@dataclass(frozen=True)
class Term:
    """One glossary entry.

    ``see`` holds stable KB references (``<source path>#<anchor>``) to the entries that explain the term best.
    """

    term: str
    slug: str
    aliases: tuple[str, ...]
    definition: str
    topics: tuple[str, ...]
    see: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The term followed by its aliases: every spelling recognised in text."""
        return (self.term, *self.aliases)


def slugify(term: str) -> str:
    """URL fragment of a term: lowercase, runs of other characters to ``-``; ``!irp`` gives ``ext-irp``.

    Debugger extension commands get the ``ext-`` prefix so ``!irp`` does not collide with ``IRP``.
    """
    text = term.strip().lower()
    if text.startswith("!"):
        text = "ext-" + text[1:]
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


class Glossary:
    """The loaded glossary: terms in file order, lookup by slug or name, and a compiled term matcher."""

    def __init__(self, terms: list[Term], source: str = "") -> None:
        self.terms = terms
        self.source = source
        self._by_slug = {t.slug: t for t in terms}
        self._by_name = {name.lower(): t for t in terms for name in t.names}
        self._buckets = _compile(terms)

    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def find(self, key: str) -> Term | None:
        """Look a term up by slug, term or alias (names case-insensitively).

        Args:
            key: ``irql``, ``IRQL`` or ``interrupt request level``.

        Returns:
            The Term, or None when nothing matches.
        """
        return self._by_slug.get(key) or self._by_name.get(key.strip().lower())

    def matches(self, text: str) -> Iterator[tuple[int, int, str]]:
        """Every whole-word occurrence of a term name in plain text, longest name first at each position.

        Returns:
            ``(start, end, slug)`` tuples in text order.
        """
        pos = 0
        for start in _WORD_START.finditer(text):
            at = start.start()
            bucket = self._buckets.get(text[at].lower()) if at >= pos else None
            if bucket is None:
                continue
            m = bucket[0].match(text, at)
            if m:
                pos = m.end()
                yield at, pos, bucket[1][m.lastgroup or ""]


def parse_glossary(text: str, source: str = "glossary.yml") -> Glossary:
    """Build a Glossary from YAML text (a list of entries, or a mapping with a ``terms`` list).

    Args:
        text: the YAML document.
        source: file name used in error messages.

    Returns:
        The Glossary.

    Raises:
        ParseError: bad YAML, a missing or malformed field, a duplicate slug or name; the message names
            the file and the entry.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParseError(f"{source}: invalid YAML ({exc}); fix the syntax") from None
    if isinstance(data, dict):
        data = data.get("terms")
    if not isinstance(data, list) or not data:
        raise ParseError(f"{source}: expected a list of terms (`- term: ...` entries)")
    terms: list[Term] = []
    slugs: dict[str, str] = {}
    names: dict[str, str] = {}
    for n, raw in enumerate(data, 1):
        term = _term_from_dict(raw, f"{source} entry {n}")
        where = f"{source} term {term.term!r}"
        if term.slug in slugs:
            raise ParseError(f"{where}: slug {term.slug!r} is already used by {slugs[term.slug]!r}; set `slug:`")
        slugs[term.slug] = term.term
        for name in term.names:
            owner = names.setdefault(name.lower(), term.term)
            if owner != term.term:
                raise ParseError(f"{where}: name {name!r} is already a name of {owner!r}; drop one of them")
        terms.append(term)
    return Glossary(terms, source)


def load_glossary(path: str | Path | None = None) -> Glossary:
    """Load (and cache until the file changes) the glossary.

    Args:
        path: YAML file; defaults to data/glossary.yml in the project.

    Returns:
        The Glossary.

    Raises:
        ParseError: the file is missing or invalid.
    """
    file = Path(path) if path else DEFAULT_PATH
    try:
        mtime = file.stat().st_mtime_ns
    except OSError:
        raise ParseError(f"{file}: glossary file not found; create it or pass its path") from None
    return _load_cached(str(file.resolve()), mtime)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> Glossary:
    # mtime_ns is part of the cache key so an edited file is read again.
    return parse_glossary(Path(path).read_text(encoding="utf-8"), source=path)


def references(path: str | Path | None = None) -> list[tuple[str, str, str]]:
    """Every KB reference the glossary uses, for `kb check-content` to resolve against the store.

    Returns:
        ``(where, kind, ref)`` tuples such as ``("data/glossary.yml#irql", "ref",
        "windows-driver-docs-pr/kernel/managing-hardware-priorities.md#managing-hardware-priorities")``.
    """
    glossary = load_glossary(path)
    name = Path(glossary.source).name
    return [(f"data/{name}#{t.slug}", "ref", ref) for t in glossary.terms for ref in t.see]


def link_terms(html_text: str, glossary: Glossary, max_links: int | None = None) -> str:
    """Link the first occurrence of each glossary term in sanitized answer HTML.

    Each occurrence becomes ``<a class="term" href="/glossary#<slug>" title="<definition>"
    data-term="<slug>">text</a>``. Text inside ``code``, ``pre``, ``a``, headings and attribute values is
    never touched; links already carrying ``data-term`` count as done, so running twice adds nothing.

    Args:
        html_text: HTML fragment (already sanitized).
        glossary: the Glossary to link.
        max_links: most new links to add; None for no limit.

    Returns:
        The HTML with term links added; everything else is passed through unchanged.
    """
    if max_links is not None and max_links <= 0:
        return html_text
    linker = _Linker(glossary, max_links)
    linker.feed(html_text)
    linker.close()
    return "".join(linker.out)


# --- parsing helpers ----------------------------------------------------------------------------------------


def _term_from_dict(raw: Any, where: str) -> Term:
    if not isinstance(raw, dict):
        raise ParseError(f"{where}: expected a mapping with term, definition, topics and see")
    term = raw.get("term")
    if not isinstance(term, str) or not term.strip():
        raise ParseError(f"{where}: `term` is missing or empty")
    where = f"{where} ({term!r})"
    definition = raw.get("definition")
    if not isinstance(definition, str) or not definition.strip():
        raise ParseError(f"{where}: `definition` is missing or empty")
    definition = " ".join(definition.split())
    if len(definition) > MAX_DEFINITION:
        raise ParseError(f"{where}: definition has {len(definition)} characters; keep it to {MAX_DEFINITION}")
    see = _str_list(raw.get("see"), "see", where)
    if not 1 <= len(see) <= MAX_SEE:
        raise ParseError(f"{where}: `see` needs 1 to {MAX_SEE} references, got {len(see)}")
    for ref in see:
        if "#" not in ref or ref.startswith("#") or ref.endswith("#"):
            raise ParseError(f"{where}: reference {ref!r} must look like `<source path>#<anchor>`")
    topics = _str_list(raw.get("topics"), "topics", where)
    if not topics:
        raise ParseError(f"{where}: `topics` needs at least one topic id")
    slug = raw.get("slug") or slugify(term)
    if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
        raise ParseError(f"{where}: slug {slug!r} must be lowercase words joined by '-'")
    return Term(
        term=term.strip(),
        slug=slug,
        aliases=tuple(a.strip() for a in _str_list(raw.get("aliases"), "aliases", where)),
        definition=definition,
        topics=tuple(topics),
        see=tuple(see),
    )


def _str_list(value: Any, field: str, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ParseError(f"{where}: `{field}` must be a list of non-empty strings")
    return list(value)


# --- matching -----------------------------------------------------------------------------------------------


def _case_sensitive(token: str) -> bool:
    # Acronyms and identifiers (IRP, PnP, WinDbg, S0, IRP_MJ_READ) must match exactly; plain and
    # capitalised words (Plug, manager, interrupt) match in any case.
    return any(c.isdigit() or c == "_" for c in token) or any(c.isupper() for c in token[1:])


def _name_pattern(name: str) -> str:
    parts = [re.escape(tok) if _case_sensitive(tok) else f"(?i:{re.escape(tok)})" for tok in name.split()]
    pattern = r"\s+".join(parts)
    if name[-1].isalpha():
        pattern += "(?:e?s)?"  # plurals: IRPs, spin locks, fast mutexes
    return pattern


def _compile(terms: list[Term]) -> dict[str, tuple[re.Pattern[str], dict[str, str]]]:
    """One alternation per first character: text is only tried at word starts against names that could match."""
    by_char: dict[str, list[tuple[str, str]]] = {}
    for t in terms:
        for name in t.names:
            by_char.setdefault(name[0].lower(), []).append((name, t.slug))
    buckets = {}
    for char, names in by_char.items():
        # Longest names first, so at one position "filter DO" wins over any shorter name.
        names.sort(key=lambda p: (-len(p[0]), p[0]))
        groups = {f"t{i}": slug for i, (_, slug) in enumerate(names)}
        body = "|".join(f"(?P<t{i}>{_name_pattern(name)})" for i, (name, _) in enumerate(names))
        buckets[char] = (re.compile(rf"(?:{body})(?![\w-])"), groups)
    return buckets


class _Linker(HTMLParser):
    """Re-emits the HTML it parses, wrapping first term occurrences in eligible text nodes."""

    def __init__(self, glossary: Glossary, max_links: int | None) -> None:
        super().__init__(convert_charrefs=False)  # keep entities as written: we re-emit the source
        self.glossary = glossary
        self.budget = max_links
        self.linked: set[str] = set()
        self.skip: dict[str, int] = {}
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self.get_starttag_text() or f"<{tag}>")
        if tag == "a":
            slug = dict(attrs).get("data-term")
            if slug:
                self.linked.add(slug)
        if tag in _SKIP:
            self.skip[tag] = self.skip.get(tag, 0) + 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(self.get_starttag_text() or f"<{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        self.out.append(f"</{tag}>")
        if self.skip.get(tag):
            self.skip[tag] -= 1

    def handle_data(self, data: str) -> None:
        if any(self.skip.values()) or self.budget == 0:
            self.out.append(data)
            return
        pos = 0
        for start, end, slug in self.glossary.matches(data):
            if slug in self.linked:
                continue
            term = self.glossary.find(slug)
            if term is None:
                continue
            self.out.append(data[pos:start])
            self.out.append(
                f'<a class="term" href="/glossary#{slug}" title="{html.escape(term.definition, quote=True)}"'
                f' data-term="{slug}">{data[start:end]}</a>'
            )
            pos = end
            self.linked.add(slug)
            if self.budget is not None:
                self.budget -= 1
                if self.budget == 0:
                    break
        self.out.append(data[pos:])

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")
