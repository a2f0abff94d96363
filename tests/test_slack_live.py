"""The Slack bot as it runs in production: `kb serve` in its own process, a KB built by `kb ingest`, Slack's Web API
replaced by a local recorder (SLACK_API_URL). Requests go over real HTTP, signed as Slack signs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_mock import BOT_USER_ID
from slack_mock import SlackMock
from slack_mock import command_body
from slack_mock import event_body
from slack_mock import sign

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from kbcli import cli; cli()"]
SECRET = "live-signing-secret-0123456789abcdef"
PUBLIC = "https://kb.example.com"
FORM = "application/x-www-form-urlencoded"
SLACK_ACK_LIMIT = 3.0  # Slack gives up on a request it has no answer to after 3 s (and retries events)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: str, content_type: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type, **headers})
    try:
        # Slack closes the connection after 3 s: an ack that takes longer is no ack at all.
        with urllib.request.urlopen(request, timeout=SLACK_ACK_LIMIT) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("slack-live")
    data = tmp / "data"
    with SlackMock() as mock:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")} | {
            "KB_EMBED_MODEL": "fake", "KB_INDEX_BACKEND": "numpy", "KB_DATA_DIR": str(data), "PYTHONPATH": str(ROOT),
            "KB_SLACK_SIGNING_SECRET": SECRET, "KB_SLACK_BOT_TOKEN": "xoxb-live", "KB_SLACK_API_URL": mock.api_url,
            "KB_PUBLIC_URL": PUBLIC}
        built = subprocess.run([*CLI, "ingest", "--quiet", str(ROOT / "data" / "handbook")], env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr
        port = _free_port()
        log_path = tmp / "serve.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        with urllib.request.urlopen(base + "/api/health", timeout=2):
                            break
                    except OSError:
                        assert proc.poll() is None, log_path.read_text()
                        assert time.monotonic() < deadline, "kb serve did not come up within 60 s"
                        time.sleep(0.2)
                yield {"url": base + "/slack/events", "mock": mock, "log": log_path}
            finally:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture()
def slack(live: dict[str, Any]) -> dict[str, Any]:
    live["mock"].reset()
    return live


def test_slash_command_is_acked_then_answered_ephemerally_with_the_irql_and_a_citation(slack: dict[str, Any]) -> None:
    body = command_body("what IRQL can I call KeSetEvent at", trigger_id="trig-live")
    status, _ = _post(slack["url"], body, FORM, sign(SECRET, body))
    assert status == 200
    [call] = slack["mock"].wait_for("chat.postEphemeral", timeout=30)
    shown = call.params.get("text", "") + str(call.params.get("blocks", []))
    assert "DISPATCH_LEVEL" in shown
    assert f"<{PUBLIC}/pairs/" in shown and "learn.microsoft.com" in shown  # our answer page and the cited source


def test_mention_gets_one_threaded_answer_and_its_retry_none(slack: dict[str, Any]) -> None:
    ts = "1700000123.000100"
    event = {"type": "app_mention", "user": "UASKER", "text": f"<@{BOT_USER_ID}> what IRQL can I call KeSetEvent at",
             "ts": ts, "channel": "C0GENERAL", "event_ts": ts}
    body = event_body(event, "EvLive1")
    assert _post(slack["url"], body, "application/json", sign(SECRET, body))[0] == 200
    [call] = slack["mock"].wait_for("chat.postMessage", timeout=30)
    assert call.params["thread_ts"] == ts and call.params["channel"] == "C0GENERAL"
    retry = sign(SECRET, body) | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert _post(slack["url"], body, "application/json", retry)[0] == 200
    # A second answer would come as fast as the first did; give it that long and more, then count.
    second = event_body({**event, "ts": "1700000124.000100", "event_ts": "1700000124.000100"}, "EvLive2")
    _post(slack["url"], second, "application/json", sign(SECRET, second))
    calls = slack["mock"].wait_for("chat.postMessage", count=2, timeout=30)
    assert [c.params["thread_ts"] for c in calls] == [ts, "1700000124.000100"]  # nothing for the retry


@pytest.mark.parametrize("case", ["bad-signature", "stale-timestamp"])
def test_unverified_requests_get_401_and_no_web_api_call(slack: dict[str, Any], case: str) -> None:
    body = command_body("what IRQL can I call KeSetEvent at")
    headers = sign("not-the-secret", body) if case == "bad-signature" else sign(SECRET, body, int(time.time()) - 301)
    status, _ = _post(slack["url"], body, FORM, headers)
    assert status == 401
    # Then a good request, answered: the bot was idle, not slow, when nothing was sent for the bad one.
    good = command_body("what IRQL can I call KeSetEvent at", trigger_id=f"trig-after-{case}")
    assert _post(slack["url"], good, FORM, sign(SECRET, good))[0] == 200
    slack["mock"].wait_for("chat.postEphemeral", timeout=30)
    assert slack["mock"].methods().count("chat.postEphemeral") == 1
    assert "chat.postMessage" not in slack["mock"].methods()
