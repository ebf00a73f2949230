"""The named signals through which a lower area lets higher ones react, all listed here.

Areas depend downward only (places, auth → campaigns → rallies → signups, toolkits → map,
api, hq): when something in a lower area must set off work in a higher one, the lower area
sends one of these signals and the higher area connects a receiver to it. Receivers run
inside the sender's transaction, before the commit: they record what must happen (rows,
queued e-mail), never deliver anything themselves.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

rally_changed = _signals.signal(
    "rally-changed",
    doc="""An organizer or HQ saved changes to a rally (``rallies.services.update_rally``).

    Sent after the change is flushed, before the commit.

    :param sender: the :class:`~rallyhub.rallies.models.Rally`, already changed (its status
        included: an approved rally whose reviewed facts changed is pending again).
    :param changed: a ``frozenset`` of the names of the attributes that changed, e.g.
        ``{"start_dt", "meeting_point", "capacity"}``; never empty.
    """,
)
