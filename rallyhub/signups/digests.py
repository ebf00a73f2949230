"""The organizers' daily digest of new sign-ups, while a rally is upcoming.

Counts only, never a name or an address: the attendee page (behind a sign-in) holds those.
Sent at DIGEST_HOUR in the rally's own zone, only when someone signed up in the last day, to
the organizer and co-organizers who have not turned digests off; one a day per person and
rally, however often the sweep runs.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, select

from rallyhub.auth.services import digests_off_url
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.mail import queue_messages
from rallyhub.rallies.models import Rally
from rallyhub.rallies.services import upcoming_rallies
from rallyhub.signups.messages import title_of
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.signups.services import places_left
from rallyhub.urls import external_url

DIGEST = "digest"
# What counts as a new sign-up: a place, the waiting list, or a request still to answer.
NEW = (SignupStatus.GOING, SignupStatus.WAITLISTED, SignupStatus.REQUESTED)


def queue_due_digests(now: datetime) -> int:
    """Write the digests due at ``now`` that are not written yet; return how many."""
    # The sweep runs every minute: only rallies someone joined lately can have a digest due.
    recent = select(Signup.rally_id).where(
        Signup.created_dt > now - timedelta(days=2), Signup.status.in_(NEW)
    )
    rallies = upcoming_rallies(now, campaign_switch=Campaign.digests_on, among=recent)
    written = 0
    for rally in rallies:
        zone = ZoneInfo(rally.timezone)
        local_day = now.astimezone(zone).date()
        due = datetime.combine(local_day, time(current_app.config["DIGEST_HOUR"]), zone)
        if now < due:
            continue
        new = db.session.scalar(
            select(func.count())
            .select_from(Signup)
            .where(
                Signup.rally_id == rally.id,
                Signup.status.in_(NEW),
                Signup.created_dt > due - timedelta(days=1),
                Signup.created_dt <= due,
            )
        )
        if new:
            written += _queue_for(rally, local_day.isoformat(), new)
    return written


def _queue_for(rally: Rally, day: str, new: int) -> int:
    rows = []
    for person in [rally.organizer, *rally.coorganizers]:
        if not person.is_active or person.digests_off_dt is not None:
            continue
        with force_locale(person.language):
            rows.append(_digest(rally, person, day, new))
    return len(queue_messages(rows))


def _digest(rally: Rally, person, day: str, new: int) -> dict:
    counts = dict(
        db.session.execute(
            select(Signup.status, func.count())
            .where(Signup.rally_id == rally.id)
            .group_by(Signup.status)
        ).all()
    )
    left = places_left(rally)
    lines = [
        ngettext(
            "%(num)d new sign-up for “%(title)s” in the last day.",
            "%(num)d new sign-ups for “%(title)s” in the last day.",
            new,
            title=title_of(rally),
        ),
        _(
            "Going: %(going)d · waiting list: %(waiting)d",
            going=counts.get(SignupStatus.GOING, 0),
            waiting=counts.get(SignupStatus.WAITLISTED, 0),
        ),
    ]
    if left is not None:
        lines.append(_("Places left: %(left)d", left=left))
    if counts.get(SignupStatus.REQUESTED):
        lines.append(
            _(
                "Asking to join, waiting for your answer: %(asking)d",
                asking=counts[SignupStatus.REQUESTED],
            )
        )
    lines += [
        "",
        _("Who signed up (sign in first):"),
        external_url("signups.attendees", rally_id=rally.id),
    ]
    unsubscribe = digests_off_url(person)
    body = "\n".join(
        [
            _("Hello %(name)s,", name=person.name),
            "",
            *lines,
            "",
            _("No more daily digests: %(link)s", link=unsubscribe),
        ]
    )
    return {
        "kind": DIGEST,
        "dedup_key": f"{DIGEST}:{rally.id}:{person.id}:{day}",
        "rally_id": rally.id,
        "recipient": person.email,
        "subject": _("New sign-ups: %(title)s", title=title_of(rally)),
        "body": body,
        "unsubscribe_url": unsubscribe,
    }
