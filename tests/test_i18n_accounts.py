"""Mail to an account is written in the account's language, whatever page asked for it."""

from __future__ import annotations

from flask_babel import force_locale, gettext
from sqlalchemy import select

from rallyhub.auth.models import User
from rallyhub.extensions import db
from tests.auth_data import REGISTRATION
from tests.conftest import post_form
from tests.test_rallies_coorganizers import _invite


def _in(app, language: str, message: str) -> str:
    """``message`` as the catalog of ``language`` writes it (checked not to be the English)."""
    with app.test_request_context(), force_locale(language):
        written = gettext(message)
    assert written != message, f"{language} has no translation of {message!r}"
    return written


def test_registering_keeps_the_pages_language_and_confirms_in_it(app, client, outbox):
    client.get("/auth/register?lang=hy")
    response = post_form(client, "/auth/register", {**REGISTRATION, "email": "ani@example.org"})
    assert response.status_code == 302
    with app.app_context():
        language = db.session.scalar(select(User.language).where(User.email == "ani@example.org"))
    assert language == "hy"
    (confirmation,) = outbox()
    assert confirmation["Subject"] == _in(app, "hy", "Confirm your rallyhub account")


def test_a_reset_asked_from_an_english_page_is_written_in_the_accounts_language(
    app, client, users, outbox
):
    users(email="giulia@example.org", language="it")
    response = post_form(
        client, "/auth/reset", {"email": "giulia@example.org"}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 302
    (message,) = outbox()
    assert message["Subject"] == _in(app, "it", "Reset your rallyhub password")
    # Without an account, the notice follows the page (there is no other language to use).
    post_form(client, "/auth/reset?lang=tr", {"email": "ghost@example.org"})
    notice = outbox()[-1]
    assert notice["Subject"] == _in(app, "tr", "Your request to reset a rallyhub password")


def test_a_second_registration_is_answered_in_the_accounts_language(app, client, users, outbox):
    users(email="known@example.org", language="ru")
    client.get("/auth/register?lang=de")
    post_form(client, "/auth/register", {**REGISTRATION, "email": "known@example.org"})
    (notice,) = outbox()
    assert notice["Subject"] == _in(app, "ru", "Someone tried to register with your e-mail")


def test_an_invitation_to_co_organize_follows_the_invitees_account(
    app, client, users, auth, rallies, outbox
):
    organizer = users(email="org@example.org")
    users(email="sven@example.org", language="sv")
    rally_id = rallies(organizer_id=organizer)
    auth.login("org@example.org")
    subject = "You are invited to co-organize a rally"
    for email in ("sven@example.org", "nobody@example.org"):
        assert _invite(client, rally_id, email).status_code == 302
    by_address = {message["To"]: message["Subject"] for message in outbox()}
    assert by_address["sven@example.org"] == _in(app, "sv", subject)
    # An address without an account reads the inviter's language (here the default).
    assert by_address["nobody@example.org"] == subject
