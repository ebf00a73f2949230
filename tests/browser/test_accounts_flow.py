"""Register, confirm, sign in and sign out, as a person does it in Chromium."""

from __future__ import annotations

from tests.conftest import link_in


def test_register_confirm_login_logout(page, live_server, outbox):
    page.goto("/")
    page.get_by_role("link", name="Register to organize").click()
    page.get_by_label("Display name").fill("Giulia Rossi")
    page.get_by_label("E-mail").fill("giulia@example.org")
    page.get_by_label("Password", exact=True).fill("violet-harbour-2017")
    page.get_by_label("Repeat the password").fill("violet-harbour-2017")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Check your e-mail").wait_for()

    (message,) = outbox()
    page.goto(link_in(message, "/auth/confirm/"))
    page.get_by_role("button", name="Confirm my e-mail").click()
    page.get_by_text("Your e-mail is confirmed").wait_for()

    page.get_by_label("E-mail").fill("giulia@example.org")
    page.get_by_label("Password").fill("violet-harbour-2017")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()
    page.get_by_role("link", name="Sign in").wait_for()
    assert page.foreign_requests == []
    assert page.dialogs == []


def test_wrong_password_shows_the_message_next_to_the_form(page, users):
    users(email="org@example.org")
    page.goto("/auth/login")
    page.get_by_label("E-mail").fill("org@example.org")
    page.get_by_label("Password").fill("definitely-not-it")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().strip() == "The e-mail or password is not right."


def test_registration_errors_appear_at_their_fields(page):
    page.goto("/auth/register")
    page.get_by_label("Display name").fill("Ayşe")
    page.get_by_label("E-mail").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_role("button", name="Create account").click()
    assert (
        page.locator("#email-errors").inner_text().strip() == "Please enter a valid e-mail address."
    )
    assert "between 10 and 256" in page.locator("#password-errors").inner_text()
    assert page.get_by_label("Display name").input_value() == "Ayşe"
