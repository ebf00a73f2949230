"""An organizer invites a co-organizer, who signs in from the e-mail's link and accepts."""

from __future__ import annotations

from tests.conftest import link_in
from tests.factories import DEFAULT_PASSWORD


def _sign_in(page, email):
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def test_invite_sign_in_and_accept(page, users, rallies, outbox):
    organizer = users(email="olga@example.org", name="Olga Organizer")
    users(email="farid@example.org", name="Farid Friend")
    rally_id = rallies(organizer_id=organizer, title="Rally for the prisoners")

    page.goto("/auth/login")
    _sign_in(page, "olga@example.org")
    page.goto(f"/rallies/{rally_id}")
    page.get_by_role("link", name="Co-organizers and cancelling").click()
    page.get_by_label("Co-organizer's e-mail").fill("Farid@Example.org")
    page.get_by_role("button", name="Invite co-organizer").click()
    page.get_by_text("We have sent an invitation to farid@example.org").wait_for()
    page.get_by_text("farid@example.org — invited").wait_for()
    assert page.get_by_text("Farid Friend").count() == 0
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").wait_for()

    (message,) = [m for m in outbox() if m["To"] == "farid@example.org"]
    page.goto(link_in(message, "/rallies/invites/"))
    page.get_by_text("You are invited to co-organize “Rally for the prisoners”.").wait_for()
    page.get_by_role("link", name="Sign in to accept").click()
    _sign_in(page, "farid@example.org")
    page.get_by_role("button", name="Accept the invitation").click()
    page.get_by_text("You are now a co-organizer of “Rally for the prisoners”.").wait_for()
    page.get_by_text("Farid Friend (farid@example.org)").wait_for()
    assert page.url.endswith(f"/rallies/{rally_id}/manage")
    assert page.foreign_requests == []
    assert page.dialogs == []
