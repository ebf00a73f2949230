"""Turning what a person typed into one place, or a clear question back."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from rallyhub.errors import UserError
from rallyhub.i18n import country_name
from rallyhub.places.gazetteer import Place, get_gazetteer

# A namesake this much smaller than the biggest match is not worth asking about
# (Moscow, Idaho beside Moscow); one closer in size is (Valencia, London, Ontario).
AMBIGUITY_SHARE = 0.02


class PlaceNotFound(UserError):
    """Nothing in the gazetteer matches; ``suggestions`` holds close spellings."""

    def __init__(self, message: str, suggestions: list[str]):
        super().__init__(message, field="city")
        self.suggestions = suggestions


class PlaceAmbiguous(UserError):
    """Several real places match; the person must pick one of ``candidates``."""

    def __init__(self, message: str, candidates: list[Place]):
        super().__init__(message, field="city")
        self.candidates = candidates


@dataclass(frozen=True)
class PlaceLabel:
    """A place as a person reads it: "Valencia, Venezuela"."""

    place: Place
    label: str


def label_place(place: Place) -> str:
    """The place's name with its localized country."""
    return f"{place.name}, {country_name(place.country_code)}"


def resolve_place(text: str, chosen_id: int | None = None) -> Place:
    """The place ``text`` names; ``chosen_id`` picks among namesakes."""
    result = get_gazetteer().search(text, limit=10)
    candidates = list(result.places)
    if chosen_id is not None:
        for place in candidates:
            if place.geonameid == chosen_id:
                return place
    if not candidates:
        suggestions = [str(s) for s in result.suggestions][:5]
        message = _("We could not find a place called “%(text)s”.", text=text)
        if suggestions:
            message += " " + _("Did you mean: %(names)s?", names=", ".join(suggestions))
        raise PlaceNotFound(message, suggestions)
    biggest = max(place.population for place in candidates) or 1
    serious = [p for p in candidates if p.population >= biggest * AMBIGUITY_SHARE]
    if len(serious) > 1:
        raise PlaceAmbiguous(
            _("Several places are called “%(text)s”. Please pick yours below.", text=text),
            serious,
        )
    return candidates[0]


@dataclass(frozen=True)
class PlaceSearch:
    """The best place for a search, the other candidates, and spellings when none matched."""

    place: Place | None
    alternatives: list[Place]
    suggestions: list[str]


def search_place(text: str) -> PlaceSearch:
    """The most populous place ``text`` names, with the others for a "did you mean" list."""
    result = get_gazetteer().search(text, limit=8)
    places = list(result.places)
    if not places:
        return PlaceSearch(None, [], [str(s) for s in result.suggestions][:5])
    return PlaceSearch(places[0], places[1:], [])
