"""Organizers edit, cancel and share their rallies; edits of approved rallies go back to review."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus
from tests.conftest import post_form
from tests.rally_data import rally_form


@pytest.fixture
def organizer(users, auth):
    user_id = users(email="org@example.org")
    auth.login("org@example.org")
    return user_id


def _rally(app, rally_id):
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        db.session.expunge(rally)
        return rally


def _edit_form(app, rally_id, **changes):
    """The edit form as the page fills it in for the rally, with ``changes``."""
    rally = _rally(app, rally_id)
    zone = ZoneInfo(rally.timezone)
    return rally_form(
        rally.campaign_id,
        **{
            "city": "Stockholm",
            "title": rally.title,
            "description": rally.description,
            "meeting_point": rally.meeting_point,
            "latitude": str(rally.latitude),
            "longitude": str(rally.longitude),
            "starts_at": rally.start_dt.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": rally.end_dt.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
            "language": rally.languages or "en",
            **changes,
        },
    )


def test_changing_the_capacity_keeps_an_approved_rally_public(app, client, organizer, rallies):
    rally_id = rallies(organizer_id=organizer)
    response = post_form(
        client, f"/rallies/{rally_id}/edit", _edit_form(app, rally_id, capacity="40")
    )
    assert response.status_code == 302
    rally = _rally(app, rally_id)
    assert (rally.capacity, rally.status) == (40, RallyStatus.APPROVED)


@pytest.mark.parametrize(
    "changes",
    [
        {"starts_at": "{y}-06-11T18:00", "ends_at": "{y}-06-11T20:00"},
        {"visibility": "protected"},
        {"city": "Uppsala"},
        {"title": "A better title"},
        {"description": "Now with a march."},
        {"meeting_point": "Mynttorget"},
    ],
)
def test_changing_a_reviewed_fact_sends_it_back_to_review(app, client, organizer, rallies, changes):
    from tests.rally_data import next_year

    rally_id = rallies(organizer_id=organizer)
    baseline = _edit_form(app, rally_id)
    changed = {**baseline, **{k: v.replace("{y}", str(next_year())) for k, v in changes.items()}}
    response = post_form(client, f"/rallies/{rally_id}/edit", changed)
    assert response.status_code == 302
    assert _rally(app, rally_id).status is RallyStatus.PENDING
    assert b"back to HQ for review" in client.get(f"/rallies/{rally_id}").data


def test_edit_form_shows_local_times(app, client, organizer, rallies):
    from datetime import UTC, datetime

    start = datetime(2031, 1, 15, 17, 0, tzinfo=UTC)  # 18:00 in Stockholm (CET)
    rally_id = rallies(organizer_id=organizer, start_dt=start)
    page = client.get(f"/rallies/{rally_id}/edit").get_data(as_text=True)
    assert 'value="2031-01-15T18:00"' in page
    assert "Europe/Stockholm" in page


def test_cancelling_an_approved_rally_keeps_its_page_with_the_note(app, client, organizer, rallies):
    rally_id = rallies(organizer_id=organizer, title="Rally in Stockholm")
    response = post_form(
        client,
        f"/rallies/{rally_id}/cancel",
        {"note": "Police banned it; we meet online."},
        page=f"/rallies/{rally_id}/manage",
    )
    assert response.status_code == 302
    assert _rally(app, rally_id).status is RallyStatus.CANCELLED
    page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    assert "This rally is cancelled." in page and "Police banned it" in page
    # Those who signed up or saved the link learn that it is off.
    public = app.test_client().get(f"/rallies/{rally_id}").get_data(as_text=True)
    assert "This rally is cancelled." in public


def test_a_rally_cancelled_before_approval_never_becomes_public(app, client, organizer, rallies):
    rally_id = rallies(organizer_id=organizer, status=RallyStatus.PENDING)
    response = post_form(
        client,
        f"/rallies/{rally_id}/cancel",
        {"note": "We could not get a permit."},
        page=f"/rallies/{rally_id}/manage",
    )
    assert response.status_code == 302
    assert _rally(app, rally_id).status is RallyStatus.CANCELLED
    assert client.get(f"/rallies/{rally_id}").status_code == 200
    assert app.test_client().get(f"/rallies/{rally_id}").status_code == 404


def test_cancel_needs_a_note(app, client, organizer, rallies):
    rally_id = rallies(organizer_id=organizer)
    response = post_form(
        client, f"/rallies/{rally_id}/cancel", {"note": "  "}, page=f"/rallies/{rally_id}/manage"
    )
    assert response.status_code == 400
    assert _rally(app, rally_id).status is RallyStatus.APPROVED


def test_dashboard_lists_own_and_coorganized_rallies_by_status(
    app, client, organizer, rallies, users
):
    rallies(organizer_id=organizer, title="Mine and approved")
    rallies(organizer_id=organizer, title="Mine and pending", status=RallyStatus.PENDING)
    rallies(title="Someone else's")
    page = client.get("/rallies/mine").get_data(as_text=True)
    assert "Mine and approved" in page and "Mine and pending" in page
    assert "Someone else" not in page
    assert page.index("Waiting for review") < page.index("Mine and pending")


def test_every_change_is_audited(app, client, organizer, rallies):
    rally_id = rallies(organizer_id=organizer)
    post_form(client, f"/rallies/{rally_id}/edit", _edit_form(app, rally_id, title="New title"))
    post_form(
        client, f"/rallies/{rally_id}/cancel", {"note": "Rain."}, page=f"/rallies/{rally_id}/manage"
    )
    with app.app_context():
        actions = db.session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_type == "rally", AuditRecord.target_id == rally_id)
            .order_by(AuditRecord.id)
        ).all()
    assert actions == ["rally.update", "rally.cancel"]
