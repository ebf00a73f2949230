"""The error hierarchy services raise, and handlers that answer HTML or JSON."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, SecurityError

from rallyhub.extensions import db

log = logging.getLogger(__name__)


class RallyhubError(Exception):
    """Base of the errors a person can be told about."""

    status = 400
    default_message = _l("The request could not be processed.")

    def __init__(self, message: str | None = None, *, field: str | None = None):
        super().__init__(message)
        self.message = message or str(self.default_message)
        self.field = field


class UserError(RallyhubError):
    """The input was wrong in a way the person can fix."""

    status = 400


class NotAllowed(RallyhubError):
    """The person may not do this."""

    status = 403
    default_message = _l("You are not allowed to do this.")


class NotFound(RallyhubError):
    """The thing asked for does not exist, or is not visible to this person."""

    status = 404
    default_message = _l("We could not find what you were looking for.")


class Busy(RallyhubError):
    """The service is temporarily overloaded; trying again shortly will work."""

    status = 503
    default_message = _l("rallyhub is busy right now. Please try again in a few seconds.")

    def __init__(self, message: str | None = None, *, retry_after: int = 5, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


TITLES = {
    400: _l("Bad request"),
    403: _l("Not allowed"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    413: _l("Too large"),
    429: _l("Too many requests"),
    500: _l("Something went wrong"),
    503: _l("Busy"),
}

MESSAGES = {
    400: _l("The request could not be understood. Please check what you sent and try again."),
    403: _l("You are not allowed to see this page."),
    404: _l("We could not find that page. The link may be wrong or the page was removed."),
    405: _l("This address does not accept that kind of request."),
    413: _l("What you sent is too large. Please send something smaller."),
    429: _l("Too many attempts in a short time. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. It has been logged; please try again later."),
    503: _l("rallyhub is busy right now. Please try again in a few seconds."),
}


def wants_json() -> bool:
    """Whether the client prefers JSON to HTML (API paths always do)."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, field: str | None = None):
    """Render an error as JSON or as the HTML error page, with ``status``."""
    if wants_json():
        body: dict[str, str] = {"error": message}
        if field:
            body["parameter"] = field
        response = jsonify(body)
    else:
        response = render_template(
            "errors/error.html", status=status, title=TITLES.get(status, ""), message=message
        )
    return response, status


def _is_lock_timeout(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text or "lock timeout" in text


def register_error_handlers(app: Flask) -> None:
    """Answer every error with a page or JSON that says what happened, never a traceback."""

    @app.errorhandler(RallyhubError)
    def handle_rallyhub_error(error: RallyhubError):
        db.session.rollback()
        response, status = error_response(error.status, error.message, error.field)
        if isinstance(error, Busy):
            return response, status, {"Retry-After": str(error.retry_after)}
        return response, status

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        db.session.rollback()
        return error_response(
            400,
            str(
                _l(
                    "Your form expired or was sent from somewhere else. "
                    "Please go back, reload the page and try again."
                )
            ),
        )

    @app.errorhandler(SecurityError)
    def handle_untrusted_host(_error: SecurityError):
        # No URL can be built for a host we do not serve, so no page either: plain words.
        return Response(
            "400 Bad Request: this site is not served under that host name.\n",
            400,
            mimetype="text/plain",
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        db.session.rollback()
        status = error.code or 500
        message = MESSAGES.get(status) or error.description or ""
        response, status = error_response(status, str(message))
        headers = {}
        if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        if status in (429, 503):
            # The error's own wait (Flask-Limiter's time to the window's reset, say), else ours.
            own = dict(error.get_headers()).get("Retry-After")
            if own is None and error.response is not None:
                own = error.response.headers.get("Retry-After")
            headers["Retry-After"] = own or ("60" if status == 429 else "5")
        return response, status, headers

    @app.errorhandler(OperationalError)
    def handle_operational_error(error: OperationalError):
        db.session.rollback()
        if _is_lock_timeout(error):
            log.warning("database stayed busy; answered 503")
            return handle_rallyhub_error(Busy())
        log.exception("database error")
        return error_response(500, str(MESSAGES[500]))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return error_response(500, str(MESSAGES[500]))
