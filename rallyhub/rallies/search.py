"""Rallies near a point, nearest first, found through the radius-search index.

The search starts with a small circle around the point and widens it until it holds enough
rallies. Each round is one query: the index gives the rallies in the circle's bounding box,
band of latitude by band, and the database sorts them by their squared chord to the point
(see ``distance``) and returns only the page. A dense city answers from a small circle, a
lonely town from a wide one, and neither sends thousands of rows to Python. Distances are
always from a rally's public position (the snapped one for protected rallies), so a distance
never gives an exact pin away.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import Float, Select, and_, bindparam, or_, select

from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.places.distance import (
    bands,
    bounding_box,
    chord_squared_to_km,
    unit_vector,
)
from rallyhub.rallies.filters import NO_FILTER, RallyFilter, conditions
from rallyhub.rallies.models import Rally

MAX_RESULTS = 1000
# The widening: rallies found grow with the area, so the next radius is the one that should
# hold enough (with a margin), at least 1.5× and at most 3× the last. Each round costs about
# 0.07 ms plus 0.4 µs a rally in its box; a longer jump would more often take in a whole city
# beyond the nearest rallies (bench/bench_radius.py measured the choices).
FIRST_RADIUS_KM = 2.5
WIDENING_MARGIN = 1.2
MIN_WIDENING, MAX_WIDENING = 1.5, 3.0


@dataclass
class NearbyPage:
    """One page of rallies near a point: (rally id, distance in km) pairs and the next cursor."""

    hits: list[tuple[int, float]] = field(default_factory=list)
    next_cursor: str | None = None


# The squared chord from the search's centre, computed by the database from the stored unit
# vector exactly as ``distance.chord_squared`` computes it (same operations, same order).
_centre = [bindparam(f"centre_{axis}", type_=Float) for axis in "xyz"]
_squared_chord = (
    (Rally.public_x - _centre[0]) * (Rally.public_x - _centre[0])
    + (Rally.public_y - _centre[1]) * (Rally.public_y - _centre[1])
    + (Rally.public_z - _centre[2]) * (Rally.public_z - _centre[2])
).label("chord_squared")
# The box is drawn a hair wider than the circle: a rally on the circle is in it, whatever the
# rounding (Python then applies the radius exactly).
_BOX_SLACK = 1e-6


def _in_box(number: int):
    """Rallies inside box ``number``, as the index reads them: a run of longitudes a band."""
    return and_(
        Rally.public_band.in_(bindparam(f"bands_{number}", expanding=True)),
        Rally.public_longitude.between(
            bindparam(f"min_lon_{number}"), bindparam(f"max_lon_{number}")
        ),
        Rally.public_latitude.between(
            bindparam(f"min_lat_{number}"), bindparam(f"max_lat_{number}")
        ),
    )


@cache
def _round_query(boxes: int, paged: bool, shape: tuple[bool, bool, bool, bool]) -> Select:
    """One round of the search, every value a parameter: built, and its cache key computed,
    once per shape rather than once per round (that was 80 % of a round's time).

    It returns the nearest rallies of the box, not only of the circle: when the circle holds
    enough, they are all in it; when it does not, ``_nearest`` drops those beyond it. A bound
    on the chord in SQL would only compute it twice for every rally of the box.
    """
    query = select(Rally.id, _squared_chord).where(
        *conditions(shape), or_(*(_in_box(number) for number in range(boxes)))
    )
    if paged:
        query = query.where(
            or_(
                _squared_chord > bindparam("after_key"),
                and_(_squared_chord == bindparam("after_key"), Rally.id > bindparam("after_id")),
            )
        )
    return query.order_by(_squared_chord, Rally.id).limit(bindparam("count"))


def encode_cursor(position: float, rally_id: int, served: int) -> str:
    """An opaque cursor after the given hit (its sort position and id)."""
    raw = json.dumps([position, rally_id, served]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# What a cursor this API gave out can hold: a squared chord (0 to 4) or a start timestamp, and
# numbers the databases store. Anything else was forged; refused before it reaches SQL, whose
# drivers would fail on an integer over 64 bits and datetime on a timestamp out of range.
_MAX_POSITION = 1e11
_MAX_INTEGER = 2**63 - 1


def decode_cursor(cursor: str) -> tuple[float, int, int]:
    """The (sort position, id, already served) a cursor stands for; ValueError when malformed."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position, rally_id, served = json.loads(base64.urlsafe_b64decode(padded))
        position, rally_id, served = float(position), int(rally_id), int(served)
    except (ValueError, TypeError, json.JSONDecodeError) as error:
        raise ValueError("bad cursor") from error
    if not (
        abs(position) <= _MAX_POSITION  # False for NaN too
        and 0 <= rally_id <= _MAX_INTEGER
        and 0 <= served <= _MAX_INTEGER
    ):
        raise ValueError("bad cursor")
    return position, rally_id, served


def _nearest(
    latitude: float,
    longitude: float,
    radius_km: float,
    filters: RallyFilter,
    now: datetime,
    after: tuple[float, int] | None,
    count: int,
) -> list[tuple[float, int]]:
    """Up to ``count`` (squared chord, id) of rallies ``radius_km`` away at most, nearest first,
    after ``after``: one query."""
    boxes = bounding_box(latitude, longitude, radius_km * (1 + _BOX_SLACK))
    x, y, z = unit_vector(latitude, longitude)
    values = {
        **filters.values(now),
        "centre_x": x,
        "centre_y": y,
        "centre_z": z,
        "count": count,
    }
    for number, (min_lat, max_lat, min_lon, max_lon) in enumerate(boxes):
        values[f"bands_{number}"] = bands(min_lat, max_lat)
        values[f"min_lat_{number}"], values[f"max_lat_{number}"] = min_lat, max_lat
        values[f"min_lon_{number}"], values[f"max_lon_{number}"] = min_lon, max_lon
    if after is not None:
        values["after_key"], values["after_id"] = after
    query = _round_query(len(boxes), after is not None, filters.shape)
    rows = db.session.connection().execute(query, values).all()
    return [(key, rally_id) for rally_id, key in rows if chord_squared_to_km(key) <= radius_km]


def find_rallies_near(
    latitude: float,
    longitude: float,
    radius_km: float,
    filters: RallyFilter = NO_FILTER,
    limit: int = 50,
    cursor: str | None = None,
) -> NearbyPage:
    """Approved upcoming rallies within ``radius_km``, nearest first (ties by id)."""
    after = None
    served = 0
    if cursor:
        after_key, after_id, served = decode_cursor(cursor)
        after = (after_key, after_id)
    limit = max(0, min(limit, MAX_RESULTS - served))
    if limit == 0:
        return NearbyPage()
    now = utcnow()
    radius = min(FIRST_RADIUS_KM, radius_km)
    while True:
        # One more than the page: whether there is a next page.
        found = _nearest(latitude, longitude, radius, filters, now, after, limit + 1)
        # A full answer within a smaller circle is final: every rally outside it is farther.
        if len(found) > limit or radius >= radius_km:
            break
        wanted = (limit + 1) / max(len(found), 1)
        step = min(max(math.sqrt(wanted) * WIDENING_MARGIN, MIN_WIDENING), MAX_WIDENING)
        radius = min(radius * step, radius_km)
    page = found[:limit]
    more = len(found) > limit and served + len(page) < MAX_RESULTS
    next_cursor = encode_cursor(*page[-1], served + len(page)) if more and page else None
    return NearbyPage([(rally_id, chord_squared_to_km(key)) for key, rally_id in page], next_cursor)
