"""Operators' logs: a text line a record, or one JSON object a line (``LOG_FORMAT=json``).

Every answer carries an ``X-Request-ID``: the one the proxy (or client) sent when it is a short
token, else a new one. With JSON, each request is written as one line (time, level, method,
endpoint, status, duration_ms, request_id) and every other record as a line with the id of
the request it was written in, so that a request's story can be read back by its id.

What never reaches these lines: the client's address, the query string, the path at all (the
route's endpoint name stands for it, and tokens in any message's paths are redacted), or an
exception's message, which can quote what a person typed (a database error quotes the values
of its statement): only the exception's class and where it was raised are written.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
import traceback
from datetime import UTC, datetime

from flask import Flask, Response, current_app, has_request_context, request
from flask.logging import default_handler

from rallyhub.security import redact_path

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id looks like (nginx's $request_id, a UUID): anything else could carry text
# into every line of the request, so it is replaced.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Kept in the request's environ: ``g`` can outlive a request.
_REQUEST_ID = "rallyhub.request_id"
_STARTED = "rallyhub.logs.started"
# The fields of a request's line, as attributes of its log record.
REQUEST_FIELDS = ("method", "endpoint", "status", "duration_ms")

request_log = logging.getLogger("rallyhub.requests")


def init_logs(app: Flask) -> None:
    """Set up the process's logging in ``app``'s ``LOG_FORMAT``; give requests their ids."""
    root = logging.getLogger()
    # The process logs the way its latest app says (one in production; many in tests).
    for handler in [h for h in root.handlers if isinstance(h, JsonLogHandler)]:
        root.removeHandler(handler)
    if app.config["LOG_FORMAT"] == "json":
        root.addHandler(JsonLogHandler())
        root.setLevel(logging.INFO)
        app.logger.removeHandler(default_handler)
    elif not app.logger.handlers or app.config["RALLYHUB_ENV"] == "production":
        logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
        # The app's logger is "rallyhub", parent of every module's: with Flask's own handler
        # on it too, each line would be written twice.
        app.logger.removeHandler(default_handler)
    app.before_request(_begin)
    app.after_request(_finish)


def request_id() -> str | None:
    """The id of the current request (None outside one, or before it began)."""
    return request.environ.get(_REQUEST_ID) if has_request_context() else None


def _begin() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    safe = _SAFE_REQUEST_ID.fullmatch(given)
    request.environ[_REQUEST_ID] = given if safe else secrets.token_hex(16)
    request.environ[_STARTED] = time.perf_counter()


def _finish(response: Response) -> Response:
    started = request.environ.get(_STARTED)
    if started is None:
        return response
    response.headers[REQUEST_ID_HEADER] = request.environ[_REQUEST_ID]
    if current_app.config["LOG_FORMAT"] == "json":
        fields = {
            "method": request.method[:16],
            "endpoint": request.endpoint,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        request_log.info(
            "%s %s %s", fields["method"], fields["endpoint"], fields["status"], extra=fields
        )
    return response


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON, without the personal data a message could carry."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_path(record.getMessage()),
        }
        for field in REQUEST_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if getattr(record, "request_id", None):
            entry["request_id"] = record.request_id
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["traceback"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _with_request_id(record: logging.LogRecord) -> bool:
    if not hasattr(record, "request_id"):
        record.request_id = request_id()
    return True


class JsonLogHandler(logging.StreamHandler):
    """JSON lines to standard error: the process's ``sys.stderr`` at each record."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)
        self.setFormatter(JsonFormatter())
        self.addFilter(_with_request_id)

    @property
    def stream(self):  # type: ignore[override]
        # Looked up each time, as logging's last-resort handler does, so that a stream
        # replaced after set-up (gunicorn's, pytest's) is the one written to.
        return sys.stderr
