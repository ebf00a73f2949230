"""What supporters receive about their sign-up, written in their language: confirmation, a
second sign-up with their address, a place from the waiting list. Reminders and notices of
changes build on the same lines."""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _

from rallyhub.i18n import format_local_range
from rallyhub.mail import send_mail
from rallyhub.rallies.calendar import build_calendar
from rallyhub.rallies.models import Rally
from rallyhub.rallies.services import location_for
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.urls import external_url


def unsubscribe_url(signup: Signup) -> str:
    """The one-click link that turns the sign-up's optional messages off (reminders, the
    organizers' messages); the rally's own notices still arrive."""
    return external_url("signups.unsubscribe", token=signup.token)


def calendar_of(rally: Rally) -> str:
    """The rally as an iCalendar file, to attach to a message that names its time."""
    return build_calendar(
        [rally], lambda r: external_url("rallies.detail", rally_id=r.id), rally.title
    ).decode()


def about(rally: Rally, signup: Signup, kind: str) -> dict:
    """The outbox fields that tie a message to its sign-up and rally, with the calendar."""
    return {
        "kind": kind,
        "signup_id": signup.id,
        "rally_id": rally.id,
        "calendar": calendar_of(rally),
    }


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


def when_line(rally: Rally) -> str:
    """The "When:" of an e-mail: the rally's times in its own zone."""
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


def send_confirmation(rally: Rally, signup: Signup) -> None:
    """The confirmation with the manage link (and, for a protected rally, the meeting point:
    only here, as the e-mail proves the address)."""
    lines = [
        _("Hello %(name)s,", name=signup.name),
        "",
        _status_line(rally, signup),
        when_line(rally),
        where_line(rally, signup),
        "",
        _("To change or cancel your sign-up, use your private link (do not share it):"),
        manage_url(signup),
    ]
    with force_locale(signup.language):
        subject = _("Your sign-up: %(title)s", title=rally.title)
    send_mail(signup.email, subject, "\n".join(lines), **about(rally, signup, "confirmation"))


def send_already_signed_up(rally: Rally, signup: Signup) -> None:
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
            when_line(rally),
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
            when_line(rally),
            where_line(rally, signup),
            "",
            _("To change or cancel your sign-up, use your private link (do not share it):"),
        ]
    lines = [_("Hello %(name)s,", name=signup.name), "", *middle, manage_url(signup)]
    send_mail(
        signup.email,
        _("Your sign-up: %(title)s", title=rally.title),
        "\n".join(lines),
        kind="repeated-signup",
        signup_id=signup.id,
        rally_id=rally.id,
    )


def send_promotion(rally: Rally, signup: Signup) -> None:
    """Tell a supporter on the waiting list that a place is theirs."""
    with force_locale(signup.language):
        send_mail(
            signup.email,
            _("A place is yours: %(title)s", title=rally.title),
            "\n".join(
                [
                    _("Hello %(name)s,", name=signup.name),
                    "",
                    _("a place has freed up at “%(title)s” and it is yours.", title=rally.title),
                    when_line(rally),
                    where_line(rally, signup),
                    "",
                    _("Can't come after all? Cancel with your private link:"),
                    manage_url(signup),
                ]
            ),
            **about(rally, signup, "waitlist-promotion"),
        )
