"""The home map, "near me" search results and the embeddable map."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _

from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.map import services
from rallyhub.params import number_arg
from rallyhub.places.search import find_rallies_near
from rallyhub.places.services import search_place
from rallyhub.rallies.models import Rally

bp = Blueprint("map", __name__)

RADIUS_CHOICES = (10, 25, 50, 100, 250, 500)


@bp.route("/")
def index():
    """Campaign banner, the search box, the world map and the list by country."""
    filters = services.parse_filter(request.args)
    return render_template(
        "map/index.html",
        filters=filters,
        campaigns=services.active_campaigns(),
        world=services.render_map(points_url=_points_url()),
        countries=services.rallies_by_country(filters),
        radius_choices=RADIUS_CHOICES,
    )


def _points_url() -> str:
    """The marker data for the current filters."""
    keep = {k: v for k, v in request.args.items() if k in ("campaign", "country", "start", "end")}
    return url_for("map.points", **keep)


@bp.route("/map/points.json")
def points():
    """Marker rows for the map (public positions only), cacheable by browsers and proxies."""
    response = jsonify(services.map_points(services.parse_filter(request.args)))
    response.add_etag()
    response.headers["Cache-Control"] = "public, max-age=60"
    return response.make_conditional(request)


@bp.route("/near")
def near():
    """Rallies nearest a typed place or the browser's location, with the distance to each."""
    filters = services.parse_filter(request.args)
    radius = number_arg(request.args, "radius_km", 1, 1000) or 50
    latitude, longitude = (
        number_arg(request.args, "lat", -90, 90),
        number_arg(request.args, "lon", -180, 180),
    )
    query = (request.args.get("q") or "").strip()[:200]
    found = None
    if latitude is not None and longitude is not None:
        centre = (latitude, longitude)
    elif query:
        found = search_place(query)
        centre = (found.place.latitude, found.place.longitude) if found.place else None
    else:
        raise UserError(_("Type a town, or share your location."), field="q")
    hits, rallies = [], {}
    if centre is not None:
        page = find_rallies_near(*centre, radius, filters, limit=100)
        hits = page.hits
        ids = [rally_id for rally_id, _km in hits]
        rallies = {r.id: r for r in db.session.scalars(db.select(Rally).where(Rally.id.in_(ids)))}
    rows = [
        [
            rallies[i].public_latitude,
            rallies[i].public_longitude,
            i,
            rallies[i].title,
            rallies[i].city,
            int(rallies[i].start_dt.timestamp()),
            rallies[i].timezone,
        ]
        for i, _km in hits
    ]
    return render_template(
        "map/near.html",
        query=query,
        found=found,
        centre=centre,
        radius=radius,
        filters=filters,
        results=[(rallies[i], km) for i, km in hits],
        wider=next((r for r in RADIUS_CHOICES if r > radius), None),
        radius_choices=RADIUS_CHOICES,
        nearby_map=services.render_map(points=rows, centre=list(centre), radius_km=radius)
        if centre
        else None,
    )


@bp.route("/embed/map")
def embed():
    """The map alone, for partner sites' iframes (the only page that may be framed)."""
    g.frame_ancestors = "*"
    services.parse_filter(request.args)  # bad filters are a 400 here, not a broken map
    return render_template("map/embed.html", world=services.render_map(points_url=_points_url()))
