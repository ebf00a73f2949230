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
    assert OfflineGeocoder().reverse((59.33, 18.07)).raw["name"] == "Stockholm"


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
)
def test_indexed_search_returns_exactly_what_a_full_scan_returns(app_ctx, centre, radius, spots):
    from sqlalchemy import delete

    from rallyhub.extensions import db
    from rallyhub.places.search import find_rallies_near
    from rallyhub.rallies.models import Rally
    from tests.factories import CampaignFactory, RallyFactory, UserFactory

    db.session.execute(delete(Rally))
    db.session.commit()
    users, campaigns = UserFactory(app_ctx), CampaignFactory(app_ctx)
    make = RallyFactory(app_ctx, users, campaigns)
    organizer, campaign = users(), campaigns()
    lat0, lon0 = centre
    for d_lat, d_lon in spots:
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
    found = find_rallies_near(lat0, lon0, radius, limit=500)
    assert [(i, round(km, 9)) for i, km in found.hits] == [(i, round(km, 9)) for km, i in expected]
    db.session.rollback()


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
