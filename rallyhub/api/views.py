"""The public JSON API (v1): rallies as GeoJSON and gazetteer look-ups."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from rallyhub.api import services
from rallyhub.caching import LANGUAGE_VARY, PUBLIC_MAX_AGE, public_cache_control
from rallyhub.extensions import csrf
from rallyhub.urls import external_url

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _cached(response, max_age: int = PUBLIC_MAX_AGE):
    """Let clients and proxies reuse the answer, and revalidate it cheaply by ETag."""
    response.add_etag()
    response.headers["Cache-Control"] = public_cache_control(max_age)
    response.headers["Access-Control-Allow-Origin"] = "*"
    # Titles follow the reader's language: ``lang=``, else these request headers.
    response.vary.update(LANGUAGE_VARY)
    return response.make_conditional(request)


@bp.route("/events")
def events():
    """Approved upcoming rallies as a GeoJSON FeatureCollection (nearest first with a place)."""
    query = services.parse_event_query(request.args)
    collection, next_cursor = services.events_collection(query)
    if next_cursor:
        args = services.next_page_args(query, next_cursor)
        collection["next"] = external_url("api.events", **args)
    response = jsonify(collection)
    response.mimetype = "application/geo+json"
    return _cached(response)


@bp.route("/places")
def places():
    """Gazetteer candidates for ``q``, most populous first."""
    return _cached(jsonify(services.place_candidates(request.args.get("q", ""))), 3600)


@bp.route("/ping")
def ping():
    """A trivial answer, the yardstick the API benchmark measures against."""
    return jsonify(ok=True)
