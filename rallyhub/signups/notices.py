"""How sign-ups follow changes to their rally: a larger capacity, a new time or place."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.mail import send_mail
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus
from rallyhub.signals import rally_changed
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.signups.services import (
    ACTIVE,
    _when_line,
    manage_url,
    promote_waitlisted,
    where_line,
)

TIME_FIELDS = frozenset({"start_dt", "end_dt"})
PLACE_FIELDS = frozenset({"city", "latitude", "longitude", "meeting_point"})
# An approved rally, or one an edit sent back to review: its sign-ups still stand.
LIVE = (RallyStatus.APPROVED, RallyStatus.PENDING)


@rally_changed.connect
def _on_rally_changed(rally: Rally, *, changed: frozenset[str], **_extra) -> None:
    """Let the waiting list in after a capacity change; tell sign-ups of a new time or place."""
    if "capacity" in changed:
        promote_waitlisted(rally)
    if changed & (TIME_FIELDS | PLACE_FIELDS):
        tell_new_time_or_place(rally, changed)


def tell_new_time_or_place(rally: Rally, changed: frozenset[str]) -> int:
    """E-mail every active sign-up the rally's time and place; return how many were written to.

    The e-mail is the private channel: it carries the meeting point and pin of a protected
    rally too, with the person's own manage link.
    """
    if rally.status not in LIVE or rally.end_dt <= utcnow():
        return 0
    time, place = bool(changed & TIME_FIELDS), bool(changed & PLACE_FIELDS)
    if time and place:
        what = _("The organizers of “%(title)s” changed its time and place.", title=rally.title)
    elif time:
        what = _("The organizers of “%(title)s” changed its time.", title=rally.title)
    else:
        what = _("The organizers of “%(title)s” changed its place.", title=rally.title)
    signups = db.session.scalars(
        select(Signup)
        .where(Signup.rally_id == rally.id, Signup.status.in_(ACTIVE), Signup.email.is_not(None))
        .order_by(Signup.id)
    ).all()
    for signup in signups:
        lines = [
            _("Hello %(name)s,", name=signup.name),
            "",
            what,
            _when_line(rally),
            where_line(rally, signup),
        ]
        if signup.status is SignupStatus.WAITLISTED:
            lines.append(_("You are still on the waiting list."))
        lines += [
            "",
            _("Can't come any more? Cancel with your private link (do not share it):"),
            manage_url(signup),
        ]
        subject = _("New time or place: %(title)s", title=rally.title)
        send_mail(signup.email, subject, "\n".join(lines))
    return len(signups)
