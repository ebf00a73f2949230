"""Outgoing e-mail through a durable outbox.

Services call :func:`send_mail`, which only adds a row to ``outbox_messages`` in the current
transaction: rolled back, nothing is sent; committed, it will be sent. After the commit the
message is handed to a transport (SMTP when ``SMTP_URL`` is set, otherwise ``.eml`` files in
``OUTBOX_DIR``) outside the request: a slow or dead mail server never fails or slows the
request that wrote the message. A message that could not be delivered stays in the outbox and
is retried with backoff (``flask rallyhub send-mail``, and after later deliveries); a delivered
one is deleted at once, so no manage link lingers in the database.
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
from sqlalchemy import String, Text, delete, event, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, utcnow

log = logging.getLogger(__name__)

# A message being sent is leased for this long; a worker that dies mid-send frees it then.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 10
_NEW = "rallyhub.outbox.new"


class OutboxMessage(db.Model):
    """An e-mail written by a committed change and not yet delivered."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    # When a sender may next take the message: now for new ones, later after a failure or
    # while another sender holds it.
    next_attempt_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The kind of the last failure (an exception's class name: never an address or a body).
    last_error: Mapped[str] = mapped_column(String(100), default="")


def header_text(text: str) -> str:
    """``text`` on one line: CR, LF and other breaks become spaces (they would forge headers)."""
    return " ".join(str(text).split())


def send_mail(to: str, subject: str, body: str) -> OutboxMessage:
    """Queue a plain-text message; it is delivered once the current transaction commits."""
    message = OutboxMessage(
        recipient=header_text(to)[:254],
        subject=header_text(subject)[:300],
        body=body,
        next_attempt_dt=utcnow(),
    )
    db.session.add(message)
    db.session.info[_NEW] = True
    return message


def build_message(to: str, subject: str, body: str) -> EmailMessage:
    """Build a plain-text UTF-8 message."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="rallyhub.local")
    message.set_content(body)
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


def deliver_one(message_id: int) -> bool:
    """Send one queued message if no other sender holds it; True when it went out."""
    table = OutboxMessage.__table__
    now = utcnow()
    with db.engine.begin() as connection:
        row = connection.execute(
            update(table)
            .where(table.c.id == message_id, table.c.next_attempt_dt <= now)
            .values(next_attempt_dt=now + LEASE, attempts=table.c.attempts + 1)
            .returning(table.c.recipient, table.c.subject, table.c.body, table.c.attempts)
        ).first()
    if row is None:
        return False
    try:
        _transport(build_message(row.recipient, row.subject, row.body))
    except Exception as error:
        given_up = row.attempts >= MAX_ATTEMPTS
        with db.engine.begin() as connection:
            if given_up:
                connection.execute(delete(table).where(table.c.id == message_id))
            else:
                connection.execute(
                    update(table)
                    .where(table.c.id == message_id)
                    .values(
                        next_attempt_dt=utcnow() + _backoff(row.attempts),
                        last_error=type(error).__name__[:100],
                    )
                )
        if given_up:
            log.error("mail %s dropped after %d attempts", message_id, row.attempts)
        else:
            log.warning(
                "mail %s not delivered (attempt %d: %s); kept for a retry",
                message_id,
                row.attempts,
                type(error).__name__,
            )
        return False
    with db.engine.begin() as connection:
        connection.execute(delete(table).where(table.c.id == message_id))
    log.info("mail %s delivered", message_id)
    return True


def due_message_ids(limit: int = 100) -> list[int]:
    """Messages a sender may take now, oldest first."""
    with db.engine.connect() as connection:
        return list(
            connection.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.next_attempt_dt <= utcnow())
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        )


def deliver_due(limit: int = 100, ids: Iterable[int] | None = None) -> tuple[int, int]:
    """Try the due messages; return how many were sent and how many were tried."""
    tried = sent = 0
    for message_id in ids if ids is not None else due_message_ids(limit):
        tried += 1
        sent += deliver_one(message_id)
    return sent, tried


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
    if not session.info.pop(_NEW, False) or not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["MAIL_DELIVERY"] == "immediate":
        # Tests: the message is out when the request returns. The session that just
        # committed cannot run SQL here; delivery uses connections of its own.
        deliver_due()
    else:
        _courier.wake(app)


def _after_rollback(session: Session, _previous_transaction) -> None:
    session.info.pop(_NEW, None)


def init_mail(app: Flask) -> None:
    """Deliver the outbox after every commit that wrote to it."""
    if app.config["MAIL_DELIVERY"] not in ("background", "immediate"):
        raise ValueError("MAIL_DELIVERY must be 'background' or 'immediate'")
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
