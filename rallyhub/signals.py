"""The named signals through which a lower area lets higher ones react, all listed here.

Areas depend downward only (places, auth → campaigns → rallies → signups, toolkits → map,
api, hq): when something in a lower area must set off work in a higher one, the lower area
sends one of these signals and the higher area connects a receiver to it. Receivers run
inside the sender's transaction, before the commit: they record what must happen (rows,
queued e-mail), never deliver anything themselves.

Signals whose name ends in ``_shown`` let a higher area add to a lower area's page (as
Indico's template hooks do): each receiver returns a dict of template values, merged by
:func:`values_from_signal`.
"""

from __future__ import annotations

from typing import Any

from blinker import NamedSignal, Namespace

_signals = Namespace()

rally_changed = _signals.signal(
    "rally-changed",
    doc="""An organizer or HQ saved changes to a rally (``rallies.services.update_rally``).

    Sent after the change is flushed, before the commit.

    :param sender: the :class:`~rallyhub.rallies.models.Rally`, already changed (its status
        included: an approved rally whose reviewed facts changed is pending again).
    :param changed: a ``frozenset`` of the names of the attributes that changed, e.g.
        ``{"start_dt", "meeting_point", "capacity"}``; never empty.
    :param before: the changed attributes' values before the change, by name.
    """,
)

rally_cancelled = _signals.signal(
    "rally-cancelled",
    doc="""An organizer or HQ cancelled a rally (``rallies.services.cancel_rally``).

    Sent after the change is flushed, before the commit.

    :param sender: the :class:`~rallyhub.rallies.models.Rally`, cancelled, with its
        ``cancel_note`` (the organizer's message to the people who signed up).
    """,
)

rally_taken_down = _signals.signal(
    "rally-taken-down",
    doc="""An organizer or HQ took a rally down in an emergency (``rallies.takedown``).

    Sent after the rally is hidden (status ``TAKEN_DOWN``) and flushed, before the commit.
    Receivers wipe what they keep about the people around it (sign-ups: names, e-mails,
    phones, consent, manage links and their messages, counts kept) and write each person at
    most one neutral message that names neither the rally, its campaign nor its city.

    :param sender: the :class:`~rallyhub.rallies.models.Rally`, taken down.
    :param told: a ``set`` of the addresses already written to by this action, shared by the
        rallies of one action (HQ's take-down of a country): add to it, and write to none
        that is in it, so that everyone gets one message however many rallies they joined.
    """,
)

rally_page_shown = _signals.signal(
    "rally-page-shown",
    doc="""The public page of a rally is being rendered (``rallies.services.page_context``).

    :param sender: the :class:`~rallyhub.rallies.models.Rally`.
    :param signup_form: a sign-up form being shown again with its errors, or ``None``.
    :return: template values, e.g. ``{"signup_form": ..., "places_left": ...}`` (sign-ups).
    """,
)

organizer_dashboard_shown = _signals.signal(
    "organizer-dashboard-shown",
    doc="""An organizer's "My rallies" page is being rendered (``rallies.views.mine``).

    :param sender: the signed-in :class:`~rallyhub.auth.models.User`.
    :param rallies: the rallies the page lists.
    :return: template values, e.g. ``{"checklist": ...}`` (toolkits' steps for organizers),
        ``{"signup_counts": ...}`` (sign-ups: going and waiting per rally).
    """,
)


def values_from_signal(signal: NamedSignal, sender: Any, **kwargs: Any) -> dict[str, Any]:
    """Send ``signal`` and merge the dicts its receivers return."""
    values: dict[str, Any] = {}
    for _receiver, returned in signal.send(sender, **kwargs):
        values.update(returned or {})
    return values
