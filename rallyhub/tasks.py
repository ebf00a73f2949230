"""The work RQ runs outside web requests: delivering mail, and the sweep every minute.

``flask rallyhub worker`` runs the jobs with the application's context already pushed; a plain
``rq worker`` works too (each job then builds the application once per process). The sweep is
put on the queue by ``flask rallyhub scheduler`` (RQ's cron scheduler), never by a loop in a
web process. Every job may run twice or in two workers at once and still does its work once:
messages are leased and marked sent, reminders have a unique key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TypeVar

from flask import Flask, current_app, has_app_context

from rallyhub import delivery
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.signups import digests, notices, reminders
from rallyhub.signups import safety as safety_checkins
from rallyhub.signups.services import purge_at_risk

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 60
T = TypeVar("T")
_app: Flask | None = None


def _context() -> AbstractContextManager:
    """The application's context: the worker's own, or one built once for this process."""
    global _app
    if has_app_context():
        return nullcontext()
    if _app is None:
        from rallyhub import create_app

        _app = create_app()
    return _app.app_context()


def _in_app(work: Callable[[], T]) -> T:
    with _context():
        try:
            return work()
        finally:
            db.session.remove()


def deliver_messages(message_ids: list[int]) -> int:
    """RQ job: send queued messages (skipping those sent or held by another); how many went."""
    return _in_app(lambda: delivery.deliver_due(ids=message_ids)[0])


def sweep(now: datetime | None = None) -> dict[str, int]:
    """RQ job, every minute: write the reminders, digests and safety check-ins that are due,
    queue again the messages that are due and not handed on, and blank delivered ones past
    their keeping time."""

    def work() -> dict[str, int]:
        moment = now or utcnow()
        written = reminders.queue_due_reminders(moment)
        digested = digests.queue_due_digests(moment)
        checkins = safety_checkins.queue_due_checkins(moment)
        blanked = delivery.forget_delivered(current_app.config["MAIL_KEEP_SENT_HOURS"])
        purged = purge_at_risk(moment)
        released = notices.queue_released_meeting_points(moment)
        db.session.commit()
        due = delivery.due_message_ids(limit=10_000, unqueued_only=True)
        if due and current_app.config["MAIL_DELIVERY"] == "queue":
            delivery.enqueue(current_app._get_current_object(), due)
        elif due:
            delivery.deliver_due(ids=due)
        counts = {
            "reminders": written,
            "digests": digested,
            "checkins": checkins,
            "requeued": len(due),
            "blanked": blanked,
            "purged": purged,
            "released": released,
        }
        log.info("sweep: %(reminders)d reminders, %(requeued)d requeued", counts)
        return counts

    return _in_app(work)
