"""“I'm safe” check-ins after a rally: the mailed links, the answers, the calls for help, the
contacts HQ keeps per country, and what the organizers may (and may not) see."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from rallyhub import tasks
from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role, User
from rallyhub.auth.tokens import make_token
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage
from rallyhub.models import utcnow
from rallyhub.places.models import CountryRisk
from rallyhub.rallies import safety as rally_safety
from rallyhub.rallies.models import Rally, RallyStatus, SafetyContact, rally_coorganizers
from rallyhub.signups import safety
from rallyhub.signups.models import (
    SafetyAnswer,
    SafetyIncident,
    SafetyStatus,
    Signup,
    SignupStatus,
)
from tests.conftest import link_in, post_form
from tests.factories import CampaignFactory, RallyFactory, UserFactory
from tests.rally_data import rally_form

ISTANBUL = {
    "city": "İstanbul",
    "country_code": "TR",
    "timezone": "Europe/Istanbul",
    "latitude": 41.0369,
    "longitude": 28.985,
}
CONTACTS = {
    ("TR", "en"): "Legal aid in Turkey: ÇHD lawyers +90 212 000 00 01",
    ("TR", "it"): "Assistenza legale in Turchia: avvocati ÇHD +90 212 000 00 02",
    ("TR", "tr"): "Türkiye hukuki yardım: ÇHD avukatları +90 212 000 00 03",
    ("SE", "it"): "Assistenza legale in Svezia: +46 8 000 00 00",
}


def _ended_rally(rallies, *, ago=timedelta(hours=1), **fields) -> int:
    """A rally in Istanbul, two hours long, that ended ``ago``, with check-ins on."""
    start = utcnow().replace(second=0, microsecond=0) - ago - timedelta(hours=2)
    values = {"title": "Yürüyüş", "start_dt": start, "safety_checkins": True, **ISTANBUL}
    return rallies(**{**values, **fields})


def _signup(app, rally_id, email, *, language="en", status=SignupStatus.GOING, **fields) -> int:
    with app.app_context():
        signup = Signup(
            rally_id=rally_id,
            name=email.split("@")[0].capitalize(),
            email=email,
            language=language,
            status=status,
            **fields,
        )
        db.session.add(signup)
        db.session.commit()
        return signup.id


def _sweep(app, now=None) -> dict:
    with app.app_context():
        return tasks.sweep(now)


def _end_of(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id).end_dt


def _checkin_mails(outbox) -> list:
    """The check-in mails, in whatever language: the ones holding a /safe/ link."""
    return [m for m in outbox() if "/safe/" in m.get_content()]


def _link_for(outbox, email) -> str:
    (message,) = [m for m in _checkin_mails(outbox) if m["To"] == email]
    return link_in(message, "/safe/")


def _token_of(link: str) -> str:
    return urlsplit(link).path.split("/")[2]


def _add_contacts(app, contacts=CONTACTS) -> None:
    with app.app_context():
        for (country, language), text in contacts.items():
            db.session.add(SafetyContact(country_code=country, language=language, text=text))
        db.session.commit()


def _answers(app, rally_id) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            select(SafetyAnswer.signup_id, SafetyAnswer.user_id, SafetyAnswer.status).where(
                SafetyAnswer.rally_id == rally_id
            )
        ).all()


def _incidents(app) -> list[SafetyIncident]:
    with app.app_context():
        incidents = list(db.session.scalars(select(SafetyIncident).order_by(SafetyIncident.id)))
        db.session.expunge_all()
        return incidents


@pytest.fixture
def ended(app, users, rallies):
    """A rally that ended an hour ago with check-ins on: an organizer writing German, a
    co-organizer, and sign-ups in Italian (going), English (waiting), cancelled and purged."""
    organizer = users(email="org@example.org")
    coorganizer = users(email="co@example.org")
    with app.app_context():
        db.session.get(User, organizer).language = "de"
        db.session.commit()
    rally_id = _ended_rally(rallies, organizer_id=organizer)
    with app.app_context():
        db.session.execute(
            rally_coorganizers.insert().values(rally_id=rally_id, user_id=coorganizer)
        )
        db.session.commit()
    _signup(app, rally_id, "giulia@example.org", language="it")
    _signup(app, rally_id, "wait@example.org", status=SignupStatus.WAITLISTED)
    _signup(app, rally_id, "gone@example.org", status=SignupStatus.CANCELLED)
    with app.app_context():
        db.session.add(
            Signup(rally_id=rally_id, status=SignupStatus.GOING, purged_dt=utcnow(), token="p")
        )
        db.session.commit()
    return rally_id


# -- the rule, and the sweep ------------------------------------------------------------------


def test_check_ins_are_off_unless_the_rally_turns_them_on(app, client, rallies, outbox):
    rally_id = _ended_rally(rallies, safety_checkins=False)
    signup_id = _signup(app, rally_id, "ana@example.org")
    assert _sweep(app)["checkins"] == 0
    assert _checkin_mails(outbox) == []
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        assert rally_safety.checkins_on(rally) is False
        token = safety.checkin_token(rally, signup=db.session.get(Signup, signup_id))
    assert client.get(f"/safe/{token}").status_code == 404


def test_a_new_rally_has_check_ins_off_and_its_organizer_can_turn_them_on(
    app, client, users, campaigns, auth
):
    users(email="org@example.org")
    auth.login("org@example.org")
    campaign_id = campaigns()
    assert post_form(client, "/rallies/new", rally_form(campaign_id)).status_code == 302
    with app.app_context():
        rally = db.session.scalar(select(Rally))
        assert rally.safety_checkins is False
        rally_id = rally.id
    data = {**rally_form(campaign_id), "safety_checkins": "y"}
    assert post_form(client, f"/rallies/{rally_id}/edit", data).status_code == 302
    with app.app_context():
        assert db.session.get(Rally, rally_id).safety_checkins is True


def test_the_one_rule_decides_for_the_sweep(app, rallies, outbox, monkeypatch):
    """The lead will make countries at risk turn check-ins on in checkins_on alone."""
    rally_id = _ended_rally(rallies, safety_checkins=False)
    _signup(app, rally_id, "ana@example.org")
    monkeypatch.setattr(rally_safety, "checkins_on", lambda rally: True)
    # Ana and the rally's organizer.
    assert _sweep(app)["checkins"] == 2


def test_the_sweep_mails_each_person_once_in_their_language(app, ended, outbox):
    counts = _sweep(app)
    # Giulia (going), the waiting list, the organizer and the co-organizer; not the cancelled
    # sign-up, nor the purged one.
    assert counts["checkins"] == 4
    assert _sweep(app)["checkins"] == 0, "written once"
    assert _sweep(app, utcnow() + timedelta(hours=5))["checkins"] == 0
    mails = _checkin_mails(outbox)
    assert sorted(m["To"] for m in mails) == [
        "co@example.org",
        "giulia@example.org",
        "org@example.org",
        "wait@example.org",
    ]
    languages = {m["To"]: parse_qs(urlsplit(link_in(m, "/safe/")).query)["lang"] for m in mails}
    assert languages["giulia@example.org"] == ["it"] and languages["org@example.org"] == ["de"]
    giulia = next(m for m in mails if m["To"] == "giulia@example.org")
    body = giulia.get_content()
    # Written in Italian where Babel formats: the rally's day in Istanbul (UTC+3 all year),
    # with Italian's short month names.
    with app.app_context():
        local = db.session.get(Rally, ended).start_dt + timedelta(hours=3)
    months = ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"]
    month = months[local.month - 1]
    assert f"{local.day} {month} {local.year}" in body
    assert "Turchia" in body
    # The subject names no rally (it shows on a locked screen); the body no campaign.
    assert "Yürüyüş" not in giulia["Subject"] and "#" not in body
    # Four different links, one per person.
    assert len({link_in(m, "/safe/") for m in mails}) == 4
    with app.app_context():
        keys = set(db.session.scalars(select(OutboxMessage.dedup_key)))
    assert sum(1 for key in keys if key and key.startswith("safety-checkin:")) == 4


def test_no_check_in_mail_before_the_end_or_after_the_links_expire(app, ended, outbox):
    end = _end_of(app, ended)
    assert _sweep(app, end - timedelta(minutes=1))["checkins"] == 0
    assert _sweep(app, end + timedelta(hours=72, minutes=1))["checkins"] == 0
    assert _checkin_mails(outbox) == []
    assert _sweep(app, end)["checkins"] == 4


@pytest.mark.parametrize("status", [RallyStatus.CANCELLED, RallyStatus.PENDING])
def test_a_rally_that_did_not_take_place_asks_nobody(app, rallies, outbox, status):
    rally_id = _ended_rally(rallies, status=status)
    _signup(app, rally_id, "ana@example.org")
    assert _sweep(app)["checkins"] == 0


# -- the links --------------------------------------------------------------------------------


def test_home_safe_is_recorded_once_per_person_and_can_change(app, client, ended, outbox):
    _sweep(app)
    link = _link_for(outbox, "giulia@example.org")
    page = client.get(link)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    token = _token_of(link)
    # Giulia signed up in Italian: her page is in Italian, with both answers.
    assert 'lang="it"' in html
    assert f'action="/safe/{token}/safe?lang=it"' in html
    assert f'action="/safe/{token}/help?lang=it"' in html
    # No CSRF token: the link's secret is the proof (cookies may be off).
    fresh = app.test_client()
    assert fresh.post(f"/safe/{token}/safe").status_code == 302
    assert fresh.post(f"/safe/{token}/safe").status_code == 302
    with app.app_context():
        giulia = db.session.scalar(select(Signup.id).where(Signup.email == "giulia@example.org"))
    assert _answers(app, ended) == [(giulia, None, SafetyStatus.SAFE)]
    assert fresh.post(f"/safe/{token}/help").status_code == 302
    assert _answers(app, ended) == [(giulia, None, SafetyStatus.NEEDS_HELP)]
    assert fresh.post(f"/safe/{token}/safe").status_code == 302
    assert _answers(app, ended) == [(giulia, None, SafetyStatus.SAFE)]
    assert "You told us you got home safe" in fresh.get(f"/safe/{token}").get_data(as_text=True)


def test_an_organizer_answers_through_their_own_link(app, client, ended, outbox):
    _sweep(app)
    token = _token_of(_link_for(outbox, "co@example.org"))
    assert client.post(f"/safe/{token}/safe").status_code == 302
    with app.app_context():
        co = db.session.scalar(select(User.id).where(User.email == "co@example.org"))
    assert _answers(app, ended) == [(None, co, SafetyStatus.SAFE)]


def _forged(token: str) -> str:
    head, _dot, signature = token.rpartition(".")
    return f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def test_forged_expired_and_stale_links_are_404(app, client, users, rallies, ended, outbox):
    _sweep(app)
    token = _token_of(_link_for(outbox, "giulia@example.org"))
    other_rally = _ended_rally(rallies)
    old_rally = _ended_rally(rallies, ago=timedelta(hours=73))
    old_signup = _signup(app, old_rally, "late@example.org")
    with app.app_context():
        rally = db.session.get(Rally, ended)
        giulia = db.session.scalar(select(Signup).where(Signup.email == "giulia@example.org"))
        # Signed for another purpose, or naming the sign-up with another rally.
        other_purpose = make_token("digests-off", {"r": rally.id, "s": giulia.id})
        mismatched = make_token(safety.CHECKIN, {"r": other_rally, "s": giulia.id})
        nonsense = make_token(safety.CHECKIN, {"r": "1", "s": True})
        expired = safety.checkin_token(
            db.session.get(Rally, old_rally), signup=db.session.get(Signup, old_signup)
        )
        # A former co-organizer's link dies with the role.
        co = db.session.scalar(select(User).where(User.email == "co@example.org"))
        co_token = safety.checkin_token(rally, user=co)
        manage_token = giulia.token
        db.session.execute(rally_coorganizers.delete())
        db.session.commit()
    bad = [
        _forged(token),
        token[:-1],
        "x" * 600,
        other_purpose,
        mismatched,
        nonsense,
        expired,
        co_token,
        manage_token,
    ]
    for value in bad:
        for method, path in [("GET", ""), ("GET", "/help"), ("POST", "/safe"), ("POST", "/help")]:
            response = client.open(f"/safe/{value}{path}", method=method)
            assert response.status_code == 404, (value, method, path)
    assert _answers(app, ended) == [] and _incidents(app) == []
    assert client.get(f"/safe/{token}").status_code == 200, "the real link still works"


def test_a_disabled_organizers_link_is_404(app, client, ended, outbox):
    _sweep(app)
    token = _token_of(_link_for(outbox, "org@example.org"))
    assert client.get(f"/safe/{token}").status_code == 200
    with app.app_context():
        db.session.scalar(select(User).where(User.email == "org@example.org")).is_disabled = True
        db.session.commit()
    assert client.get(f"/safe/{token}").status_code == 404


def test_links_stop_working_72_hours_after_the_end(app, client, rallies):
    rally_id = _ended_rally(rallies, ago=timedelta(hours=71, minutes=59))
    signup_id = _signup(app, rally_id, "ana@example.org")
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        token = safety.checkin_token(rally, signup=db.session.get(Signup, signup_id))
        end = rally.end_dt
        assert safety.person_for(token, now=end + timedelta(hours=71)).signup.id == signup_id
        for moment in (end - timedelta(minutes=1), end + timedelta(hours=72)):
            with pytest.raises(Exception) as refused:
                safety.person_for(token, now=moment)
            assert getattr(refused.value, "status", None) == 404
    assert client.get(f"/safe/{token}").status_code == 200


# -- "I need help" ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("it", ("TR", "it")),  # an Italian reader of a rally in Turkey
        ("tr", ("TR", "tr")),
        ("en", ("TR", "en")),
        ("de", ("TR", "en")),  # nothing in German: English
    ],
)
def test_need_help_shows_the_rally_countrys_contacts_in_the_readers_language(
    app, client, rallies, outbox, language, expected
):
    _add_contacts(app)
    rally_id = _ended_rally(rallies)
    _signup(app, rally_id, "ana@example.org", language=language)
    _sweep(app)
    link = _link_for(outbox, "ana@example.org")
    token = _token_of(link)
    client.get(link)  # as the e-mail's link opens it: in the person's language
    response = client.post(f"/safe/{token}/help?lang={language}")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    shown = [key for key, text in CONTACTS.items() if text in page]
    assert shown == [expected]
    # The contacts come first: before the form and before anything said about HQ.
    main = page[page.index('<main id="main">') :]
    assert main.index(CONTACTS[expected]) < main.index("<form")


def test_any_language_when_neither_the_readers_nor_english_is_written(app, client, rallies):
    _add_contacts(app, {("TR", "tr"): CONTACTS[("TR", "tr")]})
    rally_id = _ended_rally(rallies)
    signup_id = _signup(app, rally_id, "ana@example.org", language="it")
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        token = safety.checkin_token(rally, signup=db.session.get(Signup, signup_id))
    page = client.get(f"/safe/{token}/help?lang=it").get_data(as_text=True)
    assert CONTACTS[("TR", "tr")] in page and 'lang="tr"' in page


def test_without_contacts_for_the_country_the_page_says_so(app, client, rallies):
    _add_contacts(app, {("SE", "it"): CONTACTS[("SE", "it")]})
    rally_id = _ended_rally(rallies)
    signup_id = _signup(app, rally_id, "ana@example.org")
    with app.app_context():
        rally = db.session.get(Rally, rally_id)
        token = safety.checkin_token(rally, signup=db.session.get(Signup, signup_id))
    page = client.get(f"/safe/{token}/help?lang=en").get_data(as_text=True)
    assert "HQ has no contacts for Türkiye yet" in page
    assert CONTACTS[("SE", "it")] not in page


def _help_with_contact(app, client, outbox) -> None:
    """Giulia asks for help after the rally, with a message and a way to reach her."""
    _sweep(app)
    token = _token_of(_link_for(outbox, "giulia@example.org"))
    response = client.post(
        f"/safe/{token}/help",
        data={"message": "Fermata dalla polizia a Taksim", "contact": "Signal: gi.99"},
    )
    assert response.status_code == 302


def test_need_help_raises_an_incident_that_holds_nothing_about_the_person(
    app, client, ended, outbox
):
    _help_with_contact(app, client, outbox)
    (incident,) = _incidents(app)
    assert incident.rally_id == ended
    assert (incident.message, incident.contact) == (
        "Fermata dalla polizia a Taksim",
        "Signal: gi.99",
    )
    assert abs(incident.created_dt - utcnow()) < timedelta(minutes=1)
    # Nothing in the incident's table names or leads back to the person.
    columns = set(SafetyIncident.__table__.columns.keys())
    assert columns == {
        "id",
        "rally_id",
        "created_dt",
        "message",
        "contact",
        "handled_dt",
        "handled_by_id",
    }
    with app.app_context():
        row = db.session.execute(select(SafetyIncident.__table__)).one()
    values = " ".join(str(value) for value in row)
    for personal in ("Giulia", "giulia@example.org", "giulia"):
        assert personal not in values


def test_the_incident_without_a_contact_keeps_none(app, client, ended, outbox):
    _sweep(app)
    token = _token_of(_link_for(outbox, "wait@example.org"))
    assert client.post(f"/safe/{token}/help").status_code == 302
    (incident,) = _incidents(app)
    assert (incident.message, incident.contact) == ("", "")


def test_pressing_need_help_again_raises_no_second_incident_and_words_join_the_first(
    app, client, ended, outbox
):
    _sweep(app)
    token = _token_of(_link_for(outbox, "giulia@example.org"))
    first = client.post(f"/safe/{token}/help")
    assert client.post(f"/safe/{token}/help").status_code == 302
    assert len(_incidents(app)) == 1
    # The help page the first press led to carries the incident: what is sent there joins it.
    help_page = first.headers["Location"]
    ref = parse_qs(urlsplit(help_page).query)["ref"][0]
    page = client.get(help_page).get_data(as_text=True)
    assert "HQ has been told that you need help" in page
    response = client.post(
        f"/safe/{token}/help", data={"ref": ref, "message": "Sono al commissariato"}
    )
    assert response.status_code == 302
    (incident,) = _incidents(app)
    assert incident.message == "Sono al commissariato"


def test_another_persons_reference_cannot_change_their_incident(app, client, ended, outbox):
    _sweep(app)
    giulia = _token_of(_link_for(outbox, "giulia@example.org"))
    other = _token_of(_link_for(outbox, "wait@example.org"))
    ref = parse_qs(urlsplit(client.post(f"/safe/{giulia}/help").headers["Location"]).query)["ref"]
    client.post(f"/safe/{other}/help", data={"ref": ref[0], "message": "Not Giulia"})
    first, second = _incidents(app)
    assert first.message == "" and second.message == "Not Giulia"


@pytest.mark.parametrize(
    "data",
    [
        {"message": "x" * 2001},
        {"contact": "y" * 201},
        {"contact": "two\nlines"},
        {"ref": "z" * 600},
    ],
)
def test_bad_help_input_is_a_400_that_still_shows_the_contacts(app, client, ended, outbox, data):
    _add_contacts(app)
    _sweep(app)
    token = _token_of(_link_for(outbox, "giulia@example.org"))
    response = client.post(f"/safe/{token}/help?lang=it", data=data)
    assert response.status_code == 400
    assert CONTACTS[("TR", "it")] in response.get_data(as_text=True)
    assert _incidents(app) == []


# -- what the organizers see ------------------------------------------------------------------


def _attendee_page(client, rally_id) -> str:
    html = client.get(f"/rallies/{rally_id}/attendees").get_data(as_text=True)
    return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", html)


def test_organizers_see_counts_of_answers_and_never_who(app, client, auth, ended, outbox):
    _sweep(app)
    giulia = _token_of(_link_for(outbox, "giulia@example.org"))
    waiting = _token_of(_link_for(outbox, "wait@example.org"))
    auth.login("org@example.org")
    assert "Home safe: 0 · Need help: 0" in _attendee_page(client, ended)
    anonymous = app.test_client()
    anonymous.post(f"/safe/{giulia}/safe")
    page_when_giulia_answered = _attendee_page(client, ended)
    assert "Home safe: 1 · Need help: 0" in page_when_giulia_answered
    # The same page whichever of the two answered: nothing on it tells who.
    anonymous.post(f"/safe/{waiting}/safe")
    with app.app_context():
        db.session.execute(
            SafetyAnswer.__table__.delete().where(
                SafetyAnswer.signup_id
                == select(Signup.id).where(Signup.email == "giulia@example.org").scalar_subquery()
            )
        )
        db.session.commit()
    assert _attendee_page(client, ended) == page_when_giulia_answered
    anonymous.post(f"/safe/{giulia}/help")
    assert "Home safe: 1 · Need help: 1" in _attendee_page(client, ended)
    # The board of calls for help is HQ's alone.
    assert client.get("/hq/incidents").status_code == 403
    assert client.get("/hq/safety").status_code == 403


def test_without_check_ins_the_attendee_page_shows_no_counts(app, client, users, rallies, auth):
    organizer = users(email="org@example.org")
    rally_id = _ended_rally(rallies, organizer_id=organizer, safety_checkins=False)
    auth.login("org@example.org")
    assert "Home safe" not in _attendee_page(client, rally_id)


# -- HQ: contacts and the board ---------------------------------------------------------------


@pytest.fixture
def hq(users, auth):
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")


def test_hq_adds_changes_and_removes_contacts_and_it_is_audited(app, client, hq):
    text = "Avvocati di turno: https://example.org/aiuto"
    response = post_form(
        client, "/hq/safety", {"country_code": "TR", "language": "it", "text": text}
    )
    assert response.status_code == 302
    page = client.get("/hq/safety").get_data(as_text=True)
    assert '<a href="https://example.org/aiuto"' in page and "Türkiye" in page
    with app.app_context():
        contact_id = db.session.scalar(select(SafetyContact.id))
    response = post_form(
        client,
        f"/hq/safety/{contact_id}",
        {"country_code": "TR", "language": "it", "text": "Nuovo testo"},
    )
    assert response.status_code == 302
    # Removing asks first.
    asked = post_form(client, f"/hq/safety/{contact_id}/delete", {}, page="/hq/safety")
    assert asked.status_code == 200 and "Yes, remove them" in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(SafetyContact, contact_id).text == "Nuovo testo"
    removed = post_form(
        client, f"/hq/safety/{contact_id}/delete", {"confirm": "yes"}, page="/hq/safety"
    )
    assert removed.status_code == 302
    with app.app_context():
        assert db.session.get(SafetyContact, contact_id) is None
        actions = list(
            db.session.scalars(
                select(AuditRecord.action)
                .where(AuditRecord.target_type == "safety_contact")
                .order_by(AuditRecord.id)
            )
        )
    assert actions == ["safety_contact.create", "safety_contact.update", "safety_contact.delete"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"country_code": "TR", "language": "it", "text": "Again"}, "already"),
        ({"country_code": "XX", "language": "it", "text": "Somewhere"}, "Not a valid choice"),
        ({"country_code": "TR", "language": "fr", "text": "Français"}, "Not a valid choice"),
        ({"country_code": "TR", "language": "it", "text": ""}, "This field is required"),
        ({"country_code": "TR", "language": "it", "text": "x" * 5001}, "5000"),
    ],
)
def test_bad_contacts_are_refused_next_to_their_field(app, client, hq, data, error):
    _add_contacts(app, {("TR", "it"): CONTACTS[("TR", "it")]})
    response = post_form(client, "/hq/safety", data)
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SafetyContact)) == 1


def test_changing_contacts_into_an_existing_language_is_refused(app, client, hq):
    _add_contacts(app)
    with app.app_context():
        contact_id = db.session.scalar(
            select(SafetyContact.id).where(SafetyContact.language == "tr")
        )
    response = post_form(
        client,
        f"/hq/safety/{contact_id}",
        {"country_code": "TR", "language": "it", "text": "Doppio"},
    )
    assert response.status_code == 400
    assert client.get("/hq/safety/999999").status_code == 404


def test_hq_sees_the_board_and_marks_an_incident_handled(app, client, ended, outbox, hq):
    _sweep(app)
    token = _token_of(_link_for(outbox, "giulia@example.org"))
    app.test_client().post(
        f"/safe/{token}/help", data={"message": "Aiuto", "contact": "+39 333 000 0000"}
    )
    board = client.get("/hq/incidents").get_data(as_text=True)
    assert "Aiuto" in board and "+39 333 000 0000" in board and "Yürüyüş" in board
    # No name or address of the person anywhere on HQ's board.
    assert "Giulia" not in board and "giulia@example.org" not in board
    (incident,) = _incidents(app)
    response = post_form(client, f"/hq/incidents/{incident.id}/handled", {}, page="/hq/incidents")
    assert response.status_code == 302
    (incident,) = _incidents(app)
    assert incident.handled_dt is not None
    assert "Mark as handled" not in client.get("/hq/incidents").get_data(as_text=True)
    assert (
        post_form(client, "/hq/incidents/999999/handled", {}, page="/hq/incidents").status_code
        == 404
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/hq/safety"),
        ("POST", "/hq/safety"),
        ("GET", "/hq/safety/{contact}"),
        ("POST", "/hq/safety/{contact}/delete"),
        ("GET", "/hq/incidents"),
        ("POST", "/hq/incidents/{incident}/handled"),
    ],
)
def test_only_hq_reaches_contacts_and_the_board(app, client, users, auth, ended, method, path):
    _add_contacts(app)
    with app.app_context():
        contact = db.session.scalar(select(SafetyContact.id))
        incident = SafetyIncident(rally_id=ended)
        db.session.add(incident)
        db.session.commit()
        incident_id = incident.id
    url = path.format(contact=contact, incident=incident_id)
    data = {"confirm": "yes", "country_code": "TR", "language": "it", "text": "x"}
    anonymous = client.open(url, method=method, data=data if method == "POST" else None)
    assert anonymous.status_code in (302, 400)  # to sign in, or refused before anything
    auth.login("org@example.org")  # the rally's own organizer
    if method == "GET":
        assert client.get(url).status_code == 403
    else:
        assert post_form(client, url, data, page="/rallies/mine").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SafetyContact)) == len(CONTACTS)
        assert db.session.get(SafetyIncident, incident_id).handled_dt is None


def test_the_rate_limit_counts_per_link_and_never_hides_the_contacts(make_app, outbox):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SAFETY="2 per hour")
    users = UserFactory(app)
    rally_id = _ended_rally(RallyFactory(app, users, CampaignFactory(app)))
    _signup(app, rally_id, "ana@example.org")
    _signup(app, rally_id, "bo@example.org")
    _sweep(app)
    ana, bo = (_token_of(_link_for(outbox, f"{n}@example.org")) for n in ("ana", "bo"))
    client = app.test_client()  # both from one address, as people detained together would be
    assert [client.post(f"/safe/{ana}/safe").status_code for _ in range(3)] == [302, 302, 429]
    assert client.post(f"/safe/{bo}/help").status_code == 302, "another link has its own count"
    assert client.get(f"/safe/{ana}/help").status_code == 200, "the contacts are always there"


def _what_incidents_hold(app) -> list[tuple[str, str]]:
    return [(incident.message, incident.contact) for incident in _incidents(app)]


def test_what_a_call_for_help_says_goes_with_the_rally_s_personal_data(app, client, ended, outbox):
    from rallyhub.signups.services import purge_personal_data

    _help_with_contact(app, client, outbox)
    with app.app_context():
        assert purge_personal_data(retention_days=30) == 0  # the rally ended an hour ago
    assert _what_incidents_hold(app) == [("Fermata dalla polizia a Taksim", "Signal: gi.99")]
    with app.app_context():
        purge_personal_data(retention_days=0)
        db.session.commit()
    # HQ's board keeps that someone called for help after the rally, and when.
    assert _what_incidents_hold(app) == [("", "")]


def test_a_high_risk_country_forgets_calls_for_help_hours_after_the_rally(
    app, client, ended, outbox
):
    with app.app_context():
        db.session.add(CountryRisk(country_code="TR", purge_hours=24))
        db.session.commit()
    _help_with_contact(app, client, outbox)
    end = _end_of(app, ended)
    _sweep(app, end + timedelta(hours=23))
    assert _what_incidents_hold(app) == [("Fermata dalla polizia a Taksim", "Signal: gi.99")]
    _sweep(app, end + timedelta(hours=25))
    assert _what_incidents_hold(app) == [("", "")]


def test_a_take_down_wipes_what_a_call_for_help_says(app, client, ended, outbox):
    from rallyhub.auth.models import User as Account
    from rallyhub.rallies.takedown import take_down_rally

    _help_with_contact(app, client, outbox)
    with app.app_context():
        organizer = db.session.scalar(select(Account).where(Account.email == "org@example.org"))
        assert take_down_rally(organizer, db.session.get(Rally, ended))
        db.session.commit()
    assert _what_incidents_hold(app) == [("", "")]
