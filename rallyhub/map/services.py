"""The world map: clusters and markers per map tile, folium rendering with local assets, the
country list."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import NamedTuple

import folium
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import Select, and_, bindparam, case, func, literal_column, select
from sqlalchemy.orm import selectinload

from rallyhub.caching import built_once, public_data_version, time_bucket, validator
from rallyhub.campaigns.models import Campaign
from rallyhub.campaigns.services import CampaignText, campaign_text
from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name, local_city, name_sort_key, reader_language
from rallyhub.models import utcnow
from rallyhub.params import number_arg
from rallyhub.places.distance import latitude_band
from rallyhub.places.services import PlaceSearch, search_place
from rallyhub.rallies.filters import RallyFilter, filtered
from rallyhub.rallies.models import Rally
from rallyhub.rallies.risk import country_tiles
from rallyhub.rallies.search import find_rallies_near
from rallyhub.rallies.services import next_end
from rallyhub.rallies.texts import translated_titles

LIST_PER_COUNTRY = 20
LIST_SOONEST = 120
DEFAULT_RADIUS_KM = 50
# Results a "near me" search shows at most.
NEAR_LIMIT = 100
# With nothing within the radius: this many of the nearest, at any distance on Earth.
NEAREST_ANYWHERE, ANYWHERE_KM = 5, 20_040


class LocalMap(folium.Map):
    """A folium map whose Leaflet comes from this origin (no Bootstrap, jQuery or fonts)."""

    default_js = [("leaflet", "/static/vendor/leaflet/1.9.4/leaflet.js")]
    default_css = [("leaflet_css", "/static/vendor/leaflet/1.9.4/leaflet.css")]


# Cluster circles (drawn by static/js/map-points.js) look like markercluster's: its stylesheet.
CLUSTER_CSS = "/static/vendor/leaflet.markercluster/1.5.3/MarkerCluster.Default.css"


@dataclass(frozen=True)
class RenderedMap:
    """The pieces of a folium map that a page places itself, and where its points come from.

    ``map_name`` is the global name of folium's Leaflet map, which static/js/map-points.js
    fills from ``points_url`` (one request per tile in view) or from inline ``points``.
    """

    assets: list[tuple[str, str]]
    html: Markup
    script: Markup
    map_name: str
    points_url: str | None = None
    points: list | None = None
    # A search's view: (latitude, longitude, zoom, radius in metres), which the script sets
    # on the shared skeleton and draws as a circle.
    view: tuple[float, float, int, int] | None = None


# What a marker shows, in the order of its row: [lat, lon, id, title, city, start, zone].
MARKER_COLUMNS = (
    Rally.public_latitude,
    Rally.public_longitude,
    Rally.id,
    Rally.title,
    Rally.city,
    Rally.start_dt,
    Rally.timezone,
)


def _marker(values) -> list:
    """A compact marker row, the start as epoch seconds (the browser formats it)."""
    lat, lon, rally_id, title, city, start, zone = values
    return [lat, lon, rally_id, title, city, int(start.timestamp()), zone]


def _in_readers_language(markers: list[list], titles: dict[int, str]) -> list[list]:
    """The markers with the titles the organizers translated into the reader's language,
    and the cities' names in it where known."""
    for marker in markers:
        marker[3] = titles.get(marker[2], marker[3])
        marker[4] = local_city(marker[4], marker[6])
    return markers


# --- The map's points, per web-mercator tile ----------------------------------------------
#
# The browser asks for the 256-px tiles (z/x/y, as map tiles are numbered) that cover its view,
# so answers are the same for everyone and shared caches keep them. Within a tile, rallies are
# counted per cell of a CELLS_PER_TILE² grid (64 px) by one GROUP BY; a cell of one rally is
# sent as its marker, a fuller one as a cluster: [lat, lon, count, [south, west, north, east]]
# (mean position, and the box to zoom to). From MARKER_ZOOM a tile sends its markers, unless
# it holds more than MAX_MARKERS. Without a tile, the answer covers the world the same way.

CELLS_PER_TILE = 4
WORLD_CELLS = 8
MAX_ZOOM = 18
# At zoom 13 a tile is about 5 km across (at 60° N, 2.4 km): a town's rallies apart.
MARKER_ZOOM = 13
# The most markers one answer holds. A marker is at most ~1.7 KB (a 200-character title and
# city of 4-byte characters, UTF-8), so an answer stays under ~350 KB; a usual one is ~100 B.
MAX_MARKERS = 200
# Beyond this many bands of latitude, the area is read as a range of them, not a list.
MAX_LISTED_BANDS = 16
# "Upcoming" is measured from the start of a 10-minute window, so that an answer, and its
# validator, stay the same for the window: a rally leaves the map at most 10 minutes late.
UPCOMING_WINDOW_S = 600
# Changes whenever the rows' shape changes, so that no cache keeps an older shape's answer.
POINTS_FORMAT = 2


@dataclass(frozen=True)
class Tile:
    """A web-mercator tile: zoom ``z``, column ``x`` from 180° W, row ``y`` from the north."""

    z: int
    x: int
    y: int


WORLD = Tile(0, 0, 0)


@dataclass(frozen=True)
class PointsRequest:
    """What a map asks for: the rallies of a filter, in one tile (None: the whole world)."""

    filters: RallyFilter
    tile: Tile | None = None


def parse_points_request(args) -> PointsRequest:
    """Read the filter and ``z``, ``x``, ``y`` (all or none); a bad one is a UserError."""
    filters = RallyFilter.from_args(args)
    if not any((args.get(name) or "").strip() for name in "zxy"):
        return PointsRequest(filters)
    zoom = _whole_number_arg(args, "z", 0, MAX_ZOOM)
    last = 2**zoom - 1
    column, row = _whole_number_arg(args, "x", 0, last), _whole_number_arg(args, "y", 0, last)
    return PointsRequest(filters, Tile(zoom, column, row))


def _whole_number_arg(args, name: str, low: int, high: int) -> int:
    """Digits only (no sign, point or exponent) naming a number in [low, high]."""
    raw = (args.get(name) or "").strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9 and low <= int(raw) <= high):
        raise UserError(
            _(
                "“%(name)s” must be a whole number from %(low)d to %(high)d.",
                name=name,
                low=low,
                high=high,
            ),
            field=name,
        )
    return int(raw)


def points_validator(wanted: PointsRequest) -> tuple[str, datetime]:
    """The ETag of the answer to ``wanted`` now, and the moment "upcoming" is measured from.

    Read before anything is built: the public data version (one primary-key read), what was
    asked, the reader's language and the window of time.
    """
    window = time_bucket(UPCOMING_WINDOW_S)
    etag = validator(
        "map.points",
        POINTS_FORMAT,
        public_data_version(),
        wanted.tile,
        wanted.filters,
        reader_language(),
        window,
    )
    return etag, datetime.fromtimestamp(window * UPCOMING_WINDOW_S, UTC)


def points_json(wanted: PointsRequest, now: datetime) -> bytes:
    """The answer to ``wanted`` as compact UTF-8 JSON: rows of :func:`map_points`."""
    rows = map_points(wanted, now)
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()


def map_points(wanted: PointsRequest, now: datetime) -> list[list]:
    """Clusters, then markers (soonest first), of the rallies ``wanted`` covers that have not
    ended at ``now``, at their public positions."""
    tile = wanted.tile or WORLD
    cells = CELLS_PER_TILE if wanted.tile else WORLD_CELLS
    values = _area_values(tile, cells)
    listed = "bands" in values
    if wanted.tile is None or tile.z >= MARKER_ZOOM:
        query = filtered(_markers_query(listed), wanted.filters, now=now)
        rows = db.session.execute(query, values).all()
        if len(rows) <= MAX_MARKERS:
            return _translated_markers(sorted(rows, key=lambda row: (row.start_dt, row.id)))
    query = filtered(_cells_query(cells, listed), wanted.filters, now=now)
    clusters, lonely = [], []
    for _cell, count, lat_sum, lon_sum, south, west, north, east, first_id in db.session.execute(
        query, values
    ):
        if count == 1:
            lonely.append(first_id)
        else:
            middle = [round(lat_sum / count, 5), round(lon_sum / count, 5)]
            clusters.append([*middle, count, [south, west, north, east]])
    if not lonely:
        return clusters
    rows = db.session.execute(
        select(*MARKER_COLUMNS).where(Rally.id.in_(lonely)).order_by(Rally.start_dt, Rally.id)
    ).all()
    return clusters + _translated_markers(rows)


def _translated_markers(rows) -> list[list]:
    """Marker rows of ``rows`` (MARKER_COLUMNS), in the reader's language."""
    markers = [_marker(row) for row in rows]
    titles = translated_titles(rally_ids=[marker[2] for marker in markers])
    return _in_readers_language(markers, titles)


def _tile_longitude(x: float, zoom: int) -> float:
    """The longitude of the tile column boundary ``x`` at ``zoom``."""
    return x / 2**zoom * 360 - 180


def _tile_latitude(y: float, zoom: int) -> float:
    """The latitude of the tile row boundary ``y`` (counted from the north) at ``zoom``."""
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / 2**zoom))))


def _area_values(tile: Tile, cells: int) -> dict[str, object]:
    """The parameters of :func:`_in_area` and the grid of :func:`_cells_query` for ``tile``.

    Boundaries are half-open (south and west in, north and east out), so each rally is in
    one tile and one cell; the edge tiles reach the poles and 180° E.
    """
    zoom, last = tile.z, 2**tile.z - 1
    south = _tile_latitude(tile.y + 1, zoom) if tile.y < last else -91.0
    north = _tile_latitude(tile.y, zoom) if tile.y > 0 else 91.0
    east = _tile_longitude(tile.x + 1, zoom) if tile.x < last else 181.0
    values: dict[str, object] = {
        "south": south,
        "north": north,
        "west": _tile_longitude(tile.x, zoom),
        "east": east,
    }
    for line in range(1, cells):
        values[f"lon_{line}"] = _tile_longitude(tile.x + line / cells, zoom)
        values[f"lat_{line}"] = _tile_latitude(tile.y + line / cells, zoom)
    low, high = latitude_band(max(south, -90.0)), latitude_band(min(north, 90.0))
    if high - low < MAX_LISTED_BANDS:
        values["bands"] = list(range(low, high + 1))
    else:
        values.update(band_low=low, band_high=high)
    return values


def _in_area(listed_bands: bool):
    """Rallies in the area of :func:`_area_values`, through the radius-search index: a few
    bands of latitude (each one run of longitudes in the index), or a range of many."""
    if listed_bands:
        bands = Rally.public_band.in_(bindparam("bands", expanding=True))
    else:
        bands = Rally.public_band.between(bindparam("band_low"), bindparam("band_high"))
    return and_(
        bands,
        Rally.public_longitude >= bindparam("west"),
        Rally.public_longitude < bindparam("east"),
        Rally.public_latitude >= bindparam("south"),
        Rally.public_latitude < bindparam("north"),
    )


@cache
def _markers_query(listed_bands: bool) -> Select:
    """Markers in an area, one more than an answer may hold.

    Unordered: all of them are sent or none, so Python sorts them; an ORDER BY on the start
    led SQLite to walk every rally by start (140 ms a city tile at 100,000 rallies) instead
    of the few in the area through the radius-search index.
    """
    return select(*MARKER_COLUMNS).where(_in_area(listed_bands)).limit(MAX_MARKERS + 1)


@cache
def _cells_query(cells: int, listed_bands: bool) -> Select:
    """Rallies in an area counted per cell of a ``cells``² grid: the count, the sums of the
    positions (for the mean), the box they fill, and the lowest id (a lone rally's own).

    Columns are cut at ``lon_1`` … and rows at ``lat_1`` … (web-mercator lines, computed in
    Python), so the same SQL runs on SQLite and PostgreSQL without math functions.
    """
    latitude, longitude = Rally.public_latitude, Rally.public_longitude
    column = case(
        *((longitude < bindparam(f"lon_{n}"), n - 1) for n in range(1, cells)), else_=cells - 1
    )
    row = case(
        *((latitude >= bindparam(f"lat_{n}"), n - 1) for n in range(1, cells)), else_=cells - 1
    )
    return (
        select(
            (row * cells + column).label("cell"),
            func.count(),
            func.sum(latitude),
            func.sum(longitude),
            func.min(latitude),
            func.min(longitude),
            func.max(latitude),
            func.max(longitude),
            func.min(Rally.id),
        )
        .where(_in_area(listed_bands))
        # By the label: the two CASEs' parameters would not be the same ones twice over.
        .group_by(literal_column("cell"))
    )


@dataclass(frozen=True)
class NearSearch:
    """A "near me" search: the typed text or the shared position, a radius and the filter."""

    text: str
    found: PlaceSearch | None
    centre: tuple[float, float] | None  # None: the typed place is unknown
    radius_km: float
    filters: RallyFilter


def parse_near_search(args) -> NearSearch:
    """Read ``q`` or ``lat``/``lon``, ``radius_km`` and the filter; a bad one is a UserError."""
    filters = RallyFilter.from_args(args)
    radius = number_arg(args, "radius_km", 1, 1000) or DEFAULT_RADIUS_KM
    latitude, longitude = number_arg(args, "lat", -90, 90), number_arg(args, "lon", -180, 180)
    text = (args.get("q") or "").strip()[:200]
    if latitude is not None and longitude is not None:
        return NearSearch(text, None, (latitude, longitude), radius, filters)
    if not text:
        raise UserError(_("Type a town, or share your location."), field="q")
    found = search_place(text)
    centre = (found.place.latitude, found.place.longitude) if found.place else None
    return NearSearch(text, found, centre, radius, filters)


@dataclass(frozen=True)
class Nearby:
    """The rallies found near a search's centre, with their distances, and their markers.

    ``beyond`` is True when none were within the radius and these are the nearest anywhere:
    a search far from every rally still shows where the closest ones are.
    """

    results: list[tuple[Rally, float]]
    markers: list[list]
    beyond: bool = False
    titles: dict[int, str] = field(default_factory=dict)  # translated, by rally id


def rallies_near(search: NearSearch, limit: int = NEAR_LIMIT) -> Nearby:
    """The nearest rallies to ``search``'s centre within its radius, nearest first; if there
    are none, the NEAREST_ANYWHERE nearest at any distance."""
    assert search.centre is not None
    page = find_rallies_near(*search.centre, search.radius_km, search.filters, limit=limit)
    beyond = not page.hits
    if beyond:
        page = find_rallies_near(
            *search.centre, ANYWHERE_KM, search.filters, limit=NEAREST_ANYWHERE
        )
    ids = [rally_id for rally_id, _km in page.hits]
    rallies = {r.id: r for r in db.session.scalars(select(Rally).where(Rally.id.in_(ids)))}
    results = [(rallies[rally_id], km) for rally_id, km in page.hits]
    titles = translated_titles(rally_ids=ids)
    markers = [
        _marker([getattr(rally, column.key) for column in MARKER_COLUMNS]) for rally, _ in results
    ]
    return Nearby(results, _in_readers_language(markers, titles), beyond, titles)


# The zoom a search's map opens at, around the place searched.
SEARCH_ZOOM = 9


def render_map(
    *,
    points_url: str | None = None,
    points: list | None = None,
    centre=None,
    radius_km: float | None = None,
    country_code: str | None = None,
) -> RenderedMap | None:
    """A folium map that static/js/map-points.js fills with clusters and markers; None when
    it would show a high-risk country whose map HQ turned off.

    They come from ``points_url`` (the browser asks it for each tile in view) or, for a
    handful of search results, inline ``points`` (marker rows, clustered in the browser).
    Every map is the same folium skeleton, rendered once per process: a search's ``centre``
    and circle of ``radius_km`` are data the script applies (folium cost a near search a third
    of its time, rendering a map of its own each time).
    """
    from flask import current_app

    tiles = country_tiles(country_code)  # a high-risk country may have its own, or none
    if tiles is None:
        return None
    rendered = _world_map(tiles, current_app.config["TILE_ATTRIBUTION"])
    view = None
    if centre is not None:
        latitude, longitude = centre
        radius_m = round((radius_km or 0) * 1000)
        view = (round(latitude, 4), round(longitude, 4), SEARCH_ZOOM, radius_m)
    return replace(rendered, points_url=points_url, points=points, view=view)


@lru_cache(maxsize=8)
def _world_map(tile_url: str, attribution: str) -> RenderedMap:
    """The folium skeleton every map shares (the world view; the script moves a search's map
    to its place): rendered once per process and tile setting."""
    folium_map = LocalMap(
        location=[25, 10],
        zoom_start=2,
        tiles=None,
        max_zoom=MAX_ZOOM,
        min_zoom=1,
        world_copy_jump=True,
        prefer_canvas=True,
    )
    folium.TileLayer(tiles=tile_url, attr=attribution, max_zoom=MAX_ZOOM).add_to(folium_map)
    root = folium_map.get_root()
    root.render()
    assets = [("js", u) for _n, u in LocalMap.default_js]
    assets += [("css", u) for _n, u in LocalMap.default_css] + [("css", CLUSTER_CSS)]
    return RenderedMap(
        assets,
        Markup(root.html.render()),  # noqa: S704 - folium's own markup, no user text
        Markup(root.script.render()),  # noqa: S704 - folium's own script, no user text
        folium_map.get_name(),
    )


class ListedRally(NamedTuple):
    """A rally as the home page lists it, its title in the reader's language."""

    id: int
    title: str
    city: str
    country_code: str
    start_dt: datetime
    timezone: str


# The home page's list is counted again at most this often while the public data is unchanged
# (rallies leave it when they end).
LIST_WINDOW_S = 60


def listing_state() -> tuple:
    """What a page listing upcoming rallies (home, near search, embed) depends on besides
    its address and language, read before it is built (its ETag): the public data version
    and the next end of a rally still listed.

    Rallies leave the lists only when they end, so the validator stays the same from one
    minute to the next and a proxy's revalidation of an unchanged list is a 304, not a new
    page. The next end is looked up once a minute per process and data version: a rally
    that ends is gone from the lists within the minute, as before.
    """
    version = public_data_version()
    ahead = built_once(
        ("map.next_end", version, time_bucket(LIST_WINDOW_S)), lambda: next_end(utcnow())
    )
    return (version, ahead.isoformat() if ahead else None)


def rallies_by_country(
    filters: RallyFilter, soonest: int = LIST_SOONEST, per_country: int = LIST_PER_COUNTRY
):
    """Countries (localized, sorted) with their count of rallies and the soonest of them.

    The list holds the ``soonest`` rallies overall (an index range on status and start),
    at most ``per_country`` of each country, and every country's total links to the rest.
    Counting every upcoming rally by country reads them all (23 ms at 100,000): the result
    is kept per public data version, minute, filter and language, so a busy home page counts
    once a minute per process, and again at once after any change.
    """
    key = (
        "map.rallies_by_country",
        public_data_version(),
        time_bucket(LIST_WINDOW_S),
        filters,
        reader_language(),
        soonest,
        per_country,
    )
    return built_once(key, lambda: _count_by_country(filters, soonest, per_country))


def _count_by_country(filters: RallyFilter, soonest: int, per_country: int):
    counts = dict(
        db.session.execute(
            filtered(select(Rally.country_code, func.count()), filters).group_by(Rally.country_code)
        ).all()
    )
    rows = db.session.execute(
        filtered(
            select(
                Rally.id,
                Rally.title,
                Rally.city,
                Rally.country_code,
                Rally.start_dt,
                Rally.timezone,
            ),
            filters,
        )
        .order_by(Rally.start_dt, Rally.id)
        .limit(soonest)
    ).all()
    listed: dict[str, list] = {code: [] for code in counts}
    titles = translated_titles(rally_ids=[row.id for row in rows])
    for row in rows:
        if len(listed[row.country_code]) < per_country:
            listed[row.country_code].append(
                ListedRally(*row)._replace(title=titles.get(row.id, row.title))
            )
    groups = [(country_name(code), code, counts[code], listed[code]) for code in counts]
    return sorted(groups, key=lambda group: name_sort_key(group[0]))


class BannerCampaign(NamedTuple):
    """What the home page shows of a running campaign, in the reader's language."""

    slug: str
    hashtag: str
    about: CampaignText


def active_campaigns() -> list[BannerCampaign]:
    """Running campaigns, for the banner and the filter (kept per public data version)."""
    return built_once(
        ("map.active_campaigns", public_data_version(), reader_language()), _active_campaigns
    )


def _active_campaigns() -> list[BannerCampaign]:
    campaigns = db.session.scalars(
        select(Campaign)
        .options(selectinload(Campaign.translations))
        .where(Campaign.is_active)
        .order_by(Campaign.start_date, Campaign.id)
    )
    return [BannerCampaign(c.slug, c.hashtag, campaign_text(c)) for c in campaigns]


def country_choices(filters: RallyFilter, countries: list) -> list[tuple[str, str]]:
    """(code, localized name) of the countries the filter can pick, by name: those with
    rallies under the other filters. Without a country chosen, that is the list by country
    the page already holds (:func:`rallies_by_country`), so the home page asks nothing more."""
    if filters.country_code is None:
        return [(code, name) for name, code, _total, _rallies in countries]
    codes = db.session.scalars(
        filtered(select(Rally.country_code).distinct(), replace(filters, country_code=None))
    ).all()
    return sorted(
        ((code, country_name(code)) for code in codes), key=lambda pair: name_sort_key(pair[1])
    )
