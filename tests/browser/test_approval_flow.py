"""Attendee approval in Chromium: a supporter asks to join a protected rally, the organizer
approves from the attendee page, and only then does the supporter's mail hold the meeting
point."""

from __future__ import annotations

from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, Visibility
from rallyhub.signups.models import Signup, SignupStatus
from tests.browser.test_rally_flow import _sign_in, _sign_out
from tests.conftest import link_in

SECRET_POINT = "Courtyard behind the bookshop, Rua Augusta 12"


def _status(app, email):
    with app.app_context():
        return db.session.scalar(select(Signup.status).where(Signup.email == email))


def _mail_to(outbox, email):
    return [m for m in outbox() if m["To"] == email]


def _everything(message) -> str:
    """A message as its recipient could read it: subject, text and attached files."""
    parts = [message["Subject"], message.get_content()]
    parts += [attachment.get_content() for attachment in message.iter_attachments()]
    return "\n".join(str(part) for part in parts)


def test_supporter_asks_to_join_and_gets_the_meeting_point_once_approved(
    app, page, users, rallies, outbox
):
    organizer = users(email="org@example.org", name="Giulia")
    rally_id = rallies(
        organizer_id=organizer,
        title="Rally in Stockholm",
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        capacity=20,
    )

    # The organizer asks to approve each attendee, on the rally's form.
    _sign_in(page, "org@example.org")
    page.goto(f"/rallies/{rally_id}/edit")
    page.get_by_label("Approve each supporter yourself").check()
    page.get_by_role("button", name="Save rally").click()
    page.get_by_text("Saved.", exact=True).wait_for()
    with app.app_context():
        assert db.session.get(Rally, rally_id).approval_required is True
    _sign_out(page)

    # A supporter asks to join: no place yet, and nothing tells them where to meet.
    page.goto(f"/rallies/{rally_id}")
    page.get_by_role("heading", name="Ask to join").wait_for()
    page.get_by_label("Your name").fill("Ana")
    page.get_by_label("E-mail").fill("ana@example.org")
    page.get_by_role("button", name="Ask to join").click()
    page.get_by_role("heading", name="Thank you for asking to join").wait_for()
    assert SECRET_POINT not in page.content()
    assert _status(app, "ana@example.org") is SignupStatus.REQUESTED
    (request_mail,) = _mail_to(outbox, "ana@example.org")
    assert "we have your request to join" in request_mail.get_content()
    assert SECRET_POINT not in _everything(request_mail)
    manage = link_in(request_mail, "/s/")
    page.goto(manage)
    page.get_by_text("You asked to join.").wait_for()
    assert SECRET_POINT not in page.content()

    # The organizer approves Ana from the attendee page.
    _sign_in(page, "org@example.org")
    page.goto(f"/rallies/{rally_id}")
    page.get_by_role("link", name="Attendees", exact=True).click()
    page.get_by_role("heading", name="Asking to join").wait_for()
    page.get_by_role("button", name="Approve Ana").click()
    page.get_by_text("Approved.").wait_for()
    page.get_by_role("cell", name="going").wait_for()
    assert _status(app, "ana@example.org") is SignupStatus.GOING
    _sign_out(page)

    # Now, and only now, Ana's mail holds the meeting point, and so does her page.
    confirmation = _mail_to(outbox, "ana@example.org")[-1]
    assert "the organizers approved your request" in confirmation.get_content()
    assert SECRET_POINT in confirmation.get_content()
    page.goto(manage)
    page.get_by_text("You have a place.").wait_for()
    page.get_by_text(SECRET_POINT).wait_for()
    assert page.foreign_requests == []


def test_a_declined_supporter_gets_a_kind_word_and_no_meeting_point(
    app, page, users, rallies, outbox
):
    organizer = users(email="org@example.org")
    rally_id = rallies(
        organizer_id=organizer,
        title="Rally in Stockholm",
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        approval_required=True,
    )
    page.goto(f"/rallies/{rally_id}")
    page.get_by_label("Your name").fill("Bo")
    page.get_by_label("E-mail").fill("bo@example.org")
    page.get_by_role("button", name="Ask to join").click()
    page.get_by_role("heading", name="Thank you for asking to join").wait_for()

    _sign_in(page, "org@example.org")
    page.goto(f"/rallies/{rally_id}/attendees")
    page.get_by_role("button", name="Decline Bo").click()
    page.get_by_text("Declined.").wait_for()
    _sign_out(page)

    declined = _mail_to(outbox, "bo@example.org")[-1]
    assert "could not confirm a place for you this time" in declined.get_content()
    assert SECRET_POINT not in _everything(declined)
    page.goto(link_in(_mail_to(outbox, "bo@example.org")[0], "/s/"))
    page.get_by_text("could not confirm a place for you this time").wait_for()
    assert SECRET_POINT not in page.content()
    assert _status(app, "bo@example.org") is SignupStatus.DECLINED
    assert page.foreign_requests == []
