"""Reminders for every supporter, account or not: the day before a rally and on the day.

Times are wall times in the rally's own zone (11:00 the day before, 08:00 on the day, or three
hours before an evening rally, by default), so a reminder keeps its local hour across a change
of daylight saving time. The sweep calls :func:`queue_due_reminders` every minute; each
reminder has a unique key, so two sweeps at once, or one run again, write it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import String, cast, literal, select

from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, queue_messages
from rallyhub.rallies.models import Rally
from rallyhub.rallies.services import upcoming_rallies
from rallyhub.signups.messages import (
    calendar_of,
    manage_url,
    subject_of,
    title_of,
    unsubscribe_url,
    when_line,
    where_line,
)
from rallyhub.signups.models import Signup, SignupStatus

EVE, DAY = "reminder-eve", "reminder-day"
# A day-before reminder is due from the day before at 11:00 local at the earliest: the
# rallies that can have a reminder due start within this window.
LOOKAHEAD = timedelta(hours=48)


@dataclass(frozen=True)
class ReminderTimes:
    """When a rally's two reminders are due, in UTC."""

    eve: datetime
    day: datetime


def reminder_times(rally: Rally) -> ReminderTimes:
    """The day-before and the on-the-day reminder times of ``rally`` (UTC)."""
    config, campaign = current_app.config, rally.campaign
    zone = ZoneInfo(rally.timezone)
    local_start = rally.start_dt.astimezone(zone)
    eve = datetime.combine(
        local_start.date() - timedelta(days=1), time(campaign.reminder_eve_hour), zone
    )
    if local_start.hour >= config["REMINDER_EVENING_FROM_HOUR"]:
        day = rally.start_dt - timedelta(hours=config["REMINDER_EVENING_HOURS_BEFORE"])
    else:
        day = datetime.combine(local_start.date(), time(campaign.reminder_day_hour), zone)
    return ReminderTimes(
        eve.astimezone(rally.start_dt.tzinfo), day.astimezone(rally.start_dt.tzinfo)
    )


def due_kind(rally: Rally, now: datetime) -> str | None:
    """The reminder of ``rally`` due at ``now``, if any: only the latest one, never both."""
    if now >= rally.start_dt:
        return None
    times = reminder_times(rally)
    if now >= times.day:
        return DAY
    if now >= times.eve:
        return EVE
    return None


def queue_due_reminders(now: datetime) -> int:
    """Write the reminders due at ``now`` that are not written yet; return how many."""
    rallies = upcoming_rallies(now, campaign_switch=Campaign.reminders_on, until=now + LOOKAHEAD)
    written = 0
    for rally in rallies:
        kind = due_kind(rally, now)
        if kind is not None:
            written += _queue_for(rally, kind)
    return written


def _queue_for(rally: Rally, kind: str) -> int:
    key = literal(f"{kind}:") + cast(Signup.id, String)
    already = select(OutboxMessage.id).where(OutboxMessage.dedup_key == key).exists()
    signups = db.session.scalars(
        select(Signup)
        .where(
            Signup.rally_id == rally.id,
            Signup.status == SignupStatus.GOING,
            Signup.purged_dt.is_(None),
            Signup.unsubscribed_dt.is_(None),
            ~already,
        )
        .order_by(Signup.id)
    ).all()
    calendar = calendar_of(rally)
    rows = []
    for signup in signups:
        unsubscribe = unsubscribe_url(signup)
        rows.append(
            {
                "kind": kind,
                "dedup_key": f"{kind}:{signup.id}",
                "signup_id": signup.id,
                "rally_id": rally.id,
                "recipient": signup.email,
                "calendar": calendar,
                "unsubscribe_url": unsubscribe,
                **_text(rally, signup, kind, unsubscribe),
            }
        )
    return len(queue_messages(rows))


def _text(rally: Rally, signup: Signup, kind: str, unsubscribe: str) -> dict[str, str]:
    with force_locale(signup.language):
        if kind == EVE:
            subject = subject_of(rally, _("Tomorrow: %(title)s", title=title_of(rally)))
            opening = _("a reminder: “%(title)s” is tomorrow.", title=title_of(rally))
        else:
            subject = subject_of(rally, _("Today: %(title)s", title=title_of(rally)))
            opening = _("a reminder: “%(title)s” is today.", title=title_of(rally))
        lines = [
            _("Hello %(name)s,", name=signup.name),
            "",
            opening,
            when_line(rally),
            where_line(rally, signup),
            "",
            _("Still coming? Then there is nothing to do."),
            _(
                "Can't come any more? Please cancel with your private link, so that someone else "
                "can have your place:"
            ),
            manage_url(signup),
            "",
            _("No more reminders for this sign-up: %(link)s", link=unsubscribe),
        ]
    return {"subject": subject, "body": "\n".join(lines)}
