"""The host form in Chromium: the pin picked on a map, a new city moving it, the zone named."""

from __future__ import annotations

from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.rallies.models import Rally
from tests.browser.test_rally_flow import _sign_in
from tests.rally_data import next_year

GYUMRI = (40.79, 43.85)


def _rally(app, title):
    with app.app_context():
        return db.session.scalars(select(Rally).where(Rally.title == title)).one()


def test_organizer_picks_the_pin_on_a_map_centred_on_the_city(app, page, users, campaigns):
    users(email="aram@example.org")
    campaigns()
    _sign_in(page, "aram@example.org")
    page.goto("/rallies/new")
    page.get_by_label("Title").fill("Justice for Chechnya — Gyumri")
    page.get_by_label("City", exact=True).fill("Гюмри")
    page.get_by_label("City", exact=True).press("Tab")
    # The city is looked up: the map moves there and the time fields name its zone.
    page.locator("#starts_at-hint", has_text="Asia/Yerevan").wait_for()
    page.locator("#pin-map").click()
    page.locator("#pin-map .leaflet-marker-icon").wait_for()
    page.get_by_text("Pin set. Save to keep it.").wait_for()
    latitude = float(page.get_by_label("Exact pin: latitude").input_value())
    longitude = float(page.get_by_label("Exact pin: longitude").input_value())
    assert abs(latitude - GYUMRI[0]) < 0.03 and abs(longitude - GYUMRI[1]) < 0.03
    page.get_by_label("Meeting point", exact=True).fill("Vardanants Square")
    page.get_by_label("Starts (local time)").fill(f"{next_year()}-06-10T18:00")
    page.get_by_label("Ends (local time)").fill(f"{next_year()}-06-10T20:00")
    page.get_by_label("Everyone", exact=True).check()
    page.get_by_role("button", name="Save rally").click()
    page.get_by_text("HQ will review your rally soon").wait_for()
    rally = _rally(app, "Justice for Chechnya — Gyumri")
    assert (round(rally.latitude, 5), round(rally.longitude, 5)) == (latitude, longitude)
    assert page.foreign_requests == []


def test_typed_coordinates_move_the_marker_and_remove_clears_it(page, users, campaigns):
    users(email="aram@example.org")
    campaigns()
    _sign_in(page, "aram@example.org")
    page.goto("/rallies/new")
    page.get_by_label("Exact pin: latitude").fill("40.7942")
    page.get_by_label("Exact pin: longitude").fill("43.8453")
    page.get_by_label("Exact pin: longitude").press("Tab")
    page.locator("#pin-map .leaflet-marker-icon").wait_for()
    page.get_by_role("button", name="Remove the pin").click()
    page.locator("#pin-map .leaflet-marker-icon").wait_for(state="detached")
    assert page.get_by_label("Exact pin: latitude").input_value() == ""
    assert page.get_by_label("Exact pin: longitude").input_value() == ""


def test_a_new_city_moves_the_old_pin_to_the_new_city(app, page, users, rallies):
    organizer = users(email="aram@example.org")
    rally_id = rallies(
        organizer_id=organizer,
        title="Moving rally",
        city="Yerevan",
        country_code="AM",
        timezone="Asia/Yerevan",
        latitude=40.1811,
        longitude=44.5136,
    )
    _sign_in(page, "aram@example.org")
    page.goto(f"/rallies/{rally_id}/edit")
    page.locator("#pin-map .leaflet-marker-icon").wait_for()
    page.get_by_label("City", exact=True).fill("Gyumri")
    page.get_by_label("City", exact=True).press("Tab")
    page.get_by_text("No pin: the rally is shown at the city centre.").wait_for()
    assert page.locator("#pin-map .leaflet-marker-icon").count() == 0
    page.get_by_role("button", name="Save rally").click()
    page.get_by_text("Saved").wait_for()
    rally = _rally(app, "Moving rally")
    assert abs(rally.latitude - GYUMRI[0]) < 0.05 and abs(rally.longitude - GYUMRI[1]) < 0.05


def test_a_dragged_pin_moves_and_is_kept_when_the_city_changes(page, users, campaigns):
    users(email="aram@example.org")
    campaigns()
    _sign_in(page, "aram@example.org")
    page.goto("/rallies/new")
    page.get_by_label("City", exact=True).fill("Gyumri")
    page.get_by_label("City", exact=True).press("Tab")
    page.locator("#starts_at-hint", has_text="Asia/Yerevan").wait_for()
    page.locator("#pin-map").click()
    marker = page.locator("#pin-map .leaflet-marker-icon")
    marker.wait_for()
    page.get_by_text("Pin set. Save to keep it.").wait_for()
    # The map has stopped moving (a busy machine may still be panning to the city).
    page.wait_for_function("() => !document.querySelector('#pin-map .leaflet-zoom-anim')")
    marker.hover()
    placed = (
        float(page.get_by_label("Exact pin: latitude").input_value()),
        float(page.get_by_label("Exact pin: longitude").input_value()),
    )
    # Drag the marker 60 px to the right and 40 px down, as a mouse would.
    box = marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 20, steps=5)
    page.mouse.move(x + 60, y + 40, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "value => document.getElementById('longitude').value !== value", arg=str(placed[1])
    )
    dragged = (
        float(page.get_by_label("Exact pin: latitude").input_value()),
        float(page.get_by_label("Exact pin: longitude").input_value()),
    )
    assert dragged[0] < placed[0] and dragged[1] > placed[1], "south-east of where it was"
    # A pin the organizer set on purpose stays when the city is changed afterwards.
    page.get_by_label("City", exact=True).fill("Yerevan")
    page.get_by_label("City", exact=True).press("Tab")
    page.locator("#starts_at-hint", has_text="Asia/Yerevan").wait_for()
    page.wait_for_timeout(300)
    assert float(page.get_by_label("Exact pin: latitude").input_value()) == dragged[0]
    assert float(page.get_by_label("Exact pin: longitude").input_value()) == dragged[1]
    assert marker.count() == 1
