"""Co-organizers are invited by e-mail and join only by accepting; nothing reveals an account."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from flask_migrate import upgrade
from sqlalchemy import select, text

from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import CoorganizerInvite, rally_coorganizers
from tests.auth_data import REGISTRATION
from tests.conftest import csrf_from, link_in, post_form
from tests.factories import DEFAULT_PASSWORD
from tests.test_migrations import _fresh_urls

NEUTRAL = "This invitation cannot be accepted."


@pytest.fixture
def organizer(users, auth):
    user_id = users(email="org@example.org", name="Olga Organizer")
    auth.login("org@example.org")
    return user_id


def _client_as(app, email):
    client = app.test_client()
    if email is not None:
        response = post_form(client, "/auth/login", {"email": email, "password": DEFAULT_PASSWORD})
        assert response.status_code in (302, 303), email
    return client


def _invite(client, rally_id, email):
    return post_form(
        client,
        f"/rallies/{rally_id}/coorganizers",
        {"email": email},
        page=f"/rallies/{rally_id}/manage",
    )


def _accept(client, link):
    page = client.get(link)
    if page.status_code != 200:
        return page
    return client.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True))})


def _coorganizer_ids(app, rally_id):
    with app.app_context():
        return sorted(
            db.session.scalars(
                select(rally_coorganizers.c.user_id).where(
                    rally_coorganizers.c.rally_id == rally_id
                )
            )
        )


def _invites(app, rally_id):
    with app.app_context():
        invites = db.session.scalars(
            select(CoorganizerInvite).where(CoorganizerInvite.rally_id == rally_id)
        ).all()
        for invite in invites:
            db.session.expunge(invite)
        return invites


def _body_without_link(message):
    return re.sub(r"/rallies/invites/\S+", "/rallies/invites/LINK", message.get_content())


def test_invitee_with_an_account_gets_rights_only_after_accepting(
    app, client, organizer, rallies, users, outbox
):
    rally_id = rallies(organizer_id=organizer, title="Rally for the prisoners")
    friend_id = users(email="friend@example.org", name="Farid Friend")
    response = _invite(client, rally_id, "Friend@Example.org")
    assert response.status_code == 302

    page = client.get(f"/rallies/{rally_id}/manage").get_data(as_text=True)
    assert "friend@example.org" in page
    assert "Farid Friend" not in page, "the page must not name an account"
    friend = _client_as(app, "friend@example.org")
    assert friend.get(f"/rallies/{rally_id}/edit").status_code == 403
    assert _coorganizer_ids(app, rally_id) == []

    (message,) = [m for m in outbox() if m["To"] == "friend@example.org"]
    link = link_in(message, "/rallies/invites/")
    invitation = friend.get(link).get_data(as_text=True)
    assert "Rally for the prisoners" in invitation
    response = _accept(friend, link)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/rallies/{rally_id}/manage")
    assert friend.get(f"/rallies/{rally_id}/edit").status_code == 200
    assert _coorganizer_ids(app, rally_id) == [friend_id]
    assert _invites(app, rally_id) == []
    page = client.get(f"/rallies/{rally_id}/manage").get_data(as_text=True)
    assert "Farid Friend" in page, "accepted co-organizers are listed"
    assert _accept(friend, link).status_code == 404, "a link accepts once"


def test_the_inviter_sees_the_same_whether_or_not_the_address_has_an_account(
    app, client, organizer, rallies, users, outbox
):
    rally_id = rallies(organizer_id=organizer)
    users(email="known@example.org")
    known = _invite(client, rally_id, "known@example.org")
    known_page = client.get(f"/rallies/{rally_id}/manage").get_data(as_text=True)
    fresh = _invite(client, rally_id, "fresh@example.org")
    fresh_page = client.get(f"/rallies/{rally_id}/manage").get_data(as_text=True)

    assert known.status_code == fresh.status_code == 302
    assert known.headers["Location"] == fresh.headers["Location"]
    assert "We have sent an invitation to known@example.org" in known_page
    assert "We have sent an invitation to fresh@example.org" in fresh_page
    rows = re.findall(r"<li>(\S+@example\.org) —\s*(\w+)", fresh_page)
    assert rows == [("known@example.org", "invited"), ("fresh@example.org", "invited")]
    # Both addresses are sent the same message, so even a mail log tells nothing.
    by_address = {m["To"]: m for m in outbox()}
    assert by_address["known@example.org"]["Subject"] == by_address["fresh@example.org"]["Subject"]
    assert _body_without_link(by_address["known@example.org"]) == _body_without_link(
        by_address["fresh@example.org"]
    )


def test_newcomer_registers_confirms_and_then_accepts(app, client, organizer, rallies, outbox):
    rally_id = rallies(organizer_id=organizer)
    _invite(client, rally_id, "new@example.org")
    link = link_in(outbox()[-1], "/rallies/invites/")

    newcomer = app.test_client()
    anonymous = newcomer.get(link).get_data(as_text=True)
    assert "Sign in to accept" in anonymous and "Register" in anonymous
    post_form(newcomer, "/auth/register", {**REGISTRATION, "email": "new@example.org"})
    confirm = link_in(outbox()[-1], "/auth/confirm/")
    page = newcomer.get(confirm).get_data(as_text=True)
    newcomer.post(confirm, data={"csrf_token": csrf_from(page)})
    assert _coorganizer_ids(app, rally_id) == [], "confirming an address accepts nothing"

    response = post_form(
        newcomer,
        f"/auth/login?next={link}",
        {"email": "new@example.org", "password": REGISTRATION["password"]},
        page="/auth/login",
    )
    assert response.headers["Location"].endswith(link)
    assert newcomer.get(f"/rallies/{rally_id}/edit").status_code == 403
    assert _accept(newcomer, link).status_code == 302
    assert newcomer.get(f"/rallies/{rally_id}/edit").status_code == 200


@pytest.mark.parametrize("who", ["anonymous", "other", "coorganizer", "hq"])
def test_only_the_invited_address_can_accept_and_everyone_else_hears_the_same(
    app, client, organizer, rallies, users, outbox, who
):
    rally_id = rallies(organizer_id=organizer)
    users(email="invited@example.org")
    users(email="other@example.org")
    users(email="hq@example.org", role=Role.HQ)
    co_id = users(email="co@example.org")
    with app.app_context():
        db.session.execute(rally_coorganizers.insert().values(rally_id=rally_id, user_id=co_id))
        db.session.commit()
    _invite(client, rally_id, "invited@example.org")
    link = link_in(outbox()[-1], "/rallies/invites/")
    email = {
        "anonymous": None,
        "other": "other@example.org",
        "coorganizer": "co@example.org",
        "hq": "hq@example.org",
    }[who]
    stranger = _client_as(app, email)
    # The page offers the anonymous a sign-in link, not the button; the POST is forged.
    response = post_form(stranger, link, {}, page=link if email else "/auth/login")
    assert response.status_code == 404
    assert NEUTRAL in response.get_data(as_text=True)
    assert _coorganizer_ids(app, rally_id) == [co_id]
    assert len(_invites(app, rally_id)) == 1, "a refused accept leaves the invitation"


def test_unknown_expired_and_withdrawn_links_give_the_same_answer(
    app, client, organizer, rallies, users, outbox
):
    rally_id = rallies(organizer_id=organizer)
    users(email="late@example.org")
    users(email="gone@example.org")
    _invite(client, rally_id, "late@example.org")
    late = link_in(outbox()[-1], "/rallies/invites/")
    _invite(client, rally_id, "gone@example.org")
    gone = link_in(outbox()[-1], "/rallies/invites/")
    with app.app_context():
        db.session.execute(
            CoorganizerInvite.__table__.update()
            .where(CoorganizerInvite.email == "late@example.org")
            .values(expires_dt=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
    (gone_invite,) = [i for i in _invites(app, rally_id) if i.email == "gone@example.org"]
    post_form(
        client,
        f"/rallies/{rally_id}/invites/{gone_invite.id}/withdraw",
        {},
        page=f"/rallies/{rally_id}/manage",
    )
    manage = client.get(f"/rallies/{rally_id}/manage").get_data(as_text=True)
    assert re.findall(r"<li>(\S+@example\.org) —\s*(\w+)", manage) == [
        ("late@example.org", "expired")
    ]

    answers = []
    for email, link in [("late@example.org", late), ("gone@example.org", gone)]:
        invitee = _client_as(app, email)
        get = invitee.get(link)
        csrf = csrf_from(invitee.get("/auth/password").get_data(as_text=True))
        post = invitee.post(link, data={"csrf_token": csrf})
        answers += [get, post]
    unknown = app.test_client().get("/rallies/invites/" + "x" * 43)
    too_long = app.test_client().get("/rallies/invites/" + "x" * 600)
    answers += [unknown, too_long]
    assert {a.status_code for a in answers} == {404}
    assert all(NEUTRAL in a.get_data(as_text=True) for a in answers)
    assert _coorganizer_ids(app, rally_id) == []


def test_invitations_expire_after_the_configured_days(make_app, users, rallies, outbox):
    app = make_app(COORGANIZER_INVITE_DAYS=2)
    rally_id = rallies(organizer_id=users(email="org2@example.org"))
    before = utcnow()
    _invite(_client_as(app, "org2@example.org"), rally_id, "someone@example.org")
    (invite,) = _invites(app, rally_id)
    assert before + timedelta(days=2) <= invite.expires_dt <= utcnow() + timedelta(days=2)
    assert "expires in 2 days" in outbox()[-1].get_content()


def test_inviting_again_sends_a_new_link_and_the_old_one_stops_working(
    app, client, organizer, rallies, users, outbox
):
    rally_id = rallies(organizer_id=organizer)
    users(email="friend@example.org")
    _invite(client, rally_id, "friend@example.org")
    first = link_in(outbox()[-1], "/rallies/invites/")
    _invite(client, rally_id, "friend@example.org")
    second = link_in(outbox()[-1], "/rallies/invites/")
    assert first != second
    assert len(_invites(app, rally_id)) == 1
    friend = _client_as(app, "friend@example.org")
    assert friend.get(first).status_code == 404
    assert _accept(friend, second).status_code == 302


def test_removed_coorganizer_loses_access(app, client, organizer, rallies, users, outbox):
    rally_id = rallies(organizer_id=organizer)
    friend_id = users(email="friend@example.org")
    _invite(client, rally_id, "friend@example.org")
    friend = _client_as(app, "friend@example.org")
    _accept(friend, link_in(outbox()[-1], "/rallies/invites/"))
    remove = f"/rallies/{rally_id}/coorganizers/{friend_id}/remove"
    manage = f"/rallies/{rally_id}/manage"
    button = BeautifulSoup(client.get(manage).data, "html.parser").select_one(
        f"form[action='{remove}'] button"
    )
    assert "button-danger" in button["class"], "it looks different from saving"
    # First the question, which changes nothing; then the confirmed removal.
    asked = post_form(client, remove, {}, page=manage)
    assert asked.status_code == 200
    question = BeautifulSoup(asked.data, "html.parser")
    assert "Remove Person" in question.select_one("h1").get_text()
    assert question.select_one(f"form[action='{remove}'] input[name=confirm][value=yes]")
    assert friend.get(f"/rallies/{rally_id}/edit").status_code == 200
    assert post_form(client, remove, {"confirm": "yes"}, page=manage).status_code == 302
    assert friend.get(f"/rallies/{rally_id}/edit").status_code == 403


# expected status per person (anonymous, owner, other organizer, co-organizer, HQ)
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (None, 302),
        ("org@example.org", 302),
        ("other@example.org", 403),
        ("co@example.org", 302),
        ("hq@example.org", 302),
    ],
)
def test_who_may_withdraw_an_invitation(app, organizer, rallies, users, who, expected):
    rally_id = rallies(organizer_id=organizer)
    users(email="other@example.org")
    users(email="hq@example.org", role=Role.HQ)
    co_id = users(email="co@example.org")
    with app.app_context():
        db.session.execute(rally_coorganizers.insert().values(rally_id=rally_id, user_id=co_id))
        db.session.commit()
    _invite(_client_as(app, "org@example.org"), rally_id, "invited@example.org")
    (invite,) = _invites(app, rally_id)
    client = _client_as(app, who)
    response = post_form(
        client, f"/rallies/{rally_id}/invites/{invite.id}/withdraw", {}, page="/auth/register"
    )
    assert response.status_code == expected
    if who is None:
        assert "/auth/login" in response.headers["Location"]
    withdrawn = expected == 302 and who is not None
    assert len(_invites(app, rally_id)) == (0 if withdrawn else 1)


def test_other_organizers_cannot_invite_and_see_nothing(app, rallies, users, outbox):
    rally_id = rallies(organizer_id=users(email="owner@example.org"))
    users(email="other@example.org")
    other = _client_as(app, "other@example.org")
    assert _invite(other, rally_id, "someone@example.org").status_code == 403
    assert _invites(app, rally_id) == []
    assert [m for m in outbox() if m["To"] == "someone@example.org"] == []


def test_an_invitation_of_another_rally_cannot_be_withdrawn_here(
    app, client, organizer, rallies, users
):
    mine = rallies(organizer_id=organizer)
    theirs = rallies(organizer_id=users(email="owner@example.org"))
    _invite(_client_as(app, "owner@example.org"), theirs, "invited@example.org")
    (invite,) = _invites(app, theirs)
    response = post_form(
        client, f"/rallies/{mine}/invites/{invite.id}/withdraw", {}, page=f"/rallies/{mine}/manage"
    )
    assert response.status_code == 404
    assert len(_invites(app, theirs)) == 1


@pytest.mark.parametrize(
    "email", ["", "not-an-address", "a@b@example.org", "x" * 250 + "@example.org", "a\n@b.org"]
)
def test_bad_addresses_are_refused_at_the_field(app, client, organizer, rallies, outbox, email):
    rally_id = rallies(organizer_id=organizer)
    response = _invite(client, rally_id, email)
    assert response.status_code == 400
    assert _invites(app, rally_id) == []
    assert outbox() == []


def test_inviting_is_rate_limited(make_app, users, rallies):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_COORGANIZER="2 per hour")
    rally_id = rallies(organizer_id=users(email="busy@example.org"))
    client = _client_as(app, "busy@example.org")
    statuses = [_invite(client, rally_id, f"p{n}@example.org").status_code for n in range(3)]
    assert statuses == [302, 302, 429]
    assert len(_invites(app, rally_id)) == 2


def test_existing_invitations_survive_the_migration(make_app, tmp_path):
    for url in _fresh_urls(tmp_path):
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="a26a8815a44c")
            with db.engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO users (id, email, name, password_hash, role, is_disabled,"
                        " session_nonce, created_dt) VALUES (1, 'o@example.org', 'O', 'x',"
                        " 'organizer', false, 'n', '2026-11-01 10:00:00')"
                    )
                )
                connection.execute(
                    text(
                        "INSERT INTO campaigns (id, slug, name, hashtag, description, start_date,"
                        " is_active, created_dt) VALUES (1, 'c', 'C', '#C', '', '2026-01-01',"
                        " true, '2026-11-01 10:00:00')"
                    )
                )
                connection.execute(
                    text(
                        "INSERT INTO rallies (id, campaign_id, organizer_id, title, description,"
                        " city, country_code, meeting_point, latitude, longitude,"
                        " public_latitude, public_longitude, public_band, public_x, public_y,"
                        " public_z, timezone, start_dt, end_dt, languages, status, visibility,"
                        " review_note, cancel_note, created_dt, updated_dt, asks_phone,"
                        " walk_in_count) VALUES (1, 1, 1, 'R', '', 'C', 'AM', '', 0, 0, 0, 0,"
                        " 360, 1, 0, 0, 'UTC', '2027-01-01 00:00:00', '2027-01-01 02:00:00',"
                        " '', 'approved', 'public', '', '', '2026-11-01 10:00:00',"
                        " '2026-11-01 10:00:00', false, 0)"
                    )
                )
                connection.execute(
                    text(
                        "INSERT INTO coorganizer_invites (rally_id, email, invited_by_id,"
                        " created_dt) VALUES (1, 'a@example.org', 1, '2026-11-01 10:00:00'),"
                        " (1, 'b@example.org', 1, '2026-11-02 10:00:00')"
                    )
                )
            upgrade()
            invites = db.session.scalars(
                select(CoorganizerInvite).order_by(CoorganizerInvite.id)
            ).all()
            rows = [(i.email, i.expires_dt - i.created_dt, len(i.token_hash)) for i in invites]
            hashes = {i.token_hash for i in invites}
            db.session.rollback()
            db.engine.dispose()
        assert rows == [
            ("a@example.org", timedelta(days=7), 64),
            ("b@example.org", timedelta(days=7), 64),
        ]
        assert len(hashes) == 2


@pytest.mark.parametrize("invite_id", ["0", "999999", str(2**70)])
def test_withdrawing_an_unknown_invitation_is_a_404(app, client, organizer, rallies, invite_id):
    rally_id = rallies(organizer_id=organizer)
    response = post_form(
        client,
        f"/rallies/{rally_id}/invites/{invite_id}/withdraw",
        {},
        page=f"/rallies/{rally_id}/manage",
    )
    assert response.status_code == 404
