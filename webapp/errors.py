"""The one error handler: KBError, HTTP errors and crashes as JSON under /api, as an HTML page elsewhere."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import render_template
from flask import request
from markupsafe import escape
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound

from kb.errors import KBError

API_PREFIX = "/api"
SERVER_ERROR = "Something went wrong on our side; it has been logged. Try again, or try another search."


def init_app(app: Flask) -> None:
    """Register the error handler and the UTF-8 check on ``app``."""
    app.register_error_handler(Exception, handle_error)
    app.before_request(reject_non_utf8)


def is_api_request() -> bool:
    """True when the current request is for the JSON API (errors answer in JSON)."""
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def reject_non_utf8() -> None:
    """Refuse URLs whose path or query string is not UTF-8, instead of guessing with U+FFFD.

    Raises:
        BadRequest: the path or the (percent-decoded) query string has invalid UTF-8.
    """
    environ = request.environ
    try:
        # WSGI hands PATH_INFO over as latin-1-decoded bytes; some servers (and werkzeug's test client)
        # have already replaced bad bytes there, so the raw request URI is checked too.
        environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
        unquote_to_bytes(raw_uri.split("?", 1)[0].encode("latin-1")).decode("utf-8")
        unquote_to_bytes(request.query_string.replace(b"+", b" ")).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise BadRequest("The URL is not valid UTF-8: percent-encode the query as UTF-8 (%C3%A9, not %E9).") from None


def _describe(exc: HTTPException) -> str:
    if isinstance(exc, NotFound) and exc.description == NotFound.description:
        if is_api_request():
            return (
                f"No API endpoint at {request.path}: use /api/search?q=..., /api/pairs/<id>, "
                "/api/topics, /api/stats or /api/health."
            )
        return "There is no page at this address. Search from the home page, or browse the topics."
    if isinstance(exc, MethodNotAllowed) and exc.description == MethodNotAllowed.description:
        allowed = ", ".join(sorted(exc.valid_methods or ["GET"]))
        return f"{request.method} is not allowed here: use {allowed}."
    return exc.description or exc.name


def handle_error(exc: Exception) -> Response | tuple[Response, int]:
    """Turn any exception into the JSON error shape or an HTML error page.

    KBError keeps its message (written for users) and its class's status; HTTP errors keep
    their status; anything else is logged with its traceback and shown as a generic 500.

    Returns:
        ``{"ok": false, "error": message, "status": status}`` for /api, else ``error.html``.
    """
    headers: dict[str, str] = {}
    if isinstance(exc, KBError):
        status, message = exc.status, str(exc) or (type(exc).__doc__ or "").strip()
        title = _phrase(status)
        if status >= 500:
            current_app.logger.warning("%s: %s", type(exc).__name__, message)
    elif isinstance(exc, HTTPException):
        status, title, message = exc.code or 500, exc.name, _describe(exc)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
    else:
        current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        status, title, message = 500, "Internal Server Error", SERVER_ERROR
    if is_api_request():
        response = jsonify({"ok": False, "error": message, "status": status})
    else:
        response = Response(_error_page(status, title, message), mimetype="text/html")
    response.status_code = status
    response.headers.update(headers)
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error_page(status: int, title: str, message: str) -> str:
    try:
        return render_template("error.html", status=status, title=title, message=message)
    except Exception:
        # A broken template must not turn one error into an unhandled one.
        current_app.logger.exception("error.html failed to render")
        return f"<!doctype html><title>{status} {escape(title)}</title><h1>{escape(title)}</h1><p>{escape(message)}</p>"
