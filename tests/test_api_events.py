"""GET /api/v1/events and /api/v1/places: GeoJSON, filters, distance order, paging, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rallyhub.rallies.models import RallyStatus, Visibility
from rallyhub.rallies.privacy import snap_to_grid

WHEN = datetime(2031, 6, 10, 16, 0, tzinfo=UTC)
# Known coordinates: central Stockholm, Uppsala (~64 km north), Göteborg (~400 km west).
STOCKHOLM = (59.3293, 18.0686)
UPPSALA = (59.8586, 17.6389)
GOTEBORG = (57.7089, 11.9746)


@pytest.fixture
def sweden(rallies, campaigns):
    campaign = campaigns(slug="cecenia")
    ids = {
        "stockholm": rallies(
            title="Stockholm",
            latitude=STOCKHOLM[0],
            longitude=STOCKHOLM[1],
            start_dt=WHEN,
            campaign_id=campaign,
            capacity=10,
        ),
        "uppsala": rallies(
            title="Uppsala",
            city="Uppsala",
            latitude=UPPSALA[0],
            longitude=UPPSALA[1],
            start_dt=WHEN,
            campaign_id=campaign,
        ),
        "goteborg": rallies(
            title="Göteborg",
            city="Göteborg",
            latitude=GOTEBORG[0],
            longitude=GOTEBORG[1],
            start_dt=WHEN,
            campaign_id=campaign,
            visibility=Visibility.PROTECTED,
        ),
    }
    rallies(title="Pending", status=RallyStatus.PENDING, start_dt=WHEN)
    return ids


def test_events_is_a_geojson_feature_collection(client, sweden):
    response = client.get("/api/v1/events")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    assert body["type"] == "FeatureCollection"
    titles = [f["properties"]["title"] for f in body["features"]]
    assert sorted(titles) == ["Göteborg", "Stockholm", "Uppsala"], "pending rallies are hidden"
    stockholm = next(f for f in body["features"] if f["properties"]["title"] == "Stockholm")
    assert stockholm["geometry"] == {"type": "Point", "coordinates": [STOCKHOLM[1], STOCKHOLM[0]]}
    props = stockholm["properties"]
    assert props["starts_at"] == "2031-06-10T18:00:00+02:00"
    assert props["timezone"] == "Europe/Stockholm"
    assert props["spots_left"] == 10 and props["campaign"] == "cecenia"
    assert props["url"].endswith(f"/rallies/{sweden['stockholm']}")
    assert "distance_km" not in props


def test_protected_rallies_are_snapped_in_the_feed(client, sweden):
    body = client.get("/api/v1/events").get_json()
    goteborg = next(f for f in body["features"] if f["properties"]["title"] == "Göteborg")
    lat, lon = snap_to_grid(*GOTEBORG)
    assert goteborg["geometry"]["coordinates"] == [lon, lat]
    assert str(GOTEBORG[0]) not in client.get("/api/v1/events").get_data(as_text=True)


def test_lat_lon_sorts_by_distance_and_respects_the_radius(client, sweden):
    body = client.get(
        f"/api/v1/events?lat={STOCKHOLM[0]}&lon={STOCKHOLM[1]}&radius_km=100"
    ).get_json()
    results = [(f["properties"]["title"], f["properties"]["distance_km"]) for f in body["features"]]
    assert [title for title, _ in results] == ["Stockholm", "Uppsala"]
    assert results[0][1] == pytest.approx(0, abs=0.01)
    assert results[1][1] == pytest.approx(64, abs=2)  # Stockholm–Uppsala is about 64 km


def test_a_rally_exactly_at_the_radius_is_in_one_beyond_is_out(client, rallies):
    from rallyhub.places.distance import distance_km

    rallies(title="Edge", latitude=0.0, longitude=1.0)
    edge = distance_km(0.0, 0.0, 0.0, 1.0)
    inside = client.get(f"/api/v1/events?lat=0&lon=0&radius_km={edge}").get_json()
    outside = client.get(f"/api/v1/events?lat=0&lon=0&radius_km={edge - 0.001}").get_json()
    assert [f["properties"]["title"] for f in inside["features"]] == ["Edge"]
    assert outside["features"] == []


def test_search_across_the_antimeridian_finds_both_sides(client, rallies):
    # Suva, Fiji (178.44 E) and a point 150 km east, across 180°.
    rallies(title="Suva", latitude=-18.1416, longitude=178.4419, timezone="Pacific/Fiji")
    rallies(title="East of 180", latitude=-18.0, longitude=-179.8, timezone="Pacific/Fiji")
    body = client.get("/api/v1/events?lat=-18.1&lon=179.5&radius_km=300").get_json()
    assert sorted(f["properties"]["title"] for f in body["features"]) == ["East of 180", "Suva"]


def test_near_a_place_name_in_any_script(client, sweden):
    body = client.get("/api/v1/events?near=Стокгольм&radius_km=20").get_json()
    assert [f["properties"]["title"] for f in body["features"]] == ["Stockholm"]


def test_paging_with_a_cursor_walks_every_result_once(client, rallies):
    for n in range(7):
        rallies(title=f"R{n}", latitude=59.0 + n * 0.01, longitude=18.0)
    seen, url = [], "/api/v1/events?lat=59&lon=18&radius_km=100&limit=3"
    while url:
        body = client.get(url).get_json()
        seen += [f["properties"]["title"] for f in body["features"]]
        url = body.get("next")
    assert seen == [f"R{n}" for n in range(7)]
    seen, url = [], "/api/v1/events?limit=2"
    while url:
        body = client.get(url).get_json()
        seen += [f["properties"]["title"] for f in body["features"]]
        url = body.get("next")
    assert sorted(seen) == [f"R{n}" for n in range(7)]


def test_filters_by_campaign_country_and_dates(client, sweden, rallies, campaigns):
    other = campaigns(slug="zelim")
    rallies(
        title="Roma",
        city="Roma",
        country_code="IT",
        latitude=41.9,
        longitude=12.5,
        timezone="Europe/Rome",
        campaign_id=other,
        start_dt=datetime(2031, 7, 1, tzinfo=UTC),
    )

    def titles(query):
        return sorted(
            f["properties"]["title"]
            for f in client.get(f"/api/v1/events?{query}").get_json()["features"]
        )

    assert titles("campaign=zelim") == ["Roma"]
    assert titles("country=it") == ["Roma"]
    assert titles("start=2031-06-11") == ["Roma"]
    assert titles("end=2031-06-10") == ["Göteborg", "Stockholm", "Uppsala"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("campaign=zelim", ["Oslo"]),
        ("country=no", ["Oslo"]),
        ("start=2031-06-11", ["Oslo"]),
        ("end=2031-06-10", ["Stockholm", "Uppsala", "Göteborg"]),
        (
            "campaign=cecenia&country=se&start=2031-06-10&end=2031-06-10",
            ["Stockholm", "Uppsala", "Göteborg"],
        ),
        ("campaign=zelim&country=se", []),
    ],
)
def test_filters_apply_to_the_radius_search(client, sweden, rallies, campaigns, query, expected):
    rallies(
        title="Oslo",
        city="Oslo",
        country_code="NO",
        latitude=59.9139,
        longitude=10.7522,
        timezone="Europe/Oslo",
        campaign_id=campaigns(slug="zelim"),
        start_dt=datetime(2031, 7, 1, tzinfo=UTC),
    )
    url = f"/api/v1/events?lat={STOCKHOLM[0]}&lon={STOCKHOLM[1]}&radius_km=500&{query}"
    features = client.get(url).get_json()["features"]
    # Nearest first: Stockholm, Uppsala (64 km), Göteborg (about 400 km), Oslo (about 415 km).
    assert [f["properties"]["title"] for f in features] == expected


def test_etag_makes_repeat_requests_cheap(client, sweden):
    first = client.get("/api/v1/events")
    assert first.headers["ETag"]
    again = client.get("/api/v1/events", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("radius_km=0", "radius_km"),
        ("radius_km=1001", "radius_km"),
        ("radius_km=abc", "radius_km"),
        ("radius_km=nan", "radius_km"),
        ("lat=91&lon=0", "lat"),
        ("lat=-90.5&lon=0", "lat"),
        ("lat=10&lon=181", "lon"),
        ("lat=NaN&lon=0", "lat"),
        ("lat=inf&lon=0", "lat"),
        ("lat=10", "lon"),
        ("lon=10", "lat"),
        ("near=", "near"),
        ("near=%20%20", "near"),
        ("near=" + "x" * 201, "near"),
        ("near=Xqzzyvillez", "near"),
        ("near=Roma&lat=1&lon=1", "near"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=2.5", "limit"),
        ("limit=ten", "limit"),
        ("country=SWE", "country"),
        ("country=1", "country"),
        ("start=2031-13-01", "start"),
        ("end=yesterday", "end"),
        ("start=2031-06-02&end=2031-06-01", "end"),
        ("cursor=garbage!!", "cursor"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, query, parameter):
    response = client.get(f"/api/v1/events?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["parameter"] == parameter
    assert parameter in body["error"]


def _cursor(*values) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        (0.5, 10**30, 0),  # an id no database integer holds
        (1e300, 1, 0),  # a start no datetime holds
        (float("nan"), 1, 0),
        (float("inf"), 1, 0),
        (0.1, -1, 10**30),
        ("a", 1, 0),
        (0.1, 1),
    ],
)
@pytest.mark.parametrize("place", ["", "lat=59&lon=18&radius_km=100&"], ids=["listing", "nearby"])
def test_forged_cursors_are_400(client, rallies, values, place):
    rallies()
    response = client.get(f"/api/v1/events?{place}cursor={_cursor(*values)}")
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "cursor"


def test_places_lists_candidates_most_populous_first(client):
    body = client.get("/api/v1/places?q=Valencia").get_json()
    assert body[0]["country"] == "ES"
    assert "VE" in {place["country"] for place in body}
    assert set(body[0]) >= {"id", "label", "name", "country", "lat", "lon", "population"}
    assert body[0]["label"] == "Valencia, Spain"
    assert client.get("/api/v1/places?q=").status_code == 400
    assert client.get("/api/v1/places?q=Xqzzyvillez").get_json() == []


def test_api_needs_no_csrf_and_refuses_writes(client):
    assert client.post("/api/v1/events").status_code == 405
