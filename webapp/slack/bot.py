"""The Slack bot: a slack_bolt App whose listeners answer questions from the KB and record feedback."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import fields
from typing import Any

from slack_bolt import Ack
from slack_bolt import App
from slack_bolt import BoltContext
from slack_bolt import BoltResponse
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from kb.errors import BadQuery
from kb.errors import KBError
from kb.errors import NotFound
from webapp.slack import blocks
from webapp.slack.state import RateLimiter
from webapp.slack.state import SeenKeys
from webapp.slack.state import ThreadMemory
from webapp.slack.state import TrackingExecutor

log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://slack.com/api/"
# chat.postEphemeral cannot reach channels the bot is not in; the slash command's response_url always can.
UNREACHABLE = frozenset({"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived"})
ANSWERED_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})  # user messages; the rest are edits, joins...


@dataclass(frozen=True)
class SlackSettings:
    """The bot's configuration (names in brackets are the settings / environment variables)."""

    signing_secret: str = ""  # SLACK_SIGNING_SECRET
    bot_token: str = ""  # SLACK_BOT_TOKEN
    app_token: str = ""  # SLACK_APP_TOKEN (Socket Mode only)
    api_url: str = DEFAULT_API_URL  # SLACK_API_URL
    public_url: str = "http://127.0.0.1:5000"  # PUBLIC_URL
    rate_limit: int = 30  # SLACK_RATE_LIMIT: questions per minute per workspace
    min_score: float = 0.025  # SLACK_MIN_SCORE
    min_overlap: float = 0.6  # SLACK_MIN_OVERLAP
    max_query_chars: int = 1000  # MAX_QUERY_CHARS
    command: str = "/driverkb"  # SLACK_COMMAND

    KEYS = {"signing_secret": "SLACK_SIGNING_SECRET", "bot_token": "SLACK_BOT_TOKEN", "app_token": "SLACK_APP_TOKEN",
            "api_url": "SLACK_API_URL", "public_url": "PUBLIC_URL", "rate_limit": "SLACK_RATE_LIMIT",
            "min_score": "SLACK_MIN_SCORE", "min_overlap": "SLACK_MIN_OVERLAP", "max_query_chars": "MAX_QUERY_CHARS",
            "command": "SLACK_COMMAND"}

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> SlackSettings:
        """Read the settings from a config mapping (Flask config or ``kb.settings.load()``), falling back to the
        unprefixed environment variables Slack's own tools use (``SLACK_BOT_TOKEN``...), then to the defaults.

        Raises:
            ValueError: a numeric setting does not parse.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = cls.KEYS[f.name]
            raw = config.get(name)
            if raw is None or raw == "":
                raw = env.get(name)
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls, f.name))
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc
        return cls(**values)

    def http_problem(self) -> str | None:
        """Why ``/slack/events`` cannot serve requests (a message naming the fix), or None when it can."""
        if not self.signing_secret:
            return ("The Slack bot is not configured: set SLACK_SIGNING_SECRET (Slack app > Basic Information > "
                    "Signing Secret) and SLACK_BOT_TOKEN, then restart. See docs/slack.md.")
        if not self.bot_token:
            return ("The Slack bot is not configured: set SLACK_BOT_TOKEN (Slack app > OAuth & Permissions > Bot User "
                    "OAuth Token, xoxb-...), then restart. See docs/slack.md.")
        return None


@dataclass(frozen=True)
class Reply:
    """Where an answer goes: a channel (and thread); with ``user`` set, visible to that user only."""

    channel: str
    user: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None


def _ack(ack: Ack) -> None:
    ack()


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Channel and thread of the message an interactive action came from."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    return channel, thread_ts


def _team(body: dict[str, Any], context: BoltContext) -> str:
    return context.team_id or body.get("team_id") or (body.get("team") or {}).get("id") or "unknown"


class SlackBot:
    """The Bolt app with its listeners and state; one per process.

    Args:
        settings: see SlackSettings.
        kb_provider: returns the KB service (called in listener threads, so it must be thread-safe).
        client: Web API client (default: ``WebClient(token, base_url=settings.api_url)``).
        verify_token: call auth.test when the app is built (Socket Mode); over HTTP it runs on the first request.
    """

    def __init__(self, settings: SlackSettings, kb_provider: Callable[[], Any], *, client: WebClient | None = None,
                 verify_token: bool = False) -> None:
        self.settings = settings
        self.kb_provider = kb_provider
        self.seen = SeenKeys()
        self.limiter = RateLimiter(settings.rate_limit)
        self.threads = ThreadMemory()
        self.executor = TrackingExecutor()
        self.app = App(
            name="driver-kb",
            logger=logging.getLogger("webapp.slack.bolt"),
            signing_secret=settings.signing_secret or None,
            # Socket Mode needs no signing secret; over HTTP the route refuses to run without one.
            request_verification_enabled=bool(settings.signing_secret),
            client=client or WebClient(token=settings.bot_token or None, base_url=settings.api_url),
            token_verification_enabled=verify_token,
            process_before_response=False,  # ack first (< 3 s), search in the lazy listener afterwards
            listener_executor=self.executor,
        )
        self.handler = SlackRequestHandler(self.app)  # the Flask adapter: handler.handle(flask.request)
        self._register()

    def _register(self) -> None:
        app = self.app
        app.middleware(self.drop_duplicates)
        app.command(self.settings.command)(ack=self.ack_command, lazy=[self.answer_command])
        app.event("app_mention")(ack=_ack, lazy=[self.answer_mention])
        app.event("message")(ack=_ack, lazy=[self.answer_message])
        app.action(blocks.ACTION_SHARE)(ack=_ack, lazy=[self.share])
        app.action(blocks.ACTION_HELPFUL)(ack=_ack, lazy=[self.helpful])
        app.action(blocks.ACTION_NOT_HELPFUL)(ack=_ack, lazy=[self.open_reason])
        app.view_submission(blocks.REASON_CALLBACK)(ack=_ack, lazy=[self.reason_submitted])
        app.view_closed(blocks.REASON_CALLBACK)(ack=_ack, lazy=[self.reason_closed])

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every listener started so far has finished (tests; graceful shutdown)."""
        return self.executor.wait_idle(timeout)

    def close(self) -> None:
        """Finish the work in progress and stop the worker threads."""
        self.executor.shutdown(wait=True)

    # -- middleware --------------------------------------------------------------------------------------------
    def drop_duplicates(self, body: dict[str, Any], request: BoltRequest, next: Callable[[], None]) -> Any:
        """Ack, and do nothing else for, a delivery already seen (Slack retries re-send the same event_id)."""
        key = body.get("event_id") or body.get("trigger_id")
        if key and self.seen.check_and_add(str(key)):
            retry = (request.headers.get("x-slack-retry-num") or ["-"])[0]
            log.info("Slack delivery %s seen before (retry %s): acknowledged, not answered again", key, retry)
            return BoltResponse(status=200, body="")
        return next()

    # -- asking ------------------------------------------------------------------------------------------------
    def ack_command(self, ack: Ack, command: dict[str, Any]) -> None:
        """Ack the slash command at once; with no question, the ack itself carries the usage help."""
        if (command.get("text") or "").strip():
            ack()
        else:
            ack(text=blocks.USAGE, response_type="ephemeral")

    def answer_command(self, command: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """``/driverkb question``: an answer only the asker sees, with a "Share in channel" button."""
        text = blocks.strip_mentions(command.get("text") or "", None)
        if not text:
            return
        reply = Reply(command["channel_id"], user=command["user_id"], response_url=command.get("response_url"))
        team = _team(command, context)
        with self._guard(client, reply, "slash command"):
            self._ask(client, reply, text, user=command["user_id"], team=team, ephemeral=True,
                      where={"channel": command["channel_id"], "ts": None, "team": team})

    def answer_mention(self, event: dict[str, Any], body: dict[str, Any], client: WebClient,
                       context: BoltContext) -> None:
        """``@Driver KB question`` in a channel: the answer goes in the thread."""
        channel = event.get("channel") or ""
        if self._from_bot(event, context) or channel.startswith("D"):  # DMs: the message listener answers
            return
        thread_ts = event.get("thread_ts") or event["ts"]
        reply = Reply(channel, thread_ts=thread_ts)
        with self._guard(client, reply, "app_mention"):
            text = blocks.strip_mentions(event.get("text") or "", context.bot_user_id)
            if not text:
                self._send(client, reply, blocks.notice(blocks.USAGE))
                return
            previous = self.threads.get(channel, thread_ts) if event.get("thread_ts") else None
            self._ask(client, reply, self._with_context(previous, text), user=event.get("user"),
                      team=_team(body, context), remember=(channel, thread_ts),
                      where={"channel": channel, "ts": event["ts"], "team": _team(body, context)})

    def answer_message(self, event: dict[str, Any], body: dict[str, Any], client: WebClient,
                       context: BoltContext) -> None:
        """Direct messages, and follow-ups in threads the bot answered (no mention needed there)."""
        if self._from_bot(event, context) or event.get("subtype") not in ANSWERED_SUBTYPES:
            return
        channel, ts, thread_ts = event.get("channel") or "", event.get("ts") or "", event.get("thread_ts")
        raw = event.get("text") or ""
        if event.get("channel_type") == "im":
            previous = self.threads.get(channel, thread_ts) if thread_ts else None
        else:
            mentioned = bool(context.bot_user_id) and f"<@{context.bot_user_id}" in raw
            if not thread_ts or thread_ts == ts or mentioned:  # mentions: answer_mention has it
                return
            previous = self.threads.get(channel, thread_ts)
            if previous is None:  # not a thread the bot answered in: not for us
                return
        text = blocks.strip_mentions(raw, context.bot_user_id)
        if not text:
            return
        reply = Reply(channel, thread_ts=thread_ts)
        with self._guard(client, reply, "message"):
            self._ask(client, reply, self._with_context(previous, text), user=event.get("user"),
                      team=_team(body, context), remember=(channel, thread_ts or ts),
                      where={"channel": channel, "ts": ts, "team": _team(body, context)})

    def _with_context(self, previous: str | None, text: str) -> str:
        """The search text for a follow-up: the earlier question, then the new text, within the query limit."""
        if not previous:
            return text[: self.settings.max_query_chars]
        room = self.settings.max_query_chars - len(text) - 1
        return (previous[:room] + " " + text).strip() if room > 0 else text[: self.settings.max_query_chars]

    def _ask(self, client: WebClient, reply: Reply, search_text: str, *, user: str | None, team: str,
             where: dict[str, Any], ephemeral: bool = False, remember: tuple[str, str] | None = None) -> None:
        if not self.limiter.allow(team):
            log.warning("Slack workspace %s is over %s questions/minute: not searching", team, self.limiter.per_minute)
            self._send(client, reply, blocks.notice(blocks.SLOW_DOWN))
            return
        kb = self.kb_provider()
        try:
            found = kb.search(search_text, k=1 + blocks.MORE_RESULTS)
        except BadQuery as exc:
            self._send(client, reply, blocks.notice(str(exc)))
            return
        results = found.get("results") or []
        s = self.settings
        if blocks.is_confident(search_text, results, s.min_score, s.min_overlap):
            message = blocks.answer_message(search_text, results, s.public_url, ephemeral=ephemeral)
            self._send(client, reply, message)
        else:
            self._send(client, reply, blocks.weak_message(search_text, results, s.public_url))
            try:  # the asker has their answer; failing to keep the question is for the log only
                kb.record_open_question(search_text, origin="slack", asked_by=user, context=where)
            except Exception:
                log.exception("could not record the open question %r", search_text[:200])
        if remember:  # the whole conversation so far, so a third turn still knows what the first one was about
            self.threads.remember(remember[0], remember[1], search_text)

    # -- sharing and feedback ----------------------------------------------------------------------------------
    def share(self, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        """"Share in channel": post the same answer to the channel, attributed to the asker."""
        user = body["user"]["id"]
        channel, thread_ts = _where(body)
        if not channel:
            return
        me = Reply(channel, user=user, thread_ts=thread_ts, response_url=body.get("response_url"))
        with self._guard(client, me, "share"):
            query = blocks.parse_value(action.get("value")).get("q") or ""
            results = self.kb_provider().search(query, k=1 + blocks.MORE_RESULTS).get("results") or []
            if not results:
                self._send(client, me, blocks.notice("That answer is no longer in the KB: ask again."))
                return
            message = blocks.answer_message(query, results, self.settings.public_url, shared_by=user)
            try:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, unfurl_links=False, **message)
            except SlackApiError as exc:
                if not (body.get("response_url") and exc.response.get("error") in UNREACHABLE):
                    raise
                self._webhook(body["response_url"], {"response_type": "in_channel", **message})
            if body.get("response_url"):  # the private copy has served its purpose
                self._webhook(body["response_url"], {"delete_original": True})

    def helpful(self, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        """"Helpful": record the verdict and thank the user."""
        self._feedback(client, body, blocks.parse_value(action.get("value")), "helpful", "",
                       "Thanks! Noted that this answer helped.")

    def open_reason(self, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        """"Not helpful": open the modal that asks why (recorded on submit, or on close without a reason)."""
        channel, thread_ts = _where(body)
        reply = Reply(channel, user=body["user"]["id"], thread_ts=thread_ts) if channel else None
        with self._guard(client, reply, "not-helpful modal"):
            data = blocks.parse_value(action.get("value"))
            client.views_open(trigger_id=body["trigger_id"],
                              view=blocks.reason_modal(data.get("p", ""), data.get("q", ""), channel, thread_ts))

    def reason_submitted(self, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """The modal was sent: record "not helpful" with the reason."""
        self._feedback(client, body, blocks.parse_value(view.get("private_metadata")), "not-helpful",
                       blocks.submitted_reason(view), "Thanks! Your feedback goes to the maintainers.")

    def reason_closed(self, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """The modal was closed without sending: still record "not helpful", without a reason."""
        self._feedback(client, body, blocks.parse_value(view.get("private_metadata")), "not-helpful", "",
                       "Noted that this answer did not help.")

    def _feedback(self, client: WebClient, body: dict[str, Any], data: dict[str, Any], verdict: str, reason: str,
                  thanks: str) -> None:
        user = body["user"]["id"]
        channel, thread_ts = _where(body)
        channel, thread_ts = channel or data.get("c"), thread_ts or data.get("t")
        reply = Reply(channel, user=user, thread_ts=thread_ts) if channel else None
        with self._guard(client, reply, f"{verdict} feedback"):
            if not data.get("p"):
                log.warning("Slack feedback without a pair id ignored: %r", data)
                return
            try:
                self.kb_provider().record_feedback(data.get("q", ""), data["p"], verdict, reason, origin="slack",
                                                   user=user)
            except NotFound:
                thanks = "That answer is no longer in the KB (it was updated since): ask again to get the current one."
            if reply:
                self._send(client, reply, blocks.notice(thanks))

    # -- plumbing ----------------------------------------------------------------------------------------------
    @staticmethod
    def _from_bot(event: dict[str, Any], context: BoltContext) -> bool:
        """Messages from bots (ours or others) are never answered: no loops."""
        return bool(event.get("bot_id") or event.get("subtype") == "bot_message" or not event.get("user")
                    or event.get("user") == context.bot_user_id)

    @contextmanager
    def _guard(self, client: WebClient, reply: Reply | None, what: str) -> Iterator[None]:
        """Log any failure with its traceback and tell the user, briefly, that it failed."""
        try:
            yield
        except Exception as exc:
            level = logging.WARNING if isinstance(exc, KBError) else logging.ERROR
            log.log(level, "Slack %s failed", what, exc_info=True)
            if reply is None:
                return
            try:
                self._send(client, reply, blocks.notice(blocks.APOLOGY))
            except Exception:
                log.exception("could not post the apology for a failed Slack %s", what)

    def _send(self, client: WebClient, reply: Reply, message: dict[str, Any]) -> None:
        if reply.user is None:
            client.chat_postMessage(channel=reply.channel, thread_ts=reply.thread_ts, unfurl_links=False, **message)
            return
        try:
            client.chat_postEphemeral(channel=reply.channel, user=reply.user, thread_ts=reply.thread_ts, **message)
        except SlackApiError as exc:
            if not (reply.response_url and exc.response.get("error") in UNREACHABLE):
                raise
            self._webhook(reply.response_url, {"response_type": "ephemeral", **message})

    @staticmethod
    def _webhook(url: str, payload: dict[str, Any]) -> None:
        response = WebhookClient(url).send_dict(payload)
        if response.status_code != 200:
            raise RuntimeError(f"Slack response_url answered {response.status_code}: {response.body[:200]}")
