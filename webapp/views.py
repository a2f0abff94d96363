"""HTML blueprint: search page, answer pages, topics and about; server-rendered, no JavaScript needed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import render_template
from flask import request
from markupsafe import Markup

from kb.errors import BadQuery
from kb.errors import UnknownTopic
from webapp import get_kb
from webapp.api import parse_search_args
from webapp.onboarding import link_glossary
from webapp.render import describe_reason
from webapp.render import evidence_links
from webapp.render import format_locator
from webapp.render import highlight
from webapp.render import paragraphs
from webapp.render import query_terms
from webapp.render import render_markdown
from webapp.render import shorten
from webapp.render import snippet

bp = Blueprint("ui", __name__)

PER_PAGE = 20
EXAMPLE_QUERIES = (
    "At what IRQL can I call KeSetEvent?",
    "driver fails to unload",
    "WdfRequestSend STATUS_INVALID_DEVICE_STATE",
    "0xD1 DRIVER_IRQL_NOT_LESS_OR_EQUAL",
    "USB selective suspend in KMDF",
)
# Friendly names for the source kinds we know; others are shown as they are.
KIND_LABELS = {
    "learn-doc": "Docs",
    "api-ref": "API reference",
    "handbook": "Handbook",
    "thread": "Thread",
    "article": "Article",
    "discourse": "Forum",
    "mbox": "Mailing list",
    "stackexchange": "Stack Exchange",
    "slack-export": "Slack",
    "samples-catalog": "Samples",
    "sample-readme": "Sample README",
    "script": "Script",
}


@bp.app_template_filter("kind_label")
def kind_label(kind: str | None) -> str:
    """Human name of a source kind (``api-ref`` -> ``API reference``)."""
    return KIND_LABELS.get(kind or "", (kind or "source").replace("-", " ").replace("_", " "))


@bp.app_template_filter("safe_url")
def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s) or a path on this site, else None: a stored ``javascript:`` URL never becomes a link."""
    if not url:
        return None
    url = url.strip()
    if urlsplit(url).scheme in {"http", "https"} or (url.startswith("/") and not url.startswith("//")):
        return url
    return None


@bp.app_template_filter("snippet_html")
def snippet_html(answer: str, terms: list[str] | None = None) -> Markup:
    """~300 plain-text characters of an answer with the query terms in ``<mark>``."""
    terms = terms or []
    return highlight(snippet(answer, terms), terms)


@bp.app_template_filter("shorten")
def shorten_text(text: str, limit: int = 180) -> str:
    """A long (thread) question cut to about ``limit`` characters at a word."""
    return shorten(text, limit)


@bp.app_template_filter("paragraphs")
def paragraphs_filter(text: str) -> list[str]:
    """Paragraphs of a plain-text question, hard wraps joined."""
    return paragraphs(text)


@bp.app_template_filter("locator")
def locator_text(locator: dict[str, Any] | None, kind: str | None = None) -> str:
    """Readable locator: ``comments 5 → 6``, ``section “remarks”, part 2``."""
    return format_locator(locator, kind)


@bp.app_template_filter("reason")
def reason_text(item: dict[str, Any]) -> str:
    """Why a sample or script is linked: ``calls KeSetEvent``, ``uses pnputil``."""
    return describe_reason(item)


@bp.app_template_filter("evidence")
def evidence(item: dict[str, Any]) -> list[dict[str, Any]]:
    """``file:line`` links for a sample or script."""
    return evidence_links(item)


def _absolute(url: str | None) -> str | None:
    return url if url and urlsplit(url).scheme in {"http", "https"} else None


def _topic_names(topics: list[dict[str, Any]]) -> dict[str, str]:
    return {t["id"]: t.get("name") or t["id"] for t in topics}


@bp.get("/")
def index() -> Any:
    """Search page: the form, the results, or an intro with examples when there is no query."""
    kb = get_kb()
    topics = kb.topics()
    context: dict[str, Any] = {
        "topics": topics,
        "topic_names": _topic_names(topics),
        "kinds": kb.source_kinds(),
        "q": request.args.get("q", ""),
        "selected_topics": set(),
        "selected_kinds": set(),
        "result": None,
        "error": None,
        "terms": [],
        "more_k": None,
        "examples": EXAMPLE_QUERIES,
        "stats": None,
    }
    status = 200
    try:
        params = parse_search_args(request.args, require_query=False)
        context.update(q=params.query, selected_topics=set(params.topics), selected_kinds=set(params.kinds))
        if params.query:
            result = kb.search(params.query, k=params.k, topics=params.topics, kinds=params.kinds)
            k_used = params.k or int(current_app.config["TOP_K"])
            max_k = int(current_app.config["MAX_K"])
            more = len(result["results"]) >= k_used and k_used < max_k and result.get("total", max_k) > k_used
            context.update(result=result, terms=query_terms(params.query), more_k=max_k if more else None)
    except (BadQuery, UnknownTopic) as exc:
        context["error"] = str(exc)
        status = exc.status
    if context["result"] is None and context["error"] is None:
        context["stats"] = kb.stats()
    return render_template("search.html", **context), status


@bp.get("/pairs/<pair_id>")
def pair(pair_id: str) -> Any:
    """Answer page: full answer, citation, topics, samples, scripts and related pairs."""
    kb = get_kb()
    item = kb.get_pair(pair_id)
    source = item.get("source") or {}
    return render_template(
        "pair.html",
        pair=item,
        source=source,
        # Sanitize first, then link glossary terms: link_terms adds our own trusted markup (see webapp.onboarding).
        answer_html=link_glossary(render_markdown(item.get("answer", ""), base_url=_absolute(source.get("url")))),
        topic_names=_topic_names(kb.topics()),
    )


@bp.get("/topics")
def topics() -> Any:
    """Every topic with its number of pairs."""
    items = sorted(get_kb().topics(), key=lambda t: (t.get("name") or t["id"]).lower())
    return render_template("topics.html", topics=items)


@bp.get("/topics/<topic_id>")
def topic(topic_id: str) -> Any:
    """One topic: its description and its pairs, ``PER_PAGE`` at a time (``?page=2``)."""
    raw_page = request.args.get("page", "1")
    if not raw_page.isdigit() or int(raw_page) < 1:
        abort(400, f"page={raw_page[:20]!r} is not a page number: use 1, 2, 3, ...")
    page = int(raw_page)
    kb = get_kb()
    # One extra row tells whether a next page exists without a count query.
    rows = kb.topic_pairs(topic_id, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    all_topics = kb.topics()
    meta = next((t for t in all_topics if t["id"] == topic_id), None)
    if meta is None:
        raise UnknownTopic(f"Unknown topic {topic_id!r}: pick one from the topics page.")
    count = int(meta.get("count") or 0)
    pages = max(1, -(-count // PER_PAGE))
    return render_template(
        "topic.html",
        topic=meta,
        pairs=rows[:PER_PAGE],
        page=page,
        pages=pages,
        has_next=len(rows) > PER_PAGE,
        topic_names=_topic_names(all_topics),
    )


@bp.get("/about")
def about() -> Any:
    """What Driver KB is, where its answers come from, and the current counts."""
    kb = get_kb()
    return render_template("about.html", stats=kb.stats(), kinds=kb.source_kinds())
