"""The world map: compact rally data, folium rendering with local assets, the country list."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import folium
from flask_babel import gettext as _
from folium.plugins import FastMarkerCluster
from markupsafe import Markup
from sqlalchemy import func, select

from rallyhub.campaigns.models import Campaign
from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name
from rallyhub.params import number_arg
from rallyhub.places.services import PlaceSearch, search_place
from rallyhub.rallies.filters import RallyFilter, filtered
from rallyhub.rallies.models import Rally
from rallyhub.rallies.search import find_rallies_near

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


class LocalCluster(FastMarkerCluster):
    """FastMarkerCluster with the vendored markercluster plugin."""

    default_js = [
        ("markerclusterjs", "/static/vendor/leaflet.markercluster/1.5.3/leaflet.markercluster.js")
    ]
    default_css = [
        ("markerclustercss", "/static/vendor/leaflet.markercluster/1.5.3/MarkerCluster.css"),
        (
            "markerclusterdefaultcss",
            "/static/vendor/leaflet.markercluster/1.5.3/MarkerCluster.Default.css",
        ),
    ]


@dataclass(frozen=True)
class RenderedMap:
    """The pieces of a folium map that a page places itself, and where its markers come from."""

    assets: list[tuple[str, str]]
    html: Markup
    script: Markup
    cluster: str
    points_url: str | None = None
    points: list | None = None


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


def map_points(filters: RallyFilter) -> list[list]:
    """Marker rows of the rallies ``filters`` covers, soonest first.

    Dates are formatted by the browser in the page's language and the rally's zone, so this
    list costs the server one query and no per-row formatting.
    """
    query = filtered(select(*MARKER_COLUMNS), filters).order_by(Rally.start_dt, Rally.id)
    return [_marker(row) for row in db.session.execute(query)]


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
    markers = [
        _marker([getattr(rally, column.key) for column in MARKER_COLUMNS]) for rally, _ in results
    ]
    return Nearby(results, markers, beyond)


def render_map(
    *,
    points_url: str | None = None,
    points: list | None = None,
    centre=None,
    radius_km: float | None = None,
) -> RenderedMap:
    """A folium map with a marker cluster that static/js/map-points.js fills.

    The markers come from ``points_url`` (fetched by the browser) or, for a handful of search
    results, inline ``points``; either way they are rows of :func:`map_points`.
    """
    from flask import current_app

    config = current_app.config
    if centre is None:
        rendered = _world_map(config["TILE_URL"], config["TILE_ATTRIBUTION"])
    else:
        rendered = _render(
            config["TILE_URL"], config["TILE_ATTRIBUTION"], tuple(centre), radius_km, 9
        )
    return replace(rendered, points_url=points_url, points=points)


@lru_cache(maxsize=8)
def _world_map(tile_url: str, attribution: str) -> RenderedMap:
    """The world view's folium skeleton: rendered once per process and tile setting."""
    return _render(tile_url, attribution, None, None, None)


def _render(tile_url: str, attribution: str, centre, radius_km, zoom) -> RenderedMap:
    folium_map = LocalMap(
        location=list(centre) if centre else [25, 10],
        zoom_start=zoom or 2,
        tiles=None,
        max_zoom=18,
        min_zoom=1,
        world_copy_jump=True,
        prefer_canvas=True,
    )
    folium.TileLayer(tiles=tile_url, attr=attribution, max_zoom=18).add_to(folium_map)
    if centre is not None and radius_km:
        folium.Circle(
            location=list(centre), radius=radius_km * 1000, color="#b0125b", weight=2, fill=False
        ).add_to(folium_map)
    cluster = LocalCluster([], options={"chunkedLoading": True, "showCoverageOnHover": False})
    cluster.add_to(folium_map)
    root = folium_map.get_root()
    root.render()
    assets = [("js", u) for _n, u in LocalMap.default_js + LocalCluster.default_js]
    assets += [("css", u) for _n, u in LocalMap.default_css + LocalCluster.default_css]
    return RenderedMap(
        assets,
        Markup(root.html.render()),  # noqa: S704 - folium's own markup, no user text
        Markup(root.script.render()),  # noqa: S704 - folium's own script, no user text
        cluster.get_name(),
    )


def rallies_by_country(
    filters: RallyFilter, soonest: int = LIST_SOONEST, per_country: int = LIST_PER_COUNTRY
):
    """Countries (localized, sorted) with their count of rallies and the soonest of them.

    The list holds the ``soonest`` rallies overall (an index range on status and start),
    at most ``per_country`` of each country, and every country's total links to the rest.
    """
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
    for row in rows:
        if len(listed[row.country_code]) < per_country:
            listed[row.country_code].append(row)
    groups = [(country_name(code), code, counts[code], listed[code]) for code in counts]
    return sorted(groups, key=lambda group: group[0])


def active_campaigns() -> list[Campaign]:
    """Running campaigns, for the banner and the filter."""
    return list(
        db.session.scalars(
            select(Campaign).where(Campaign.is_active).order_by(Campaign.start_date, Campaign.id)
        )
    )


def country_choices(filters: RallyFilter, countries: list) -> list[tuple[str, str]]:
    """(code, localized name) of the countries the filter can pick, by name: those with
    rallies under the other filters. Without a country chosen, that is the list by country
    the page already holds (:func:`rallies_by_country`), so the home page asks nothing more."""
    if filters.country_code is None:
        return [(code, name) for name, code, _total, _rallies in countries]
    codes = db.session.scalars(
        filtered(select(Rally.country_code).distinct(), replace(filters, country_code=None))
    ).all()
    return sorted(((code, country_name(code)) for code in codes), key=lambda pair: pair[1])
