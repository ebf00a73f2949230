"""What organizers do with a rally's sign-ups: the attendee list and its export, check-in,
walk-ins, the turnout report and messages to everyone signed up."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from rallyhub.auth.audit import record_audit
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, OutboxState, queue_messages
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus, TurnoutReport
from rallyhub.rallies.risk import discreet
from rallyhub.rallies.takedown import is_taken_down
from rallyhub.signups.messages import subject_of, title_of
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.signups.services import ACTIVE
from rallyhub.urls import external_url

ATTENDEE_COLUMNS = (
    Signup.id,
    Signup.name,
    Signup.email,
    Signup.phone,
    Signup.status,
    Signup.created_dt,
    Signup.checked_in_dt,
)


def attendee_rows(rally_id: int, search: str = ""):
    """The rally's sign-ups as Core rows, in sign-up order, optionally filtered by name/e-mail."""
    query = (
        select(*ATTENDEE_COLUMNS)
        .where(Signup.rally_id == rally_id)
        .order_by(Signup.created_dt, Signup.id)
    )
    search = search.strip().lower()
    if search:
        pattern = f"%{search}%"
        query = query.where(func.lower(Signup.name).like(pattern) | Signup.email.like(pattern))
    return db.session.execute(query)


ATTENDEE_EXPORT_HEADER = [
    "name",
    "email",
    "phone",
    # Whether the person agreed to hear from the organizers beyond this rally: the list is
    # no licence to write to anyone else.
    "consent_to_contact",
    "status",
    "signed_up_utc",
    "checked_in_utc",
]


def attendee_export_rows(rally_id: int) -> Iterator[tuple]:
    """The attendee list's rows in ATTENDEE_EXPORT_HEADER's order (times in UTC, ISO 8601);
    read lazily, so a response can stream them."""
    rows = db.session.execute(
        select(
            Signup.name,
            Signup.email,
            Signup.phone,
            Signup.consent_to_contact,
            Signup.status,
            Signup.created_dt,
            Signup.checked_in_dt,
        )
        .where(Signup.rally_id == rally_id)
        .order_by(Signup.created_dt, Signup.id)
        .execution_options(yield_per=2000)
    )
    for name, email, phone, consent, status, created, checked in rows:
        yield (
            name,
            email,
            phone,
            "yes" if consent else "no",
            status.value,
            created.isoformat(),
            checked.isoformat() if checked else "",
        )


def counts_by_rally(rally_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(going, waiting) per rally, for rallies with any; one query."""
    if not rally_ids:
        return {}
    rows = db.session.execute(
        select(Signup.rally_id, Signup.status, func.count())
        .where(
            Signup.rally_id.in_(rally_ids),
            Signup.status.in_([SignupStatus.GOING, SignupStatus.WAITLISTED]),
        )
        .group_by(Signup.rally_id, Signup.status)
    ).all()
    counts: dict[int, tuple[int, int]] = {}
    for rally_id, status, number in rows:
        going, waiting = counts.get(rally_id, (0, 0))
        counts[rally_id] = (number, waiting) if status is SignupStatus.GOING else (going, number)
    return counts


def attendance_counts(rally_id: int) -> dict[SignupStatus | str, int]:
    """How many sign-ups are in each status, and how many checked in."""
    rows = db.session.execute(
        select(Signup.status, func.count(), func.count(Signup.checked_in_dt))
        .where(Signup.rally_id == rally_id)
        .group_by(Signup.status)
    ).all()
    counts: dict[SignupStatus | str, int] = {status: 0 for status in SignupStatus}
    counts["checked_in"] = 0
    for status, number, checked_in in rows:
        counts[status] = number
        counts["checked_in"] += checked_in
    return counts


def record_attendee_export(actor, rally: Rally) -> None:
    """Every download of a rally's personal data is audited; a rally taken down has none."""
    if is_taken_down(rally):
        raise NotAllowed(_("This rally was taken down: the details of its sign-ups are deleted."))
    record_audit(actor, "attendees.export", "rally", rally.id)


def checkin_open(rally: Rally, now: datetime | None = None) -> bool:
    """Whether check-in has opened: from the rally's day on, in its own zone. Earlier, nobody
    can be present, and a tap would count as turnout on HQ's dashboard."""
    zone = ZoneInfo(rally.timezone)
    return (now or utcnow()).astimezone(zone).date() >= rally.start_dt.astimezone(zone).date()


def _require_checkin_open(rally: Rally) -> None:
    if not checkin_open(rally):
        raise UserError(_("Check-in opens on the day of the rally."))


def set_checked_in(actor, rally: Rally, signup_id: int, present: bool) -> Signup:
    """Check a person in (or undo it) at the rally, from its day on."""
    signup = db.session.get(Signup, signup_id)
    if signup is None or signup.rally_id != rally.id:
        raise NotFound()
    _require_checkin_open(rally)
    if signup.status is SignupStatus.CANCELLED and present:
        raise UserError(_("This sign-up was cancelled; count the person as a walk-in."))
    if signup.status is SignupStatus.REQUESTED and present:
        raise UserError(
            _(
                "This person asked to join and has no answer yet: approve them on the "
                "attendee page first."
            )
        )
    if signup.status is SignupStatus.DECLINED and present:
        raise UserError(_("This request to join was declined; count the person as a walk-in."))
    signup.checked_in_dt = utcnow() if present else None
    return signup


def set_walk_ins(rally: Rally, count: int) -> None:
    """Record how many came without signing up, from the rally's day on."""
    _require_checkin_open(rally)
    rally.walk_in_count = count


def report_turnout(actor, rally: Rally, people_present: int, notes: str) -> TurnoutReport:
    """Record (or correct) how many people came; only once the rally has started."""
    if rally.start_dt > utcnow():
        raise UserError(_("You can report the turnout once the rally has started."))
    if rally.status is not RallyStatus.APPROVED:
        raise UserError(_("Only rallies that took place have a turnout."))
    report = rally.turnout_report or TurnoutReport(rally=rally)
    report.people_present = people_present
    report.notes = notes or ""
    report.reported_by_id = actor.id
    report.reported_dt = utcnow()
    db.session.add(report)
    record_audit(actor, "rally.turnout", "rally", rally.id, str(people_present))
    return report


def message_attendees(actor, rally: Rally, subject: str, body: str, rally_url: str) -> int:
    """Queue a message to everyone with an active sign-up who has not turned the organizers'
    messages off; return how many were queued. One statement, however many people: the
    organizer's request never waits for a mail server."""
    recipients = db.session.execute(
        select(Signup.id, Signup.email, Signup.token, Signup.language).where(
            Signup.rally_id == rally.id,
            Signup.status.in_(ACTIVE),
            Signup.email.is_not(None),
            Signup.unsubscribed_dt.is_(None),
        )
    ).all()
    batch = secrets.token_hex(8)
    rows = []
    for signup_id, email, token, language in recipients:
        unsubscribe = external_url("signups.unsubscribe", token=token)
        with force_locale(language):
            footer = "\n".join(
                [
                    "--",
                    _(
                        "You get this because you signed up for “%(title)s” (%(link)s).",
                        title=title_of(rally),
                        link=rally_url,
                    ),
                    _(
                        "Change or cancel your sign-up: %(link)s",
                        link=external_url("signups.manage", token=token),
                    ),
                    _("No more messages from the organizers: %(link)s", link=unsubscribe),
                ]
            )
            # In a country at risk the organizers' subject goes inside, under a neutral one.
            shown_subject = subject_of(rally, subject)
            shown_body = f"{subject}\n\n{body}" if discreet(rally) else body
        rows.append(
            {
                "kind": "organizer-message",
                "batch": batch,
                "signup_id": signup_id,
                "rally_id": rally.id,
                "recipient": email,
                "subject": shown_subject,
                "body": f"{shown_body}\n\n{footer}",
                "unsubscribe_url": unsubscribe,
            }
        )
    queue_messages(rows)
    record_audit(actor, "rally.message", "rally", rally.id, f"{len(rows)} in batch {batch}")
    return len(rows)


def message_counts(rally: Rally) -> dict[str, int]:
    """How the organizers' messages about ``rally`` are getting on: queued, sent, failed."""
    rows = db.session.execute(
        select(OutboxMessage.state, func.count())
        .where(OutboxMessage.rally_id == rally.id, OutboxMessage.kind == "organizer-message")
        .group_by(OutboxMessage.state)
    ).all()
    counts = {state.value: 0 for state in OutboxState}
    counts.update({state.value: number for state, number in rows})
    return counts
