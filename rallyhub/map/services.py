"""The world map: compact rally data, folium rendering with local assets, the country list."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import folium
from folium.plugins import FastMarkerCluster
from markupsafe import Markup
from sqlalchemy import func, select

from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.i18n import country_name
from rallyhub.params import country_arg, date_range_args
from rallyhub.places.search import EventFilter, filtered
from rallyhub.rallies.models import Rally

LIST_PER_COUNTRY = 20
LIST_SOONEST = 120


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


def parse_filter(args) -> EventFilter:
    """Campaign, country and date range from query arguments; bad ones are a clear 400."""

    start, end = date_range_args(args)
    return EventFilter(
        (args.get("campaign") or "").strip()[:80] or None, country_arg(args), start, end
    )


def map_points(filters: EventFilter) -> list[list]:
    """Compact marker rows for the map: [lat, lon, id, title, city, start (epoch s), zone].

    Dates are formatted by the browser in the page's language and the rally's zone, so this
    list costs the server one query and no per-row formatting.
    """
    query = filtered(
        select(
            Rally.public_latitude,
            Rally.public_longitude,
            Rally.id,
            Rally.title,
            Rally.city,
            Rally.start_dt,
            Rally.timezone,
        ),
        filters,
    ).order_by(Rally.start_dt, Rally.id)
    return [
        [lat, lon, rally_id, title, city, int(start.timestamp()), zone]
        for lat, lon, rally_id, title, city, start, zone in db.session.execute(query)
    ]


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
    filters: EventFilter, soonest: int = LIST_SOONEST, per_country: int = LIST_PER_COUNTRY
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
