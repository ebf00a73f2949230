"""An organizer registers a rally in Yerevan, HQ approves it, the public sees it: in Chromium."""

from __future__ import annotations

import pyotp

from rallyhub.auth.models import Role
from rallyhub.rallies.models import Visibility
from tests.factories import DEFAULT_PASSWORD, TOTP_SECRET
from tests.rally_data import next_year


def _sign_in(page, email):
    """Sign in with the password and, if the account asks for it (HQ's do), the code its
    authenticator app shows (the factory's secret)."""
    page.goto("/auth/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    signed_in = page.get_by_role("button", name="Sign out")
    code = page.get_by_label("Code from your authenticator app")
    signed_in.or_(code).wait_for()
    if code.count():
        code.fill(pyotp.TOTP(TOTP_SECRET).now())
        page.get_by_role("button", name="Sign in").click()
    signed_in.wait_for()


def _sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").wait_for()


def test_register_review_and_publish_a_rally_in_yerevan(page, users, campaigns):
    users(email="aram@example.org", name="Aram Sargsyan")
    users(email="hq@example.org", role=Role.HQ)
    campaigns(hashtag="#GiustiziaPerLaCecenia", name="Justice for Chechnya")
    year = next_year()

    _sign_in(page, "aram@example.org")
    page.get_by_role("link", name="My rallies").click()
    page.get_by_role("link", name="Register a rally").click()
    page.get_by_label("Title").fill("Justice for Chechnya — Yerevan")
    page.get_by_label("What is it about?").fill("Bring a sign.")
    page.get_by_label("City", exact=True).fill("Երևան")
    page.get_by_label("Meeting point", exact=True).fill("Freedom Square")
    page.get_by_label("Starts (local time)").fill(f"{year}-06-10T18:00")
    page.get_by_label("Ends (local time)").fill(f"{year}-06-10T20:00")
    page.get_by_label("Language").select_option("hy")
    page.get_by_role("button", name="Save rally").click()
    page.get_by_text("HQ will review your rally soon").wait_for()
    rally_url = page.url
    page.get_by_text("Waiting for review").wait_for()
    _sign_out(page)

    page.goto(rally_url)
    page.get_by_role("heading", name="Page not found").wait_for()

    _sign_in(page, "hq@example.org")
    page.get_by_role("link", name="Review").click()
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("is approved and public").wait_for()
    _sign_out(page)

    page.goto(rally_url)
    page.get_by_role("heading", name="Justice for Chechnya — Yerevan").wait_for()
    page.get_by_text("6:00\u202fPM – 8:00\u202fPM").wait_for()
    page.get_by_text("Yerevan, Armenia").wait_for()
    page.locator("#rally-map .leaflet-marker-icon").wait_for()
    assert page.foreign_requests == []
    assert page.dialogs == []


def test_hostile_title_runs_no_script_on_the_rally_page(page, rallies):
    hostile = '<img src=x onerror="alert(1)"> ${alert(2)} `x`'
    rally_id = rallies(title=hostile, description=hostile, meeting_point=hostile)
    page.goto(f"/rallies/{rally_id}")
    page.locator("#rally-map .leaflet-marker-icon").wait_for()
    page.get_by_role("heading", name=hostile).wait_for()
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0


def test_protected_rally_map_shows_an_area_not_a_pin(page, rallies):
    rally_id = rallies(visibility=Visibility.PROTECTED)
    page.goto(f"/rallies/{rally_id}")
    page.locator("#rally-map path.leaflet-interactive").wait_for()
    assert page.locator("#rally-map .leaflet-marker-icon").count() == 0
    page.get_by_text("The meeting point is sent to you after you sign up.").wait_for()


def test_hq_reviews_with_the_pin_and_its_likely_duplicates_on_a_map(
    page, users, rallies, campaigns
):
    from datetime import UTC, datetime

    from rallyhub.rallies.models import RallyStatus

    users(email="hq@example.org", role=Role.HQ)
    campaign = campaigns()
    start = datetime(next_year(), 6, 10, 16, 0, tzinfo=UTC)
    pending = rallies(
        title="New rally",
        status=RallyStatus.PENDING,
        campaign_id=campaign,
        start_dt=start,
        visibility=Visibility.PROTECTED,
        latitude=59.3326,
        longitude=18.0649,
    )
    rallies(
        title="Older rally", campaign_id=campaign, start_dt=start, latitude=59.34, longitude=18.07
    )
    _sign_in(page, "hq@example.org")
    page.goto("/hq/review")
    review_map = page.locator(f"#review-map-{pending}")
    # HQ sees the exact pin of a protected rally, and the duplicate 1 km away as a ring.
    review_map.locator(".leaflet-marker-icon").wait_for()
    assert review_map.get_attribute("data-lat") == "59.3326"
    review_map.locator("path.leaflet-interactive").wait_for()
    assert page.tile_requests, "the configured tiles are drawn"
    assert page.foreign_requests == [] and page.dialogs == []


def test_destructive_actions_ask_first_and_look_apart_from_saving(page, users, rallies):
    organizer = users(email="aram@example.org")
    users(email="hq@example.org", name="HQ Person", role=Role.HQ)
    users(email="elin@example.org", name="Elin Lindqvist")
    rally_id = rallies(organizer_id=organizer, title="Rally in Gyumri")

    _sign_in(page, "aram@example.org")
    page.goto(f"/rallies/{rally_id}/manage")
    page.get_by_label("Message to show on the rally page").fill("The square is closed.")
    cancel = page.get_by_role("button", name="Cancel the rally")
    invite = page.get_by_role("button", name="Invite co-organizer")
    # Red, and not the colour of the ordinary buttons.
    assert cancel.evaluate("b => getComputedStyle(b).backgroundColor") != invite.evaluate(
        "b => getComputedStyle(b).backgroundColor"
    )
    cancel.click()
    page.get_by_role("heading", name="Cancel “Rally in Gyumri”?").wait_for()
    page.get_by_role("link", name="No, keep it").click()
    page.get_by_role("heading", name="Rally in Gyumri").wait_for()
    page.goto(f"/rallies/{rally_id}")
    assert page.get_by_text("This rally is cancelled.").count() == 0
    page.goto(f"/rallies/{rally_id}/manage")
    page.get_by_label("Message to show on the rally page").fill("The square is closed.")
    page.get_by_role("button", name="Cancel the rally").click()
    page.get_by_role("button", name="Yes, cancel the rally").click()
    page.get_by_text("This rally is cancelled.").wait_for()
    _sign_out(page)

    _sign_in(page, "hq@example.org")
    page.goto("/hq/accounts?q=elin")
    page.get_by_role("button", name="Disable").click()
    page.get_by_role("heading", name="Disable the account of Elin Lindqvist?").wait_for()
    page.get_by_role("button", name="Yes, disable the account").click()
    page.get_by_text("Elin Lindqvist's account is disabled.").wait_for()
    assert page.dialogs == []
