"""A protected rally in Chromium: the meeting point comes only through the e-mailed link."""

from __future__ import annotations

from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.rallies.models import Visibility
from rallyhub.signups.models import Signup, SignupStatus
from tests.conftest import link_in

SECRET_POINT = "Courtyard behind the bookshop, Rua Augusta 12"


def _sign_up(page, rally_id, name, email):
    page.goto(f"/rallies/{rally_id}")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Thank you for signing up").wait_for()
    # Its scripts have run (they show the copy and share buttons): the page is complete.
    page.wait_for_load_state("load")


def _signup(app):
    with app.app_context():
        signup = db.session.scalar(select(Signup))
        return signup.name, signup.status


def test_knowing_an_address_reveals_and_changes_nothing(app, page, rallies, outbox):
    rally_id = rallies(
        title="Rally in Lisbon",
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        capacity=5,
    )
    tile_host = app.config["TILE_HOST"]
    # The small map asks the configured tile server (it had no tile URL before).
    with page.expect_request(lambda request: request.url.startswith(tile_host + "/")):
        page.goto(f"/rallies/{rally_id}")
    page.get_by_text("The meeting point is sent to you after you sign up.").wait_for()

    _sign_up(page, rally_id, "Ana", "ana@example.org")
    first_answer = page.locator("main").inner_text()
    assert SECRET_POINT not in page.content()
    page.get_by_text("The meeting point is in the e-mail").wait_for()

    # Someone else types Ana's address: the same page, and Ana's sign-up is untouched.
    _sign_up(page, rally_id, "Mallory", "ana@example.org")
    assert page.locator("main").inner_text() == first_answer
    assert _signup(app) == ("Ana", SignupStatus.GOING)
    cookies = " ".join(c["value"] for c in page.context.cookies())
    assert "signed_up" not in cookies

    # Ana's own link shows the meeting point; she cancels, then joins again through it.
    confirmation, reminder = outbox()
    assert "already signed up" in reminder.get_content()
    page.goto(link_in(confirmation, "/s/"))
    page.get_by_text(SECRET_POINT).wait_for()
    page.get_by_role("button", name="Cancel my sign-up").click()
    page.get_by_role("button", name="Yes, cancel my sign-up").click()
    page.get_by_text("Your sign-up is cancelled.").wait_for()
    assert SECRET_POINT not in page.content()

    _sign_up(page, rally_id, "Mallory", "ana@example.org")
    assert _signup(app) == ("Ana", SignupStatus.CANCELLED)
    assert "To sign up again" in outbox()[-1].get_content()
    page.goto(link_in(outbox()[-1], "/s/"))
    page.get_by_role("button", name="Sign up again").click()
    page.get_by_text("You are signed up again.").wait_for()
    page.get_by_text("You have a place.").wait_for()
    assert _signup(app) == ("Ana", SignupStatus.GOING)
    assert page.foreign_requests == []
