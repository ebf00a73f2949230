"""Safety check-ins after a rally, on the rally's side: whether a rally has them, when its
links work, and the legal-aid and emergency contacts HQ keeps per country and language.

The people's side (the links mailed to each person, their answers, the incidents an "I need
help" raises) is in ``rallyhub.signups.safety``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from rallyhub.auth.audit import record_audit
from rallyhub.auth.models import User
from rallyhub.campaigns.models import Campaign
from rallyhub.errors import NotAllowed, NotFound, UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name, name_sort_key, reader_language, same_language
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus, SafetyContact
from rallyhub.rallies.risk import discreet

log = logging.getLogger(__name__)

# The language shown when HQ wrote nothing in the reader's.
FALLBACK_LANGUAGE = "en"
MAX_CONTACT_TEXT = 5000


def checkins_on(rally: Rally) -> bool:
    """Whether the people at ``rally`` are asked after it whether they got home safe.

    The one rule, used by the sweep that mails the links, by the links themselves and by the
    organizers' counts: the organizer's choice on the rally, and always in a country HQ
    marks high-risk.
    """
    return bool(rally.safety_checkins) or discreet(rally)


def checkin_hours() -> int:
    """How long after a rally's end its check-in links work."""
    return int(current_app.config["SAFETY_CHECKIN_HOURS"])


def checkins_close(rally: Rally) -> datetime:
    """When the rally's check-in links stop working."""
    return rally.end_dt + timedelta(hours=checkin_hours())


def checkins_open(rally: Rally, now: datetime | None = None) -> bool:
    """Whether the rally's check-in links work at ``now``: it took place (approved), it has
    check-ins, it has ended, and not longer ago than SAFETY_CHECKIN_HOURS."""
    now = now or utcnow()
    return (
        rally.status is RallyStatus.APPROVED
        and checkins_on(rally)
        and rally.end_dt <= now < checkins_close(rally)
    )


def rallies_open_for_checkins(now: datetime) -> list[Rally]:
    """The rallies whose check-in links work at ``now``, with their campaigns."""
    query = (
        select(Rally)
        .join(Campaign, Campaign.id == Rally.campaign_id)
        .options(contains_eager(Rally.campaign))
        .where(
            Rally.status == RallyStatus.APPROVED,
            Rally.end_dt <= now,
            Rally.end_dt > now - timedelta(hours=checkin_hours()),
        )
        .order_by(Rally.end_dt, Rally.id)
    )
    # Ended in the last few days: a short list, checked by the one rule in Python.
    return [rally for rally in db.session.scalars(query) if checkins_open(rally, now)]


# -- HQ's contacts, per country and language ----------------------------------------------


def contact_for(country_code: str, language: str | None = None) -> SafetyContact | None:
    """HQ's contacts for a country in ``language`` (default: the reader's) if written, else in
    English, else in any language HQ wrote them in; None when HQ has none for the country."""
    contacts = list(
        db.session.scalars(
            select(SafetyContact)
            .where(SafetyContact.country_code == (country_code or "").upper())
            .order_by(SafetyContact.language)
        )
    )
    for wanted in (language or reader_language(), FALLBACK_LANGUAGE):
        for contact in contacts:
            if same_language(contact.language, wanted):
                return contact
    return contacts[0] if contacts else None


def list_contacts() -> list[SafetyContact]:
    """Every country's contacts, by the country's name in the reader's language, then by
    language."""
    contacts = db.session.scalars(select(SafetyContact))
    return sorted(
        contacts,
        key=lambda contact: (name_sort_key(country_name(contact.country_code)), contact.language),
    )


def get_contact_or_404(contact_id: int) -> SafetyContact:
    """One of HQ's contact texts, or 404."""
    contact = db.session.get(SafetyContact, contact_id)
    if contact is None:
        raise NotFound()
    return contact


def _checked(country_code: str, language: str, text: str) -> tuple[str, str, str]:
    code = (country_code or "").strip().upper()
    if len(code) != 2 or not code.isalpha() or country_name(code) == code:
        raise UserError(_("Please choose a country."), field="country_code")
    if language not in current_app.config["LANGUAGES"]:
        raise UserError(_("Please choose one of the interface’s languages."), field="language")
    text = (text or "").strip()
    if not text:
        raise UserError(_("Please write the contacts."), field="text")
    if len(text) > MAX_CONTACT_TEXT:
        raise UserError(
            _("Please keep this under %(num)d characters.", num=MAX_CONTACT_TEXT), field="text"
        )
    return code, language, text


def save_contact(
    actor: User,
    country_code: str,
    language: str,
    text: str,
    contact: SafetyContact | None = None,
) -> SafetyContact:
    """Write a country's contacts in a language (a new text, or ``contact`` changed); one
    text per country and language."""
    if not actor.is_hq:
        raise NotAllowed()
    code, language, text = _checked(country_code, language, text)
    taken = db.session.scalar(
        select(SafetyContact.id).where(
            SafetyContact.country_code == code, SafetyContact.language == language
        )
    )
    if taken is not None and (contact is None or taken != contact.id):
        raise _already_written(code)
    created = contact is None
    contact = contact or SafetyContact()
    contact.country_code, contact.language, contact.text = code, language, text
    contact.updated_by_id = actor.id
    contact.updated_dt = utcnow()
    try:
        # Two HQ people writing the same country and language at once: one of them is told.
        with db.session.begin_nested():
            db.session.add(contact)
            db.session.flush()
    except IntegrityError:
        raise _already_written(code) from None
    record_audit(
        actor,
        "safety_contact.create" if created else "safety_contact.update",
        "safety_contact",
        contact.id,
        f"{code} {language}",
    )
    return contact


def _already_written(code: str) -> UserError:
    return UserError(
        _(
            "There are contacts for %(country)s in this language already: change those instead.",
            country=country_name(code),
        ),
        field="language",
    )


def delete_contact(actor: User, contact: SafetyContact) -> None:
    """Remove a country's contacts in one language."""
    if not actor.is_hq:
        raise NotAllowed()
    detail = f"{contact.country_code} {contact.language}"
    contact_id = contact.id
    db.session.delete(contact)
    db.session.flush()
    record_audit(actor, "safety_contact.delete", "safety_contact", contact_id, detail)
