"""Choosing the interface language: the switcher, ?lang=, the cookie, Accept-Language, dir."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from rallyhub.i18n import LANGUAGE_COOKIE, local_path, with_language

NINE = ["en", "it", "ru", "es", "sv", "hy", "de", "pt_BR", "tr"]


def _html(response):
    return BeautifulSoup(response.data, "html.parser")


def test_the_campaigns_nine_languages_are_configured(app):
    assert app.config["LANGUAGES"] == NINE


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("hy-AM,ru;q=0.5", "hy"),
        ("pt-BR,pt;q=0.9,en;q=0.5", "pt-BR"),
        ("pt", "pt-BR"),
        ("tr-TR", "tr"),
        ("fr-FR,de;q=0.7", "de"),
        ("ja", "en"),
        ("", "en"),
    ],
)
def test_the_browsers_preference_picks_the_language(client, header, language):
    page = _html(client.get("/auth/login", headers={"Accept-Language": header}))
    assert page.html["lang"] == language


def test_lang_in_the_address_wins_and_is_remembered_in_a_cookie(client):
    response = client.get("/auth/login?lang=hy", headers={"Accept-Language": "ru"})
    assert _html(response).html["lang"] == "hy"
    cookie = client.get_cookie(LANGUAGE_COOKIE)
    assert cookie.value == "hy" and cookie.http_only and cookie.same_site == "Lax"
    # Later pages, without the parameter, stay in the chosen language.
    later = client.get("/auth/register", headers={"Accept-Language": "ru"})
    assert _html(later).html["lang"] == "hy"


def test_a_visit_without_a_choice_sets_no_language_cookie(client):
    response = client.get("/", headers={"Accept-Language": "it"})
    assert not any(
        header.startswith(f"{LANGUAGE_COOKIE}=")
        for header in response.headers.getlist("Set-Cookie")
    )


@pytest.mark.parametrize("value", ["xx", "../../etc", "en\r\nSet-Cookie: a=b", "x" * 300])
def test_an_unknown_language_is_ignored(client, value):
    response = client.get("/auth/login", query_string={"lang": value})
    assert response.status_code == 200
    assert _html(response).html["lang"] == "en"
    assert client.get_cookie(LANGUAGE_COOKIE) is None


def test_every_page_carries_the_switcher_to_the_chooser(client):
    page = _html(client.get("/auth/login?next=%2Frallies%2Fmine"))
    switcher = page.find("a", string="Language: English")
    address = urlsplit(switcher["href"])
    assert address.path == "/language"
    assert parse_qs(address.query) == {"next": ["/auth/login?next=%2Frallies%2Fmine"]}


def test_a_site_in_one_language_shows_no_switcher(make_app):
    single = make_app(LANGUAGES=["en"]).test_client()
    page = _html(single.get("/auth/login"))
    assert page.find("a", href=re.compile(r"^/language")) is None
    assert page.html["lang"] == "en"


def test_the_chooser_names_each_language_in_itself_and_links_back(client):
    page = _html(client.get("/language?next=/near%3Fq%3DRoma%26lang%3Dde"))
    links = {a.get_text(): a for a in page.select("ul.languages a")}
    assert list(links) == [
        "English",
        "Italiano",
        "Русский",
        "Español",
        "Svenska",
        "Հայերեն",
        "Deutsch",
        "Português (Brasil)",
        "Türkçe",
    ]
    assert links["Հայերեն"]["href"] == "/near?q=Roma&lang=hy"
    assert links["Հայերեն"]["lang"] == "hy" and links["Português (Brasil)"]["lang"] == "pt-BR"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x", ""]
)
def test_the_chooser_links_only_to_this_site(client, target):
    page = _html(client.get("/language", query_string={"next": target}))
    assert {a["href"] for a in page.select("ul.languages a")} == {f"/?lang={code}" for code in NINE}


def test_addresses_keep_their_query_and_lose_an_old_lang():
    assert with_language("/near?q=Москва&lang=it&radius_km=50", "ru") == (
        "/near?q=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0&radius_km=50&lang=ru"
    )
    assert local_path("/rallies/1\r\nLocation: x") == "/"


def test_a_right_to_left_language_turns_the_page(make_app):
    client = make_app(LANGUAGES=[*NINE, "ar"]).test_client()
    assert _html(client.get("/?lang=ar")).html["dir"] == "rtl"
    assert _html(client.get("/?lang=tr")).html["dir"] == "ltr"


@pytest.mark.parametrize(
    "path", ["/", "/auth/login", "/auth/reset", "/rallies/{rally_id}", "/near?q=Stockholm"]
)
@pytest.mark.parametrize("language", ["en", "hy", "pt_BR"])
def test_the_switcher_adds_at_most_five_percent_to_a_page(client, rallies, path, language):
    rally_id = rallies()
    path = path.format(rally_id=rally_id)
    page = client.get(f"{path}{'&' if '?' in path else '?'}lang={language}").data
    (switcher,) = re.findall(rb"<li><a href=\"/language\?[^\"]*\">[^<]*</a></li>", page)
    # The page grows by the switcher: at most 5 % of what it is without it.
    without = len(page) - len(switcher)
    assert len(switcher) <= 0.05 * without, f"{len(switcher)} bytes on {without}"
