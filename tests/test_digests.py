"""The organizers' daily digest of new sign-ups: counts only, once a day, and it can be stopped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from rallyhub import tasks
from rallyhub.auth.models import User
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally
from rallyhub.signups.models import Signup, SignupStatus

# 18:00 in Stockholm (CEST) on 2027-06-09; the rally is three days later.
DIGEST_TIME = datetime(2027, 6, 9, 16, 0, tzinfo=UTC)


@pytest.fixture
def rally(app, rallies, users):
    organizer = users(email="org@example.org", name="Giulia")
    co = users(email="co@example.org", name="Ingrid")
    rally_id = rallies(
        organizer_id=organizer,
        title="Rally in Stockholm",
        capacity=3,
        start_dt=datetime(2027, 6, 12, 12, 0, tzinfo=UTC),
    )
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        rally.coorganizers.append(db.session.get(User, co))
        db.session.commit()
    return rally_id


def _signups(app, rally_id, *created: datetime, status=SignupStatus.GOING):
    with app.app_context():
        for when in created:
            n = db.session.query(Signup).count()
            db.session.add(
                Signup(
                    rally_id=rally_id,
                    name=f"Secret Name {n}",
                    email=f"secret{n}@example.org",
                    status=status,
                    created_dt=when,
                )
            )
        db.session.commit()


def _sweep(app, now):
    with app.app_context():
        return tasks.sweep(now)["digests"]


def _digests(outbox):
    return [m for m in outbox() if m["Subject"].startswith("New sign-ups")]


def test_organizers_get_the_days_counts_once_and_no_names(app, rally, outbox):
    _signups(app, rally, DIGEST_TIME - timedelta(hours=30))  # the day before: not new
    _signups(app, rally, DIGEST_TIME - timedelta(hours=5), DIGEST_TIME - timedelta(hours=1))
    _signups(app, rally, DIGEST_TIME - timedelta(hours=2), status=SignupStatus.WAITLISTED)

    assert _sweep(app, DIGEST_TIME - timedelta(minutes=1)) == 0, "not before 18:00"
    assert _sweep(app, DIGEST_TIME) == 2
    assert _sweep(app, DIGEST_TIME + timedelta(hours=2)) == 0, "once a day"

    digests = _digests(outbox)
    assert sorted(m["To"] for m in digests) == ["co@example.org", "org@example.org"]
    body = next(m for m in digests if m["To"] == "org@example.org").get_content()
    assert body.startswith("Hello Giulia,")
    assert "3 new sign-ups for “Rally in Stockholm” in the last day." in body
    assert "Going: 3 · waiting list: 1" in body and "Places left: 0" in body
    assert f"/rallies/{rally}/attendees" in body
    assert "Secret" not in body and "secret" not in body, "counts only"

    # The next day, nobody new: no digest.
    assert _sweep(app, DIGEST_TIME + timedelta(days=1)) == 0


def test_one_click_stops_an_organizers_digests(app, client, rally, outbox):
    _signups(app, rally, DIGEST_TIME - timedelta(hours=1))
    _sweep(app, DIGEST_TIME)
    to_org = next(m for m in _digests(outbox) if m["To"] == "org@example.org")
    link = to_org["List-Unsubscribe"].strip("<>")
    assert to_org["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = re.sub(r"^https?://[^/]+", "", link)
    assert path in to_org.get_content()

    assert client.get(path).status_code == 200, "opening the link changes nothing"
    assert client.post(path + "x", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 204

    _signups(app, rally, DIGEST_TIME + timedelta(hours=20))
    assert _sweep(app, DIGEST_TIME + timedelta(days=1)) == 1
    assert [m["To"] for m in _digests(outbox)][-1] == "co@example.org"


def test_a_campaign_without_digests_sends_none(app, rallies, campaigns, users, outbox):
    quiet = campaigns(slug="quiet", digests_on=False)
    rally_id = rallies(campaign_id=quiet, start_dt=datetime(2027, 6, 10, 12, 0, tzinfo=UTC))
    _signups(app, rally_id, DIGEST_TIME - timedelta(hours=1))
    assert _sweep(app, DIGEST_TIME) == 0
    assert _digests(outbox) == []
