"""HQ's dashboard and exports: the numbers, read back from CSV and XLSX, and the purge."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook

from rallyhub.auth.models import Role
from rallyhub.extensions import db
from rallyhub.rallies.models import RallyStatus, TurnoutReport
from rallyhub.signups.models import Signup, SignupStatus

GOING, WAIT, CANCELLED = SignupStatus.GOING, SignupStatus.WAITLISTED, SignupStatus.CANCELLED
WHEN = datetime(2027, 5, 17, 16, 0, tzinfo=UTC)


@pytest.fixture
def data(app, users, campaigns, rallies, auth):
    """Three counted rallies in two countries, one pending, with known sign-ups and turnout."""
    main = campaigns(slug="cecenia", hashtag="#GiustiziaPerLaCecenia")
    zelim = campaigns(slug="zelim", hashtag="#GiustiziaPerZelim")
    stockholm = rallies(campaign_id=main, title="Stockholm", start_dt=WHEN, walk_in_count=4)
    goteborg = rallies(
        campaign_id=main,
        title="=cmd|' /C calc'!A0",
        city="Göteborg",
        latitude=57.7,
        longitude=11.97,
        start_dt=WHEN + timedelta(days=1),
    )
    milano = rallies(
        campaign_id=zelim,
        title="Milano",
        city="Milano",
        country_code="IT",
        latitude=45.46,
        longitude=9.19,
        timezone="Europe/Rome",
        start_dt=WHEN + timedelta(days=30),
        status=RallyStatus.CANCELLED,
    )
    rallies(campaign_id=main, title="Pending", start_dt=WHEN, status=RallyStatus.PENDING)
    people = {
        stockholm: [GOING, GOING, GOING, WAIT, CANCELLED],
        goteborg: [GOING, CANCELLED],
        milano: [GOING],
    }
    with app.app_context():
        for rally_id, statuses in people.items():
            for n, status in enumerate(statuses):
                db.session.add(
                    Signup(
                        rally_id=rally_id,
                        name=f"P{n}",
                        email=f"{rally_id}.{n}@x.org",
                        status=status,
                        checked_in_dt=WHEN if n < 2 and rally_id == stockholm else None,
                    )
                )
        db.session.add(TurnoutReport(rally_id=stockholm, people_present=120))
        db.session.commit()
    users(email="hq@example.org", role=Role.HQ)
    auth.login("hq@example.org")
    return {"stockholm": stockholm, "goteborg": goteborg, "milano": milano}


def _csv(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf"), "the UTF-8 byte-order mark Excel needs"
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


def test_attendance_csv_has_the_spec_columns_and_the_right_numbers(client, data):
    rows = _csv(client, "/hq/exports/attendance.csv")
    assert list(rows[0]) == [
        "rally_id",
        "campaign",
        "country_code",
        "country",
        "city",
        "title",
        "starts_at_local",
        "timezone",
        "status",
        "signups",
        "checked_in",
        "reported_turnout",
    ]
    by_id = {int(r["rally_id"]): r for r in rows}
    assert set(by_id) == set(data.values()), "pending rallies are not counted"
    stockholm = by_id[data["stockholm"]]
    assert (stockholm["signups"], stockholm["checked_in"], stockholm["reported_turnout"]) == (
        "4",
        "6",
        "120",
    )  # 3 going + 1 waiting; 2 checked in + 4 walk-ins
    assert stockholm["starts_at_local"] == "2027-05-17T18:00:00+02:00"
    assert stockholm["country"] == "Sweden"
    goteborg = by_id[data["goteborg"]]
    assert goteborg["title"] == "'=cmd|' /C calc'!A0", "formula neutralized"
    assert goteborg["reported_turnout"] == ""
    assert by_id[data["milano"]]["status"] == "cancelled"


def test_countries_csv_sums_per_country(client, data):
    rows = _csv(client, "/hq/exports/countries.csv")
    assert list(rows[0]) == [
        "country_code",
        "country",
        "rallies",
        "signups",
        "checked_in",
        "reported_turnout",
    ]
    assert [
        (
            r["country_code"],
            r["country"],
            r["rallies"],
            r["signups"],
            r["checked_in"],
            r["reported_turnout"],
        )
        for r in rows
    ] == [("IT", "Italy", "1", "1", "0", "0"), ("SE", "Sweden", "2", "5", "6", "120")]


def test_exports_filter_by_campaign_and_dates(client, data):
    rows = _csv(client, "/hq/exports/attendance.csv?campaign=zelim")
    assert [int(r["rally_id"]) for r in rows] == [data["milano"]]
    rows = _csv(client, "/hq/exports/attendance.csv?start=2027-05-18&end=2027-05-18")
    assert [int(r["rally_id"]) for r in rows] == [data["goteborg"]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=17-05-2027", "must be a date"),
        ("end=tomorrow", "must be a date"),
        ("start=2027-06-01&end=2027-05-01", "must not be before"),
        ("campaign=nope", "no campaign"),
    ],
)
def test_bad_filters_are_a_400_with_a_reason(client, data, query, message):
    for path in (
        "/hq/exports/attendance.csv",
        "/hq/exports/countries.csv",
        "/hq/exports/attendance.xlsx",
        "/hq/",
    ):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, path
        assert message in response.get_data(as_text=True)


def test_xlsx_has_the_same_data_in_two_sheets(client, data):
    response = client.get("/hq/exports/attendance.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    assert workbook.sheetnames == ["Rallies", "Countries"]
    rallies = list(workbook["Rallies"].iter_rows(values_only=True))
    csv_rows = _csv(client, "/hq/exports/attendance.csv")
    assert len(rallies) == len(csv_rows) + 1
    first = dict(zip(rallies[0], rallies[1], strict=True))
    expected = {k: int(v) if v.isdigit() else v or None for k, v in csv_rows[0].items()}
    # Excel has no zones: the start is the rally's local wall-clock time, the zone beside it.
    expected["starts_at_local"] = datetime.fromisoformat(csv_rows[0]["starts_at_local"]).replace(
        tzinfo=None
    )
    assert first == expected
    countries = list(workbook["Countries"].iter_rows(values_only=True))
    assert countries[2] == ("SE", "Sweden", 2, 5, 6, 120)


def test_summaries_hold_no_personal_data(client, data):
    for url in ("/hq/exports/attendance.csv", "/hq/exports/countries.csv"):
        body = client.get(url).get_data(as_text=True)
        assert "@x.org" not in body and "P0" not in body


def test_dashboard_shows_totals_per_campaign_and_country(client, data):
    page = client.get("/hq/").get_data(as_text=True)
    assert "#GiustiziaPerLaCecenia" in page and "Sweden" in page and "Italy" in page
    assert '"people": 120' in page  # the turnout map's data


def test_purge_removes_personal_data_and_keeps_every_count(app, client, data, runner):
    before = [_csv(client, "/hq/exports/attendance.csv"), _csv(client, "/hq/exports/countries.csv")]
    # The rallies are in 2027; purge everything that ended before "now + 1000 days".
    result = runner.invoke(args=["rallyhub", "purge-personal-data", "--days", "-1"])
    assert result.exit_code == 2, "negative days are refused"
    from unittest import mock

    future = datetime(2030, 1, 1, tzinfo=UTC)
    with mock.patch("rallyhub.signups.services.utcnow", return_value=future):
        result = runner.invoke(args=["rallyhub", "purge-personal-data", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "Purged the personal data of 8 sign-ups" in result.output
    assert "rallies, 8 sign-ups purged" in result.output  # progress
    with app.app_context():
        leftovers = db.session.execute(
            db.select(Signup.name, Signup.email, Signup.phone).where(
                (Signup.name.is_not(None)) | (Signup.email.is_not(None))
            )
        ).all()
    assert leftovers == []
    after = [_csv(client, "/hq/exports/attendance.csv"), _csv(client, "/hq/exports/countries.csv")]
    assert after == before


def test_purge_leaves_recent_rallies_alone(app, runner, data):
    result = runner.invoke(args=["rallyhub", "purge-personal-data"])
    assert result.exit_code == 0
    assert "Purged the personal data of 0 sign-ups" in result.output


@pytest.mark.parametrize(
    "path",
    [
        "/hq/",
        "/hq/exports/attendance.csv",
        "/hq/exports/countries.csv",
        "/hq/exports/attendance.xlsx",
    ],
)
def test_only_hq_sees_summaries(app, users, path):
    assert app.test_client().get(path).status_code == 302
    users(email="org@example.org")
    client = app.test_client()
    from tests.conftest import post_form

    post_form(
        client,
        "/auth/login",
        {"email": "org@example.org", "password": "correct horse battery staple"},
    )
    assert client.get(path).status_code == 403


def test_xlsx_rallies_sheet_has_a_bold_frozen_header_local_dates_and_numbers(client, data):
    response = client.get("/hq/exports/attendance.xlsx")
    workbook = load_workbook(io.BytesIO(response.data))
    for sheet in workbook:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.b for cell in sheet[1])
        assert all(sheet.column_dimensions[c.column_letter].width >= 8 for c in sheet[1])
    rallies = workbook["Rallies"]
    header = [cell.value for cell in rallies[1]]
    stockholm = dict(zip(header, rallies[2], strict=True))
    assert stockholm["rally_id"].value == data["stockholm"]
    # 16:00 UTC on 17 May is 18:00 in Stockholm (CEST, UTC+2): the rally's own clock.
    assert stockholm["starts_at_local"].is_date
    assert stockholm["starts_at_local"].value == datetime(2027, 5, 17, 18, 0)
    assert stockholm["timezone"].value == "Europe/Stockholm"
    counts = [stockholm[k].value for k in ("signups", "checked_in", "reported_turnout")]
    assert counts == [4, 6, 120] and all(type(count) is int for count in counts)
    goteborg = dict(zip(header, rallies[3], strict=True))
    assert goteborg["title"].value == "'=cmd|' /C calc'!A0" and goteborg["title"].data_type == "s"
    assert goteborg["reported_turnout"].value is None


# Babel's (CLDR's) names: the same four countries in three orders, none of them by code.
COUNTRY_ORDER = {
    "en": ["Austria", "Germany", "Sweden", "Switzerland"],
    # German files Ö with O (DIN 5007): Österreich before Schweden, not after Schweiz.
    "de": ["Deutschland", "Österreich", "Schweden", "Schweiz"],
    # Swedish keeps Ö as a letter of its own after Z: Österrike comes last.
    "sv": ["Schweiz", "Sverige", "Tyskland", "Österrike"],
}


@pytest.fixture
def hq_in_languages(make_app, users, rallies):
    """An HQ client on an app offering en, de and sv, with rallies in AT, CH, DE and SE."""
    for code, city in (("DE", "Berlin"), ("SE", "Malmö"), ("AT", "Wien"), ("CH", "Bern")):
        rallies(country_code=code, city=city, start_dt=WHEN)
    users(email="hq@example.org", role=Role.HQ)
    app = make_app(LANGUAGES=["en", "de", "sv"])
    client = app.test_client()
    from tests.conftest import post_form

    post_form(
        client,
        "/auth/login",
        {"email": "hq@example.org", "password": "correct horse battery staple"},
    )
    return client


@pytest.mark.parametrize("language", sorted(COUNTRY_ORDER))
def test_country_tables_are_sorted_by_name_in_the_readers_language(hq_in_languages, language):
    client = hq_in_languages
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    page = client.get("/hq/").get_data(as_text=True)
    table = page.split('<table class="table countries">')[1].split("</table>")[0]
    assert re.findall(r"<tr><td>([^<]+)</td>", table) == COUNTRY_ORDER[language]
    rows = _csv(client, "/hq/exports/countries.csv")
    assert [row["country"] for row in rows] == COUNTRY_ORDER[language]
    workbook = load_workbook(io.BytesIO(client.get("/hq/exports/attendance.xlsx").data))
    names = [row[1] for row in workbook["Countries"].iter_rows(min_row=2, values_only=True)]
    assert names == COUNTRY_ORDER[language]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("start=2027-06-10&end=2027-06-01", "end", "must not be before"),
        ("start=17-05-2027", "start", "must be a date"),
        ("campaign=nope", "campaign", "no campaign"),
    ],
)
def test_the_dashboard_explains_a_bad_filter_beside_its_field(client, data, query, field, words):
    response = client.get(f"/hq/?{query}")
    assert response.status_code == 400
    page = BeautifulSoup(response.data, "html.parser")
    assert words in page.select_one(f"#{field}-error").get_text()
    assert page.select_one(f"#{field}")["aria-invalid"] == "true"
    # The dashboard is still there, for every rally, and its exports are not filtered wrongly.
    assert page.select_one("table.totals tbody tr td")
    assert "start=" not in page.select_one("a[href*='attendance.csv']")["href"]
