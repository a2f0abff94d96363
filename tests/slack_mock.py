"""A local stand-in for the Slack Web API: records every call and answers like Slack; plus request signing helpers."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

BOT_USER_ID = "UBOTKB"
BOT_ID = "BBOTKB"
TEAM_ID = "T0TEAM"
JSON_FIELDS = ("blocks", "attachments", "view")  # form-encoded calls send these as JSON strings


@dataclass
class Call:
    """One request the bot made: Web API method (``chat.postMessage``) or ``response_url``, and its parameters."""

    method: str
    params: dict[str, Any]
    path: str


class SlackMock:
    """``ThreadingHTTPServer`` on 127.0.0.1 (free port) answering ``POST /api/<method>``, and ``POST /hooks/...``
    (response_url targets).

    ``errors`` maps a method to a Slack error code it should answer with (``{"ok": false, "error": ...}``).
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.errors: dict[str, str] = {}
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                answer = mock._record(self.path, self.headers.get("Content-Type") or "", raw)
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="slack-mock", daemon=True)

    @property
    def api_url(self) -> str:
        """Base URL to give WebClient (``SLACK_API_URL``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def response_url(self, name: str = "cmd") -> str:
        """A response_url that lands in this mock (recorded as method ``response_url``)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{name}"

    def start(self) -> SlackMock:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SlackMock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget the recorded calls and configured errors (one server can serve many tests)."""
        with self._changed:
            self.calls.clear()
            self.errors.clear()

    def _record(self, path: str, content_type: str, raw: str) -> dict[str, Any]:
        if "json" in content_type:
            params = json.loads(raw or "{}")
        else:
            params = dict(parse_qsl(raw, keep_blank_values=True))
            for name in JSON_FIELDS:
                if isinstance(params.get(name), str):
                    params[name] = json.loads(params[name])
        method = path.split("/api/", 1)[1].split("?")[0] if path.startswith("/api/") else "response_url"
        with self._changed:
            self.calls.append(Call(method, params, path))
            self._changed.notify_all()
        if method in self.errors:
            return {"ok": False, "error": self.errors[method]}
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        answers: dict[str, dict[str, Any]] = {
            "auth.test": {"url": "https://test.slack.com/", "team": "Test", "user": "driverkb", "team_id": TEAM_ID,
                          "user_id": BOT_USER_ID, "bot_id": BOT_ID},
            "chat.postMessage": {"channel": params.get("channel"), "ts": ts, "message": {"text": params.get("text")}},
            "chat.postEphemeral": {"message_ts": ts},
            "views.open": {"view": {"id": "V0MODAL", **(params.get("view") or {})}},
        }
        return {"ok": True, **answers.get(method, {})}

    def calls_to(self, method: str) -> list[Call]:
        """The calls recorded so far to one method."""
        with self._changed:
            return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        """Methods called so far, in order (auth.test included)."""
        with self._changed:
            return [c.method for c in self.calls]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Block until ``method`` has been called ``count`` times (no fixed sleeps); fail after ``timeout``."""
        with self._changed:
            done = self._changed.wait_for(lambda: len([c for c in self.calls if c.method == method]) >= count,
                                          timeout=timeout)
            calls = [c for c in self.calls if c.method == method]
        assert done, f"expected {count} call(s) to {method} within {timeout}s, got {[c.method for c in self.calls]}"
        return calls


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack adds: ``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` (v0 HMAC-SHA256)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def command_body(text: str, *, user: str = "UASKER", channel: str = "C0GENERAL", trigger_id: str = "trig-1",
                 response_url: str = "", command: str = "/driverkb") -> str:
    """A form-encoded slash command, as Slack posts it."""
    return urlencode({"token": "legacy", "team_id": TEAM_ID, "team_domain": "test", "channel_id": channel,
                      "channel_name": "general", "user_id": user, "user_name": "asker", "command": command,
                      "text": text, "api_app_id": "A0KB", "response_url": response_url, "trigger_id": trigger_id})


def event_body(event: dict[str, Any], event_id: str = "Ev001") -> str:
    """A JSON ``event_callback`` envelope around ``event``."""
    return json.dumps({"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0KB", "event": event,
                       "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
                       "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}]})


def interactive_body(payload: dict[str, Any]) -> str:
    """A form-encoded ``payload=`` interactive request (block_actions, view_submission, view_closed)."""
    base = {"team": {"id": TEAM_ID, "domain": "test"}, "api_app_id": "A0KB", "token": "legacy"}
    return urlencode({"payload": json.dumps(base | payload)})
