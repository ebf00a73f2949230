"""The world map: compact rally data, folium rendering with local assets, the country list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import groupby

import folium
from flask import url_for
from flask_babel import gettext as _
from folium.plugins import FastMarkerCluster
from markupsafe import Markup
from sqlalchemy import func, select

from rallyhub.campaigns.models import Campaign
from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.i18n import country_name, format_local
from rallyhub.places.search import EventFilter, filtered
from rallyhub.rallies.models import Rally

LIST_PER_COUNTRY = 20


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


# Builds each popup with DOM calls and textContent: nothing a person typed is parsed as HTML
# (folium's own popups and tooltips insert raw HTML and template literals).
MARKER_CALLBACK = """function (row) {
    var marker = L.marker(L.latLng(row[0], row[1]), {title: row[3]});
    marker.bindPopup(function () {
        var box = document.createElement("div");
        var title = document.createElement("a");
        title.href = "/rallies/" + row[2];
        title.textContent = row[3];
        var heading = document.createElement("strong");
        heading.appendChild(title);
        box.appendChild(heading);
        [row[4], row[5]].forEach(function (text) {
            var line = document.createElement("div");
            line.textContent = text;
            box.appendChild(line);
        });
        return box;
    });
    return marker;
}"""


@dataclass(frozen=True)
class RenderedMap:
    """The pieces of a folium map that a page places itself."""

    assets: list[tuple[str, str]]
    html: Markup
    script: Markup


def parse_filter(args) -> EventFilter:
    """Campaign, country and date range from query arguments; bad ones are a clear 400."""

    def day(name: str) -> date | None:
        value = (args.get(name) or "").strip()
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise UserError(
                _("“%(name)s” must be a date like 2027-05-17.", name=name), field=name
            ) from None

    country = (args.get("country") or "").strip().upper() or None
    if country and (len(country) != 2 or not country.isalpha()):
        raise UserError(
            _("“country” must be a two-letter country code such as SE."), field="country"
        )
    result = EventFilter(
        (args.get("campaign") or "").strip()[:80] or None, country, day("start"), day("end")
    )
    if result.start and result.end and result.end < result.start:
        raise UserError(_("“end” must not be before “start”."), field="end")
    return result


def map_rows(filters: EventFilter):
    """Compact rows for the map: public position, id, title, city, start, zone."""
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
    return db.session.execute(query)


def render_map(rows, *, centre=None, radius_km=None, zoom=None) -> RenderedMap:
    """A clustered folium map of ``rows`` (see map_rows), optionally with a search circle."""
    from flask import current_app

    config = current_app.config
    data = [
        [lat, lon, rally_id, title, city, format_local(start, zone)]
        for lat, lon, rally_id, title, city, start, zone in rows
    ]
    world = centre is None
    folium_map = LocalMap(
        location=centre or [25, 10],
        zoom_start=zoom or (2 if world else 9),
        tiles=None,
        max_zoom=18,
        min_zoom=1,
        world_copy_jump=True,
        prefer_canvas=True,
    )
    folium.TileLayer(tiles=config["TILE_URL"], attr=config["TILE_ATTRIBUTION"], max_zoom=18).add_to(
        folium_map
    )
    if centre is not None and radius_km:
        folium.Circle(
            location=centre, radius=radius_km * 1000, color="#b0125b", weight=2, fill=False
        ).add_to(folium_map)
    LocalCluster(
        data,
        callback=MARKER_CALLBACK,
        options={"chunkedLoading": True, "showCoverageOnHover": False},
    ).add_to(folium_map)
    root = folium_map.get_root()
    root.render()
    assets = [
        (kind, url)
        for kind, url in [("js", u) for _n, u in LocalMap.default_js + LocalCluster.default_js]
        + [("css", u) for _n, u in LocalMap.default_css + LocalCluster.default_css]
    ]
    return RenderedMap(assets, Markup(root.html.render()), Markup(root.script.render()))  # noqa: S704 - folium's own output; data went through tojson


def rallies_by_country(filters: EventFilter, per_country: int = LIST_PER_COUNTRY):
    """Countries (localized, sorted) with their count and first rallies by date."""
    counts = dict(
        db.session.execute(
            filtered(select(Rally.country_code, func.count()), filters).group_by(Rally.country_code)
        ).all()
    )
    ranked = filtered(
        select(
            Rally.id,
            Rally.title,
            Rally.city,
            Rally.country_code,
            Rally.start_dt,
            Rally.timezone,
            func.row_number()
            .over(partition_by=Rally.country_code, order_by=(Rally.start_dt, Rally.id))
            .label("rank"),
        ),
        filters,
    ).subquery()
    rows = db.session.execute(
        select(ranked)
        .where(ranked.c.rank <= per_country)
        .order_by(ranked.c.country_code, ranked.c.rank)
    ).all()
    groups = []
    for code, items in groupby(rows, key=lambda row: row.country_code):
        groups.append((country_name(code), code, counts.get(code, 0), list(items)))
    return sorted(groups, key=lambda group: group[0])


def active_campaigns() -> list[Campaign]:
    """Running campaigns, for the banner and the filter."""
    return list(
        db.session.scalars(
            select(Campaign).where(Campaign.is_active).order_by(Campaign.start_date, Campaign.id)
        )
    )


def rally_url(rally_id: int) -> str:
    """The public page of a rally."""
    return url_for("rallies.detail", rally_id=rally_id)
