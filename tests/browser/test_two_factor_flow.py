"""HQ sets up two-factor sign-in and signs in with it; an organizer logs out everywhere: in
Chromium. Codes come from pyotp and the key the page shows, as a phone's app would make them."""

from __future__ import annotations

import re
import time

import pyotp

from rallyhub.auth.models import Role
from tests.factories import DEFAULT_PASSWORD


def _steady(margin: float = 6) -> None:
    """Start typing a code well inside its 30-second step."""
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.2)


def _password(page, email: str) -> None:
    page.goto("/auth/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_hq_sets_up_an_authenticator_app_and_signs_in_with_its_codes(page, users):
    users(email="hq@example.org", name="Campaign HQ", role=Role.HQ, two_factor=False)

    _password(page, "hq@example.org")
    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    # Not signed in yet: the page offers signing in, not out, and HQ's pages stay shut.
    assert page.get_by_role("button", name="Sign out").count() == 0
    assert page.get_by_role("link", name="Dashboard").count() == 0
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    assert qr.locator("svg path").count() >= 1
    key = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", key)

    # The app's code, typed just as it changed (the previous one still counts).
    _steady()
    app = pyotp.TOTP(key)
    page.get_by_label("Code from your authenticator app").fill(app.at(time.time() - 30))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have saved my recovery codes").click()
    page.get_by_role("button", name="Sign out").wait_for()
    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("heading", name="Dashboard").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").wait_for()
    _password(page, "hq@example.org")
    page.get_by_role("heading", name="Sign in: your code").wait_for()
    code = app.now()
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    page.goto("/hq/accounts")
    page.get_by_role("heading", name="Accounts").wait_for()
    page.get_by_role("cell", name="On", exact=True).wait_for()

    # The same code again, as someone who saw it typed: refused, next to the field.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("link", name="Sign in").wait_for()
    _password(page, "hq@example.org")
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("That code has been used already.").wait_for()
    assert page.get_by_role("button", name="Sign out").count() == 0

    # A recovery code opens the account once, in place of the phone.
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(codes[0])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("You signed in with a recovery code. 9 are left.").wait_for()
    # End on a page without a map, so that no request of the map's is left running.
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("link", name="Two-factor sign-in: on").wait_for()
    assert page.foreign_requests == []
    assert page.dialogs == []


def test_an_organizer_logs_out_everywhere_from_the_sessions_page(browser, live_server, users):
    users(email="org@example.org", name="Olga")
    phone = browser.new_context(
        base_url=live_server,
        user_agent="Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0",
    ).new_page()
    laptop = browser.new_context(base_url=live_server).new_page()
    try:
        for page in (phone, laptop):
            page.set_default_timeout(10_000)
            # This origin only (map tiles and anything else are refused).
            page.context.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(live_server)
                    else route.abort()
                ),
            )
            _password(page, "org@example.org")
            page.get_by_role("button", name="Sign out").wait_for()

        laptop.get_by_role("link", name="Account", exact=True).click()
        laptop.get_by_role("link", name="Your sessions").click()
        laptop.get_by_role("heading", name="Your sessions").wait_for()
        sessions = laptop.locator("li.session")
        assert sessions.count() == 2
        sessions.filter(has_text="Firefox on Android").wait_for()
        assert sessions.filter(has_text="This device").count() == 1
        assert "Firefox on Android" not in sessions.filter(has_text="This device").inner_text()

        laptop.get_by_role("button", name="Log out everywhere").click()
        laptop.get_by_role("heading", name="Log out everywhere?").wait_for()
        laptop.get_by_role("button", name="Yes, log out everywhere").click()
        laptop.get_by_role("link", name="Sign in").wait_for()

        phone.goto("/rallies/mine")
        phone.get_by_role("heading", name="Sign in").wait_for()
        assert phone.get_by_role("button", name="Sign out").count() == 0
    finally:
        phone.context.close()
        laptop.context.close()
