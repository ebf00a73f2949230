"""The public rally page, its calendar file, and what a protected rally never shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from rallyhub.rallies.models import RallyStatus, Visibility
from rallyhub.rallies.privacy import snap_to_grid

# 18:00 in Yerevan (UTC+4) on 10 June 2031.
START = datetime(2031, 6, 10, 14, 0, tzinfo=UTC)
EXACT = (40.177713, 44.512614)
SECRET_POINT = "Back door of the Moscow Cinema, Abovyan St 18"


@pytest.fixture
def yerevan(rallies, users):
    organizer = users(name="Aram Sargsyan")
    return rallies(
        title="Justice in Yerevan",
        city="Yerevan",
        country_code="AM",
        timezone="Asia/Yerevan",
        latitude=EXACT[0],
        longitude=EXACT[1],
        meeting_point="Freedom Square",
        start_dt=START,
        organizer_id=organizer,
        description="Bring a sign <b>now</b>\nhttps://example.org/kit",
    )


def test_page_shows_the_local_time_zone_place_and_organizer(client, yerevan):
    page = client.get(f"/rallies/{yerevan}").get_data(as_text=True)
    assert "Tue, Jun 10, 2031, 6:00\u202fPM – 8:00\u202fPM" in page
    assert "Armenia" in page  # country and zone names
    assert "Freedom Square" in page
    assert "Aram Sargsyan" in page
    assert "Justice in Yerevan" in page


def test_description_is_plain_text_with_links(client, yerevan):
    page = client.get(f"/rallies/{yerevan}").get_data(as_text=True)
    assert "&lt;b&gt;now&lt;/b&gt;<br>" in page
    assert '<a href="https://example.org/kit" rel="nofollow noopener noreferrer ugc">' in page


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "javascript:alert(1)",
        "${alert(1)}",
        'https://example.org/"onmouseover=alert(1)',
    ],
)
def test_hostile_text_is_escaped_everywhere(client, rallies, hostile):
    rally_id = rallies(title=f"T {hostile}", description=hostile, meeting_point=hostile)
    for url in (f"/rallies/{rally_id}", "/"):
        # Inside scripts the text travels as JSON string data (checked in a real browser);
        # here, what matters is the HTML around them.
        page = re.sub(
            r"<script\b.*?</script>", "", client.get(url).get_data(as_text=True), flags=re.S
        )
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert 'href="javascript:' not in page
        assert '"onmouseover=' not in page


def test_calendar_file_is_valid_and_in_the_rallys_zone(client, yerevan):
    response = client.get(f"/rallies/{yerevan}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    (event,) = calendar.walk("VEVENT")
    start = event.decoded("DTSTART")
    assert str(start.tzinfo) == "Asia/Yerevan"
    assert start.astimezone(UTC) == START
    assert event["STATUS"] == "CONFIRMED"
    assert "Freedom Square" in str(event["LOCATION"])
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Asia/Yerevan"]


def test_protected_rally_gives_away_neither_its_pin_nor_its_meeting_point(app, client, rallies):
    rally_id = rallies(
        title="Protected rally",
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        latitude=EXACT[0],
        longitude=EXACT[1],
        city="Yerevan",
        country_code="AM",
        timezone="Asia/Yerevan",
    )
    snapped = snap_to_grid(*EXACT)
    secrets = [SECRET_POINT, "Abovyan", str(EXACT[0]), str(EXACT[1]), "40.1777", "44.5126"]
    for url in ("/", f"/rallies/{rally_id}", f"/rallies/{rally_id}.ics"):
        body = client.get(url).get_data(as_text=True)
        for secret in secrets:
            assert secret not in body, (url, secret)
    page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    assert "The meeting point is sent to you after you sign up." in page
    assert f'data-lat="{snapped[0]}"' in page and f'data-lon="{snapped[1]}"' in page
    assert 'data-area="true"' in page


def test_organizers_see_the_exact_pin_of_their_protected_rally(app, client, rallies, users, auth):
    organizer = users(email="org@example.org")
    rally_id = rallies(
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        latitude=EXACT[0],
        longitude=EXACT[1],
        organizer_id=organizer,
        city="Yerevan",
        country_code="AM",
        timezone="Asia/Yerevan",
    )
    auth.login("org@example.org")
    page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    assert SECRET_POINT in page
    assert f'data-lat="{EXACT[0]}"' in page


def test_snapping_is_the_same_every_time_and_within_a_kilometre():
    from rallyhub.places.distance import distance_km

    first = snap_to_grid(*EXACT)
    assert all(snap_to_grid(*EXACT) == first for _ in range(5))
    assert distance_km(*EXACT, *first) < 1.0
    # Nearby points in the same cell share it: averaging many requests reveals nothing.
    assert snap_to_grid(EXACT[0] + 0.001, EXACT[1] + 0.001) == first


@pytest.mark.parametrize(
    "status", [RallyStatus.PENDING, RallyStatus.REJECTED, RallyStatus.CANCELLED]
)
def test_unpublished_rallies_are_404_to_the_public(client, rallies, status):
    rally_id = rallies(status=status)
    assert client.get(f"/rallies/{rally_id}").status_code == 404
    assert client.get(f"/rallies/{rally_id}.ics").status_code == 404


def test_page_loads_only_local_assets(client, yerevan):
    page = client.get(f"/rallies/{yerevan}").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not url.startswith("//"), url
        assert not re.match(r"https?://", url) or url.startswith("https://example.org/"), url
