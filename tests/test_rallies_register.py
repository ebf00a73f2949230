"""Organizers register rallies: places, local times, validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.places.gazetteer import get_gazetteer
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from tests.conftest import post_form
from tests.rally_data import next_year, rally_form


@pytest.fixture
def organizer(users, auth):
    user_id = users(email="org@example.org", name="Aram Sargsyan")
    auth.login("org@example.org")
    return user_id


def _only_rally(app):
    with app.app_context():
        return db.session.scalars(select(Rally)).one_or_none()


def test_organizer_registers_a_rally_in_yerevan_in_local_time(app, client, organizer, campaigns):
    campaign = campaigns()
    response = post_form(client, "/rallies/new", rally_form(campaign), page="/rallies/new")
    assert response.status_code == 302
    rally = _only_rally(app)
    assert (rally.city, rally.country_code, rally.timezone) == ("Yerevan", "AM", "Asia/Yerevan")
    assert rally.status is RallyStatus.PENDING
    assert rally.organizer_id == organizer
    # Armenia keeps UTC+4 all year: 18:00 there is 14:00 UTC.
    assert rally.start_dt == datetime(next_year(), 6, 10, 14, 0, tzinfo=UTC)
    assert abs(rally.latitude - 40.18) < 0.05 and abs(rally.longitude - 44.51) < 0.05
    assert rally.languages == "hy"


def test_summer_time_is_applied_for_the_place(app, client, organizer, campaigns):
    data = rally_form(
        campaigns(),
        city="Berlin",
        starts_at=f"{next_year()}-07-01T18:00",
        ends_at=f"{next_year()}-07-01T19:30",
    )
    assert post_form(client, "/rallies/new", data).status_code == 302
    # Berlin is on CEST (UTC+2) in July.
    assert _only_rally(app).start_dt == datetime(next_year(), 7, 1, 16, 0, tzinfo=UTC)


def test_ambiguous_city_asks_which_one_then_takes_the_choice(app, client, organizer, campaigns):
    data = rally_form(campaigns(), city="Valencia")
    response = post_form(client, "/rallies/new", data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Several places are called" in page
    assert "Spain" in page and "Venezuela" in page
    venezuela = next(
        p for p in get_gazetteer().search("Valencia, VE").places if p.country_code == "VE"
    )
    response = post_form(client, "/rallies/new", {**data, "place_id": str(venezuela.geonameid)})
    assert response.status_code == 302
    assert _only_rally(app).country_code == "VE"
    assert _only_rally(app).timezone == "America/Caracas"


def test_namesakes_are_labelled_by_region_and_none_is_preselected(
    app, client, organizer, campaigns
):
    response = post_form(client, "/rallies/new", rally_form(campaigns(), city="San José"))
    assert response.status_code == 400
    page = BeautifulSoup(response.data, "html.parser")
    choices = page.select("#place_id input[type=radio]")
    labels = [page.find("label", attrs={"for": radio["id"]}).get_text() for radio in choices]
    # The two San Josés of Costa Rica: the capital in its own province and the town in
    # Alajuela's; no two labels read alike and nothing is chosen for the organizer.
    assert "San José, Costa Rica — San José region" in labels
    assert "San José, Costa Rica — Alajuela region" in labels
    assert len(set(labels)) == len(labels) == len({radio["value"] for radio in choices})
    assert not any(radio.has_attr("checked") for radio in choices)
    assert page.select_one("fieldset#place_id legend").get_text() == "Which one?"


def test_one_active_campaign_is_preselected(client, organizer, campaigns):
    only = campaigns()
    campaigns(is_active=False)
    page = BeautifulSoup(client.get("/rallies/new").data, "html.parser")
    options = page.select("#campaign_id option")
    assert [option["value"] for option in options] == [str(only)]
    assert options[0].has_attr("selected")


def test_several_campaigns_make_the_organizer_choose(app, client, organizer, campaigns):
    first, second = campaigns(), campaigns()
    page = BeautifulSoup(client.get("/rallies/new").data, "html.parser")
    options = page.select("#campaign_id option")
    assert options[0]["value"] == "" and options[0].has_attr("selected")
    assert {option["value"] for option in options[1:]} == {str(first), str(second)}
    response = post_form(client, "/rallies/new", rally_form(first, campaign_id=""))
    assert response.status_code == 400
    assert BeautifulSoup(response.data, "html.parser").select_one("#campaign_id-errors")
    assert _only_rally(app) is None


def test_who_sees_the_meeting_point_is_a_group_of_radio_buttons(client, organizer, campaigns):
    campaigns()
    page = BeautifulSoup(client.get("/rallies/new").data, "html.parser")
    group = page.select_one("fieldset#visibility")
    assert group.legend.get_text() == "Who sees the meeting point?"
    radios = group.select("input[type=radio]")
    assert [radio["value"] for radio in radios] == ["public", "protected"]
    assert all(page.find("label", attrs={"for": radio["id"]}) for radio in radios)


def test_edit_form_names_the_rallys_zone_and_offers_the_pin_map(
    client, organizer, rallies, campaigns
):
    rally = rallies(organizer_id=organizer, city="Yerevan", timezone="Asia/Yerevan")
    page = BeautifulSoup(client.get(f"/rallies/{rally}/edit").data, "html.parser")
    assert "Armenia Time (Asia/Yerevan)" in page.select_one("#starts_at-hint").get_text()
    pin_map = page.select_one("#pin-map")
    assert pin_map["data-places-url"] == "/api/v1/places"
    assert page.select_one("script[src*='js/pin-picker.js']")


def test_unknown_city_says_so_and_suggests(app, client, organizer, campaigns):
    response = post_form(client, "/rallies/new", rally_form(campaigns(), city="Stockholn"))
    assert response.status_code == 400
    assert "We could not find a place called “Stockholn”" in response.get_data(as_text=True)
    assert b"Stockholm" in response.data
    assert _only_rally(app) is None


@pytest.mark.parametrize(
    ("city", "when", "message"),
    [
        # Clocks in Berlin jump from 02:00 to 03:00 on the last Sunday of March.
        ("Berlin", "03-{sunday}T02:30", "does not exist in Europe/Berlin"),
    ],
)
def test_local_time_skipped_by_a_clock_change_is_refused(
    app, client, organizer, campaigns, city, when, message
):
    year = next_year()
    march = [day for day in range(25, 32) if datetime(year, 3, day).weekday() == 6][-1]
    start = f"{year}-{when.format(sunday=march)}"
    data = rally_form(campaigns(), city=city, starts_at=start, ends_at=f"{year}-03-{march}T05:00")
    response = post_form(client, "/rallies/new", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_local_time_repeated_by_a_clock_change_is_refused(app, client, organizer, campaigns):
    year = next_year()
    october = [day for day in range(25, 32) if datetime(year, 10, day).weekday() == 6][-1]
    data = rally_form(
        campaigns(),
        city="Berlin",
        starts_at=f"{year}-10-{october}T02:30",
        ends_at=f"{year}-10-{october}T05:00",
    )
    response = post_form(client, "/rallies/new", data)
    assert response.status_code == 400
    assert "happens twice in Europe/Berlin" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ends_at": "{y}-06-10T17:00"}, "The end must be after the start."),
        ({"starts_at": "2020-06-10T18:00", "ends_at": "2020-06-10T19:00"}, "must be in the future"),
        ({"ends_at": "{y}-06-20T17:00"}, "at most three days"),
        ({"starts_at": "tomorrow"}, "Not a valid datetime"),
        ({"capacity": "0"}, "whole number from 1"),
        ({"capacity": "-5"}, "whole number from 1"),
        ({"capacity": "many"}, "Not a valid integer"),
        ({"title": "x" * 201}, "between 3 and 200"),
        ({"title": ""}, "This field is required"),
        ({"meeting_point": ""}, "This field is required"),
        ({"city": ""}, "This field is required"),
        ({"description": "x" * 5001}, "5000"),
        ({"latitude": "91", "longitude": "44.5"}, "between -90 and 90"),
        ({"latitude": "nan", "longitude": "44.5"}, "Please enter a number"),
        ({"latitude": "inf", "longitude": "44.5"}, "Please enter a number"),
        ({"latitude": "40.18"}, "both latitude and longitude"),
        ({"latitude": "44.51", "longitude": "40.18"}, "more than 100 km"),
        ({"visibility": "secret"}, "Not a valid choice"),
        ({"campaign_id": "999999"}, "Not a valid choice"),
    ],
)
def test_rally_form_rejects_bad_input_at_the_field(
    app, client, organizer, campaigns, changes, message
):
    data = rally_form(
        campaigns(), **{k: v.replace("{y}", str(next_year())) for k, v in changes.items()}
    )
    response = post_form(client, "/rallies/new", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _only_rally(app) is None


def test_archived_campaigns_take_no_new_rallies(app, client, organizer, campaigns):
    archived = campaigns(is_active=False)
    response = post_form(client, "/rallies/new", rally_form(archived))
    assert response.status_code == 400
    assert _only_rally(app) is None


def test_an_exact_pin_near_the_city_is_kept(app, client, organizer, campaigns):
    data = rally_form(campaigns(), latitude="40.1777", longitude="44.5126", visibility="protected")
    assert post_form(client, "/rallies/new", data).status_code == 302
    rally = _only_rally(app)
    assert (rally.latitude, rally.longitude) == (40.1777, 44.5126)
    assert rally.visibility is Visibility.PROTECTED
    assert (rally.public_latitude, rally.public_longitude) != (40.1777, 44.5126)


def test_a_new_rally_is_hidden_until_approved(app, client, organizer, campaigns):
    post_form(client, "/rallies/new", rally_form(campaigns()))
    rally = _only_rally(app)
    assert client.get(f"/rallies/{rally.id}").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get(f"/rallies/{rally.id}").status_code == 404
    assert anonymous.get(f"/rallies/{rally.id}.ics").status_code == 404
    assert rally.title.encode() not in anonymous.get("/").data


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/rallies/new")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_public_meeting_point_is_pinned_by_the_online_geocoder_protected_never_asks(
    app, client, organizer, campaigns
):
    asked = []

    class Recorder:
        def geocode(self, query, **kwargs):
            asked.append(query)
            from geopy.location import Location

            return Location(query, (40.1777, 44.5126), {})

    app.extensions["rallyhub_street_geocoder"] = Recorder()
    campaign = campaigns()
    post_form(client, "/rallies/new", rally_form(campaign, visibility="protected"))
    assert asked == [], "a protected meeting point never leaves the server"
    post_form(client, "/rallies/new", rally_form(campaign, title="Public one"))
    assert asked == ["Freedom Square, by the Opera, Yerevan, Armenia"]
    with app.app_context():
        rally = db.session.scalar(select(Rally).where(Rally.title == "Public one"))
        assert (rally.latitude, rally.longitude) == (40.1777, 44.5126)
