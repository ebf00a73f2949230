"""The public API's rules: parameters, the GeoJSON feed, place look-ups."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.places.search import (
    EventFilter,
    decode_cursor,
    encode_cursor,
    filtered,
    find_rallies_near,
)
from rallyhub.places.services import search_place
from rallyhub.rallies.models import Rally
from rallyhub.signups.models import Signup, SignupStatus

DEFAULT_RADIUS_KM = 50.0
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


@dataclass(frozen=True)
class EventQuery:
    """Validated parameters of GET /api/v1/events."""

    filters: EventFilter
    latitude: float | None
    longitude: float | None
    radius_km: float
    limit: int
    cursor: str | None


def _number(args, name: str, low: float, high: float) -> float | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UserError(_("“%(name)s” must be a number.", name=name), field=name) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise UserError(
            _("“%(name)s” must be between %(low)g and %(high)g.", name=name, low=low, high=high),
            field=name,
        )
    return value


def _date(args, name: str) -> date | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserError(
            _("“%(name)s” must be an ISO date like 2027-05-17.", name=name), field=name
        ) from None


def parse_event_query(args) -> EventQuery:
    """Read and check every parameter; the first bad one is named in a 400."""
    latitude = _number(args, "lat", -90, 90)
    longitude = _number(args, "lon", -180, 180)
    if (latitude is None) != (longitude is None):
        missing = "lon" if longitude is None else "lat"
        raise UserError(_("“lat” and “lon” go together."), field=missing)
    near = args.get("near")
    if near is not None:
        if latitude is not None:
            raise UserError(_("Give “near” or “lat”/“lon”, not both."), field="near")
        if not near.strip() or len(near) > 200:
            raise UserError(_("“near” must name a place (1 to 200 characters)."), field="near")
        found = search_place(near)
        if found.place is None:
            raise UserError(
                _("“near”: no place called “%(place)s” is known.", place=near[:200]),
                field="near",
            )
        latitude, longitude = found.place.latitude, found.place.longitude
    radius = _number(args, "radius_km", 1, 1000)
    if radius is None:
        radius = DEFAULT_RADIUS_KM
    limit = _number(args, "limit", 1, MAX_LIMIT)
    if limit is not None and limit != int(limit):
        raise UserError(_("“limit” must be a whole number."), field="limit")
    campaign = args.get("campaign")
    country = args.get("country")
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise UserError(_("“country” must be an ISO 3166 alpha-2 code."), field="country")
    start, end = _date(args, "start"), _date(args, "end")
    if start and end and end < start:
        raise UserError(_("“end” must not be before “start”."), field="end")
    cursor = args.get("cursor")
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError:
            raise UserError(_("“cursor” is not one this API gave out."), field="cursor") from None
    return EventQuery(
        EventFilter(campaign or None, country.upper() if country else None, start, end),
        latitude,
        longitude,
        radius,
        int(limit or DEFAULT_LIMIT),
        cursor,
    )


def _feature(rally: Rally, spots_left: int | None, distance_km: float | None) -> dict:
    properties = {
        "id": rally.id,
        "title": rally.title,
        "campaign": rally.campaign.slug,
        "city": rally.city,
        "country": rally.country_code,
        "starts_at": rally.start_dt.astimezone(ZoneInfo(rally.timezone)).isoformat(),
        "timezone": rally.timezone,
        "url": url_for("rallies.detail", rally_id=rally.id, _external=True),
        "spots_left": spots_left,
    }
    if distance_km is not None:
        properties["distance_km"] = round(distance_km, 3)
    return {
        "type": "Feature",
        "geometry": {
            "type": "Point",
            "coordinates": [rally.public_longitude, rally.public_latitude],
        },
        "properties": properties,
    }


def _spots_left(rallies: list[Rally]) -> dict[int, int | None]:
    limited = [r.id for r in rallies if r.capacity is not None]
    going = (
        dict(
            db.session.execute(
                select(Signup.rally_id, func.count())
                .where(Signup.rally_id.in_(limited), Signup.status == SignupStatus.GOING)
                .group_by(Signup.rally_id)
            ).all()
        )
        if limited
        else {}
    )
    return {
        r.id: None if r.capacity is None else max(r.capacity - going.get(r.id, 0), 0)
        for r in rallies
    }


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
    rallies = {
        r.id: r
        for r in db.session.scalars(
            select(Rally).options(joinedload(Rally.campaign)).where(Rally.id.in_(ids))
        )
    }
    ordered = [rallies[i] for i in ids if i in rallies]
    spots = _spots_left(ordered)
    features = [_feature(r, spots[r.id], distances.get(r.id)) for r in ordered]
    return {"type": "FeatureCollection", "features": features}, next_cursor


def place_candidates(text: str) -> list[dict]:
    """Gazetteer candidates for ``text``, most populous first."""
    if not text.strip() or len(text) > 200:
        raise UserError(_("“q” must name a place (1 to 200 characters)."), field="q")
    found = search_place(text)
    places = ([found.place] if found.place else []) + found.alternatives
    return [
        {
            "name": p.name,
            "country": p.country_code,
            "lat": p.latitude,
            "lon": p.longitude,
            "population": p.population,
            "timezone": p.timezone,
        }
        for p in places
    ]
