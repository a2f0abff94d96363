"""The Slack bot end to end over HTTP, against a local mock of the Slack Web API (no Slack needed)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeKB
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from slack_mock import BOT_ID
from slack_mock import BOT_USER_ID
from slack_mock import TEAM_ID
from slack_mock import Call
from slack_mock import SlackMock
from slack_mock import command_body
from slack_mock import event_body
from slack_mock import interactive_body
from slack_mock import sign

from kb.errors import NotFound
from webapp import create_app
from webapp.slack import SlackNotConfigured
from webapp.slack import get_bot
from webapp.slack import init_app
from webapp.slack import run_socket_mode
from webapp.slack.bot import SlackSettings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PUBLIC = "https://kb.example.com"
DATA = Path(__file__).resolve().parent / "data" / "slack"
FORM = "application/x-www-form-urlencoded"


class SlackFakeKB(FakeKB):
    """FakeKB plus the two write calls the bot makes, recorded for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.feedback: list[dict[str, Any]] = []
        self.open_questions: list[dict[str, Any]] = []

    def record_feedback(self, query: str, pair_id: str, verdict: str, reason: str = "", origin: str = "web",
                        user: str | None = None) -> int:
        self._enter("record_feedback", query, pair_id, verdict, reason, origin, user)
        if pair_id not in self.pair_ids:
            raise NotFound(f"no pair with id {pair_id!r}")
        self.feedback.append({"query": query, "pair_id": pair_id, "verdict": verdict, "reason": reason,
                              "origin": origin, "user": user})
        return len(self.feedback)

    def record_open_question(self, question: str, origin: str = "slack", asked_by: str | None = None,
                             context: dict[str, Any] | None = None) -> str:
        self._enter("record_open_question", question, origin, asked_by, context)
        self.open_questions.append({"question": question, "origin": origin, "asked_by": asked_by, "context": context})
        return "q-1"

    def searches(self) -> list[str]:
        return [args[0] for name, args in self.calls if name == "search"]


class Slack:
    """Sends requests to /slack/events the way Slack does (signed), and waits for the bot to finish."""

    def __init__(self, app: Flask, mock: SlackMock) -> None:
        self.app, self.mock = app, mock
        self.http: FlaskClient = app.test_client()

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
             timestamp: int | None = None, secret: str = SECRET) -> Any:
        signed = sign(secret, body, timestamp) | (headers or {})
        return self.http.post("/slack/events", data=body.encode(), content_type=content_type, headers=signed)

    def command(self, text: str, **kwargs: Any) -> Any:
        return self.post(command_body(text, **kwargs), FORM)

    def event(self, event: dict[str, Any], event_id: str = "Ev001", headers: dict[str, str] | None = None) -> Any:
        return self.post(event_body(event, event_id), "application/json", headers)

    def interact(self, payload: dict[str, Any]) -> Any:
        return self.post(interactive_body(payload), FORM)

    def idle(self) -> None:
        assert get_bot(self.app).wait_idle(10), "the bot did not finish its work within 10 s"


def make_app(kb: Any, mock: SlackMock, **config: Any) -> Flask:
    app = create_app({"TESTING": True, "SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-test",
                      "SLACK_API_URL": mock.api_url, "PUBLIC_URL": PUBLIC} | config, kb=kb)
    if "slack.events" not in app.view_functions:  # until create_app registers the blueprint itself
        init_app(app)
    return app


@pytest.fixture(scope="module")
def mock_server() -> Iterator[SlackMock]:
    with SlackMock() as server:
        yield server


@pytest.fixture
def mock(mock_server: SlackMock) -> SlackMock:
    mock_server.reset()
    return mock_server


@pytest.fixture
def kb() -> SlackFakeKB:
    return SlackFakeKB()


def _slack(app: Flask, mock: SlackMock) -> Iterator[Slack]:
    slack = Slack(app, mock)
    yield slack
    bot = app.extensions.get("slack_bot")
    if bot is not None:
        bot.close()


@pytest.fixture
def slack(kb: SlackFakeKB, mock: SlackMock) -> Iterator[Slack]:
    yield from _slack(make_app(kb, mock), mock)


def message_text(call: Call) -> str:
    """Everything a user could read in a posted message: fallback text and all block text, as one string."""
    return call.params.get("text", "") + "\n" + json.dumps(call.params.get("blocks", []), ensure_ascii=False)


def button_value(call: Call, action_id: str) -> str:
    for block in call.params["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return element["value"]
    raise AssertionError(f"no {action_id} button in {call.params['blocks']}")


def mention(text: str, ts: str = "1700000000.000100", **extra: Any) -> dict[str, Any]:
    return {"type": "app_mention", "user": "UASKER", "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
            "channel": "C0GENERAL", "event_ts": ts} | extra


# -- asking ---------------------------------------------------------------------------------------------------------
def test_slash_command_acks_then_answers_ephemerally_with_citation(slack: Slack, kb: SlackFakeKB) -> None:
    resp = slack.command("what IRQL can I call KeSetEvent at")
    assert resp.status_code == 200
    slack.idle()
    [call] = slack.mock.wait_for("chat.postEphemeral")
    assert (call.params["channel"], call.params["user"]) == ("C0GENERAL", "UASKER")
    shown = message_text(call)
    assert "DISPATCH_LEVEL" in shown and "At what IRQL can KeSetEvent be called?" in shown
    kesetevent = "https://learn.microsoft.com/windows-hardware/drivers/ddi/wdm/nf-wdm-kesetevent"
    assert f"<{kesetevent}|KeSetEvent function" in shown
    assert f"{PUBLIC}/pairs/{kb.pair_by_question('KeSetEvent')['id']}|Full answer>" in shown
    assert "Sample drivers" in shown and "Toaster sample" in shown
    assert {"kb_helpful", "kb_not_helpful", "kb_share"} <= set(json.dumps(call.params["blocks"]).split('"'))
    assert slack.mock.calls_to("chat.postMessage") == [] and kb.open_questions == []


def test_url_verification_challenge_is_answered(slack: Slack) -> None:
    resp = slack.post(json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"}),
                      "application/json")
    assert resp.status_code == 200 and "c-123" in resp.get_data(as_text=True)


def test_empty_slash_command_gets_usage_help_in_the_ack(slack: Slack, kb: SlackFakeKB) -> None:
    resp = slack.command("   ")
    assert resp.status_code == 200 and "/driverkb what IRQL" in resp.get_json()["text"]
    slack.idle()
    assert kb.searches() == [] and slack.mock.calls_to("chat.postEphemeral") == []


def test_mention_is_answered_once_in_its_thread_and_a_retry_is_not(slack: Slack, kb: SlackFakeKB) -> None:
    event = mention("How do I debug a driver that fails to unload?")
    assert slack.event(event, "EvMention1").status_code == 200
    slack.idle()
    [call] = slack.mock.wait_for("chat.postMessage")
    assert call.params["channel"] == "C0GENERAL" and call.params["thread_ts"] == event["ts"]
    assert "ObjectHeader" in message_text(call) or "leaked reference" in message_text(call)
    assert kb.searches() == ["How do I debug a driver that fails to unload?"]  # mention stripped

    retry = slack.event(event, "EvMention1", headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    slack.idle()
    assert len(slack.mock.calls_to("chat.postMessage")) == 1 and len(kb.searches()) == 1


def test_mention_inside_a_thread_answers_in_that_thread(slack: Slack) -> None:
    slack.event(mention("pnputil add driver", ts="1700000000.000500", thread_ts="1700000000.000100"))
    slack.idle()
    [call] = slack.mock.wait_for("chat.postMessage")
    assert call.params["thread_ts"] == "1700000000.000100"


@pytest.mark.parametrize("event", [
    {"type": "message", "channel_type": "im", "channel": "D0DM", "bot_id": "B0OTHER", "text": "KeSetEvent IRQL",
     "ts": "1.1", "subtype": "bot_message"},
    {"type": "message", "channel_type": "im", "channel": "D0DM", "bot_id": "B0OTHER", "user": "U0OTHERBOT",
     "text": "KeSetEvent IRQL", "ts": "1.2"},
    {"type": "message", "channel_type": "im", "channel": "D0DM", "user": BOT_USER_ID, "bot_id": BOT_ID,
     "text": "KeSetEvent IRQL", "ts": "1.3"},
    {"type": "app_mention", "channel": "C0GENERAL", "user": "U0OTHERBOT", "bot_id": "B0OTHER",
     "text": f"<@{BOT_USER_ID}> KeSetEvent IRQL", "ts": "1.4"},
    {"type": "message", "channel_type": "im", "channel": "D0DM", "user": "UASKER", "subtype": "message_changed",
     "text": "KeSetEvent IRQL", "ts": "1.5"},
], ids=["bot_message", "other-bot", "own-message", "bot-mention", "edit"])
def test_bot_messages_and_edits_are_ignored(slack: Slack, kb: SlackFakeKB, event: dict[str, Any]) -> None:
    assert slack.event(event).status_code == 200
    slack.idle()
    assert kb.searches() == []
    assert [m for m in slack.mock.methods() if m != "auth.test"] == []


def test_direct_message_is_answered(slack: Slack, kb: SlackFakeKB) -> None:
    slack.event({"type": "message", "channel_type": "im", "channel": "D0DM", "user": "UASKER",
                 "text": "How do I allocate nonpaged pool with a tag?", "ts": "1700000001.000100"})
    slack.idle()
    [call] = slack.mock.wait_for("chat.postMessage")
    assert call.params["channel"] == "D0DM" and "thread_ts" not in call.params
    assert "ExAllocatePool2" in message_text(call)


def test_thread_follow_up_without_mention_uses_the_earlier_question(slack: Slack, kb: SlackFakeKB) -> None:
    first = mention("At what IRQL can KeSetEvent be called?", ts="1700000002.000100")
    slack.event(first, "EvA")
    slack.idle()
    follow_up = {"type": "message", "channel_type": "channel", "channel": "C0GENERAL", "user": "UASKER",
                 "text": "and with Wait TRUE?", "ts": "1700000002.000300", "thread_ts": first["ts"]}
    slack.event(follow_up, "EvB")
    # Not for the bot: a top-level message, a thread it never answered in, a mention (app_mention answers those).
    slack.event(follow_up | {"thread_ts": "1600000000.000001", "ts": "1700000002.000400"}, "EvC")
    slack.event({k: v for k, v in follow_up.items() if k != "thread_ts"} | {"ts": "1700000002.000500"}, "EvD")
    slack.event(follow_up | {"text": f"<@{BOT_USER_ID}> and at PASSIVE_LEVEL?", "ts": "1700000002.000600"}, "EvE")
    slack.idle()
    calls = slack.mock.wait_for("chat.postMessage", 2)
    assert len(calls) == 2 and calls[1].params["thread_ts"] == first["ts"]
    assert kb.searches() == ["At what IRQL can KeSetEvent be called?",
                             "At what IRQL can KeSetEvent be called? and with Wait TRUE?"]
    assert "APC_LEVEL" in message_text(calls[1])
    slack.event(follow_up | {"text": "what about PASSIVE_LEVEL?", "ts": "1700000002.000700"}, "EvF")
    slack.idle()
    assert kb.searches()[-1] == ("At what IRQL can KeSetEvent be called? and with Wait TRUE? "
                                 "what about PASSIVE_LEVEL?")


# -- sharing and feedback -----------------------------------------------------------------------------------------
def _answered(slack: Slack, text: str = "what IRQL can I call KeSetEvent at") -> Call:
    slack.command(text, response_url=slack.mock.response_url())
    slack.idle()
    return slack.mock.wait_for("chat.postEphemeral")[0]


def _action(call: Call, action_id: str, trigger: str = "trig-action") -> dict[str, Any]:
    return {"type": "block_actions", "user": {"id": "UASKER"}, "trigger_id": trigger,
            "container": {"type": "message", "message_ts": "1700000003.000100", "channel_id": "C0GENERAL",
                          "is_ephemeral": True},
            "channel": {"id": "C0GENERAL"}, "response_url": call.params.get("response_url", ""),
            "actions": [{"action_id": action_id, "block_id": "kb_answer_actions", "type": "button",
                         "value": button_value(call, action_id)}]}


def test_share_button_posts_the_answer_to_the_channel_attributed(slack: Slack) -> None:
    answer = _answered(slack)
    payload = _action(answer, "kb_share") | {"response_url": slack.mock.response_url("share")}
    assert slack.interact(payload).status_code == 200
    slack.idle()
    [shared] = slack.mock.wait_for("chat.postMessage")
    assert shared.params["channel"] == "C0GENERAL" and "<@UASKER> asked" in message_text(shared)
    assert "DISPATCH_LEVEL" in message_text(shared) and "kb_share" not in message_text(shared)
    assert slack.mock.wait_for("response_url")[0].params == {"delete_original": True}


def test_helpful_records_feedback_and_thanks(slack: Slack, kb: SlackFakeKB) -> None:
    answer = _answered(slack)
    slack.interact(_action(answer, "kb_helpful"))
    slack.idle()
    pair_id = kb.pair_by_question("KeSetEvent")["id"]
    assert kb.feedback == [{"query": "what IRQL can I call KeSetEvent at", "pair_id": pair_id, "verdict": "helpful",
                            "reason": "", "origin": "slack", "user": "UASKER"}]
    thanks = slack.mock.wait_for("chat.postEphemeral", 2)[1]
    assert "Thanks" in thanks.params["text"] and thanks.params["user"] == "UASKER"


def test_not_helpful_opens_a_modal_and_its_submission_records_the_reason(slack: Slack, kb: SlackFakeKB) -> None:
    answer = _answered(slack)
    slack.interact(_action(answer, "kb_not_helpful", trigger="trig-modal"))
    slack.idle()
    [opened] = slack.mock.wait_for("views.open")
    assert opened.params["trigger_id"] == "trig-modal" and kb.feedback == []
    view = opened.params["view"] | {"id": "V0MODAL", "state": {"values": {"reason": {"reason": {
        "type": "plain_text_input", "value": "It is about KMDF, not WDM"}}}}}
    resp = slack.interact({"type": "view_submission", "user": {"id": "UASKER"}, "trigger_id": "trig-submit",
                           "view": view})
    assert resp.status_code == 200
    slack.idle()
    assert [(f["verdict"], f["reason"], f["origin"], f["user"]) for f in kb.feedback] == [
        ("not-helpful", "It is about KMDF, not WDM", "slack", "UASKER")]
    assert kb.feedback[0]["pair_id"] == kb.pair_by_question("KeSetEvent")["id"]
    assert slack.mock.wait_for("chat.postEphemeral", 2)[1].params["channel"] == "C0GENERAL"

    slack.interact({"type": "view_closed", "user": {"id": "UASKER"}, "view": view, "is_cleared": False})
    slack.idle()
    assert [(f["verdict"], f["reason"]) for f in kb.feedback][1:] == [("not-helpful", "")]


# -- weak answers, limits and failures ------------------------------------------------------------------------------
def test_weak_answer_says_so_links_only_and_records_an_open_question(slack: Slack, kb: SlackFakeKB) -> None:
    slack.command("how long to bake sourdough bread dough at DISPATCH_LEVEL", trigger_id="trig-weak")
    slack.idle()
    [call] = slack.mock.wait_for("chat.postEphemeral")
    shown = message_text(call)
    assert "No confident answer — closest matches:" in shown and f"{PUBLIC}/pairs/" in shown
    assert "kb_helpful" not in shown and "Highest IRQL" not in shown  # links only, no answer text
    assert kb.open_questions == [{"question": "how long to bake sourdough bread dough at DISPATCH_LEVEL",
                                  "origin": "slack", "asked_by": "UASKER",
                                  "context": {"channel": "C0GENERAL", "ts": None, "team": TEAM_ID}}]


@pytest.mark.parametrize("case", ["bad-signature", "stale-timestamp", "no-signature"])
def test_unverified_requests_get_401_and_no_web_api_call(slack: Slack, kb: SlackFakeKB, case: str) -> None:
    body = command_body("what IRQL can I call KeSetEvent at")
    if case == "bad-signature":
        resp = slack.post(body, FORM, secret="not-the-secret")
    elif case == "stale-timestamp":
        resp = slack.post(body, FORM, timestamp=int(time.time()) - 6 * 60)
    else:
        resp = slack.http.post("/slack/events", data=body, content_type=FORM)
    assert resp.status_code == 401
    slack.idle()
    assert slack.mock.calls == [] and kb.searches() == []


def test_rate_limit_per_workspace_says_slow_down_without_searching(kb: SlackFakeKB, mock: SlackMock) -> None:
    for slack in _slack(make_app(kb, mock, SLACK_RATE_LIMIT=2), mock):
        for n in range(3):
            slack.command("what IRQL can I call KeSetEvent at", trigger_id=f"trig-{n}")
            slack.idle()
        calls = mock.wait_for("chat.postEphemeral", 3)
        assert len(kb.searches()) == 2
        assert "faster than Driver KB answers" in calls[2].params["text"]


def test_listener_error_posts_an_apology_and_logs_the_traceback(slack: Slack, kb: SlackFakeKB,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    kb.fail["search"] = RuntimeError("index exploded")
    slack.event(mention("KeSetEvent IRQL"))
    slack.idle()
    [call] = slack.mock.wait_for("chat.postMessage")
    assert "Sorry, something went wrong" in call.params["text"] and "exploded" not in call.params["text"]
    [record] = [r for r in caplog.records if r.name == "webapp.slack.bot" and r.exc_info]
    assert record.levelno == logging.ERROR and "index exploded" in caplog.text and "Traceback" in caplog.text


def test_ephemeral_falls_back_to_response_url_outside_the_bots_channels(slack: Slack) -> None:
    slack.mock.errors["chat.postEphemeral"] = "channel_not_found"
    slack.command("KeSetEvent IRQL", channel="G0PRIVATE", response_url=slack.mock.response_url())
    slack.idle()
    [hook] = slack.mock.wait_for("response_url")
    assert hook.params["response_type"] == "ephemeral" and "DISPATCH_LEVEL" in message_text(hook)


def test_unconfigured_bot_answers_503_and_the_rest_of_the_app_works(kb: SlackFakeKB,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    app = create_app({"TESTING": True}, kb=kb)
    if "slack.events" not in app.view_functions:
        init_app(app)
    client = app.test_client()
    resp = client.post("/slack/events", data="{}", content_type="application/json")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["ok"] is False and body["status"] == 503 and "SLACK_SIGNING_SECRET" in body["error"]
    assert client.get("/api/stats").status_code == 200


def test_settings_come_from_config_then_slack_environment_variables() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-env", "SLACK_RATE_LIMIT": "5", "SLACK_SIGNING_SECRET": "from-env"}
    settings = SlackSettings.from_mapping({"SLACK_SIGNING_SECRET": "from-config", "SLACK_MIN_SCORE": 0.5}, env)
    assert (settings.signing_secret, settings.bot_token, settings.rate_limit, settings.min_score) == (
        "from-config", "xoxb-env", 5, 0.5)
    assert settings.api_url == "https://slack.com/api/"
    with pytest.raises(ValueError, match="SLACK_RATE_LIMIT"):
        SlackSettings.from_mapping({"SLACK_RATE_LIMIT": "lots"}, {})


def test_socket_mode_runs_the_same_bot(kb: SlackFakeKB, mock: SlackMock, monkeypatch: pytest.MonkeyPatch) -> None:
    import slack_bolt.adapter.socket_mode as socket_mode

    started: list[tuple[Any, str]] = []

    class FakeHandler:
        def __init__(self, app: Any, app_token: str) -> None:
            self.app, self.app_token = app, app_token

        def start(self) -> None:
            started.append((self.app, self.app_token))

    monkeypatch.setattr(socket_mode, "SocketModeHandler", FakeHandler)
    for name in ("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": mock.api_url, "PUBLIC_URL": PUBLIC}
    with pytest.raises(SlackNotConfigured, match="SLACK_APP_TOKEN"):
        run_socket_mode(settings, kb=kb)
    run_socket_mode(settings | {"SLACK_APP_TOKEN": "xapp-test"}, kb=kb)
    [(app, token)] = started
    assert token == "xapp-test" and mock.methods() == ["auth.test"]  # the token is checked up front
    assert app.client.base_url == mock.api_url


# -- with the real KB -----------------------------------------------------------------------------------------------
def test_real_kb_answers_keseteevent_irql_and_records_feedback(tmp_path: Path, mock: SlackMock,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest
    from kb import indexer
    from kb import pipeline
    from kb.app import KB
    from kb.embed import FakeEmbedder

    monkeypatch.setitem(ingest.PARSERS, "qa", ("tests.qa_parser:parse", "handbook"))
    config = {"DATA_DIR": str(tmp_path / "data"), "EMBED_MODEL": "fake", "INDEX_BACKEND": "numpy"}
    real = KB.open(config, embedder=FakeEmbedder())
    pipeline.run(real.db, [DATA / "tree"], fmt="qa")
    indexer.build(real.db, real.embedder, real.index_dir, "numpy")
    for slack in _slack(make_app(real, mock, **config), mock):
        slack.command("what IRQL can I call KeSetEvent at", trigger_id="trig-real")
        slack.idle()
        [call] = mock.wait_for("chat.postEphemeral")
        shown = message_text(call)
        assert "DISPATCH_LEVEL" in shown and f"<{PUBLIC}/pairs/" in shown
        slack.interact(_action(call, "kb_helpful"))
        slack.command("how long to bake sourdough bread", trigger_id="trig-real-weak")
        slack.idle()
    feedback = [tuple(r) for r in real.db.execute("SELECT verdict, origin, user FROM feedback")]
    assert feedback == [("helpful", "slack", "UASKER")]
    asked = [(r["question"], r["origin"], r["asked_by"]) for r in real.open_questions()]
    assert asked == [("how long to bake sourdough bread", "slack", "UASKER")]


# -- Block Kit rendering and state (pure) -----------------------------------------------------------------------------
LEARN_PAGE = "https://learn.microsoft.com/windows-hardware/drivers/debugger/debugging-a-failed-driver-unload"


@pytest.mark.parametrize(("markdown", "expected"), [
    ("**KeSetEvent** with *Wait* = __TRUE__", "*KeSetEvent* with _Wait_ = *TRUE*"),
    ("See [Event Objects](/windows-hardware/drivers/kernel/event-objects).",
     "See <https://learn.microsoft.com/windows-hardware/drivers/kernel/event-objects|Event Objects>."),
    ("Use [**!object**](-object.md) here", "Use <https://learn.microsoft.com/windows-hardware/drivers/debugger/-object"
                                           "|!object> here"),
    ("IRQL <= DISPATCH_LEVEL & `a<b`", "IRQL &lt;= DISPATCH_LEVEL &amp; `a&lt;b`"),
    ("IRQL &lt;= DISPATCH_LEVEL &amp; [a &lt; b](https://example.com/x) `&lt;`",
     "IRQL &lt;= DISPATCH_LEVEL &amp; <https://example.com/x|a &lt; b> `&amp;lt;`"),
    ("## Remarks ##", "*Remarks*"),
    ("- one\n  * two", "• one\n  • two"),
    ("| Wait | Highest IRQL |\n|------|:---:|\n| FALSE | DISPATCH_LEVEL |",
     "Wait   Highest IRQL\nFALSE   DISPATCH_LEVEL"),
    ("```c\nif (a < b) { x(); }\n```", "```\nif (a &lt; b) { x(); }\n```"),
    ("    1. Step:\n\n    ```\n    kd> !object 81a578c0\n    ```", "1. Step:\n\n```\nkd&gt; !object 81a578c0\n```"),
    ("<script>alert('xss')</script>Hi <img src=x onerror=\"alert(1)\"> <b>there</b>", "Hi  there"),
    ("Never [click](javascript:alert(2)) or <https://example.com/a?b=1&c=2>",
     "Never click or <https://example.com/a?b=1&amp;c=2|https://example.com/a?b=1&amp;c=2>"),
])
def test_markdown_becomes_slack_mrkdwn(markdown: str, expected: str) -> None:
    from webapp.slack.mrkdwn import to_mrkdwn

    assert to_mrkdwn(markdown, LEARN_PAGE) == expected


def test_long_answers_are_cut_at_a_sentence_and_long_code_becomes_an_excerpt() -> None:
    from webapp.slack.mrkdwn import shorten

    prose = " ".join(f"Sentence number {i} explains one more detail about IRQL." for i in range(60))
    short, cut = shorten(f"First paragraph.\n\n{prose}", limit=1200)
    assert cut and len(short) <= 1200 and short.endswith(". …") and short.startswith("First paragraph.\n\n")
    code = "```\n" + "\n".join(f"kd> dd {i:08x}" for i in range(100)) + "\n```"
    short, cut = shorten(f"Run this:\n\n{code}\n\nThen look.", limit=1200)
    assert cut and short.count("```") == 2 and "kd> dd 00000000" in short and "00000063" not in short
    assert short.endswith("...\n```\n\nThen look.")
    assert shorten("Short answer.") == ("Short answer.", False)


def _result(question: str, answer: str, n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{n:015d}", "question": question, "answer": answer, "score": 0.05, "heading": "",
            "source": {"kind": "learn-doc", "path": f"doc{n}.md", "title": f"Doc {n}", "url": None},
            "samples": [], "scripts": [], "answered_by": None} | extra


def _check_limits(message: dict[str, Any]) -> None:
    from webapp.slack import blocks as b

    assert message["text"].strip() and len(message["text"]) <= b.MAX_FALLBACK_TEXT
    assert 1 <= len(message["blocks"]) <= b.MAX_BLOCKS
    json.dumps(message)
    for block in message["blocks"]:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= b.MAX_HEADER_TEXT
        texts = [block["text"]["text"]] if block["type"] == "section" else []
        texts += [e["text"] for e in block.get("elements", []) if e.get("type") == "mrkdwn"]
        for text in texts:
            assert 0 < len(text) <= b.MAX_SECTION_TEXT and text.count("```") % 2 == 0
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["value"]) <= b.MAX_BUTTON_VALUE and json.loads(element["value"])


_pieces = st.one_of(
    st.text(min_size=1, max_size=400),
    st.sampled_from(["```", "`", "~~~", "    ```c\n", "\x00", "\n\n", "\n", ". ", "**bold** ", "*it* ", "`code<>` ",
                     "[link](/windows/x) ", "<b>", "& ", "| a |"]),
    st.builds(lambda body: "\n```\n" + body + "\n```\n", st.text(max_size=3000)),
    st.builds(lambda n: "word" * n, st.integers(0, 900)),
)


@settings(max_examples=60, deadline=None)
@given(answer=st.lists(_pieces, max_size=25).map("".join), question=st.text(max_size=600),
       query=st.text(min_size=1, max_size=1000), items=st.integers(0, 8))
def test_messages_respect_slack_limits(answer: str, question: str, query: str, items: int) -> None:
    from webapp.slack import blocks as b

    linked = [{"title": question or "t", "url": "https://x/" + "y" * 300, "reason": question * 3, "path": "p"}] * items
    results = [_result(question, answer, 0, samples=linked, scripts=linked, answered_by=question[:50] or None)]
    results += [_result(question * 2, answer, n) for n in range(1, items + 1)]
    for message in (b.answer_message(query, results, PUBLIC, ephemeral=True, shared_by="UASKER"),
                    b.weak_message(query, results, PUBLIC), b.weak_message(query, [], PUBLIC),
                    b.notice(b.USAGE), b.notice(b.APOLOGY)):
        _check_limits(message)
    meta = b.reason_modal(results[0]["id"], query * 3, "C1", "1.2")["private_metadata"]
    assert len(meta) <= b.MAX_PRIVATE_METADATA and json.loads(meta)["p"] == results[0]["id"]


@pytest.mark.parametrize(("query", "confident"), [
    ("what IRQL can I call KeSetEvent at", True),
    ("How do I install a driver package with pnputil?", True),
    ("WdfRequestSend fails with STATUS_INVALID_DEVICE_STATE", True),
    ("how long to bake sourdough bread dough at DISPATCH_LEVEL", False),
    ("what is the meaning of life", False),
    ("how do I", False),
])
def test_confidence_against_the_fake_kb(kb: SlackFakeKB, query: str, confident: bool) -> None:
    from webapp.slack.blocks import is_confident

    defaults = SlackSettings()
    results = kb.search(query, k=4)["results"]
    assert is_confident(query, results, defaults.min_score, defaults.min_overlap) is confident


def test_mentions_and_slack_links_are_stripped_from_questions() -> None:
    from webapp.slack.blocks import strip_mentions

    text = f"<@{BOT_USER_ID}>  why does <https://x.example/a|this page> say &lt;= DISPATCH_LEVEL, <@U2|bob>?"
    assert strip_mentions(text, BOT_USER_ID) == "why does this page say <= DISPATCH_LEVEL, @U2?"


def test_rate_limiter_refills_per_workspace() -> None:
    from webapp.slack.state import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    assert [limiter.allow("T1"), limiter.allow("T1"), limiter.allow("T1"), limiter.allow("T2")] == [
        True, True, False, True]
    now[0] = 29.0
    assert limiter.allow("T1") is False
    now[0] = 31.0
    assert limiter.allow("T1") is True and limiter.allow("T1") is False


def test_seen_keys_expire_and_thread_memory_is_bounded() -> None:
    from webapp.slack.state import SeenKeys
    from webapp.slack.state import ThreadMemory

    now = [0.0]
    seen = SeenKeys(max_keys=2, ttl=60, clock=lambda: now[0])
    assert [seen.check_and_add("a"), seen.check_and_add("a"), seen.check_and_add("b")] == [False, True, False]
    now[0] = 61.0
    assert seen.check_and_add("a") is False
    memory = ThreadMemory(max_threads=2)
    for n in range(3):
        memory.remember("C", str(n), f"q{n}")
    assert [memory.get("C", "0"), memory.get("C", "1"), memory.get("C", "2")] == [None, "q1", "q2"]


def test_manifest_and_install_guide_match_the_code() -> None:
    import yaml

    root = Path(__file__).resolve().parent.parent
    manifest = yaml.safe_load((root / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == SlackSettings().command
    settings_ = manifest["settings"]
    urls = [command["url"], settings_["event_subscriptions"]["request_url"], settings_["interactivity"]["request_url"]]
    assert all(url == "https://YOUR-HOST/slack/events" for url in urls)
    assert {"app_mention", "message.im", "message.channels"} <= set(settings_["event_subscriptions"]["bot_events"])
    assert {"commands", "chat:write", "app_mentions:read", "im:history", "channels:history", "groups:history"} <= set(
        manifest["oauth_config"]["scopes"]["bot"])
    assert settings_["socket_mode_enabled"] is False
    guide = (root / "docs" / "slack.md").read_text(encoding="utf-8")
    for name in SlackSettings.KEYS.values():
        assert name in guide or name == "MAX_QUERY_CHARS", f"{name} is not in docs/slack.md"
