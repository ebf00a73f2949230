"""Emergency take-down: the rally is gone from every public surface at once, the personal data
of the people who signed up is gone with it, and each of them gets one neutral message."""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from babel.support import Translations
from openpyxl import load_workbook
from sqlalchemy import String, Text, select, update

from rallyhub.auth.audit import AuditRecord
from rallyhub.auth.models import Role, User
from rallyhub.delivery import wait_for_delivery
from rallyhub.errors import NotAllowed
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, OutboxState, send_mail
from rallyhub.models import utcnow
from rallyhub.rallies import takedown
from rallyhub.rallies.models import CoorganizerInvite, Rally, RallyStatus, rally_coorganizers
from rallyhub.signups import takedown as signup_takedown
from rallyhub.signups.attendance import attendance_counts
from rallyhub.signups.models import Signup, SignupStatus
from tests.conftest import AuthActions, post_form
from tests.factories import CampaignFactory, RallyFactory, UserFactory
from tests.rally_data import rally_form

NEUTRAL_SUBJECT = "An update about your plans"
NEUTRAL_BODY = (
    "Hello,\n\nThe event you asked about will not take place. You don't need to do anything."
    "\n\nPlease delete earlier messages about it if that keeps you safe."
)
TITLE = "Rainbow vigil at the embassy"
CATALOGS = Path(__file__).resolve().parent.parent / "rallyhub" / "translations"


def _neutral_subject(language: str) -> str:
    """The neutral subject as the recipient's language has it (the shipped catalogs)."""
    return Translations.load(str(CATALOGS), [language]).gettext(NEUTRAL_SUBJECT)


HASHTAG = "#GiustiziaPerLaCecenia"


# -- helpers ----------------------------------------------------------------------------------


def _client_as(app, email):
    """A client signed in as ``email``."""
    client = app.test_client()
    response = AuthActions(client).login(email)
    assert response.status_code == 302, "sign-in failed"
    return client


def _take_down(client, rally_id, *, confirm=True):
    data = {"confirm": "yes"} if confirm else {}
    return post_form(
        client, f"/rallies/{rally_id}/take-down", data, page=f"/rallies/{rally_id}/manage"
    )


def _sign_up(app, rally_id, name, email, phone=None, language="en"):
    """Sign up through the real form, in ``language`` (the confirmation e-mail goes out)."""
    client = app.test_client()
    data = {"name": name, "email": email, "consent": "y"}
    if phone:
        data["phone"] = phone
    response = post_form(
        client,
        f"/rallies/{rally_id}/signup?lang={language}",
        data,
        page=f"/rallies/{rally_id}?lang={language}",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def _status(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id).status


def _tokens(app, rally_id):
    with app.app_context():
        return list(db.session.scalars(select(Signup.token).where(Signup.rally_id == rally_id)))


@pytest.fixture
def people(users, campaigns):
    """The organizer, a co-organizer, another organizer and HQ (ids by role, and e-mails)."""
    emails = {
        "organizer": "org@example.org",
        "coorganizer": "co@example.org",
        "other": "other@example.org",
        "hq": "hq@example.org",
    }
    ids = {
        role: users(email=email, role=Role.HQ if role == "hq" else Role.ORGANIZER)
        for role, email in emails.items()
    }
    return ids, emails


@pytest.fixture
def rally(app, rallies, campaigns, people):
    """An approved public rally in Stockholm, a week ahead, that asks for phones, with a
    co-organizer."""
    ids, _emails = people
    campaign_id = campaigns(hashtag=HASHTAG, name="Justice for Chechnya")
    rally_id = rallies(
        title=TITLE,
        organizer_id=ids["organizer"],
        campaign_id=campaign_id,
        asks_phone=True,
        capacity=2,
    )
    with app.app_context():
        db.session.execute(
            rally_coorganizers.insert().values(rally_id=rally_id, user_id=ids["coorganizer"])
        )
        db.session.commit()
    return rally_id


# -- who may --------------------------------------------------------------------------------


def test_organizer_takes_a_rally_down_only_after_confirming(app, rally, people):
    client = _client_as(app, people[1]["organizer"])
    asked = _take_down(client, rally, confirm=False)
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "Yes, take it down now" in page and 'name="confirm" value="yes"' in page
    assert _status(app, rally) is RallyStatus.APPROVED

    response = _take_down(client, rally)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/rallies/{rally}")
    with app.app_context():
        taken = db.session.get(Rally, rally)
        assert taken.status is RallyStatus.TAKEN_DOWN
        assert utcnow() - taken.taken_down_dt < timedelta(minutes=1)


@pytest.mark.parametrize("role", ["coorganizer", "hq"])
def test_co_organizers_and_hq_may_take_a_rally_down(app, rally, people, role):
    assert _take_down(_client_as(app, people[1][role]), rally).status_code == 302
    assert _status(app, rally) is RallyStatus.TAKEN_DOWN


def test_nobody_else_may_take_a_rally_down(app, rally, people, rallies):
    other = _client_as(app, people[1]["other"])
    assert _take_down(other, rally).status_code == 403
    # A pending rally's existence does not leak to another organizer.
    pending = rallies(status=RallyStatus.PENDING, organizer_id=people[0]["organizer"])
    assert _take_down(other, pending).status_code == 404
    anonymous = app.test_client()
    response = post_form(
        anonymous, f"/rallies/{rally}/take-down", {"confirm": "yes"}, page="/auth/register"
    )
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert _status(app, rally) is RallyStatus.APPROVED
    assert _status(app, pending) is RallyStatus.PENDING
    # The rule itself, whatever the route: someone else's rally is refused.
    someone_elses = rallies()
    with app.app_context(), pytest.raises(NotAllowed):
        organizer = db.session.get(User, people[0]["organizer"])
        takedown.take_down_rally(organizer, db.session.get(Rally, someone_elses))


def test_take_down_without_the_form_token_changes_nothing(app, rally, people):
    client = _client_as(app, people[1]["organizer"])
    response = client.post(f"/rallies/{rally}/take-down", data={"confirm": "yes"})
    assert response.status_code == 400
    assert _status(app, rally) is RallyStatus.APPROVED
    assert client.get(f"/rallies/{rally}/take-down").status_code == 405


# -- every public surface --------------------------------------------------------------------


PUBLIC_LISTS = [
    "/",
    "/map/points.json",
    "/map/points.json?country=SE",
    "/near?q=Stockholm&radius_km=50",
    "/api/v1/events",
    "/api/v1/events?near=Stockholm",
    "/api/v1/events?country=SE",
]


def _campaign_slug(app, rally_id):
    with app.app_context():
        return db.session.get(Rally, rally_id).campaign.slug


def test_a_taken_down_rally_is_404_and_listed_nowhere(app, client, rally, rallies, people):
    slug = _campaign_slug(app, rally)
    # Beside it, a rally that stays: the lists still work and still show it.
    with app.app_context():
        campaign_id = db.session.get(Rally, rally).campaign_id
    stays = rallies(title="Candles on Medborgarplatsen", campaign_id=campaign_id)
    feeds = [*PUBLIC_LISTS, f"/campaigns/{slug}/rallies.ics"]
    for path in feeds:
        assert TITLE in client.get(path).get_data(as_text=True), path
    assert client.get("/embed/map").status_code == 200

    _take_down(_client_as(app, people[1]["organizer"]), rally)

    for path in feeds:
        body = client.get(path).get_data(as_text=True)
        assert TITLE not in body and f"/rallies/{rally}" not in body, path
        assert "Candles on Medborgarplatsen" in body, path
    for path in (
        f"/rallies/{rally}",
        f"/rallies/{rally}.ics",
        f"/rallies/{rally}/signed-up",
        f"/rallies/{rally}?lang=it",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert TITLE not in response.get_data(as_text=True)
        assert "cancelled" not in response.get_data(as_text=True).lower()
    assert client.get(f"/rallies/{stays}").status_code == 200
    # JSON answers say the same: 404, nothing about the rally.
    response = client.get(f"/rallies/{rally}", headers={"Accept": "application/json"})
    assert response.status_code == 404 and TITLE not in response.get_data(as_text=True)


def test_a_cancelled_rally_taken_down_leaves_its_public_page_and_the_calendar(
    app, client, rally, people
):
    organizer = _client_as(app, people[1]["organizer"])
    post_form(organizer, f"/rallies/{rally}/cancel", {"note": "Rain.", "confirm": "yes"})
    assert _status(app, rally) is RallyStatus.CANCELLED
    slug = _campaign_slug(app, rally)
    # Cancelled after approval: the page and the calendar still show it, marked cancelled.
    assert client.get(f"/rallies/{rally}").status_code == 200
    assert TITLE in client.get(f"/campaigns/{slug}/rallies.ics").get_data(as_text=True)

    assert _take_down(organizer, rally).status_code == 302
    assert client.get(f"/rallies/{rally}").status_code == 404
    assert TITLE not in client.get(f"/campaigns/{slug}/rallies.ics").get_data(as_text=True)


def test_its_organizers_and_hq_still_see_it_marked_taken_down(app, rally, people):
    organizer = _client_as(app, people[1]["organizer"])
    _take_down(organizer, rally)
    for role in ("organizer", "coorganizer", "hq"):
        client = organizer if role == "organizer" else _client_as(app, people[1][role])
        page = client.get(f"/rallies/{rally}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "This rally was taken down on" in html and "Taken down" in html
        # No sign-up form, no way to edit it or take it down again.
        assert f"/rallies/{rally}/signup" not in html and f"/rallies/{rally}/edit" not in html
        assert "Emergency take-down" not in html
    mine = organizer.get("/rallies/mine").get_data(as_text=True)
    assert "Taken down" in mine and TITLE in mine
    assert TITLE in _client_as(app, people[1]["hq"]).get("/hq/takedown").get_data(as_text=True)


def test_a_taken_down_rally_stays_down(app, rally, people, campaigns):
    organizer = _client_as(app, people[1]["organizer"])
    _take_down(organizer, rally)
    with app.app_context():
        campaign_id = db.session.get(Rally, rally).campaign_id
    edit = post_form(organizer, f"/rallies/{rally}/edit", rally_form(campaign_id, city="Stockholm"))
    assert edit.status_code == 400
    assert "taken down" in edit.get_data(as_text=True)
    cancel = post_form(organizer, f"/rallies/{rally}/cancel", {"note": "x", "confirm": "yes"})
    assert cancel.status_code == 400
    translate = post_form(
        organizer,
        f"/rallies/{rally}/translations",
        {"language": "it", "title": "Veglia"},
    )
    assert translate.status_code == 400
    hq = _client_as(app, people[1]["hq"])
    assert post_form(hq, f"/hq/review/{rally}/approve", {}, page="/hq/review").status_code == 400
    assert _status(app, rally) is RallyStatus.TAKEN_DOWN
    # Taking it down again is harmless, and writes to nobody.
    assert _take_down(organizer, rally).status_code == 302
    with app.app_context():
        actions = db.session.scalars(
            select(AuditRecord.action).where(AuditRecord.action == "rally.take_down")
        ).all()
        assert actions == ["rally.take_down"]


def test_nobody_can_sign_up_or_use_an_old_link_after_a_take_down(app, rally, people, outbox):
    _sign_up(app, rally, "Ana Lind", "ana.lind@example.org", phone="+46 70 123 45 67")
    old_token = _tokens(app, rally)[0]
    _take_down(_client_as(app, people[1]["organizer"]), rally)
    client = app.test_client()
    for path in (f"/s/{old_token}", f"/s/{old_token}/unsubscribe"):
        assert client.get(path).status_code == 404, path
    response = post_form(
        client,
        f"/rallies/{rally}/signup",
        {"name": "Bo", "email": "bo@example.org"},
        page="/auth/register",
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Signup).where(Signup.email == "bo@example.org")) is None


# -- the people who signed up -----------------------------------------------------------------


# Everything that would identify the people around the rally; none may survive.
ATTENDEES = [
    ("Zhanna Quirinova", "zhanna.q@example.org", "+7 912 555 0142", "ru"),
    ("Ilkka Vahteramäki", "ilkka.v@example.org", "+358 40 765 4321", "it"),
    ("Marisol Etxeberria", "marisol.e@example.org", "+34 611 22 33 44", "en"),
]
CANCELLED = ("Oskar Fröjdh", "oskar.f@example.org", "+46 73 999 88 77")
INVITEE = "invited.friend@example.org"


@pytest.fixture
def crowd(app, rally, people):
    """Sign-ups of every kind (going, waiting, cancelled), each with its messages: the
    confirmations, an organizer's message, one queued and one failed; a co-organizer invite
    and an export of the list. Returns the strings that must not survive."""
    for name, email, phone, language in ATTENDEES:
        _sign_up(app, rally, name, email, phone=phone, language=language)
    organizer = _client_as(app, people[1]["organizer"])
    message = post_form(
        organizer,
        f"/rallies/{rally}/message",
        {"subject": "Bring water", "body": "See you at the embassy."},
    )
    assert message.status_code == 302
    invite = post_form(
        organizer, f"/rallies/{rally}/coorganizers", {"email": INVITEE}, page=f"/rallies/{rally}"
    )
    assert invite.status_code == 302
    assert organizer.get(f"/rallies/{rally}/attendees.csv").status_code == 200
    with app.app_context():
        name, email, phone = CANCELLED
        gone = Signup(
            rally_id=rally,
            name=name,
            email=email,
            phone=phone,
            consent_to_contact=True,
            status=SignupStatus.CANCELLED,
            language="sv",
        )
        db.session.add(gone)
        db.session.flush()
        later = send_mail(
            email, f"Reminder: {TITLE}", f"Hello {name}", signup_id=gone.id, rally_id=rally
        )
        refused = send_mail(
            ATTENDEES[0][1], f"About {TITLE}", f"Hello {ATTENDEES[0][0]}", rally_id=rally
        )
        db.session.commit()
        # One still waiting for its retry, one refused for good by the mail server.
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == later)
            .values(state=OutboxState.QUEUED, next_attempt_dt=utcnow() + timedelta(hours=1))
        )
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == refused)
            .values(state=OutboxState.FAILED)
        )
        db.session.commit()
        assert db.session.scalar(select(CoorganizerInvite.email)) == INVITEE
        statuses = sorted(
            s.value
            for s in db.session.scalars(select(Signup.status).where(Signup.rally_id == rally))
        )
        assert statuses == ["cancelled", "going", "going", "waitlisted"]
    secrets = [INVITEE, *CANCELLED, *_tokens(app, rally)]
    for name, email, phone, _language in ATTENDEES:
        secrets += [name, email, phone]
    return organizer, secrets


def _personal_values_left(app, secrets) -> list[str]:
    """Every string or text column of every table that holds one of ``secrets``."""
    found = []
    lowered = [s.lower() for s in secrets]
    with app.app_context():
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not columns:
                continue
            for row in db.session.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    text = str(value or "").lower()
                    found += [
                        f"{table.name}.{column.name}: {secret}"
                        for secret in lowered
                        if secret and secret in text
                    ]
    return found


def test_nothing_personal_about_the_rally_remains_anywhere(
    app, rally, people, crowd, caplog, outbox
):
    organizer, secrets = crowd
    assert _personal_values_left(app, secrets), "the scan finds the data before the take-down"
    with app.app_context():
        before = attendance_counts(rally)
    delivered_before = len(outbox())

    caplog.set_level(logging.DEBUG)
    assert _take_down(organizer, rally).status_code == 302
    logged = caplog.text.lower()

    # No table holds a name, address, phone or manage link of theirs, nor the invitee's.
    assert _personal_values_left(app, secrets) == []
    # Nor the log of the action.
    assert [s for s in secrets if s.lower() in logged] == []
    assert TITLE.lower() not in logged

    with app.app_context():
        # Counts stay: the rows do, with their status and times.
        assert attendance_counts(rally) == before
        rows = db.session.scalars(select(Signup).where(Signup.rally_id == rally)).all()
        assert all(r.purged_dt and not r.consent_to_contact and r.phone is None for r in rows)
        # The outbox holds nothing about the rally or its people: queued, failed and sent
        # alike are gone; what is left is the neutral notice (blanked once delivered).
        messages = db.session.scalars(select(OutboxMessage)).all()
        about = [m for m in messages if m.rally_id == rally or m.signup_id in {r.id for r in rows}]
        assert about == []
        for message in messages:
            if message.kind == "takedown-notice":
                assert (message.signup_id, message.rally_id, message.dedup_key) == (
                    None,
                    None,
                    None,
                )
                assert message.calendar is None and message.unsubscribe_url is None
                assert message.state is OutboxState.SENT
                assert (message.recipient, message.subject, message.body) == ("", "", "")
            else:
                # The organizers' own mail (the co-organizer's invitation went with the rally).
                assert TITLE not in message.body or message.recipient in people[1].values()

    # Each of the four got exactly one message, and it names nothing.
    after = outbox()[delivered_before:]
    recipients = sorted(m["To"] for m in after)
    expected = sorted([email for _n, email, _p, _l in ATTENDEES] + [CANCELLED[1]])
    assert recipients == expected
    languages = {email: language for _n, email, _p, language in ATTENDEES}
    for message in after:
        language = languages.get(message["To"], "sv")
        assert message["Subject"] == _neutral_subject(language)
        body = message.get_content()
        # Each in their own language: the English text for English readers only.
        assert (body.strip() == NEUTRAL_BODY) is (language == "en")
        for word in (TITLE, HASHTAG, "Stockholm", "Justice", "http"):
            assert word.lower() not in (body + message["Subject"]).lower()
        assert not message.is_multipart(), "no calendar or anything else attached"

    # The attendee list: no export; the page shows the counts and "(removed)".
    export = organizer.get(f"/rallies/{rally}/attendees.csv")
    assert export.status_code == 403
    page = organizer.get(f"/rallies/{rally}/attendees").get_data(as_text=True)
    assert "(removed)" in page and not [s for s in secrets if s in page]
    assert f"/rallies/{rally}/attendees.csv" not in page

    # HQ's exports carry nothing of theirs either (nor the rally, which is gone).
    hq = _client_as(app, people[1]["hq"])
    for path in ("/hq/exports/attendance.csv", "/hq/exports/countries.csv", "/hq/"):
        body = hq.get(path).get_data(as_text=True)
        assert not [s for s in secrets if s in body] and TITLE not in body, path
    workbook = load_workbook(io.BytesIO(hq.get("/hq/exports/attendance.xlsx").data))
    cells = " ".join(
        str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True) for cell in row
    )
    assert not [s for s in secrets if s in cells] and TITLE not in cells


def test_the_take_down_is_audited_with_who_and_when_and_nobody_else(app, rally, people, crowd):
    organizer, secrets = crowd
    started = utcnow()
    _take_down(organizer, rally)
    with app.app_context():
        record = db.session.scalar(
            select(AuditRecord).where(AuditRecord.action == "rally.take_down")
        )
        assert record.actor_id == people[0]["organizer"]
        assert (record.target_type, record.target_id) == ("rally", rally)
        assert started - timedelta(seconds=5) <= record.created_dt <= utcnow()
        details = " ".join(db.session.scalars(select(AuditRecord.detail)))
        assert not [s for s in secrets if s.lower() in details.lower()]


def test_the_neutral_message_is_written_in_each_persons_language(app, rally, people, monkeypatch):
    from flask_babel import get_locale

    # A catalog that says which language each string was asked in.
    monkeypatch.setattr(signup_takedown, "_", lambda text, **kw: f"[{get_locale()}] {text}")
    for name, email, phone, language in ATTENDEES:
        _sign_up(app, rally, name, email, phone=phone, language=language)
    _take_down(_client_as(app, people[1]["organizer"]), rally)
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "takedown-notice")
        ).all()
        assert len(rows) == len(ATTENDEES)


def test_the_notice_goes_out_after_the_sign_ups_are_wiped_and_is_then_forgotten(make_app, outbox):
    # Delivered by a worker after the commit, as in production: by then the sign-up is wiped,
    # and nothing in the message's row leads back to it.
    app = make_app(MAIL_DELIVERY="background")
    users = UserFactory(app)
    organizer = users(email="org2@example.org")
    rally_id = RallyFactory(app, users, CampaignFactory(app))(organizer_id=organizer, title=TITLE)
    _sign_up(app, rally_id, "Ana Lind", "ana.lind@example.org")
    assert wait_for_delivery()
    _take_down(_client_as(app, "org2@example.org"), rally_id)
    assert wait_for_delivery()
    with app.app_context():
        notice = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "takedown-notice")
        )
        assert notice.state is OutboxState.SENT and notice.recipient == notice.body == ""
    subjects = [m["Subject"] for m in outbox() if m["To"] == "ana.lind@example.org"]
    assert subjects[-1] == NEUTRAL_SUBJECT and subjects.count(NEUTRAL_SUBJECT) == 1


def test_other_messages_keep_their_text_after_delivery(app, outbox):
    # Only the take-down notice is forgotten at once; the rest waits MAIL_KEEP_SENT_HOURS.
    with app.app_context():
        send_mail("someone@example.org", "Your sign-up", "Hello")
        db.session.commit()
        row = db.session.scalar(select(OutboxMessage))
        assert (row.state, row.recipient) == (OutboxState.SENT, "someone@example.org")


# -- HQ: every upcoming rally of a country ----------------------------------------------------


@pytest.fixture
def russia(app, rallies, campaigns, people):
    """Upcoming rallies in Russia (approved, pending, cancelled after approval), a past one,
    and one in Sweden; Zhanna signed up for two of the Russian ones."""
    ids, _emails = people
    campaign_id = campaigns(hashtag=HASHTAG)
    moscow = {
        "city": "Moscow",
        "country_code": "RU",
        "timezone": "Europe/Moscow",
        "latitude": 55.7558,
        "longitude": 37.6173,
        "organizer_id": ids["organizer"],
        "campaign_id": campaign_id,
    }
    found = {
        "approved": rallies(title="Moscow vigil", **moscow),
        "second": rallies(title="Moscow picket", **moscow),
        "pending": rallies(title="Moscow pending", status=RallyStatus.PENDING, **moscow),
        "cancelled": rallies(title="Moscow cancelled", status=RallyStatus.CANCELLED, **moscow),
        "past": rallies(
            title="Moscow last year",
            start_dt=utcnow().replace(microsecond=0) - timedelta(days=30),
            **moscow,
        ),
        "sweden": rallies(title="Stockholm vigil", campaign_id=campaign_id),
    }
    for key in ("approved", "second"):
        _sign_up(app, found[key], "Zhanna Quirinova", "zhanna.q@example.org", language="ru")
    _sign_up(app, found["sweden"], "Marisol Etxeberria", "marisol.e@example.org")
    return found


def test_hq_takes_down_every_upcoming_rally_of_a_country_at_once(app, russia, people, outbox):
    hq = _client_as(app, people[1]["hq"])
    page = hq.get("/hq/takedown").get_data(as_text=True)
    assert "Russia (4 rallies)" in page and "Sweden (1 rally)" in page
    asked = post_form(hq, "/hq/takedown", {"country_code": "RU"})
    assert asked.status_code == 200
    assert "Take down every upcoming rally in Russia?" in asked.get_data(as_text=True)
    assert _status(app, russia["approved"]) is RallyStatus.APPROVED
    delivered_before = len(outbox())

    done = post_form(hq, "/hq/takedown", {"country_code": "RU", "confirm": "yes"})
    assert done.status_code == 302
    assert "4 rallies in Russia are taken down." in hq.get("/hq/takedown").get_data(as_text=True)
    for key in ("approved", "second", "pending", "cancelled"):
        assert _status(app, russia[key]) is RallyStatus.TAKEN_DOWN, key
    # A rally that is over, and one elsewhere, are not touched.
    assert _status(app, russia["past"]) is RallyStatus.APPROVED
    assert _status(app, russia["sweden"]) is RallyStatus.APPROVED
    assert app.test_client().get(f"/rallies/{russia['sweden']}").status_code == 200
    # Signed up for two of them: one message.
    after = outbox()[delivered_before:]
    assert [(m["To"], m["Subject"]) for m in after] == [
        ("zhanna.q@example.org", _neutral_subject("ru"))
    ]
    with app.app_context():
        record = db.session.scalar(
            select(AuditRecord).where(AuditRecord.action == "rallies.take_down_country")
        )
        assert record.actor_id == people[0]["hq"] and record.detail == "RU: 4"
        per_rally = db.session.scalars(
            select(AuditRecord.target_id).where(AuditRecord.action == "rally.take_down")
        ).all()
        assert sorted(per_rally) == sorted(
            russia[k] for k in ("approved", "second", "pending", "cancelled")
        )
    assert _personal_values_left(app, ["zhanna.q@example.org", "Zhanna Quirinova"]) == []


@pytest.mark.parametrize("role", ["organizer", "coorganizer", "other"])
def test_only_hq_takes_down_a_country(app, russia, people, role):
    client = _client_as(app, people[1][role])
    assert client.get("/hq/takedown").status_code == 403
    response = post_form(client, "/hq/takedown", {"country_code": "RU", "confirm": "yes"}, page="/")
    assert response.status_code == 403
    anonymous = post_form(
        app.test_client(),
        "/hq/takedown",
        {"country_code": "RU", "confirm": "yes"},
        page="/auth/register",
    )
    assert anonymous.status_code == 302
    assert _status(app, russia["approved"]) is RallyStatus.APPROVED
    with app.app_context(), pytest.raises(NotAllowed):
        takedown.take_down_country(db.session.get(User, people[0][role]), "RU")


@pytest.mark.parametrize("country", ["", "ZZ", "ru'; --", "R" * 500, "DE", "\x00"], ids=repr)
def test_a_country_without_upcoming_rallies_is_refused_clearly(app, russia, people, country):
    hq = _client_as(app, people[1]["hq"])
    response = post_form(hq, "/hq/takedown", {"country_code": country, "confirm": "yes"})
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True) or "required" in (
        response.get_data(as_text=True)
    )
    assert _status(app, russia["approved"]) is RallyStatus.APPROVED


def test_the_country_page_says_when_there_is_nothing_to_take_down(app, people):
    page = _client_as(app, people[1]["hq"]).get("/hq/takedown").get_data(as_text=True)
    assert "No country has upcoming rallies." in page
    assert "No rally has been taken down." in page


def test_reminders_and_digests_skip_a_taken_down_rally(app, rally, people, outbox):
    _sign_up(app, rally, "Ana Lind", "ana.lind@example.org")
    _take_down(_client_as(app, people[1]["organizer"]), rally)
    delivered = len(outbox())
    from rallyhub.tasks import sweep

    with app.app_context():
        # The day before the rally, at any hour: nothing is due for it.
        start = db.session.get(Rally, rally).start_dt
    for hours in range(0, 30, 3):
        with app.app_context():
            sweep(start - timedelta(hours=hours))
    assert outbox()[delivered:] == []


def test_the_export_refusal_and_csv_reader_agree(app, rally, people):
    # Before: the export works and holds the person; after: 403, and no audit record for it.
    _sign_up(app, rally, "Ana Lind", "ana.lind@example.org", phone="+46 70 123 45 67")
    organizer = _client_as(app, people[1]["organizer"])
    before = organizer.get(f"/rallies/{rally}/attendees.csv")
    rows = list(csv.DictReader(io.StringIO(before.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["email"] for r in rows] == ["ana.lind@example.org"]
    _take_down(organizer, rally)
    after = organizer.get(f"/rallies/{rally}/attendees.csv")
    assert after.status_code == 403 and "ana.lind" not in after.get_data(as_text=True)
    with app.app_context():
        exports = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "attendees.export")
        ).all()
        assert len(exports) == 1
