"""Sign-ups, the waiting list, check-in, turnout and HQ's download, in Chromium."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import TurnoutReport
from rallyhub.signups.models import Signup, SignupStatus
from tests.browser.test_rally_flow import _sign_in
from tests.conftest import link_in


def _sign_up(page, rally_id, name, email):
    page.goto(f"/rallies/{rally_id}")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("The organizers may contact me").check()
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Thank you for signing up").wait_for()


def _statuses(app, rally_id):
    with app.app_context():
        return dict(
            db.session.execute(
                select(Signup.email, Signup.status).where(Signup.rally_id == rally_id)
            ).all()
        )


def test_sign_up_wait_cancel_through_the_link_and_get_promoted(app, page, rallies, outbox):
    rally_id = rallies(title="Rally in Stockholm", capacity=1)
    _sign_up(page, rally_id, "Лена", "lena@example.org")
    page.goto(f"/rallies/{rally_id}")
    page.get_by_text("This rally is full").wait_for()
    _sign_up(page, rally_id, "Marco", "marco@example.org")
    assert _statuses(app, rally_id) == {
        "lena@example.org": SignupStatus.GOING,
        "marco@example.org": SignupStatus.WAITLISTED,
    }

    lena = next(m for m in outbox() if m["To"] == "lena@example.org")
    page.goto(link_in(lena, "/s/"))
    page.get_by_text("You have a place.").wait_for()
    page.get_by_role("button", name="Cancel my sign-up").click()
    # A page asks first; nothing has changed yet.
    page.get_by_role("heading", name="Cancel your sign-up?").wait_for()
    assert _statuses(app, rally_id)["lena@example.org"] is SignupStatus.GOING
    page.get_by_role("button", name="Yes, cancel my sign-up").click()
    page.get_by_text("Your sign-up is cancelled.").wait_for()
    assert _statuses(app, rally_id)["marco@example.org"] is SignupStatus.GOING
    promoted = next(m for m in outbox() if m["Subject"].startswith("A place is yours"))
    assert promoted["To"] == "marco@example.org"
    assert page.foreign_requests == []


def test_check_in_and_report_turnout_on_the_day(app, page, users, rallies):
    organizer = users(email="org@example.org")
    rally_id = rallies(organizer_id=organizer, start_dt=utcnow() - timedelta(minutes=30))
    with app.app_context():
        for name in ("Ayşe Yılmaz", "Jonas Weber", "Sofia Andersson"):
            db.session.add(
                Signup(rally_id=rally_id, name=name, email=f"{name.split()[1].lower()}@example.org")
            )
        db.session.commit()
    _sign_in(page, "org@example.org")
    page.goto(f"/rallies/{rally_id}/checkin")
    page.get_by_label("Find a person").fill("ayş")
    assert page.get_by_text("Jonas Weber").is_hidden()
    page.get_by_role("button", name="Ayşe Yılmaz").click()
    page.get_by_text("Checked in: 1 of 3").wait_for()
    page.get_by_label("People who came without signing up").fill("7")
    page.get_by_role("button", name="Save walk-ins").click()
    page.get_by_text("walk-ins: 7").wait_for()

    page.get_by_role("link", name="Turnout").click()
    assert page.get_by_label("People present").input_value() == "8"
    page.get_by_label("People present").fill("60")
    page.get_by_label("Notes for HQ").fill("Peaceful; two journalists came.")
    page.get_by_role("button", name="Save report").click()
    page.get_by_text("The turnout is reported.").wait_for()
    with app.app_context():
        report = db.session.scalar(select(TurnoutReport))
        assert (report.rally_id, report.people_present) == (rally_id, 60)


def test_hq_downloads_the_attendance_summary(app, page, users, rallies):
    rallies(title="Rally in Berlin", city="Berlin", country_code="DE", timezone="Europe/Berlin")
    users(email="hq@example.org", role=Role.HQ)
    _sign_in(page, "hq@example.org")
    page.get_by_role("link", name="Dashboard").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Rallies (CSV)").click()
    download = download_info.value
    assert download.suggested_filename == "attendance.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["title"], r["country"]) for r in rows] == [("Rally in Berlin", "Germany")]


def test_after_signing_up_add_to_calendar_share_and_see_the_language(page, live_server, rallies):
    rally_id = rallies(title="Rally in Gyumri", languages="hy,en")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # Chromium on a desktop has no share sheet; a stand-in records what the page asks of it.
    page.add_init_script(
        "navigator.share = (data) => { window.shared = data; return Promise.resolve(); };"
    )
    _sign_up(page, rally_id, "Ani", "ani@example.org")
    page.get_by_text("Armenian (հայերեն), English").wait_for()

    with page.expect_download() as download:
        page.get_by_role("link", name="Add to calendar (.ics)").click()
    assert b"SUMMARY:Rally in Gyumri" in Path(download.value.path()).read_bytes()

    rally_url = f"{live_server}/rallies/{rally_id}"
    assert page.get_by_label("Link to this rally").input_value() == rally_url
    page.get_by_role("button", name="Copy link").click()
    page.get_by_role("button", name="Link copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == rally_url

    page.get_by_role("button", name="Share…").click()
    page.wait_for_function("window.shared !== undefined")
    shared = page.evaluate("window.shared")
    assert shared["url"] == rally_url and shared["title"] == "Rally in Gyumri"
    assert page.foreign_requests == []
