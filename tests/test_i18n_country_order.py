"""Countries are listed by their name in the reader's language, in the reader's alphabet."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale

from rallyhub.i18n import country_name, name_sort_key
from tests.test_hq_summaries import COUNTRY_ORDER

PLACES = {
    "DE": ("Berlin", 52.52, 13.40),
    "SE": ("Malmö", 55.60, 13.00),
    "AT": ("Wien", 48.21, 16.37),
    "CH": ("Bern", 46.95, 7.45),
}


@pytest.fixture
def visitor(make_app, rallies):
    """A client of an app offering en, de and sv, with rallies in AT, CH, DE and SE."""
    for code, (city, lat, lon) in PLACES.items():
        rallies(country_code=code, city=city, latitude=lat, longitude=lon)
    return make_app(LANGUAGES=["en", "de", "sv"]).test_client()


@pytest.mark.parametrize("language", sorted(COUNTRY_ORDER))
@pytest.mark.parametrize("query", ["", "?country=SE"])
def test_home_country_filter_lists_countries_by_name_in_the_readers_language(
    visitor, language, query
):
    visitor.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    page = visitor.get(f"/{query}").get_data(as_text=True)
    options = re.findall(r'<option value="[A-Z]{2}"(?: selected)?>([^<]+)</option>', page)
    assert options == COUNTRY_ORDER[language]


def test_turkish_files_its_own_letters_after_their_neighbours(app):
    # The Turkish alphabet: … c ç d … h ı i …; I is the capital of ı, İ of i.
    with app.test_request_context(), force_locale("tr"):
        codes = ["DK", "TD", "DZ", "IR", "IQ", "HR", "CN", "CZ"]
        names = sorted((country_name(code) for code in codes), key=name_sort_key)
    assert names == [
        "Cezayir",
        "Çad",
        "Çekya",
        "Çin",
        "Danimarka",
        "Hırvatistan",
        "Irak",
        "İran",
    ]
