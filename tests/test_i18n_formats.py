"""Counts and distances are written the reader's way (Babel), not Python's."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup
from flask_babel import force_locale

from rallyhub.i18n import format_count, format_km


@pytest.mark.parametrize(
    ("language", "count", "near", "far"),
    [
        ("en", "1,234,567", "2.6", "1,240"),
        ("de", "1.234.567", "2,6", "1.240"),
        ("ru", "1\xa0234\xa0567", "2,6", "1\xa0240"),
        ("hy", "1\xa0234\xa0567", "2,6", "1\xa0240"),
        ("pt_BR", "1.234.567", "2,6", "1.240"),
    ],
)
def test_counts_and_distances_follow_the_language(app, language, count, near, far):
    with app.test_request_context(), force_locale(language):
        assert format_count(1_234_567) == count
        assert format_km(2.61) == near
        assert format_km(1_239.6) == far


def test_the_near_search_writes_distances_for_the_reader(client, rallies):
    rallies(title="Uppsala rally", city="Uppsala", latitude=59.8586, longitude=17.6389)
    for language, pattern in [("en", r"^6[2-6]\.\d km$"), ("de", r"^6[2-6],\d km$")]:
        page = client.get(f"/near?q=Stockholm&radius_km=100&lang={language}")
        (distance,) = BeautifulSoup(page.data, "html.parser").select(".results .distance")
        assert re.match(pattern, distance.get_text()), (language, distance.get_text())


def test_the_home_page_counts_per_country_for_the_reader(client, rallies):
    for n in range(3):
        rallies(title=f"Rally {n}")
    page = BeautifulSoup(client.get("/?lang=de").data, "html.parser")
    assert [count.get_text() for count in page.select(".home-list .count")] == ["(3)"]


def test_russian_plurals_follow_the_russian_rule(app):
    """One for 1, 21, 101; a few for 2-4, 22; many for 5-20, 25, 111."""
    from flask_babel import ngettext

    expected = {
        1: "скачивание",
        2: "скачивания",
        5: "скачиваний",
        11: "скачиваний",
        21: "скачивание",
        22: "скачивания",
        111: "скачиваний",
    }
    with app.test_request_context(), force_locale("ru"):
        written = {n: ngettext("%(num)d download", "%(num)d downloads", n) for n in expected}
    assert written == {n: f"{n} {word}" for n, word in expected.items()}


@pytest.mark.parametrize(
    ("language", "forms"),
    [("ru", {1: 0, 21: 0, 2: 1, 24: 1, 5: 2, 11: 2, 111: 2}), ("hy", {0: 0, 1: 0, 2: 1, 21: 1})],
)
def test_each_catalog_counts_with_its_languages_plural_rule(app, language, forms):
    """Armenian counts 0 and 1 as one and everything above as more (CLDR)."""
    from babel.support import Translations

    catalog = Translations.load(f"{app.root_path}/translations", [language])
    assert {n: catalog.plural(n) for n in forms} == forms
