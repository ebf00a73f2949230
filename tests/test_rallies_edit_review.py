"""Edits of an approved rally go back to HQ with what changed; sign-ups hear of a new time or
place by e-mail."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.signals import rally_changed
from rallyhub.signups.models import Signup, SignupStatus
from tests.conftest import link_in, post_form
from tests.factories import DEFAULT_PASSWORD
from tests.rally_data import next_year
from tests.test_rallies_manage import _edit_form

# Stockholm as the edit form resolves it (the factory leaves the place and language unset).
STOCKHOLM = {"place_id": 2673730, "languages": "en"}


@pytest.fixture
def organizer(users, auth):
    user_id = users(email="org@example.org")
    auth.login("org@example.org")
    return user_id


def _status(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id).status


def _edit(client, app, rally_id, **changes):
    response = post_form(client, f"/rallies/{rally_id}/edit", _edit_form(app, rally_id, **changes))
    assert response.status_code == 302
    return response


def _signups(app, rally_id, *people):
    """Sign-ups as (e-mail, status); returns their manage tokens by e-mail."""
    with app.app_context():
        rows = [
            Signup(rally_id=rally_id, name=email.split("@")[0], email=email, status=status)
            for email, status in people
        ]
        db.session.add_all(rows)
        db.session.commit()
        return {row.email: row.token for row in rows}


def _review_item(client, rally_id) -> str:
    page = client.get("/hq/review").get_data(as_text=True)
    for article in re.findall(r'<article class="review-item">.*?</article>', page, re.S):
        if f'href="/rallies/{rally_id}"' in article:
            return article
    raise AssertionError(f"rally {rally_id} is not in the review queue")


def _hq(app, users):
    users(email="hq@example.org", role=Role.HQ)
    client = app.test_client()
    post_form(client, "/auth/login", {"email": "hq@example.org", "password": DEFAULT_PASSWORD})
    return client


def test_hq_sees_what_changed_since_approval(app, client, organizer, rallies, users):
    rally_id = rallies(**STOCKHOLM, organizer_id=organizer)
    _edit(client, app, rally_id, title="A new title", meeting_point="Mynttorget")
    assert _status(app, rally_id) is RallyStatus.PENDING
    with app.app_context():
        detail = db.session.scalar(
            select(AuditRecord.detail).where(AuditRecord.action == "rally.update")
        )
    assert detail == "changed: title,meeting_point; back to review"

    hq = _hq(app, users)
    item = _review_item(hq, rally_id)
    assert "Changed since approval: title, meeting point" in item

    # HQ approves; a later edit of the description alone is all the next review shows.
    post_form(hq, f"/hq/review/{rally_id}/approve", {}, page="/hq/review")
    assert _status(app, rally_id) is RallyStatus.APPROVED
    _edit(client, app, rally_id, description="Now with a march to the embassy.")
    assert "Changed since approval: description" in _review_item(hq, rally_id)


def test_a_new_rally_in_review_shows_no_changes(app, client, organizer, rallies, users):
    rally_id = rallies(**STOCKHOLM, organizer_id=organizer, status=RallyStatus.PENDING)
    _edit(client, app, rally_id, title="Fixed a typo")
    assert "Changed since approval" not in _review_item(_hq(app, users), rally_id)


def test_hq_editing_an_approved_rally_keeps_it_public_and_records_the_change(app, rallies, users):
    rally_id = rallies(**STOCKHOLM)
    hq = _hq(app, users)
    _edit(hq, app, rally_id, title="Title set by HQ")
    assert _status(app, rally_id) is RallyStatus.APPROVED
    with app.app_context():
        detail = db.session.scalar(
            select(AuditRecord.detail).where(AuditRecord.action == "rally.update")
        )
    assert detail == "changed: title"


def test_sign_ups_are_told_the_new_time_in_the_rallys_zone(app, client, organizer, rallies, outbox):
    rally_id = rallies(**STOCKHOLM, organizer_id=organizer, title="Rally in Stockholm")
    tokens = _signups(
        app,
        rally_id,
        ("going@example.org", SignupStatus.GOING),
        ("waiting@example.org", SignupStatus.WAITLISTED),
        ("gone@example.org", SignupStatus.CANCELLED),
    )
    year = next_year()
    # 18:00 in Stockholm in January is 17:00 UTC.
    _edit(client, app, rally_id, starts_at=f"{year}-01-15T18:00", ends_at=f"{year}-01-15T20:00")
    with app.app_context():
        assert db.session.get(Rally, rally_id).start_dt == datetime(year, 1, 15, 17, tzinfo=UTC)

    notices = {m["To"]: m for m in outbox() if m["Subject"].startswith("New time or place")}
    assert sorted(notices) == ["going@example.org", "waiting@example.org"]
    for email, message in notices.items():
        body = message.get_content()
        assert "changed its time." in body
        assert "6:00\u202fPM – 8:00\u202fPM" in body and "Europe/Stockholm" in body
        assert link_in(message, "/s/") == f"/s/{tokens[email]}"
    assert "still on the waiting list" in notices["waiting@example.org"].get_content()
    assert "still on the waiting list" not in notices["going@example.org"].get_content()


def test_a_protected_rallys_new_meeting_point_goes_only_to_sign_ups(
    app, client, organizer, rallies, outbox
):
    rally_id = rallies(**STOCKHOLM, organizer_id=organizer, visibility=Visibility.PROTECTED)
    _signups(app, rally_id, ("ana@example.org", SignupStatus.GOING))
    secret = "Courtyard behind the bookshop, Drottninggatan 12"
    _edit(client, app, rally_id, meeting_point=secret, visibility="protected")
    assert _status(app, rally_id) is RallyStatus.PENDING, "a new meeting point is reviewed"

    (notice,) = [m for m in outbox() if m["Subject"].startswith("New time or place")]
    assert notice["To"] == "ana@example.org"
    assert "changed its place." in notice.get_content()
    assert secret in notice.get_content()
    # Approved again, the public page still does not show it.
    with app.app_context():
        db.session.get(Rally, rally_id).status = RallyStatus.APPROVED
        db.session.commit()
    public = app.test_client().get(f"/rallies/{rally_id}")
    assert public.status_code == 200
    assert "Drottninggatan" not in public.get_data(as_text=True)


@pytest.mark.parametrize(
    "changes", [{"title": "Only the title"}, {"capacity": "50"}, {"description": "More words."}]
)
def test_changes_other_than_time_and_place_send_no_notice(
    app, client, organizer, rallies, outbox, changes
):
    rally_id = rallies(**STOCKHOLM, organizer_id=organizer)
    _signups(app, rally_id, ("ana@example.org", SignupStatus.GOING))
    _edit(client, app, rally_id, **changes)
    assert [m for m in outbox() if m["Subject"].startswith("New time or place")] == []


def test_an_edit_sends_rally_changed_with_the_changed_fields(app, client, organizer, rallies):
    rally_id = rallies(**STOCKHOLM, organizer_id=organizer)
    received = []

    def receiver(sender, **kwargs):
        received.append((sender.id, kwargs))

    with rally_changed.connected_to(receiver):
        _edit(client, app, rally_id, meeting_point="Mynttorget", capacity="30")
        _edit(client, app, rally_id, capacity="30")  # nothing changed: no signal
    assert received == [
        (
            rally_id,
            {
                "changed": frozenset({"meeting_point", "capacity"}),
                "before": {"meeting_point": "Sergels torg", "capacity": None},
            },
        )
    ]
