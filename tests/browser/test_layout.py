"""Layout on a phone (390×844) and a desktop (1280×800), in Chromium."""

from __future__ import annotations

import pytest

from rallyhub.rallies.models import Visibility

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def _box(page, selector):
    return page.locator(selector).first.bounding_box()


@pytest.fixture
def world(rallies, campaigns):
    campaign = campaigns(
        hashtag="#GiustiziaPerLaCeceniaEPerTuttiGliScomparsiNelCaucasoDelNord",
        description="In 2017 men suspected of being gay were abducted, tortured and killed.",
    )
    campaigns(hashtag="#GiustiziaPerZelim", description="Zelim Bakaev disappeared in 2017.")
    for city, country, lat, lon in [
        ("Stockholm", "SE", 59.33, 18.07),
        ("Roma", "IT", 41.89, 12.48),
    ]:
        rallies(
            campaign_id=campaign,
            title=f"Justice for Chechnya — {city}",
            city=city,
            country_code=country,
            latitude=lat,
            longitude=lon,
            visibility=Visibility.PUBLIC,
        )


def test_on_a_phone_the_search_and_first_rallies_come_before_the_map(page, world):
    page.set_viewport_size(PHONE)
    page.goto("/")
    page.locator(".world-map .leaflet-marker-icon, .world-map .marker-cluster").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    search = _box(page, "#near-q")
    first_rally = _box(page, ".rally-list li")
    assert search["y"] + search["height"] <= PHONE["height"]
    assert first_rally["y"] + first_rally["height"] <= PHONE["height"]
    assert _box(page, ".world-map")["y"] > first_rally["y"]


def test_on_a_desktop_the_map_is_above_the_fold(page, world):
    page.set_viewport_size(DESKTOP)
    page.goto("/")
    page.locator(".world-map .leaflet-marker-icon, .world-map .marker-cluster").first.wait_for()
    world_map = _box(page, ".world-map")
    assert world_map["y"] + world_map["height"] / 2 <= DESKTOP["height"]
    assert _box(page, "#near-q")["y"] < world_map["y"]


def test_filters_fold_away_until_used_and_open_with_a_filter_set(page, world):
    page.set_viewport_size(PHONE)
    page.goto("/")
    assert not page.get_by_label("Country").is_visible()
    page.get_by_text("Filter by campaign, country or dates").click()
    page.get_by_label("Country").select_option(label="Italy")
    page.get_by_role("button", name="Filter").click()
    page.get_by_label("Country").wait_for()
    assert page.get_by_text("Justice for Chechnya — Roma").is_visible()
    assert page.get_by_text("Justice for Chechnya — Stockholm").count() == 0
