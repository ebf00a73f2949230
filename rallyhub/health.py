"""The health checks that load balancers and orchestrators poll.

- ``/healthz/live``: the process answers (no dependency is asked): restart it when this fails.
- ``/healthz/ready``: it can serve: the database answers, Redis answers when ``REDIS_URL`` is
  set, and no e-mail has waited in the outbox longer than ``READY_MAX_QUEUE_AGE_S`` (0: not
  checked). Send it traffic only while this answers 200.
- ``/healthz``: the readiness check, answering as it always has (``status`` and ``database``,
  plus ``failed`` when another check failed).

None of them is rate-limited, sets a cookie or names anything but the checks.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from rallyhub.delivery import redis_connection
from rallyhub.extensions import db, limiter
from rallyhub.metrics import outbox_oldest_queued_age_s

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz/live")
@limiter.exempt
def live():
    """200 while the process answers requests."""
    return jsonify(status="ok")


@bp.route("/healthz/ready")
@limiter.exempt
def ready():
    """200 with each check when all pass, 503 naming the ones that failed."""
    checks, failed = _readiness()
    if failed:
        return jsonify(status="unavailable", checks=checks, failed=failed), 503
    return jsonify(status="ok", checks=checks)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """The readiness check in the answer's first form: 200 when ready, 503 otherwise."""
    checks, failed = _readiness()
    if failed:
        return jsonify(status="unavailable", database=checks["database"], failed=failed), 503
    return jsonify(status="ok", database=True)


def _readiness() -> tuple[dict[str, bool], list[str]]:
    checks = readiness_checks()
    return checks, [name for name, passed in checks.items() if not passed]


def readiness_checks() -> dict[str, bool]:
    """Whether each dependency of serving answers, by name, in the order they are asked."""
    checks = {"database": _database_answers()}
    if current_app.config.get("REDIS_URL"):
        checks["redis"] = _redis_answers()
    limit = current_app.config.get("READY_MAX_QUEUE_AGE_S") or 0
    # The outbox lives in the database: without it there is nothing to read.
    if limit > 0 and checks["database"]:
        checks["outbox"] = _outbox_is_moving(limit)
    return checks


def _database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("health check: database unreachable")
        return False
    return True


def _redis_answers() -> bool:
    from redis.exceptions import RedisError

    client = redis_connection(current_app)
    try:
        client.ping()
    except (RedisError, OSError):
        log.warning("health check: Redis unreachable")
        return False
    finally:
        client.close()
    return True


def _outbox_is_moving(limit_s: float) -> bool:
    try:
        age = outbox_oldest_queued_age_s()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("health check: the outbox could not be read")
        return False
    if age > limit_s:
        log.warning("health check: the oldest queued e-mail waited %.0f s", age)
        return False
    return True
