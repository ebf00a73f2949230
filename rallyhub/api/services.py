"""The public API's rules: parameters, the GeoJSON feed, place look-ups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from rallyhub.campaigns.models import Campaign
from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.i18n import reader_language
from rallyhub.params import has_control_characters, number_arg
from rallyhub.places.services import label_places, search_place
from rallyhub.rallies.filters import RallyFilter, filtered
from rallyhub.rallies.models import Rally
from rallyhub.rallies.risk import country_risk
from rallyhub.rallies.search import decode_cursor, encode_cursor, find_rallies_near
from rallyhub.rallies.texts import DEFAULT_MAIN_LANGUAGE, translated_titles
from rallyhub.signups.services import places_left_of
from rallyhub.urls import external_url

DEFAULT_RADIUS_KM = 50.0
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class EventQuery:
    """Validated parameters of GET /api/v1/events."""

    filters: RallyFilter
    latitude: float | None
    longitude: float | None
    radius_km: float
    limit: int
    cursor: str | None


def parse_event_query(args) -> EventQuery:
    """Read and check every parameter; the first bad one is named in a 400."""
    latitude = number_arg(args, "lat", -90, 90)
    longitude = number_arg(args, "lon", -180, 180)
    if (latitude is None) != (longitude is None):
        missing = "lon" if longitude is None else "lat"
        raise UserError(_("“lat” and “lon” go together."), field=missing)
    near = args.get("near")
    if near is not None:
        if latitude is not None:
            raise UserError(_("Give “near” or “lat”/“lon”, not both."), field="near")
        if not near.strip() or len(near) > 200 or has_control_characters(near):
            raise UserError(_("“near” must name a place (1 to 200 characters)."), field="near")
        found = search_place(near)
        if found.place is None:
            raise UserError(
                _("“near”: no place called “%(place)s” is known.", place=near[:200]),
                field="near",
            )
        latitude, longitude = found.place.latitude, found.place.longitude
    radius = number_arg(args, "radius_km", 1, 1000)
    if radius is None:
        radius = DEFAULT_RADIUS_KM
    limit = number_arg(args, "limit", 1, MAX_LIMIT)
    if limit is not None and limit != int(limit):
        raise UserError(_("“limit” must be a whole number."), field="limit")
    filters = RallyFilter.from_args(args)
    cursor = args.get("cursor")
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError:
            raise UserError(_("“cursor” is not one this API gave out."), field="cursor") from None
    return EventQuery(
        filters,
        latitude,
        longitude,
        radius,
        int(limit or DEFAULT_LIMIT),
        cursor,
    )


FEATURE_COLUMNS = (
    Rally.id,
    Rally.title,
    Campaign.slug,
    Rally.city,
    Rally.country_code,
    Rally.start_dt,
    Rally.timezone,
    Rally.capacity,
    Rally.public_latitude,
    Rally.public_longitude,
    Rally.languages,
)


def _features(ids: list[int], distances: dict[int, float]) -> list[dict]:
    """GeoJSON features for ``ids`` in that order, from Core rows (no ORM objects)."""
    if not ids:
        return []
    rows = {
        row.id: row
        for row in db.session.execute(
            select(*FEATURE_COLUMNS)
            .join(Campaign, Campaign.id == Rally.campaign_id)
            .where(Rally.id.in_(ids))
        )
    }
    left = places_left_of({row.id: row.capacity for row in rows.values()})
    # Countries at risk: no counts in public.
    discreet_ids = {row.id for row in rows.values() if country_risk(row.country_code)}
    # Titles in the reader's language (``lang=`` or Accept-Language) where organizers wrote one.
    reader = reader_language()
    titles = translated_titles(reader, rally_ids=ids)
    base = external_url("rallies.detail", rally_id=0)[:-1]
    zones: dict[str, ZoneInfo] = {}
    features = []
    for rally_id in ids:
        row = rows.get(rally_id)
        if row is None:
            continue
        zone = zones.get(row.timezone) or zones.setdefault(row.timezone, ZoneInfo(row.timezone))
        properties = {
            "id": row.id,
            "title": titles.get(row.id, row.title),
            "language": reader
            if row.id in titles
            else (row.languages or DEFAULT_MAIN_LANGUAGE).split(",")[0],
            "campaign": row.slug,
            "city": row.city,
            "country": row.country_code,
            "starts_at": row.start_dt.astimezone(zone).isoformat(),
            "timezone": row.timezone,
            "url": f"{base}{row.id}",
            "spots_left": None if discreet_ids and row.id in discreet_ids else left[row.id],
        }
        if rally_id in distances:
            properties["distance_km"] = round(distances[rally_id], 3)
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": [row.public_longitude, row.public_latitude],
                },
                "properties": properties,
            }
        )
    return features


def next_page_args(query: EventQuery, cursor: str) -> dict[str, str]:
    """The query string of the page after ``query``, rebuilt from its checked values only.

    Echoing the request's own arguments would pass names such as ``_external`` or ``_scheme``
    on to ``url_for``, which reads them as its own options.
    """
    filters = query.filters
    values = {
        "lat": query.latitude,
        "lon": query.longitude,
        "radius_km": query.radius_km if query.latitude is not None else None,
        "campaign": filters.campaign_slug,
        "country": filters.country_code,
        "start": filters.start.isoformat() if filters.start else None,
        "end": filters.end.isoformat() if filters.end else None,
        "limit": query.limit,
        "cursor": cursor,
    }
    return {name: str(value) for name, value in values.items() if value is not None}


def events_collection(query: EventQuery) -> tuple[dict, str | None]:
    """The GeoJSON FeatureCollection for ``query`` and the cursor of the next page."""
    distances: dict[int, float] = {}
    if query.latitude is not None:
        page = find_rallies_near(
            query.latitude,
            query.longitude,
            query.radius_km,
            query.filters,
            query.limit,
            query.cursor,
        )
        ids = [rally_id for rally_id, _km in page.hits]
        distances = dict(page.hits)
        next_cursor = page.next_cursor
    else:
        listing = filtered(select(Rally.id, Rally.start_dt), query.filters)
        served = 0
        if query.cursor:
            # Keyset paging on (start, id): stable while rallies are added or removed.
            after_ts, after_id, served = decode_cursor(query.cursor)
            after = datetime.fromtimestamp(after_ts, UTC)
            listing = listing.where(
                or_(Rally.start_dt > after, and_(Rally.start_dt == after, Rally.id > after_id))
            )
        rows = db.session.execute(
            listing.order_by(Rally.start_dt, Rally.id).limit(query.limit + 1)
        ).all()
        ids = [rally_id for rally_id, _start in rows[: query.limit]]
        last_id, last_start = rows[query.limit - 1] if len(rows) > query.limit else (None, None)
        next_cursor = (
            encode_cursor(last_start.timestamp(), last_id, served + len(ids))
            if last_id is not None
            else None
        )
    return {"type": "FeatureCollection", "features": _features(ids, distances)}, next_cursor


def place_candidates(text: str) -> list[dict]:
    """Gazetteer candidates for ``text``, most populous first."""
    if not text.strip() or len(text) > 200 or has_control_characters(text):
        raise UserError(_("“q” must name a place (1 to 200 characters)."), field="q")
    found = search_place(text)
    places = ([found.place] if found.place else []) + found.alternatives
    return [
        {
            "id": p.geonameid,
            "label": label,
            "name": p.name,
            "country": p.country_code,
            "lat": p.latitude,
            "lon": p.longitude,
            "population": p.population,
            "timezone": p.timezone,
        }
        for p, label in label_places(places)
    ]
