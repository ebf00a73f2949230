"""HQ runs campaigns; nobody else may."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rallyhub.auth.models import Role
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from tests.conftest import post_form

NEW = {
    "name": "Justice for Chechnya",
    "slug": "giustizia-per-la-cecenia",
    "hashtag": "#GiustiziaPerLaCecenia",
    "description": "Ask for an investigation.",
    "start_date": "2026-11-01",
    "end_date": "",
    "is_active": "y",
}


@pytest.fixture
def hq(users, auth):
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")


def _campaign(app, slug):
    with app.app_context():
        return db.session.scalar(select(Campaign).where(Campaign.slug == slug))


def test_hq_creates_edits_and_archives_a_campaign(app, client, hq):
    assert post_form(client, "/hq/campaigns/new", NEW).status_code == 302
    campaign = _campaign(app, "giustizia-per-la-cecenia")
    assert (campaign.hashtag, campaign.is_active) == ("#GiustiziaPerLaCecenia", True)

    edited = post_form(
        client,
        f"/hq/campaigns/{campaign.id}/edit",
        {**NEW, "name": "Giustizia per la Cecenia", "slug": "hijacked"},
    )
    assert edited.status_code == 302
    campaign = _campaign(app, "giustizia-per-la-cecenia")
    assert campaign.name == "Giustizia per la Cecenia", "the slug stays, the name changes"

    post_form(client, f"/hq/campaigns/{campaign.id}/archive", {}, page="/hq/campaigns")
    assert _campaign(app, "giustizia-per-la-cecenia").is_active is False
    assert b"Archived" in client.get("/hq/campaigns").data


def test_slugs_are_unique(client, hq, campaigns):
    campaigns(slug="taken")
    response = post_form(client, "/hq/campaigns/new", {**NEW, "slug": "taken"})
    assert response.status_code == 400
    assert b"already uses this address name" in response.data


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slug", "Has Spaces", b"lowercase letters"),
        ("slug", "-edge-", b"lowercase letters"),
        ("hashtag", "NoHash", b"Start with #"),
        ("hashtag", "#with space", b"Start with #"),
        ("name", "", b"This field is required"),
        ("name", "x" * 201, b"200"),
        ("start_date", "not-a-date", b"Not a valid date"),
        ("end_date", "2026-10-01", b"must not be before the start"),
    ],
)
def test_campaign_form_validates(app, client, hq, field, value, message):
    response = post_form(client, "/hq/campaigns/new", {**NEW, field: value})
    assert response.status_code == 400
    assert message in response.data
    assert _campaign(app, NEW["slug"]) is None


def test_unicode_hashtags_are_fine(app, client, hq):
    response = post_form(
        client,
        "/hq/campaigns/new",
        {**NEW, "slug": "spravedlivost", "hashtag": "#СправедливостьДляЧечни"},
    )
    assert response.status_code == 302
    assert _campaign(app, "spravedlivost").hashtag == "#СправедливостьДляЧечни"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/hq/campaigns"),
        ("get", "/hq/campaigns/new"),
        ("post", "/hq/campaigns/new"),
        ("get", "/hq/campaigns/{id}/edit"),
        ("post", "/hq/campaigns/{id}/edit"),
        ("post", "/hq/campaigns/{id}/archive"),
    ],
)
def test_organizers_cannot_manage_campaigns(app, client, users, auth, campaigns, method, path):
    campaign_id = campaigns(slug="keep-me")
    url = path.format(id=campaign_id)
    if method == "get":
        assert client.get(url).status_code == 302, "anonymous visitors are sent to sign in"
    users(email="org@example.org")
    auth.login("org@example.org")
    response = client.get(url) if method == "get" else post_form(client, url, NEW, page="/")
    assert response.status_code == 403
    campaign = _campaign(app, "keep-me")
    assert campaign.is_active and campaign.name != NEW["name"]


def test_hq_sets_the_campaigns_messages(app, client, hq):
    """Reminder hours and which messages go out are the campaign's, set on its form."""
    page = client.get("/hq/campaigns/new").get_data(as_text=True)
    assert 'name="reminder_eve_hour"' in page and 'value="11"' in page
    assert post_form(client, "/hq/campaigns/new", {**NEW, "reminders_on": "y"}).status_code == 302
    campaign = _campaign(app, NEW["slug"])
    assert (campaign.reminders_on, campaign.reminder_eve_hour, campaign.reminder_day_hour) == (
        True,
        11,
        8,
    )
    edited = post_form(
        client,
        f"/hq/campaigns/{campaign.id}/edit",
        {**NEW, "reminder_eve_hour": "18", "reminder_day_hour": "7", "digests_on": "y"},
    )
    assert edited.status_code == 302
    campaign = _campaign(app, NEW["slug"])
    assert (campaign.reminders_on, campaign.reminder_eve_hour, campaign.reminder_day_hour) == (
        False,
        18,
        7,
    )
    assert campaign.digests_on is True


@pytest.mark.parametrize("hour", ["24", "-1", "eleven", "1e9"])
def test_reminder_hours_are_hours_of_a_day(app, client, hq, hour):
    response = post_form(client, "/hq/campaigns/new", {**NEW, "reminder_eve_hour": hour})
    assert response.status_code == 400
    assert _campaign(app, NEW["slug"]) is None
