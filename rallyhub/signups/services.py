"""Sign-up rules: one per rally and e-mail, capacity and waiting list, manage links."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from rallyhub.auth.audit import record_audit
from rallyhub.auth.services import normalize_email
from rallyhub.errors import NotFound, UserError
from rallyhub.extensions import db
from rallyhub.i18n import format_local_range
from rallyhub.mail import send_mail
from rallyhub.models import utcnow
from rallyhub.rallies.models import (
    CoorganizerInvite,
    Rally,
    RallyStatus,
)
from rallyhub.rallies.services import accepts_signups, location_for
from rallyhub.signups.models import Signup, SignupStatus, new_manage_token
from rallyhub.urls import external_url

log = logging.getLogger(__name__)

ACTIVE = (SignupStatus.GOING, SignupStatus.WAITLISTED)


@dataclass(frozen=True)
class SignupDetails:
    """What a supporter typed."""

    name: str
    email: str
    phone: str | None
    consent: bool


def _lock_rally(rally_id: int) -> Rally:
    """Load the rally and hold its row until commit, so sign-ups to it queue one by one."""
    # SQLite has no row locks; its writers are already serialized by BEGIN IMMEDIATE.
    rally = db.session.scalar(
        select(Rally)
        .where(Rally.id == rally_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
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


def sign_up(rally_id: int, details: SignupDetails) -> Signup:
    """Sign someone up; an address that already has a sign-up changes nothing.

    What a stranger typing someone else's address can learn or change is nothing: the earlier
    sign-up keeps its name, consent, phone and status, and its owner gets an e-mail with their
    own link (which proves the address) instead. The row is written by one INSERT … ON
    CONFLICT DO NOTHING on the (rally, e-mail) key, so two requests arriving at the same
    instant still leave one sign-up.
    """
    rally = _lock_rally(rally_id)
    if not accepts_signups(rally):
        raise UserError(_("Sign-ups for this rally are closed."))
    email = normalize_email(details.email)
    left = places_left(rally)
    status = SignupStatus.GOING if left is None or left > 0 else SignupStatus.WAITLISTED
    now = utcnow()
    statement = (
        _insert(
            {
                "rally_id": rally.id,
                "name": details.name,
                "email": email,
                "phone": details.phone if rally.asks_phone else None,
                "consent_to_contact": details.consent,
                "token": new_manage_token(),
                "status": status,
                "created_dt": now,
                "updated_dt": now,
            }
        )
        .on_conflict_do_nothing(index_elements=["rally_id", "email"])
        .returning(Signup.id)
    )
    signup_id = db.session.execute(statement).scalar_one_or_none()
    if signup_id is None:
        signup = db.session.scalar(
            select(Signup).where(Signup.rally_id == rally.id, Signup.email == email)
        )
        _send_already_signed_up(rally, signup)
        log.info("repeated sign-up for rally %s left sign-up %s as it was", rally.id, signup.id)
        return signup
    signup = db.session.get(Signup, signup_id)
    _send_confirmation(rally, signup)
    log.info("sign-up %s for rally %s is %s", signup.id, rally.id, status.value)
    return signup


def manage_url(signup: Signup) -> str:
    """The private link a supporter uses to change or cancel their sign-up."""
    return external_url("signups.manage", token=signup.token)


def where_line(rally: Rally, signup: Signup) -> str:
    """The "Where:" of an e-mail to ``signup``: the meeting point and pin if it may see them."""
    location = location_for(rally, signup=signup)
    if location.meeting_point is None:
        return _("Where: %(place)s", place=rally.city)
    pin = f"{location.latitude:.5f}, {location.longitude:.5f}"
    return _("Where: %(place)s", place=f"{location.meeting_point}, {rally.city} ({pin})")


def _when_line(rally: Rally) -> str:
    return _(
        "When: %(when)s (%(zone)s)",
        when=format_local_range(rally.start_dt, rally.end_dt, rally.timezone),
        zone=rally.timezone,
    )


def _status_line(rally: Rally, signup: Signup) -> str:
    if signup.status is SignupStatus.GOING:
        return _("you are signed up for “%(title)s”.", title=rally.title)
    return _(
        "“%(title)s” is full: you are on the waiting list, and we write to you as soon "
        "as a place frees up.",
        title=rally.title,
    )


def _send_confirmation(rally: Rally, signup: Signup) -> None:
    lines = [
        _("Hello %(name)s,", name=signup.name),
        "",
        _status_line(rally, signup),
        _when_line(rally),
        where_line(rally, signup),
        "",
        _("To change or cancel your sign-up, use your private link (do not share it):"),
        manage_url(signup),
    ]
    send_mail(signup.email, _("Your sign-up: %(title)s", title=rally.title), "\n".join(lines))


def _send_already_signed_up(rally: Rally, signup: Signup) -> None:
    """Tell the owner of an address that someone signed it up again; nothing was changed.

    Nothing the new form held goes into the message: it may have been typed by a stranger.
    """
    if signup.status is SignupStatus.CANCELLED:
        middle = [
            _(
                "someone, perhaps you, tried to sign this address up for “%(title)s” again. You "
                "had cancelled your sign-up, and it stays cancelled.",
                title=rally.title,
            ),
            _when_line(rally),
            "",
            _("To sign up again, open your private link (do not share it):"),
        ]
    else:
        middle = [
            _(
                "someone, perhaps you, signed this address up for “%(title)s” again. You were "
                "already signed up, and nothing has changed.",
                title=rally.title,
            ),
            _status_line(rally, signup),
            _when_line(rally),
            where_line(rally, signup),
            "",
            _("To change or cancel your sign-up, use your private link (do not share it):"),
        ]
    lines = [_("Hello %(name)s,", name=signup.name), "", *middle, manage_url(signup)]
    send_mail(signup.email, _("Your sign-up: %(title)s", title=rally.title), "\n".join(lines))


def get_by_token(token: str) -> Signup:
    """The sign-up a manage link is for; anything else is 404."""
    if not token or len(token) > 64:
        raise NotFound()
    signup = db.session.scalar(select(Signup).where(Signup.token == token))
    if signup is None or signup.purged_dt is not None:
        raise NotFound()
    return signup


def may_change(signup: Signup) -> bool:
    """Whether the manage link may still change the details: an active sign-up to a live rally."""
    return signup.status in ACTIVE and signup.rally.status is RallyStatus.APPROVED


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
    freed_place = signup.status is SignupStatus.GOING
    signup.status = SignupStatus.CANCELLED
    db.session.flush()
    if freed_place:
        promote_waitlisted(rally)
    return signup


def rejoin(token: str) -> Signup:
    """Take a cancelled sign-up up again through its link: a place if one is free, else the
    end of the waiting list."""
    signup = get_by_token(token)
    rally = _lock_rally(signup.rally_id)
    # Read again under the lock: a second click may have rejoined it meanwhile.
    db.session.refresh(signup)
    if signup.status is not SignupStatus.CANCELLED:
        return signup
    if not may_rejoin(signup):
        raise UserError(_("Sign-ups for this rally are closed."))
    left = places_left(rally)
    signup.status = SignupStatus.GOING if left is None or left > 0 else SignupStatus.WAITLISTED
    # The waiting list goes by sign-up time: coming back is signing up now, not jumping it.
    signup.created_dt = utcnow()
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
        send_mail(
            signup.email,
            _("A place is yours: %(title)s", title=rally.title),
            "\n".join(
                [
                    _("Hello %(name)s,", name=signup.name),
                    "",
                    _("a place has freed up at “%(title)s” and it is yours.", title=rally.title),
                    where_line(rally, signup),
                    "",
                    _("Can't come after all? Cancel with your private link:"),
                    manage_url(signup),
                ]
            ),
        )
    return promoted


# -- retention -------------------------------------------------------------------------------


def purge_personal_data(retention_days: int, progress=None, batch_size: int = 200) -> int:
    """Remove names, e-mails and phones of sign-ups to rallies that ended long enough ago.

    Statuses and check-ins stay, so every count and summary is unchanged. Returns how many
    sign-ups were purged.
    """
    cutoff = utcnow() - timedelta(days=retention_days)
    due = (
        select(Rally.id)
        .where(Rally.end_dt < cutoff)
        .where(
            select(Signup.id)
            .where(Signup.rally_id == Rally.id, Signup.purged_dt.is_(None))
            .exists()
        )
        .order_by(Rally.id)
    )
    rally_ids = list(db.session.scalars(due))
    purged = 0
    for start in range(0, len(rally_ids), batch_size):
        chunk = rally_ids[start : start + batch_size]
        result = db.session.execute(
            update(Signup)
            .where(Signup.rally_id.in_(chunk), Signup.purged_dt.is_(None))
            .values(name=None, email=None, phone=None, purged_dt=utcnow())
        )
        db.session.execute(delete(CoorganizerInvite).where(CoorganizerInvite.rally_id.in_(chunk)))
        purged += result.rowcount
        if progress:
            progress(min(start + batch_size, len(rally_ids)), len(rally_ids), purged)
    record_audit(None, "signups.purge", "signup", None, f"{purged} sign-ups")
    return purged
