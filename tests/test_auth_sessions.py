"""Your sessions: a coarse device and rough ages, never an address or a User-Agent; logging
one session or all of them out, on the server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update

from rallyhub.auth.devices import describe_device
from rallyhub.auth.models import UserSession
from rallyhub.extensions import db
from rallyhub.models import utcnow
from tests.conftest import post_form

FIREFOX_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


def _browser(app, user_agent: str, address: str):
    """A test client that sends this User-Agent from this address."""
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    return client


def _sign_in(client, email="org@example.org"):
    response = post_form(
        client, "/auth/login", {"email": email, "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    return client


def _signed_in(client) -> bool:
    return b"Sign out" in client.get("/").data


def _rows(app) -> list[UserSession]:
    with app.app_context():
        return db.session.scalars(select(UserSession)).all()


def _sessions_page(client) -> BeautifulSoup:
    response = client.get("/auth/sessions")
    assert response.status_code == 200
    return BeautifulSoup(response.data, "html.parser")


def _listed(page: BeautifulSoup) -> list[str]:
    return [" ".join(li.get_text(" ", strip=True).split()) for li in page.select("li.session")]


def test_sessions_show_a_coarse_device_and_no_address_or_user_agent(app, users):
    users(email="org@example.org")
    phone = _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"))
    page = _sessions_page(phone)
    (item,) = _listed(page)
    assert item.startswith("Firefox on Android This device")
    html = str(page)
    for leak in ("203.0.113.7", "rv:128.0", "Gecko", "Mobile", "128.0"):
        assert leak not in html
    # Nothing else is kept either: the row holds the two words, not the string or address.
    (row,) = _rows(app)
    assert row.device == "firefox android"
    values = " ".join(str(getattr(row, c.key)) for c in UserSession.__table__.columns)
    assert "203.0.113" not in values and "Gecko" not in values and "Mozilla" not in values


def test_every_session_is_listed_and_only_this_one_is_marked(app, users):
    users(email="org@example.org")
    phone = _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"))
    laptop = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    listed = _listed(_sessions_page(laptop))
    assert len(listed) == 2
    assert [item for item in listed if "This device" in item] == [
        next(item for item in listed if item.startswith("Chrome on Windows"))
    ]
    assert any(item.startswith("Firefox on Android") for item in listed)
    (marked,) = [item for item in _listed(_sessions_page(phone)) if "This device" in item]
    assert marked.startswith("Firefox on Android")


def test_another_accounts_sessions_are_not_listed(app, users):
    users(email="org@example.org")
    users(email="ana@example.org")
    _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"), "ana@example.org")
    mine = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    assert len(_listed(_sessions_page(mine))) == 1


def test_ages_are_rough(app, users):
    users(email="org@example.org")
    _sign_in(_browser(app, SAFARI_IPHONE, "203.0.113.7"))
    laptop = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    with app.app_context():
        db.session.execute(
            update(UserSession)
            .where(UserSession.device == "safari ios")
            .values(
                created_dt=utcnow() - timedelta(hours=11, minutes=7),
                last_seen_dt=utcnow() - timedelta(minutes=20, seconds=13),
            )
        )
        db.session.commit()
    phone, this = sorted(_listed(_sessions_page(laptop)), key=lambda item: "This" in item)
    assert (
        phone == "Safari on iPhone or iPad Signed in 11 hours ago · active 20 minutes ago Log out"
    )
    assert this.startswith("Chrome on Windows This device Signed in")
    assert "active now" in this


def test_a_session_is_stamped_at_most_every_few_minutes(app, users):
    users(email="org@example.org")
    client = _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"))
    a_while_ago = utcnow() - timedelta(minutes=30)
    a_moment_ago = utcnow() - timedelta(minutes=1)
    with app.app_context():
        db.session.execute(update(UserSession).values(last_seen_dt=a_while_ago))
        db.session.commit()
    client.get("/")
    (row,) = _rows(app)
    assert utcnow() - row.last_seen_dt < timedelta(seconds=30)
    with app.app_context():
        db.session.execute(update(UserSession).values(last_seen_dt=a_moment_ago))
        db.session.commit()
    client.get("/")
    (row,) = _rows(app)
    assert abs(row.last_seen_dt - a_moment_ago) < timedelta(seconds=1), "not written again"


def test_sessions_that_can_no_longer_be_used_are_not_listed(app, users):
    users(email="org@example.org")
    _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"))
    current = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    with app.app_context():
        # The phone's session has been idle for longer than the idle lifetime.
        db.session.execute(
            update(UserSession)
            .where(UserSession.device == "firefox android")
            .values(last_seen_dt=utcnow() - timedelta(hours=3))
        )
        db.session.commit()
    listed = _listed(_sessions_page(current))
    assert len(listed) == 1 and listed[0].startswith("Chrome on Windows")


def test_log_out_everywhere_asks_first_then_ends_every_session(app, users):
    users(email="org@example.org")
    phone = _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"))
    laptop = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    asked = post_form(laptop, "/auth/logout-everywhere", {}, page="/auth/sessions")
    assert asked.status_code == 200
    assert b"Log out everywhere?" in asked.data
    assert _signed_in(phone) and _signed_in(laptop)
    assert len(_rows(app)) == 2

    response = post_form(
        laptop, "/auth/logout-everywhere", {"confirm": "yes"}, page="/auth/sessions"
    )
    assert response.status_code == 302
    assert not _signed_in(phone)
    assert not _signed_in(laptop)
    assert _rows(app) == []
    assert phone.get("/rallies/mine").status_code == 302


def test_log_out_one_other_session(app, users):
    users(email="org@example.org")
    phone = _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"))
    laptop = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    page = _sessions_page(laptop)
    phone_form = next(
        li.find("form") for li in page.select("li.session") if "Firefox" in li.get_text()
    )
    session_id = phone_form.find("input", attrs={"name": "session"})["value"]
    response = post_form(laptop, "/auth/sessions/end", {"session": session_id}, page="/")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/sessions"
    assert not _signed_in(phone)
    assert _signed_in(laptop)
    assert [row.device for row in _rows(app)] == ["chrome windows"]


def test_log_out_this_session_from_the_list(app, users):
    users(email="org@example.org")
    laptop = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    (form,) = _sessions_page(laptop).select("li.session form")
    session_id = form.find("input", attrs={"name": "session"})["value"]
    response = post_form(laptop, "/auth/sessions/end", {"session": session_id}, page="/")
    assert response.headers["Location"] == "/"
    assert not _signed_in(laptop)
    assert _rows(app) == []


def test_another_accounts_session_cannot_be_logged_out(app, users):
    users(email="org@example.org")
    users(email="ana@example.org")
    theirs = _sign_in(_browser(app, FIREFOX_ANDROID, "203.0.113.7"), "ana@example.org")
    mine = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    (their_row,) = [row for row in _rows(app) if row.device == "firefox android"]
    response = post_form(mine, "/auth/sessions/end", {"session": their_row.id}, page="/")
    assert response.status_code == 404
    assert _signed_in(theirs)
    assert len(_rows(app)) == 2


@pytest.mark.parametrize("value", [None, "", "x", "z" * 64, "a" * 65, "\x00" * 64])
def test_a_bad_session_value_is_a_clear_4xx(app, users, value):
    users(email="org@example.org")
    client = _sign_in(_browser(app, CHROME_WINDOWS, "198.51.100.4"))
    data = {} if value is None else {"session": value}
    response = post_form(client, "/auth/sessions/end", data, page="/")
    assert response.status_code in (400, 404)
    assert _signed_in(client)


def test_the_sessions_pages_need_a_sign_in(client):
    assert client.get("/auth/sessions").status_code == 302
    response = post_form(client, "/auth/sessions/end", {"session": "a" * 64}, page="/auth/login")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (FIREFOX_ANDROID, "firefox android"),
        (SAFARI_IPHONE, "safari ios"),
        (CHROME_WINDOWS, "chrome windows"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            "edge windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
            "samsung android",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Safari/605.1.15",
            "safari macos",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "firefox linux"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
            "chrome ios",
        ),
        ("curl/8.5.0", "other other"),
        ("", "other other"),
        (None, "other other"),
    ],
)
def test_devices_are_described_in_two_words(user_agent, expected):
    assert describe_device(user_agent) == expected
