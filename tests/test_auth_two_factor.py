"""Two-factor sign-in: HQ must, organizers may; codes once, in their window; recovery codes once.

Codes are computed with pyotp from the secret (as the person's phone would), never read back
from the code under test.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from rallyhub.auth import two_factor
from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import RecoveryCode, Role, User
from rallyhub.errors import NotAllowed, UserError
from rallyhub.extensions import db
from tests.conftest import post_form
from tests.factories import DEFAULT_PASSWORD, TOTP_SECRET, fresh_totp_code

SETUP = "/auth/two-factor/setup"
CODE_PAGE = "/auth/login/code"
HQ_PATHS = ["/hq/", "/hq/accounts", "/hq/review", "/hq/exports/attendance.csv", "/hq/campaigns"]


def _steady() -> None:
    """Wait out the last seconds of a 30-second step, so a code cannot expire mid-test."""
    left = 30 - time.time() % 30
    if left < 3:
        time.sleep(left + 0.1)


def _password(client, email: str, password: str = DEFAULT_PASSWORD):
    """Give the password only (the first step)."""
    return post_form(
        client, "/auth/login", {"email": email, "password": password}, second_step=False
    )


def _code(client, code: str):
    """Give the second step's code, from the code page."""
    return post_form(client, "/auth/login", {"code": code}, page=CODE_PAGE)


def _signed_in(client) -> bool:
    return b"Sign out" in client.get("/").data


def _user(app, email: str) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def _audits(app, action: str) -> list[AuditRecord]:
    with app.app_context():
        return db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)).all()


def _secret_on(page_html: str) -> str:
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page_html)
    assert match, "the set-up page shows no key"
    return match.group(1).replace(" ", "")


def _enrol_through_the_page(client) -> tuple[str, list[str]]:
    """Set the app up from the page (as a person would); the key and the recovery codes."""
    _steady()
    secret = _secret_on(client.get(SETUP).get_data(as_text=True))
    response = post_form(client, SETUP, {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.get_data(as_text=True))
    return secret, codes


# -- HQ must ---------------------------------------------------------------------------------


def test_hq_without_two_factor_is_sent_to_set_it_up_after_the_password(app, client, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    response = _password(client, "hq@example.org")
    assert response.status_code == 302 and response.headers["Location"] == SETUP
    # The password alone opens nothing: the session is not signed in.
    assert not _signed_in(client)
    for path in HQ_PATHS:
        refused = client.get(path)
        assert refused.status_code == 302, path
        assert refused.headers["Location"].startswith("/auth/login"), path
    page = client.get(SETUP)
    assert page.status_code == 200
    assert b"must use two-factor sign-in" in page.data


def test_a_wrong_password_never_reaches_the_set_up(client, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    assert _password(client, "hq@example.org", "not the password at all").status_code == 400
    assert client.get(SETUP).status_code == 302


def test_hq_enrols_with_a_code_and_is_signed_in_with_ten_recovery_codes(app, client, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    _password(client, "hq@example.org")
    page = client.get(SETUP).get_data(as_text=True)
    # The QR code is drawn here, as inline SVG: no image from anywhere else.
    assert "<svg" in page and "<img" not in page.split("<main")[1]
    _secret, codes = _enrol_through_the_page(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){3}", code) for code in codes)
    assert _user(app, "hq@example.org").two_factor_enabled
    assert _signed_in(client)
    for path in HQ_PATHS:
        assert client.get(path).status_code == 200, path
    # Stored hashed: no code, nor the list, is in the table.
    with app.app_context():
        stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & set(stored)
    assert [a.action for a in _audits(app, "account.two_factor_on")] == ["account.two_factor_on"]


def test_enrolment_refuses_a_wrong_code(app, client, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    _password(client, "hq@example.org")
    secret = _secret_on(client.get(SETUP).get_data(as_text=True))
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 1) % 1_000_000:06d}"
    response = post_form(client, SETUP, {"code": wrong})
    assert response.status_code == 400
    assert b"That code is not right" in response.data
    assert not _user(app, "hq@example.org").two_factor_enabled
    assert not _signed_in(client)
    assert client.get("/hq/").status_code == 302


def test_the_set_up_key_stays_the_same_until_it_is_confirmed(client, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    _password(client, "hq@example.org")
    first = _secret_on(client.get(SETUP).get_data(as_text=True))
    assert _secret_on(client.get(SETUP).get_data(as_text=True)) == first
    assert len(first) == 32


def test_a_signed_in_hq_session_without_two_factor_can_do_nothing_but_set_it_up(
    app, client, auth, users, rallies
):
    # An organizer signs in, then becomes HQ without their session ending (as an account made
    # HQ before two-factor sign-in existed would be).
    organizer = users(email="org@example.org")
    rally_id = rallies(organizer_id=organizer)
    auth.login("org@example.org")
    with app.app_context():
        db.session.get(User, organizer).role = Role.HQ
        db.session.commit()
    for path in [*HQ_PATHS, "/rallies/mine", f"/rallies/{rally_id}/edit", "/auth/account"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == SETUP, path
    refused = post_form(client, f"/hq/accounts/{organizer}/disable", {"confirm": "yes"}, page=SETUP)
    assert refused.status_code == 403
    assert client.get(SETUP).status_code == 200
    _enrol_through_the_page(client)
    assert client.get("/hq/").status_code == 200


# -- the second step -------------------------------------------------------------------------


@pytest.fixture
def enrolled(users):
    """An organizer who turned two-factor sign-in on (with the factory's secret)."""
    return users(email="org@example.org", two_factor=True)


def test_the_password_alone_does_not_sign_in_an_enrolled_account(app, client, enrolled):
    response = _password(client, "org@example.org")
    assert response.status_code == 302 and response.headers["Location"] == CODE_PAGE
    assert not _signed_in(client)
    assert client.get("/rallies/mine").status_code == 302
    assert client.get(CODE_PAGE).status_code == 200
    _steady()
    response = _code(client, pyotp.TOTP(TOTP_SECRET).now())
    assert response.status_code == 302
    assert _signed_in(client)
    assert client.get("/rallies/mine").status_code == 200


def test_the_second_step_goes_where_the_sign_in_was_going(client, enrolled):
    post_form(
        client,
        "/auth/login?next=/rallies/mine",
        {"email": "org@example.org", "password": DEFAULT_PASSWORD},
        page="/auth/login",
        second_step=False,
    )
    _steady()
    response = _code(client, pyotp.TOTP(TOTP_SECRET).now())
    assert response.headers["Location"] == "/rallies/mine"


@pytest.mark.parametrize("code", ["000000", "12345", "1234567", "abcdef", "", "١٢٣٤٥٦"])
def test_a_wrong_code_is_refused(client, enrolled, code):
    _steady()
    if pyotp.TOTP(TOTP_SECRET).now() == code:
        pytest.skip("the phone happens to show this code now")
    _password(client, "org@example.org")
    response = _code(client, code)
    assert response.status_code == 400
    assert b'aria-invalid="true"' in response.data
    assert not _signed_in(client)


def test_a_code_is_good_once(app, client, auth, enrolled):
    _steady()
    code = pyotp.TOTP(TOTP_SECRET).now()
    _password(client, "org@example.org")
    assert _code(client, code).status_code == 302
    auth.logout()
    # The same code again, within its 30 seconds, as someone who watched it being typed.
    other = app.test_client()
    _password(other, "org@example.org")
    response = _code(other, code)
    assert response.status_code == 400
    assert b"used already" in response.data
    assert not _signed_in(other)


def test_digits_of_other_scripts_are_read_as_digits(client, enrolled):
    _steady()
    code = pyotp.TOTP(TOTP_SECRET).now()
    arabic_indic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    _password(client, "org@example.org")
    assert _code(client, f" {arabic_indic[:3]} {arabic_indic[3:]} ").status_code == 302
    assert _signed_in(client)


def test_a_half_finished_sign_in_expires(app, client, enrolled):
    _password(client, "org@example.org")
    with client.session_transaction() as session:
        session["_2fa_ts"] -= app.config["TWO_FACTOR_PENDING_S"] + 1
    assert client.get(CODE_PAGE).headers["Location"] == "/auth/login"
    response = post_form(
        client,
        "/auth/login",
        {"code": fresh_totp_code(app, "org@example.org")},
        page="/auth/login",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    assert not _signed_in(client)


@pytest.mark.parametrize("change", ["new password", "disabled"])
def test_a_half_finished_sign_in_ends_with_a_new_password_or_a_disabled_account(
    app, client, enrolled, change
):
    _password(client, "org@example.org")
    with app.app_context():
        user = db.session.get(User, enrolled)
        if change == "disabled":
            user.is_disabled = True
        else:
            user.session_nonce = "changed"
        db.session.commit()
    assert client.get(CODE_PAGE).headers["Location"] == "/auth/login"
    response = post_form(
        client,
        "/auth/login",
        {"code": fresh_totp_code(app, "org@example.org")},
        page="/auth/login",
    )
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    assert not _signed_in(client)


def test_a_code_cannot_be_sent_without_the_password_first(app, client, enrolled):
    response = post_form(
        client,
        "/auth/login",
        {"code": fresh_totp_code(app, "org@example.org")},
        page="/auth/login",
    )
    assert response.headers["Location"] == "/auth/login"
    assert not _signed_in(client)


# -- the window and replays, at fixed times --------------------------------------------------

T0 = 1_800_000_000  # the start of a 30-second step (divisible by 30)


def _at(step_offset: int) -> str:
    return pyotp.TOTP(TOTP_SECRET).at(T0 + 30 * step_offset)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(0, True), (-1, True), (-2, False), (1, False), (-10, False)],
    ids=["current", "previous", "two-back", "next", "long-ago"],
)
def test_codes_of_the_current_and_previous_step_only(app_ctx, users, offset, accepted):
    user = db.session.get(User, users(two_factor=True))
    if accepted:
        assert two_factor.check_second_factor(user, _at(offset), at=T0 + 10) is False
    else:
        with pytest.raises(UserError, match="not right"):
            two_factor.check_second_factor(user, _at(offset), at=T0 + 10)


def test_a_spent_step_and_every_earlier_one_are_refused(app_ctx, users):
    user = db.session.get(User, users(two_factor=True))
    two_factor.check_second_factor(user, _at(0), at=T0 + 5)
    for code in (_at(0), _at(-1)):
        with pytest.raises(UserError, match="used already"):
            two_factor.check_second_factor(user, code, at=T0 + 6)
    # The next step's code is new.
    two_factor.check_second_factor(user, _at(1), at=T0 + 31)


def test_the_enrolment_code_is_spent_too(app_ctx, users):
    user = db.session.get(User, users())
    enrolment = two_factor.start_enrolment(user)
    code = pyotp.TOTP(enrolment.secret).at(T0)
    two_factor.confirm_enrolment(user, code, at=T0 + 1)
    with pytest.raises(UserError, match="used already"):
        two_factor.check_second_factor(user, code, at=T0 + 2)


# -- recovery codes --------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(app, client, auth, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    _password(client, "hq@example.org")
    _secret, codes = _enrol_through_the_page(client)
    auth.logout()

    _password(client, "hq@example.org")
    response = _code(client, codes[3].upper().replace("-", " "))
    assert response.status_code == 302
    assert _signed_in(client)
    assert len(_audits(app, "account.recovery_code_used")) == 1
    auth.logout()

    _password(client, "hq@example.org")
    again = _code(client, codes[3])
    assert again.status_code == 400
    assert b"used already" in again.data
    assert not _signed_in(client)
    with app.app_context():
        used = db.session.scalars(select(RecoveryCode).where(RecoveryCode.used_dt.isnot(None)))
        assert len(used.all()) == 1


def test_signing_in_with_a_recovery_code_says_how_many_are_left(client, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    _password(client, "hq@example.org")
    _secret, codes = _enrol_through_the_page(client)
    post_form(client, "/auth/logout", {}, page="/")
    _password(client, "hq@example.org")
    response = _code(client, codes[0])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You signed in with a recovery code. 9 are left." in page


def test_new_recovery_codes_replace_the_old_ones(app, client, auth, users):
    users(email="hq@example.org", role=Role.HQ, two_factor=False)
    _password(client, "hq@example.org")
    _secret, old = _enrol_through_the_page(client)
    without_code = post_form(client, "/auth/two-factor", {"renew-submit": "y"})
    assert without_code.status_code == 400
    response = post_form(
        client,
        "/auth/two-factor",
        {"renew-code": old[0], "renew-submit": "Make new recovery codes"},
    )
    assert response.status_code == 200
    new = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert len(_audits(app, "account.recovery_codes_new")) == 1
    auth.logout()
    _password(client, "hq@example.org")
    assert _code(client, old[1]).status_code == 400
    assert _code(client, new[1]).status_code == 302


# -- turning it on and off -------------------------------------------------------------------


def test_an_organizer_turns_it_on_from_the_account_pages(app, client, auth, users):
    users(email="org@example.org")
    auth.login("org@example.org")
    assert _signed_in(client), "organizers need no second factor until they choose one"
    assert b"Two-factor sign-in: off" in client.get("/auth/account").data
    assert b"Set up two-factor sign-in" in client.get("/auth/two-factor").data
    _enrol_through_the_page(client)
    assert b"Two-factor sign-in: on" in client.get("/auth/account").data
    auth.logout()
    assert _password(client, "org@example.org").headers["Location"] == CODE_PAGE


def test_an_organizer_turns_it_off_with_a_code_only(app, client, auth, enrolled):
    auth.login("org@example.org")
    wrong = post_form(
        client,
        "/auth/two-factor",
        {"off-code": "000000", "off-submit": "Turn off two-factor sign-in"},
    )
    assert wrong.status_code == 400
    assert _user(app, "org@example.org").two_factor_enabled
    response = post_form(
        client,
        "/auth/two-factor",
        {
            "off-code": fresh_totp_code(app, "org@example.org"),
            "off-submit": "Turn off two-factor sign-in",
        },
    )
    assert response.status_code == 302
    user = _user(app, "org@example.org")
    assert not user.two_factor_enabled and user.totp_secret is None
    with app.app_context():
        assert db.session.scalars(select(RecoveryCode)).all() == []
    assert len(_audits(app, "account.two_factor_off")) == 1
    auth.logout()
    assert _password(client, "org@example.org").headers["Location"] == "/"


def test_hq_cannot_turn_it_off(app, client, auth, users):
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    page = client.get("/auth/two-factor").get_data(as_text=True)
    assert "cannot be turned off" in page and 'name="off-code"' not in page
    response = post_form(
        client,
        "/auth/two-factor",
        {
            "off-code": fresh_totp_code(app, "hq@example.org"),
            "off-submit": "Turn off two-factor sign-in",
        },
    )
    assert response.status_code == 403
    assert _user(app, "hq@example.org").two_factor_enabled


def test_an_organizer_it_is_required_of_cannot_turn_it_off(app_ctx, users):
    user = db.session.get(User, users(two_factor=True))
    two_factor.require_two_factor(user)
    with pytest.raises(NotAllowed):
        two_factor.disable_two_factor(user, _at(0), at=T0)
    assert user.two_factor_enabled


# -- HQ requires it of an organizer ----------------------------------------------------------


def test_hq_requires_it_of_an_organizer_whose_sessions_must_then_set_it_up(
    app, client, auth, users
):
    users(email="hq@example.org", role=Role.HQ)
    organizer = users(email="org@example.org", name="Olga")
    their_phone = app.test_client()
    post_form(
        their_phone, "/auth/login", {"email": "org@example.org", "password": DEFAULT_PASSWORD}
    )
    assert their_phone.get("/rallies/mine").status_code == 200

    auth.login("hq@example.org")
    page = client.get("/hq/accounts").get_data(as_text=True)
    assert "Require two-factor" in page
    response = post_form(
        client, f"/hq/accounts/{organizer}/two-factor", {"required": "on"}, page="/hq/accounts"
    )
    assert response.status_code == 302
    assert _user(app, "org@example.org").two_factor_required
    (record,) = _audits(app, "account.two_factor_required")
    assert (record.target_id, record.detail) == (organizer, "on")
    assert record.actor_id == _user(app, "hq@example.org").id

    # Their open session can now only set it up.
    assert their_phone.get("/rallies/mine").headers["Location"] == SETUP
    _enrol_through_the_page(their_phone)
    assert their_phone.get("/rallies/mine").status_code == 200
    page = client.get("/hq/accounts").get_data(as_text=True)
    assert "Required by HQ" in page


def test_hq_can_stop_requiring_it(app, client, auth, users):
    users(email="hq@example.org", role=Role.HQ)
    organizer = users(email="org@example.org")
    with app.app_context():
        db.session.get(User, organizer).two_factor_required = True
        db.session.commit()
    auth.login("hq@example.org")
    post_form(
        client, f"/hq/accounts/{organizer}/two-factor", {"required": "off"}, page="/hq/accounts"
    )
    assert not _user(app, "org@example.org").two_factor_required


def test_only_hq_requires_it_and_never_of_hq(app, client, auth, users):
    organizer = users(email="org@example.org")
    other_hq = users(email="hq2@example.org", role=Role.HQ)
    users(email="other@example.org")
    auth.login("other@example.org")
    refused = post_form(
        client, f"/hq/accounts/{organizer}/two-factor", {"required": "on"}, page="/"
    )
    assert refused.status_code == 403
    assert not _user(app, "org@example.org").two_factor_required
    auth.logout()
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    for data in ({"required": "maybe"}, {}):
        response = post_form(client, f"/hq/accounts/{organizer}/two-factor", data, page="/")
        assert response.status_code == 400
    hq = post_form(client, f"/hq/accounts/{other_hq}/two-factor", {"required": "off"}, page="/")
    assert hq.status_code == 400
    missing = post_form(client, "/hq/accounts/99999999/two-factor", {"required": "on"}, page="/")
    assert missing.status_code == 404


def test_require_two_factor_is_the_rule_for_countries_at_risk(app_ctx, users):
    user = db.session.get(User, users())
    assert two_factor.require_two_factor(user) is True
    assert two_factor.require_two_factor(user) is False, "already required: nothing changes"
    assert two_factor.must_enrol(user)
    db.session.commit()
    (record,) = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "account.two_factor_required")
    ).all()
    assert record.actor_id is None and record.detail == "on"


# -- rate limits -----------------------------------------------------------------------------


def test_code_attempts_are_rate_limited_per_address(make_app, users):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_TWO_FACTOR="3 per minute")
    users(email="org@example.org", two_factor=True)
    client = app.test_client()
    _password(client, "org@example.org")
    statuses = [_code(client, "000000").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_code_attempts_are_rate_limited_per_account_across_addresses(make_app, users):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_TWO_FACTOR="3 per minute")
    users(email="org@example.org", two_factor=True)
    statuses = []
    for n in range(4):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        _password(client, "org@example.org")
        statuses.append(_code(client, "000000").status_code)
    assert statuses == [400, 400, 400, 429]
    # Someone else, signing in from one of those addresses, is not held up by it.
    users(email="ana@example.org", two_factor=True)
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    _password(client, "ana@example.org")
    assert _code(client, "000000").status_code == 400


def test_password_attempts_do_not_use_up_the_code_limit(make_app, users):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_TWO_FACTOR="2 per minute")
    users(email="org@example.org", two_factor=True)
    client = app.test_client()
    for _ in range(3):
        _password(client, "org@example.org")
    _steady()
    assert _code(client, pyotp.TOTP(TOTP_SECRET).now()).status_code == 302


# -- display name ----------------------------------------------------------------------------


def test_registration_asks_for_a_public_display_name(client):
    page = BeautifulSoup(client.get("/auth/register").data, "html.parser")
    assert page.find("label", attrs={"for": "name"}).get_text(strip=True) == "Display name"
    hint = page.find(id="name-hint").get_text(strip=True)
    assert hint.startswith("Shown on your rallies' pages. A pseudonym is fine;")
    assert page.find(id="name")["aria-describedby"] == "name-hint"


def test_an_organizer_changes_the_display_name_the_rally_page_shows(
    app, client, auth, users, rallies
):
    organizer = users(email="org@example.org", name="Olga Petrova")
    rally_id = rallies(organizer_id=organizer)
    auth.login("org@example.org")
    response = post_form(client, "/auth/account", {"name": "  Rainbow Fox  "})
    assert response.status_code == 302
    assert _user(app, "org@example.org").name == "Rainbow Fox"
    auth.logout()
    page = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
    assert "Rainbow Fox" in page and "Olga Petrova" not in page


@pytest.mark.parametrize("name", ["", "   ", "two\nlines", "x" * 121])
def test_a_bad_display_name_is_refused(app, client, auth, users, name):
    users(email="org@example.org", name="Olga")
    auth.login("org@example.org")
    response = post_form(client, "/auth/account", {"name": name})
    assert response.status_code == 400
    assert _user(app, "org@example.org").name == "Olga"


def test_account_pages_need_a_sign_in(client):
    for path in ("/auth/account", "/auth/two-factor", "/auth/sessions"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


# -- the operator's last resort --------------------------------------------------------------


def test_an_operator_resets_a_lost_second_factor(app, client, auth, runner, users):
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    result = runner.invoke(args=["rallyhub", "reset-two-factor", "hq@example.org"])
    assert result.exit_code == 0, result.output
    user = _user(app, "hq@example.org")
    assert not user.two_factor_enabled and user.totp_secret is None
    # Its sessions ended (a lost phone may hold one), and HQ sets a new app up to come back.
    assert not _signed_in(client)
    assert _password(client, "hq@example.org").headers["Location"] == SETUP
    assert len(_audits(app, "account.two_factor_reset")) == 1
    unknown = runner.invoke(args=["rallyhub", "reset-two-factor", "ghost@example.org"])
    assert unknown.exit_code != 0
