"""Per-session CSRF tokens for our POST forms (feedback, admin), and the session secret they rely on."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask
from flask import abort
from flask import current_app
from flask import request
from flask import session

SESSION_KEY = "csrf"
FIELD = "csrf_token"
EXPIRED = ("This form has expired (the server restarted or the session cookie is missing): "
           "go back, reload the page and send it again.")


def ensure_secret_key(app: Flask) -> None:
    """Give ``app`` a session secret when none is configured (``KB_SECRET_KEY`` or instance/config.py).

    A generated key lives as long as the process: sessions (admin logins, form tokens) end with a
    restart, which is acceptable for this app; set SECRET_KEY to keep them across restarts.
    """
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    # Lax: the session cookie is not sent on cross-site POSTs, a second line of defence behind the token.
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"


def csrf_token() -> str:
    """This session's form token (created on first use); put it in a hidden ``csrf_token`` field."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def check_csrf() -> None:
    """Refuse the current POST unless its ``csrf_token`` field matches the session's token.

    Raises:
        werkzeug.exceptions.BadRequest: the token is missing or wrong (the message says to reload the form).
    """
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD, "")
    if not (isinstance(expected, str) and expected and
            hmac.compare_digest(expected.encode("utf-8"), sent.encode("utf-8"))):
        current_app.logger.info("CSRF check failed on %s %s", request.method, request.path)
        abort(400, EXPIRED)
