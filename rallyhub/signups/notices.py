"""How sign-ups follow changes to their rally: a larger capacity, a new time or place, a
cancellation. Each notice goes to every active sign-up, in its own language."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import String, cast, literal, select

from rallyhub.extensions import db
from rallyhub.i18n import format_local_range
from rallyhub.mail import OutboxMessage, queue_messages
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.rallies.risk import held_until, is_held
from rallyhub.rallies.services import location_for
from rallyhub.signals import rally_cancelled, rally_changed
from rallyhub.signups.messages import (
    about,
    calendar_of,
    city_line,
    manage_url,
    subject_of,
    title_of,
    when_line,
    where_line,
)
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.signups.services import ACTIVE, promote_waitlisted

TIME_FIELDS = frozenset({"start_dt", "end_dt"})
PLACE_FIELDS = frozenset({"city", "latitude", "longitude", "meeting_point"})
# An approved rally, or one an edit sent back to review: its sign-ups still stand.
LIVE = (RallyStatus.APPROVED, RallyStatus.PENDING)


@rally_changed.connect
def _on_rally_changed(
    rally: Rally, *, changed: frozenset[str], before: dict | None = None, **_extra
) -> None:
    """Let the waiting list in after a capacity change; tell sign-ups of a new time or place."""
    if "capacity" in changed:
        promote_waitlisted(rally)
    if changed & (TIME_FIELDS | PLACE_FIELDS):
        tell_new_time_or_place(rally, changed, before or {})


@rally_cancelled.connect
def _on_rally_cancelled(rally: Rally, **_extra) -> None:
    tell_cancelled(rally)


def _active_signups(rally: Rally) -> list[Signup]:
    """Everyone a change concerns: active sign-ups, and open requests to join (told of the
    new time and city, never of a meeting point they may not know yet)."""
    return list(
        db.session.scalars(
            select(Signup)
            .where(
                Signup.rally_id == rally.id,
                Signup.status.in_((*ACTIVE, SignupStatus.REQUESTED)),
                Signup.email.is_not(None),
            )
            .order_by(Signup.id)
        )
    )


def _old_time(rally: Rally, before: dict) -> str | None:
    if not before.keys() & TIME_FIELDS:
        return None
    start: datetime = before.get("start_dt", rally.start_dt)
    end: datetime = before.get("end_dt", rally.end_dt)
    return format_local_range(start, end, rally.timezone)


def _old_place(rally: Rally, signup: Signup, before: dict) -> str | None:
    """The place as this person could see it before the change."""
    if not before.keys() & PLACE_FIELDS:
        return None
    city = before.get("city", rally.city)
    location = location_for(rally, signup=signup)
    if location.meeting_point is None:
        return city
    return f"{before.get('meeting_point', rally.meeting_point)}, {city}"


def tell_new_time_or_place(rally: Rally, changed: frozenset[str], before: dict) -> int:
    """E-mail every active sign-up what changed, old → new; return how many were written to.

    The e-mail is the private channel: it carries the meeting point and pin of a protected
    rally too, with the person's own manage link.
    """
    if rally.status not in LIVE or rally.end_dt <= utcnow():
        return 0
    rows = []
    for signup in _active_signups(rally):
        with force_locale(signup.language):
            lines = [_("Hello %(name)s,", name=signup.name), ""]
            lines.append(
                _(
                    "The organizers of “%(title)s” changed its time and place.",
                    title=title_of(rally),
                )
                if changed & TIME_FIELDS and changed & PLACE_FIELDS
                else _("The organizers of “%(title)s” changed its time.", title=title_of(rally))
                if changed & TIME_FIELDS
                else _("The organizers of “%(title)s” changed its place.", title=title_of(rally))
            )
            old_time, old_place = _old_time(rally, before), _old_place(rally, signup, before)
            if old_time:
                lines.append(_("Before: %(when)s", when=old_time))
            lines.append(when_line(rally))
            if old_place:
                lines.append(_("Before: %(place)s", place=old_place))
            lines.append(where_line(rally, signup) if signup.holds_a_place else city_line(rally))
            if signup.status is SignupStatus.WAITLISTED:
                lines.append(_("You are still on the waiting list."))
            if signup.status is SignupStatus.REQUESTED:
                lines.append(_("Your request to join is still with the organizers."))
            lines += [
                "",
                _("Can't come any more? Cancel with your private link (do not share it):"),
                manage_url(signup),
            ]
            subject = subject_of(rally, _("New time or place: %(title)s", title=title_of(rally)))
        rows.append(
            {
                "recipient": signup.email,
                "subject": subject,
                "body": "\n".join(lines),
                **about(rally, signup, "change-notice"),
            }
        )
    return len(queue_messages(rows))


def tell_cancelled(rally: Rally) -> int:
    """E-mail every active sign-up that the rally is cancelled, with the organizer's message."""
    if rally.end_dt <= utcnow():
        return 0
    # The calendar file says CANCELLED: calendar programs strike the event through.
    calendar = calendar_of(rally)
    rows = []
    for signup in _active_signups(rally):
        with force_locale(signup.language):
            lines = [
                _("Hello %(name)s,", name=signup.name),
                "",
                _("“%(title)s” is cancelled.", title=title_of(rally)),
                when_line(rally),
            ]
            if rally.cancel_note:
                lines += ["", _("The organizers wrote:"), rally.cancel_note]
            lines += ["", _("Thank you for wanting to be there.")]
            subject = subject_of(rally, _("Cancelled: %(title)s", title=title_of(rally)))
        rows.append(
            {
                "recipient": signup.email,
                "subject": subject,
                "body": "\n".join(lines),
                "kind": "cancellation",
                "dedup_key": f"cancellation:{signup.id}",
                "signup_id": signup.id,
                "rally_id": rally.id,
                "calendar": calendar,
            }
        )
    return len(queue_messages(rows))


MEETING_POINT = "meeting-point"
# Rallies whose held meeting point may fall due: starting within the longest hold.
LONGEST_HOLD = timedelta(hours=72)


def queue_released_meeting_points(now: datetime) -> int:
    """E-mail the meeting point to everyone holding a place at a protected rally whose held
    meeting point is released by ``now`` (once each: the message has a unique key)."""
    rallies = db.session.scalars(
        select(Rally).where(
            Rally.status == RallyStatus.APPROVED,
            Rally.visibility == Visibility.PROTECTED,
            Rally.start_dt > now,
            Rally.start_dt <= now + LONGEST_HOLD,
        )
    )
    written = 0
    for rally in rallies:
        if held_until(rally) is None or is_held(rally, now):
            continue
        key = literal(f"{MEETING_POINT}:") + cast(Signup.id, String)
        already = select(OutboxMessage.id).where(OutboxMessage.dedup_key == key).exists()
        signups = db.session.scalars(
            select(Signup).where(
                Signup.rally_id == rally.id,
                Signup.status == SignupStatus.GOING,
                Signup.email.is_not(None),
                ~already,
            )
        ).all()
        rows = []
        for signup in signups:
            with force_locale(signup.language):
                subject = subject_of(rally, _("Meeting point: %(title)s", title=title_of(rally)))
                lines = [
                    _("Hello %(name)s,", name=signup.name),
                    "",
                    _(
                        "here is the meeting point of “%(title)s”, as promised. Please keep it "
                        "to yourself.",
                        title=title_of(rally),
                    ),
                    when_line(rally),
                    where_line(rally, signup, now),
                    "",
                    _("Can't come any more? Cancel with your private link (do not share it):"),
                    manage_url(signup),
                ]
            rows.append(
                {
                    "dedup_key": f"{MEETING_POINT}:{signup.id}",
                    "recipient": signup.email,
                    "subject": subject,
                    "body": "\n".join(lines),
                    **about(rally, signup, MEETING_POINT),
                }
            )
        written += len(queue_messages(rows))
    return written
