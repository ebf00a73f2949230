"""Countries at risk: HQ marks one and every rally there follows stricter rules at once;
held meeting points reach supporters only shortly before the start."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from rallyhub import tasks
from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.models import utcnow
from rallyhub.places.distance import distance_km
from rallyhub.places.models import CountryRisk
from rallyhub.rallies.models import Rally, RallyStatus, Visibility
from rallyhub.rallies.privacy import snap_to_grid
from rallyhub.signups.models import Signup
from tests.conftest import AuthActions, post_form

RED_SQUARE = (55.75393, 37.62079)
SETTINGS = {
    "country_code": "RU",
    "high_risk": "y",
    "note": "Detentions at rallies in 2017.",
    "cell_km": "5",
    "purge_hours": "24",
    "hold_hours": "",
    "two_factor": "y",
    "tiles": "",
}


@pytest.fixture
def hq(app, users):
    users(email="hq@example.org", role=Role.HQ, name="HQ Person")
    client = app.test_client()
    AuthActions(client).login("hq@example.org")
    return client


@pytest.fixture
def moscow(users, rallies):
    # Enrolled in two-factor sign-in, as the country will require.
    organizer = users(email="org@example.org", name="Ivan Petrov", two_factor=True)
    return rallies(
        organizer_id=organizer,
        title="Justice for Chechnya — Moscow",
        city="Moscow",
        country_code="RU",
        timezone="Europe/Moscow",
        latitude=RED_SQUARE[0],
        longitude=RED_SQUARE[1],
        meeting_point="Pushkin Square, by the statue",
        visibility=Visibility.PUBLIC,
        capacity=40,
    )


def _mark(hq, **changes):
    return post_form(hq, "/hq/countries", {**SETTINGS, **changes}, page="/hq/countries")


def _rally(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id)


def _sign_up(client, rally_id, email="ana@example.org", name="Anna"):
    response = post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": name, "email": email},
        page=f"/rallies/{rally_id}",
    )
    assert response.status_code == 302
    return response


def test_marking_a_country_protects_its_rallies_at_once_and_tells_their_organizers(
    app, hq, moscow, outbox
):
    assert _mark(hq).status_code == 302
    rally = _rally(app, moscow)
    assert rally.visibility is Visibility.PROTECTED
    public = (rally.public_latitude, rally.public_longitude)
    assert public == snap_to_grid(*RED_SQUARE, 5 / 111)
    assert public != snap_to_grid(*RED_SQUARE)  # coarser than a protected rally's usual ~1 km
    assert distance_km(*public, *RED_SQUARE) < 5
    with app.app_context():
        record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "country.risk"))
        assert record.detail == "RU: high_risk=True" and record.actor_id is not None
    (told,) = [m for m in outbox() if m["To"] == "org@example.org"]
    assert "Russia" in told.get_content()


def test_a_rally_in_a_high_risk_country_cannot_be_made_public(app, hq, moscow, auth):
    _mark(hq)
    auth.login("org@example.org")
    from tests.test_rallies_manage import _edit_form

    data = _edit_form(app, moscow, city="Moscow", visibility="public", title="Still here")
    response = post_form(auth._client, f"/rallies/{moscow}/edit", data)
    assert response.status_code == 302
    assert _rally(app, moscow).title == "Still here"
    assert _rally(app, moscow).visibility is Visibility.PROTECTED


def test_the_public_sees_no_organizer_no_counts_no_pin_and_no_map_when_hq_says_so(
    app, hq, moscow, client
):
    _mark(hq, tiles="none")
    _sign_up(app.test_client(), moscow)
    page = BeautifulSoup(client.get(f"/rallies/{moscow}").data, "html.parser")
    text = page.get_text()
    assert "Ivan Petrov" not in text and "Organized by" not in text
    # 40 places, one taken: what is left does not show (a factory's
    # "Campaign1939" must not count as a leak).
    assert "places left" not in text and not re.search(r"\b39\b", text)
    assert "Pushkin Square" not in text
    assert page.select_one(".rally-map") is None
    (feature,) = [
        f
        for f in client.get("/api/v1/events").get_json()["features"]
        if f["properties"]["id"] == moscow
    ]
    assert feature["properties"]["spots_left"] is None
    lat, lon = feature["geometry"]["coordinates"][1], feature["geometry"]["coordinates"][0]
    assert (lat, lon) != RED_SQUARE
    # Its organizer still sees everything.
    organizer = app.test_client()
    AuthActions(organizer).login("org@example.org")
    assert "Ivan Petrov" in organizer.get(f"/rallies/{moscow}").get_data(as_text=True)


def test_a_country_s_own_tile_server_is_let_through_the_content_security_policy(
    app, hq, moscow, client
):
    _mark(hq, tiles="https://tiles.example.ru/{z}/{x}/{y}.png")
    response = client.get(f"/rallies/{moscow}")
    assert "https://tiles.example.ru" in response.headers["Content-Security-Policy"]
    assert 'data-tiles="https://tiles.example.ru/{z}/{x}/{y}.png"' in response.get_data(
        as_text=True
    )
    assert "tiles.example.ru" not in client.get("/").headers["Content-Security-Policy"]


def test_mail_about_a_high_risk_rally_names_no_rally_campaign_or_hashtag(app, hq, moscow, outbox):
    _mark(hq)
    _sign_up(app.test_client(), moscow)
    (mail,) = [m for m in outbox() if m["To"] == "ana@example.org"]
    assert mail["Subject"].startswith("Your plans for ")
    rally = _rally(app, moscow)
    with app.app_context():
        hashtag = db.session.get(Rally, moscow).campaign.hashtag
    for secret in ("Justice for Chechnya", hashtag, "Moscow"):
        assert secret not in mail["Subject"]
    assert "Justice for Chechnya" not in mail.get_content() and hashtag not in mail.get_content()
    assert not any(part.get_content_type() == "text/calendar" for part in mail.walk())
    assert rally.title in client_page(app, moscow)


def client_page(app, rally_id):
    organizer = app.test_client()
    AuthActions(organizer).login("org@example.org")
    return organizer.get(f"/rallies/{rally_id}").get_data(as_text=True)


def test_personal_data_goes_hours_after_a_high_risk_rally(app, hq, moscow, rallies):
    _mark(hq, purge_hours="6")
    elsewhere = rallies()
    for rally_id in (moscow, elsewhere):
        _sign_up(app.test_client(), rally_id)
    end = _rally(app, moscow).end_dt
    with app.app_context():
        tasks.sweep(end + timedelta(hours=5))
        assert db.session.scalar(select(Signup.email).where(Signup.rally_id == moscow))
        tasks.sweep(end + timedelta(hours=7))
        assert db.session.scalar(select(Signup.email).where(Signup.rally_id == moscow)) is None
        assert db.session.scalar(select(Signup.email).where(Signup.rally_id == elsewhere))


def test_lowering_the_level_keeps_rallies_protected_and_the_usual_cell(app, hq, moscow):
    _mark(hq)
    _mark(hq, high_risk="")
    rally = _rally(app, moscow)
    assert rally.visibility is Visibility.PROTECTED
    assert (rally.public_latitude, rally.public_longitude) == snap_to_grid(*RED_SQUARE)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"country_code": "XX"}, "country_code"),
        ({"cell_km": "0"}, "cell_km"),
        ({"cell_km": "1e400"}, "cell_km"),
        ({"purge_hours": "-3"}, "purge_hours"),
        ({"tiles": "http://tiles.example.ru/{z}/{x}/{y}.png"}, "tiles"),
        ({"tiles": "javascript:alert(1)"}, "tiles"),
    ],
)
def test_bad_settings_are_refused_at_their_field(app, hq, changes, field):
    response = _mark(hq, **changes)
    assert response.status_code == 400
    assert BeautifulSoup(response.data, "html.parser").select_one(f"#{field}-errors")
    with app.app_context():
        assert db.session.scalars(select(CountryRisk)).all() == []


def test_only_hq_sets_a_country(app, users, moscow):
    organizer = app.test_client()
    AuthActions(organizer).login("org@example.org")
    assert organizer.get("/hq/countries").status_code == 403
    assert post_form(organizer, "/hq/countries", SETTINGS, page="/rallies/mine").status_code == 403
    with app.app_context():
        assert db.session.scalars(select(CountryRisk)).all() == []


def test_a_held_meeting_point_reaches_supporters_only_from_its_time(app, rallies, users, outbox):
    organizer = users(email="org@example.org")
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=2)
    rally_id = rallies(
        organizer_id=organizer,
        visibility=Visibility.PROTECTED,
        meeting_point="Behind the old library",
        hold_hours=3,
        start_dt=start,
    )
    supporter = app.test_client()
    _sign_up(supporter, rally_id)
    (confirmation,) = [m for m in outbox() if m["To"] == "ana@example.org"]
    assert "Behind the old library" not in confirmation.get_content()
    assert "The meeting point reaches you by e-mail on" in confirmation.get_content()
    # The page after signing up says when it comes, not that it is in the e-mail.
    thanks = supporter.get(f"/rallies/{rally_id}/signed-up").get_data(as_text=True)
    assert "The meeting point reaches you by e-mail on" in thanks
    assert "The meeting point is in the e-mail" not in thanks
    with app.app_context():
        token = db.session.scalar(select(Signup.token))
    assert "Behind the old library" not in supporter.get(f"/s/{token}").get_data(as_text=True)
    organizer_client = app.test_client()
    AuthActions(organizer_client).login("org@example.org")
    assert "Behind the old library" in organizer_client.get(f"/rallies/{rally_id}").get_data(
        as_text=True
    )
    with app.app_context():
        tasks.sweep(start - timedelta(hours=4))
    # Reminders may go out by then; none holds the meeting point.
    assert not [m for m in outbox() if "Behind the old library" in m.get_content()]
    with app.app_context():
        tasks.sweep(start - timedelta(hours=2, minutes=59))
        tasks.sweep(start - timedelta(hours=2, minutes=58))
    released = [m for m in outbox() if "Behind the old library" in m.get_content()]
    assert len(released) == 1 and released[0]["To"] == "ana@example.org"
    assert _rally(app, rally_id).status is RallyStatus.APPROVED


def test_no_public_surface_leaks_anything_about_a_high_risk_rally(app, hq, moscow, outbox):
    _mark(hq)
    for n in range(3):
        _sign_up(app.test_client(), moscow, email=f"s{n}@example.org")
    with app.app_context():
        rally = db.session.get(Rally, moscow)
        slug = rally.campaign.slug
        hashtag = rally.campaign.hashtag
    fine_cell = snap_to_grid(*RED_SQUARE)
    secrets = [
        "Pushkin Square",
        "Ivan Petrov",
        str(RED_SQUARE[0]),
        str(RED_SQUARE[1]),
        "55.7539",
        "37.6207",
        str(fine_cell[0]),
        str(fine_cell[1]),
        "places left",
        'spots_left": 3',
    ]
    public = app.test_client()
    surfaces = [
        "/",
        "/near?q=Moscow",
        f"/rallies/{moscow}",
        f"/rallies/{moscow}.ics",
        f"/campaigns/{slug}/rallies.ics",
        "/map/points.json",
        "/api/v1/events",
        "/api/v1/events?near=Moscow&radius_km=50",
        "/embed/map",
    ]
    for url in surfaces:
        body = public.get(url).get_data(as_text=True)
        for secret in secrets:
            assert secret not in body, (url, secret)
    for mail in outbox():
        if mail["To"].startswith("s"):
            for word in ("Justice for Chechnya", hashtag, "Moscow"):
                assert word not in mail["Subject"], mail["Subject"]


def test_a_high_risk_country_asks_after_everyone_and_its_organizers_use_two_factor(
    app, hq, moscow, rallies
):
    from rallyhub.auth.models import User
    from rallyhub.rallies.safety import checkins_on

    elsewhere = rallies()
    with app.app_context():
        assert not checkins_on(db.session.get(Rally, moscow))
    _mark(hq)
    with app.app_context():
        assert checkins_on(db.session.get(Rally, moscow))
        assert not checkins_on(db.session.get(Rally, elsewhere))
        organizer = db.session.scalar(select(User).where(User.email == "org@example.org"))
        assert organizer.two_factor_required
    # Unless HQ decides otherwise for that country.
    _mark(hq, country_code="TR", two_factor="")
    with app.app_context():
        assert db.session.get(CountryRisk, "TR").two_factor is False


def test_a_country_s_hold_is_kept_by_a_worker_s_sweeps_one_job_after_another(
    app, hq, users, rallies, outbox
):
    """The worker keeps one app context for all its jobs and ends the database session after
    each: the country's settings are read again by every job, never kept from an old one."""
    organizer = users(email="org@example.org", two_factor=True)
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=2)
    rally_id = rallies(
        organizer_id=organizer,
        country_code="RU",
        city="Moscow",
        timezone="Europe/Moscow",
        meeting_point="Behind the old library",
        start_dt=start,
    )
    assert _mark(hq, hold_hours="3").status_code == 302
    supporter = app.test_client()
    _sign_up(supporter, rally_id)
    with app.app_context():
        token = db.session.scalar(select(Signup.token))
    assert "Behind the old library" not in supporter.get(f"/s/{token}").get_data(as_text=True)
    # HQ (like the organizer) sees the meeting point all along.
    assert "Behind the old library" in hq.get(f"/rallies/{rally_id}").get_data(as_text=True)
    with app.app_context():  # one context, as `flask rallyhub worker` keeps
        for before in (timedelta(hours=4), timedelta(hours=2, minutes=59)):
            tasks.sweep(start - before)
            db.session.remove()
        # HQ lifts the hold between two jobs: the next job reads the change.
        assert _mark(hq, hold_hours="").status_code == 302
        tasks.sweep(start - timedelta(hours=2, minutes=58))
        db.session.remove()
    released = [m for m in outbox() if "Behind the old library" in m.get_content()]
    assert [m["To"] for m in released] == ["ana@example.org"]
    assert not any("Behind the old library" in m["Subject"] for m in released)
    assert "Behind the old library" in supporter.get(f"/s/{token}").get_data(as_text=True)


def test_a_co_organizer_who_joins_later_must_use_two_factor_too(app, hq, moscow, users, outbox):
    from rallyhub.auth.models import User
    from tests.conftest import link_in
    from tests.test_rallies_coorganizers import _accept, _client_as, _invite

    _mark(hq)
    users(email="co@example.org")
    assert _invite(_client_as(app, "org@example.org"), moscow, "co@example.org").status_code == 302
    link = link_in(outbox()[-1], "/rallies/invites/")
    assert _accept(_client_as(app, "co@example.org"), link).status_code == 302
    with app.app_context():
        joined = db.session.scalar(select(User).where(User.email == "co@example.org"))
        assert joined.two_factor_required


def test_every_map_of_the_country_follows_its_tile_setting(app, hq, moscow, client):
    """Not only the rally's small map: the map of the country, its embed and a search there."""
    pages = ("/?country=RU", "/embed/map?country=RU", "/near?q=Moscow&radius_km=50")
    _mark(hq, tiles="https://tiles.example.ru/{z}/{x}/{y}.png")
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "https://tiles.example.ru" in response.headers["Content-Security-Policy"], path
        assert "https://tiles.example.ru/{z}/{x}/{y}.png" in response.get_data(as_text=True)
    world = client.get("/?country=SE")
    assert "tiles.example.ru" not in world.get_data(as_text=True)
    assert "tiles.example.ru" not in world.headers["Content-Security-Policy"]
    _mark(hq, tiles="none")
    for path in pages:
        page = BeautifulSoup(client.get(path).data, "html.parser")
        assert page.select_one(".world-map") is None, path
        assert not page.select("script[src*='leaflet']"), path
    # The list stays: a supporter still finds the rally, without a map.
    listing = BeautifulSoup(client.get("/?country=RU").data, "html.parser")
    assert listing.select_one(f".home-list a[href='/rallies/{moscow}']")
    assert "no map is shown" in listing.select_one(".home-map").get_text()
    assert BeautifulSoup(client.get("/").data, "html.parser").select_one(".world-map")


def test_every_mail_to_a_supporter_of_a_high_risk_rally_has_a_neutral_subject(
    app, hq, moscow, outbox
):
    """Not only the confirmation: the reminder, the organizers' message and the cancellation."""
    _mark(hq)
    _sign_up(app.test_client(), moscow)
    start = _rally(app, moscow).start_dt
    with app.app_context():
        tasks.sweep(start - timedelta(hours=1))  # the reminder that is due by then
    organizer = app.test_client()
    AuthActions(organizer).login("org@example.org")
    message = {"subject": "Justice for Chechnya: bring water", "body": "See you there."}
    page = f"/rallies/{moscow}/message"
    assert post_form(organizer, page, message).status_code == 302
    cancel = f"/rallies/{moscow}/cancel"
    manage = f"/rallies/{moscow}/manage"
    note = {"note": "Moved online.", "confirm": "yes"}
    assert post_form(organizer, cancel, note, page=manage).status_code == 302
    with app.app_context():
        hashtag = db.session.get(Rally, moscow).campaign.hashtag
    mails = [m for m in outbox() if m["To"] == "ana@example.org"]
    kinds = {"confirmation", "reminder", "organizer message", "cancellation"}
    assert len(mails) == len(kinds), [m["Subject"] for m in mails]
    for mail in mails:
        assert mail["Subject"].startswith("Your plans for "), mail["Subject"]
        for secret in ("Justice", hashtag, "Moscow", "Pushkin", "water"):
            assert secret not in mail["Subject"]
        assert not any(part.get_content_type() == "text/calendar" for part in mail.walk())


def test_organizers_are_told_when_their_country_is_no_longer_high_risk(app, hq, moscow, outbox):
    _mark(hq)
    told_before = [m for m in outbox() if m["To"] == "org@example.org"]
    _mark(hq, high_risk="")
    (lowered,) = [m for m in outbox() if m["To"] == "org@example.org"][len(told_before) :]
    assert "Russia" in lowered.get_content()
    assert lowered.get_content() != told_before[-1].get_content()
