"""Language choice and localized formatting."""

from __future__ import annotations

from zoneinfo import ZoneInfo

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


def format_local(dt, timezone: str) -> str:
    """A UTC datetime shown in a rally's own time zone, in the current language.

    The date with its weekday and the time without seconds, joined the locale's way.
    """
    from babel.dates import format_skeleton, format_time, get_datetime_format
    from flask_babel import get_locale

    locale = get_locale()
    local = dt.astimezone(ZoneInfo(timezone))
    day = format_skeleton("yMMMEd", local, locale=locale)
    clock = format_time(local, "short", locale=locale)
    return get_datetime_format("medium", locale=locale).replace("{1}", day).replace("{0}", clock)
