"""Reminders, notices and what supporters can turn off: every supporter, account or not."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from rallyhub import tasks
from rallyhub.auth.models import User
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage
from rallyhub.models import utcnow
from rallyhub.rallies.models import Rally
from rallyhub.signups.models import Signup
from rallyhub.signups.reminders import EVE, reminder_times
from tests.conftest import link_in, post_form

# The last Sunday of October 2027: Stockholm leaves summer time at 03:00 (UTC+2 → UTC+1);
# Mexico City has kept UTC-6 all year since 2022.
DST_SUNDAY = (2027, 10, 31)


def _local(zone: str, *when: int) -> datetime:
    return datetime(*when, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _rally_at(rallies, zone: str, hour: int, **fields) -> int:
    return rallies(start_dt=_local(zone, *DST_SUNDAY, hour, 0), timezone=zone, **fields)


def _sign_up(client, rally_id, email, name="Ana"):
    response = post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": name, "email": email},
        page=f"/rallies/{rally_id}",
    )
    assert response.status_code == 302
    return response


def _sweep(app, now: datetime) -> dict:
    with app.app_context():
        return tasks.sweep(now)


def _reminders(outbox, kind_subject: str) -> list:
    return [m for m in outbox() if m["Subject"].startswith(kind_subject)]


@pytest.mark.parametrize(
    ("zone", "hour", "eve_utc", "day_utc"),
    [
        # The day before at 11:00 still in summer time (09:00 UTC), on the day 08:00 in winter
        # time (07:00 UTC): the same wall hours, an hour apart in UTC.
        ("Europe/Stockholm", 14, (2027, 10, 30, 9, 0), (2027, 10, 31, 7, 0)),
        ("America/Mexico_City", 14, (2027, 10, 30, 17, 0), (2027, 10, 31, 14, 0)),
        # An evening rally (19:00 CET): three hours before its start, not at 08:00.
        ("Europe/Stockholm", 19, (2027, 10, 30, 9, 0), (2027, 10, 31, 15, 0)),
    ],
    ids=["stockholm", "mexico-city", "stockholm-evening"],
)
def test_reminders_keep_their_local_hour_across_a_change_of_time(
    app, rallies, zone, hour, eve_utc, day_utc
):
    rally_id = _rally_at(rallies, zone, hour)
    with app.app_context():
        times = reminder_times(db.session.get(Rally, rally_id))
    assert (times.eve, times.day) == (
        datetime(*eve_utc, tzinfo=UTC),
        datetime(*day_utc, tzinfo=UTC),
    )


def test_each_reminder_goes_out_at_its_time_and_once(app, client, rallies, outbox):
    rally_id = _rally_at(rallies, "Europe/Stockholm", 14, title="Rally in Stockholm")
    _sign_up(client, rally_id, "ana@example.org")
    eve, day = datetime(2027, 10, 30, 9, 0, tzinfo=UTC), datetime(2027, 10, 31, 7, 0, tzinfo=UTC)

    assert _sweep(app, eve - timedelta(minutes=1))["reminders"] == 0
    assert _sweep(app, eve)["reminders"] == 1
    assert _sweep(app, eve + timedelta(minutes=1))["reminders"] == 0, "written once"
    assert _sweep(app, day)["reminders"] == 1
    assert _sweep(app, day + timedelta(hours=7))["reminders"] == 0, "none after the start"

    (tomorrow,) = _reminders(outbox, "Tomorrow: Rally in Stockholm")
    (today,) = _reminders(outbox, "Today: Rally in Stockholm")
    body = tomorrow.get_content()
    assert "Sun, Oct 31, 2027, 2:00\u202fPM" in body and "(Europe/Stockholm)" in body
    assert link_in(tomorrow, "/s/") == link_in(outbox()[0], "/s/"), "the manage link"
    unsubscribe = tomorrow["List-Unsubscribe"].strip("<>")
    assert unsubscribe.endswith("/unsubscribe") and "/s/" in unsubscribe
    assert tomorrow["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (calendar,) = list(tomorrow.iter_attachments())
    assert "DTSTART;TZID=Europe/Stockholm:20271031T140000" in calendar.get_content()
    assert today["Subject"] == "Today: Rally in Stockholm"


def test_a_late_sweep_sends_only_the_latest_reminder(app, client, rallies, outbox):
    rally_id = _rally_at(rallies, "Europe/Stockholm", 14, title="Rally in Stockholm")
    _sign_up(client, rally_id, "ana@example.org")
    # The workers were down all Saturday: on Sunday morning, "today" only.
    assert _sweep(app, datetime(2027, 10, 31, 7, 30, tzinfo=UTC))["reminders"] == 1
    assert _reminders(outbox, "Tomorrow") == []
    assert len(_reminders(outbox, "Today")) == 1


def test_two_sweeps_at_once_write_one_reminder_per_sign_up(app, client, rallies, outbox):
    rally_id = _rally_at(rallies, "Europe/Stockholm", 14)
    emails = [f"person{n}@example.org" for n in range(6)]
    for email in emails:
        _sign_up(app.test_client(), rally_id, email)
    eve = datetime(2027, 10, 30, 9, 0, tzinfo=UTC)
    start = threading.Barrier(2)
    results = []

    def sweep():
        start.wait()
        results.append(_sweep(app, eve))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(result["reminders"] for result in results) == len(emails)
    sent = _reminders(outbox, "Tomorrow")
    assert sorted(m["To"] for m in sent) == sorted(emails)
    with app.app_context():
        keys = db.session.scalars(
            select(OutboxMessage.dedup_key).where(OutboxMessage.kind == EVE)
        ).all()
    assert len(keys) == len(set(keys)) == len(emails)


def test_cancelled_and_waiting_sign_ups_get_no_reminder(app, client, rallies, outbox):
    rally_id = _rally_at(rallies, "Europe/Stockholm", 14, capacity=1)
    _sign_up(client, rally_id, "going@example.org")
    _sign_up(app.test_client(), rally_id, "waiting@example.org")
    _sign_up(app.test_client(), rally_id, "gone@example.org")
    gone = link_in(outbox()[-1], "/s/")
    post_form(app.test_client(), f"{gone}/cancel", {"confirm": "yes"}, page=gone)
    _sweep(app, datetime(2027, 10, 31, 7, 0, tzinfo=UTC))
    assert [m["To"] for m in _reminders(outbox, "Today")] == ["going@example.org"]


def test_one_click_unsubscribe_stops_reminders_but_not_the_rallys_notices(
    app, client, rallies, outbox, users, auth
):
    organizer = users(email="org@example.org")
    rally_id = _rally_at(rallies, "Europe/Stockholm", 14, organizer_id=organizer)
    _sign_up(client, rally_id, "ana@example.org")
    manage = link_in(outbox()[0], "/s/")

    # A link scanner opening the link changes nothing; the mail program's POST does.
    stranger = app.test_client()
    page = stranger.get(f"{manage}/unsubscribe")
    assert page.status_code == 200 and "Turn them off" in page.get_data(as_text=True)
    assert stranger.post("/s/not-a-token/unsubscribe").status_code == 404
    one_click = stranger.post(
        f"{manage}/unsubscribe", data={"List-Unsubscribe": "One-Click"}
    )  # no CSRF token: RFC 8058
    assert one_click.status_code == 204

    assert _sweep(app, datetime(2027, 10, 31, 7, 0, tzinfo=UTC))["reminders"] == 0
    auth.login("org@example.org")
    post_form(
        client,
        f"/rallies/{rally_id}/message",
        {"subject": "Bring water", "body": "It will be hot."},
    )
    assert [m["Subject"] for m in outbox()] == ["Your sign-up: Rally for justice"]

    post_form(
        client, f"/rallies/{rally_id}/cancel", {"note": "The square is closed.", "confirm": "yes"}
    )
    (notice,) = [m for m in outbox() if m["Subject"].startswith("Cancelled")]
    assert "The square is closed." in notice.get_content()


def test_a_cancellation_tells_every_active_sign_up_once(app, client, rallies, outbox, users, auth):
    organizer = users(email="org@example.org")
    rally_id = rallies(organizer_id=organizer, title="Rally in Turin")
    for email in ("a@example.org", "b@example.org"):
        _sign_up(app.test_client(), rally_id, email)
    auth.login("org@example.org")
    post_form(
        client,
        f"/rallies/{rally_id}/cancel",
        {"note": "Police banned it.\nStay safe.", "confirm": "yes"},
    )
    post_form(client, f"/rallies/{rally_id}/cancel", {"note": "again", "confirm": "yes"})
    notices = [m for m in outbox() if m["Subject"] == "Cancelled: Rally in Turin"]
    assert sorted(m["To"] for m in notices) == ["a@example.org", "b@example.org"]
    assert "Police banned it.\nStay safe." in notices[0].get_content()
    (calendar,) = list(notices[0].iter_attachments())
    assert "STATUS:CANCELLED" in calendar.get_content()


def test_the_purge_takes_every_message_of_a_purged_sign_up(app, client, rallies, runner):
    app.config["SMTP_URL"] = "smtp://127.0.0.1:1"  # nothing is delivered: all stay queued
    app.config["SMTP_TIMEOUT_S"] = 1
    rally_id = rallies(start_dt=datetime.now(UTC) + timedelta(hours=20))
    _sign_up(client, rally_id, "ana@example.org")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        rally = db.session.get(Rally, rally_id)
        rally.start_dt -= timedelta(days=60)
        rally.end_dt -= timedelta(days=60)
        db.session.commit()
    result = runner.invoke(args=["rallyhub", "purge-personal-data", "--days", "30"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert db.session.scalar(select(Signup.email)) is None


def test_delivered_messages_are_forgotten_after_their_keeping_time(app, client, rallies, users):
    # The organizer reads no digests: from DIGEST_HOUR in the rally's zone the sweep would
    # write one (and, on the day it is run then, forget it too).
    organizer = users()
    with app.app_context():
        db.session.get(User, organizer).digests_off_dt = utcnow()
        db.session.commit()
    rally_id = rallies(organizer_id=organizer)
    _sign_up(client, rally_id, "ana@example.org")
    with app.app_context():
        sent_dt = db.session.scalar(select(OutboxMessage.sent_dt))
    hours = app.config["MAIL_KEEP_SENT_HOURS"]
    assert _sweep(app, sent_dt + timedelta(hours=1))["blanked"] == 0
    app.config["MAIL_KEEP_SENT_HOURS"] = 0
    assert _sweep(app, sent_dt)["blanked"] == 1
    app.config["MAIL_KEEP_SENT_HOURS"] = hours
    with app.app_context():
        row = db.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.body, OutboxMessage.kind)
        ).one()
    assert tuple(row) == ("", "", "confirmation")


def test_the_campaigns_hours_and_switch_are_followed(app, client, rallies, campaigns, outbox):
    campaign_id = campaigns(reminder_eve_hour=18, reminder_day_hour=7)
    rally_id = _rally_at(rallies, "Europe/Stockholm", 14, campaign_id=campaign_id)
    with app.app_context():
        times = reminder_times(db.session.get(Rally, rally_id))
    # 18:00 CEST on Saturday and 07:00 CET on Sunday.
    assert times.eve == datetime(2027, 10, 30, 16, 0, tzinfo=UTC)
    assert times.day == datetime(2027, 10, 31, 6, 0, tzinfo=UTC)

    silent = campaigns(slug="silent", reminders_on=False)
    quiet_rally = _rally_at(rallies, "Europe/Stockholm", 14, campaign_id=silent)
    _sign_up(client, quiet_rally, "ana@example.org")
    assert _sweep(app, datetime(2027, 10, 31, 7, 0, tzinfo=UTC))["reminders"] == 0
    assert _reminders(outbox, "Today") == []


def test_a_reminder_is_written_in_the_supporters_language(make_app, rallies, outbox):
    """Signed up from an Italian browser: the reminder, written later by a worker outside any
    request, is in Italian, the date the Italian way."""
    app = make_app(LANGUAGES=["en", "it"])
    rally_id = _rally_at(rallies, "Europe/Stockholm", 14)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "it-IT,it;q=0.9"
    _sign_up(client, rally_id, "giulia@example.org")
    with app.app_context():
        assert db.session.scalar(select(Signup.language)) == "it"
    _sweep(app, datetime(2027, 10, 30, 9, 0, tzinfo=UTC))
    (reminder,) = [
        m for m in outbox() if m["To"] == "giulia@example.org" and "Domani" in m["Subject"]
    ]
    assert "31 ott 2027" in reminder.get_content()
    assert "ti ricordiamo che «Rally for justice» è domani." in reminder.get_content()


def test_a_message_held_by_a_worker_that_died_goes_out_once_its_lease_ends(
    app, client, rallies, outbox
):
    from rallyhub.mail import OutboxState

    app.config["SMTP_URL"] = "smtp://127.0.0.1:1"  # down: the sign-up's mail stays queued
    app.config["SMTP_TIMEOUT_S"] = 1
    _sign_up(client, rallies(), "ana@example.org")
    app.config["SMTP_URL"] = None
    now = datetime.now(UTC)
    with app.app_context():
        # What a worker does before it sends; it is then killed before marking anything.
        db.session.execute(
            OutboxMessage.__table__.update().values(
                next_attempt_dt=now + timedelta(seconds=app.config["MAIL_LEASE_SECONDS"]),
                queued_dt=None,
            )
        )
        db.session.commit()
    _sweep(app, now)
    assert outbox() == [], "leased: nobody else takes it"
    with app.app_context():
        db.session.execute(OutboxMessage.__table__.update().values(next_attempt_dt=now))
        db.session.commit()  # the lease has run out
    _sweep(app, now)
    _sweep(app, now)
    assert [m["To"] for m in outbox()] == ["ana@example.org"]
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.state)) is OutboxState.SENT


def test_the_organizer_sees_how_their_message_is_getting_on(
    app, client, rallies, users, auth, outbox
):
    organizer = users(email="org@example.org")
    rally_id = rallies(organizer_id=organizer)
    for email in ("a@example.org", "b@example.org"):
        _sign_up(app.test_client(), rally_id, email)
    auth.login("org@example.org")
    response = post_form(
        client, f"/rallies/{rally_id}/message", {"subject": "Water", "body": "Bring some."}
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Queued for 2 people" in page
    assert "2 delivered, 0 on their way, 0 could not be delivered" in page
