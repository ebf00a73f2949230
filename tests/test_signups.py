"""Supporters sign up without an account, manage it through a private link, and wait in line."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from rallyhub.extensions import db
from rallyhub.rallies.models import RallyStatus, Visibility
from rallyhub.signups.models import Signup, SignupStatus
from tests.conftest import csrf_from, link_in, post_form

SECRET_POINT = "Courtyard behind the bookshop, Rua Augusta 12"


def _sign_up(client, rally_id, email="ana@example.org", name="Ana", **extra):
    return post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": name, "email": email, "consent": "y", **extra},
        page=f"/rallies/{rally_id}",
    )


def _signups(app, rally_id):
    with app.app_context():
        return list(
            db.session.execute(
                select(Signup.email, Signup.name, Signup.status)
                .where(Signup.rally_id == rally_id)
                .order_by(Signup.id)
            ).all()
        )


def test_sign_up_sends_a_private_manage_link(app, client, rallies, outbox):
    rally_id = rallies(title="Rally in Lisbon")
    response = _sign_up(client, rally_id, email="Ana@Example.org", name="Ана")
    assert response.status_code == 302
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you for signing up" in thanks
    assert _signups(app, rally_id) == [("ana@example.org", "Ана", SignupStatus.GOING)]
    (message,) = outbox()
    assert message["To"] == "ana@example.org"
    path = link_in(message, "/s/")
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 22 and not token.isdigit(), "at least 128 bits, not the row id"
    page = client.get(path).get_data(as_text=True)
    assert "You have a place." in page and "Rally in Lisbon" in page


def test_signing_up_again_changes_nothing_and_never_counts_twice(app, client, rallies, outbox):
    rally_id = rallies()
    first = _sign_up(client, rally_id, name="Ana")
    second = _sign_up(app.test_client(), rally_id, email=" ANA@example.org", name="Ana Lima")
    assert _signups(app, rally_id) == [("ana@example.org", "Ana", SignupStatus.GOING)]
    # Same answer both times: nothing tells a stranger that the e-mail was already signed up.
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    messages = outbox()
    assert [m["To"] for m in messages] == ["ana@example.org"] * 2
    assert len({link_in(m, "/s/") for m in messages}) == 1, "the manage link stays the same"


def test_the_page_never_shows_the_manage_link(app, client, rallies):
    rally_id = rallies()
    response = _sign_up(client, rally_id)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        token = db.session.scalar(select(Signup.token))
    assert token not in page


def test_full_rally_puts_signups_on_the_waiting_list_and_promotes_in_order(
    app, client, rallies, outbox
):
    rally_id = rallies(capacity=1)
    page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    assert "1 place left." in page
    _sign_up(client, rally_id, email="first@example.org")
    assert "This rally is full" in client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    _sign_up(client, rally_id, email="second@example.org")
    _sign_up(client, rally_id, email="third@example.org")
    assert [s for _, _, s in _signups(app, rally_id)] == [
        SignupStatus.GOING,
        SignupStatus.WAITLISTED,
        SignupStatus.WAITLISTED,
    ]

    first_link = link_in(next(m for m in outbox() if m["To"] == "first@example.org"), "/s/")
    page = client.get(first_link).get_data(as_text=True)
    client.post(f"{first_link}/cancel", data={"csrf_token": csrf_from(page), "confirm": "yes"})
    assert [s for _, _, s in _signups(app, rally_id)] == [
        SignupStatus.CANCELLED,
        SignupStatus.GOING,
        SignupStatus.WAITLISTED,
    ]
    promoted = [m for m in outbox() if m["Subject"].startswith("A place is yours")]
    assert [m["To"] for m in promoted] == ["second@example.org"]


def test_raising_the_capacity_lets_the_waiting_list_in(app, rallies, users, client, auth):
    from tests.test_rallies_manage import _edit_form

    organizer = users(email="org@example.org")
    rally_id = rallies(capacity=1, organizer_id=organizer)
    for n in range(3):
        _sign_up(app.test_client(), rally_id, email=f"p{n}@example.org")
    auth.login("org@example.org")
    post_form(client, f"/rallies/{rally_id}/edit", _edit_form(app, rally_id, capacity="2"))
    statuses = [s for _, _, s in _signups(app, rally_id)]
    assert statuses == [SignupStatus.GOING, SignupStatus.GOING, SignupStatus.WAITLISTED]


def test_manage_link_changes_details_and_cancels(app, client, rallies, outbox):
    rally_id = rallies()
    _sign_up(client, rally_id)
    link = link_in(outbox()[0], "/s/")
    response = post_form(client, link, {"name": "Ana L.", "consent": ""})
    assert response.status_code == 302
    with app.app_context():
        signup = db.session.scalar(select(Signup))
        assert (signup.name, signup.consent_to_contact) == ("Ana L.", False)
    post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    assert _signups(app, rally_id)[0][2] is SignupStatus.CANCELLED
    assert "You cancelled this sign-up." in client.get(link).get_data(as_text=True)


def test_wrong_or_missing_tokens_are_404(client):
    assert client.get("/s/not-a-real-token").status_code == 404
    assert client.get("/s/" + "x" * 300).status_code == 404


def test_protected_meeting_point_reaches_a_supporter_only_through_the_e_mail(
    app, client, rallies, outbox
):
    rally_id = rallies(visibility=Visibility.PROTECTED, meeting_point=SECRET_POINT)
    assert SECRET_POINT not in client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    response = _sign_up(client, rally_id)
    # Whoever typed the address sees no meeting point: only its owner reads the e-mail.
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you for signing up" in thanks and SECRET_POINT not in thanks
    assert SECRET_POINT in outbox()[0].get_content()
    assert SECRET_POINT in client.get(link_in(outbox()[0], "/s/")).get_data(as_text=True)
    stranger = app.test_client()
    assert SECRET_POINT not in stranger.get(f"/rallies/{rally_id}/signed-up").get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "nope", "valid e-mail address"),
        ("email", "", "This field is required"),
        ("name", "", "This field is required"),
        ("name", "x" * 121, "120"),
    ],
)
def test_bad_sign_up_input_is_explained_and_nothing_is_saved(
    app, client, rallies, field, value, message
):
    rally_id = rallies()
    data = {"name": "Ana", "email": "ana@example.org", field: value}
    response = post_form(client, f"/rallies/{rally_id}/signup", data, page=f"/rallies/{rally_id}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _signups(app, rally_id) == []


def test_phone_is_asked_and_kept_only_where_the_organizer_wants_it(app, client, rallies):
    without = rallies()
    with_phone = rallies(asks_phone=True)
    assert 'name="phone"' not in client.get(f"/rallies/{without}").get_data(as_text=True)
    assert 'name="phone"' in client.get(f"/rallies/{with_phone}").get_data(as_text=True)
    _sign_up(client, without, phone="+39 333 1234567")
    _sign_up(client, with_phone, phone="+39 333 1234567")
    bad = _sign_up(client, with_phone, email="b@example.org", phone="call me maybe")
    assert bad.status_code == 400
    with app.app_context():
        phones = dict(db.session.execute(select(Signup.rally_id, Signup.phone)).all())
    assert phones == {without: None, with_phone: "+39 333 1234567"}


@pytest.mark.parametrize(
    ("fields", "status_code"),
    [
        ({"status": RallyStatus.PENDING}, 404),
        ({"status": RallyStatus.REJECTED}, 404),
        # Cancelled before HQ approved it: it was never public.
        ({"status": RallyStatus.CANCELLED, "approved_dt": None}, 404),
        # Cancelled after approval: its page stays up with the notice, sign-ups are closed.
        ({"status": RallyStatus.CANCELLED}, 400),
    ],
    ids=["pending", "rejected", "cancelled-unapproved", "cancelled-after-approval"],
)
def test_no_sign_ups_for_rallies_that_are_not_on(app, client, rallies, fields, status_code):
    rally_id = rallies(**fields)
    response = post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": "Ana", "email": "ana@example.org"},
        page="/auth/register",
    )
    assert response.status_code == status_code
    if status_code == 400:
        assert "Sign-ups for this rally are closed." in response.get_data(as_text=True)
    assert _signups(app, rally_id) == []


def test_past_rallies_take_no_sign_ups(app, client, rallies):
    from datetime import timedelta

    from rallyhub.models import utcnow

    rally_id = rallies(start_dt=utcnow() - timedelta(days=2))
    assert 'id="signup"' not in client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    response = post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": "Ana", "email": "ana@example.org"},
        page="/auth/register",
    )
    assert response.status_code == 400
    assert "closed" in response.get_data(as_text=True)


def test_sign_up_is_rate_limited(make_app, rallies):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SIGNUP="2 per minute")
    rally_id = rallies()
    client = app.test_client()
    statuses = [_sign_up(client, rally_id, email=f"p{n}@example.org").status_code for n in range(3)]
    assert statuses == [302, 302, 429]


def test_simultaneous_sign_ups_with_one_email_leave_one_row(app, rallies):
    rally_id = rallies(capacity=5)
    clients = [app.test_client() for _ in range(8)]
    # The rally page is the same for everyone (no session, no token): the browser's Origin
    # header vouches for the form.
    tokens = ["http://localhost"] * len(clients)
    barrier = threading.Barrier(len(clients))
    statuses = []

    def submit(client, origin, n):
        barrier.wait()
        response = client.post(
            f"/rallies/{rally_id}/signup",
            data={"name": f"Ana {n}", "email": "same@example.org"},
            headers={"Origin": origin},
        )
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=submit, args=(c, t, n))
        for n, (c, t) in enumerate(zip(clients, tokens, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302] * len(clients)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 1


def test_simultaneous_sign_ups_never_overfill_a_rally(app, rallies):
    rally_id = rallies(capacity=3)
    clients = [app.test_client() for _ in range(10)]
    # The rally page is the same for everyone (no session, no token): the browser's Origin
    # header vouches for the form.
    tokens = ["http://localhost"] * len(clients)
    barrier = threading.Barrier(len(clients))

    def submit(client, origin, n):
        barrier.wait()
        client.post(
            f"/rallies/{rally_id}/signup",
            data={"name": "P", "email": f"p{n}@example.org"},
            headers={"Origin": origin},
        )

    threads = [
        threading.Thread(target=submit, args=(c, t, n))
        for n, (c, t) in enumerate(zip(clients, tokens, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [s for _, _, s in _signups(app, rally_id)]
    assert len(statuses) == 10
    assert statuses.count(SignupStatus.GOING) == 3
    assert statuses.count(SignupStatus.WAITLISTED) == 7


def test_manage_link_is_redacted_from_the_access_log():
    from rallyhub.security import redact_path

    assert redact_path("GET /s/AbC_123-xyz HTTP/1.1") == "GET /s/… HTTP/1.1"
    assert re.search("AbC", redact_path("/s/AbC/cancel")) is None


def test_the_manage_page_leads_back_to_the_rally_and_its_calendar(app, client, rallies, outbox):
    rally_id = rallies(title="Rally in Lisbon")
    _sign_up(client, rally_id)
    manage = link_in(outbox()[0], "/s/")
    page = client.get(manage).get_data(as_text=True)
    assert f'href="/rallies/{rally_id}"' in page
    assert f'href="/rallies/{rally_id}.ics"' in page
    # Saving and cancelling are apart, and cancelling looks different.
    save, cancel = page.index("Save"), page.index('class="button button-danger"')
    assert save < page.index('class="danger-zone"') < cancel
    with app.app_context():
        from rallyhub.rallies.models import Rally

        db.session.get(Rally, rally_id).status = RallyStatus.PENDING  # back in review
        db.session.commit()
    hidden = client.get(manage).get_data(as_text=True)
    assert f'href="/rallies/{rally_id}.ics"' not in hidden, "no link to a page that is not up"


def test_cancelling_asks_first_and_changes_nothing_until_confirmed(app, client, rallies, outbox):
    rally_id = rallies()
    _sign_up(client, rally_id)
    link = link_in(outbox()[0], "/s/")
    asked = post_form(client, f"{link}/cancel", {}, page=link)
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "Cancel your sign-up?" in page and 'name="confirm" value="yes"' in page
    assert asked.headers["Cache-Control"] == "no-store"
    assert _signups(app, rally_id)[0][2] is SignupStatus.GOING
    done = post_form(client, f"{link}/cancel", {"confirm": "yes"}, page=link)
    assert done.status_code == 302
    assert _signups(app, rally_id)[0][2] is SignupStatus.CANCELLED
