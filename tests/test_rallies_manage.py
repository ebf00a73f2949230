"""Organizers edit, cancel and share their rallies; edits of approved rallies go back to review."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.extensions import db
from rallyhub.places.distance import distance_km
from rallyhub.rallies.models import Rally, RallyStatus
from tests.conftest import post_form
from tests.factories import DEFAULT_PASSWORD
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
        {"note": "Police banned it; we meet online.", "confirm": "yes"},
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
        {"note": "We could not get a permit.", "confirm": "yes"},
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
        client,
        f"/rallies/{rally_id}/cancel",
        {"note": "Rain.", "confirm": "yes"},
        page=f"/rallies/{rally_id}/manage",
    )
    with app.app_context():
        actions = db.session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.target_type == "rally", AuditRecord.target_id == rally_id)
            .order_by(AuditRecord.id)
        ).all()
    assert actions == ["rally.update", "rally.cancel"]


# Gyumri is 90 km from Yerevan: a kept pin would still pass the 100 km check.
YEREVAN = (40.17766, 44.51262)
GYUMRI_ID = 616635


def test_a_new_city_moves_the_pin_the_form_showed(app, client, organizer, rallies):
    rally_id = rallies(
        organizer_id=organizer,
        city="Yerevan",
        country_code="AM",
        timezone="Asia/Yerevan",
        latitude=YEREVAN[0],
        longitude=YEREVAN[1],
        place_id=616052,
    )
    form = _edit_form(app, rally_id, city="Gyumri", place_id=str(GYUMRI_ID))
    assert (form["latitude"], form["longitude"]) == tuple(map(str, YEREVAN)), "as pre-filled"
    assert post_form(client, f"/rallies/{rally_id}/edit", form).status_code == 302
    rally = _rally(app, rally_id)
    assert rally.city == "Gyumri"
    assert distance_km(rally.latitude, rally.longitude, 40.7942, 43.8453) < 5
    with app.app_context():  # HQ approves the move
        db.session.get(Rally, rally_id).status = RallyStatus.APPROVED
        db.session.commit()
    near = client.get("/api/v1/events?lat=40.7942&lon=43.8453&radius_km=20").get_json()
    assert [f["properties"]["id"] for f in near["features"]] == [rally_id]
    assert client.get("/api/v1/events?near=Yerevan&radius_km=20").get_json()["features"] == []


def test_a_pin_moved_on_purpose_is_kept_with_the_new_city(app, client, organizer, rallies):
    rally_id = rallies(
        organizer_id=organizer,
        city="Yerevan",
        country_code="AM",
        timezone="Asia/Yerevan",
        latitude=YEREVAN[0],
        longitude=YEREVAN[1],
        place_id=616052,
    )
    form = _edit_form(
        app,
        rally_id,
        city="Gyumri",
        place_id=str(GYUMRI_ID),
        latitude="40.7890",
        longitude="43.8470",
    )
    assert post_form(client, f"/rallies/{rally_id}/edit", form).status_code == 302
    rally = _rally(app, rally_id)
    assert (rally.latitude, rally.longitude) == (40.789, 43.847)


def test_a_rejected_rally_can_be_fixed_and_sent_again(app, client, organizer, rallies, users):
    rally_id = rallies(
        organizer_id=organizer, status=RallyStatus.REJECTED, review_note="Add a meeting point."
    )
    page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    assert "Fix it and send it to HQ again" in page and "Add a meeting point." in page
    edit_page = client.get(f"/rallies/{rally_id}/edit").get_data(as_text=True)
    assert "Saving sends the rally to HQ for review again." in edit_page
    response = post_form(
        client, f"/rallies/{rally_id}/edit", _edit_form(app, rally_id, meeting_point="Mynttorget 2")
    )
    assert response.status_code == 302
    rally = _rally(app, rally_id)
    assert (rally.status, rally.meeting_point) == (RallyStatus.PENDING, "Mynttorget 2")
    # Another organizer still may not.
    users(email="other@example.org")
    other = app.test_client()
    post_form(other, "/auth/login", {"email": "other@example.org", "password": DEFAULT_PASSWORD})
    assert other.get(f"/rallies/{rally_id}/edit").status_code in (403, 404)


def test_my_rallies_come_soonest_first_with_their_sign_up_counts(app, client, organizer, rallies):
    from datetime import timedelta

    from rallyhub.models import utcnow
    from rallyhub.signups.models import Signup, SignupStatus

    now = utcnow()
    later = rallies(organizer_id=organizer, title="Later", start_dt=now + timedelta(days=20))
    sooner = rallies(organizer_id=organizer, title="Sooner", start_dt=now + timedelta(days=2))
    past = rallies(organizer_id=organizer, title="Past", start_dt=now - timedelta(days=9))
    with app.app_context():
        for n, status in enumerate(
            [
                SignupStatus.GOING,
                SignupStatus.GOING,
                SignupStatus.WAITLISTED,
                SignupStatus.CANCELLED,
            ]
        ):
            db.session.add(Signup(rally_id=sooner, name="A", email=f"a{n}@x.org", status=status))
        db.session.commit()
    page = client.get("/rallies/mine").get_data(as_text=True)
    titles = re.findall(r'<a href="/rallies/(\d+)">([^<]+)</a>', page)
    assert [title for _id, title in titles] == ["Sooner", "Later", "Past"]
    item = re.search(r"Sooner</a>(.*?)</li>", page, re.S).group(1)
    assert "2 going, 1 waiting" in item
    assert f'href="/rallies/new?copy={past}"' in page and later


def test_a_past_rally_is_copied_as_a_new_one_without_its_dates(app, client, organizer, rallies):
    source = rallies(
        organizer_id=organizer, title="IDAHOBIT rally", meeting_point="Sergels torg", capacity=80
    )
    form = client.get(f"/rallies/new?copy={source}").get_data(as_text=True)
    assert 'value="IDAHOBIT rally"' in form and 'value="Sergels torg"' in form
    assert 'value="80"' in form
    assert re.search(r'<input[^>]*name="starts_at"[^>]*value=""', form), "the dates are new"
    # Only one's own rallies can be copied.
    other = rallies(title="Someone else's")
    assert client.get(f"/rallies/new?copy={other}").status_code in (403, 404)


def test_cancelling_asks_first_and_changes_nothing_until_confirmed(app, client, organizer, rallies):
    rally_id = rallies(organizer_id=organizer, title="Rally in Stockholm")
    note = "Police banned it; we meet online.\nStay safe."
    asked = post_form(
        client, f"/rallies/{rally_id}/cancel", {"note": note}, page=f"/rallies/{rally_id}/manage"
    )
    assert asked.status_code == 200
    assert _rally(app, rally_id).status is RallyStatus.APPROVED
    page = BeautifulSoup(asked.data, "html.parser")
    assert page.h1.get_text() == "Cancel “Rally in Stockholm”?"
    form = page.select_one("form.confirm-actions")
    hidden = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    assert hidden["note"] == note and hidden["confirm"] == "yes"
    assert "button-danger" in form.button["class"]
    assert form.select_one("a")["href"] == f"/rallies/{rally_id}/manage"
    manage = BeautifulSoup(client.get(f"/rallies/{rally_id}/manage").data, "html.parser")
    assert "button-danger" in manage.select_one(".danger-zone input[type=submit]")["class"]
