"""Rallies near a point, nearest first, found through the position index.

The search starts with a small box around the point and widens it until it holds enough
rallies: a dense city answers from a few hundred rows, and a rally at the edge of a wide
radius is still found. Distances are always from a rally's public position (the snapped one
for protected rallies), so a distance never gives an exact pin away.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, or_, select

from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.places.distance import bounding_box, distance_km
from rallyhub.rallies.models import Rally, RallyStatus

MAX_RESULTS = 1000
FIRST_RADIUS_KM = 2.5
MAX_WIDENING = 8.0


@dataclass(frozen=True)
class EventFilter:
    """Which approved, upcoming rallies count."""

    campaign_slug: str | None = None
    country_code: str | None = None
    start: date | None = None
    end: date | None = None


@dataclass
class NearbyPage:
    """One page of rallies near a point: (rally id, distance in km) pairs and the next cursor."""

    hits: list[tuple[int, float]] = field(default_factory=list)
    next_cursor: str | None = None


def filtered(query: Select, filters: EventFilter, now: datetime | None = None) -> Select:
    """Restrict ``query`` over Rally to approved, not yet ended rallies matching ``filters``."""
    query = query.where(Rally.status == RallyStatus.APPROVED, Rally.end_dt > (now or utcnow()))
    if filters.campaign_slug:
        query = query.where(
            Rally.campaign_id.in_(select(Campaign.id).where(Campaign.slug == filters.campaign_slug))
        )
    if filters.country_code:
        query = query.where(Rally.country_code == filters.country_code.upper())
    if filters.start:
        query = query.where(Rally.start_dt >= datetime.combine(filters.start, time(), UTC))
    if filters.end:
        query = query.where(
            Rally.start_dt < datetime.combine(filters.end + timedelta(days=1), time(), UTC)
        )
    return query


def _in_boxes(boxes) -> object:
    return or_(
        *(
            Rally.public_latitude.between(min_lat, max_lat)
            & Rally.public_longitude.between(min_lon, max_lon)
            for min_lat, max_lat, min_lon, max_lon in boxes
        )
    )


def encode_cursor(distance: float, rally_id: int, served: int) -> str:
    """An opaque cursor after the given hit."""
    raw = json.dumps([round(distance, 9), rally_id, served]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int, int]:
    """The (distance, id, already served) a cursor stands for; ValueError when malformed."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        distance, rally_id, served = json.loads(base64.urlsafe_b64decode(padded))
        return float(distance), int(rally_id), int(served)
    except (ValueError, TypeError, json.JSONDecodeError) as error:
        raise ValueError("bad cursor") from error


def find_rallies_near(
    latitude: float,
    longitude: float,
    radius_km: float,
    filters: EventFilter = EventFilter(),
    limit: int = 50,
    cursor: str | None = None,
) -> NearbyPage:
    """Approved upcoming rallies within ``radius_km``, nearest first (ties by id)."""
    after = (-1.0, -1)
    served = 0
    if cursor:
        after_distance, after_id, served = decode_cursor(cursor)
        after = (after_distance, after_id)
    limit = max(0, min(limit, MAX_RESULTS - served))
    if limit == 0:
        return NearbyPage()
    now = utcnow()
    radius = min(FIRST_RADIUS_KM, radius_km)
    while True:
        boxes = bounding_box(latitude, longitude, radius)
        rows = db.session.execute(
            filtered(
                select(Rally.id, Rally.public_latitude, Rally.public_longitude), filters, now
            ).where(_in_boxes(boxes))
        ).all()
        hits = []
        for rally_id, lat, lon in rows:
            km = distance_km(latitude, longitude, lat, lon)
            if km <= radius and (km, rally_id) > after:
                hits.append((km, rally_id))
        # Within the current radius every rally is known, so the nearest ones are final.
        if len(hits) > limit or radius >= radius_km:
            break
        # Rallies found grow with the area: widen to where enough should be, at most 8×.
        wanted = (limit + 1) / max(len(hits), 1)
        radius = min(radius * min(max(math.sqrt(wanted) * 1.5, 2.0), MAX_WIDENING), radius_km)
    hits.sort()
    page = hits[:limit]
    more = len(hits) > limit and served + len(page) < MAX_RESULTS
    next_cursor = encode_cursor(*page[-1], served + len(page)) if more and page else None
    return NearbyPage([(rally_id, km) for km, rally_id in page], next_cursor)
