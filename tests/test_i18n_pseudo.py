"""Every visible string goes through a translation: each page of each role rendered under a
pseudo-locale in which every translated string is marked ⟦…⟧ shows no English outside the
marks, apart from what people typed (titles, names) and what Babel formats (dates, countries).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from bs4 import BeautifulSoup
from sqlalchemy import select

from rallyhub.auth.models import User
from rallyhub.campaigns.models import Campaign
from rallyhub.extensions import db
from rallyhub.rallies.models import Rally, RallyStatus
from rallyhub.signups.models import Signup
from rallyhub.toolkits.models import ToolkitItem
from tests.fuzzing import build_world, client_as, routes
from tests.test_access_matrix import ROLES, _fresh, _path
from tests.test_i18n import extract_messages

OPEN, CLOSE = "⟦", "⟧"
MARKED = re.compile(f"{OPEN}.*?{CLOSE}", re.S)
# Words of English prose that no name, place or date formatted by Babel contains.
ENGLISH = frozenset(
    [
        "the",
        "to",
        "and",
        "of",
        "your",
        "you",
        "is",
        "for",
        "this",
        "with",
        "not",
        "are",
        "be",
        "on",
        "or",
        "an",
        "it",
        "we",
        "our",
        "at",
        "by",
        "from",
        "no",
        "all",
        "can",
        "will",
        "has",
        "have",
        "here",
        "there",
        "more",
        "what",
        "who",
        "when",
        "where",
        "sign",
        "signed",
        "rally",
        "rallies",
        "please",
        "page",
        "back",
        "yes",
        "new",
        "change",
        "cancel",
        "save",
        "send",
        "only",
        "them",
        "their",
        "they",
    ]
)
ATTRIBUTES = ("placeholder", "aria-label", "title", "alt")
# Not pages: files, feeds and redirects.
NOT_PAGES = ("api.", "toolkits.download", "toolkits.preview", "map.points", "health.", "static")


def _pseudo_catalog(directory: Path) -> Path:
    """A compiled "en" catalog whose every string is its own message id, marked."""
    catalog = Catalog(locale="en")
    for message in extract_messages():
        if isinstance(message, tuple):
            catalog.add(message, tuple(f"{OPEN}{part}{CLOSE}" for part in message[:2]))
        else:
            catalog.add(message, f"{OPEN}{message}{CLOSE}")
    target = directory / "en" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)
    return directory


@pytest.fixture
def pseudo_app(make_app, tmp_path):
    app = make_app(
        LANGUAGES=["en"], BABEL_TRANSLATION_DIRECTORIES=str(_pseudo_catalog(tmp_path / "pseudo"))
    )
    # Flask-Babel keeps loaded catalogs per process, by language: "en" must be ours here and
    # nobody else's after.
    with app.app_context():  # the domain is looked up through the current app
        cache = app.extensions["babel"].instance.domain_instance.cache
    cache.clear()
    yield app
    cache.clear()


def _typed_by_people(app) -> list[str]:
    """Everything the records hold that a person typed, longest first."""
    columns = [
        Rally.title,
        Rally.description,
        Rally.meeting_point,
        Rally.city,
        User.name,
        Signup.name,
        Campaign.name,
        Campaign.description,
        Campaign.hashtag,
        ToolkitItem.title,
        ToolkitItem.body,
        ToolkitItem.description,
    ]
    with app.app_context():
        values = {value for column in columns for value in db.session.scalars(select(column))}
    # Country names are Babel's (CLDR), like dates: every country is offered where HQ picks one.
    values |= {
        name for code, name in Locale("en").territories.items() if len(code) == 2 and code.isalpha()
    }
    return sorted((v for v in values if v), key=len, reverse=True)


def _english_left(html: str, typed: list[str]) -> list[str]:
    """Visible texts (and spoken attributes) with English words outside the marks."""
    page = BeautifulSoup(html, "html.parser")
    for hidden in page(["script", "style", "template"]):
        hidden.decompose()
    texts = list(page.stripped_strings)
    for element in page.find_all(True):
        texts += [element[name] for name in ATTRIBUTES if element.get(name)]
        if element.name == "input" and element.get("type") in ("submit", "button"):
            texts.append(element.get("value", ""))
    found = []
    for text in texts:
        rest = MARKED.sub(" ", text)
        for value in typed:
            rest = rest.replace(value, " ")
        # Capitals only are codes (a TOTP secret, "CSV"), not prose.
        words = {word.lower() for word in re.findall(r"[A-Za-z]+", rest) if not word.isupper()}
        if words & ENGLISH:
            found.append(text.strip()[:120])
    return found


def test_the_pseudo_locale_marks_translated_strings(pseudo_app):
    page = pseudo_app.test_client().get("/auth/login").get_data(as_text=True)
    assert f"{OPEN}Sign in{CLOSE}" in page


def test_no_page_of_any_role_shows_english_outside_a_translation(pseudo_app):
    app = pseudo_app
    world = build_world(app, tag="p")
    fresh = _fresh(app, world, RallyStatus.APPROVED)
    typed = _typed_by_people(app)
    leaks = {}
    for role in ROLES:
        client = client_as(app, world, "anonymous" if role == "supporter" else role)
        for rule, method in routes(app):
            if method != "GET" or rule.endpoint.startswith(NOT_PAGES):
                continue
            url = _path(rule, role, world, fresh)
            response = client.get(url)
            # A redirect's body is never seen.
            if response.mimetype != "text/html" or 300 <= response.status_code < 400:
                continue
            left = _english_left(response.get_data(as_text=True), typed)
            if left:
                leaks[f"{role} {url}"] = left
    assert not leaks, "\n".join(f"{page}: {texts}" for page, texts in leaks.items())


def test_mails_and_form_errors_show_no_english_outside_a_translation(pseudo_app, outbox):
    from tests.conftest import post_form

    app = pseudo_app
    world = build_world(app, tag="q")
    typed = [*_typed_by_people(app), world.emails["owner"]]
    anonymous = app.test_client()
    rally_page = f"/rallies/{world.approved_id}"
    signed_up = post_form(
        anonymous,
        f"{rally_page}/signup",
        {"name": "Ani", "email": "ani@example.org"},
        page=rally_page,
    )
    assert signed_up.status_code == 302
    errors = {
        "signup": post_form(anonymous, f"{rally_page}/signup", {"email": "x"}, page=rally_page),
        "register": post_form(anonymous, "/auth/register", {"email": "x"}, page="/auth/register"),
    }
    owner = client_as(app, world, "owner")
    errors["rally"] = post_form(owner, "/rallies/new", {"title": "x"}, page="/rallies/new")
    leaks = {
        name: _english_left(response.get_data(as_text=True), typed)
        for name, response in errors.items()
    }
    assert all(response.status_code == 400 for response in errors.values())
    for mail in outbox():
        body = mail.get_content()
        lines = [line for line in body.splitlines() if line and "://" not in line]
        leaks[mail["Subject"]] = _english_left(
            "".join(f"<p>{line}</p>" for line in [*lines, mail["Subject"]]), typed
        )
    assert not any(leaks.values()), leaks
