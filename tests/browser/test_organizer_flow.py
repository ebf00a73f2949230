"""An organizer's own rallies in Chromium: a rejected one fixed and sent back to HQ, a past
one copied as a new one; HQ's "Make HQ" asks first."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from rallyhub.auth.models import Role, User
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, RallyStatus
from tests.browser.test_rally_flow import _sign_in
from tests.rally_data import next_year


def _status(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id).status


def test_a_rejected_rally_is_fixed_and_sent_back_to_hq(app, page, users, rallies):
    organizer = users(email="aram@example.org")
    rally_id = rallies(
        organizer_id=organizer,
        title="Rally in Gyumri",
        status=RallyStatus.REJECTED,
        review_note="Please name the square, not only the city.",
    )
    _sign_in(page, "aram@example.org")
    page.goto(f"/rallies/{rally_id}")
    page.get_by_text("Please name the square, not only the city.").wait_for()
    page.get_by_role("link", name="Fix it and send it to HQ again").click()
    page.get_by_text("Saving sends the rally to HQ for review again.").wait_for()
    page.get_by_label("Meeting point", exact=True).fill("Vardanants Square, by the fountain")
    page.get_by_role("button", name="Save rally").click()
    page.get_by_text("Saved").wait_for()
    assert _status(app, rally_id) is RallyStatus.PENDING
    page.goto("/rallies/mine")
    waiting = page.locator("section", has=page.get_by_role("heading", name="Waiting for review"))
    waiting.get_by_role("link", name="Rally in Gyumri").wait_for()


def test_a_past_rally_is_copied_as_a_new_one(app, page, users, rallies):
    organizer = users(email="aram@example.org")
    start = utcnow().replace(second=0, microsecond=0) - timedelta(days=30)
    rallies(
        organizer_id=organizer,
        title="Justice for Chechnya — Gyumri",
        city="Gyumri",
        country_code="AM",
        timezone="Asia/Yerevan",
        meeting_point="Vardanants Square",
        start_dt=start,
    )
    _sign_in(page, "aram@example.org")
    page.goto("/rallies/mine")
    page.get_by_role("link", name="Copy as a new rally").click()
    assert page.get_by_label("Title").input_value() == "Justice for Chechnya — Gyumri"
    assert page.get_by_label("Meeting point", exact=True).input_value() == "Vardanants Square"
    # Everything but the dates, which are the organizer's to choose.
    assert page.get_by_label("Starts (local time)").input_value() == ""
    page.get_by_label("Starts (local time)").fill(f"{next_year()}-06-10T18:00")
    page.get_by_label("Ends (local time)").fill(f"{next_year()}-06-10T20:00")
    page.get_by_role("button", name="Save rally").click()
    page.get_by_text("HQ will review your rally soon").wait_for()
    with app.app_context():
        titles = db.session.scalars(
            select(Rally.status).where(Rally.title == "Justice for Chechnya — Gyumri")
        ).all()
    assert sorted(status.value for status in titles) == ["approved", "pending"]


def test_making_someone_hq_asks_first(app, page, users):
    users(email="hq@example.org", role=Role.HQ)
    users(email="lena@example.org", name="Lena Petrova")
    _sign_in(page, "hq@example.org")
    page.goto("/hq/accounts")
    row = page.locator("tr", has_text="lena@example.org")
    button = row.get_by_role("button", name="Make HQ")
    saving = page.locator("button, input[type=submit]").filter(has_text="Search").first
    assert button.evaluate("e => getComputedStyle(e).backgroundColor") != saving.evaluate(
        "e => getComputedStyle(e).backgroundColor"
    ), "a destructive action looks different from an ordinary one"
    button.click()
    page.get_by_role("heading", name="Make Lena Petrova part of HQ?").wait_for()
    page.get_by_role("link", name="No, back to the accounts").click()
    with app.app_context():
        lena = db.session.scalar(select(User).where(User.email == "lena@example.org"))
        assert lena.role is Role.ORGANIZER
    page.locator("tr", has_text="lena@example.org").get_by_role("button", name="Make HQ").click()
    page.get_by_role("button", name="Yes, make Lena Petrova HQ").click()
    page.get_by_text("The role of Lena Petrova is now HQ.").wait_for()
