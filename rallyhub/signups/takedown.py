"""What a rally's emergency take-down does to its sign-ups: each person gets one neutral
message, then everything that could identify them is wiped; the rows stay, so counts do.

The message is written first, in the person's language, and then stands alone: its outbox row
holds the address, a subject and a body, and nothing that ties it to the sign-up or the rally
(no sign-up or rally id, no key, no calendar, no link), and its address and text are blanked
as soon as it is delivered (``mail.FORGOTTEN_WHEN_SENT``). It names neither the rally, its
campaign nor its city: whoever reads the recipient's inbox learns nothing from it.
"""

from __future__ import annotations

import logging
import secrets

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, queue_messages
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally
from rallyhub.signals import rally_taken_down
from rallyhub.signups.models import Signup, new_manage_token
from rallyhub.signups.services import forget_incidents

log = logging.getLogger(__name__)

NOTICE_KIND = "takedown-notice"


@rally_taken_down.connect
def _on_rally_taken_down(rally: Rally, *, told: set[str] | None = None, **_extra) -> None:
    tell_and_forget(rally, set() if told is None else told)


def neutral_notice(recipient: str, language: str) -> dict:
    """The one message a take-down sends a person, in their language; an outbox row."""
    with force_locale(language):
        subject = _("An update about your plans")
        body = "\n".join(
            [
                _("Hello,"),
                "",
                _("The event you asked about will not take place. You don't need to do anything."),
                "",
                _("Please delete earlier messages about it if that keeps you safe."),
            ]
        )
    return {"kind": NOTICE_KIND, "recipient": recipient, "subject": subject, "body": body}


def tell_and_forget(rally: Rally, told: set[str]) -> int:
    """Write everyone who signed up for ``rally`` (and is not in ``told``) the neutral notice,
    then wipe the rally's sign-ups and every message to them; return how many were written."""
    people = db.session.execute(
        select(Signup.email, Signup.language).where(
            Signup.rally_id == rally.id,
            Signup.purged_dt.is_(None),
            Signup.email.is_not(None),
        )
    ).all()
    notices = []
    for email, language in people:
        if email in told:
            continue
        told.add(email)
        notices.append(neutral_notice(email, language))
    # In no particular order: the outbox's ids must not repeat the order of the sign-ups.
    secrets.SystemRandom().shuffle(notices)
    signup_ids = select(Signup.id).where(Signup.rally_id == rally.id)
    # Queued ones must not go out, sent ones keep no copy: they name the rally and the person.
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.signup_id.in_(signup_ids)))
    wiped = _wipe(rally)
    forget_incidents(Rally.id == rally.id)
    queue_messages(notices)
    log.info("take-down of rally %s: %d sign-ups wiped, %d told", rally.id, wiped, len(notices))
    return len(notices)


def _wipe(rally: Rally) -> int:
    """Blank the personal fields of every sign-up to ``rally``; statuses, times and check-ins
    stay for the counts. Each manage link is replaced by a new secret that was never sent."""
    ids = list(db.session.scalars(select(Signup.id).where(Signup.rally_id == rally.id)))
    if not ids:
        return 0
    now = utcnow()
    db.session.execute(
        update(Signup),
        [
            {
                "id": signup_id,
                "name": None,
                "email": None,
                "phone": None,
                "consent_to_contact": False,
                "token": new_manage_token(),
                "purged_dt": now,
            }
            for signup_id in ids
        ],
    )
    return len(ids)
