"""Operators' metrics in Prometheus's text format at ``/metrics``.

Off unless ``METRICS_ENABLED`` (then 404, like any address we do not serve); on, only a request
carrying ``Authorization: Bearer <METRICS_TOKEN>`` is answered. What is measured holds no one's
data: requests are counted and timed by the route's endpoint name, the method and the status
class (``2xx``), never by path, id, account or address.

Two kinds of numbers:

- *Requests* (``rallyhub_http_requests_total``, ``rallyhub_http_request_duration_seconds``)
  are counted in the process that answers them. gunicorn runs several worker processes and
  a scrape reaches one of them: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory of
  this host (one per gunicorn, emptied before it starts) and every worker writes its counts
  there, and a scrape adds them up (prometheus_client's multiprocess mode). Each instance
  reports its own requests: Prometheus adds instances up.
- *The outbox and sign-ups* are read from the database at scrape time, so they are right
  whichever process or instance answers (each instance reports the same, shared, values).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from datetime import timedelta

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from rallyhub.extensions import db, limiter
from rallyhub.mail import OutboxMessage, OutboxState
from rallyhub.models import utcnow

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Where a request's start time waits for its answer (the environ is the request's own).
_STARTED = "rallyhub.metrics.started"
# Any other method becomes "other": a client must not be able to make new series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request no route matched (404, 405) has no endpoint.
UNMATCHED = "unmatched"
# Pages answer in tens of milliseconds; exports and uploads take seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Sign-ups are counted by table name only, as the outbox refers to them: this module knows
# no area.
SIGNUPS_TABLE = "signups"


class _Instruments:
    """The request counter and latency histogram of one app."""

    def __init__(self, registry: CollectorRegistry | None):
        labels = ("endpoint", "method", "status")
        self.requests = Counter(
            "rallyhub_http_requests",
            "Requests answered, by endpoint, method and status class.",
            labels,
            registry=registry,
        )
        self.duration = Histogram(
            "rallyhub_http_request_duration_seconds",
            "Time to produce an answer (a streamed body aside), by endpoint, method and status "
            "class.",
            labels,
            buckets=BUCKETS,
            registry=registry,
        )


def init_metrics(app: Flask) -> None:
    """Count and time every request of ``app`` and serve ``/metrics``."""
    multiprocess_mode = bool(os.environ.get(MULTIPROCESS_DIR))
    # Multiprocess values live in the directory's files, not in a registry; otherwise each
    # app has its own, so that apps built side by side (tests) never share counts.
    registry = None if multiprocess_mode else CollectorRegistry()
    app.extensions["rallyhub.metrics"] = (_Instruments(registry), registry)
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _observe(response: Response) -> Response:
    started = request.environ.get(_STARTED)
    if started is None:
        return response
    instruments, _registry = current_app.extensions["rallyhub.metrics"]
    labels = (
        request.endpoint or UNMATCHED,
        request.method if request.method in METHODS else "other",
        f"{response.status_code // 100}xx",
    )
    instruments.requests.labels(*labels).inc()
    instruments.duration.labels(*labels).observe(time.perf_counter() - started)
    return response


@bp.get("/metrics")
@limiter.exempt
def metrics():
    """The metrics in Prometheus's text format, for the holder of the metrics token."""
    config = current_app.config
    if not config.get("METRICS_ENABLED"):
        abort(404)
    denied = _denial(config.get("METRICS_TOKEN"))
    if denied:
        return denied
    response = Response(generate_latest(_scrape_registry()), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def _denial(expected: str | None) -> Response | None:
    """A 401 without a bearer token, a 403 with a wrong one; None for the right one."""
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Response(
            "401 Unauthorized: send the metrics token as 'Authorization: Bearer <token>'.\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    # Bytes, so that a token with characters beyond ASCII is refused rather than raising.
    if not expected or not hmac.compare_digest(given.strip().encode(), str(expected).encode()):
        return Response("403 Forbidden: wrong metrics token.\n", 403, mimetype="text/plain")
    return None


def _scrape_registry() -> CollectorRegistry:
    """A registry of this scrape: the requests (of every worker) and the database's numbers."""
    registry = CollectorRegistry()
    directory = os.environ.get(MULTIPROCESS_DIR)
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry.register(current_app.extensions["rallyhub.metrics"][1])
    registry.register(DatabaseCollector())
    return registry


def outbox_oldest_queued_age_s(now=None) -> float:
    """Seconds since the oldest message still waiting to go out was written; 0 when none."""
    oldest = db.session.scalar(
        select(func.min(OutboxMessage.created_dt)).where(OutboxMessage.state == OutboxState.QUEUED)
    )
    if oldest is None:
        return 0.0
    return max(0.0, ((now or utcnow()) - oldest).total_seconds())


class DatabaseCollector:
    """Gauges read from the database at each scrape: the same whichever process answers."""

    def collect(self):
        up = GaugeMetricFamily(
            "rallyhub_database_up", "1 when the database answered this scrape's queries."
        )
        try:
            families = list(self._read())
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("metrics: the database did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self):
        now = utcnow()
        counts = dict(
            db.session.execute(
                select(OutboxMessage.state, func.count())
                # Sent messages are left out: their total only grows, and counting it would
                # read the whole table at every scrape.
                .where(OutboxMessage.state.in_((OutboxState.QUEUED, OutboxState.FAILED)))
                .group_by(OutboxMessage.state)
            ).all()
        )
        by_state = GaugeMetricFamily(
            "rallyhub_outbox_messages",
            "E-mails in the outbox by state: queued (the queue's depth: waiting or being "
            "retried) and failed (refused for good).",
            labels=["state"],
        )
        for state in (OutboxState.QUEUED, OutboxState.FAILED):
            by_state.add_metric([state.value], counts.get(state, 0))
        yield by_state

        retrying = db.session.scalar(
            select(func.count()).where(
                OutboxMessage.state == OutboxState.QUEUED, OutboxMessage.attempts > 0
            )
        )
        yield GaugeMetricFamily(
            "rallyhub_outbox_retrying_messages",
            "Queued e-mails whose delivery failed at least once and will be tried again.",
            value=retrying or 0,
        )
        yield GaugeMetricFamily(
            "rallyhub_outbox_oldest_queued_age_seconds",
            "Age of the oldest e-mail still waiting to go out; 0 when none waits.",
            value=outbox_oldest_queued_age_s(now),
        )

        signups = db.metadata.tables[SIGNUPS_TABLE]
        recent = db.session.scalar(
            select(func.count())
            .select_from(signups)
            .where(signups.c.created_dt >= now - timedelta(minutes=1))
        )
        yield GaugeMetricFamily(
            "rallyhub_signups_last_minute",
            "Sign-ups made in the last minute (a cancelled one joining again counts anew).",
            value=recent or 0,
        )
