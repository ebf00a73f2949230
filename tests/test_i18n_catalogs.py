"""The catalogs are complete and current: every message of the code and templates is in the
catalog of every interface language, translated, not fuzzy, with the same placeholders, and
the compiled catalogs are those of today's .po files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from rallyhub.config import defaults
from tests.test_i18n import extract_messages

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "rallyhub" / "translations"
SOURCE_LANGUAGE = "en"  # the message ids themselves
LANGUAGES = [
    code for code in defaults(ROOT / "instance", "testing")["LANGUAGES"] if code != SOURCE_LANGUAGE
]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdgf]|\{[a-z_]+\}")


def _po(language: str):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def _key(value):
    """Plural ids and strings as tuples (the .mo reader gives lists)."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _ids(messages) -> set[str]:
    return {message if isinstance(message, str) else message[0] for message in messages}


def test_every_interface_language_but_the_source_has_a_catalog():
    shipped = {path.parent.parent.name for path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")}
    assert shipped == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalog_holds_every_message_of_the_code_and_no_stale_one(language):
    in_code = _ids(extract_messages())
    in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in _po(language) if m.id}
    assert in_code - in_catalog == set(), "run `make messages` and translate the new entries"
    assert in_catalog - in_code == set(), "entries no code uses any more: run `make messages`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(language):
    catalog = _po(language)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if not set(PLACEHOLDER.findall(string)) <= wanted or (
                len(ids) == 1 and set(PLACEHOLDER.findall(string)) != wanted
            ):
                problems.append(f"placeholders differ: {ids[0]!r} → {string!r}")
    # Babel's own checkers: python-format strings and plural forms.
    problems += [
        f"{message.id!r}: {error}" for message, errors in catalog.check() for error in errors
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_is_todays(language):
    directory = TRANSLATIONS / language / "LC_MESSAGES"
    compiled = directory / "messages.mo"
    assert compiled.exists(), "run `make catalogs`"
    with compiled.open("rb") as handle:
        mo = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
    po = {_key(m.id): _key(m.string) for m in _po(language) if m.id}
    assert mo == po, "the .mo is older than the .po: run `make catalogs`"
