"""The home map, "near me" search results and the embeddable map."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request, url_for

from rallyhub.caching import built_once, if_unchanged, public
from rallyhub.errors import UserError
from rallyhub.i18n import reader_language
from rallyhub.map import services
from rallyhub.rallies.filters import NO_FILTER, RallyFilter

bp = Blueprint("map", __name__)

RADIUS_CHOICES = (10, 25, 50, 100, 250, 500)


@bp.route("/")
@public(validate=services.listing_state)
def index():
    """Campaign banner, the search box, the world map and the list by country.

    A filter that cannot be read shows every rally, with the error beside its field (400).
    """
    try:
        filters, error = RallyFilter.from_args(request.args), None
    except UserError as refused:
        filters, error = NO_FILTER, refused
    countries = services.rallies_by_country(filters)
    return render_template(
        "map/index.html",
        filters=filters,
        filter_error=error,
        campaigns=services.active_campaigns(),
        world=services.render_map(
            points_url=_points_url(filters), country_code=filters.country_code
        ),
        countries=countries,
        country_choices=services.country_choices(filters, countries),
        radius_choices=RADIUS_CHOICES,
    ), 400 if error else 200


def _points_url(filters: RallyFilter) -> str:
    """The marker data for ``filters``."""
    values = {
        "campaign": filters.campaign_slug,
        "country": filters.country_code,
        "start": filters.start.isoformat() if filters.start else None,
        "end": filters.end.isoformat() if filters.end else None,
    }
    # The page's language in the address: a shared cache keeps one answer per language.
    values["lang"] = reader_language()
    return url_for("map.points", **{k: v for k, v in values.items() if v})


@bp.route("/map/points.json")
@public()
def points():
    """Clusters and markers of one map tile (``z``, ``x``, ``y``; public positions only),
    cacheable by browsers and proxies; a revalidation is answered before any rally is read."""
    wanted = services.parse_points_request(request.args)
    etag, now = services.points_validator(wanted)
    unchanged = if_unchanged(etag)
    if unchanged is not None:
        return unchanged
    body = built_once(("map.points", etag), lambda: services.points_json(wanted, now))
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    return response


@bp.route("/near")
@public(validate=services.listing_state)
def near():
    """Rallies nearest a typed place or the browser's location, with the distance to each.

    A search that cannot be read (an empty box, a bad radius) shows the box again with the
    reason beside it (400).
    """
    try:
        search = services.parse_near_search(request.args)
    except UserError as refused:
        return render_template(
            "map/near.html",
            search_error=refused,
            query=(request.args.get("q") or "").strip()[:200],
            radius=services.DEFAULT_RADIUS_KM,
            radius_choices=RADIUS_CHOICES,
            filters=NO_FILTER,
        ), 400
    nearby = services.rallies_near(search) if search.centre else None
    return render_template(
        "map/near.html",
        query=search.text,
        found=search.found,
        centre=search.centre,
        radius=search.radius_km,
        filters=search.filters,
        results=nearby.results if nearby else [],
        titles=nearby.titles if nearby else {},
        beyond=nearby.beyond if nearby else False,
        wider=next((r for r in RADIUS_CHOICES if r > search.radius_km), None),
        radius_choices=RADIUS_CHOICES,
        nearby_map=services.render_map(
            points=nearby.markers,
            centre=list(search.centre),
            radius_km=search.radius_km,
            country_code=search.found.place.country_code
            if search.found and search.found.place
            else None,
        )
        if nearby
        else None,
    )


@bp.route("/embed/map")
@public(validate=services.listing_state)
def embed():
    """The map alone, for partner sites' iframes (the only page that may be framed)."""
    g.frame_ancestors = "*"
    filters = RallyFilter.from_args(request.args)  # bad filters are a 400, not a broken map
    return render_template(
        "map/embed.html",
        world=services.render_map(
            points_url=_points_url(filters), country_code=filters.country_code
        ),
    )
