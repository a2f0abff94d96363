"""The Flask app factory: layered config, one KB per process, security headers, blueprints."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app

from kb import settings

if TYPE_CHECKING:
    from kb.service import KBService

# Strict CSP: the templates have no inline scripts, styles or event handlers, so nothing needs 'unsafe-inline'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(test_config: dict[str, Any] | None = None, kb: KBService | None = None) -> Flask:
    """Build the web app (HTML UI + JSON API).

    Config layers, later wins: ``kb.settings.load()`` defaults (and ``KB_*`` env) -> ``instance/config.py``
    (optional) -> ``KB_*`` env again through ``from_prefixed_env`` (JSON-parsed values) -> ``test_config``.

    Args:
        test_config: mapping that overrides everything (tests, ``kb serve`` flags).
        kb: a ready KB service (tests pass a fake); without it ``kb.app.KB.open(app.config)`` runs on first use.

    Returns:
        The Flask app; the KB lives in ``app.extensions["kb"]``.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(settings.load())
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("KB")
    if test_config is not None:
        app.config.from_mapping(test_config)

    app.extensions["kb"] = kb
    app.extensions["kb_lock"] = threading.Lock()

    from webapp import api
    from webapp import errors
    from webapp import onboarding
    from webapp import views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(onboarding.bp)
    from webapp import admin
    from webapp import catalog
    from webapp import ratelimit

    for blueprint in (ratelimit.bp, catalog.bp, admin.bp, admin.api_bp):
        app.register_blueprint(blueprint)
    errors.init_app(app)
    from webapp import slack

    slack.init_app(app)
    app.after_request(_security_headers)
    return app


def get_kb() -> KBService:
    """The app's KB service, opened once per process on first use.

    Returns:
        The object stored in ``current_app.extensions["kb"]``.

    Raises:
        kb.errors.KBError: opening the real KB failed (e.g. IndexNotBuilt: run `kb ingest` first).
    """
    app = current_app
    kb = app.extensions.get("kb")
    if kb is None:
        with app.extensions["kb_lock"]:
            kb = app.extensions.get("kb")
            if kb is None:
                # Imported here so the webapp (and its tests) load without the real KB's heavy deps.
                from kb.app import KB

                kb = KB.open(app.config)
                app.extensions["kb"] = kb
    return kb


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
