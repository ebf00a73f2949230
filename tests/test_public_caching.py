"""Public reads a shared cache can serve: headers, validators, no cookie for a visit, and
the sign-up form of a cacheable rally page."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from flask import template_rendered
from icalendar import Calendar
from sqlalchemy import event, func, select

from rallyhub.caching import (
    PUBLIC_LIFETIME_S,
    PUBLIC_MAX_AGE,
    PUBLIC_STALE_S,
    public_data_version,
)
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus
from rallyhub.signups.models import Signup
from tests.conftest import AuthActions

ORIGIN = "http://localhost"


def _campaign_slug(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id).campaign.slug


@contextmanager
def rally_queries(app):
    """Count the statements that read the rallies table while the block runs."""
    seen = []

    def record(_conn, _cursor, statement, *_args):
        if "rallies" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _signups(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Signup))


# -- a visit --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/near?q=Stockholm",
        "/embed/map",
        "/rallies/{id}",
        "/rallies/{id}.ics",
        "/campaigns/{slug}/rallies.ics",
        "/api/v1/events",
        "/map/points.json?z=2&x=2&y=1",
    ],
)
def test_an_anonymous_visit_gets_a_public_answer_and_no_cookie(app, client, rallies, path):
    rally_id = rallies()
    with app.app_context():
        slug = db.session.get(Rally, rally_id).campaign.slug
    response = client.get(path.format(id=rally_id, slug=slug))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert response.cache_control.public
    # Every public surface shows a change (a take-down too) within the same minute: fresh
    # for 50 s, then served stale for at most 10 s more while a cache asks again.
    assert response.cache_control.max_age == PUBLIC_MAX_AGE == 50
    assert response.cache_control.stale_while_revalidate == PUBLIC_STALE_S == 10
    assert PUBLIC_LIFETIME_S == 60
    assert "Accept-Language" in response.vary
    etag, weak = response.get_etag()
    assert etag and not weak
    again = client.get(path.format(id=rally_id, slug=slug), headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304
    assert again.get_data() == b""
    # The browser keeps the page with the policy it came with (a page's nonce is its own).
    assert "Content-Security-Policy" not in again.headers


def test_the_rally_page_carries_no_csrf_token_without_a_session(client, rallies):
    html = client.get(f"/rallies/{rallies()}").get_data(as_text=True)
    assert 'name="email"' in html
    assert 'name="csrf_token"' not in html


def test_a_signed_in_organizer_gets_a_private_page(app, client, users, rallies):
    users(email="org@example.org")
    rally_id = rallies()
    AuthActions(client).login("org@example.org")
    response = client.get(f"/rallies/{rally_id}")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.get_etag() == (None, None)


def test_a_visitor_holding_a_session_gets_a_private_page_with_a_token(client, rallies):
    rally_id = rallies()
    client.get("/auth/login")  # the sign-in form starts a session (its CSRF token)
    response = client.get(f"/rallies/{rally_id}")
    assert not response.cache_control.public
    assert 'name="csrf_token"' in response.get_data(as_text=True)


def test_a_language_chosen_by_link_is_remembered_privately(client, rallies):
    response = client.get(f"/rallies/{rallies()}?lang=it")
    assert "lang=it" in response.headers["Set-Cookie"]
    assert not response.cache_control.public


# -- the sign-up form without a token ----------------------------------------------------------


def test_a_sign_up_from_our_own_page_needs_no_token(app, client, rallies):
    rally_id = rallies()
    response = client.post(
        f"/rallies/{rally_id}/signup",
        data={"name": "Ana", "email": "ana@example.org"},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 302
    assert _signups(app) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site", "Origin": ORIGIN},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://localhost"},  # another scheme is another origin
    ],
)
def test_a_sign_up_sent_from_elsewhere_is_refused(app, client, rallies, headers):
    rally_id = rallies()
    response = client.post(
        f"/rallies/{rally_id}/signup",
        data={"name": "Ana", "email": "ana@example.org"},
        headers=headers,
    )
    assert response.status_code == 400
    assert _signups(app) == 0


def test_a_sign_up_with_a_forged_token_is_refused_even_from_our_origin(app, client, rallies):
    rally_id = rallies()
    client.get("/auth/login")
    response = client.post(
        f"/rallies/{rally_id}/signup",
        data={"csrf_token": "forged", "name": "Ana", "email": "ana@example.org"},
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 400
    assert _signups(app) == 0


def test_a_same_origin_referer_is_enough_without_origin(app, client, rallies):
    rally_id = rallies()
    response = client.post(
        f"/rallies/{rally_id}/signup",
        data={"name": "Ana", "email": "ana@example.org"},
        headers={"Referer": f"{ORIGIN}/rallies/{rally_id}"},
    )
    assert response.status_code == 302
    assert _signups(app) == 1


# -- the data version ---------------------------------------------------------------------------


def test_an_edit_changes_the_public_version_and_a_sign_up_does_not(app, client, rallies):
    rally_id = rallies()
    with app.app_context():
        before = public_data_version()
    client.post(
        f"/rallies/{rally_id}/signup",
        data={"name": "Ana", "email": "ana@example.org"},
        headers={"Origin": ORIGIN},
    )
    with app.app_context():
        assert public_data_version() == before
        db.session.get(Rally, rally_id).title = "A new title"
        db.session.commit()
        after_edit = public_data_version()
        assert after_edit != before
        # A flush that changes nothing public (the same value set again) is no change.
        db.session.get(Rally, rally_id).title = "A new title"
        db.session.commit()
        assert public_data_version() == after_edit


# -- the campaign's calendar ---------------------------------------------------------------------


def test_the_campaign_calendar_revalidates_without_reading_a_rally(app, client, rallies):
    rally_id = rallies(title="Vigil in Yerevan")
    slug = _campaign_slug(app, rally_id)
    first = client.get(f"/campaigns/{slug}/rallies.ics")
    etag = first.get_etag()[0]
    with rally_queries(app) as seen:
        again = client.get(f"/campaigns/{slug}/rallies.ics", headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304
    assert seen == []


def test_the_campaign_calendar_shows_an_edit_and_a_new_rally_at_once(
    app, client, campaigns, rallies
):
    campaign_id = campaigns()
    rally_id = rallies(title="Vigil in Yerevan", campaign_id=campaign_id)
    slug = _campaign_slug(app, rally_id)

    def summaries():
        body = client.get(f"/campaigns/{slug}/rallies.ics").get_data()
        return sorted(str(e["summary"]) for e in Calendar.from_ical(body).walk("VEVENT"))

    assert [s.split(" #")[0] for s in summaries()] == ["Vigil in Yerevan"]
    with app.app_context():
        db.session.get(Rally, rally_id).title = "Vigil in Gyumri"
        db.session.commit()
    rallies(title="March in Rome", campaign_id=campaign_id)
    assert [s.split(" #")[0] for s in summaries()] == ["March in Rome", "Vigil in Gyumri"]
    with app.app_context():
        db.session.get(Rally, rally_id).status = RallyStatus.TAKEN_DOWN
        db.session.commit()
    assert [s.split(" #")[0] for s in summaries()] == ["March in Rome"]


def test_the_campaign_calendar_is_built_in_the_reader_language(app, client, campaigns, rallies):
    from rallyhub.rallies.models import RallyTranslation

    campaign_id = campaigns()
    rally_id = rallies(title="Vigil", campaign_id=campaign_id)
    with app.app_context():
        db.session.add(RallyTranslation(rally_id=rally_id, language="it", title="Veglia"))
        db.session.commit()
    slug = _campaign_slug(app, rally_id)
    english = client.get(f"/campaigns/{slug}/rallies.ics")
    italian = client.get(f"/campaigns/{slug}/rallies.ics", headers={"Accept-Language": "it"})
    assert "SUMMARY:Vigil" in english.get_data(as_text=True)
    assert "SUMMARY:Veglia" in italian.get_data(as_text=True)
    assert english.get_etag() != italian.get_etag()


# -- the home page's list by country ------------------------------------------------------------


def test_the_home_page_counts_by_country_once_per_change(app, client, rallies):
    rallies(city="Stockholm", country_code="SE")
    assert client.get("/").status_code == 200
    with rally_queries(app) as seen:
        again = client.get("/")
    assert again.status_code == 200
    assert seen == []
    rallies(title="Marcia a Roma", city="Roma", country_code="IT", latitude=41.9, longitude=12.5)
    html = client.get("/").get_data(as_text=True)
    assert "Marcia a Roma" in html


# -- the rally page's validator ------------------------------------------------------------------


def _page_etag(client, rally_id) -> str:
    response = client.get(f"/rallies/{rally_id}")
    assert response.status_code == 200
    return response.headers["ETag"]


def test_the_rally_page_revalidates_without_being_rendered(app, client, rallies):
    rally_id = rallies(capacity=30)
    etag = _page_etag(client, rally_id)
    rendered = []
    with template_rendered.connected_to(lambda _app, template, **_: rendered.append(template)):
        again = client.get(f"/rallies/{rally_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["ETag"] == etag
    assert rendered == []
    # The page built again for the same state answers with the same validator.
    assert _page_etag(client, rally_id) == etag


def _sign_up(client, rally_id):
    reply = client.post(
        f"/rallies/{rally_id}/signup",
        data={"name": "Ana", "email": "ana@example.org"},
        headers={"Origin": ORIGIN},
    )
    assert reply.status_code == 302


def _rename_organizer(app, rally_id):
    with app.app_context():
        db.session.get(Rally, rally_id).organizer.name = "Lena (renamed)"
        db.session.commit()


@pytest.mark.parametrize(
    ("change", "shown_after"),
    [
        # Not public data: a sign-up changes only the places left…
        (lambda app, client, rally_id: _sign_up(client, rally_id), "29 places left."),
        # …and the organizer's display name is the account's, shown on the page.
        (lambda app, client, rally_id: _rename_organizer(app, rally_id), "Lena (renamed)"),
    ],
    ids=["places-left", "organizer-name"],
)
def test_the_rally_pages_validator_changes_with_what_the_page_shows(
    app, client, rallies, change, shown_after
):
    rally_id = rallies(capacity=30)
    etag = _page_etag(client, rally_id)
    change(app, client, rally_id)
    fresh = client.get(f"/rallies/{rally_id}", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != etag
    assert shown_after in fresh.get_data(as_text=True)


def test_the_rally_pages_validator_changes_as_time_passes(app, client, rallies):
    rally_id = rallies()
    etag = _page_etag(client, rally_id)
    with app.app_context():
        ended = db.session.get(Rally, rally_id).end_dt + timedelta(minutes=1)
    # Once the rally is over, its page no longer offers the sign-up form.
    with mock.patch("rallyhub.rallies.services.utcnow", return_value=ended):
        closed = client.get(f"/rallies/{rally_id}", headers={"If-None-Match": etag})
    assert closed.status_code == 200
    assert f"/rallies/{rally_id}/signup" not in closed.get_data(as_text=True)
    # Whatever else comes to differ with time: built again in the next ten minutes at most.
    with mock.patch("rallyhub.rallies.services.time_bucket", return_value=-1):
        later = client.get(f"/rallies/{rally_id}", headers={"If-None-Match": etag})
    assert later.status_code == 200 and later.headers["ETag"] != etag


# -- lists of upcoming rallies (home, near search, embed) ------------------------------------------

NEAR = "/near?q=Stockholm&radius_km=50"


def _two_minutes_later():
    """The clock that windows of time are counted on, two minutes on."""
    now = time.time()
    return mock.patch("time.time", return_value=now + 120)


def test_a_list_revalidates_as_a_304_from_one_minute_to_the_next(app, client, rallies):
    rallies(title="Pride vigil")
    first = client.get(NEAR)
    assert first.status_code == 200 and "Pride vigil" in first.get_data(as_text=True)
    rendered = []
    with (
        _two_minutes_later(),
        template_rendered.connected_to(lambda _app, template, **_: rendered.append(template)),
    ):
        again = client.get(NEAR, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert rendered == []


def test_a_list_changes_once_a_rally_on_it_ends(app, client, rallies):
    first_id = rallies(title="Pride vigil")
    with app.app_context():
        ended = db.session.get(Rally, first_id).end_dt + timedelta(minutes=1)
    rallies(title="March next week", start_dt=ended + timedelta(days=7))
    before = client.get(NEAR)
    assert "Pride vigil" in before.get_data(as_text=True)
    with (
        mock.patch("rallyhub.map.services.utcnow", return_value=ended),
        mock.patch("rallyhub.rallies.search.utcnow", return_value=ended),
        _two_minutes_later(),
    ):
        after = client.get(NEAR, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    page = after.get_data(as_text=True)
    assert "Pride vigil" not in page and "March next week" in page
