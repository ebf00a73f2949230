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
