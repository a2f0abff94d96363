"""HTML blueprint for what surrounds the answers: source pages, open questions, samples, scripts, web feedback."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for

from kb.errors import NotFound
from kb.errors import UnknownTopic
from webapp import get_kb
from webapp.api import clean_query
from webapp.csrf import check_csrf
from webapp.csrf import csrf_token
from webapp.csrf import ensure_secret_key
from webapp.render import render_markdown

bp = Blueprint("catalog", __name__)

# What one numbered unit of a conversation is called, by source kind (threads count comments).
POST_UNITS = {"thread": "comment", "discourse": "post", "stackexchange": "post", "mbox": "message",
              "slack-export": "message"}
# Downloaded scripts get the extension their tool runs; curated files keep their own (.wds) when it fits.
TOOL_EXTENSIONS = {"windbg": (".txt", ".wds"), "cmd": (".cmd", ".bat"), "powershell": (".ps1",)}
COMMENT_PREFIX = {"windbg": "$$ ", "cmd": ":: ", "powershell": "# "}
VERDICTS = ("helpful", "not-helpful")
MAX_REASON_CHARS = 2000
VOTES_KEPT = 50  # pair ids remembered per session, so one browser votes once per answer
DDIS_SHOWN_OPEN = 15  # longer DDI lists are folded in a <details>
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@bp.record_once
def _setup(state: Any) -> None:
    ensure_secret_key(state.app)
    state.app.add_template_global(csrf_token, "csrf_token")


@bp.app_template_test("thread_pair")
def is_thread_pair(item: dict[str, Any]) -> bool:
    """True for a pair cut from a conversation (question and answer comments), which has a place in its thread."""
    locator = (item.get("source") or {}).get("locator") or {}
    return item.get("kind") == "thread" or (isinstance(locator, dict) and "question" in locator and "answer" in locator)


@bp.app_template_filter("post_refs")
def post_refs(numbers: Any, kind: str | None = None) -> str:
    """``[5, 7]`` -> ``comments 5, 7``; ``[6]`` -> ``comment 6`` (``post``/``message`` for forums, mail, chat)."""
    items = list(numbers) if isinstance(numbers, list | tuple) else ([numbers] if numbers not in (None, "") else [])
    unit = POST_UNITS.get(kind or "", "comment")
    if not items:
        return ""
    return f"{unit}{'s' if len(items) > 1 else ''} {', '.join(str(n) for n in items)}"


@bp.app_template_filter("in_folder")
def in_folder(file: str, folder: str) -> str:
    """A repository path shown relative to the sample's folder (``general/toaster/x/y.c`` -> ``x/y.c``)."""
    prefix = folder.rstrip("/") + "/"
    return file[len(prefix):] if folder and file.startswith(prefix) else file


def _kb_method(name: str) -> Any:
    method = getattr(get_kb(), name, None)
    if method is None:
        # A KB service without the catalog (an older or partial implementation): a clear 404, not a crash.
        raise NotFound(f"This page cannot be shown: this KB has no {name}(). Search instead.")
    return method


def _absolute(url: str | None) -> str | None:
    return url if url and url.startswith(("http://", "https://")) else None


# -- source pages ------------------------------------------------------------------------------------------------------
def thread_groups(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive pairs that answer the same question comments, grouped: the question is shown once.

    Returns:
        ``[{"question": str, "refs": [...], "asked_by": str | None, "pairs": [pair, ...]}]`` in reading order.
    """
    groups: list[dict[str, Any]] = []
    for pair in pairs:
        refs = (pair.get("source") or {}).get("locator", {}).get("question")
        if groups and groups[-1]["refs"] == refs and groups[-1]["question"] == pair.get("question"):
            groups[-1]["pairs"].append(pair)
            continue
        groups.append({"question": pair.get("question", ""), "refs": refs, "asked_by": pair.get("asked_by"),
                       "pairs": [pair]})
    return groups


def _first_ref(item: dict[str, Any]) -> tuple[int, str]:
    refs = (item.get("locator") or {}).get("question") or [""]
    first = refs[0] if isinstance(refs, list) and refs else refs
    return (int(first), "") if str(first).isdigit() else (1 << 62, str(first))


@bp.get("/sources/<path:path>")
def source(path: str) -> Any:
    """One source with all its answers in reading order; for threads, who asked and who answered which comments."""
    kb = get_kb()
    method = getattr(kb, "source_page", None) or _kb_method("get_source")
    page = method(path)
    base_url = _absolute(page.get("url"))
    for pair in page["pairs"]:
        pair["answer_html"] = render_markdown(pair.get("answer", ""), base_url=base_url)
    is_thread = any(is_thread_pair(p) for p in page["pairs"]) or bool((page.get("meta") or {}).get("thread"))
    return render_template(
        "catalog/source.html",
        page=page,
        is_thread=is_thread,
        groups=thread_groups(page["pairs"]) if is_thread else [],
        open_questions=sorted(page.get("open_questions") or [], key=_first_ref),
    )


@bp.get("/open-questions")
def open_questions() -> Any:
    """Questions nobody answered: in threads, and those the Slack bot could not answer confidently; newest first."""
    items = _kb_method("open_questions")(limit=1000)
    newest_first = sorted(items, key=lambda q: q.get("created_at") or "", reverse=True)
    from_sources = [q for q in newest_first if (q.get("origin") or "source") == "source"]
    from_people = [q for q in newest_first if (q.get("origin") or "source") != "source"]
    # Within one ingest every thread question has the same date: keep the thread's own order there.
    from_sources.sort(key=lambda q: (q.get("source") or "", _first_ref(q)))
    from_sources.sort(key=lambda q: q.get("created_at") or "", reverse=True)
    return render_template("catalog/open_questions.html", from_sources=from_sources, from_people=from_people)


# -- samples -----------------------------------------------------------------------------------------------------------
@bp.get("/samples")
def samples() -> Any:
    """The sample catalog, filtered by driver type (``?type=KMDF``) and topic (``?topic=usb``)."""
    kb = get_kb()
    list_samples = _kb_method("samples")
    driver_type = request.args.get("type", "").strip()[:40]
    topic = request.args.get("topic", "").strip()[:80]
    topics = kb.topics()
    if topic and topic not in {t["id"] for t in topics}:
        raise UnknownTopic(f"Unknown topic {topic!r}: pick one from the list on the samples page.")
    everything = list_samples()
    type_counts = Counter(t for s in everything for t in s.get("driver_types") or [])
    shown = list_samples(driver_type=driver_type or None, topic=topic or None) if driver_type or topic else everything
    return render_template(
        "catalog/samples.html",
        samples=shown,
        total=len(everything),
        driver_types=sorted(type_counts.items(), key=lambda kv: (-kv[1], kv[0])),
        topics=topics,
        selected_type=driver_type,
        selected_topic=topic,
    )


@bp.get("/samples/<path:path>")
def sample(path: str) -> Any:
    """One sample: what it shows, how to build and run it, the DDIs it calls (file:line) and the answers linking it."""
    item = _kb_method("get_sample")(path)
    for pair in item.get("readme") or []:
        pair["answer_html"] = render_markdown(pair.get("answer", ""), base_url=_absolute(pair["source"].get("url")))
    return render_template("catalog/sample.html", sample=item, fold_ddis=len(item.get("ddis") or []) > DDIS_SHOWN_OPEN)


# -- scripts -----------------------------------------------------------------------------------------------------------
@bp.get("/scripts")
def scripts() -> Any:
    """Curated scripts (``?all=1``: also those extracted from docs pages)."""
    show_all = request.args.get("all") == "1"
    items = _kb_method("scripts")(curated_only=not show_all)
    by_tool = Counter(s.get("tool") for s in items)
    return render_template("catalog/scripts.html", scripts=items, show_all=show_all, by_tool=by_tool)


def script_source(script: dict[str, Any]) -> dict[str, Any]:
    """Where a script comes from, as ``{"path", "kind", "title", "url", "locator"}`` whatever the KB's row shape."""
    src = script.get("source")
    if isinstance(src, dict):
        return dict(src)
    return {"path": src or "", "kind": script.get("source_kind"), "title": script.get("source_title"),
            "url": script.get("source_url"), "locator": script.get("locator") or {}}


def download_name(script: dict[str, Any]) -> str:
    """File name for a downloaded script: the id plus the tool's extension (a curated file's own one when it fits)."""
    tool = script.get("tool") or ""
    allowed = TOOL_EXTENSIONS.get(tool, (".txt",))
    own = str((script.get("extra") or {}).get("file") or "")
    stem, dot, ext = own.rpartition(".")
    extension = f".{ext.lower()}" if dot and stem == script["id"] and f".{ext.lower()}" in allowed else allowed[0]
    return (_UNSAFE_FILENAME.sub("-", str(script["id"])).strip(".-") or "script") + extension


@bp.get("/scripts/<script_id>")
def script(script_id: str) -> Any:
    """One script: commands (copy, download), sample output, when and how to run it, its source, linking answers."""
    item = _kb_method("get_script")(script_id)
    return render_template("catalog/script.html", script=item, source=script_source(item),
                           topic_names={t["id"]: t.get("name") or t["id"] for t in get_kb().topics()},
                           filename=download_name(item))


@bp.get("/scripts/<script_id>/download")
def script_download(script_id: str) -> Response:
    """The script as a file to save and run (CRLF line ends: the tools run on Windows)."""
    item = _kb_method("get_script")(script_id)
    prefix = COMMENT_PREFIX.get(item.get("tool") or "", "# ")
    # PUBLIC_URL, not the request's Host header: the file must not carry a link an attacker chose.
    page = str(current_app.config["PUBLIC_URL"]).rstrip("/") + url_for("catalog.script", script_id=script_id)
    header = [f"{prefix}{item.get('title') or item['id']}", f"{prefix}From Driver KB: {page}"]
    body = "\r\n".join([*header, *(item.get("commands") or "").strip("\n").splitlines()]) + "\r\n"
    response = Response(body, mimetype="text/plain")
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name(item)}"'
    return response


# -- feedback on answers -----------------------------------------------------------------------------------------------
@bp.post("/pairs/<pair_id>/feedback")
def feedback(pair_id: str) -> Any:
    """Record "helpful" / "not helpful" (with an optional reason) from the answer page, then go back to it."""
    check_csrf()
    verdict = request.form.get("verdict", "")
    if verdict not in VERDICTS:
        abort(400, "Pick Helpful or Not helpful to send feedback on this answer.")
    max_chars = int(current_app.config["MAX_QUERY_CHARS"])
    query = clean_query(request.form.get("q", ""))[:max_chars]
    reason = request.form.get("reason", "").strip()[:MAX_REASON_CHARS] if verdict == "not-helpful" else ""
    voted = [v for v in session.get("voted", []) if isinstance(v, str)]
    if pair_id in voted:
        flash("You already sent feedback on this answer: thank you.", "feedback")
    else:
        get_kb().record_feedback(query, pair_id, verdict, reason, origin="web")
        session["voted"] = (voted + [pair_id])[-VOTES_KEPT:]
        flash("Thank you: your feedback was recorded. It helps rank answers for this question.", "feedback")
    return redirect(url_for("ui.pair", pair_id=pair_id, q=query or None) + "#feedback", code=303)
