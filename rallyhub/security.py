"""The security baseline every response inherits: headers, CSP nonce, session lifetime, logs."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, logout_user
from werkzeug.middleware.proxy_fix import ProxyFix

SESSION_LOGIN_KEY = "_login_ts"
# The secret naming the server's record of a signed-in session (see auth.models.UserSession).
SESSION_ID_KEY = "_sid"


def csp_nonce() -> str:
    """Return this request's Content-Security-Policy nonce."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce: str, tile_host: str | None, frame_ancestors: str) -> str:
    """Build a CSP that allows only this origin, plus the tile host for images."""
    img_sources = "'self' data:" + (f" {tile_host}" if tile_host else "")
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        f"img-src {img_sources}",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors {frame_ancestors}",
    ]
    return "; ".join(directives)


def _set_headers(response):
    config = current_app.config
    frame_ancestors = getattr(g, "frame_ancestors", "'none'")
    if response.status_code == 304:
        # The browser keeps the page it holds with the headers it came with; a new policy
        # (another nonce) would be merged onto that page and block its scripts.
        return response
    response.headers.setdefault(
        "Content-Security-Policy",
        # A page may draw another tile server (a country at risk's own): its view says so.
        content_security_policy(
            csp_nonce(), getattr(g, "tile_host", config.get("TILE_HOST")), frame_ancestors
        ),
    )
    # same-origin: our own forms send a Referer, which Flask-WTF's HTTPS check requires (and
    # without which browsers send "Origin: null"); no other origin, tiles included, ever
    # learns a page's address, so manage-link tokens in paths stay here.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if frame_ancestors == "'none'":
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault(
        "Permissions-Policy", "camera=(), microphone=(), payment=(), geolocation=(self)"
    )
    if config.get("HSTS_ENABLED"):
        response.headers.setdefault(
            "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
        )
    onion = config.get("ONION_ADDRESS")
    if onion and response.mimetype == "text/html":
        # Tor Browser offers the same page over the onion service.
        response.headers.setdefault(
            "Onion-Location", f"http://{onion}{request.full_path.rstrip('?')}"
        )
    if current_user.is_authenticated:
        # Pages for signed-in people can hold personal data: keep them out of shared caches.
        response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def has_session_cookie() -> bool:
    """Whether the visitor holds a session (signed in, or in the middle of a form)."""
    return current_app.config["SESSION_COOKIE_NAME"] in request.cookies


def same_origin_request() -> bool:
    """Whether a browser sent this request from one of our own pages.

    For public forms posted without a session, and so without a CSRF token: browsers say
    where a request comes from (Sec-Fetch-Site, else Origin, else Referer) and pages on other
    sites cannot change that.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site:
        return fetch_site == "same-origin"
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc) == (request.scheme, request.host)


def _enforce_absolute_lifetime():
    """Sign out a session older than the absolute lifetime, however active it was."""
    if not current_user.is_authenticated:
        return
    started = session.get(SESSION_LOGIN_KEY)
    limit = current_app.config["SESSION_ABSOLUTE_LIFETIME"].total_seconds()
    now = datetime.now(UTC).timestamp()
    if started is None or now - float(started) > limit:
        logout_user()
        session.clear()


def start_session(session_secret: str | None = None) -> None:
    """Renew the session at login or logout: drop what it held and start both lifetimes
    afresh, bound to the server's record ``session_secret`` names (at login)."""
    session.clear()
    session.permanent = True
    session[SESSION_LOGIN_KEY] = datetime.now(UTC).timestamp()
    if session_secret:
        session[SESSION_ID_KEY] = session_secret


# Manage links and e-mail tokens travel in paths; they must never reach a log.
_TOKEN_IN_PATH = re.compile(r"/(s|signups|auth/confirm|auth/reset)/[^/\s?\"]+")
_CLIENT_ADDRESS = re.compile(r"^\S+ - - ")
# Query strings hold what people searched for: places, names, e-mails, coordinates.
_QUERY_STRING = re.compile(r"\?[^\s\"]*")


def redact_path(text: str) -> str:
    """Replace the secret tokens in the paths of ``text`` with an ellipsis."""
    return _TOKEN_IN_PATH.sub(r"/\1/…", text)


class PrivacyLogFilter(logging.Filter):
    """Strip client addresses, query strings and secret tokens from the development server's
    access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _private(_CLIENT_ADDRESS.sub("- - - ", record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(
                _private(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def _private(text: str) -> str:
    return redact_path(_QUERY_STRING.sub("", text))


class RateLimitLogFilter(logging.Filter):
    """Drop the client address (the limit's key) from Flask-Limiter's log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and "exceeded at endpoint" in str(record.msg):
            record.msg = "ratelimit %s exceeded at endpoint: %s"
            limit, _key, endpoint = (*record.args, None, None, None)[:3]
            record.args = (limit, endpoint)
        return True


def trust_proxies(app: Flask) -> None:
    """Take scheme, host, port and client address from the configured number of proxies."""
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


class PageSessionInterface(SecureCookieSessionInterface):
    """Signed cookie sessions whose idle lifetime only pages renew.

    Flask re-sends a permanent session's cookie with every answer. A page's background
    requests (map points, feeds, images) carry the cookie the page was loaded with; answered
    after a sign-out, they would put that old cookie back over the new one and drop what the
    new one holds (the "you are signed out" notice). Only HTML answers renew an unchanged
    session; any answer still sends a session it changed.
    """

    def save_session(self, app: Flask, session, response) -> None:
        if not session.modified and response.mimetype != "text/html":
            return
        super().save_session(app, session, response)


def init_security(app: Flask) -> None:
    """Install the security headers, session lifetime checks and log filtering."""
    trust_proxies(app)
    app.session_interface = PageSessionInterface()
    app.before_request(_enforce_absolute_lifetime)
    app.after_request(_set_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, PrivacyLogFilter) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(PrivacyLogFilter())
    limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(f, RateLimitLogFilter) for f in limiter_log.filters):
        limiter_log.addFilter(RateLimitLogFilter())
