"""Emergency take-down in Chromium: the organizer confirms it, the rally is gone for the public
(page, map, list, feed) and the person who signed up finds one neutral message."""

from __future__ import annotations

from rallyhub.rallies.models import Visibility
from tests.browser.test_rally_flow import _sign_in, _sign_out
from tests.browser.test_signup_flow import _sign_up

TITLE = "Vigil for the disappeared"
STAYS = "Candles on Medborgarplatsen"


def test_organizer_takes_a_rally_down_and_the_public_loses_every_trace(
    app, page, users, campaigns, rallies, outbox
):
    organizer = users(email="aram@example.org", name="Aram")
    campaign = campaigns(hashtag="#GiustiziaPerLaCecenia")
    rally_id = rallies(
        title=TITLE,
        organizer_id=organizer,
        campaign_id=campaign,
        visibility=Visibility.PROTECTED,
    )
    rallies(title=STAYS, campaign_id=campaign)
    _sign_up(page, rally_id, "Zhanna", "zhanna@example.org")
    # Before: the home list and the feed show it.
    page.goto("/")
    page.locator(".rally-list").get_by_text(TITLE).wait_for()

    _sign_in(page, "aram@example.org")
    page.goto(f"/rallies/{rally_id}")
    page.get_by_role("link", name="Emergency take-down").click()
    page.get_by_role("button", name="Take the rally down now").click()
    page.get_by_role("heading", name=f"Take “{TITLE}” down now?").wait_for()
    page.get_by_role("button", name="Yes, take it down now").click()
    page.get_by_text("This rally was taken down on").wait_for()
    page.get_by_text("Only its organizers and HQ can still see it.").wait_for()
    _sign_out(page)

    # Anyone else: the page is a plain 404, as if it never was.
    response = page.goto(f"/rallies/{rally_id}")
    assert response.status == 404
    page.get_by_role("heading", name="Page not found").wait_for()
    assert TITLE not in page.content()
    # The home page's map and list show the rally that stays, not this one.
    page.goto("/")
    page.locator(".world-map .leaflet-marker-icon, .world-map .marker-cluster").first.wait_for()
    page.locator(".rally-list").get_by_text(STAYS).wait_for()
    assert TITLE not in page.content()
    points = page.request.get("/map/points.json").text()
    events = page.request.get("/api/v1/events").json()
    assert STAYS in points and TITLE not in points
    titles = [feature["properties"]["title"] for feature in events["features"]]
    assert titles == [STAYS]
    assert page.foreign_requests == []

    # Zhanna's mailbox: her confirmation, then one message that names nothing.
    mine = [m for m in outbox() if m["To"] == "zhanna@example.org"]
    assert len(mine) == 2
    notice = mine[-1]
    assert notice["Subject"] == "An update about your plans"
    body = notice.get_content()
    assert "The event you asked about will not take place." in body
    for word in (TITLE, "#GiustiziaPerLaCecenia", "Stockholm", "http"):
        assert word not in body
