"""Block Kit messages for the Slack bot: pure functions over KB search results (no Slack calls, no Flask)."""

from __future__ import annotations

import json
import re
from typing import Any

from kb.search import WORD_RE
from kb.search import query_terms
from webapp.render import describe_reason
from webapp.slack.mrkdwn import clamp
from webapp.slack.mrkdwn import escape
from webapp.slack.mrkdwn import link
from webapp.slack.mrkdwn import shorten
from webapp.slack.mrkdwn import to_mrkdwn
from webapp.slack.mrkdwn import to_plain

# Slack's limits (https://api.slack.com/reference/block-kit/blocks): we stay under each one.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_VALUE = 2000
MAX_PRIVATE_METADATA = 3000
MAX_FALLBACK_TEXT = 3000
ANSWER_CHARS = 1200  # the answer shown in the message; the rest is one click away ("Full answer")
CODE_CHARS = 800  # longer code blocks are cut to an excerpt; the full answer page has them whole
MORE_RESULTS = 3
NAMED_API_SCORE = 1.0  # kb.search puts the pairs of an API the query spells out above this
LINKED_ITEMS = 3

ACTION_HELPFUL = "kb_helpful"
ACTION_NOT_HELPFUL = "kb_not_helpful"
ACTION_SHARE = "kb_share"
REASON_CALLBACK = "kb_feedback_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason"

USAGE = ("Ask Driver KB a question about Windows driver development, for example "
         "`/driverkb what IRQL can I call KeSetEvent at`. Answers come from the docs and threads in the KB, always "
         "with a link to the source. You can also mention the bot in a channel, or send it a direct message.")
SLOW_DOWN = "This workspace is asking questions faster than Driver KB answers them: wait a minute and ask again."
APOLOGY = "Sorry, something went wrong while answering; it has been logged. Try again in a minute."
NO_CONFIDENT = "No confident answer — closest matches:"


def pair_url(public_url: str, pair_id: str) -> str:
    """Link to a pair's page in the web UI."""
    return f"{public_url.rstrip('/')}/pairs/{pair_id}"


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def overlap(query: str, result: dict[str, Any]) -> float:
    """Share of the query's content words (stopwords dropped, crude stems) found in a result's question, heading,
    answer or source title: 0.0 to 1.0."""
    # Words of one or two characters ("4", "io") match almost any long answer by accident.
    terms = {_stem(t) for t in query_terms(query) if len(t) > 2}
    if not terms:
        return 0.0
    text = " ".join([result.get("question", ""), result.get("heading") or "", result.get("answer", ""),
                     (result.get("source") or {}).get("title") or ""])
    words = {_stem(w.lower()) for w in WORD_RE.findall(text)}
    return len(terms & words) / len(terms)


def is_confident(query: str, results: list[dict[str, Any]], min_score: float, min_overlap: float) -> bool:
    """Whether the best result may be presented as the answer.

    The KB's scores are RRF sums: a pair that one retrieval leg ranks first scores 1/61 = 0.016, two legs agreeing
    0.033, and kb.search lifts the pairs of an API the query names above 1.0. Calibrated on real questions against
    a real KB (2,900 kernel-doc pairs, bundled MiniLM model): confident means either the query names the best pair's
    API (score >= 1), or the score clears ``min_score`` *and* the best pair contains at least ``min_overlap`` of the
    query's content words. Off-topic questions ("what is the meaning of life", "USB 4 tunneling in macOS") still get
    dense-leg neighbours with scores around 0.03, but share at most half of their words with them.

    Returns:
        True when confident.
    """
    if not results:
        return False
    best = results[0]
    score = float(best.get("score") or 0.0)
    if score >= NAMED_API_SCORE:
        return True
    return score >= min_score and overlap(query, best) >= min_overlap


def _plain(text: str, limit: int) -> str:
    # One line, and no backticks: a stray ``` in a title or query would open a code block in the message.
    text = " ".join(text.replace("`", "'").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clamp(text, MAX_SECTION_TEXT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clamp(text, MAX_SECTION_TEXT)}]}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": label, "emoji": True},
              "value": value}
    if style:
        button["style"] = style
    return button


def _fit_json(payload: dict[str, Any], text_key: str, limit: int) -> str:
    """JSON of ``payload`` within ``limit`` characters, shortening ``payload[text_key]`` as needed."""
    value = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    while len(value) > limit and payload[text_key]:
        payload[text_key] = payload[text_key][: max(0, len(payload[text_key]) - (len(value) - limit) - 8)]
        value = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return value


def feedback_value(pair_id: str, query: str) -> str:
    """Button value naming the pair and the query (JSON, within Slack's 2,000 characters)."""
    return _fit_json({"p": pair_id, "q": query}, "q", MAX_BUTTON_VALUE)


def share_value(query: str) -> str:
    """Value of the "Share in channel" button: the query, so the same answer can be rebuilt."""
    return _fit_json({"q": query}, "q", MAX_BUTTON_VALUE)


def parse_value(value: str | None) -> dict[str, Any]:
    """Decode a button value or private metadata; {} when it is not ours."""
    try:
        data = json.loads(value or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def citation(result: dict[str, Any], public_url: str) -> str:
    """``Source: <url|title>`` for a result: the original page, or the pair's web page when there is none."""
    source = result.get("source") or {}
    title = source.get("title") or source.get("path") or "source"
    url = source.get("url") or pair_url(public_url, result["id"])
    by = f" (answered by {escape(_plain(result['answered_by'], 80))})" if result.get("answered_by") else ""
    return f"Source: {link(url, title)}{by}"


def _hit_line(result: dict[str, Any], public_url: str) -> str:
    title = (result.get("source") or {}).get("title") or ""
    suffix = f" — _{escape(_plain(title, 80))}_" if title else ""
    return f"• {link(pair_url(public_url, result['id']), _plain(result['question'], 120))}{suffix}"


def _linked(items: list[dict[str, Any]], heading: str, public_url: str) -> str:
    lines = []
    for item in items[:LINKED_ITEMS]:
        title = _plain(item.get("title") or item.get("path") or "untitled", 100)
        url = item.get("url") or ""
        url = public_url.rstrip("/") + url if url.startswith("/") else url  # script pages live in the web UI
        name = link(url, title) if url.startswith(("http://", "https://")) else f"*{escape(title)}*"
        reason = f" — {escape(_plain(describe_reason(item), 120))}" if item.get("reason") else ""
        lines.append(f"• {name}{reason}")
    return f"*{heading}*\n" + "\n".join(lines)


def answer_message(query: str, results: list[dict[str, Any]], public_url: str, *, ephemeral: bool = False,
                   shared_by: str | None = None) -> dict[str, Any]:
    """The confident answer: best pair shortened, its citation, samples and scripts, more hits, buttons.

    Args:
        query: what the user asked (kept in the button values).
        results: search results, best first (at least one).
        public_url: base URL of the web UI.
        ephemeral: add the "Share in channel" button (the answer is only visible to the asker).
        shared_by: Slack user id when the asker shared the answer into the channel (attribution line).

    Returns:
        ``{"text": fallback, "blocks": [...]}``, ready for chat.postMessage / chat.postEphemeral.
    """
    best = results[0]
    base = (best.get("source") or {}).get("url")
    full = pair_url(public_url, best["id"])
    answer_md, was_cut = shorten(best.get("answer", ""), ANSWER_CHARS, CODE_CHARS)
    answer = to_mrkdwn(answer_md, base) or "_(no answer text)_"
    if was_cut:
        answer += f"\n{link(full, 'Read the full answer')}"
    blocks: list[dict[str, Any]] = []
    if shared_by:
        blocks.append(_context(f"<@{shared_by}> asked: _{escape(_plain(query, 300))}_"))
    header = _plain(best["question"], MAX_HEADER_TEXT) or "Answer"
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}})
    blocks.append(_section(answer))
    blocks.append(_context(f"{citation(best, public_url)}  ·  {link(full, 'Full answer')}"))
    if best.get("samples"):
        blocks.append(_section(_linked(best["samples"], "Sample drivers", public_url)))
    if best.get("scripts"):
        blocks.append(_section(_linked(best["scripts"], "Scripts", public_url)))
    more = results[1 : 1 + MORE_RESULTS]
    if more:
        blocks.append(_section("*More results*\n" + "\n".join(_hit_line(r, public_url) for r in more)))
    buttons = [_button(ACTION_HELPFUL, "👍 Helpful", feedback_value(best["id"], query)),
               _button(ACTION_NOT_HELPFUL, "👎 Not helpful", feedback_value(best["id"], query))]
    if ephemeral:
        buttons.append(_button(ACTION_SHARE, "Share in channel", share_value(query), style="primary"))
    blocks.append({"type": "actions", "block_id": "kb_answer_actions", "elements": buttons})
    source = best.get("source") or {}
    cited = f"{source.get('title') or source.get('path') or ''} {source.get('url') or full}"
    text = f"{_plain(best['question'], 200)}\n{_plain(to_plain(answer_md), 600)}\nSource: {cited}\nFull answer: {full}"
    return {"text": text[:MAX_FALLBACK_TEXT], "blocks": blocks[:MAX_BLOCKS]}


def weak_message(query: str, results: list[dict[str, Any]], public_url: str) -> dict[str, Any]:
    """No confident answer: say so plainly and give the closest matches as links only (never as an answer).

    Returns:
        ``{"text": fallback, "blocks": [...]}``.
    """
    hits = results[:MORE_RESULTS]
    note = ("Your question was saved for the maintainers. Tip: include an API name, a bug check code or the exact "
            "error message.")
    if hits:
        lines = "\n".join(_hit_line(r, public_url) for r in hits)
        blocks = [_section(f"*{NO_CONFIDENT}*\n{lines}"), _context(note)]
        text = NO_CONFIDENT + " " + " ".join(pair_url(public_url, r["id"]) for r in hits)
    else:
        blocks = [_section("*No confident answer* — nothing in the KB matches this yet."), _context(note)]
        text = "No confident answer — nothing in the KB matches this yet."
    return {"text": text, "blocks": blocks}


def notice(text: str) -> dict[str, Any]:
    """A one-line message (usage, slow down, apology, thanks) with blocks and the same fallback text."""
    return {"text": text, "blocks": [_section(escape(text))]}


def reason_modal(pair_id: str, query: str, channel: str | None, thread_ts: str | None) -> dict[str, Any]:
    """The "Why was it not helpful?" modal; its private metadata carries what the submission needs.

    Returns:
        A ``views.open`` view.
    """
    meta = _fit_json({"p": pair_id, "c": channel, "t": thread_ts, "q": query}, "q", MAX_PRIVATE_METADATA)
    return {
        "type": "modal",
        "callback_id": REASON_CALLBACK,
        "notify_on_close": True,  # closing without a reason still records "not helpful"
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": "Not helpful"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(f"Answer to: _{escape(_plain(query, 300))}_"),
            {"type": "input", "block_id": REASON_BLOCK, "optional": True,
             "label": {"type": "plain_text", "text": "What was wrong or missing? (optional)"},
             "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True,
                         "max_length": 2000}},
        ],
    }


def submitted_reason(view: dict[str, Any]) -> str:
    """The text typed in the reason modal ("" when left empty)."""
    values = ((view.get("state") or {}).get("values") or {}).get(REASON_BLOCK) or {}
    return ((values.get(REASON_INPUT) or {}).get("value") or "").strip()


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    """The question without the bot's ``<@U…>`` mention (other mentions become plain names)."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
    text = re.sub(r"<@([A-Z0-9]+)(\|[^>]*)?>", r"@\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2", text)  # Slack-formatted links: keep their text
    text = re.sub(r"<(https?://[^>]+)>", r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())
