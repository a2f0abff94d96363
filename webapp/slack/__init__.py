"""The Slack endpoint: ``POST /slack/events`` (events, slash commands, actions) and Socket Mode, one bot for both."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request

from kb.errors import KBError

if TYPE_CHECKING:
    from webapp.slack.bot import SlackBot

bp = Blueprint("slack", __name__)
EXTENSION = "slack_bot"


class SlackNotConfigured(KBError):
    """A Slack token or secret is missing: the message names the variable to set."""

    status = 503


def init_app(app: Flask) -> None:
    """Serve the Slack bot at ``POST /slack/events`` on ``app`` (the bot itself is built on the first request)."""
    app.extensions.setdefault(EXTENSION + "_lock", threading.Lock())
    app.register_blueprint(bp)


def get_bot(app: Flask) -> SlackBot:
    """The app's bot, built once on first use from the app config (KB opened lazily by ``webapp.get_kb``).

    Raises:
        SlackNotConfigured: SLACK_SIGNING_SECRET or SLACK_BOT_TOKEN is unset.
    """
    bot = app.extensions.get(EXTENSION)
    if bot is not None:
        return bot
    from webapp.slack.bot import SlackBot
    from webapp.slack.bot import SlackSettings

    settings = SlackSettings.from_mapping(app.config)
    problem = settings.http_problem()
    if problem:
        raise SlackNotConfigured(problem)
    with app.extensions.setdefault(EXTENSION + "_lock", threading.Lock()):
        bot = app.extensions.get(EXTENSION)
        if bot is None:
            bot = SlackBot(settings, lambda: _kb_of(app))
            app.extensions[EXTENSION] = bot
    return bot


def _kb_of(app: Flask) -> Any:
    # Listeners run on the bot's worker threads, outside any request: give get_kb() an app context.
    from webapp import get_kb

    with app.app_context():
        return get_kb()


@bp.post("/slack/events")
def events() -> Response | tuple[Response, int]:
    """Every request Slack sends (verified by signature, answered within 3 s; the work continues after)."""
    try:
        bot = get_bot(current_app._get_current_object())  # type: ignore[attr-defined]
    except SlackNotConfigured as exc:
        return jsonify(ok=False, error=str(exc), status=503), 503
    return bot.handler.handle(request)


def run_socket_mode(settings: dict[str, Any], kb: Any = None) -> None:
    """Run the same bot over Socket Mode (no public URL needed); blocks until interrupted.

    Args:
        settings: ``kb.settings.load()`` (SLACK_APP_TOKEN, SLACK_BOT_TOKEN, PUBLIC_URL...).
        kb: the KB service (default: ``kb.app.KB.open(settings)``).

    Raises:
        SlackNotConfigured: SLACK_APP_TOKEN or SLACK_BOT_TOKEN is unset.
    """
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from webapp.slack.bot import SlackBot
    from webapp.slack.bot import SlackSettings

    config = SlackSettings.from_mapping(settings)
    if not config.app_token:
        raise SlackNotConfigured("SLACK_APP_TOKEN is not set: create an app-level token with the connections:write "
                                 "scope (Slack app > Basic Information > App-Level Tokens) and export it (xapp-...).")
    if not config.bot_token:
        raise SlackNotConfigured("SLACK_BOT_TOKEN is not set: install the app to the workspace and export its Bot User "
                                 "OAuth Token (xoxb-...). See docs/slack.md.")
    if kb is None:
        from kb.app import KB

        kb = KB.open(settings)
    service = kb
    bot = SlackBot(config, lambda: service, verify_token=True)
    SocketModeHandler(bot.app, config.app_token).start()
