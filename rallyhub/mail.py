"""The outbox: e-mail written in the same transaction as the change it reports.

Services call :func:`send_mail` (or :func:`queue_messages` for many at once), which only adds
rows to ``outbox_messages`` in the current transaction: rolled back, nothing is sent;
committed, it will be sent (``rallyhub.delivery`` hands the new rows on after the commit).
A ``dedup_key`` (``reminder-eve:42``) makes writing a message idempotent: a sweep run twice
or by two workers writes it once. Rows keep their state (queued, sent, failed) and, once
delivered for ``MAIL_KEEP_SENT_HOURS``, only their key and kind.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask import current_app
from sqlalchemy import ForeignKey, Index, String, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from rallyhub.extensions import db
from rallyhub.models import UTCDateTime, enum_column, utcnow

# Where a session keeps the ids of the messages it wrote, for delivery after its commit.
NEW_MESSAGES = "rallyhub.outbox.new"
# Kinds whose address and text are blanked the moment they are delivered, not a day later:
# the neutral notice of a rally's take-down must not tie its recipient to the rally (by its
# time) for longer than it waits to go out.
FORGOTTEN_WHEN_SENT = frozenset({"takedown-notice"})


class OutboxState(enum.Enum):
    """Where a message is: waiting (or leased by a sender), delivered, or refused for good."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(db.Model):
    """An e-mail written by a committed change, and what became of it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index(None, "state", "next_attempt_dt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the message is (``confirmation``, ``reminder-eve``, ``organizer-message`` …).
    kind: Mapped[str] = mapped_column(String(40), default="notice")
    # Writing a message with a key that exists already writes nothing.
    dedup_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # What the message is about, by table name only (this module knows no area): the purge of
    # a sign-up's personal data deletes its messages; a rally's counts of an organizer's send.
    signup_id: Mapped[int | None] = mapped_column(
        ForeignKey("signups.id", ondelete="CASCADE"), index=True
    )
    rally_id: Mapped[int | None] = mapped_column(
        ForeignKey("rallies.id", ondelete="CASCADE"), index=True
    )
    batch: Mapped[str | None] = mapped_column(String(40), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # An iCalendar file attached to messages that name a time (public details only).
    calendar: Mapped[str | None] = mapped_column(Text)
    # A one-click unsubscribe link (RFC 8058) for messages the recipient may turn off.
    unsubscribe_url: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[OutboxState] = mapped_column(
        enum_column(OutboxState, "outbox_state"), default=OutboxState.QUEUED
    )
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    # When a sender may next take the message: now for new ones, later after a failure or
    # while another sender holds it.
    next_attempt_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it was last handed to the job queue: the sweep hands it on again only if that is
    # long past (a job lost with a worker, Redis down at the time).
    queued_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The kind of the last failure (an exception's class name: never an address or a body).
    last_error: Mapped[str] = mapped_column(String(100), default="")


def header_text(text: str) -> str:
    """``text`` on one line: CR, LF and other breaks become spaces (they would forge headers)."""
    return " ".join(str(text).split())


def send_mail(
    to: str,
    subject: str,
    body: str,
    *,
    kind: str = "notice",
    dedup_key: str | None = None,
    signup_id: int | None = None,
    rally_id: int | None = None,
    batch: str | None = None,
    calendar: str | None = None,
    unsubscribe_url: str | None = None,
) -> int | None:
    """Queue a plain-text message; it is delivered once the current transaction commits.

    Returns the message's id, or None when ``dedup_key`` was written already (nothing new).
    """
    values = {
        "kind": kind,
        "dedup_key": dedup_key,
        "signup_id": signup_id,
        "rally_id": rally_id,
        "batch": batch,
        "recipient": to,
        "subject": subject,
        "body": body,
        "calendar": calendar,
        "unsubscribe_url": unsubscribe_url,
    }
    ids = queue_messages([values])
    return ids[0] if ids else None


def queue_messages(rows: list[dict]) -> list[int]:
    """Queue many messages with one statement (an organizer writing to 5,000 people); each
    row holds :func:`send_mail`'s arguments by name. Returns the ids of those written."""
    if not rows:
        return []
    now = utcnow()
    table = OutboxMessage.__table__
    defaults = {
        "kind": "notice",
        "dedup_key": None,
        "signup_id": None,
        "rally_id": None,
        "batch": None,
        "calendar": None,
        "unsubscribe_url": None,
        "state": OutboxState.QUEUED,
        "created_dt": now,
        "attempts": 0,
        "next_attempt_dt": now,
        "last_error": "",
        # With the job queue, the commit hands them on (rallyhub.delivery): written as queued
        # now, in this transaction, and marked back if Redis does not answer.
        "queued_dt": now if current_app.config["MAIL_DELIVERY"] == "queue" else None,
    }
    values = [
        {
            **defaults,
            **row,
            "recipient": header_text(row["recipient"])[:254],
            "subject": header_text(row["subject"])[:300],
        }
        for row in rows
    ]
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    statement = insert.on_conflict_do_nothing(index_elements=["dedup_key"])
    if len(values) == 1:
        ids = list(db.session.scalars(statement.returning(table.c.id), values))
    else:
        # Many rows: a plain executemany (pipelined by psycopg) and one look-up by a marker of
        # this call, instead of RETURNING, which costs PostgreSQL's driver 0.7 s for 5,000
        # rows spent rewriting the statement.
        marker = secrets.token_hex(8)
        for value in values:
            value["batch"] = value["batch"] or marker
        db.session.execute(statement, values)
        batches = {value["batch"] for value in values}
        ids = list(
            db.session.scalars(
                select(table.c.id)
                .where(table.c.batch.in_(batches), table.c.created_dt == now)
                .order_by(table.c.id)
            )
        )
    db.session.info.setdefault(NEW_MESSAGES, []).extend(ids)
    return ids
