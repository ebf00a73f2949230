"""The home map, nearby results, the embeddable map and campaign calendars."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from icalendar import Calendar

from rallyhub.models import utcnow
from rallyhub.places.distance import distance_km
from rallyhub.rallies.models import RallyStatus


def test_home_lists_rallies_by_localized_country_and_maps_them(client, rallies):
    rallies(
        title="Rally in Yerevan",
        city="Yerevan",
        country_code="AM",
        latitude=40.18,
        longitude=44.51,
        timezone="Asia/Yerevan",
    )
    rallies(title="Rally in Stockholm")
    page = client.get("/").get_data(as_text=True)
    assert page.index("Armenia") < page.index("Sweden")
    assert "Rally in Yerevan" in page
    # The points travel separately, asked for tile by tile (tests/test_map_points.py), and
    # nothing clusters every rally in the browser any more.
    assert 'data-points-url="/map/points.json?lang=en"' in page
    assert re.search(r'data-map="map_[0-9a-f]+"', page)
    assert "/static/js/map-points.js" in page and "leaflet.markercluster.js" not in page
    rows = client.get("/map/points.json").get_json()
    yerevan = next(row for row in rows if row[3] == "Rally in Yerevan")
    assert yerevan[:2] == [40.18, 44.51] and yerevan[6] == "Asia/Yerevan"


def test_map_points_follow_the_filters_and_hide_exact_pins(client, rallies, campaigns):
    from rallyhub.rallies.models import Visibility
    from rallyhub.rallies.privacy import snap_to_grid

    zelim = campaigns(slug="zelim")
    rallies(
        title="Zelim",
        campaign_id=zelim,
        visibility=Visibility.PROTECTED,
        latitude=59.33261,
        longitude=18.06491,
    )
    rallies(title="Other")
    rows = client.get("/map/points.json?campaign=zelim").get_json()
    assert [row[3] for row in rows] == ["Zelim"]
    assert rows[0][:2] == list(snap_to_grid(59.33261, 18.06491))
    response = client.get("/map/points.json")
    assert response.headers["ETag"]
    assert (
        client.get(
            "/map/points.json", headers={"If-None-Match": response.headers["ETag"]}
        ).status_code
        == 304
    )
    assert client.get("/map/points.json?country=Sweden").status_code == 400


def test_home_map_script_runs_under_the_csp_nonce_and_loads_only_local_assets(client, rallies):
    rallies()
    response = client.get("/")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    page = response.get_data(as_text=True)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)
    for url in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page):
        assert url.startswith(("/", "data:")) and not url.startswith("//"), url
    for cdn in ("jsdelivr", "cdnjs", "jquery.com", "bootstrapcdn", "unpkg"):
        assert cdn not in page


def test_filters_work_without_javascript(client, rallies, campaigns):
    zelim = campaigns(slug="zelim")
    rallies(title="Zelim rally", campaign_id=zelim)
    rallies(title="Other rally", city="Roma", country_code="IT", timezone="Europe/Rome")
    assert "Other rally" not in client.get("/?campaign=zelim").get_data(as_text=True)
    assert "Zelim rally" not in client.get("/?country=it").get_data(as_text=True)
    assert client.get("/?country=ITA").status_code == 400
    assert client.get("/?start=someday").status_code == 400


def test_list_shows_a_few_per_country_and_links_to_the_rest(client, rallies):
    for n in range(23):
        rallies(title=f"Rally {n:02d}", start_dt=utcnow() + timedelta(days=1, hours=n))
    page = client.get("/").get_data(as_text=True)
    listed = re.findall(r">Rally (\d\d)</a>", page)
    assert listed == [f"{n:02d}" for n in range(20)]
    assert "All 23 rallies in Sweden" in page


def test_nearby_search_sorts_by_distance_and_shows_it(client, rallies):
    rallies(title="Uppsala rally", city="Uppsala", latitude=59.8586, longitude=17.6389)
    rallies(title="Stockholm rally", latitude=59.3293, longitude=18.0686)
    page = client.get("/near?q=Stockholm&radius_km=100").get_data(as_text=True)
    assert page.index("Stockholm rally") < page.index("Uppsala rally")
    assert re.search(r"6[2-6]\.\d km", page)
    map_element = BeautifulSoup(page, "html.parser").select_one(".world-map[data-map]")
    latitude, longitude, zoom, radius_m = map(float, map_element["data-view"].split(","))
    assert distance_km(latitude, longitude, 59.3293, 18.0686) < 5, "centred on the place"
    assert (zoom, radius_m) == (9, 100_000), "the radius is drawn"


def test_nearby_search_offers_a_wider_radius_when_empty(client, rallies):
    rallies(title="Far away", city="Roma", country_code="IT", latitude=41.9, longitude=12.5)
    page = client.get("/near?q=Stockholm&radius_km=50").get_data(as_text=True)
    assert "No rallies within 50 km" in page
    assert "Search within 100 km" in page


def test_nearby_search_for_unknown_places_suggests(client):
    response = client.get("/near?q=Stockholn")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "We could not find" in page and "Stockholm" in page


def test_nearby_search_from_coordinates(client, rallies):
    rallies(title="Stockholm rally", latitude=59.3293, longitude=18.0686)
    page = client.get("/near?lat=59.33&lon=18.07&radius_km=10").get_data(as_text=True)
    assert "Stockholm rally" in page


@pytest.mark.parametrize(
    ("query", "invalid", "words"),
    [
        ("", "near-q", "Type a town"),
        ("q=&radius_km=50&lat=&lon=", "near-q", "Type a town"),
        ("lat=95&lon=1", "near-q", "“lat”"),
        ("lat=1&lon=x", "near-q", "“lon”"),
        ("q=x&radius_km=0", "near-radius", "“radius_km”"),
    ],
)
def test_nearby_search_explains_bad_input_beside_the_box(client, query, invalid, words):
    response = client.get(f"/near?{query}")
    assert response.status_code == 400
    page = BeautifulSoup(response.data, "html.parser")
    assert words in page.select_one("#near-error").get_text()
    field = page.select_one(f"#{invalid}")
    assert field["aria-invalid"] == "true" and field["aria-describedby"] == "near-error"
    # The visitor retries from the same page: the box is there, ready.
    assert page.select_one("form#near-form button[type=submit]")
    assert page.select_one("h1")


def test_only_the_embed_may_be_framed(client, rallies):
    rallies()
    embed = client.get("/embed/map")
    assert embed.status_code == 200
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed.headers
    home = client.get("/")
    assert "frame-ancestors 'none'" in home.headers["Content-Security-Policy"]
    assert home.headers["X-Frame-Options"] == "DENY"


def test_campaign_calendar_lists_its_rallies_and_marks_cancelled(client, rallies, campaigns):
    campaign = campaigns(slug="cecenia", hashtag="#GiustiziaPerLaCecenia")
    start = datetime(2031, 6, 10, 16, 0, tzinfo=UTC)
    rallies(title="On", campaign_id=campaign, start_dt=start)
    rallies(title="Off", campaign_id=campaign, start_dt=start, status=RallyStatus.CANCELLED)
    rallies(title="Pending", campaign_id=campaign, status=RallyStatus.PENDING)
    rallies(title="Other campaign")
    response = client.get("/campaigns/cecenia/rallies.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    events = {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {"On #GiustiziaPerLaCecenia", "Off #GiustiziaPerLaCecenia"}
    assert events["Off #GiustiziaPerLaCecenia"]["STATUS"] == "CANCELLED"
    assert events["On #GiustiziaPerLaCecenia"].decoded("DTSTART").astimezone(UTC) == start
    assert client.get("/campaigns/nope/rallies.ics").status_code == 404


def test_a_search_far_from_every_rally_shows_the_nearest_anyway(client, rallies):
    rallies(title="Stockholm rally", latitude=59.3293, longitude=18.0686)
    rallies(title="Uppsala rally", latitude=59.8586, longitude=17.6389, city="Uppsala")
    page = client.get("/near?q=Москва&radius_km=500").get_data(as_text=True)
    assert "No rallies within 500 km." in page and "Organize one there" in page
    listed = re.findall(
        r'<li><a href="/rallies/\d+">([^<]+)</a>.*?class="distance">([^<]+)<', page, re.S
    )
    # Moscow to Stockholm is about 1,230 km, to Uppsala about 1,260 km (great circle).
    assert [title for title, _km in listed] == ["Stockholm rally", "Uppsala rally"]
    kms = [int(km.replace(",", "").removesuffix(" km")) for _title, km in listed]
    assert 1210 < kms[0] < 1250 and 1240 < kms[1] < 1280


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("start=2027-06-10&end=2027-06-01", "end", "must not be before"),
        ("country=Sweden", "country", "country"),
        ("start=10/06/2027", "start", "must be a date like"),
    ],
)
def test_a_filter_that_cannot_be_read_is_explained_beside_its_field(
    client, rallies, query, field, words
):
    rallies(title="Stockholm rally")
    response = client.get(f"/?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(rf'<span class="field-error" id="f-{field}-error" role="alert">([^<]+)', page)
    assert error and words in error.group(1)
    assert "Stockholm rally" in page, "the page still shows every rally"
    assert "/map/points.json" in page and "Sweden" not in page.split("/map/points.json")[1][:60]


def test_the_country_filter_lists_countries_by_name(client, rallies):
    rallies(country_code="SE", city="Stockholm")
    rallies(country_code="AM", city="Yerevan", latitude=40.18, longitude=44.51)
    page = client.get("/?country=AM").get_data(as_text=True)
    options = re.findall(r'<option value="([A-Z]{2})"( selected)?>([^<]+)</option>', page)
    assert options == [("AM", " selected", "Armenia"), ("SE", "", "Sweden")]
