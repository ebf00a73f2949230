"""Rallies and campaigns in several languages: organizers translate, every surface (page,
map, API, calendar, e-mail) shows the reader's language if there is a version in it."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from icalendar import Calendar
from sqlalchemy import select

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus, RallyTranslation, Visibility
from tests.conftest import AuthActions, post_form
from tests.rally_data import rally_form

ITALIAN = {
    "language": "it",
    "title": "Giustizia per la Cecenia — Gyumri",
    "description": "Porta un cartello.",
    "meeting_point": "Piazza Vardanants, davanti al municipio",
}


@pytest.fixture
def organizer(users, auth):
    user_id = users(email="org@example.org")
    auth.login("org@example.org")
    return user_id


@pytest.fixture
def rally(rallies, organizer):
    return rallies(
        organizer_id=organizer,
        title="Արդարություն Չեչնիայի համար",
        description="Բերեք պաստառ։",
        meeting_point="Վարդանանց հրապարակ",
        languages="hy,ru",
        city="Gyumri",
        country_code="AM",
        timezone="Asia/Yerevan",
    )


def _translate(client, rally_id, **fields):
    return post_form(
        client,
        f"/rallies/{rally_id}/translations",
        {**ITALIAN, **fields},
        page=f"/rallies/{rally_id}/translations",
    )


def _approve(app, rally_id):
    """HQ's approval of the translated rally (its review is tested on its own)."""
    with app.app_context():
        db.session.get(Rally, rally_id).status = RallyStatus.APPROVED
        db.session.commit()


def _page(client, path, language=None):
    headers = {"Accept-Language": language} if language else {}
    return BeautifulSoup(client.get(path, headers=headers).data, "html.parser")


def test_an_italian_visitor_reads_the_italian_translation(app, client, rally):
    assert _translate(client, rally).status_code == 302
    _approve(app, rally)
    visitor = app.test_client()
    italian = _page(visitor, f"/rallies/{rally}", "it-IT,it;q=0.9")
    assert italian.h1.get_text() == ITALIAN["title"]
    assert italian.h1["lang"] == "it"
    assert "Porta un cartello." in italian.select_one(".description").get_text()
    assert ITALIAN["meeting_point"] in italian.get_text()
    also = {a.get_text(): a["href"] for a in italian.select(".also-in a")}
    assert also == {"Հայերեն": f"/rallies/{rally}?text=hy"}
    # A reader of a language with no version reads the main one, and is offered the others.
    german = _page(visitor, f"/rallies/{rally}", "de")
    assert german.h1.get_text() == "Արդարություն Չեչնիայի համար"
    assert {a.get_text() for a in german.select(".also-in a")} == {"Italiano"}
    assert _page(visitor, f"/rallies/{rally}?text=it", "de").h1.get_text() == ITALIAN["title"]


def test_the_map_the_api_and_the_calendar_follow_the_same_rule(app, client, rally):
    _translate(client, rally)
    _approve(app, rally)
    visitor = app.test_client()
    points = visitor.get("/map/points.json?lang=it").get_json()
    assert [row[3] for row in points if row[2] == rally] == [ITALIAN["title"]]
    assert "Accept-Language" in visitor.get("/map/points.json").headers["Vary"]
    english = visitor.get("/map/points.json?lang=en").get_json()
    assert [row[3] for row in english if row[2] == rally] == ["Արդարություն Չեչնիայի համար"]

    for response in (
        visitor.get("/api/v1/events?lang=it"),
        visitor.get("/api/v1/events", headers={"Accept-Language": "it"}),
    ):
        (feature,) = [f for f in response.get_json()["features"] if f["properties"]["id"] == rally]
        assert (feature["properties"]["title"], feature["properties"]["language"]) == (
            ITALIAN["title"],
            "it",
        )
    main = visitor.get("/api/v1/events?lang=sv").get_json()["features"]
    assert [f["properties"]["language"] for f in main if f["properties"]["id"] == rally] == ["hy"]

    calendar = Calendar.from_ical(visitor.get(f"/rallies/{rally}.ics?lang=it").data)
    (event,) = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]).startswith(ITALIAN["title"])
    assert str(event["DESCRIPTION"]).startswith("Porta un cartello.")
    assert ITALIAN["meeting_point"] in str(event["LOCATION"])


def test_a_protected_rallys_translated_meeting_point_stays_private(app, client, rallies, organizer):
    rally_id = rallies(organizer_id=organizer, visibility=Visibility.PROTECTED, languages="en")
    _translate(client, rally_id)
    _approve(app, rally_id)
    public = app.test_client()
    assert ITALIAN["meeting_point"] not in public.get(
        f"/rallies/{rally_id}", headers={"Accept-Language": "it"}
    ).get_data(as_text=True)
    ics = public.get(f"/rallies/{rally_id}.ics?lang=it").get_data(as_text=True)
    assert "Piazza Vardanants" not in ics
    # Its organizer sees it.
    assert ITALIAN["meeting_point"] in client.get(f"/rallies/{rally_id}?text=it").get_data(
        as_text=True
    )


def test_the_confirmation_mail_is_in_the_supporters_language_with_the_translated_title(
    app, client, rally, outbox
):
    _translate(client, rally)
    _approve(app, rally)
    supporter = app.test_client()
    supporter.environ_base["HTTP_ACCEPT_LANGUAGE"] = "it"
    post_form(
        supporter,
        f"/rallies/{rally}/signup",
        {"name": "Giulia", "email": "giulia@example.org"},
        page=f"/rallies/{rally}",
    )
    (mail,) = [m for m in outbox() if m["To"] == "giulia@example.org"]
    assert ITALIAN["title"] in mail["Subject"]
    body = mail.get_content()
    assert "Ciao Giulia," in body and ITALIAN["meeting_point"] in body


def test_translating_an_approved_rally_sends_it_back_to_review_and_hq_sees_what(
    app, client, rally, users
):
    response = _translate(client, rally)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Rally, rally).status is RallyStatus.PENDING
        detail = db.session.scalars(
            select(AuditRecord.detail).where(AuditRecord.target_id == rally)
        ).all()
    assert "changed: translation_it; back to review" in detail
    users(email="hq@example.org", role=Role.HQ)
    hq = app.test_client()
    AuthActions(hq).login("hq@example.org")
    review = BeautifulSoup(hq.get("/hq/review").data, "html.parser")
    assert "translation into Italian" in review.select_one(".notice").get_text()
    # HQ reads the translation it is asked to approve, not only its name.
    (shown,) = review.select("details.translation")
    assert shown["lang"] == "it" and shown.has_attr("open")
    text = shown.get_text()
    assert ITALIAN["title"] in text and ITALIAN["meeting_point"] in text
    assert ITALIAN["description"] in text
    assert shown.select_one(f"a[href='/rallies/{rally}?text=it']")


def test_saving_the_same_translation_again_changes_nothing(app, client, rally):
    _translate(client, rally)
    with app.app_context():
        db.session.get(Rally, rally).status = RallyStatus.APPROVED
        db.session.commit()
    _translate(client, rally)
    with app.app_context():
        assert db.session.get(Rally, rally).status is RallyStatus.APPROVED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"language": "hy"}, "language"),  # the main language is the rally itself
        ({"language": "fr"}, "language"),  # not an interface language
        ({"title": ""}, "title"),
        ({"title": "Line\r\nBreak"}, "title"),
        ({"meeting_point": "x" * 501}, "meeting_point"),
    ],
)
def test_a_bad_translation_is_refused_at_its_field(app, client, rally, fields, field):
    response = _translate(client, rally, **fields)
    assert response.status_code == 400
    page = BeautifulSoup(response.data, "html.parser")
    assert page.select_one(f"#{field}-errors")
    with app.app_context():
        assert db.session.scalars(select(RallyTranslation)).all() == []


def test_only_the_rallys_organizers_and_hq_translate(app, rally, users):
    users(email="other@example.org")
    other = app.test_client()
    AuthActions(other).login("other@example.org")
    assert other.get(f"/rallies/{rally}/translations").status_code == 403
    assert _translate(other, rally).status_code in (400, 403)
    anonymous = app.test_client()
    assert anonymous.get(f"/rallies/{rally}/translations").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(RallyTranslation)).all() == []


def test_removing_a_translation_asks_first(app, client, rally):
    _translate(client, rally)
    path = f"/rallies/{rally}/translations/it/delete"
    asked = post_form(client, path, {}, page=f"/rallies/{rally}/translations")
    assert asked.status_code == 200 and "Remove the Italiano translation?" in asked.get_data(
        as_text=True
    )
    post_form(client, path, {"confirm": "yes"}, page=f"/rallies/{rally}/translations")
    with app.app_context():
        assert db.session.scalars(select(RallyTranslation)).all() == []


def test_spoken_languages_are_saved_main_one_first(app, client, organizer, campaigns):
    data = rally_form(campaigns(), language="hy", also_spoken=["ru", "en", "hy"])
    assert post_form(client, "/rallies/new", data).status_code == 302
    with app.app_context():
        (rally,) = db.session.scalars(select(Rally)).all()
        assert rally.languages == "hy,ru,en"
    edit = BeautifulSoup(client.get(f"/rallies/{rally.id}/edit").data, "html.parser")
    checked = {box["value"] for box in edit.select("#also_spoken input[checked]")}
    assert checked == {"ru", "en"}


def test_hq_translates_a_campaign_and_the_home_page_follows(app, users, campaigns):
    users(email="hq@example.org", role=Role.HQ)
    campaign_id = campaigns(description="Justice for the men abducted in Chechnya.")
    hq = app.test_client()
    AuthActions(hq).login("hq@example.org")
    response = post_form(
        hq,
        f"/hq/campaigns/{campaign_id}/translations",
        {
            "translation-language": "ru",
            "translation-name": "Справедливость для Чечни",
            "translation-description": "Справедливость для мужчин, похищенных в Чечне.",
        },
        page=f"/hq/campaigns/{campaign_id}/edit",
    )
    assert response.status_code == 302
    visitor = app.test_client()
    assert "похищенных в Чечне" in visitor.get("/", headers={"Accept-Language": "ru"}).get_data(
        as_text=True
    )
    assert "abducted in Chechnya" in visitor.get("/", headers={"Accept-Language": "it"}).get_data(
        as_text=True
    )
    with app.app_context():
        assert [t.language for t in db.session.get(Campaign, campaign_id).translations] == ["ru"]


def test_city_names_follow_the_readers_language_where_known(app, client, rallies):
    rally_id = rallies(city="Moscow", country_code="RU", timezone="Europe/Moscow")
    for language, name in [("ru", "Москва"), ("it", "Mosca"), ("en", "Moscow")]:
        page = _page(client, f"/rallies/{rally_id}", language)
        assert f"{name}, " in page.select_one(".facts").get_text()


def test_the_home_and_near_lists_show_the_translated_title(app, client, rally):
    _translate(client, rally)
    _approve(app, rally)
    visitor = app.test_client()
    for path in ("/", "/near?q=Gyumri"):
        page = _page(visitor, path, "it")
        assert ITALIAN["title"] in page.select_one(f"a[href='/rallies/{rally}']").get_text()
