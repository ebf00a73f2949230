"""The map's points: clusters and markers per web-mercator tile, filtered, bounded, revalidated
without reading a rally."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, select

from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus, Visibility, search_columns

STOCKHOLM = (59.3293, 18.0686)
ROME = (41.8933, 12.4829)
MAX_ANSWER_BYTES = 500_000


def tile_of(latitude: float, longitude: float, zoom: int) -> tuple[int, int]:
    """The slippy-map tile holding a point (OpenStreetMap wiki, "Slippy map tilenames")."""
    n = 2**zoom
    x = math.floor((longitude + 180) / 360 * n)
    y = math.floor((1 - math.asinh(math.tan(math.radians(latitude))) / math.pi) / 2 * n)
    return x, y


def centre_of_tile(latitude: float, longitude: float, zoom: int) -> tuple[float, float]:
    """The centre of the tile holding a point (the same wiki page's inverse formulas)."""
    x, y = tile_of(latitude, longitude, zoom)
    n = 2**zoom
    centre_y = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return centre_y, (x + 0.5) / n * 360 - 180


def tile_url(latitude: float, longitude: float, zoom: int, query: str = "") -> str:
    x, y = tile_of(latitude, longitude, zoom)
    return f"/map/points.json?z={zoom}&x={x}&y={y}{'&' if query else ''}{query}"


def clusters(rows):
    return [row for row in rows if len(row) == 4]


def markers(rows):
    return [row for row in rows if len(row) == 7]


@pytest.fixture
def one_campaign(users, campaigns):
    """An organizer and a campaign for many rallies (the factory makes new ones otherwise)."""
    return {"organizer_id": users(), "campaign_id": campaigns(slug="cecenia")}


def _around(rallies, centre, count, one_campaign, **fields):
    """``count`` rallies spread over a few kilometres around ``centre``."""
    ids = []
    for n in range(count):
        ids.append(
            rallies(
                title=f"Rally {n}",
                latitude=centre[0] + (n % 6) * 0.004,
                longitude=centre[1] + (n // 6) * 0.006,
                **one_campaign,
                **fields,
            )
        )
    return ids


def test_at_a_low_zoom_a_city_is_one_cluster_with_its_count(client, rallies, one_campaign):
    _around(rallies, STOCKHOLM, 30, one_campaign)
    _around(rallies, ROME, 5, one_campaign, city="Roma", country_code="IT", timezone="Europe/Rome")
    # At zoom 2 both cities are in one tile, Stockholm and Rome in cells of their own.
    assert tile_of(*STOCKHOLM, 2) == tile_of(*ROME, 2)
    response = client.get(tile_url(*STOCKHOLM, 2))
    assert response.status_code == 200 and response.mimetype == "application/json"
    rows = response.get_json()
    assert markers(rows) == []
    by_count = {row[2]: row for row in clusters(rows)}
    assert sorted(by_count) == [5, 30]
    stockholm, rome = by_count[30], by_count[5]
    assert abs(stockholm[0] - STOCKHOLM[0]) < 0.05 and abs(stockholm[1] - STOCKHOLM[1]) < 0.05
    assert abs(rome[0] - ROME[0]) < 0.05 and abs(rome[1] - ROME[1]) < 0.05
    south, west, north, east = stockholm[3]
    assert south <= stockholm[0] <= north and west <= stockholm[1] <= east
    assert (south, west) == pytest.approx(STOCKHOLM) and north - south == pytest.approx(0.02)


def test_zoomed_in_a_tile_sends_its_markers_with_what_a_popup_shows(client, rallies, one_campaign):
    start = datetime(2031, 6, 10, 16, 0, tzinfo=UTC)
    lat, lon = centre_of_tile(*STOCKHOLM, 14)
    ids = [
        rallies(title=f"Rally {n}", latitude=lat + n * 0.0005, longitude=lon, start_dt=start)
        for n in range(3)
    ]
    _around(rallies, ROME, 5, one_campaign, city="Roma", country_code="IT", timezone="Europe/Rome")
    rows = client.get(tile_url(lat, lon, 14)).get_json()
    assert clusters(rows) == []
    assert sorted(row[2] for row in rows) == ids
    first = next(row for row in rows if row[2] == ids[0])
    assert first == [
        lat,
        lon,
        ids[0],
        "Rally 0",
        "Stockholm",
        int(start.timestamp()),
        "Europe/Stockholm",
    ]


def test_a_lone_rally_is_a_marker_at_any_zoom(client, rallies):
    rally = rallies(title="Only one in Armenia", latitude=40.18, longitude=44.51, city="Yerevan")
    for zoom in (1, 3, 8):
        rows = client.get(tile_url(40.18, 44.51, zoom)).get_json()
        assert [row[2:4] for row in rows] == [[rally, "Only one in Armenia"]], zoom


def test_every_rally_is_in_exactly_one_tile_even_on_the_edges(client, rallies, one_campaign):
    # Points on tile boundaries at every zoom, on the antimeridian and beyond web mercator.
    edges = [(0.0, 0.0), (0.0, -180.0), (10.0, 180.0), (89.5, 5.0), (-89.5, -5.0), (45.0, 90.0)]
    for latitude, longitude in edges:
        rallies(latitude=latitude, longitude=longitude, **one_campaign)
    for zoom in (0, 1, 2):
        total = 0
        for x in range(2**zoom):
            for y in range(2**zoom):
                rows = client.get(f"/map/points.json?z={zoom}&x={x}&y={y}").get_json()
                total += sum(row[2] if len(row) == 4 else 1 for row in rows)
        assert total == len(edges), zoom


def test_tiles_follow_the_filters(client, rallies, campaigns, one_campaign):
    _around(rallies, STOCKHOLM, 7, one_campaign)
    zelim = campaigns(slug="zelim")
    rallies(title="Zelim", campaign_id=zelim, latitude=59.35, longitude=18.1)
    later = datetime(2031, 9, 1, 12, 0, tzinfo=UTC)
    rallies(title="In September", start_dt=later, latitude=59.34, longitude=18.09)
    url = tile_url(*STOCKHOLM, 3)

    def counted(query):
        rows = client.get(f"{url}&{query}").get_json()
        return sorted(row[2] if len(row) == 4 else row[3] for row in rows)

    assert counted("") == [9]
    assert counted("campaign=zelim") == ["Zelim"]
    assert counted("campaign=cecenia") == [7]
    assert counted("start=2031-08-31&end=2031-09-01") == ["In September"]
    assert counted("country=IT") == []
    assert counted("country=se") == [9]


def test_hidden_rallies_stay_hidden_and_protected_ones_show_their_cell(client, rallies):
    from rallyhub.rallies.privacy import snap_to_grid

    shown = rallies(title="Shown")
    for status in (
        RallyStatus.PENDING,
        RallyStatus.REJECTED,
        RallyStatus.CANCELLED,
        RallyStatus.TAKEN_DOWN,
    ):
        rallies(title=f"Hidden {status.value}", status=status)
    past = utcnow() - timedelta(days=2)
    rallies(title="Over", start_dt=past, latitude=59.331)
    exact = (59.33261, 18.06491)
    protected = rallies(title="Protected", visibility=Visibility.PROTECTED, latitude=exact[0])
    for url in (tile_url(*STOCKHOLM, 15), "/map/points.json"):
        body = client.get(url).get_data(as_text=True)
        assert "Hidden" not in body and "Over" not in body
    rows = client.get("/map/points.json").get_json()
    assert {row[2] for row in rows} == {shown, protected}
    (cell,) = [row[:2] for row in rows if row[2] == protected]
    assert cell == list(snap_to_grid(exact[0], 18.0649)) and cell != [exact[0], 18.0649]


def _rally_statements(app):
    """Count the statements that read the rallies table while the block runs."""
    seen = []

    def count(_conn, _cursor, statement, *_args):
        if re.search(r"\brallies\b", statement):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def test_a_revalidation_is_answered_without_reading_a_rally(app, client, rallies):
    rallies()
    url = tile_url(*STOCKHOLM, 2, "lang=en")
    first = client.get(url)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=50, stale-while-revalidate=10"
    # The address names the language: every request for it gets the same answer.
    assert "Vary" not in first.headers
    assert "Accept-Language" in client.get(tile_url(*STOCKHOLM, 2)).headers["Vary"]
    seen, stop = _rally_statements(app)
    try:
        again = client.get(url, headers={"If-None-Match": etag})
    finally:
        stop()
    assert again.status_code == 304 and again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert seen == []


def test_an_edit_changes_the_validator(app, client, rallies):
    rally = rallies(title="Before")
    url = tile_url(*STOCKHOLM, 14)
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    with app.app_context():
        db.session.get(Rally, rally).title = "After"
        db.session.commit()
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] != etag
    assert [row[3] for row in response.get_json()] == ["After"]


def test_the_validator_names_the_tile_the_filter_and_the_language(client, rallies):
    rallies()
    base = tile_url(*STOCKHOLM, 5)
    urls = [base, f"{base}&lang=it", f"{base}&country=SE", tile_url(*ROME, 5)]
    etags = {client.get(url).headers["ETag"] for url in urls}
    assert len(etags) == len(urls)
    # Unknown parameters and spelling (case, leading zeros) do not make another answer.
    assert client.get(f"{base}&utm_source=x").headers["ETag"] == client.get(base).headers["ETag"]
    padded = base.replace("z=5", "z=05")
    assert client.get(padded).headers["ETag"] == client.get(base).headers["ETag"]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("z=19&x=0&y=0", "z"),
        ("z=-1&x=0&y=0", "z"),
        ("z=abc&x=0&y=0", "z"),
        ("z=1e3&x=0&y=0", "z"),
        ("z=2&x=4&y=0", "x"),
        ("z=2&x=0&y=99999999999999999999999", "y"),
        ("z=2&x=1.5&y=0", "x"),
        ("z=2&x=0", "y"),
        ("x=0&y=0", "z"),
        ("z=2&x=%00&y=0", "x"),
        ("z=٣&x=0&y=0", "z"),
        ("z=2&x=0&y=0&country=Sweden", "country"),
        ("z=2&x=0&y=0&start=2031-02-30", "start"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(client, query, name):
    response = client.get(f"/map/points.json?{query}", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["parameter"] == name


def _insert_many(app, organizer_id, campaign_id, points, title="R", city="Stockholm"):
    """Approved rallies at ``points``, written with Core in one statement (fast)."""
    now = utcnow()
    start = now + timedelta(days=3)
    rows = [
        {
            "campaign_id": campaign_id,
            "organizer_id": organizer_id,
            "title": title,
            "description": "",
            "city": city,
            "country_code": "SE",
            "meeting_point": "",
            "latitude": lat,
            "longitude": lon,
            "public_latitude": lat,
            "public_longitude": lon,
            **search_columns(lat, lon),
            "timezone": "Europe/Stockholm",
            "start_dt": start,
            "end_dt": start + timedelta(hours=2),
            "languages": "",
            "status": "approved",
            "visibility": "public",
            "review_note": "",
            "cancel_note": "",
            "created_dt": now,
            "updated_dt": now,
            "asks_phone": False,
            "walk_in_count": 0,
        }
        for lat, lon in points
    ]
    with app.app_context():
        db.session.execute(insert(Rally), rows)
        db.session.commit()


def test_no_answer_grows_past_its_bound_with_twenty_thousand_rallies(app, client, one_campaign):
    from rallyhub.map.services import MAX_MARKERS

    # 20,000 rallies in a 600 m square in central Stockholm: every zoom sees them crowded.
    points = [(59.33 + (n % 141) * 0.00004, 18.06 + (n // 141) * 0.00008) for n in range(20_000)]
    _insert_many(app, one_campaign["organizer_id"], one_campaign["campaign_id"], points)
    for url in ["/map/points.json", *(tile_url(59.331, 18.064, zoom) for zoom in (2, 10, 14, 18))]:
        response = client.get(url)
        assert len(response.data) < MAX_ANSWER_BYTES, url
        rows = response.get_json()
        assert len(markers(rows)) <= MAX_MARKERS, url
        if url == "/map/points.json" or url.startswith("/map/points.json?z=2&"):
            assert sum(row[2] if len(row) == 4 else 1 for row in rows) == 20_000


def test_the_longest_titles_stay_within_the_bound(app, client, one_campaign):
    from rallyhub.map.services import MAX_MARKERS

    # The largest markers there can be: 200-character titles and cities of 4-byte characters.
    widest = "\U0001f3f3" * 200
    lat, lon = centre_of_tile(*STOCKHOLM, 16)
    points = [(lat + n * 0.000001, lon) for n in range(MAX_MARKERS)]
    _insert_many(
        app, one_campaign["organizer_id"], one_campaign["campaign_id"], points, widest, widest
    )
    response = client.get(tile_url(lat, lon, 16))
    assert len(markers(response.get_json())) == MAX_MARKERS
    assert len(response.data) < MAX_ANSWER_BYTES
    # One more, and the tile sends clusters instead.
    _insert_many(app, one_campaign["organizer_id"], one_campaign["campaign_id"], [(lat, lon)])
    rows = client.get(tile_url(lat, lon, 16)).get_json()
    assert (
        len(markers(rows)) < MAX_MARKERS
        and sum(row[2] if len(row) == 4 else 1 for row in rows) == MAX_MARKERS + 1
    )


def test_the_whole_world_without_a_tile_is_markers_when_few_soonest_first(client, rallies):
    first = datetime(2031, 6, 10, 16, 0, tzinfo=UTC)
    ids = [
        rallies(title=f"Rally {n}", latitude=59.3 + n / 100, start_dt=first - timedelta(days=n))
        for n in range(3)
    ]
    rows = client.get("/map/points.json").get_json()
    assert [row[2] for row in rows] == ids[::-1]
    assert client.get("/map/points.json?country=IT").get_json() == []


def test_the_points_of_a_tile_read_the_reader_s_language(app, client, rallies):
    from rallyhub.rallies.models import RallyTranslation

    rally = rallies(title="Justice for Chechnya", languages="en")
    with app.app_context():
        db.session.add(RallyTranslation(rally_id=rally, language="it", title="Giustizia"))
        db.session.commit()
        assert db.session.scalar(select(RallyTranslation.title)) == "Giustizia"
    url = tile_url(*STOCKHOLM, 14)
    assert [row[3] for row in client.get(f"{url}&lang=it").get_json()] == ["Giustizia"]
    assert [row[3] for row in client.get(f"{url}&lang=en").get_json()] == ["Justice for Chechnya"]
