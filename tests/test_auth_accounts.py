"""Registration, confirmation, sign-in, passwords: the flows and their denials."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, select

from rallyhub.auth.models import User
from rallyhub.extensions import db
from tests.auth_data import REGISTRATION
from tests.conftest import csrf_from, link_in, post_form
from tests.factories import DEFAULT_PASSWORD

GOOD = REGISTRATION


def _user(app, email):
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_register_confirm_and_sign_in(app, client, auth, outbox):
    response = post_form(client, "/auth/register", GOOD)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/check-inbox")
    user = _user(app, "marta@example.org")
    assert user.email_confirmed_dt is None
    assert user.password_hash.startswith("$argon2id$")

    # Unconfirmed accounts cannot sign in, even with the right password; they get a new link.
    response = auth.login("marta@example.org", GOOD["password"])
    assert response.status_code == 200
    assert b"Sign out" not in response.data
    assert b"confirm your e-mail" in response.data

    messages = outbox()
    assert [m["To"] for m in messages] == ["marta@example.org"] * 2
    confirm_path = link_in(messages[0], "/auth/confirm/")
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert _user(app, "marta@example.org").email_confirmed_dt is None, "GET must change nothing"
    response = client.post(
        confirm_path, data={"csrf_token": csrf_from(page.get_data(as_text=True))}
    )
    assert response.status_code == 302
    assert _user(app, "marta@example.org").email_confirmed_dt is not None

    response = auth.login("Marta@Example.org ", GOOD["password"])
    assert response.status_code == 302
    assert b"Sign out" in client.get("/").data


def test_registering_a_known_email_reveals_nothing(app, client, users, outbox):
    users(email="known@example.org")
    known = post_form(client, "/auth/register", {**GOOD, "email": "known@example.org"})
    fresh = post_form(client, "/auth/register", {**GOOD, "email": "fresh@example.org"})
    assert known.status_code == fresh.status_code == 302
    assert known.headers["Location"] == fresh.headers["Location"]
    notice = next(m for m in outbox() if m["To"] == "known@example.org")
    assert "already has one" in notice.get_content()
    with app.app_context():
        assert (
            db.session.scalar(
                select(db.func.count()).select_from(User).where(User.email == "known@example.org")
            )
            == 1
        )


def test_login_failure_message_is_the_same_for_unknown_email_and_wrong_password(users, auth):
    users(email="real@example.org")
    wrong_password = auth.login("real@example.org", "not the password at all")
    unknown_email = auth.login("ghost@example.org", "not the password at all")
    assert wrong_password.status_code == unknown_email.status_code == 400
    message = b"The e-mail or password is not right."
    assert message in wrong_password.data
    assert message in unknown_email.data


def test_disabled_account_cannot_sign_in(users, auth):
    users(email="off@example.org", disabled=True)
    response = auth.login("off@example.org")
    assert response.status_code == 403
    assert b"disabled" in response.data


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", b"valid e-mail address"),
        ("email", "", b"This field is required"),
        ("name", "", b"This field is required"),
        ("name", "x" * 121, b"120"),
        ("password", "short", b"between 10 and 256"),
        ("password", "a" * 300, b"between 10 and 256"),
        ("password", "aaaaaaaaaaaa", b"more different characters"),
        ("password", "password1234", b"too common"),
        ("password", "marta-rules-2024", b"must not contain your e-mail"),
        ("confirm", "something-else-entirely", b"The passwords differ"),
    ],
)
def test_registration_validates_every_field(app, client, field, value, message):
    data = {**GOOD, field: value}
    if field == "password":
        data["confirm"] = value
    response = post_form(client, "/auth/register", data)
    assert response.status_code == 400
    assert message in response.data
    assert _user(app, "marta@example.org") is None


def test_unicode_names_and_emails_are_kept(app, client):
    response = post_form(
        client, "/auth/register", {**GOOD, "name": "Արամ Սարգսյան", "email": "aram@例え.jp"}
    )
    assert response.status_code == 302
    assert _user(app, "aram@例え.jp").name == "Արամ Սարգսյան"


def test_wrong_csrf_token_gives_a_clear_400(client):
    client.get("/auth/login")
    response = client.post(
        "/auth/login",
        data={"csrf_token": "forged", "email": "a@b.org", "password": "whatever-it-is"},
    )
    assert response.status_code == 400
    assert b"form expired" in response.data


def test_logout_is_a_post_and_ends_the_session(client, users, auth):
    users(email="org@example.org")
    auth.login("org@example.org")
    assert client.get("/auth/logout").status_code == 405
    assert b"Sign out" in client.get("/").data
    auth.logout()
    assert b"Sign out" not in client.get("/").data
    assert client.get("/auth/password").status_code == 302


def test_login_redirects_only_to_local_paths(client, users):
    users(email="org@example.org")
    for target, expected in [
        ("/hq/accounts", "/hq/accounts"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
    ]:
        response = post_form(
            client,
            f"/auth/login?next={target}",
            {"email": "org@example.org", "password": DEFAULT_PASSWORD},
            page="/auth/login",
        )
        assert response.headers["Location"] == expected, target
        client.post(
            "/auth/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))}
        )


def test_session_cookie_is_httponly_and_samesite_lax(client, users, auth):
    users(email="org@example.org")
    response = auth.login("org@example.org")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "rallyhub_session" in h)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie, "the session is permanent so it has an idle lifetime"


def test_only_pages_renew_an_unchanged_session(client, users, auth):
    users(email="org@example.org")
    auth.login("org@example.org")

    def sets_cookie(path):
        return any("rallyhub_session" in h for h in client.get(path).headers.getlist("Set-Cookie"))

    assert sets_cookie("/"), "a page renews the idle lifetime"
    assert not sets_cookie("/map/points.json")
    assert not sets_cookie("/api/v1/events")


def test_a_late_background_answer_keeps_the_sign_out_notice(client, users, auth):
    users(email="org@example.org")
    auth.login("org@example.org")
    signed_in = client.get_cookie("rallyhub_session").value
    auth.logout()
    # The map's request left before the sign-out, with the old cookie, and answers after it.
    signed_out = client.get_cookie("rallyhub_session").value
    client.set_cookie("rallyhub_session", signed_in)
    late = client.get("/map/points.json")
    assert late.status_code == 200 and not late.headers.getlist("Set-Cookie")
    client.set_cookie("rallyhub_session", signed_out)
    assert "You are signed out." in client.get("/").get_data(as_text=True)


def test_session_cookie_is_secure_outside_development(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    from rallyhub.config import defaults

    assert defaults(Path(app.instance_path), "production")["SESSION_COOKIE_SECURE"] is True
    assert defaults(Path(app.instance_path), "development")["SESSION_COOKIE_SECURE"] is False


def test_session_ends_after_the_absolute_lifetime(client, users, auth):
    users(email="org@example.org")
    auth.login("org@example.org")
    with client.session_transaction() as session:
        session["_login_ts"] -= 13 * 3600
    assert b"Sign out" not in client.get("/").data


def test_change_password_checks_the_current_one_and_ends_other_sessions(app, users, auth, client):
    users(email="org@example.org")
    other = app.test_client()
    auth.login("org@example.org")
    post_form(other, "/auth/login", {"email": "org@example.org", "password": DEFAULT_PASSWORD})
    assert b"Sign out" in other.get("/").data

    wrong = post_form(
        client,
        "/auth/password",
        {
            "current_password": "not it at all",
            "password": "new-granite-lake-77",
            "confirm": "new-granite-lake-77",
        },
    )
    assert wrong.status_code == 400
    assert b"current password is not right" in wrong.data

    right = post_form(
        client,
        "/auth/password",
        {
            "current_password": DEFAULT_PASSWORD,
            "password": "new-granite-lake-77",
            "confirm": "new-granite-lake-77",
        },
    )
    assert right.status_code == 302
    assert b"Sign out" in client.get("/").data, "this session stays signed in"
    assert b"Sign out" not in other.get("/").data, "the other session ended"
    auth.logout()
    assert auth.login("org@example.org", "new-granite-lake-77").status_code == 302


def test_password_reset_says_the_same_for_unknown_emails_and_works_once(app, users, client, outbox):
    users(email="org@example.org")
    unknown = post_form(client, "/auth/reset", {"email": "ghost@example.org"})
    known = post_form(client, "/auth/reset", {"email": "org@example.org"})
    assert unknown.status_code == known.status_code == 302
    assert unknown.headers["Location"] == known.headers["Location"]
    notice, message = outbox()
    assert notice["To"] == "ghost@example.org" and "/auth/reset/" not in notice.get_content()
    assert "no active account" in notice.get_content()
    path = link_in(message, "/auth/reset/")
    response = post_form(
        client, path, {"password": "fresh-maple-owl-41", "confirm": "fresh-maple-owl-41"}
    )
    assert response.status_code == 302
    again = client.get(path)
    assert again.status_code == 400
    assert b"invalid, used or expired" in again.data


@pytest.mark.parametrize("disabled", [False, True], ids=["unknown", "disabled"])
def test_password_reset_does_the_same_work_for_every_address(app, users, client, disabled):
    """The same statements, in the same order, whether or not the address has an account:
    the time of the answer tells nothing either."""
    users(email="org@example.org")
    users(email="off@example.org", disabled=True)
    other = "off@example.org" if disabled else "ghost@example.org"
    page = client.get("/auth/reset")  # the CSRF token's session, before counting

    def statements_of(email):
        sent = []

        def remember(_conn, _cursor, statement, *_args):
            sent.append(statement)

        with app.app_context():
            event.listen(db.engine, "before_cursor_execute", remember)
            try:
                response = client.post(
                    "/auth/reset",
                    data={"email": email, "csrf_token": csrf_from(page.get_data(as_text=True))},
                )
            finally:
                event.remove(db.engine, "before_cursor_execute", remember)
        assert response.status_code == 302
        return sent

    known = statements_of("org@example.org")
    assert any(s.startswith("INSERT INTO outbox_messages") for s in known), known
    assert statements_of(other) == known


def test_tampered_links_are_refused(client):
    assert client.get("/auth/reset/forged.token.value").status_code == 400
    page = client.get("/auth/confirm/forged")
    response = client.post(
        "/auth/confirm/forged", data={"csrf_token": csrf_from(page.get_data(as_text=True))}
    )
    assert response.status_code == 400
    assert b"invalid or has expired" in response.data


def test_production_hashing_profile_meets_owasp(make_app):
    from rallyhub.config import defaults

    settings = defaults(Path(make_app().instance_path), "production")
    hasher = PasswordHasher(
        time_cost=settings["ARGON2_TIME_COST"],
        memory_cost=settings["ARGON2_MEMORY_COST_KIB"],
        parallelism=settings["ARGON2_PARALLELISM"],
    )
    params = hasher.hash("x").split("$")[3]
    assert params == "m=19456,t=2,p=1"


def test_login_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    statuses = [
        post_form(
            client, "/auth/login", {"email": "a@example.org", "password": "wrong-password-1"}
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    assert b"Too many attempts" in post_form(client, "/auth/login", {}).data


def test_registration_is_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_REGISTER="2 per minute")
    client = app.test_client()
    statuses = [
        post_form(client, "/auth/register", {**GOOD, "email": f"p{i}@example.org"}).status_code
        for i in range(3)
    ]
    assert statuses == [302, 302, 429]


def test_rate_limits_are_shared_through_redis_between_processes(make_app):
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_LOGIN": "2 per minute",
        "RATELIMIT_STORAGE_URI": url,
    }
    first, second = make_app(**settings).test_client(), make_app(**settings).test_client()
    data = {"email": "a@example.org", "password": "wrong-password-1"}
    assert post_form(first, "/auth/login", data).status_code == 400
    assert post_form(second, "/auth/login", data).status_code == 400
    assert post_form(first, "/auth/login", data).status_code == 429
    # The counters live in Redis, where every other process reads them too.
    store = redis.Redis.from_url(url)
    assert any(b"login" in key for key in store.keys("*"))
    store.flushdb()
