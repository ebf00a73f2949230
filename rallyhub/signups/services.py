"""Sign-up rules: one per rally and e-mail, capacity and waiting list, manage links."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rallyhub.auth.audit import record_audit
from rallyhub.auth.services import normalize_email
from rallyhub.errors import NotFound, UserError
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage
from rallyhub.models import utcnow
from rallyhub.places.models import CountryRisk
from rallyhub.rallies.models import (
    CoorganizerInvite,
    Rally,
    RallyStatus,
)
from rallyhub.rallies.services import (
    accepts_signups,
    get_rally_or_404,
    load_rally,
    requires_approval,
)
from rallyhub.signups import messages
from rallyhub.signups.models import SafetyIncident, Signup, SignupStatus, new_manage_token

log = logging.getLogger(__name__)

# Holding a place or waiting for one: what counts as signed up.
ACTIVE = (SignupStatus.GOING, SignupStatus.WAITLISTED)
# A rally whose organizers approve attendees: approving and declining stay open while its
# sign-ups stand (approved, or sent back to review by an edit) and it has not ended.
ANSWERABLE = (RallyStatus.APPROVED, RallyStatus.PENDING)


@dataclass(frozen=True)
class SignupDetails:
    """What a supporter typed."""

    name: str
    email: str
    phone: str | None
    consent: bool
    language: str = "en"


def _lock_rally(rally_id: int) -> Rally:
    """Load the rally and hold its row until commit, so sign-ups to it queue one by one."""
    rally = load_rally(rally_id, lock=True)
    if rally is None:
        raise NotFound()
    return rally


def places_left_of(capacities: dict[int, int | None]) -> dict[int, int | None]:
    """Places left per rally, from each rally's capacity (None: no limit, so None left).

    One query for all the limited rallies, however many: the feed asks for a whole page.
    """
    limited = [rally_id for rally_id, capacity in capacities.items() if capacity is not None]
    going = (
        dict(
            db.session.execute(
                select(Signup.rally_id, func.count())
                .where(Signup.rally_id.in_(limited), Signup.status == SignupStatus.GOING)
                .group_by(Signup.rally_id)
            ).all()
        )
        if limited
        else {}
    )
    return {
        rally_id: None if capacity is None else max(capacity - going.get(rally_id, 0), 0)
        for rally_id, capacity in capacities.items()
    }


def places_left(rally: Rally) -> int | None:
    """Places left, or None when the rally has no limit."""
    return places_left_of({rally.id: rally.capacity})[rally.id]


def _insert(values: dict):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Signup).values(
        **values
    )


def rally_to_join(rally_id: int) -> Rally:
    """The rally someone signs up for, as they may see it, its row held until commit so that
    sign-ups to it queue one by one: one statement for the look-up and the lock."""
    return get_rally_or_404(rally_id, lock=True)


def sign_up(rally: Rally, details: SignupDetails) -> Signup:
    """Sign someone up; an address that already has a sign-up changes nothing.

    What a stranger typing someone else's address can learn or change is nothing: the earlier
    sign-up keeps its name, consent, phone and status, and its owner gets an e-mail with their
    own link (which proves the address) instead. The row is written by one INSERT … ON
    CONFLICT DO NOTHING on the (rally, e-mail) key, so two requests arriving at the same
    instant still leave one sign-up. ``rally`` comes from :func:`rally_to_join`.
    """
    if not accepts_signups(rally):
        raise UserError(_("Sign-ups for this rally are closed."))
    email = normalize_email(details.email)
    status = _joining_status(rally)
    now = utcnow()
    statement = (
        _insert(
            {
                "rally_id": rally.id,
                "name": details.name,
                "email": email,
                "phone": details.phone if rally.asks_phone else None,
                "consent_to_contact": details.consent,
                "language": details.language,
                "token": new_manage_token(),
                "status": status,
                "created_dt": now,
                "updated_dt": now,
            }
        )
        .on_conflict_do_nothing(index_elements=["rally_id", "email"])
        .returning(Signup)
    )
    signup = db.session.scalar(statement)
    if signup is None:
        signup = db.session.scalar(
            select(Signup).where(Signup.rally_id == rally.id, Signup.email == email)
        )
        messages.send_already_signed_up(rally, signup)
        log.info("repeated sign-up for rally %s left sign-up %s as it was", rally.id, signup.id)
        return signup
    if status is SignupStatus.REQUESTED:
        messages.send_request_received(rally, signup)
    else:
        messages.send_confirmation(rally, signup)
    log.info("sign-up %s for rally %s is %s", signup.id, rally.id, status.value)
    return signup


def _joining_status(rally: Rally) -> SignupStatus:
    """The status of someone joining ``rally`` now (its row locked): a request where the
    organizers approve attendees, else a place if one is free, else the waiting list."""
    if requires_approval(rally):
        return SignupStatus.REQUESTED
    return _place_or_waitlist(rally)


def _place_or_waitlist(rally: Rally) -> SignupStatus:
    left = places_left(rally)
    return SignupStatus.GOING if left is None or left > 0 else SignupStatus.WAITLISTED


def get_by_token(token: str) -> Signup:
    """The sign-up a manage link is for; anything else is 404."""
    if not token or len(token) > 64:
        raise NotFound()
    signup = db.session.scalar(select(Signup).where(Signup.token == token))
    if signup is None or signup.purged_dt is not None:
        raise NotFound()
    return signup


def may_change(signup: Signup) -> bool:
    """Whether the manage link may still change the details (or cancel): an active sign-up or
    an open request, to a live rally."""
    return (
        signup.status in (*ACTIVE, SignupStatus.REQUESTED)
        and signup.rally.status is RallyStatus.APPROVED
    )


def may_rejoin(signup: Signup) -> bool:
    """Whether a cancelled sign-up may be taken up again through its link."""
    return signup.status is SignupStatus.CANCELLED and accepts_signups(signup.rally)


def update_details(signup: Signup, name: str, phone: str | None, consent: bool) -> None:
    """Change one's own name, phone and consent, while the sign-up is active."""
    if not may_change(signup):
        raise UserError(_("This sign-up can no longer be changed."))
    signup.name = name
    signup.phone = phone if signup.rally.asks_phone else None
    signup.consent_to_contact = consent


def cancel(token: str) -> Signup:
    """Cancel a sign-up through its link; the first on the waiting list takes the place."""
    signup = get_by_token(token)
    rally = _lock_rally(signup.rally_id)
    db.session.refresh(signup)  # as it is now that the rally's sign-ups queue behind us
    if signup.status is SignupStatus.CANCELLED:
        return signup
    if signup.status is SignupStatus.DECLINED:
        # Cancelled, it could be taken up again through the link: a new request, or a place
        # once the organizers stop approving attendees. Declined stays declined.
        raise UserError(_("This sign-up can no longer be changed."))
    freed_place = signup.status is SignupStatus.GOING
    signup.status = SignupStatus.CANCELLED
    db.session.flush()
    if freed_place:
        promote_waitlisted(rally)
    return signup


def unsubscribe(signup: Signup) -> None:
    """Turn off the sign-up's optional messages; the rally's own notices still arrive."""
    if signup.unsubscribed_dt is None:
        signup.unsubscribed_dt = utcnow()
        log.info("sign-up %s turned optional messages off", signup.id)


def rejoin(token: str) -> Signup:
    """Take a cancelled sign-up up again through its link: a place if one is free, else the
    end of the waiting list; where the organizers approve attendees, a new request."""
    signup = get_by_token(token)
    rally = _lock_rally(signup.rally_id)
    # Read again under the lock: a second click may have rejoined it meanwhile.
    db.session.refresh(signup)
    if signup.status is SignupStatus.DECLINED:
        raise UserError(_("This sign-up can no longer be changed."))
    if signup.status is not SignupStatus.CANCELLED:
        return signup
    if not may_rejoin(signup):
        raise UserError(_("Sign-ups for this rally are closed."))
    signup.status = _joining_status(rally)
    # The waiting list goes by sign-up time: coming back is signing up now, not jumping it.
    signup.created_dt = utcnow()
    return signup


# -- attendee approval ------------------------------------------------------------------------


def _request_of(rally: Rally, signup_id: int) -> Signup:
    """The rally's sign-up ``signup_id``, read under the rally's lock; another rally's is 404."""
    locked = _lock_rally(rally.id)
    signup = db.session.get(Signup, signup_id, populate_existing=True)
    if signup is None or signup.rally_id != locked.id or signup.purged_dt is not None:
        raise NotFound()
    return signup


def _require_answerable(rally: Rally, signup: Signup) -> None:
    if signup.status is not SignupStatus.REQUESTED:
        raise UserError(_("This request has been answered already."))
    if rally.status not in ANSWERABLE or rally.end_dt <= utcnow():
        raise UserError(_("This rally no longer takes sign-ups."))


def approve(actor, rally: Rally, signup_id: int) -> Signup:
    """Say yes to a request to join: a place if one is free, else the waiting list, and the
    confirmation (with the meeting point, which it now may see). Approving twice is once."""
    signup = _request_of(rally, signup_id)
    if signup.status in ACTIVE:
        return signup
    _require_answerable(rally, signup)
    signup.status = _place_or_waitlist(rally)
    db.session.flush()
    messages.send_confirmation(rally, signup, approved=True)
    # Only the decision: who asked stays on the attendee page, not in the audit trail.
    record_audit(actor, "signup.approve", "signup", signup.id, signup.status.value)
    log.info("request %s for rally %s approved: %s", signup.id, rally.id, signup.status.value)
    return signup


def decline(actor, rally: Rally, signup_id: int) -> Signup:
    """Say no to a request to join, with a kind message that gives no reason. Declining
    twice is once; the address cannot ask again."""
    signup = _request_of(rally, signup_id)
    if signup.status is SignupStatus.DECLINED:
        return signup
    _require_answerable(rally, signup)
    signup.status = SignupStatus.DECLINED
    db.session.flush()
    messages.send_declined(rally, signup)
    record_audit(actor, "signup.decline", "signup", signup.id)
    log.info("request %s for rally %s declined", signup.id, rally.id)
    return signup


def promote_waitlisted(rally: Rally) -> list[Signup]:
    """Give free places to the waiting list, first come first served, and tell them."""
    waiting = (
        select(Signup)
        .where(Signup.rally_id == rally.id, Signup.status == SignupStatus.WAITLISTED)
        .order_by(Signup.created_dt, Signup.id)
    )
    left = places_left(rally)
    promoted = list(db.session.scalars(waiting if left is None else waiting.limit(left)))
    for signup in promoted:
        signup.status = SignupStatus.GOING
        messages.send_promotion(rally, signup)
    return promoted


# -- retention -------------------------------------------------------------------------------


def purge_personal_data(retention_days: int, progress=None, batch_size: int = 200) -> int:
    """Remove names, e-mails and phones of sign-ups to rallies that ended long enough ago.

    Statuses and check-ins stay, so every count and summary is unchanged. Returns how many
    sign-ups were purged.
    """
    cutoff = utcnow() - timedelta(days=retention_days)
    forget_incidents(Rally.end_dt < cutoff)
    return _purge(_unpurged_rallies(Rally.end_dt < cutoff), progress, batch_size)


def purge_at_risk(now: datetime | None = None) -> int:
    """The same, hours after the end, for rallies in countries at risk (each country's
    ``purge_hours``); run by the sweep every minute."""
    now = now or utcnow()
    ended = [
        Rally.id.in_(
            select(Rally.id).where(
                Rally.country_code == risk.country_code,
                Rally.end_dt < now - timedelta(hours=risk.purge_hours),
            )
        )
        for risk in db.session.scalars(select(CountryRisk).where(CountryRisk.high_risk))
    ]
    if not ended:
        return 0
    forget_incidents(or_(*ended))
    return _purge(_unpurged_rallies(or_(*ended)))


def forget_incidents(condition) -> int:
    """Blank what people wrote in their calls for help (message, contact) after the rallies
    meeting ``condition``, when their sign-ups go too; HQ's board keeps the rally, the time
    and whether it was handled. Returns how many were blanked."""
    result = db.session.execute(
        update(SafetyIncident)
        .where(
            SafetyIncident.rally_id.in_(select(Rally.id).where(condition)),
            or_(SafetyIncident.message != "", SafetyIncident.contact != ""),
        )
        .values(message="", contact="")
    )
    return result.rowcount


def _unpurged_rallies(condition) -> list[int]:
    """Ids of the rallies meeting ``condition`` that still hold unpurged sign-ups."""
    due = (
        select(Rally.id)
        .where(condition)
        .where(
            select(Signup.id)
            .where(Signup.rally_id == Rally.id, Signup.purged_dt.is_(None))
            .exists()
        )
        .order_by(Rally.id)
    )
    return list(db.session.scalars(due))


def _purge(rally_ids: list[int], progress=None, batch_size: int = 200) -> int:
    """Blank the sign-ups of ``rally_ids`` and delete every message about them."""
    if not rally_ids:
        return 0
    purged = 0
    for start in range(0, len(rally_ids), batch_size):
        chunk = rally_ids[start : start + batch_size]
        result = db.session.execute(
            update(Signup)
            .where(Signup.rally_id.in_(chunk), Signup.purged_dt.is_(None))
            .values(name=None, email=None, phone=None, purged_dt=utcnow())
        )
        db.session.execute(delete(CoorganizerInvite).where(CoorganizerInvite.rally_id.in_(chunk)))
        # Every message to or about those sign-ups, queued or sent, goes with them.
        db.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.signup_id.in_(select(Signup.id).where(Signup.rally_id.in_(chunk)))
            )
        )
        purged += result.rowcount
        if progress:
            progress(min(start + batch_size, len(rally_ids)), len(rally_ids), purged)
    record_audit(None, "signups.purge", "signup", None, f"{purged} sign-ups")
    return purged
