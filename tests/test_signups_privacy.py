"""Knowing an address gives nothing away: sign-ups are read and changed only through their link."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies import services as rallies_services
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.rallies.privacy import snap_to_grid
from rallyhub.signups.models import Signup, SignupStatus
from tests.conftest import csrf_from, link_in, post_form

SECRET_POINT = "Courtyard behind the bookshop, Rua Augusta 12"
EXACT = (38.710012, -9.137421)  # Lisbon


def _sign_up(client, rally_id, email="ana@example.org", name="Ana", **extra):
    return post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": name, "email": email, **extra},
        page=f"/rallies/{rally_id}",
    )


def _row(app, email="ana@example.org"):
    """Everything stored about one sign-up, as plain values."""
    with app.app_context():
        signup = db.session.scalar(select(Signup).where(Signup.email == email))
        return {column.name: getattr(signup, column.key) for column in Signup.__table__.columns}


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", html)


def _places(client, rally_id) -> str:
    page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    match = re.search(r'<p class="places">\s*(.*?)\s*</p>', page, flags=re.S)
    return match.group(1) if match else ""


@pytest.fixture
def protected(rallies):
    return rallies(
        title="Rally in Lisbon",
        visibility=Visibility.PROTECTED,
        meeting_point=SECRET_POINT,
        latitude=EXACT[0],
        longitude=EXACT[1],
        city="Lisbon",
        country_code="PT",
        timezone="Europe/Lisbon",
        capacity=10,
        asks_phone=True,
    )


# -- a second sign-up with a known address -------------------------------------------------


def test_a_second_sign_up_changes_nothing_and_tells_only_the_owner(app, client, protected, outbox):
    _sign_up(client, protected, name="Ana", consent="y", phone="+351 912 345 678")
    before = _row(app)
    places_before = _places(app.test_client(), protected)

    stranger = app.test_client()
    response = _sign_up(
        stranger, protected, email="ANA@example.org ", name="Mallory", phone="+1 555 0100"
    )
    assert response.status_code == 302
    assert _row(app) == before, "name, consent, phone, status, token and times untouched"
    assert _places(app.test_client(), protected) == places_before == "9 places left."

    first, second = outbox()
    assert second["To"] == "ana@example.org"
    body = second.get_content()
    assert "already signed up" in body and "nothing has changed" in body
    assert link_in(second, "/s/") == link_in(first, "/s/")
    assert "Mallory" not in body and "555" not in body, "nothing a stranger typed is sent on"


def test_the_answer_is_the_same_for_a_known_and_a_new_address(app, client, protected, outbox):
    _sign_up(client, protected)
    answers = []
    for email in ("ana@example.org", "new@example.org"):
        stranger = app.test_client()
        response = _sign_up(stranger, protected, email=email, name="Someone")
        page = stranger.get(response.headers["Location"])
        answers.append(
            (
                response.status_code,
                response.headers["Location"],
                page.status_code,
                _without_csrf(page.get_data(as_text=True)),
            )
        )
    assert answers[0] == answers[1]
    assert SECRET_POINT not in answers[0][3]


def test_a_cancelled_sign_up_is_not_revived_by_its_address(app, client, rallies, outbox):
    rally_id = rallies(capacity=2)
    _sign_up(client, rally_id, consent="y")
    link = link_in(outbox()[0], "/s/")
    post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    before = _row(app)
    assert before["status"] is SignupStatus.CANCELLED

    response = _sign_up(app.test_client(), rally_id, name="Mallory")
    assert response.status_code == 302
    assert _row(app) == before
    assert _places(app.test_client(), rally_id) == "2 places left."
    reminder = outbox()[-1]
    assert reminder["To"] == "ana@example.org"
    assert "You had cancelled" in reminder.get_content()
    assert "To sign up again, open your private link" in reminder.get_content()
    assert link_in(reminder, "/s/") == link


def test_the_link_of_a_cancelled_sign_up_offers_to_join_again(app, client, rallies, outbox):
    rally_id = rallies(capacity=1)
    _sign_up(client, rally_id)
    link = link_in(outbox()[0], "/s/")
    post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    page = client.get(link).get_data(as_text=True)
    assert "Sign up again" in page and 'name="name"' not in page

    response = post_form(client, f"{link}/rejoin", {}, page=link)
    assert response.status_code == 302
    assert _row(app)["status"] is SignupStatus.GOING
    assert "You are signed up again." in client.get(link).get_data(as_text=True)


def test_joining_again_takes_the_end_of_the_waiting_list(app, client, rallies, outbox):
    rally_id = rallies(capacity=1)
    for email in ("ana@example.org", "bo@example.org", "cy@example.org"):
        _sign_up(app.test_client(), rally_id, email=email)
    ana = link_in(next(m for m in outbox() if m["To"] == "ana@example.org"), "/s/")
    post_form(client, f"{ana}/cancel", {"confirm": "yes"}, page=ana)  # bo gets the place, cy waits
    post_form(client, f"{ana}/rejoin", {}, page=ana)
    assert _row(app, "bo@example.org")["status"] is SignupStatus.GOING
    assert _row(app, "ana@example.org")["status"] is SignupStatus.WAITLISTED
    assert "waiting list again" in client.get(ana).get_data(as_text=True)
    # cy signed up before ana came back, so cy is promoted first.
    bo = link_in(next(m for m in outbox() if m["To"] == "bo@example.org"), "/s/")
    post_form(client, f"{bo}/cancel", {"confirm": "yes"}, page=bo)
    assert _row(app, "cy@example.org")["status"] is SignupStatus.GOING
    assert _row(app, "ana@example.org")["status"] is SignupStatus.WAITLISTED


def test_joining_again_needs_an_open_rally_and_a_valid_form(app, client, rallies, outbox):
    rally_id = rallies()
    _sign_up(client, rally_id)
    link = link_in(outbox()[0], "/s/")
    post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    assert client.post(f"{link}/rejoin", data={}).status_code == 400, "no CSRF token"
    token = csrf_from(client.get(link).get_data(as_text=True))
    with app.app_context():
        db.session.get(Rally, rally_id).end_dt = utcnow() - timedelta(minutes=1)
        db.session.get(Rally, rally_id).start_dt = utcnow() - timedelta(hours=2)
        db.session.commit()
    assert "Sign up again" not in client.get(link).get_data(as_text=True)
    response = client.post(f"{link}/rejoin", data={"csrf_token": token})
    assert response.status_code == 400
    assert "closed" in response.get_data(as_text=True)
    assert _row(app)["status"] is SignupStatus.CANCELLED
    assert client.post("/s/not-a-token/rejoin", data={}).status_code in (400, 404)


# -- changes through the link respect the sign-up's state ----------------------------------


def test_a_cancelled_sign_up_cannot_be_renamed(app, client, rallies, outbox):
    rally_id = rallies()
    _sign_up(client, rally_id, name="Ana")
    link = link_in(outbox()[0], "/s/")
    token = csrf_from(client.get(link).get_data(as_text=True))
    post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    response = client.post(link, data={"csrf_token": token, "name": "Renamed", "consent": "y"})
    assert response.status_code == 400
    assert (_row(app)["name"], _row(app)["consent_to_contact"]) == ("Ana", False)


def test_a_sign_up_to_a_cancelled_rally_cannot_be_changed(app, client, rallies, outbox):
    rally_id = rallies()
    _sign_up(client, rally_id, name="Ana")
    link = link_in(outbox()[0], "/s/")
    token = csrf_from(client.get(link).get_data(as_text=True))
    with app.app_context():
        db.session.get(Rally, rally_id).status = RallyStatus.CANCELLED
        db.session.commit()
    response = client.post(link, data={"csrf_token": token, "name": "Renamed"})
    assert response.status_code == 400
    assert _row(app)["name"] == "Ana"


# -- nothing is kept where it could be read later ------------------------------------------


def _session(app, client) -> dict:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return {}
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def test_the_session_cookie_does_not_list_the_rallies_joined(app, client, rallies):
    rally_ids = [rallies(), rallies()]
    with client.session_transaction() as session:
        session["signed_up"] = [rally_ids[0]]  # as an older version left it
    for rally_id in rally_ids:
        response = _sign_up(client, rally_id)
        client.get(response.headers["Location"])
    data = _session(app, client)
    assert "signed_up" not in data
    for value in data.values():
        assert not isinstance(value, list | tuple), data
        assert all(str(rally_id) != str(value) for rally_id in rally_ids), data


def test_pages_showing_a_sign_up_are_never_stored(app, client, rallies, outbox):
    rally_id = rallies()
    response = _sign_up(client, rally_id)
    link = link_in(outbox()[0], "/s/")
    answers = {
        "sign-up": response,
        "thank-you page": client.get(response.headers["Location"]),
        "manage page": client.get(link),
        "change": post_form(client, link, {"name": "Ana L."}),
        "bad change": post_form(client, link, {"name": ""}),
        "cancel": post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link),
        "rejoin": post_form(client, f"{link}/rejoin", {}, page=link),
        "wrong link": client.get("/s/not-a-real-token"),
    }
    for what, answer in answers.items():
        assert answer.headers.get("Cache-Control") == "no-store", what


# -- one rule for the exact pin and meeting point ------------------------------------------


@pytest.fixture
def people(app, users, protected):
    """The protected rally's organizer, a co-organizer, HQ and an unrelated organizer."""
    organizer = users(email="org@example.org")
    coorganizer = users(email="co@example.org")
    hq = users(email="hq@example.org", role=Role.HQ)
    other = users(email="other@example.org")
    with app.app_context():
        rally = db.session.get(Rally, protected)
        rally.organizer_id = organizer
        from rallyhub.auth.models import User

        rally.coorganizers.append(db.session.get(User, coorganizer))
        db.session.commit()
    return {"organizer": organizer, "coorganizer": coorganizer, "hq": hq, "other": other}


@pytest.mark.parametrize(
    ("who", "exact"),
    [
        ("anonymous", False),
        ("other", False),
        ("organizer", True),
        ("coorganizer", True),
        ("hq", True),
    ],
)
def test_location_for_people(app, protected, people, who, exact):
    from flask_login import AnonymousUserMixin

    from rallyhub.auth.models import User

    with app.test_request_context():
        rally = db.session.get(Rally, protected)
        viewer = AnonymousUserMixin() if who == "anonymous" else db.session.get(User, people[who])
        location = rallies_services.location_for(rally, viewer=viewer)
    if exact:
        assert location == rallies_services.Location(*EXACT, SECRET_POINT, True, True)
    else:
        assert location == rallies_services.Location(*snap_to_grid(*EXACT), None, False, False)


@pytest.mark.parametrize(
    ("status", "same_rally", "exact"),
    [
        (SignupStatus.GOING, True, True),
        (SignupStatus.WAITLISTED, True, True),
        (SignupStatus.CANCELLED, True, False),
        (SignupStatus.GOING, False, False),
    ],
)
def test_location_for_sign_ups(app, rallies, protected, status, same_rally, exact):
    other_rally = rallies()
    with app.app_context():
        rally = db.session.get(Rally, protected)
        signup = Signup(
            rally_id=protected if same_rally else other_rally,
            name="Ana",
            email="ana@example.org",
            status=status,
        )
        location = rallies_services.location_for(rally, signup=signup)
        assert location.exact is exact
        assert location.meeting_point == (SECRET_POINT if exact else None)
        assert (location.latitude, location.longitude) == (EXACT if exact else snap_to_grid(*EXACT))


def test_a_public_rallys_location_is_the_same_for_everyone(app, rallies):
    rally_id = rallies(meeting_point="Praça do Comércio", latitude=EXACT[0], longitude=EXACT[1])
    with app.app_context():
        location = rallies_services.location_for(db.session.get(Rally, rally_id))
    assert location == rallies_services.Location(*EXACT, "Praça do Comércio", True, False)


def test_e_mails_carry_the_exact_pin_only_to_active_sign_ups(app, client, protected, outbox):
    _sign_up(client, protected)
    confirmation = outbox()[0].get_content()
    assert SECRET_POINT in confirmation and f"{EXACT[0]:.5f}, {EXACT[1]:.5f}" in confirmation
    link = link_in(outbox()[0], "/s/")
    post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    assert SECRET_POINT not in client.get(link).get_data(as_text=True)
    _sign_up(app.test_client(), protected)
    reminder = outbox()[-1].get_content()
    assert SECRET_POINT not in reminder and f"{EXACT[0]:.5f}" not in reminder
