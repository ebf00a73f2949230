"""“I'm safe” check-ins, on the people's side.

When a rally with check-ins (``rallyhub.rallies.safety.checkins_on``) ends, the sweep mails
each active sign-up and each organizer and co-organizer, once, a private link: a signed token
naming the rally and the person, no account needed, working until SAFETY_CHECKIN_HOURS after
the end. Its page has two buttons. "I got home safe" records the answer (one per person and
rally, changeable). "I need help" shows the country's legal-aid and emergency contacts at once
and raises an incident on HQ's board holding the rally, the time and only what the person
chooses to write: no sign-up, name or e-mail, and no column that leads back to them. The
organizers see counts of the answers; nobody but HQ could tell from the data who has not
answered, and no page shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.auth.tokens import fingerprint, make_token, read_token
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name, format_local, local_city
from rallyhub.mail import OutboxMessage, queue_messages
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally
from rallyhub.rallies.safety import (
    checkin_hours,
    checkins_close,
    checkins_on,
    checkins_open,
    rallies_open_for_checkins,
)
from rallyhub.rallies.services import is_coorganizer
from rallyhub.signups.models import SafetyAnswer, SafetyIncident, SafetyStatus, Signup
from rallyhub.signups.services import ACTIVE
from rallyhub.urls import external_url

log = logging.getLogger(__name__)

# The purpose of the links' tokens, and the kind (and key prefix) of their messages.
CHECKIN = "safety-checkin"
# The purpose of the reference to an incident that the help page carries (never stored).
INCIDENT = "safety-incident"
MAX_MESSAGE = 2000
MAX_CONTACT = 200


@dataclass(frozen=True)
class Person:
    """Whoever a check-in link was mailed to: a sign-up, or an organizer of the rally."""

    rally: Rally
    token: str
    signup: Signup | None = None
    user: User | None = None

    @property
    def columns(self) -> dict[str, int | None]:
        """The columns that name this person in an answer."""
        return {
            "signup_id": self.signup.id if self.signup else None,
            "user_id": self.user.id if self.user else None,
        }


# -- the links -------------------------------------------------------------------------------


def checkin_token(rally: Rally, *, signup: Signup | None = None, user: User | None = None) -> str:
    """The signed token of one person's check-in link for ``rally``."""
    if signup is not None:
        return make_token(CHECKIN, {"r": rally.id, "s": signup.id})
    if user is None:
        raise ValueError("a check-in link is for a sign-up or an organizer")
    return make_token(CHECKIN, {"r": rally.id, "u": user.id})


def _number(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def person_for(token: str, now: datetime | None = None) -> Person:
    """The person and rally a check-in link is for; a forged, expired or stale link is 404.

    Stale: the rally no longer has check-ins open, the sign-up is not the rally's, or the
    account no longer organizes it.
    """
    payload = read_token(CHECKIN, token, max_age=checkin_hours() * 3600)
    if payload is None:
        raise NotFound()
    rally_id = _number(payload.get("r"))
    rally = db.session.get(Rally, rally_id) if rally_id is not None else None
    if rally is None or not checkins_open(rally, now):
        raise NotFound()
    signup_id, user_id = _number(payload.get("s")), _number(payload.get("u"))
    if signup_id is not None:
        signup = db.session.get(Signup, signup_id)
        if signup is None or signup.rally_id != rally.id:
            raise NotFound()
        return Person(rally, token, signup=signup)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active or not _organizes(rally, user):
        raise NotFound()
    return Person(rally, token, user=user)


def _organizes(rally: Rally, user: User) -> bool:
    return rally.organizer_id == user.id or is_coorganizer(rally, user)


# -- answers ---------------------------------------------------------------------------------


def answer_of(person: Person) -> SafetyStatus | None:
    """What the person answered last, if anything."""
    query = select(SafetyAnswer.status).where(SafetyAnswer.rally_id == person.rally.id)
    if person.signup is not None:
        query = query.where(SafetyAnswer.signup_id == person.signup.id)
    else:
        query = query.where(SafetyAnswer.user_id == person.user.id)
    return db.session.scalar(query)


def _record(person: Person, status: SafetyStatus) -> None:
    """One answer per person and rally: a second answer replaces the first (one statement, so
    a double click cannot write two)."""
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SafetyAnswer)
    now = utcnow()
    statement = insert.values(
        rally_id=person.rally.id, status=status, answered_dt=now, **person.columns
    ).on_conflict_do_update(
        index_elements=["rally_id", "signup_id" if person.signup else "user_id"],
        set_={"status": status, "answered_dt": now},
    )
    db.session.execute(statement)


def say_safe(person: Person) -> None:
    """Record "I got home safe" (it replaces an earlier "I need help"; the incident stays on
    HQ's board until HQ marks it handled)."""
    _record(person, SafetyStatus.SAFE)
    log.info("safety check-in for rally %s: safe", person.rally.id)


def ask_for_help(person: Person, *, message: str = "", contact: str = "", ref: str = "") -> str:
    """Record "I need help" and tell HQ; return the reference of the incident for the help
    page ("" when the same call for help came again with nothing new).

    The first call raises an incident (rally and time, and the message and contact if given).
    With ``ref`` from the help page, the person's words replace those of the incident they
    raised (and reopen it if HQ had marked it handled); pressing the button again adds nothing.
    """
    message, contact = (message or "").strip(), (contact or "").strip()
    if len(message) > MAX_MESSAGE:
        raise UserError(_("Please keep this under %(num)d characters.", num=MAX_MESSAGE))
    if len(contact) > MAX_CONTACT:
        raise UserError(_("Please keep this under %(num)d characters.", num=MAX_CONTACT))
    before = answer_of(person)
    _record(person, SafetyStatus.NEEDS_HELP)
    incident = incident_from(person, ref)
    if incident is not None:
        if (incident.message, incident.contact) != (message, contact):
            incident.message, incident.contact = message, contact
            incident.handled_dt, incident.handled_by_id = None, None
    elif before is SafetyStatus.NEEDS_HELP and not (message or contact):
        return ""
    else:
        incident = SafetyIncident(rally_id=person.rally.id, message=message, contact=contact)
        db.session.add(incident)
        db.session.flush()
        # The incident's id and the rally only: never who raised it.
        log.warning("safety incident %s raised for rally %s", incident.id, person.rally.id)
    return make_token(INCIDENT, {"i": incident.id, "k": fingerprint(person.token)})


def incident_from(person: Person, ref: str | None) -> SafetyIncident | None:
    """The incident a help page's reference names, if it was made for this person's link."""
    if not ref:
        return None
    payload = read_token(INCIDENT, ref, max_age=checkin_hours() * 3600)
    if payload is None or payload.get("k") != fingerprint(person.token):
        return None
    incident_id = _number(payload.get("i"))
    incident = db.session.get(SafetyIncident, incident_id) if incident_id is not None else None
    if incident is None or incident.rally_id != person.rally.id:
        return None
    return incident


def answer_counts(rally: Rally) -> dict[SafetyStatus, int]:
    """How many said they got home safe, and how many need help: counts only, for the
    organizers (who answered, or did not, is no business of theirs)."""
    counts = dict(
        db.session.execute(
            select(SafetyAnswer.status, func.count())
            .where(SafetyAnswer.rally_id == rally.id)
            .group_by(SafetyAnswer.status)
        ).all()
    )
    return {status: counts.get(status, 0) for status in SafetyStatus}


def organizer_counts(rally: Rally) -> dict[str, int] | None:
    """What the organizers' attendee page shows of the check-ins, if the rally has them."""
    if not checkins_on(rally):
        return None
    counts = answer_counts(rally)
    return {"safe": counts[SafetyStatus.SAFE], "needs_help": counts[SafetyStatus.NEEDS_HELP]}


# -- HQ's board ------------------------------------------------------------------------------


def incident_board(limit: int = 200) -> list[SafetyIncident]:
    """The incidents for HQ: open ones first, the newest first, then the latest handled."""
    query = (
        select(SafetyIncident)
        .options(joinedload(SafetyIncident.rally))
        .order_by(
            SafetyIncident.handled_dt.is_not(None),
            SafetyIncident.created_dt.desc(),
            SafetyIncident.id.desc(),
        )
        .limit(limit)
    )
    return list(db.session.scalars(query))


def get_incident_or_404(incident_id: int) -> SafetyIncident:
    """One incident, or 404."""
    incident = db.session.get(SafetyIncident, incident_id)
    if incident is None:
        raise NotFound()
    return incident


def mark_handled(actor: User, incident: SafetyIncident) -> None:
    """HQ took care of an incident."""
    if not actor.is_hq:
        raise NotAllowed()
    if incident.handled_dt is not None:
        return
    incident.handled_dt, incident.handled_by_id = utcnow(), actor.id
    record_audit(actor, "safety_incident.handled", "safety_incident", incident.id)


# -- the e-mails -----------------------------------------------------------------------------


def queue_due_checkins(now: datetime) -> int:
    """Write the check-in e-mails of the rallies whose links work at ``now`` to everyone who
    has not had theirs; return how many were written. Each has a unique key: written once,
    however often or concurrently the sweep runs."""
    written = 0
    for rally in rallies_open_for_checkins(now):
        written += _queue_for(rally)
    return written


def _queue_for(rally: Rally) -> int:
    key = literal(f"{CHECKIN}:") + cast(Signup.id, String)
    already = select(OutboxMessage.id).where(OutboxMessage.dedup_key == key).exists()
    signups = db.session.scalars(
        select(Signup)
        .where(
            Signup.rally_id == rally.id,
            Signup.status.in_(ACTIVE),
            Signup.purged_dt.is_(None),
            Signup.email.is_not(None),
            ~already,
        )
        .order_by(Signup.id)
    ).all()
    rows = [
        {
            "kind": CHECKIN,
            "dedup_key": f"{CHECKIN}:{signup.id}",
            "signup_id": signup.id,
            "rally_id": rally.id,
            "recipient": signup.email,
            **_text(rally, signup.name, signup.language, checkin_token(rally, signup=signup)),
        }
        for signup in signups
    ]
    organizers = {f"{CHECKIN}:{rally.id}:u{person.id}": person for person in _organizers(rally)}
    sent = set(
        db.session.scalars(
            select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.in_(organizers))
        )
    )
    rows += [
        {
            "kind": CHECKIN,
            "dedup_key": key,
            "rally_id": rally.id,
            "recipient": person.email,
            **_text(rally, person.name, person.language, checkin_token(rally, user=person)),
        }
        for key, person in organizers.items()
        if key not in sent
    ]
    return len(queue_messages(rows))


def _organizers(rally: Rally) -> list[User]:
    return [person for person in [rally.organizer, *rally.coorganizers] if person.is_active]


def _text(rally: Rally, name: str, language: str, token: str) -> dict[str, str]:
    """The message in the person's language. Its subject names no rally: it shows on a locked
    phone's screen."""
    with force_locale(language):
        link = external_url("signups.safety", token=token, lang=language)
        lines = [
            _("Hello %(name)s,", name=name),
            "",
            _(
                "the rally in %(city)s on %(when)s is over. Did you get home safe?",
                city=local_city(rally.city, rally.timezone),
                when=format_local(rally.start_dt, rally.timezone),
            ),
            _("Please tell us with one click on your private link (no account needed):"),
            link,
            "",
            _(
                "If you need help, the same page shows legal-aid and emergency contacts for "
                "%(country)s straight away.",
                country=country_name(rally.country_code),
            ),
            _(
                "The link works until %(when)s. Do not pass it on: it answers for you.",
                when=format_local(checkins_close(rally), rally.timezone),
            ),
        ]
        return {"subject": _("Did you get home safe?"), "body": "\n".join(lines)}
