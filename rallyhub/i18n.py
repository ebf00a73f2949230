"""Language choice and localized formatting."""

from __future__ import annotations

from flask import current_app, request, session


def select_locale() -> str:
    """The supporter's chosen language, else the browser's preference, else the default."""
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return (
        request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def country_name(code: str) -> str:
    """The country's name in the current language (Babel), or the code if unknown."""
    from flask_babel import get_locale

    locale = get_locale()
    territories = locale.territories if locale else {}
    return territories.get(code.upper(), code.upper())


def format_local(dt, timezone: str, format: str = "medium") -> str:
    """A UTC datetime shown in a rally's own time zone, in the current language."""
    from babel.dates import format_datetime
    from flask_babel import get_locale

    return format_datetime(dt, format=format, tzinfo=timezone, locale=get_locale())
