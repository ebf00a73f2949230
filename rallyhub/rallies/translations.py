"""Organizers translate their rally into the interface's languages; HQ reviews the change
like any other edit of an approved rally's words."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from rallyhub.auth.audit import record_audit
from rallyhub.errors import NotAllowed, UserError
from rallyhub.extensions import db
from rallyhub.i18n import same_language
from rallyhub.rallies.models import Rally, RallyStatus, RallyTranslation
from rallyhub.rallies.services import can_manage, refuse_if_taken_down
from rallyhub.rallies.texts import main_language

TRANSLATED_FIELDS = ("title", "description", "meeting_point")


def translatable_languages(rally: Rally) -> list[str]:
    """The interface languages a rally can be translated into: all but its main one."""
    main = main_language(rally)
    return [code for code in current_app.config["LANGUAGES"] if not same_language(code, main)]


def _check(actor, rally: Rally, language: str) -> None:
    if not can_manage(rally, actor):
        raise NotAllowed()
    refuse_if_taken_down(rally)
    if rally.status is RallyStatus.CANCELLED:
        raise UserError(_("A cancelled rally cannot be changed."))
    if language not in translatable_languages(rally):
        raise UserError(_("Please choose one of the languages offered."), field="language")


def _changed(actor, rally: Rally, detail: str) -> bool:
    """Record a change to the rally's words; an approved rally goes back to HQ's review
    (unless HQ made it), as an edit of its main text does. True when it went back."""
    back_to_review = rally.status is RallyStatus.REJECTED or (
        rally.status is RallyStatus.APPROVED and not actor.is_hq
    )
    if back_to_review:
        rally.status = RallyStatus.PENDING
        detail += "; back to review"
    record_audit(actor, "rally.update", "rally", rally.id, detail)
    db.session.flush()
    return back_to_review


def save_translation(
    actor, rally: Rally, language: str, title: str, description: str, meeting_point: str
) -> bool:
    """Add or change the rally's translation into ``language``; True when the change sends
    the rally back to HQ's review. Saving the same words again changes nothing."""
    _check(actor, rally, language)
    translation = next((t for t in rally.translations if t.language == language), None)
    values = {"title": title, "description": description, "meeting_point": meeting_point}
    if translation is None:
        translation = RallyTranslation(language=language, **values)
        rally.translations.append(translation)
        changed = [name for name in TRANSLATED_FIELDS if values[name]]
    else:
        changed = [name for name in TRANSLATED_FIELDS if getattr(translation, name) != values[name]]
        for name, value in values.items():
            setattr(translation, name, value)
    if not changed:
        return False
    return _changed(actor, rally, f"changed: translation_{language.lower()}")


def delete_translation(actor, rally: Rally, language: str) -> None:
    """Remove the rally's translation into ``language`` (readers get the main text)."""
    _check(actor, rally, language)
    translation = next((t for t in rally.translations if t.language == language), None)
    if translation is None:
        return
    rally.translations.remove(translation)
    # Removing words sends nothing back to review: no one reads anything new.
    record_audit(actor, "rally.update", "rally", rally.id, f"removed: translation_{language}")
    db.session.flush()
