"""geopy geocoders: the offline gazetteer, and an online one in front of it that may fail."""

from __future__ import annotations

import logging

from geopy.exc import GeopyError
from geopy.geocoders.base import Geocoder
from geopy.location import Location

from rallyhub.places.gazetteer import Place, get_gazetteer

log = logging.getLogger(__name__)


def to_location(place: Place) -> Location:
    """A gazetteer place as a geopy Location (raw holds every field)."""
    raw = {
        "geonameid": place.geonameid,
        "name": place.name,
        "country_code": place.country_code,
        "admin1": place.admin1,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "population": place.population,
        "timezone": place.timezone,
    }
    return Location(f"{place.name}, {place.country_code}", (place.latitude, place.longitude), raw)


class OfflineGeocoder(Geocoder):
    """Geocoding with no network, over the bundled GeoNames cities."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.gazetteer = get_gazetteer()

    def geocode(self, query: str, *, exactly_one: bool = True, limit: int = 10, **_kwargs):
        """The place(s) ``query`` names, most prominent first; None when nothing matches."""
        places = self.gazetteer.search(query, limit=limit).places
        if not places:
            return None
        return to_location(places[0]) if exactly_one else [to_location(p) for p in places]


class FallbackGeocoder(Geocoder):
    """Ask ``primary`` (an online geopy geocoder) first; on any failure, ``fallback`` answers.

    A slow, rate-limited or unreachable service never becomes an error for the person typing.
    """

    def __init__(self, primary: Geocoder, fallback: Geocoder | None = None, **kwargs):
        super().__init__(**kwargs)
        self.primary = primary
        self.fallback = fallback or OfflineGeocoder()

    def geocode(self, query: str, *, exactly_one: bool = True, **kwargs):
        """The primary's answer, or the fallback's when it fails or finds nothing."""
        try:
            found = self.primary.geocode(query, exactly_one=exactly_one, **kwargs)
        except (GeopyError, OSError, ValueError) as error:
            # The query itself may be personal (a street address): log only the failure.
            log.warning("online geocoder failed (%s); answering offline", type(error).__name__)
            found = None
        if found:
            return found
        return self.fallback.geocode(query, exactly_one=exactly_one)
