"""The gazetteer, geocoders, distances and radius search, checked against known facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from geopy.distance import geodesic
from geopy.exc import GeocoderServiceError, GeocoderTimedOut
from geopy.geocoders.base import Geocoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rallyhub.places.distance import bounding_box, distance_km
from rallyhub.places.gazetteer import get_gazetteer, normalize
from rallyhub.places.geocoder import FallbackGeocoder, OfflineGeocoder


@pytest.fixture(scope="module")
def gazetteer():
    return get_gazetteer()


@pytest.mark.parametrize(
    ("text", "name", "country", "zone"),
    [
        ("Göteborg", "Gothenburg", "SE", "Europe/Stockholm"),
        ("goteborg", "Gothenburg", "SE", "Europe/Stockholm"),
        ("Gothenburg", "Gothenburg", "SE", "Europe/Stockholm"),
        ("Milano", "Milan", "IT", "Europe/Rome"),
        ("Moskva", "Moscow", "RU", "Europe/Moscow"),
        ("Москва", "Moscow", "RU", "Europe/Moscow"),
        ("Moscow", "Moscow", "RU", "Europe/Moscow"),
        ("Ciudad de México", "Mexico City", "MX", "America/Mexico_City"),
        ("Երևան", "Yerevan", "AM", "Asia/Yerevan"),
        ("YEREVAN", "Yerevan", "AM", "Asia/Yerevan"),
        ("Sao Paulo", "São Paulo", "BR", "America/Sao_Paulo"),
        ("  são   paulo!! ", "São Paulo", "BR", "America/Sao_Paulo"),
        ("İstanbul", "Istanbul", "TR", "Europe/Istanbul"),
        ("Valencia, VE", "Valencia", "VE", "America/Caracas"),
        ("Valencia, Venezuela", "Valencia", "VE", "America/Caracas"),
        ("Valencia, Spain", "Valencia", "ES", "Europe/Madrid"),
        ("Valencia, Spagna", "Valencia", "ES", "Europe/Madrid"),
        ("東京", "Tokyo", "JP", "Asia/Tokyo"),
    ],
)
def test_places_resolve_in_any_language_and_script(gazetteer, text, name, country, zone):
    best = gazetteer.search(text).places[0]
    assert (best.name, best.country_code, best.timezone) == (name, country, zone)


def test_valencia_prefers_spain_and_offers_venezuela(gazetteer):
    countries = [place.country_code for place in gazetteer.search("Valencia").places]
    assert countries[0] == "ES"
    assert "VE" in countries


def test_unknown_names_give_nothing_and_close_spellings(gazetteer):
    assert gazetteer.search("Xqzzyville").places == ()
    assert "Stockholm" in gazetteer.search("Stockholn").suggestions
    assert "Berlin" in gazetteer.search("Berln").suggestions


@pytest.mark.parametrize("text", ["", "   ", "\x00", "x" * 201, "🏳️‍🌈", "%", "'; DROP TABLE"])
def test_odd_input_never_raises(gazetteer, text):
    result = gazetteer.search(text)
    assert result.places == ()


def test_normalize_keeps_other_scripts():
    assert normalize("Москва") == "москва"
    assert normalize("Երևան") == "երեւան"  # the ligature "և" is "ե" + "ւ"
    assert normalize("Saint-Étienne") == "saint etienne"


def test_get_by_id(gazetteer):
    yerevan = gazetteer.search("Yerevan").places[0]
    assert gazetteer.get(yerevan.geonameid) == yerevan
    assert gazetteer.get(-1) is None


def test_known_distances():
    stockholm = get_gazetteer().search("Stockholm").places[0]
    uppsala = get_gazetteer().search("Uppsala").places[0]
    km = distance_km(stockholm.latitude, stockholm.longitude, uppsala.latitude, uppsala.longitude)
    assert km == pytest.approx(64, abs=2)
    assert distance_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(344, abs=3)


@given(st.floats(-89.9, 89.9), st.floats(-180, 180), st.floats(-89.9, 89.9), st.floats(-180, 180))
def test_distance_agrees_with_geodesic_within_0_6_percent(lat1, lon1, lat2, lon2):
    expected = geodesic((lat1, lon1), (lat2, lon2)).km
    assert distance_km(lat1, lon1, lat2, lon2) == pytest.approx(expected, rel=0.006, abs=0.01)


def test_box_splits_at_the_antimeridian_and_spans_the_pole():
    assert len(bounding_box(-18.1, 178.4, 500)) == 2
    ((_, max_lat, min_lon, max_lon),) = bounding_box(89.5, 10, 100)
    assert (max_lat, min_lon, max_lon) == (90.0, -180.0, 180.0)


@given(
    st.floats(-85, 85),
    st.floats(-180, 180),
    st.floats(0.5, 1000),
    st.floats(0, 360),
    st.floats(0, 1),
)
def test_every_point_within_the_radius_is_inside_a_box(lat, lon, radius, bearing, share):
    point = geodesic(kilometers=radius * share * 0.99).destination((lat, lon), bearing)
    assert distance_km(lat, lon, point.latitude, point.longitude) <= radius
    assert any(
        a <= point.latitude <= b and c <= point.longitude <= d
        for a, b, c, d in bounding_box(lat, lon, radius)
    )


def test_offline_geocoder_speaks_geopy():
    berlin = OfflineGeocoder().geocode("Berlin")
    assert berlin.raw["country_code"] == "DE"
    assert berlin.latitude == pytest.approx(52.52, abs=0.05)
    assert OfflineGeocoder().geocode("Xqzzyville") is None


class _Failing(Geocoder):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def geocode(self, query, **kwargs):
        raise self.error


@pytest.mark.parametrize(
    "error", [GeocoderTimedOut("slow"), GeocoderServiceError("429"), OSError("unreachable")]
)
def test_fallback_answers_when_the_online_geocoder_fails(error, caplog):
    found = FallbackGeocoder(_Failing(error)).geocode("Tbilisi")
    assert found.raw["country_code"] == "GE"
    assert "Tbilisi" not in caplog.text, "queries can be personal: never logged"


def test_import_places_loads_a_geonames_dump(app, runner, tmp_path):
    dump = tmp_path / "cities500.txt"
    columns = [
        "3170000",
        "Borgo Tiny",
        "Borgo Tiny",
        "Borghetto,Tinyville",
        "45.1",
        "9.2",
        "P",
        "PPL",
        "IT",
        "",
        "09",
        "",
        "",
        "",
        "600",
        "",
        "100",
        "Europe/Rome",
        "2024-01-01",
    ]
    mountain = columns.copy()
    mountain[:2], mountain[6] = ["3170001", "Monte X"], "T"
    dump.write_text("\t".join(columns) + "\n" + "\t".join(mountain) + "\n", encoding="utf-8")
    result = runner.invoke(args=["rallyhub", "import-places", str(dump)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 places" in result.output
    from rallyhub.places.gazetteer import Gazetteer, load_parts

    imported = Gazetteer(load_parts(Path(app.config["PLACES_FILE"])))
    assert imported.search("tinyville").places[0].name == "Borgo Tiny"


def test_import_places_refuses_other_files(runner, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\tworld\n", encoding="utf-8")
    result = runner.invoke(args=["rallyhub", "import-places", str(bad)])
    assert result.exit_code == 1
    assert "not a GeoNames dump" in result.output


# -- radius search ---------------------------------------------------------------------------

points = st.tuples(st.floats(-80, 80), st.floats(-180, 180))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    centre=points,
    radius=st.floats(1, 1000),
    spots=st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=25),
    twins=st.integers(0, 3),
    limit=st.sampled_from([1, 2, 3, 7, 500]),
)
def test_indexed_search_returns_exactly_what_a_full_scan_returns(
    app_ctx, centre, radius, spots, twins, limit
):
    from sqlalchemy import delete

    from rallyhub.extensions import db
    from rallyhub.rallies.models import Rally
    from rallyhub.rallies.search import find_rallies_near
    from tests.factories import CampaignFactory, RallyFactory, UserFactory

    db.session.execute(delete(Rally))
    db.session.commit()
    users, campaigns = UserFactory(app_ctx), CampaignFactory(app_ctx)
    make = RallyFactory(app_ctx, users, campaigns)
    organizer, campaign = users(), campaigns()
    lat0, lon0 = centre
    # Twins stand at the same spot as another rally: equally far, so ordered by id.
    for d_lat, d_lon in spots + spots[:twins]:
        lat = max(-89.0, min(89.0, lat0 + d_lat * radius / 111))
        lon = (lon0 + d_lon * radius / 111 + 180) % 360 - 180
        make(latitude=lat, longitude=lon, organizer_id=organizer, campaign_id=campaign)
    everything = db.session.execute(
        db.select(Rally.id, Rally.public_latitude, Rally.public_longitude)
    ).all()
    expected = sorted(
        (distance_km(lat0, lon0, la, lo), i)
        for i, la, lo in everything
        if distance_km(lat0, lon0, la, lo) <= radius
    )
    # Page by page, each page one query per widening, the cursor carrying on exactly.
    hits, cursor = [], None
    while True:
        page = find_rallies_near(lat0, lon0, radius, limit=limit, cursor=cursor)
        assert len(page.hits) <= limit
        hits += page.hits
        cursor = page.next_cursor
        if cursor is None:
            break
    assert hits == [(i, km) for km, i in expected]
    db.session.rollback()


def _spread_copies_over_the_world(cursor, rally_id: int, copies: int) -> None:
    """Copy one rally ``copies`` times to points all over the world, and refresh the statistics
    (PostgreSQL); each copy's band and unit vector are computed as the application does."""
    from rallyhub.places.distance import BANDS_PER_DEGREE
    from rallyhub.rallies.models import Rally

    moved = {
        "latitude": "lat",
        "longitude": "lon",
        "public_latitude": "lat",
        "public_longitude": "lon",
        "public_band": f"floor((lat + 90) * {BANDS_PER_DEGREE})",
        "public_x": "cos(radians(lat)) * cos(radians(lon))",
        "public_y": "cos(radians(lat)) * sin(radians(lon))",
        "public_z": "sin(radians(lat))",
    }
    columns = [c.name for c in Rally.__table__.columns if c.name != "id"]
    values = [moved.get(name, f"r.{name}") for name in columns]
    cursor.execute(
        f"INSERT INTO rallies ({', '.join(columns)}) SELECT {', '.join(values)} "  # noqa: S608
        "FROM rallies r, generate_series(1, %(copies)s) g, "
        "LATERAL (SELECT -80 + mod(g * 0.053, 160) AS lat, -179 + mod(g * 7.31, 358) AS lon) p "
        "WHERE r.id = %(id)s",
        {"copies": copies, "id": rally_id},
    )
    cursor.execute("ANALYZE rallies")


def _statement_of(search) -> tuple[str, object]:
    """The last SQL statement (and its parameters) that ``search()`` sent to the database."""
    from sqlalchemy import event

    from rallyhub.extensions import db

    sent = []

    def remember(_conn, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        search()
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    return sent[-1]


@pytest.mark.parametrize("centre", [(59.33, 18.07), (-18.1, 179.5)], ids=["city", "antimeridian"])
def test_radius_search_reads_the_index_not_the_table(app_ctx, rallies, centre):
    from rallyhub.extensions import db
    from rallyhub.rallies.search import find_rallies_near

    rally_id = rallies(latitude=centre[0], longitude=centre[1])
    statement, parameters = _statement_of(lambda: find_rallies_near(*centre, 300, limit=10))
    connection = db.session.connection()
    cursor = connection.connection.driver_connection.cursor()
    if db.engine.dialect.name == "sqlite":
        cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        plan = " / ".join(str(row[-1]) for row in cursor.fetchall())
        assert "ix_rallies_radius_search" in plan, plan
        assert "SCAN rallies" not in plan, plan
    else:
        # With one row, every index costs the same and the planner picks either: give it a
        # table the size and spread of a real campaign's, then ask.
        _spread_copies_over_the_world(cursor, rally_id, copies=3000)
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {statement}", parameters)
        plan = " / ".join(row[0] for row in cursor.fetchall())
        assert "ix_rallies_radius_search" in plan, plan
    db.session.rollback()


def test_points_a_hair_apart_near_zero_are_found(client, rallies):
    # PostgreSQL refuses a floating-point underflow; the squared chord must never make one.
    rallies(title="Null Island", latitude=1e-250, longitude=-1e-300)
    body = client.get("/api/v1/events?lat=1e-200&lon=1e-300&radius_km=1").get_json()
    assert [f["properties"]["title"] for f in body["features"]] == ["Null Island"]
    assert body["features"][0]["properties"]["distance_km"] == 0


@given(points, points, points)
def test_the_squared_chord_orders_points_as_their_distances_do(centre, a, b):
    from rallyhub.places.distance import chord_squared, unit_vector

    # The search sorts by the chord and shows the distance: a nearer chord is never farther.
    origin = unit_vector(*centre)
    chord_a, chord_b = (chord_squared(origin, unit_vector(*point)) for point in (a, b))
    km_a, km_b = distance_km(*centre, *a), distance_km(*centre, *b)
    assert km_a <= km_b if chord_a <= chord_b else km_a >= km_b


def test_bands_cover_the_latitudes_of_a_box():
    from rallyhub.places.distance import bands, latitude_band

    assert latitude_band(-90) == 0 and latitude_band(90) == 720
    assert latitude_band(0) == 360 and latitude_band(-0.01) == 359 and latitude_band(0.25) == 361
    assert bands(59.1, 59.6) == [596, 597, 598]


class _Street(Geocoder):
    """A stand-in for an online geocoder that knows one square, and fails on another."""

    def geocode(self, query, **kwargs):
        if query.startswith("Sergels torg"):
            from geopy.location import Location

            return Location("Sergels torg", (59.3326, 18.0649), {})
        if query.startswith("Broken"):
            raise GeocoderTimedOut("slow")
        return None


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ("Sergels torg", (59.3326, 18.0649)),  # found by the online geocoder
        ("Broken square", None),  # it times out: the city centre, no error
        ("Nowhere lane", None),
    ],
)
def test_public_meeting_points_use_the_online_geocoder_when_configured(app_ctx, point, expected):
    from rallyhub.places.services import meeting_point_position

    stockholm = get_gazetteer().search("Stockholm").places[0]
    centre = (stockholm.latitude, stockholm.longitude)
    with app_ctx.test_request_context():
        assert meeting_point_position(point, stockholm, 100) == centre, "off by default"
        app_ctx.extensions["rallyhub_street_geocoder"] = FallbackGeocoder(_Street())
        assert meeting_point_position(point, stockholm, 100) == (expected or centre)


def test_nominatim_is_built_from_the_configuration(make_app):
    from geopy.geocoders import Nominatim

    from rallyhub.places.services import street_geocoder

    app = make_app(ONLINE_GEOCODER="nominatim", GEOCODER_USER_AGENT="rallyhub-test")
    with app.app_context():
        geocoder = street_geocoder()
    assert isinstance(geocoder.primary, Nominatim)
    assert isinstance(geocoder.fallback, OfflineGeocoder)


def test_namesake_labels_name_states_and_home_nations(app):
    from rallyhub.places.services import label_places

    with app.test_request_context():
        labels = dict(
            (place.admin1, label)
            for place, label in label_places(list(get_gazetteer().search("Newport").places))
            if place.country_code in ("GB", "US")
        )
    assert labels["WLS"] == "Newport, United Kingdom — Wales"
    assert labels["ENG"] == "Newport, United Kingdom — England"
    assert labels["RI"] == "Newport, United States — Rhode Island"


def test_a_place_is_listed_once_and_a_lone_place_has_no_region(app):
    from rallyhub.places.services import label_places

    yerevan = get_gazetteer().search("Yerevan").places[0]
    with app.test_request_context():
        assert label_places([yerevan, yerevan]) == [(yerevan, "Yerevan, Armenia")]
