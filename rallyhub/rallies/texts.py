"""What a rally says in the reader's language: its main text or the organizers' translation.

Every surface that shows a rally to the public (its page, the map, the API, the calendar
files, every e-mail) asks here, so the rule is written once (``rallyhub.i18n.choose_version``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.i18n import choose_version, reader_language, same_language
from rallyhub.rallies.models import Rally, RallyTranslation

DEFAULT_MAIN_LANGUAGE = "en"


@dataclass(frozen=True)
class RallyText:
    """A rally's words in one language, and the other languages it can be read in."""

    title: str
    description: str
    meeting_point: str
    language: str
    also_in: tuple[str, ...]


def main_language(rally: Rally) -> str:
    """The language the rally's own fields are written in: the first it is spoken in."""
    first = (rally.languages or "").split(",")[0].strip()
    return first or DEFAULT_MAIN_LANGUAGE


def spoken_languages(rally: Rally) -> list[str]:
    """Every language spoken at the rally, the main one first."""
    return [code.strip() for code in (rally.languages or "").split(",") if code.strip()]


def rally_text(rally: Rally, language: str | None = None) -> RallyText:
    """The rally in ``language`` (default: the reader's) if its organizers translated it,
    else in its main language; a translation's empty field falls back to the main one."""
    main = main_language(rally)
    versions = {t.language: t for t in rally.translations}
    chosen = choose_version(main, versions, language or reader_language())
    available = [main, *(code for code in versions if not same_language(code, main))]
    also_in = tuple(code for code in available if code != chosen)
    translation = versions.get(chosen)
    if translation is None:
        return RallyText(rally.title, rally.description, rally.meeting_point, main, also_in)
    return RallyText(
        translation.title or rally.title,
        translation.description or rally.description,
        translation.meeting_point or rally.meeting_point,
        chosen,
        also_in,
    )


def translated_titles(
    language: str | None = None, rally_ids: Iterable[int] | None = None
) -> dict[int, str]:
    """Titles in ``language`` (default: the reader's) of the rallies translated into it
    (only ``rally_ids`` when given), in one query: lists and maps overlay them on the main
    titles they already read. A rally whose main language is ``language`` keeps its own."""
    language = language or reader_language()
    query = (
        select(RallyTranslation.rally_id, RallyTranslation.title, Rally.languages)
        .join(Rally, Rally.id == RallyTranslation.rally_id)
        .where(RallyTranslation.language == language)
    )
    if rally_ids is not None:
        ids = list(rally_ids)
        if not ids:
            return {}
        query = query.where(RallyTranslation.rally_id.in_(ids))
    return {
        rally_id: title
        for rally_id, title, languages in db.session.execute(query)
        if not same_language((languages or DEFAULT_MAIN_LANGUAGE).split(",")[0], language)
    }
