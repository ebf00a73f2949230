"""Delivering the outbox: SMTP or files, after the commit, from RQ workers or a thread.

After a commit that wrote messages, the new ones are handed on, outside the request:

- ``queue`` (production): one RQ job a message on the Redis that production already has,
  run by ``flask rallyhub worker``; the sweep (``flask rallyhub scheduler``, every minute)
  queues again whatever is due and not sent (Redis down at commit time, a retry's backoff);
- ``background``: a thread of the process (``make run``, or one process without Redis);
- ``immediate``: within the commit (tests read the mail when the request returns).

The transport is SMTP when ``SMTP_URL`` is set (STARTTLS, the certificate verified),
otherwise ``.eml`` files in ``OUTBOX_DIR``. A sender leases a message before it sends it and
marks it sent after, so a retry, a second worker or a re-run never sends it twice; an address
the server refuses for good (5xx) is not retried.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from queue import Empty, SimpleQueue
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, has_app_context
from sqlalchemy import case, event, func, select, update
from sqlalchemy.orm import Session

from rallyhub.extensions import db
from rallyhub.mail import (
    FORGOTTEN_WHEN_SENT,
    NEW_MESSAGES,
    OutboxMessage,
    OutboxState,
    header_text,
)
from rallyhub.models import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
# A message handed to the job queue is handed on again by the sweep only after this long.
REQUEUE_AFTER = timedelta(minutes=5)


def build_message(
    to: str,
    subject: str,
    body: str,
    *,
    message_id: int | None = None,
    calendar: str | None = None,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """Build a plain-text UTF-8 message, with its calendar file and unsubscribe link if any.

    The Message-ID is derived from the outbox row, so that a copy sent twice after a crash
    between sending and marking it sent is one message to the recipient's mail program.
    """
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = header_text(to)
    message["Subject"] = header_text(subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = urlsplit(current_app.config.get("BASE_URL") or "").hostname or "rallyhub.local"
    message["Message-ID"] = (
        f"<outbox-{message_id}@{domain}>" if message_id else make_msgid(domain=domain)
    )
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(body)
    if calendar:
        message.add_attachment(
            calendar.encode(), maintype="text", subtype="calendar", filename="rally.ics"
        )
    return message


def _transport(message: EmailMessage) -> None:
    smtp_url = current_app.config.get("SMTP_URL")
    if smtp_url:
        _send_smtp(smtp_url, message)
        return
    outbox = Path(current_app.config["OUTBOX_DIR"])
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = outbox / f"{stamp}-{secrets.token_hex(4)}.eml"
    path.write_bytes(bytes(message))


def _send_smtp(url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 587)
    timeout = current_app.config["SMTP_TIMEOUT_S"]
    # A verifying context: smtplib's default for STARTTLS accepts any certificate.
    context = ssl.create_default_context()
    host = parts.hostname or "localhost"
    if secure:
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if not secure and port != 25:
            client.starttls(context=context)
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failure, at most six hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def _refused_for_good(error: Exception) -> bool:
    """Whether the mail server refused the message permanently (a 5xx answer)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _text in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600


def deliver_one(message_id: int) -> bool:
    """Send one queued message if no other sender holds it; True when it went out.

    The lease (a conditional UPDATE) lets one sender at a time take a message; once sent it is
    marked so, and nobody takes it again.
    """
    table = OutboxMessage.__table__
    now = utcnow()
    with db.engine.begin() as connection:
        row = connection.execute(
            update(table)
            .where(
                table.c.id == message_id,
                table.c.state == OutboxState.QUEUED,
                table.c.next_attempt_dt <= now,
            )
            # Leased: a sender that dies mid-send frees it when the lease runs out.
            .values(
                next_attempt_dt=now + timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"]),
                attempts=table.c.attempts + 1,
            )
            .returning(
                table.c.recipient,
                table.c.subject,
                table.c.body,
                table.c.calendar,
                table.c.unsubscribe_url,
                table.c.attempts,
            )
        ).first()
    if row is None:
        return False
    try:
        _transport(
            build_message(
                row.recipient,
                row.subject,
                row.body,
                message_id=message_id,
                calendar=row.calendar,
                unsubscribe_url=row.unsubscribe_url,
            )
        )
    except Exception as error:
        _record_failure(message_id, row.attempts, error)
        return False
    forget = table.c.kind.in_(FORGOTTEN_WHEN_SENT)
    with db.engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.id == message_id)
            .values(
                state=OutboxState.SENT,
                sent_dt=utcnow(),
                last_error="",
                recipient=case((forget, ""), else_=table.c.recipient),
                subject=case((forget, ""), else_=table.c.subject),
                body=case((forget, ""), else_=table.c.body),
            )
        )
    log.info("mail %s delivered", message_id)
    return True


def _record_failure(message_id: int, attempts: int, error: Exception) -> None:
    table = OutboxMessage.__table__
    given_up = attempts >= MAX_ATTEMPTS or _refused_for_good(error)
    values = {"last_error": type(error).__name__[:100]}
    if given_up:
        values["state"] = OutboxState.FAILED
    else:
        # The sweep hands it to the queue again once the backoff is over.
        values["next_attempt_dt"] = utcnow() + _backoff(attempts)
        values["queued_dt"] = None
    with db.engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == message_id).values(**values))
    if given_up:
        log.error("mail %s not delivered for good (%s)", message_id, type(error).__name__)
    else:
        log.warning(
            "mail %s not delivered (attempt %d: %s); kept for a retry",
            message_id,
            attempts,
            type(error).__name__,
        )


def due_message_ids(limit: int = 100, *, unqueued_only: bool = False) -> list[int]:
    """Messages a sender may take now, oldest first; with ``unqueued_only``, only those not
    handed to the job queue lately (what the sweep hands on)."""
    now = utcnow()
    query = select(OutboxMessage.id).where(
        OutboxMessage.state == OutboxState.QUEUED, OutboxMessage.next_attempt_dt <= now
    )
    if unqueued_only:
        query = query.where(
            (OutboxMessage.queued_dt.is_(None)) | (OutboxMessage.queued_dt < now - REQUEUE_AFTER)
        )
    with db.engine.connect() as connection:
        return list(connection.scalars(query.order_by(OutboxMessage.id).limit(limit)))


def deliver_due(limit: int = 100, ids: Iterable[int] | None = None) -> tuple[int, int]:
    """Try the due messages; return how many were sent and how many were tried."""
    tried = sent = 0
    for message_id in ids if ids is not None else due_message_ids(limit):
        tried += 1
        sent += deliver_one(message_id)
    return sent, tried


def forget_delivered(hours: float) -> int:
    """Blank the address and text of messages delivered (or refused) over ``hours`` ago; their
    key and kind stay, so that nothing is written twice. Returns how many were blanked."""
    table = OutboxMessage.__table__
    cutoff = utcnow() - timedelta(hours=hours)
    result = db.session.execute(
        update(table)
        .where(
            table.c.state != OutboxState.QUEUED,
            func.coalesce(table.c.sent_dt, table.c.next_attempt_dt) < cutoff,
            table.c.recipient != "",
        )
        .values(recipient="", subject="", body="", calendar=None, unsubscribe_url=None)
    )
    return result.rowcount


# -- the job queue ---------------------------------------------------------------------------


def redis_connection(app: Flask):
    """A Redis client for the configured ``REDIS_URL``."""
    from redis import Redis

    return Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)


def job_queue(app: Flask):
    """The RQ queue that mail jobs go through (``MAIL_QUEUE``), one per process and app.

    Kept, its Redis pool keeps connections open from one sign-up to the next (a forked worker
    starts its own) and RQ asks the server's version once: a new client per message cost a
    connection and an INFO round trip every time.
    """
    key = (app.config["REDIS_URL"], app.config["MAIL_QUEUE"])
    kept = app.extensions.get("rallyhub.job_queue")
    if kept is None or kept[0] != key:
        from rq import Queue

        kept = (key, Queue(key[1], connection=redis_connection(app)))
        app.extensions["rallyhub.job_queue"] = kept
    return kept[1]


# Messages a job sends: few enough that workers share a burst, many enough that 5,000 of them
# are queued in a fraction of a second.
JOB_SIZE = 25


def enqueue(app: Flask, ids: list[int], *, marked: bool = False) -> bool:
    """Hand messages to the RQ workers in one round trip, ``JOB_SIZE`` a job, and record that
    they were; False when Redis did not answer (the sweep queues them again at its next pass).

    ``marked``: the messages were written as handed on already (``queued_dt``, by
    :func:`rallyhub.mail.queue_messages` after a request's commit), so the common case costs
    no second transaction and only a failure writes.
    """
    from redis.exceptions import RedisError
    from rq import Queue

    queue = job_queue(app)
    try:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(
                [
                    Queue.prepare_data(
                        "rallyhub.tasks.deliver_messages",
                        args=(ids[start : start + JOB_SIZE],),
                        result_ttl=0,
                        failure_ttl=24 * 3600,
                    )
                    for start in range(0, len(ids), JOB_SIZE)
                ],
                pipeline=pipe,
            )
            pipe.execute()
    except RedisError as error:
        log.warning("mail queue unreachable (%s); the sweep sends later", type(error).__name__)
        if marked:
            _mark_queued(ids, None)
        return False
    if not marked:
        _mark_queued(ids, utcnow())
    return True


def _mark_queued(ids: list[int], when: datetime | None) -> None:
    """Record when messages were handed to the job queue (None: not, so the sweep hands them
    on at its next pass)."""
    table = OutboxMessage.__table__
    with db.engine.begin() as connection:
        for start in range(0, len(ids), 1000):
            batch = ids[start : start + 1000]
            connection.execute(update(table).where(table.c.id.in_(batch)).values(queued_dt=when))


# -- delivery after the commit ---------------------------------------------------------------


class _Courier:
    """One thread per process that delivers the outbox whenever a commit wrote to it."""

    def __init__(self) -> None:
        self._wakeups: SimpleQueue[Flask] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Wake-ups not yet worked through; 0 means the courier holds no connection.
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def wake(self, app: Flask) -> None:
        with self._lock:
            # Started lazily, so that a process forked from a preloaded app gets its own.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="rallyhub-mail", daemon=True)
                self._thread.start()
            self._pending += 1
        self._wakeups.put(app)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every wake-up so far has been worked through; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            app = self._wakeups.get()
            apps, taken = {id(app): app}, 1
            # Many commits in a burst need one pass, not one each.
            while True:
                try:
                    other = self._wakeups.get_nowait()
                except Empty:
                    break
                apps[id(other)] = other
                taken += 1
            for each in apps.values():
                with each.app_context():
                    try:
                        deliver_due()
                    except Exception:
                        log.exception("mail delivery pass failed")
                    finally:
                        db.session.remove()
            with self._idle:
                self._pending -= taken
                self._idle.notify_all()


_courier = _Courier()


def wait_for_delivery(timeout: float = 30.0) -> bool:
    """Wait until this process's background deliveries are done (tests, a clean shutdown)."""
    return _courier.wait_idle(timeout)


def _after_commit(session: Session) -> None:
    ids = session.info.pop(NEW_MESSAGES, None)
    if not ids or not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mode = app.config["MAIL_DELIVERY"]
    if mode == "immediate":
        # Tests: the message is out when the request returns. The session that just
        # committed cannot run SQL here; delivery uses connections of its own.
        deliver_due()
    elif mode == "queue":
        enqueue(app, ids, marked=True)
    else:
        _courier.wake(app)


def _after_rollback(session: Session, _previous_transaction) -> None:
    session.info.pop(NEW_MESSAGES, None)


def init_mail(app: Flask) -> None:
    """Deliver the outbox after every commit that wrote to it."""
    if app.config["MAIL_DELIVERY"] not in ("queue", "background", "immediate"):
        raise ValueError("MAIL_DELIVERY must be 'queue', 'background' or 'immediate'")
    if app.config["MAIL_DELIVERY"] == "queue" and not app.config.get("REDIS_URL"):
        raise ValueError("MAIL_DELIVERY 'queue' needs REDIS_URL")
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
