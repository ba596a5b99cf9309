"""The web dyno: a Flask app factory. Read it as the table of contents of what the web process does."""

import logging
from datetime import timedelta

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core import config as app_config
from core import logs
from web import (
    api,
    api_reference,
    assets,
    auth,
    csrf,
    database,
    errors,
    exports,
    health,
    home,
    inputs,
    invoicing,
    jobs,
    learn,
    ops_pages,
    portal,
    requests,
    scoring,
    security,
    sync_console,
    urls,
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app from the environment; tests may pass `APP` (a core.config.Config) and Flask settings."""
    logs.setup()
    app = Flask(__name__)
    test_config = dict(test_config or {})
    cfg = test_config.pop("APP", None) or app_config.load()
    app.config.update(
        APP=cfg,
        SECRET_KEY=cfg.require_secret_key(),
        SESSION_COOKIE_SECURE=cfg.environment == "production",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=cfg.session_lifetime_hours),
        # The cookie is signed when the session changes (login, a flash message), not re-signed and
        # re-sent on every response: its lifetime counts from the last change instead of sliding with
        # each click, and a page view costs no signature and no Set-Cookie.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.config.update(test_config)
    cfg.require_app_url()
    if cfg.forwarded_hops():
        # The client address is the rightmost X-Forwarded-For entries the router added, never one a
        # client wrote itself (web/rate_limits.py); gunicorn already handles X-Forwarded-Proto.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg.forwarded_hops(), x_proto=0, x_host=0, x_port=0, x_prefix=0)

    requests.init_app(app)
    database.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    assets.init_app(app)
    urls.init_app(app)
    csrf.init_app(app)
    inputs.init_app(app)
    ops_pages.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(learn.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(invoicing.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_reference.bp)
    app.register_blueprint(sync_console.bp)
    app.register_blueprint(scoring.bp)
    logging.getLogger(__name__).info("web app ready (schema %s)", cfg.connect_schema)
    return app
