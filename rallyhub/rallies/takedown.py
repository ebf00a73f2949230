"""Emergency take-down: a rally leaves every public surface at once, and the personal data of
the people around it goes with it.

For when a rally puts people in danger (a threat, a leaked plan, a raid): one confirmed action
of its organizers or HQ, or HQ's for every upcoming rally of a country. The rally keeps its row
with the status ``TAKEN_DOWN``. Every public list reads approved rallies only (the calendar and
HQ's summaries also those cancelled after approval: ``filters.was_public``), and
``services.is_public`` opens its page to no one but its organizers and HQ, so everywhere else
it answers 404, like a rally that never was; nothing, not even an edit or a cancellation, can
make it public again (``services.refuse_if_taken_down``).

The areas above hear of it through ``rally_taken_down``: sign-ups write each person one neutral
message and then wipe their names, addresses, phones, consent and manage links (the rows
stay, so counts do).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, func, select

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.errors import NotAllowed
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage
from rallyhub.models import utcnow
from rallyhub.rallies.models import CoorganizerInvite, Rally, RallyStatus
from rallyhub.rallies.services import can_manage
from rallyhub.signals import rally_taken_down

log = logging.getLogger(__name__)


def is_taken_down(rally: Rally) -> bool:
    """Whether the rally was taken down (its organizers and HQ still see it, marked so)."""
    return rally.status is RallyStatus.TAKEN_DOWN


def take_down_rally(actor: User, rally: Rally) -> bool:
    """Take one rally down, for its organizers and HQ; False when it was down already."""
    if not can_manage(rally, actor):
        raise NotAllowed()
    if is_taken_down(rally):
        return False
    _take_down(actor, rally, utcnow(), told=set())
    return True


def _upcoming(now: datetime):
    """Rallies that have not ended and are not taken down, whatever their status: a cancelled
    one keeps a public page, a pending one may have had sign-ups."""
    return select(Rally).where(Rally.end_dt > now, Rally.status != RallyStatus.TAKEN_DOWN)


def countries_to_take_down() -> list[tuple[str, int]]:
    """(country code, rallies) for every country with upcoming rallies that are not down."""
    upcoming = _upcoming(utcnow()).subquery()
    query = (
        select(upcoming.c.country_code, func.count())
        .group_by(upcoming.c.country_code)
        .order_by(upcoming.c.country_code)
    )
    return [(code, count) for code, count in db.session.execute(query)]


def take_down_country(actor: User, country_code: str) -> int:
    """Take down every upcoming rally of a country at once, for HQ; return how many.

    Someone signed up for several of them gets one message, not one per rally.
    """
    if not (actor and actor.is_authenticated and actor.is_hq):
        raise NotAllowed()
    now = utcnow()
    # Locked: a sign-up arriving meanwhile waits, then finds the rally down.
    rallies = list(
        db.session.scalars(
            _upcoming(now)
            .where(Rally.country_code == country_code.upper())
            .order_by(Rally.id)
            .with_for_update()
        )
    )
    told: set[str] = set()
    for rally in rallies:
        _take_down(actor, rally, now, told=told, detail="country")
    record_audit(
        actor,
        "rallies.take_down_country",
        "country",
        None,
        f"{country_code.upper()}: {len(rallies)}",
    )
    return len(rallies)


def recently_taken_down(limit: int = 50) -> list[Rally]:
    """The rallies taken down lately, the latest first (HQ's take-down page lists them)."""
    query = (
        select(Rally)
        .where(Rally.status == RallyStatus.TAKEN_DOWN)
        .order_by(Rally.taken_down_dt.desc(), Rally.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def _take_down(actor: User, rally: Rally, now: datetime, *, told: set[str], detail: str = ""):
    rally.status = RallyStatus.TAKEN_DOWN
    rally.taken_down_dt = now
    # Written first: from here on a sign-up arriving at the same instant waits for this
    # transaction, then finds the rally closed; the wipe below sees every earlier one.
    db.session.flush()
    # Invitations to co-organize hold addresses, and their links name the rally.
    db.session.execute(delete(CoorganizerInvite).where(CoorganizerInvite.rally_id == rally.id))
    # Every message about the rally, whatever its state: a queued one must not go out, a sent
    # one keeps no copy of its title and recipient (the sign-ups' own go with them below).
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.rally_id == rally.id))
    # Who and when; never whom it concerned.
    record_audit(actor, "rally.take_down", "rally", rally.id, detail)
    rally_taken_down.send(rally, told=told)
    log.warning("rally %s taken down by account %s", rally.id, actor.id)
