"""Every user-visible string is translatable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

ROOT = Path(__file__).resolve().parent.parent
# Words that are names, not language.
UNTRANSLATED_OK = {"rallyhub", "GeoNames"}


def extract_messages():
    """Every message the code and templates hold, as `make messages` extracts them (macros in
    templates/_macros included: Babel skips directories starting with "_" unless told)."""
    return [
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT),
            method_map=[("rallyhub/**.py", "python"), ("templates/**.html", "jinja2")],
            keywords={**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None},
            directory_filter=lambda path: not Path(path).name.startswith("."),
        )
    ]


def _catalog() -> set[str]:
    return {message if isinstance(message, str) else message[0] for message in extract_messages()}


def test_strings_from_code_and_templates_are_extracted():
    catalog = _catalog()
    for expected in (
        "Register to organize",
        "The e-mail or password is not right.",
        "This account has been disabled. Please contact HQ.",
        "Too large",
        "Confirm your rallyhub account",
        "Bring your friends",  # in templates/_macros/
    ):
        assert expected in catalog


def _visible_text(template: str) -> list[str]:
    text = re.sub(r"\{#.*?#\}", " ", template, flags=re.S)
    text = re.sub(r"\{%.*?%\}|\{\{.*?\}\}", " ", text, flags=re.S)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text, flags=re.S)
    words = re.findall(r"[^\W\d_][\w'’-]*", text)
    return [word for word in words if word not in UNTRANSLATED_OK]


@pytest.mark.parametrize(
    "template", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "templates").rglob("*.html"))
)
def test_templates_have_no_bare_text(template):
    assert _visible_text((ROOT / template).read_text()) == []


def test_rally_languages_are_named_for_the_reader_with_their_own_name(app):
    from flask_babel import force_locale

    from rallyhub.i18n import language_names

    with app.test_request_context():
        assert language_names("hy,en,pt-BR") == [
            "Armenian (հայերեն)",
            "English",
            "Portuguese (Brazil) — português (Brasil)",
        ]
        with force_locale("ru"):
            assert language_names("ru,it") == ["русский", "итальянский (italiano)"]
        assert language_names("xx-??,") == ["xx-??"]
