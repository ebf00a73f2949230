"""HQ's review queue: oldest first, likely duplicates beside each, decisions audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus
from tests.conftest import post_form

PENDING = RallyStatus.PENDING


@pytest.fixture
def hq(users, auth):
    user_id = users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    return user_id


def _status(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id).status


def test_queue_is_oldest_first(client, hq, rallies):
    rallies(title="First in", status=PENDING)
    rallies(title="Second in", status=PENDING)
    rallies(title="Already approved")
    page = client.get("/hq/review").get_data(as_text=True)
    assert page.index("First in") < page.index("Second in")
    assert "Already approved" not in page


def test_likely_duplicates_are_same_campaign_same_day_within_25_km(client, hq, rallies, campaigns):
    campaign = campaigns()
    other_campaign = campaigns()
    # 18:00 in Stockholm on a winter day.
    start = datetime(2031, 1, 15, 17, 0, tzinfo=UTC)
    rallies(title="Under review", status=PENDING, campaign_id=campaign, start_dt=start)
    # Sundbyberg is about 6 km from central Stockholm; Uppsala about 64 km.
    rallies(
        title="Sundbyberg same day",
        campaign_id=campaign,
        start_dt=start + timedelta(hours=1),
        latitude=59.3617,
        longitude=17.9722,
        city="Sundbyberg",
    )
    rallies(
        title="Uppsala same day",
        campaign_id=campaign,
        start_dt=start,
        latitude=59.8586,
        longitude=17.6389,
        city="Uppsala",
    )
    rallies(title="Stockholm next day", campaign_id=campaign, start_dt=start + timedelta(days=1))
    rallies(title="Stockholm other campaign", campaign_id=other_campaign, start_dt=start)
    rallies(
        title="Stockholm rejected",
        campaign_id=campaign,
        start_dt=start,
        status=RallyStatus.REJECTED,
    )
    page = client.get("/hq/review").get_data(as_text=True)
    section = page[page.index("Under review") :]
    assert "Sundbyberg same day" in section
    for absent in (
        "Uppsala same day",
        "Stockholm next day",
        "Stockholm other campaign",
        "Stockholm rejected",
    ):
        assert absent not in section


def test_approving_makes_the_rally_public_and_is_audited(app, client, hq, rallies):
    rally_id = rallies(status=PENDING)
    assert app.test_client().get(f"/rallies/{rally_id}").status_code == 404
    response = post_form(client, f"/hq/review/{rally_id}/approve", {}, page="/hq/review")
    assert response.status_code == 302
    assert _status(app, rally_id) is RallyStatus.APPROVED
    assert app.test_client().get(f"/rallies/{rally_id}").status_code == 200
    with app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "rally.approve"))
        assert (record.actor_id, record.target_id) == (hq, rally_id)


def test_rejecting_needs_a_note_that_the_organizer_then_sees(app, client, hq, rallies, users):
    organizer = users(email="org@example.org")
    rally_id = rallies(status=PENDING, organizer_id=organizer)
    empty = post_form(client, f"/hq/review/{rally_id}/reject", {"note": ""}, page="/hq/review")
    assert empty.status_code == 400
    assert _status(app, rally_id) is PENDING
    response = post_form(
        client,
        f"/hq/review/{rally_id}/reject",
        {"note": "Same day as the Stockholm rally; join forces?"},
        page="/hq/review",
    )
    assert response.status_code == 302
    assert _status(app, rally_id) is RallyStatus.REJECTED
    org = app.test_client()
    post_form(
        org, "/auth/login", {"email": "org@example.org", "password": "correct horse battery staple"}
    )
    assert "join forces?" in org.get(f"/rallies/{rally_id}").get_data(as_text=True)


@pytest.mark.parametrize(
    ("decision", "note", "subject", "words"),
    [
        ("approve", None, "Approved: Rally in Gyumri", "it is public now"),
        (
            "reject",
            "Please add a meeting point.",
            "Not approved: Rally in Gyumri",
            "meeting point.",
        ),
    ],
)
def test_organizers_hear_hqs_decision(
    app, client, hq, rallies, users, outbox, decision, note, subject, words
):
    organizer = users(email="org@example.org", name="Anahit")
    co = users(email="co@example.org")
    users(email="off@example.org", disabled=True)
    rally_id = rallies(status=PENDING, organizer_id=organizer, title="Rally in Gyumri")
    with app.app_context():
        from rallyhub.auth.models import User

        rally = db.session.get(Rally, rally_id)
        rally.coorganizers.append(db.session.get(User, co))
        db.session.commit()
    post_form(
        client,
        f"/hq/review/{rally_id}/{decision}",
        {"note": note} if note else {},
        page="/hq/review",
    )
    messages = outbox()
    assert sorted(m["To"] for m in messages) == ["co@example.org", "org@example.org"]
    (to_organizer,) = [m for m in messages if m["To"] == "org@example.org"]
    assert to_organizer["Subject"] == subject
    body = to_organizer.get_content()
    assert "Hello Anahit," in body and words in body and f"/rallies/{rally_id}" in body


def test_only_pending_rallies_can_be_decided(app, client, hq, rallies):
    rally_id = rallies()
    assert (
        post_form(client, f"/hq/review/{rally_id}/approve", {}, page="/hq/review").status_code
        == 400
    )
    assert (
        post_form(
            client, f"/hq/review/{rally_id}/reject", {"note": "no"}, page="/hq/review"
        ).status_code
        == 400
    )
    assert _status(app, rally_id) is RallyStatus.APPROVED
