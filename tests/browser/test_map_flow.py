"""Supporters find rallies on the map, by typing a town or sharing their location, in Chromium."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from rallyhub.rallies.models import Visibility


def _two_swedish_rallies(rallies):
    rallies(title="Stockholm rally", latitude=59.3293, longitude=18.0686)
    rallies(title="Uppsala rally", city="Uppsala", latitude=59.8586, longitude=17.6389)


def test_home_map_shows_markers_and_loads_nothing_foreign(page, rallies):
    _two_swedish_rallies(rallies)
    rallies(
        title="Protected one",
        visibility=Visibility.PROTECTED,
        latitude=41.0369,
        longitude=28.985,
        city="İstanbul",
        country_code="TR",
        timezone="Europe/Istanbul",
    )
    page.goto("/")
    page.locator(".world-map .leaflet-marker-icon, .world-map .marker-cluster").first.wait_for()
    assert page.locator(".world-map .leaflet-marker-icon, .world-map .marker-cluster").count() >= 1
    assert page.foreign_requests == []
    assert page.dialogs == []


def test_a_cluster_zooms_in_to_markers_whose_popup_leads_to_the_rally(page, rallies):
    # Three rallies a few hundred metres apart: one cluster over Europe, three pins in the city.
    for title, lat, lon in (
        ("Sergels torg", 59.3326, 18.0649),
        ("Medborgarplatsen", 59.3144, 18.0735),
        ("Mynttorget", 59.3268, 18.0711),
    ):
        rally_id = rallies(title=title, latitude=lat, longitude=lon)
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto("/")
    cluster = page.locator(".world-map .marker-cluster")
    cluster.wait_for()
    assert cluster.count() == 1 and cluster.inner_text() == "3"
    assert cluster.get_attribute("title") == "Rallies here: 3"
    cluster.click()
    pins = page.locator(".world-map .leaflet-marker-icon:not(.marker-cluster)")
    pins.nth(2).wait_for()
    assert page.locator(".world-map .marker-cluster").count() == 0
    page.get_by_role("button", name="Mynttorget").click()
    page.locator(".leaflet-popup-content").get_by_role("link", name="Mynttorget").click()
    page.wait_for_url(f"**/rallies/{rally_id}")
    page.get_by_role("heading", name="Mynttorget").wait_for()
    # The map asked for tiles only (never every rally at once), each in the page's language.
    points = [url for url in asked if "/map/points.json" in url]
    assert points and all(re.search(r"\?lang=en&z=\d+&x=\d+&y=\d+$", url) for url in points)
    assert page.foreign_requests == []
    assert page.dialogs == []


# Where the search's map looks, and the radius of the circle drawn on it.
VIEW_OF_THE_MAP = """() => {
  const map = window[document.querySelector(".world-map[data-map]").dataset.map];
  let radius = null;
  map.eachLayer((layer) => { if (layer instanceof L.Circle) radius = layer.getRadius(); });
  const centre = map.getCenter();
  return [centre.lat, centre.lng, map.getZoom(), radius];
}"""


def test_typing_a_town_in_cyrillic_finds_the_nearest_rally(page, rallies):
    _two_swedish_rallies(rallies)
    page.goto("/")
    page.get_by_label("Find a rally near you").fill("Стокгольм")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("heading", name=re.compile("Rallies within 50 km of Stockholm")).wait_for()
    results = page.locator("ol.results li")
    assert results.count() == 1
    assert "Stockholm rally" in results.first.inner_text()
    page.locator(".world-map canvas").first.wait_for()  # the radius circle, drawn on a canvas
    page.locator(".world-map .leaflet-marker-icon").first.wait_for()  # its points came inline
    latitude, longitude, zoom, radius_m = page.evaluate(VIEW_OF_THE_MAP)
    assert (round(latitude, 1), round(longitude, 1), zoom) == (59.3, 18.1, 9)
    assert radius_m == 50_000
    assert page.foreign_requests == []


def test_sharing_the_location_finds_the_nearest_rally(browser, live_server, rallies):
    _two_swedish_rallies(rallies)
    context = browser.new_context(
        base_url=live_server,
        permissions=["geolocation"],
        geolocation={"latitude": 59.858562, "longitude": 17.638927},
    )
    page = context.new_page()
    page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
    page.goto("/")
    page.get_by_role("button", name="Use my location").click()
    page.get_by_role("heading", name=re.compile("Rallies within 50 km of you")).wait_for()
    first = page.locator("ol.results li").first.inner_text()
    assert "Uppsala rally" in first
    # The position leaves the browser rounded to about a kilometre.
    query = dict(parse_qsl(urlsplit(page.url).query))
    assert (query["lat"], query["lon"]) == ("59.86", "17.64")
    context.close()


def test_popups_show_hostile_titles_as_text(page, rallies):
    hostile = '<img src=x onerror="alert(1)"> ${alert(2)} `x` </script>'
    rallies(title=hostile, latitude=59.3293, longitude=18.0686)
    page.goto("/?country=SE")
    page.locator(".world-map .leaflet-marker-icon").first.wait_for()
    page.locator(".world-map .leaflet-marker-icon").first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert hostile in popup.inner_text()
    assert page.locator("img[src='x']").count() == 0
    assert page.dialogs == []
