"""Languages in Chromium: switching the interface, signing up in Armenian and Turkish and
reading the mail in that language, an Italian translation of a rally on its page, the map
and the calendar, and pages laid out right to left."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.support import Translations
from sqlalchemy import select

from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus
from tests.browser.conftest import LOCAL_HOSTS
from tests.browser.test_rally_flow import _sign_in

CATALOGS = Path(__file__).resolve().parents[2] / "rallyhub" / "translations"


def _in(language: str, message: str, **values) -> str:
    """``message`` as the shipped catalog of ``language`` has it (and not English)."""
    translated = Translations.load(str(CATALOGS), [language]).gettext(message)
    assert translated != message, f"{message!r} is not translated into {language}"
    return translated % values if values else translated


def _local_only(route):
    from urllib.parse import urlsplit

    if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
        route.continue_()
    else:
        route.abort()


@pytest.mark.parametrize(("language", "own_name"), [("hy", "Հայերեն"), ("tr", "Türkçe")])
def test_switch_the_language_sign_up_and_read_the_mail_in_it(
    page, rallies, outbox, language, own_name
):
    rally_id = rallies(title="Rally for justice")
    page.goto(f"/rallies/{rally_id}")
    page.get_by_role("link", name="Language: English").click()
    page.get_by_role("link", name=own_name).click()
    page.locator(f"html[lang={language}]").wait_for(state="attached")
    page.locator("#name").fill("Ani")
    page.locator("#email").fill("ani@example.org")
    page.locator("#signup [type=submit]").click()
    page.get_by_role("heading", name=_in(language, "Thank you for signing up")).wait_for()
    # The choice stays: a later page, without ?lang=, is in it too.
    page.goto("/")
    page.locator(f"html[lang={language}]").wait_for(state="attached")

    (mail,) = [m for m in outbox() if m["To"] == "ani@example.org"]
    assert mail["Subject"] == _in(language, "Your sign-up: %(title)s", title="Rally for justice")
    body = mail.get_content()
    assert _in(language, "Hello %(name)s,", name="Ani") in body
    assert page.foreign_requests == []


def test_an_italian_translation_reaches_the_page_the_map_and_the_calendar(
    app, page, browser, live_server, users, rallies
):
    organizer = users(email="aram@example.org")
    rally_id = rallies(organizer_id=organizer, title="Rally in Gyumri", languages="hy")
    _sign_in(page, "aram@example.org")
    page.goto(f"/rallies/{rally_id}")
    page.get_by_role("link", name="Translations").click()
    page.get_by_label("Language").select_option(label="Italiano")
    page.get_by_label("Title").fill("Manifestazione a Gyumri")
    page.get_by_label("What is it about?").fill("Porta un cartello.")
    page.get_by_label("Meeting point", exact=True).fill("Piazza Vardanants")
    page.get_by_role("button", name="Save translation").click()
    page.get_by_text("Translation saved.").wait_for()
    with app.app_context():  # HQ's approval of the change (reviewed in its own tests)
        db.session.scalar(select(Rally).where(Rally.id == rally_id)).status = RallyStatus.APPROVED
        db.session.commit()

    context = browser.new_context(base_url=live_server, locale="it-IT")
    context.route("**/*", _local_only)
    visitor = context.new_page()
    try:
        visitor.goto(f"/rallies/{rally_id}")
        visitor.get_by_role("heading", name="Manifestazione a Gyumri").wait_for()
        visitor.get_by_text("Piazza Vardanants").wait_for()
        with visitor.expect_download() as download:
            visitor.get_by_role("link", name=_in("it", "Add to calendar (.ics)")).click()
        assert "SUMMARY:Manifestazione a Gyumri" in Path(download.value.path()).read_text()
        visitor.goto("/")
        visitor.locator(".world-map .leaflet-marker-icon").first.click()
        visitor.locator(".leaflet-popup-content", has_text="Manifestazione a Gyumri").wait_for()
        # Someone reading English gets the rally's own title.
        assert "SUMMARY:Rally in Gyumri" in page.request.get(f"/rallies/{rally_id}.ics").text()
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/", "/auth/login", "/rallies/{rally_id}"])
def test_a_right_to_left_language_lays_the_pages_out_from_the_right(app, page, rallies, path):
    # Arabic has no catalog yet: the layout must be ready for it all the same.
    app.config["LANGUAGES"] = [*app.config["LANGUAGES"], "ar"]
    rally_id = rallies()
    page.set_viewport_size({"width": 1000, "height": 800})
    page.goto(path.format(rally_id=rally_id) + "?lang=ar")
    layout = page.evaluate(
        """() => ({
            dir: document.documentElement.dir,
            direction: getComputedStyle(document.body).direction,
            brand: document.querySelector('.brand').getBoundingClientRect().left,
            heading: document.querySelector('h1').getBoundingClientRect().right,
            wide: document.documentElement.scrollWidth,
        })"""
    )
    assert (layout["dir"], layout["direction"]) == ("rtl", "rtl")
    assert layout["brand"] > 500, "the site's name starts on the right"
    assert layout["heading"] > 500, "headings start on the right"
    assert layout["wide"] <= 1000
