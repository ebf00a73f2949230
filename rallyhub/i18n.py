"""Language choice and localized formatting."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, request, session


def select_locale() -> str:
    """The supporter's chosen language, else the browser's preference, else the default
    (also outside a request: a worker writes in the language it is told with force_locale)."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
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


@lru_cache(maxsize=64)
def _local_patterns(locale_name: str):
    """The date (with weekday), short time and joining patterns of a locale, looked up once."""
    from babel import Locale
    from babel.dates import get_datetime_format, get_time_format, match_skeleton, parse_pattern

    locale = Locale.parse(locale_name)
    skeleton = match_skeleton("yMMMEd", locale.datetime_skeletons)
    day = parse_pattern(locale.datetime_skeletons[skeleton])
    clock = parse_pattern(str(get_time_format("short", locale=locale)))
    return locale, day, clock, str(get_datetime_format("medium", locale=locale))


def format_local(dt, timezone: str) -> str:
    """A UTC datetime shown in a rally's own time zone, in the current language.

    The date with its weekday and the time without seconds, joined the locale's way.
    """
    from flask_babel import get_locale

    locale, day, clock, joined = _local_patterns(str(get_locale() or "en"))
    local = dt.astimezone(ZoneInfo(timezone))
    return joined.replace("{1}", day.apply(local, locale)).replace(
        "{0}", clock.apply(local, locale)
    )


def format_local_range(start, end, timezone: str) -> str:
    """A rally's start and end in its zone; the end shows only its time on the same day."""
    from babel.dates import format_time
    from flask_babel import get_locale

    zone = ZoneInfo(timezone)
    if start.astimezone(zone).date() == end.astimezone(zone).date():
        finish = format_time(end.astimezone(zone), "short", locale=get_locale())
    else:
        finish = format_local(end, timezone)
    return f"{format_local(start, timezone)} – {finish}"


def zone_name(timezone: str) -> str:
    """The zone's name in the current language, e.g. "Armenia Time"."""
    from babel.dates import get_timezone_name
    from flask_babel import get_locale

    return get_timezone_name(ZoneInfo(timezone), width="long", locale=get_locale())
