"""What supporters receive about their sign-up, written in their language: confirmation, a
second sign-up with their address, a place from the waiting list. Reminders and notices of
changes build on the same lines."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from rallyhub.i18n import format_local, format_local_range, local_city
from rallyhub.mail import send_mail
from rallyhub.rallies.calendar import build_calendar
from rallyhub.rallies.models import Rally
from rallyhub.rallies.risk import discreet, held_until, is_held
from rallyhub.rallies.services import location_for
from rallyhub.rallies.texts import rally_text
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.urls import external_url


def unsubscribe_url(signup: Signup) -> str:
    """The one-click link that turns the sign-up's optional messages off (reminders, the
    organizers' messages); the rally's own notices still arrive."""
    return external_url("signups.unsubscribe", token=signup.token)


def calendar_of(rally: Rally) -> str | None:
    """The rally as an iCalendar file, to attach to a message that names its time (none for a
    rally in a country at risk: a calendar entry names it to anyone who sees the phone)."""
    if discreet(rally):
        return None
    return build_calendar(
        [rally], lambda r: external_url("rallies.detail", rally_id=r.id), rally_text(rally).title
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


def where_line(rally: Rally, signup: Signup, now=None) -> str:
    """The "Where:" of an e-mail to ``signup``: the meeting point and pin if it may see them
    (a held one only from its release time: the e-mail then says when it comes)."""
    location = location_for(rally, signup=signup, now=now)
    until = held_until(rally)
    if location.meeting_point is None and until is not None and is_held(rally, now):
        return _(
            "Where: %(place)s. The meeting point reaches you by e-mail on %(when)s.",
            place=local_city(rally.city, rally.timezone),
            when=format_local(until, rally.timezone),
        )
    city = local_city(rally.city, rally.timezone)
    if location.meeting_point is None:
        return _("Where: %(place)s", place=city)
    pin = f"{location.latitude:.5f}, {location.longitude:.5f}"
    return _("Where: %(place)s", place=f"{location.meeting_point}, {city} ({pin})")


def when_line(rally: Rally) -> str:
    """The "When:" of an e-mail: the rally's times in its own zone."""
    return _(
        "When: %(when)s (%(zone)s)",
        when=format_local_range(rally.start_dt, rally.end_dt, rally.timezone),
        zone=rally.timezone,
    )


def title_of(rally: Rally) -> str:
    """The rally's title in the language the message is being written in; for a rally in a
    country at risk only "the event on Saturday, 12 December" (whoever reads over someone's
    shoulder learns nothing; the manage link shows the rest)."""
    if discreet(rally):
        return _("the event on %(day)s", day=_local_day(rally, "full"))
    return rally_text(rally).title


def subject_of(rally: Rally, subject: str) -> str:
    """A message's subject: ``subject``, or for a rally in a country at risk a neutral one
    that names no rally, campaign or place."""
    if discreet(rally):
        return _("Your plans for %(day)s", day=_local_day(rally, "EEEE"))
    return subject


def _local_day(rally: Rally, pattern: str) -> str:
    """The rally's day in its own zone, in the message's language."""
    return format_date(
        rally.start_dt.astimezone(ZoneInfo(rally.timezone)), pattern, locale=get_locale()
    )


def _status_line(rally: Rally, signup: Signup) -> str:
    if signup.status is SignupStatus.GOING:
        return _("you are signed up for “%(title)s”.", title=title_of(rally))
    if signup.status is SignupStatus.REQUESTED:
        return _(
            "you asked to join “%(title)s”. The organizers will answer you by e-mail.",
            title=title_of(rally),
        )
    return _(
        "“%(title)s” is full: you are on the waiting list, and we write to you as soon "
        "as a place frees up.",
        title=title_of(rally),
    )


def city_line(rally: Rally) -> str:
    """The "Where:" of an e-mail to someone who may not know the meeting point yet (a request
    to join): the city only, whatever the rally's visibility or hold."""
    return _("Where: %(place)s", place=local_city(rally.city, rally.timezone))


def send_confirmation(rally: Rally, signup: Signup, *, approved: bool = False) -> None:
    """The confirmation with the manage link (and, for a protected rally, the meeting point:
    only here, as the e-mail proves the address); ``approved``: sent when the organizers
    said yes to a request to join."""
    with force_locale(signup.language):
        lines = [
            _("Hello %(name)s,", name=signup.name),
            "",
            *([_("Good news: the organizers approved your request.")] if approved else []),
            _status_line(rally, signup),
            when_line(rally),
            where_line(rally, signup),
            "",
            _("To change or cancel your sign-up, use your private link (do not share it):"),
            manage_url(signup),
        ]
        subject = subject_of(rally, _("Your sign-up: %(title)s", title=title_of(rally)))
        send_mail(signup.email, subject, "\n".join(lines), **about(rally, signup, "confirmation"))


def send_request_received(rally: Rally, signup: Signup) -> None:
    """Tell someone who asked to join that the organizers have the request: no meeting point,
    no calendar file (nothing is agreed yet), and the manage link to see the answer or
    withdraw."""
    with force_locale(signup.language):
        lines = [
            _("Hello %(name)s,", name=signup.name),
            "",
            _(
                "we have your request to join “%(title)s”. The organizers will answer you by "
                "e-mail.",
                title=title_of(rally),
            ),
            when_line(rally),
            city_line(rally),
            "",
            _("To see your request or withdraw it, use your private link (do not share it):"),
            manage_url(signup),
        ]
        subject = subject_of(rally, _("Your request: %(title)s", title=title_of(rally)))
        send_mail(
            signup.email,
            subject,
            "\n".join(lines),
            kind="request-received",
            signup_id=signup.id,
            rally_id=rally.id,
        )


def send_declined(rally: Rally, signup: Signup) -> None:
    """Tell someone the organizers could not take them: kind, neutral, no reason given, and
    nothing about the rally they did not already know."""
    with force_locale(signup.language):
        lines = [
            _("Hello %(name)s,", name=signup.name),
            "",
            _(
                "thank you for asking to join “%(title)s”.",
                title=title_of(rally),
            ),
            _("The organizers could not confirm a place for you this time."),
            _("Thank you for wanting to be there."),
        ]
        subject = subject_of(rally, _("Your request: %(title)s", title=title_of(rally)))
        send_mail(
            signup.email,
            subject,
            "\n".join(lines),
            kind="request-declined",
            signup_id=signup.id,
            rally_id=rally.id,
        )


def send_already_signed_up(rally: Rally, signup: Signup) -> None:
    """Tell the owner of an address that someone signed it up again; nothing was changed.

    Nothing the new form held goes into the message: it may have been typed by a stranger;
    it is written in the owner's language, not the page's.
    """
    with force_locale(signup.language):
        _send_already_signed_up(rally, signup)


def _send_already_signed_up(rally: Rally, signup: Signup) -> None:
    if signup.status is SignupStatus.CANCELLED:
        middle = [
            _(
                "someone, perhaps you, tried to sign this address up for “%(title)s” again. You "
                "had cancelled your sign-up, and it stays cancelled.",
                title=title_of(rally),
            ),
            when_line(rally),
            "",
            _("To sign up again, open your private link (do not share it):"),
        ]
    elif signup.status is SignupStatus.REQUESTED:
        middle = [
            _(
                "someone, perhaps you, asked again to join “%(title)s” with this address. Your "
                "request is with the organizers, and nothing has changed: they will answer you "
                "by e-mail.",
                title=title_of(rally),
            ),
            when_line(rally),
            city_line(rally),
            "",
            _("To see your request or withdraw it, use your private link (do not share it):"),
        ]
    elif signup.status is SignupStatus.DECLINED:
        # Only the address's owner reads this; the page the form answered with is the same
        # for everyone.
        middle = [
            _(
                "someone, perhaps you, asked again to join “%(title)s” with this address. The "
                "organizers could not confirm a place for you this time, and nothing has "
                "changed.",
                title=title_of(rally),
            ),
            _("Thank you for wanting to be there."),
            "",
            _("Your private link (do not share it):"),
        ]
    else:
        middle = [
            _(
                "someone, perhaps you, signed this address up for “%(title)s” again. You were "
                "already signed up, and nothing has changed.",
                title=title_of(rally),
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
        subject_of(rally, _("Your sign-up: %(title)s", title=title_of(rally))),
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
            subject_of(rally, _("A place is yours: %(title)s", title=title_of(rally))),
            "\n".join(
                [
                    _("Hello %(name)s,", name=signup.name),
                    "",
                    _(
                        "a place has freed up at “%(title)s” and it is yours.",
                        title=title_of(rally),
                    ),
                    when_line(rally),
                    where_line(rally, signup),
                    "",
                    _("Can't come after all? Cancel with your private link:"),
                    manage_url(signup),
                ]
            ),
            **about(rally, signup, "waitlist-promotion"),
        )
