"""Onboarding blueprint: Start here, learning paths (progress kept in the browser), step pages and the glossary."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Blueprint
from flask import current_app
from flask import render_template
from flask import request
from markupsafe import Markup

from kb.errors import KBError
from kb.errors import NotFound
from kb.glossary import Glossary
from kb.glossary import Term
from kb.glossary import link_terms
from kb.glossary import load_glossary
from kb.paths import LEVELS
from kb.paths import LearningPath
from kb.paths import get_path
from kb.paths import load_paths
from kb.topics import load_taxonomy
from webapp import get_kb
from webapp.render import render_markdown

bp = Blueprint("onboarding", __name__)

MAX_FILTER_CHARS = 100
SAMPLES_REPO = "https://github.com/microsoft/Windows-driver-samples"
# Letter-index group of terms that start with neither a letter nor "!" + letter.
OTHER_LETTER = "#"


# --- helpers the rest of the web UI uses ----------------------------------------------------------------------


def glossary_or_none() -> Glossary | None:
    """The project glossary, or None (logged) when data/glossary.yml is missing or invalid.

    Answer pages must still render with a broken glossary file; tests/test_glossary.py catches the file itself.
    """
    try:
        return load_glossary()
    except KBError as exc:
        current_app.logger.warning("glossary not loaded, answers are shown without term links: %s", exc)
        return None


def link_glossary(answer_html: Markup) -> Markup:
    """Link the first occurrence of each glossary term in an already sanitized answer.

    Sanitizing must come first: ``link_terms`` adds trusted markup built from our own glossary (the definition
    only ever goes into an escaped ``title`` attribute), which nh3 would otherwise strip (``class``, ``data-term``).

    Args:
        answer_html: the output of ``webapp.render.render_markdown`` (nh3-sanitized).

    Returns:
        The same HTML with ``<a class="term" href="/glossary#slug" title="definition" data-term="slug">`` links;
        unchanged when the glossary cannot be loaded.
    """
    glossary = glossary_or_none()
    if glossary is None:
        return answer_html
    return Markup(link_terms(str(answer_html), glossary))


@bp.app_template_global("paths_for_topic")
def paths_for_topic(topic_id: str) -> list[LearningPath]:
    """Learning paths that cover a topic (the path's own ``topics``), in path order; [] if the paths cannot load.

    Steps carry no topics of their own in data/paths, so the path's list is the whole answer.
    """
    try:
        return [p for p in load_paths() if topic_id in p.topics]
    except KBError as exc:
        current_app.logger.warning("learning paths not loaded: %s", exc)
        return []


def suggested_order(paths: list[LearningPath]) -> list[LearningPath]:
    """Paths in the order we suggest to a new driver engineer: beginner first, then by each path's ``order``.

    Returns:
        A new list; the same paths.
    """
    return sorted(paths, key=lambda p: (LEVELS.index(p.level), p.order, p.id))


def sort_key(term: Term) -> str:
    """Alphabetical key of a term: case-folded, a debugger ``!`` prefix ignored (``!irp`` files under I)."""
    return term.term.lstrip("!").casefold()


def letter_of(term: Term) -> str:
    """The letter-index group of a term: its first letter upper-cased, or ``#``."""
    first = term.term.lstrip("!")[:1].upper()
    return first if "A" <= first <= "Z" else OTHER_LETTER


def filter_terms(terms: list[Term], query: str) -> list[Term]:
    """Terms whose name, alias or definition contains every word of ``query`` (case-insensitive).

    Args:
        terms: the glossary terms.
        query: what the reader typed; empty keeps everything.

    Returns:
        The matching terms, in the order given.
    """
    words = query.casefold().split()
    if not words:
        return list(terms)
    out = []
    for term in terms:
        text = " ".join((*term.names, term.definition)).casefold()
        if all(w in text for w in words):
            out.append(term)
    return out


def docs_url(ref: str) -> str | None:
    """The Microsoft Learn page of a stable ref's source, when the ref points into the docs or API reference."""
    from kb.pipeline import source_url  # imported late: kb.pipeline pulls in the ingest parsers

    path, _, anchor = ref.partition("#")
    url = source_url(path)
    return f"{url}#{anchor}" if url and anchor and not path.startswith("wdk-ddi-src/") else url


class RefResolver:
    """Resolves stable refs to hydrated pairs once per request (a step and the glossary repeat refs)."""

    def __init__(self, kb: Any) -> None:
        # pair_by_ref is on kb.app.KB but not in the KBService protocol: another KB simply resolves nothing.
        self._lookup: Callable[[str], dict[str, Any] | None] | None = getattr(kb, "pair_by_ref", None)
        self._seen: dict[str, dict[str, Any] | None] = {}

    def __call__(self, ref: str) -> dict[str, Any] | None:
        """The first pair with this ref, or None when this KB does not hold it."""
        if ref not in self._seen:
            self._seen[ref] = self._lookup(ref) if self._lookup else None
        return self._seen[ref]


_DDI_PREFIX = re.compile(r"^n[a-z]-[a-z0-9_]+-")  # nf-wdm-, ns-wdfusb-, nc-wdfdriver-: the page kind and header


def ref_label(ref: str, names: tuple[str, ...] = ()) -> str:
    """A readable name for a stable ref whose pair is not in this KB.

    Args:
        ref: ``<source path>#<anchor>``.
        names: spellings that may name the page (a term and its aliases) to restore an API name's case.

    Returns:
        ``managing hardware priorities`` for a docs page, ``KeAcquireSpinLock (wdm.h)`` for an API reference page.
    """
    path = ref.partition("#")[0]
    folder, _, name = path.rpartition("/")
    stem = name.rsplit(".", 1)[0]
    if path.startswith("wdk-ddi-src/content/"):
        api = _DDI_PREFIX.sub("", stem)
        api = next((n for n in names if n.casefold() == api.casefold()), api)
        return f"{api} ({folder.rpartition('/')[2]}.h)"
    return stem.replace("-", " ").strip() or path


def _topics() -> tuple[dict[str, str], set[str]]:
    # Names come from the taxonomy too, so a topic this KB has no pairs for still reads well (it is not linked).
    names: dict[str, str] = {}
    try:
        names = {t.id: t.name for t in load_taxonomy()}
    except (OSError, ValueError) as exc:
        current_app.logger.warning("topic taxonomy not loaded: %s", exc)
    known = get_kb().topics()
    names.update({t["id"]: t.get("name") or t["id"] for t in known})
    return names, {t["id"] for t in known}


def _lookup_or_none(kb: Any, method: str, key: str) -> dict[str, Any] | None:
    # get_sample / get_script are optional on a KB; a catalog without the item is a note on the page, not an error.
    getter = getattr(kb, method, None)
    if getter is None:
        return None
    try:
        return getter(key)
    except NotFound:
        return None


def _entry(ref: str, resolve: RefResolver) -> dict[str, Any]:
    pair = resolve(ref)
    if pair is None:
        return {"ref": ref, "pair": None, "docs_url": docs_url(ref), "label": ref_label(ref)}
    source = pair.get("source") or {}
    base = source.get("url") if str(source.get("url") or "").startswith(("http://", "https://")) else None
    html = link_glossary(render_markdown(pair.get("answer", ""), base_url=base))
    return {"ref": ref, "pair": pair, "source": source, "answer_html": html}


# --- views ------------------------------------------------------------------------------------------------------


@bp.get("/start")
def start() -> Any:
    """Start here: what Driver KB is for a new driver engineer, and the learning paths in a suggested order."""
    paths = load_paths()
    glossary = glossary_or_none()
    return render_template(
        "onboarding/start.html",
        paths=suggested_order(paths),
        levels=LEVELS,
        topics=_topics(),
        term_count=len(glossary) if glossary else 0,
    )


@bp.get("/paths")
def paths_index() -> Any:
    """All learning paths (the same cards as Start here, without the introduction)."""
    return render_template("onboarding/paths.html", paths=suggested_order(load_paths()), topics=_topics())


@bp.get("/paths/<path_id>")
def path_page(path_id: str) -> Any:
    """One path: its ordered steps with a done checkbox each and a progress bar (state in localStorage)."""
    path = get_path(path_id)
    return render_template("onboarding/path.html", path=path, topics=_topics())


@bp.get("/paths/<path_id>/<step_id>")
def step_page(path_id: str, step_id: str) -> Any:
    """One step: what to learn and why, the KB answers it points at, a sample, a script and a self-check."""
    path = get_path(path_id)
    step = path.step(step_id)
    number = path.steps.index(step) + 1
    kb = get_kb()
    resolve = RefResolver(kb)
    sample = _lookup_or_none(kb, "get_sample", step.sample)
    script = _lookup_or_none(kb, "get_script", step.script)
    return render_template(
        "onboarding/step.html",
        path=path,
        step=step,
        number=number,
        previous=path.steps[number - 2] if number > 1 else None,
        next=path.steps[number] if number < len(path.steps) else None,
        entries=[_entry(ref, resolve) for ref in step.entries],
        sample=sample,
        sample_page="/samples/" + quote(step.sample),
        sample_github=f"{SAMPLES_REPO}/tree/{quote(str(current_app.config.get('SAMPLES_REF') or 'main'))}/"
        + quote(step.sample),
        script=script,
        script_page="/scripts/" + quote(step.script),
    )


@bp.get("/glossary")
def glossary_page() -> Any:
    """Every term A-Z with its definition, aliases, topics and best KB entries; ``?q=`` filters without JS."""
    glossary = load_glossary()
    query = " ".join(request.args.get("q", "").split())[:MAX_FILTER_CHARS]
    everything = sorted(glossary.terms, key=sort_key)
    shown = filter_terms(everything, query)
    resolve = RefResolver(get_kb())
    groups: dict[str, list[dict[str, Any]]] = {}
    for term in shown:
        see = [{"ref": ref, "pair": resolve(ref), "docs_url": docs_url(ref), "label": ref_label(ref, term.names)}
               for ref in term.see]
        groups.setdefault(letter_of(term), []).append({"term": term, "see": see})
    letters = sorted({letter_of(t) for t in everything}, key=lambda c: (c == OTHER_LETTER, c))
    return render_template(
        "onboarding/glossary.html",
        groups=groups,
        letters=letters,
        query=query,
        shown=len(shown),
        total=len(everything),
        topics=_topics(),
        max_chars=MAX_FILTER_CHARS,
    )
