"""Attendee approval: supporters ask to join, the organizers say yes or no, and only a yes
brings a place and the meeting point."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError, IntegrityError, StatementError

from rallyhub import tasks
from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import User
from rallyhub.errors import UserError
from rallyhub.extensions import db
from rallyhub.hq.services import attendance_rows
from rallyhub.mail import OutboxMessage
from rallyhub.models import utcnow
from rallyhub.rallies import services as rallies_services
from rallyhub.rallies.filters import RallyFilter
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.signups import attendance
from rallyhub.signups.models import Signup, SignupStatus
from rallyhub.signups.services import places_left
from tests.conftest import csrf_from, link_in, post_form
from tests.rally_data import rally_form
from tests.test_migrations import _fresh_urls

SECRET_POINT = "Courtyard behind the bookshop, Rua Augusta 12"
EXACT = (38.710012, -9.137421)  # Lisbon
DECLINE_TEXT = (
    "The organizers could not confirm a place for you this time.\n"
    "Thank you for wanting to be there."
)


@pytest.fixture
def organizer(users):
    return users(email="org@example.org", name="Giulia")


@pytest.fixture
def rally(rallies, organizer):
    """A protected rally in Lisbon whose organizers approve each attendee."""
    return rallies(
        organizer_id=organizer,
        title="Rally in Lisbon",
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        latitude=EXACT[0],
        longitude=EXACT[1],
        city="Lisbon",
        country_code="PT",
        timezone="Europe/Lisbon",
        capacity=2,
        approval_required=True,
    )


def _ask(client, rally_id, email="ana@example.org", name="Ana"):
    response = post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": name, "email": email, "consent": "y"},
        page=f"/rallies/{rally_id}",
    )
    assert response.status_code == 302
    return response


def _signup(app, email="ana@example.org") -> tuple[int, SignupStatus]:
    with app.app_context():
        row = db.session.execute(
            select(Signup.id, Signup.status).where(Signup.email == email)
        ).one()
        return row.id, row.status


def _to(outbox, email):
    return [m for m in outbox() if m["To"] == email]


def _everything_sent(app, outbox) -> str:
    """Every message written so far, as stored and as delivered: subjects, bodies and the
    calendar files attached."""
    parts = []
    with app.app_context():
        for subject, body, calendar in db.session.execute(
            select(OutboxMessage.subject, OutboxMessage.body, OutboxMessage.calendar)
        ):
            parts += [subject, body or "", calendar or ""]
    for message in outbox():
        parts += [message["Subject"], message.get_content()]
        parts += [attachment.get_content() for attachment in message.iter_attachments()]
    return "\n".join(str(part) for part in parts)


def _leaks_the_meeting_point(content: str) -> bool:
    return SECRET_POINT in content or f"{EXACT[0]:.5f}" in content or "38.71001" in content


def _sign_in(client, email="org@example.org"):
    response = post_form(
        client, "/auth/login", {"email": email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    return client


def _answer(client, rally_id, signup_id, answer, page=None):
    return post_form(
        client,
        f"/rallies/{rally_id}/attendees/{signup_id}/{answer}",
        {},
        page=page or f"/rallies/{rally_id}/attendees",
    )


# -- the organizer's switch, and the one rule that reads it -----------------------------------


def test_the_rally_form_turns_approval_on_and_off(app, client, campaigns, organizer):
    campaign = campaigns()
    _sign_in(client)
    form = rally_form(campaign, approval_required="y")
    response = post_form(client, "/rallies/new", form)
    assert response.status_code == 302
    rally_id = int(response.headers["Location"].rsplit("/", 1)[1])
    edit = f"/rallies/{rally_id}/edit"
    assert 'name="approval_required"' in client.get(edit).get_data(as_text=True)
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        assert rallies_services.requires_approval(rally) is True
        rally.status = RallyStatus.APPROVED  # as if HQ had approved it
        db.session.commit()

    # The same form without the box ticked.
    del form["approval_required"]
    assert post_form(client, edit, form).status_code == 302
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        assert rallies_services.requires_approval(rally) is False
        # Who joins is the organizers' call, not a fact HQ reviews.
        assert rally.status is RallyStatus.APPROVED
        detail = db.session.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "rally.update")
        ).one()
        assert detail == "changed: approval_required"


def test_a_new_rally_does_not_require_approval(app, rallies):
    with app.app_context():
        assert rallies_services.requires_approval(db.session.get(Rally, rallies())) is False


def test_the_sign_up_form_asks_to_join(client, rallies, rally):
    page = client.get(f"/rallies/{rally}").get_data(as_text=True)
    assert 'value="Ask to join"' in page and ">Ask to join</h2>" in page
    assert "once the organizers approve your request" in page
    assert SECRET_POINT not in page
    plain = client.get(f"/rallies/{rallies()}").get_data(as_text=True)
    assert 'value="Sign up"' in plain and "Ask to join" not in plain


# -- asking ------------------------------------------------------------------------------------


def test_asking_to_join_is_a_request_that_holds_no_place(app, client, rally, outbox):
    response = _ask(client, rally)
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you for asking to join" in thanks
    assert _signup(app)[1] is SignupStatus.REQUESTED
    with app.app_context():
        assert rallies_services.location_for(db.session.get(Rally, rally)).meeting_point is None
        assert places_left(db.session.get(Rally, rally)) == 2, "a request takes no place"

    (message,) = _to(outbox, "ana@example.org")
    assert message["Subject"] == "Your request: Rally in Lisbon"
    body = message.get_content()
    assert "we have your request to join “Rally in Lisbon”" in body
    assert "The organizers will answer you by e-mail." in body
    assert "Where: Lisbon" in body and link_in(message, "/s/")
    assert list(message.iter_attachments()) == [], "no calendar entry before a yes"
    assert not _leaks_the_meeting_point(_everything_sent(app, outbox))


def test_a_request_never_receives_the_meeting_point(app, client, rally, outbox, users):
    """Not on the manage page, not in any message or calendar file, whatever happens to the
    rally meanwhile: a reminder, an organizers' message, a new time."""
    _ask(client, rally)
    manage = link_in(_to(outbox, "ana@example.org")[0], "/s/")
    page = client.get(manage).get_data(as_text=True)
    assert "You asked to join." in page and "Withdraw my request" in page
    assert not _leaks_the_meeting_point(page)
    assert not _leaks_the_meeting_point(client.get(f"/rallies/{rally}.ics").get_data(as_text=True))

    with app.app_context():
        rally_row = db.session.get(Rally, rally)
        # The organizers write to everyone signed up: requests are not.
        sent = attendance.message_attendees(
            db.session.get(User, rally_row.organizer_id),
            rally_row,
            "Where we meet",
            f"We meet at {SECRET_POINT}.",
            "http://localhost/",
        )
        assert sent == 0
        db.session.commit()
    # The day before, reminders go out (with the meeting point): not to a request.
    with app.app_context():
        start = db.session.get(Rally, rally).start_dt
        assert tasks.sweep(start - timedelta(hours=6))["reminders"] == 0
    # A new time reaches the request, with the city only.
    _sign_in(client)
    with app.app_context():
        campaign_id = db.session.get(Rally, rally).campaign_id
    response = post_form(
        client,
        f"/rallies/{rally}/edit",
        rally_form(
            campaign_id,
            title="Rally in Lisbon",
            city="Lisbon",
            meeting_point=SECRET_POINT,
            latitude=str(EXACT[0]),
            longitude=str(EXACT[1]),
            visibility="protected",
            capacity="2",
            approval_required="y",
        ),
    )
    assert response.status_code == 302
    notice = next(m for m in _to(outbox, "ana@example.org") if "New time" in m["Subject"])
    assert "Your request to join is still with the organizers." in notice.get_content()
    assert "Where: Lisbon" in notice.get_content()
    assert not _leaks_the_meeting_point(_everything_sent(app, outbox))


# -- answering ---------------------------------------------------------------------------------


def test_approving_gives_a_place_and_sends_the_meeting_point(app, client, rally, outbox):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    _sign_in(client)
    page = client.get(f"/rallies/{rally}/attendees").get_data(as_text=True)
    assert "Asking to join" in page and f"/attendees/{signup_id}/approve" in page

    response = _answer(client, rally, signup_id, "approve")
    assert response.status_code == 302
    assert _signup(app) == (signup_id, SignupStatus.GOING)

    confirmation = _to(outbox, "ana@example.org")[-1]
    assert confirmation["Subject"] == "Your sign-up: Rally in Lisbon"
    body = confirmation.get_content()
    assert "the organizers approved your request" in body
    assert "you are signed up for “Rally in Lisbon”." in body
    assert SECRET_POINT in body and "38.71001" in body
    manage = client.get(link_in(confirmation, "/s/")).get_data(as_text=True)
    assert SECRET_POINT in manage and "You have a place." in manage

    with app.app_context():
        (audit,) = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "signup.approve")
        ).all()
        assert (audit.target_type, audit.target_id) == ("signup", signup_id)
        assert "ana" not in audit.detail.lower() and "@" not in audit.detail


def test_approving_when_the_rally_is_full_gives_the_waiting_list(app, client, rally, outbox):
    for name in ("Ana", "Bo", "Cy"):
        _ask(app.test_client(), rally, email=f"{name.lower()}@example.org", name=name)
    _sign_in(client)
    for name in ("Ana", "Bo", "Cy"):
        _answer(client, rally, _signup(app, f"{name.lower()}@example.org")[0], "approve")
    assert [_signup(app, f"{n}@example.org")[1] for n in ("ana", "bo", "cy")] == [
        SignupStatus.GOING,
        SignupStatus.GOING,
        SignupStatus.WAITLISTED,
    ]
    assert "waiting list" in _to(outbox, "cy@example.org")[-1].get_content()


def test_declining_sends_a_kind_message_that_gives_no_reason(app, client, rally, outbox):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    _sign_in(client)
    assert _answer(client, rally, signup_id, "decline").status_code == 302
    assert _signup(app) == (signup_id, SignupStatus.DECLINED)

    message = _to(outbox, "ana@example.org")[-1]
    assert message["Subject"] == "Your request: Rally in Lisbon"
    assert DECLINE_TEXT in message.get_content()
    assert list(message.iter_attachments()) == []
    assert not _leaks_the_meeting_point(_everything_sent(app, outbox))

    manage = client.get(link_in(_to(outbox, "ana@example.org")[0], "/s/"))
    page = manage.get_data(as_text=True)
    assert "could not confirm a place for you this time" in page
    assert not _leaks_the_meeting_point(page)
    assert "Cancel my sign-up" not in page and "Sign up again" not in page
    with app.app_context():
        (audit,) = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "signup.decline")
        ).all()
        assert audit.target_id == signup_id and audit.detail == ""


def test_a_declined_address_cannot_ask_again_and_strangers_learn_nothing(
    app, client, rally, outbox
):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    _sign_in(client)
    _answer(client, rally, signup_id, "decline")

    answers = []
    for email in ("ana@example.org", "new@example.org"):
        stranger = app.test_client()
        response = _ask(stranger, rally, email=email, name="Someone")
        page = stranger.get(response.headers["Location"]).get_data(as_text=True)
        answers.append((response.status_code, response.headers["Location"], page))
    (code, location, known), (new_code, new_location, new) = answers
    assert (code, location) == (new_code, new_location)
    assert _without_csrf(known) == _without_csrf(new)
    assert "declined" not in known.lower()

    assert _signup(app) == (signup_id, SignupStatus.DECLINED), "still declined, not a request"
    owner_mail = _to(outbox, "ana@example.org")[-1]
    assert owner_mail["Subject"] == "Your sign-up: Rally in Lisbon"
    assert "could not confirm a place for you this time, and nothing has changed" in (
        owner_mail.get_content()
    )
    assert "Someone" not in owner_mail.get_content()


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", html)


def test_a_declined_sign_up_cannot_come_back_through_its_link(app, client, rally, outbox):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    _sign_in(client)
    _answer(client, rally, signup_id, "decline")
    link = link_in(_to(outbox, "ana@example.org")[0], "/s/")

    supporter = app.test_client()
    token = csrf_from(supporter.get("/auth/register").get_data(as_text=True))
    cancelled = supporter.post(f"{link}/cancel", data={"csrf_token": token, "confirm": "yes"})
    rejoined = supporter.post(f"{link}/rejoin", data={"csrf_token": token})
    changed = supporter.post(link, data={"csrf_token": token, "name": "Ana", "consent": "y"})
    assert (cancelled.status_code, rejoined.status_code, changed.status_code) == (400, 400, 400)
    assert _signup(app) == (signup_id, SignupStatus.DECLINED)


def test_withdrawing_a_request_and_joining_again_is_a_new_request(app, client, rally, outbox):
    _ask(client, rally)
    link = link_in(_to(outbox, "ana@example.org")[0], "/s/")
    confirm = post_form(client, f"{link}/cancel", {}, page=link).get_data(as_text=True)
    assert "Withdraw your request?" in confirm
    post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    assert _signup(app)[1] is SignupStatus.CANCELLED
    response = post_form(client, f"{link}/rejoin", {}, page=link)
    assert response.status_code == 302
    assert _signup(app)[1] is SignupStatus.REQUESTED, "no place without the organizers' yes"
    assert "You asked to join again." in client.get(link).get_data(as_text=True)


def test_answering_twice_changes_nothing_more(app, client, rally, outbox):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    _sign_in(client)
    assert _answer(client, rally, signup_id, "approve").status_code == 302
    assert _answer(client, rally, signup_id, "approve").status_code == 302
    assert _answer(client, rally, signup_id, "decline").status_code == 400
    assert _signup(app)[1] is SignupStatus.GOING
    confirmations = [m for m in _to(outbox, "ana@example.org") if "sign-up" in m["Subject"]]
    assert len(confirmations) == 1


def test_requests_to_a_cancelled_or_past_rally_cannot_be_answered(app, client, rally):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    with app.app_context():
        db.session.get(Rally, rally).status = RallyStatus.CANCELLED
        db.session.commit()
    _sign_in(client)
    for answer in ("approve", "decline"):
        response = _answer(client, rally, signup_id, answer, page=f"/rallies/{rally}")
        assert response.status_code == 400
    assert _signup(app)[1] is SignupStatus.REQUESTED


# -- who may answer ----------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["approve", "decline"])
def test_only_the_rallys_organizers_may_answer(app, rallies, users, rally, outbox, answer):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    before = len(outbox())

    anonymous = app.test_client()
    response = _answer(anonymous, rally, signup_id, answer, page="/auth/register")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]

    users(email="other@example.org")
    other = _sign_in(app.test_client(), "other@example.org")
    assert _answer(other, rally, signup_id, answer, page="/rallies/mine").status_code == 403
    with app.app_context():
        db.session.get(Rally, rally).status = RallyStatus.PENDING
        db.session.commit()
    assert _answer(other, rally, signup_id, answer, page="/rallies/mine").status_code == 404

    # The organizer of another rally cannot reach this request through their own rally.
    their_rally = rallies(organizer_id=_user_id(app, "other@example.org"), approval_required=True)
    response = _answer(other, their_rally, signup_id, answer, page=f"/rallies/{their_rally}")
    assert response.status_code == 404

    assert _signup(app) == (signup_id, SignupStatus.REQUESTED)
    assert len(outbox()) == before


def _user_id(app, email):
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def test_answering_needs_the_forms_csrf_token(app, client, rally):
    _ask(app.test_client(), rally)
    signup_id, _status = _signup(app)
    _sign_in(client)
    for answer in ("approve", "decline"):
        response = client.post(f"/rallies/{rally}/attendees/{signup_id}/{answer}")
        assert response.status_code == 400
    assert _signup(app)[1] is SignupStatus.REQUESTED


@pytest.mark.parametrize("signup_id", ["999999", "0", "9223372036854775808"])
def test_answering_a_request_that_does_not_exist_is_404(client, rally, signup_id):
    _sign_in(client)
    response = _answer(client, rally, signup_id, "approve")
    assert response.status_code == 404


# -- requests count nowhere as people coming ----------------------------------------------------


def test_requests_count_nowhere_as_people_coming(app, client, users, rally, outbox):
    with app.app_context():
        for n, status in enumerate(
            [SignupStatus.GOING, SignupStatus.REQUESTED, SignupStatus.DECLINED]
        ):
            db.session.add(
                Signup(rally_id=rally, name=f"P{n}", email=f"p{n}@example.org", status=status)
            )
        db.session.commit()
        rally_row = db.session.get(Rally, rally)
        assert attendance.counts_by_rally([rally]) == {rally: (1, 0)}
        (row,) = [r for r in attendance_rows(RallyFilter.from_args({})) if r[0] == rally]
        assert row[9] == 1, "HQ's summary counts the one with a place"
        assert places_left(rally_row) == 1
        # Check-in is for people with a place: a request is approved first.
        rally_row.start_dt = utcnow() - timedelta(minutes=30)
        rally_row.end_dt = utcnow() + timedelta(hours=1)
        db.session.commit()
        for email in ("p1@example.org", "p2@example.org"):
            signup_id = db.session.scalar(select(Signup.id).where(Signup.email == email))
            with pytest.raises(UserError):
                attendance.set_checked_in(None, rally_row, signup_id, True)
        db.session.rollback()
    _sign_in(client)
    checkin = client.get(f"/rallies/{rally}/checkin").get_data(as_text=True)
    assert "p0@example.org" in checkin
    assert "p1@example.org" not in checkin and "p2@example.org" not in checkin
    attendees = client.get(f"/rallies/{rally}/attendees").get_data(as_text=True)
    assert "Asking to join: 1 · Declined: 1" in attendees


def test_the_digest_counts_requests_waiting_for_an_answer(app, rallies, organizer, outbox):
    rally_id = rallies(
        organizer_id=organizer,
        title="Rally in Stockholm",
        approval_required=True,
        start_dt=datetime(2027, 6, 12, 12, 0, tzinfo=UTC),
    )
    digest_time = datetime(2027, 6, 9, 16, 0, tzinfo=UTC)  # 18:00 in Stockholm
    with app.app_context():
        for n, status in enumerate(
            [SignupStatus.REQUESTED, SignupStatus.REQUESTED, SignupStatus.DECLINED]
        ):
            db.session.add(
                Signup(
                    rally_id=rally_id,
                    name=f"Secret {n}",
                    email=f"secret{n}@example.org",
                    status=status,
                    created_dt=digest_time - timedelta(hours=3),
                )
            )
        db.session.commit()
        assert tasks.sweep(digest_time)["digests"] == 1
    (digest,) = [m for m in outbox() if m["Subject"].startswith("New sign-ups")]
    body = digest.get_content()
    assert "2 new sign-ups" in body, "the declined one is not new"
    assert "Asking to join, waiting for your answer: 2" in body
    assert "Secret" not in body and "secret" not in body


def test_a_cancellation_reaches_open_requests_but_not_declined_ones(app, client, rally, outbox):
    for name in ("Ana", "Bo"):
        _ask(app.test_client(), rally, email=f"{name.lower()}@example.org", name=name)
    _sign_in(client)
    _answer(client, rally, _signup(app, "bo@example.org")[0], "decline")
    post_form(
        client,
        f"/rallies/{rally}/cancel",
        {"note": "Police banned it.", "confirm": "yes"},
        page=f"/rallies/{rally}/manage",
    )
    cancelled = [m for m in outbox() if m["Subject"] == "Cancelled: Rally in Lisbon"]
    assert [m["To"] for m in cancelled] == ["ana@example.org"]
    assert not _leaks_the_meeting_point(_everything_sent(app, outbox))


# -- the schema --------------------------------------------------------------------------------


def test_the_migration_adds_the_statuses_and_keeps_every_message(make_app, tmp_path):
    """Up, the new statuses are accepted (SQLite's CHECK rewritten in place, so the outbox
    rows that refer to sign-ups survive); down, requests become cancelled sign-ups."""
    for url in _fresh_urls(tmp_path):
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="b13d4e5f0007")
            _insert_signup_with_a_message()
            upgrade(revision="c16d0d0d0014")
            _execute("UPDATE signups SET status = 'requested'")
            assert _value("SELECT count(*) FROM outbox_messages") == 1
            assert _value("SELECT approval_required FROM rallies") in (False, 0)
            downgrade(revision="b13d4e5f0007")
            assert _value("SELECT status FROM signups") == "cancelled"
            assert _value("SELECT count(*) FROM outbox_messages") == 1
            with pytest.raises((IntegrityError, DataError)):
                _execute("UPDATE signups SET status = 'requested'")
            upgrade(revision="c16d0d0d0014")
            _execute("UPDATE signups SET status = 'declined'")
            db.session.remove()
            db.engine.dispose()


def _execute(statement: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement))


def _value(query: str):
    with db.engine.connect() as connection:
        return connection.execute(text(query)).scalar()


def _insert_signup_with_a_message():
    now = "2026-01-01 00:00:00"
    statements = [
        "INSERT INTO users (id, email, name, password_hash, role, is_disabled, session_nonce,"
        " created_dt, language) VALUES (1, 'o@example.org', 'O', 'x', 'organizer', false, 'n',"
        " :now, 'en')",
        "INSERT INTO campaigns (id, slug, name, hashtag, description, start_date, is_active,"
        " created_dt, language) VALUES (1, 'c', 'C', '#C', '', '2026-01-01', true, :now, 'en')",
        "INSERT INTO rallies (id, campaign_id, organizer_id, title, description, city,"
        " country_code, meeting_point, latitude, longitude, public_latitude, public_longitude,"
        " public_band, public_x, public_y, public_z, timezone, start_dt, end_dt, languages,"
        " status, visibility, review_note, cancel_note, created_dt, updated_dt, asks_phone,"
        " walk_in_count) VALUES (1, 1, 1, 'R', '', 'C', 'AM', '', 0, 0, 0, 0, 360, 1, 0, 0,"
        " 'UTC', :now, '2026-01-01 02:00:00', '', 'approved', 'public', '', '', :now, :now,"
        " false, 0)",
        "INSERT INTO signups (id, rally_id, name, email, consent_to_contact, token, status,"
        " created_dt, updated_dt, language) VALUES (1, 1, 'A', 'a@example.org', false, 't',"
        " 'going', :now, :now, 'en')",
        "INSERT INTO outbox_messages (kind, signup_id, rally_id, recipient, subject, body,"
        " state, created_dt, attempts, next_attempt_dt, last_error) VALUES ('confirmation', 1,"
        " 1, 'a@example.org', 'S', 'B', 'queued', :now, 0, :now, '')",
    ]
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), {"now": now})


def test_the_database_refuses_unknown_statuses_still(app_ctx, rallies):
    rally_id = rallies()
    db.session.add(Signup(rally_id=rally_id, name="Ana", email="ana@example.org"))
    db.session.commit()
    with pytest.raises((IntegrityError, StatementError)), db.engine.begin() as connection:
        connection.execute(text("UPDATE signups SET status = 'invited'"))
    assert db.session.scalar(select(func.count()).select_from(Signup)) == 1
