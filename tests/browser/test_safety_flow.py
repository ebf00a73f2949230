"""After a rally, in Chromium: "I need help" from the e-mailed link shows the country's
contacts in the reader's language first, tells HQ, and HQ handles the call."""

from __future__ import annotations

from datetime import timedelta

from rallyhub import tasks
from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.rallies.models import SafetyContact
from rallyhub.signups.models import Signup
from tests.browser.test_languages_flow import _in
from tests.browser.test_rally_flow import _sign_in
from tests.conftest import link_in

TOLD = (
    "HQ has been told that you need help. They see the rally, the time and what you write "
    "below; nothing else about you, not your name or your e-mail."
)
ITALIAN = "Assistenza legale in Turchia: avvocati ÇHD +90 212 000 00 02"
ENGLISH = "Legal aid in Turkey: ÇHD lawyers +90 212 000 00 01"


def test_need_help_shows_the_contacts_first_and_reaches_hq(app, page, users, rallies, outbox):
    users(email="hq@example.org", role=Role.HQ)
    organizer = users(email="org@example.org")
    rally_id = rallies(
        title="Yürüyüş",
        organizer_id=organizer,
        city="İstanbul",
        country_code="TR",
        timezone="Europe/Istanbul",
        latitude=41.0369,
        longitude=28.985,
        start_dt=utcnow().replace(second=0, microsecond=0) - timedelta(hours=3),
        safety_checkins=True,
    )
    with app.app_context():
        db.session.add_all(
            [
                Signup(rally_id=rally_id, name="Giulia", email="giulia@example.org", language="it"),
                SafetyContact(country_code="TR", language="it", text=ITALIAN),
                SafetyContact(country_code="TR", language="en", text=ENGLISH),
            ]
        )
        db.session.commit()
        assert tasks.sweep()["checkins"] == 2  # Giulia and the organizer

    (mail,) = [m for m in outbox() if m["To"] == "giulia@example.org"]
    page.goto(link_in(mail, "/safe/"))
    # Giulia's pages are in Italian, the language she signed up in.
    page.get_by_role("button", name=_in("it", "I need help")).click()

    # Turkey's contacts, in Italian (the language Giulia signed up in), come first.
    contacts = page.locator(".safety-contacts")
    contacts.get_by_text(ITALIAN).wait_for()
    assert ENGLISH not in page.content()
    main = page.locator("main").inner_text()
    assert main.index(ITALIAN) < main.index(_in("it", TOLD))
    assert page.locator("main h1").inner_text() == _in("it", "Legal aid and emergency contacts")

    happening = page.get_by_label(_in("it", "What is happening? (optional)"))
    happening.fill("Fermata a Taksim, sono in centrale")
    page.get_by_label(_in("it", "How can HQ reach you? (optional)")).fill("Signal: giulia.99")
    page.get_by_role("button", name=_in("it", "Send to HQ")).click()
    page.get_by_text(_in("it", TOLD)).first.wait_for()
    assert happening.input_value() == ("Fermata a Taksim, sono in centrale")
    assert page.foreign_requests == []

    # HQ's board (on HQ's own device): the rally, the time and Giulia's words; nothing else
    # about her.
    page.context.clear_cookies()
    _sign_in(page, "hq@example.org")
    page.goto("/hq/incidents")
    row = page.locator("tbody tr").first
    row.get_by_text("Fermata a Taksim, sono in centrale").wait_for()
    assert "Signal: giulia.99" in row.inner_text() and "Yürüyüş" in row.inner_text()
    assert "Giulia" not in page.locator("main").inner_text().replace("giulia.99", "")
    assert "giulia@example.org" not in page.content()
    row.get_by_role("button", name="Mark as handled").click()
    page.get_by_text("The incident is marked as handled.").wait_for()
    page.locator("tbody tr").first.get_by_text("Handled").wait_for()
