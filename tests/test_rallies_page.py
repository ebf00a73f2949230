"""The public rally page, its calendar file, and what a protected rally never shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from icalendar import Calendar
from sqlalchemy import select

from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.rallies.privacy import snap_to_grid
from tests.conftest import post_form

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
    # Never approved: a rally cancelled while pending was never public.
    rally_id = rallies(status=status, approved_dt=None)
    assert client.get(f"/rallies/{rally_id}").status_code == 404
    assert client.get(f"/rallies/{rally_id}.ics").status_code == 404


def test_page_loads_only_local_assets(client, yerevan):
    page = client.get(f"/rallies/{yerevan}").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not url.startswith("//"), url
        assert not re.match(r"https?://", url) or url.startswith("https://example.org/"), url


def test_the_small_map_gets_the_configured_tiles(app, client, yerevan):
    page = client.get(f"/rallies/{yerevan}").get_data(as_text=True)
    assert f'data-tiles="{app.config["TILE_URL"]}"' in page
    assert f'data-attribution="{app.config["TILE_ATTRIBUTION"]}"' in page


def _approve_then_cancel(app, rallies, users, note="Police banned it; we meet online."):
    """A rally that went the real way: registered, approved by HQ, cancelled by its organizer."""
    from tests.conftest import AuthActions

    organizer = users(email="org@example.org")
    hq = users(email="hq@example.org", role=Role.HQ)
    rally_id = rallies(
        title="Rally in Yerevan",
        status=RallyStatus.PENDING,
        organizer_id=organizer,
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        latitude=EXACT[0],
        longitude=EXACT[1],
        city="Yerevan",
        country_code="AM",
        timezone="Asia/Yerevan",
    )
    for email, action, data, page in [
        ("hq@example.org", f"/hq/review/{rally_id}/approve", {}, "/hq/review"),
        ("org@example.org", f"/rallies/{rally_id}/cancel", {"note": note, "confirm": "yes"}, None),
    ]:
        client = app.test_client()
        AuthActions(client).login(email)
        page = page or f"/rallies/{rally_id}/manage"
        assert post_form(client, action, data, page=page).status_code == 302
    assert hq
    return rally_id


def test_a_cancelled_rally_keeps_its_page_with_the_notice(app, client, rallies, users, campaigns):
    rally_id = _approve_then_cancel(app, rallies, users)
    response = client.get(f"/rallies/{rally_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "This rally is cancelled." in page and "Police banned it" in page
    assert 'id="signup"' not in page and "places left" not in page
    assert SECRET_POINT not in page and str(EXACT[0]) not in page
    signup = post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": "Ana", "email": "a@example.org"},
        page="/auth/register",
    )
    assert signup.status_code == 400 and "closed" in signup.get_data(as_text=True)


def test_a_cancelled_rallys_calendars_say_cancelled(app, client, rallies, users):
    rally_id = _approve_then_cancel(app, rallies, users)
    (event,) = Calendar.from_ical(client.get(f"/rallies/{rally_id}.ics").data).walk("VEVENT")
    assert event["STATUS"] == "CANCELLED"
    with app.app_context():
        slug = db.session.get(Rally, rally_id).campaign.slug
    response = client.get(f"/campaigns/{slug}/rallies.ics")
    (event,) = Calendar.from_ical(response.data).walk("VEVENT")
    assert (str(event["SUMMARY"]).split(" #")[0], event["STATUS"]) == (
        "Rally in Yerevan",
        "CANCELLED",
    )
    assert SECRET_POINT not in response.get_data(as_text=True) and "GEO" not in event


def test_a_cancelled_rally_leaves_the_map_the_feed_and_the_search(app, client, rallies, users):
    rally_id = _approve_then_cancel(app, rallies, users)
    assert client.get("/map/points.json").get_json() == []
    assert client.get("/api/v1/events").get_json()["features"] == []
    near = client.get(f"/near?lat={EXACT[0]}&lon={EXACT[1]}").get_data(as_text=True)
    assert f'/rallies/{rally_id}"' not in near


def test_a_rally_cancelled_before_its_review_stays_hidden(app, client, rallies, users):
    from tests.conftest import AuthActions

    users(email="org@example.org")
    with app.app_context():
        from rallyhub.auth.models import User

        organizer = db.session.scalar(select(User.id).where(User.email == "org@example.org"))
    rally_id = rallies(status=RallyStatus.PENDING, organizer_id=organizer, title="Never public")
    AuthActions(client).login("org@example.org")
    cancel = post_form(
        client,
        f"/rallies/{rally_id}/cancel",
        {"note": "Changed our minds.", "confirm": "yes"},
        page=f"/rallies/{rally_id}/manage",
    )
    assert cancel.status_code == 302
    assert client.get(f"/rallies/{rally_id}").status_code == 200, "its organizer still sees it"
    stranger = app.test_client()
    assert stranger.get(f"/rallies/{rally_id}").status_code == 404
    assert stranger.get(f"/rallies/{rally_id}.ics").status_code == 404
    with app.app_context():
        slug = db.session.get(Rally, rally_id).campaign.slug
    calendar = Calendar.from_ical(stranger.get(f"/campaigns/{slug}/rallies.ics").data)
    assert calendar.walk("VEVENT") == []


def test_text_downloads_name_their_charset_once(app, client, rallies, users, campaigns):
    from tests.conftest import post_form
    from tests.factories import DEFAULT_PASSWORD

    campaign_id = campaigns(slug="charset-check")
    rally_id = rallies(campaign_id=campaign_id)
    types = [
        client.get(f"/rallies/{rally_id}.ics").headers["Content-Type"],
        client.get("/campaigns/charset-check/rallies.ics").headers["Content-Type"],
    ]
    users(email="hq@example.org", role=Role.HQ)
    post_form(client, "/auth/login", {"email": "hq@example.org", "password": DEFAULT_PASSWORD})
    csv = client.get(f"/rallies/{rally_id}/attendees.csv")
    types.append(csv.headers["Content-Type"])
    csv.close()
    assert [t.count("charset=utf-8") for t in types] == [1, 1, 1], types


def test_link_previews_name_a_protected_rallys_place_never(client, rallies):
    from rallyhub.rallies.models import Visibility

    public = rallies(title="Rally in Lisbon", city="Lisbon", country_code="PT")
    protected = rallies(
        title="Rally in Istanbul",
        city="İstanbul",
        country_code="TR",
        timezone="Europe/Istanbul",
        visibility=Visibility.PROTECTED,
        meeting_point="Behind the ferry pier",
    )

    def preview(rally_id):
        page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
        return dict(re.findall(r'<meta property="og:(\w+)" content="([^"]*)">', page))

    shown = preview(public)
    assert shown["title"].startswith("Rally in Lisbon #")
    assert "Lisbon, Portugal" in shown["description"]
    assert shown["url"].endswith(f"/rallies/{public}")
    hidden = preview(protected)
    assert hidden["title"].startswith("Rally in Istanbul")
    assert "İstanbul" not in hidden["description"] and "Turkey" not in hidden["description"]
    assert "ferry" not in str(hidden)
