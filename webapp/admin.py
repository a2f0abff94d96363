"""Admin blueprints (/admin HTML, /api/admin JSON): feedback moderation, hiding pairs, re-ingest; token required."""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import flash
from flask import g
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import Forbidden

from webapp import get_kb
from webapp.csrf import check_csrf
from webapp.csrf import ensure_secret_key
from webapp.ratelimit import RateLimiter
from webapp.ratelimit import client_key
from webapp.reingest import configured_sources
from webapp.reingest import get_job

bp = Blueprint("admin", __name__, url_prefix="/admin")
api_bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")

SESSION_KEY = "admin"
FAILED_LOGINS_PER_MINUTE = 10  # wrong tokens one client may try per minute (form and header alike)
LOGIN_LIMITER = "admin_login_limiter"
DISABLED = ("Admin is disabled: no admin token is configured. Set KB_ADMIN_TOKEN to a long random value "
            "(e.g. `python -c \"import secrets; print(secrets.token_urlsafe(32))\"`) and restart the server.")
NEEDS_TOKEN = "Admin actions need the admin token: send the header `Authorization: Bearer <KB_ADMIN_TOKEN>`."
WRONG_TOKEN = "That is not the admin token."


@bp.record_once
def _setup(state: Any) -> None:
    ensure_secret_key(state.app)
    state.app.extensions[LOGIN_LIMITER] = RateLimiter(FAILED_LOGINS_PER_MINUTE)


# -- the token --------------------------------------------------------------------------------------------------------
def _token() -> str:
    return str(current_app.config.get("ADMIN_TOKEN") or "")


def _same(candidate: str, token: str) -> bool:
    return hmac.compare_digest(candidate.encode("utf-8"), token.encode("utf-8"))


def _session_marker(token: str) -> str:
    # What the session keeps instead of a bare flag: changing the token signs every admin out. Keyed by the
    # app secret, so the (readable, signed) cookie does not hand out a plain hash of the token.
    return hmac.new(str(current_app.config["SECRET_KEY"]).encode(), token.encode("utf-8"), hashlib.sha256).hexdigest()


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _limiter() -> RateLimiter:
    return current_app.extensions[LOGIN_LIMITER]


def _too_many_failures() -> int:
    """Seconds this client must wait after too many wrong tokens (0: it may try)."""
    return math.ceil(_limiter().blocked(client_key()))


def _failed() -> None:
    _limiter().take(client_key())
    current_app.logger.warning("admin: wrong token from %s on %s", client_key(), request.path)  # never the token


def _api_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"ok": False, "error": message, "status": status})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _retry_message(wait: int) -> str:
    return f"Too many wrong admin tokens from this address: slow down and try again in {wait} s."


# -- guards ------------------------------------------------------------------------------------------------------------
@api_bp.before_request
def require_bearer() -> Response | None:
    """/api/admin/*: the Bearer token or the JSON error (403 disabled, 401 missing or wrong, 429 too many wrong)."""
    token = _token()
    if not token:
        return _api_error(403, DISABLED)
    sent = _bearer()
    if sent is None:
        return _api_error(401, NEEDS_TOKEN, {"WWW-Authenticate": 'Bearer realm="driver-kb admin"'})
    wait = _too_many_failures()
    if wait:
        return _api_error(429, _retry_message(wait), {"Retry-After": str(wait)})
    if not _same(sent, token):
        _failed()
        return _api_error(401, WRONG_TOKEN + " " + NEEDS_TOKEN, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return None


@bp.before_request
def require_login() -> Any:
    """/admin/*: a Bearer header or a signed-in session (whose POSTs carry the CSRF token), else the login form."""
    token = _token()
    if not token:
        raise Forbidden(DISABLED)
    if request.endpoint in ("admin.login", "admin.logout"):
        return None
    sent = _bearer()
    if sent is not None:
        wait = _too_many_failures()
        if wait:
            return _login_page(_retry_message(wait), 429)
        if not _same(sent, token):
            _failed()
            return _login_page(WRONG_TOKEN, 401)
        g.admin_via = "bearer"  # a header browsers never add on their own: no CSRF token needed
        return None
    marker = session.get(SESSION_KEY)
    if isinstance(marker, str) and _same(marker, _session_marker(token)):
        g.admin_via = "session"
        if request.method == "POST":
            check_csrf()
        return None
    return _login_page(None, 401, next_page=request.full_path.rstrip("?") if request.method == "GET" else None)


def _login_page(error: str | None, status: int, next_page: str | None = None) -> tuple[str, int]:
    return render_template("admin/login.html", error=error, next_page=next_page or ""), status


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/admin") and not value.startswith("//") and "\\" not in value:
        return value
    return url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form: the token is compared in constant time and only a keyed marker lands in the session."""
    if request.method == "GET":
        return _login_page(None, 200, next_page=request.args.get("next"))
    check_csrf()
    wait = _too_many_failures()
    if wait:
        return _login_page(_retry_message(wait), 429)
    if not _same(request.form.get("token", ""), _token()):
        _failed()
        return _login_page(WRONG_TOKEN, 401, next_page=request.form.get("next"))
    session[SESSION_KEY] = _session_marker(_token())
    flash("Signed in as admin.", "admin")
    return redirect(_safe_next(request.form.get("next")), code=303)


@bp.post("/logout")
def logout() -> Any:
    """Forget the admin sign-in of this browser."""
    check_csrf()
    session.pop(SESSION_KEY, None)
    flash("Signed out.", "admin")
    return redirect(url_for("admin.login"), code=303)


# -- shared actions ----------------------------------------------------------------------------------------------------
def _parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise BadRequest(f"{name}={str(value)[:20]!r} is not a yes/no value: pass true or false.")


def _limit() -> int:
    raw = request.args.get("limit", "200")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise BadRequest(f"limit={raw[:20]!r} is not a number from 1 to 1000.")
    return int(raw)


def _start_reingest() -> bool:
    app = current_app._get_current_object()  # the thread outlives the request
    return get_job(app).start(app, get_kb(), configured_sources(app.config))


# -- HTML --------------------------------------------------------------------------------------------------------------
@bp.get("/")
def index() -> Any:
    """Admin home: hidden pairs (unhide), hide a pair by id, re-ingest status."""
    kb = get_kb()
    return render_template("admin/index.html", hidden=kb.hidden_pairs(), job=get_job(current_app).status(),
                           sources=[str(s) for s in configured_sources(current_app.config)])


@bp.get("/feedback")
def feedback() -> Any:
    """Feedback moderation: every verdict with its query and reason; dismiss or restore each."""
    return render_template("admin/feedback.html", rows=get_kb().feedback_listing(limit=_limit()))


@bp.post("/feedback/<int:feedback_id>/status")
def feedback_status(feedback_id: int) -> Any:
    """Dismiss (no longer used in ranking) or restore one verdict."""
    status = request.form.get("status", "")
    get_kb().set_feedback_status(feedback_id, status)
    flash(f"Feedback {feedback_id} {'restored' if status == 'active' else 'dismissed'}.", "admin")
    return redirect(url_for("admin.feedback") + f"#feedback-{feedback_id}", code=303)


@bp.post("/pairs/<pair_id>/hide")
def hide_pair(pair_id: str) -> Any:
    """Hide a pair from every search and page (``hidden=0`` shows it again)."""
    hidden = _parse_bool(request.form.get("hidden", "1"), "hidden")
    get_kb().set_hidden(pair_id.strip(), hidden)
    flash(f"Pair {pair_id.strip()} is {'hidden' if hidden else 'shown again'}.", "admin")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/pairs/hide")
def hide_pair_by_form() -> Any:
    """The admin home's "hide a pair" form (the id is typed in, so it comes in the body)."""
    return hide_pair(request.form.get("pair_id", ""))


@bp.route("/reingest", methods=["GET", "POST"])
def reingest() -> Any:
    """GET: the re-ingest status. POST: start a re-ingest of the configured sources (409 while one runs)."""
    status = 200
    if request.method == "POST":
        if _start_reingest():
            return redirect(url_for("admin.reingest"), code=303)
        flash("A re-ingest is already running: wait for it to finish.", "admin")
        status = 409
    return render_template("admin/reingest.html", job=get_job(current_app).status(),
                           sources=[str(s) for s in configured_sources(current_app.config)]), status


# -- JSON --------------------------------------------------------------------------------------------------------------
def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


@api_bp.get("/feedback")
def api_feedback() -> Any:
    """``GET /api/admin/feedback?limit=``: ``{"ok": true, "feedback": [row, ...]}`` newest first."""
    return jsonify({"ok": True, "feedback": get_kb().feedback_listing(limit=_limit())})


@api_bp.post("/feedback/<int:feedback_id>")
def api_feedback_status(feedback_id: int) -> Any:
    """``POST /api/admin/feedback/<id>`` with ``{"status": "dismissed" | "active"}``."""
    status = str(_body().get("status", ""))
    get_kb().set_feedback_status(feedback_id, status)
    return jsonify({"ok": True, "id": feedback_id, "status": status})


@api_bp.post("/pairs/<pair_id>/hide")
def api_hide_pair(pair_id: str) -> Any:
    """``POST /api/admin/pairs/<id>/hide`` with ``{"hidden": true | false}`` (default true)."""
    hidden = _parse_bool(_body().get("hidden", True), "hidden")
    get_kb().set_hidden(pair_id, hidden)
    return jsonify({"ok": True, "id": pair_id, "hidden": hidden})


@api_bp.get("/pairs/hidden")
def api_hidden_pairs() -> Any:
    """``GET /api/admin/pairs/hidden``: ``{"ok": true, "pairs": [{"id", "question", "source", "heading"}]}``."""
    return jsonify({"ok": True, "pairs": get_kb().hidden_pairs(limit=_limit())})


@api_bp.route("/reingest", methods=["GET", "POST"])
def api_reingest() -> Any:
    """GET: the re-ingest status. POST: start one (202), or 409 while one runs."""
    if request.method == "POST":
        if not _start_reingest():
            return _api_error(409, "A re-ingest is already running: poll GET /api/admin/reingest until it ends.")
        return jsonify({"ok": True, **get_job(current_app).status()}), 202
    return jsonify({"ok": True, **get_job(current_app).status()})
