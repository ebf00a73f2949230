"""Organizers see who is coming, check them in, count walk-ins, report turnout, write to them."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally, TurnoutReport
from rallyhub.signups.models import Signup, SignupStatus
from tests.conftest import post_form
from tests.factories import DEFAULT_PASSWORD


@pytest.fixture
def rally(app, users, rallies, auth):
    """A rally that started an hour ago, with three sign-ups, its organizer signed in."""
    organizer = users(email="org@example.org")
    rally_id = rallies(
        organizer_id=organizer, start_dt=utcnow() - timedelta(hours=1), asks_phone=True
    )
    with app.app_context():
        for n, (name, status) in enumerate(
            [
                ("Ана", SignupStatus.GOING),
                ('=HYPERLINK("http://x")', SignupStatus.GOING),
                ("Carla", SignupStatus.CANCELLED),
            ]
        ):
            db.session.add(
                Signup(
                    rally_id=rally_id,
                    name=name,
                    email=f"p{n}@example.org",
                    phone="+46 70 123",
                    status=status,
                    consent_to_contact=n == 0,
                    created_dt=utcnow() - timedelta(days=3 - n),
                )
            )
        db.session.commit()
    auth.login("org@example.org")
    return rally_id


def _signup_id(app, email):
    with app.app_context():
        return db.session.scalar(select(Signup.id).where(Signup.email == email))


def test_attendee_list_shows_names_emails_and_statuses(client, rally):
    page = client.get(f"/rallies/{rally}/attendees").get_data(as_text=True)
    for text in ("Ана", "p0@example.org", "Carla", "+46 70 123", "Going: 2", "Cancelled: 1"):
        assert text in page


def test_attendee_csv_is_audited_and_safe_for_spreadsheets(app, client, rally):
    response = client.get(f"/rallies/{rally}/attendees.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf"), "Excel reads Ана as UTF-8"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [r["email"] for r in rows] == ["p0@example.org", "p1@example.org", "p2@example.org"]
    assert rows[0]["name"] == "Ана" and rows[2]["status"] == "cancelled"
    assert rows[1]["name"] == '\'=HYPERLINK("http://x")', "formulas are neutralized"
    assert [r["consent_to_contact"] for r in rows] == ["yes", "no", "no"]
    assert list(rows[0]) == [
        "name",
        "email",
        "phone",
        "consent_to_contact",
        "status",
        "signed_up_utc",
        "checked_in_utc",
    ]
    with app.app_context():
        record = db.session.scalar(
            select(AuditRecord).where(AuditRecord.action == "attendees.export")
        )
        assert record.target_id == rally


def test_one_tap_checks_a_person_in_and_undoes_it(app, client, rally):
    signup_id = _signup_id(app, "p0@example.org")
    post_form(
        client,
        f"/rallies/{rally}/checkin/{signup_id}",
        {"present": "1"},
        page=f"/rallies/{rally}/checkin",
    )
    with app.app_context():
        assert db.session.get(Signup, signup_id).checked_in_dt is not None
    page = client.get(f"/rallies/{rally}/checkin").get_data(as_text=True)
    assert "Checked in: 1 of 2" in page
    post_form(
        client,
        f"/rallies/{rally}/checkin/{signup_id}",
        {"present": "0"},
        page=f"/rallies/{rally}/checkin",
    )
    with app.app_context():
        assert db.session.get(Signup, signup_id).checked_in_dt is None


def test_check_in_search_filters_by_name_or_email(client, rally):
    page = client.get(f"/rallies/{rally}/checkin?q=АНА").get_data(as_text=True)
    assert "Ана" in page and "p1@example.org" not in page
    page = client.get(f"/rallies/{rally}/checkin?q=p1@").get_data(as_text=True)
    assert "p1@example.org" in page and "p0@example.org" not in page


def test_cancelled_sign_ups_cannot_be_checked_in(app, client, rally):
    signup_id = _signup_id(app, "p2@example.org")
    response = post_form(
        client,
        f"/rallies/{rally}/checkin/{signup_id}",
        {"present": "1"},
        page=f"/rallies/{rally}/checkin",
    )
    assert response.status_code == 400
    assert b"walk-in" in response.data


def test_a_sign_up_of_another_rally_cannot_be_checked_in_here(app, client, rally, rallies):
    other = rallies()
    with app.app_context():
        db.session.add(Signup(rally_id=other, name="X", email="x@example.org"))
        db.session.commit()
    signup_id = _signup_id(app, "x@example.org")
    response = post_form(
        client,
        f"/rallies/{rally}/checkin/{signup_id}",
        {"present": "1"},
        page=f"/rallies/{rally}/checkin",
    )
    assert response.status_code == 404


@pytest.mark.parametrize(("value", "status"), [("12", 302), ("-1", 400), ("lots", 400), ("", 400)])
def test_walk_ins_are_counted(app, client, rally, value, status):
    response = post_form(
        client, f"/rallies/{rally}/walk-ins", {"walk_ins": value}, page=f"/rallies/{rally}/checkin"
    )
    assert response.status_code == status
    with app.app_context():
        assert db.session.get(Rally, rally).walk_in_count == (12 if status == 302 else 0)
    if status == 400:
        # The check-in page again, the error beside the field, the list still there.
        page = response.get_data(as_text=True)
        assert "Check-in: " in page and 'id="walk_ins-errors"' in page and "Ана" in page


def test_turnout_report_is_saved_corrected_and_audited(app, client, rally):
    page = client.get(f"/rallies/{rally}/turnout").get_data(as_text=True)
    assert 'value="0"' in page, "prefilled from check-ins and walk-ins"
    post_form(client, f"/rallies/{rally}/turnout", {"people_present": "140", "notes": "Calm."})
    post_form(client, f"/rallies/{rally}/turnout", {"people_present": "150", "notes": "Calm."})
    with app.app_context():
        reports = db.session.scalars(select(TurnoutReport)).all()
        assert [(r.rally_id, r.people_present) for r in reports] == [(rally, 150)]
        assert (
            db.session.scalar(
                select(AuditRecord.detail)
                .where(AuditRecord.action == "rally.turnout")
                .order_by(AuditRecord.id.desc())
            )
            == "150"
        )


def test_hq_reads_the_organizers_turnout_notes(app, client, rally, users):
    post_form(
        client,
        f"/rallies/{rally}/turnout",
        {"people_present": "150", "notes": "Police kettled us <b>twice</b>.\nAll safe."},
    )
    users(email="hq@example.org", role=Role.HQ)
    hq = app.test_client()
    post_form(hq, "/auth/login", {"email": "hq@example.org", "password": DEFAULT_PASSWORD})
    page = hq.get("/hq/").get_data(as_text=True)
    row = re.search(r'<table class="reports">.*?</table>', page, re.S).group(0)
    assert f'href="/rallies/{rally}"' in row and "<td>150</td>" in row
    assert "Police kettled us &lt;b&gt;twice&lt;/b&gt;." in row and "All safe." in row
    # Organizers do not see HQ's dashboard.
    assert client.get("/hq/").status_code == 403


def test_turnout_cannot_be_reported_before_the_rally(app, client, users, rallies, auth):
    organizer = users(email="early@example.org")
    rally_id = rallies(organizer_id=organizer)
    auth.login("early@example.org")
    response = post_form(client, f"/rallies/{rally_id}/turnout", {"people_present": "10"})
    assert response.status_code == 400
    assert b"once the rally has started" in response.data


@pytest.mark.parametrize("value", ["-3", "ten", ""])
def test_turnout_needs_a_whole_number(client, rally, value):
    response = post_form(client, f"/rallies/{rally}/turnout", {"people_present": value})
    assert response.status_code == 400


def test_message_goes_to_active_sign_ups_only(app, client, rally, outbox):
    response = post_form(
        client,
        f"/rallies/{rally}/message",
        {"subject": "Bring water", "body": "It will be hot. Գրե՛ք մեզ։"},
    )
    assert response.status_code == 302
    messages = [m for m in outbox() if m["Subject"] == "Bring water"]
    assert sorted(m["To"] for m in messages) == ["p0@example.org", "p1@example.org"]
    assert "Գրե՛ք մեզ" in messages[0].get_content()
    assert "/s/" in messages[0].get_content(), "each message carries its own manage link"


@pytest.mark.parametrize(
    "path",
    [
        "/rallies/{id}/attendees",
        "/rallies/{id}/attendees.csv",
        "/rallies/{id}/checkin",
        "/rallies/{id}/turnout",
        "/rallies/{id}/message",
    ],
)
def test_other_organizers_and_visitors_see_no_attendees(app, rally, users, path):
    url = path.format(id=rally)
    assert app.test_client().get(url).status_code == 302
    users(email="other@example.org")
    other = app.test_client()
    post_form(
        other,
        "/auth/login",
        {"email": "other@example.org", "password": "correct horse battery staple"},
    )
    response = other.get(url)
    assert response.status_code == 403
    assert b"p0@example.org" not in response.data
    users(email="boss@example.org", role=Role.HQ)
    hq = app.test_client()
    post_form(
        hq, "/auth/login", {"email": "boss@example.org", "password": "correct horse battery staple"}
    )
    assert hq.get(url).status_code == 200


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/rallies/{id}/checkin/{signup}", {"present": "1"}),
        ("/rallies/{id}/walk-ins", {"walk_ins": "5"}),
        ("/rallies/{id}/turnout", {"people_present": "5"}),
        ("/rallies/{id}/message", {"subject": "s", "body": "b"}),
    ],
)
def test_other_organizers_cannot_change_attendance(app, rally, users, outbox, path, data):
    users(email="other@example.org")
    other = app.test_client()
    post_form(
        other,
        "/auth/login",
        {"email": "other@example.org", "password": "correct horse battery staple"},
    )
    signup_id = _signup_id(app, "p0@example.org")
    url = path.format(id=rally, signup=signup_id)
    assert post_form(other, url, data, page="/").status_code == 403
    with app.app_context():
        assert db.session.get(Rally, rally).walk_in_count == 0
        assert db.session.scalar(select(TurnoutReport)) is None
        assert db.session.get(Signup, signup_id).checked_in_dt is None
    assert outbox() == []


def test_check_in_opens_on_the_rallys_day_in_its_own_zone(app, client, users, rallies, auth):
    """A tap the evening before would count as turnout on HQ's dashboard."""
    from datetime import UTC, datetime
    from unittest import mock

    organizer = users(email="org2@example.org")
    # 00:30 on 2027-06-10 in Yerevan (UTC+4) is still 2027-06-09 in UTC.
    rally_id = rallies(
        organizer_id=organizer,
        timezone="Asia/Yerevan",
        start_dt=datetime(2027, 6, 10, 14, 0, tzinfo=UTC),
    )
    with app.app_context():
        signup = Signup(rally_id=rally_id, name="Ana", email="ana@example.org")
        db.session.add(signup)
        db.session.commit()
        signup_id = signup.id
    auth.login("org2@example.org")
    page = f"/rallies/{rally_id}/checkin"
    evening_before = datetime(2027, 6, 9, 19, 0, tzinfo=UTC)  # 23:00 in Yerevan
    just_after_midnight = datetime(2027, 6, 9, 20, 30, tzinfo=UTC)  # 00:30 on the day
    with mock.patch("rallyhub.signups.attendance.utcnow", return_value=evening_before):
        shown = client.get(page).get_data(as_text=True)
        assert "Check-in opens on the day of the rally" in shown
        assert "Tap when present" not in shown
        early = post_form(client, f"{page}/{signup_id}", {"present": "1"}, page=page)
        assert early.status_code == 400
        assert "Check-in opens on the day" in early.get_data(as_text=True)
        walk_ins = post_form(client, f"/rallies/{rally_id}/walk-ins", {"walk_ins": "4"}, page=page)
        assert walk_ins.status_code == 400
    with app.app_context():
        assert db.session.get(Signup, signup_id).checked_in_dt is None
        assert db.session.get(Rally, rally_id).walk_in_count == 0
    with mock.patch("rallyhub.signups.attendance.utcnow", return_value=just_after_midnight):
        assert "Tap when present" in client.get(page).get_data(as_text=True)
        on_the_day = post_form(client, f"{page}/{signup_id}", {"present": "1"}, page=page)
        assert on_the_day.status_code == 302
    with app.app_context():
        assert db.session.get(Signup, signup_id).checked_in_dt is not None
