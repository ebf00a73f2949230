"""HQ manages accounts: promote, demote, disable; everyone else is refused."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role, User
from rallyhub.extensions import db
from tests.conftest import post_form
from tests.factories import DEFAULT_PASSWORD


def _role(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).role


@pytest.fixture
def hq(users, auth):
    hq_id = users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    return hq_id


def test_hq_lists_accounts_and_searches(client, users, hq):
    users(email="elin@example.org", name="Elin Lindqvist")
    users(email="jonas@example.org", name="Jonas Weber")
    page = client.get("/hq/accounts?q=lindq")
    assert page.status_code == 200
    assert b"elin@example.org" in page.data
    assert b"jonas@example.org" not in page.data


def test_hq_promotes_an_organizer_and_it_is_audited(app, client, users, hq):
    organizer = users(email="org@example.org")
    response = post_form(
        client,
        f"/hq/accounts/{organizer}/role",
        {"role": "hq", "confirm": "yes"},
        page="/hq/accounts",
    )
    assert response.status_code == 302
    assert _role(app, organizer) is Role.HQ
    with app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.target_id == organizer))
        assert (record.action, record.actor_id, record.detail) == ("account.role", hq, "hq")


def test_disabling_an_account_signs_it_out_at_once(app, client, users, hq):
    organizer = users(email="org@example.org")
    their_browser = app.test_client()
    post_form(
        their_browser, "/auth/login", {"email": "org@example.org", "password": DEFAULT_PASSWORD}
    )
    assert b"Sign out" in their_browser.get("/").data

    response = post_form(
        client, f"/hq/accounts/{organizer}/disable", {"confirm": "yes"}, page="/hq/accounts"
    )
    assert response.status_code == 302
    assert b"Sign out" not in their_browser.get("/").data
    post_form(client, f"/hq/accounts/{organizer}/enable", {}, page="/hq/accounts")
    with app.app_context():
        assert db.session.get(User, organizer).is_disabled is False


def test_hq_cannot_demote_or_disable_itself(app, client, hq):
    demote = post_form(
        client,
        f"/hq/accounts/{hq}/role",
        {"role": "organizer", "confirm": "yes"},
        page="/hq/accounts",
    )
    disable = post_form(
        client, f"/hq/accounts/{hq}/disable", {"confirm": "yes"}, page="/hq/accounts"
    )
    assert demote.status_code == disable.status_code == 400
    assert b"your own" in demote.data
    assert _role(app, hq) is Role.HQ


def test_invalid_role_and_unknown_account_are_refused(client, users, hq):
    organizer = users()
    assert (
        post_form(
            client, f"/hq/accounts/{organizer}/role", {"role": "god"}, page="/hq/accounts"
        ).status_code
        == 400
    )
    assert (
        post_form(client, "/hq/accounts/999999/disable", {}, page="/hq/accounts").status_code == 404
    )


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/hq/accounts"),
        ("post", "/hq/accounts/{id}/role"),
        ("post", "/hq/accounts/{id}/disable"),
        ("post", "/hq/accounts/{id}/enable"),
    ],
)
def test_organizers_and_anonymous_visitors_are_refused(app, client, users, auth, method, path):
    target = users(email="target@example.org")
    url = path.format(id=target)
    anonymous = getattr(client, method)(url)
    # A POST without a session has no valid CSRF token either: both refusals are fine,
    # what matters is that nothing happens.
    assert anonymous.status_code in ({302} if method == "get" else {302, 400})
    users(email="org@example.org")
    auth.login("org@example.org")
    response = (
        client.get(url) if method == "get" else post_form(client, url, {"role": "hq"}, page="/")
    )
    assert response.status_code == 403
    assert _role(app, target) is Role.ORGANIZER


@pytest.mark.parametrize(
    ("action", "data", "question"),
    [
        ("disable", {}, "Disable the account of Aram?"),
        ("role", {"role": "hq"}, "Make Aram part of HQ?"),
    ],
)
def test_disabling_and_promoting_ask_first(app, client, users, hq, action, data, question):
    organizer = users(email="org@example.org", name="Aram")
    asked = post_form(client, f"/hq/accounts/{organizer}/{action}", data, page="/hq/accounts")
    assert asked.status_code == 200
    page = BeautifulSoup(asked.data, "html.parser")
    assert page.h1.get_text() == question
    assert "button-danger" in page.select_one("form.confirm-actions button")["class"]
    with app.app_context():
        user = db.session.get(User, organizer)
        assert (user.role, user.is_disabled) == (Role.ORGANIZER, False)
    accounts = BeautifulSoup(client.get("/hq/accounts").data, "html.parser")
    danger = {b.get_text() for b in accounts.select("button.button-danger")}
    assert {"Disable", "Make HQ"} <= danger
