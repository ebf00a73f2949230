"""Language choice and localized formatting."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, has_request_context, render_template, request

# The cookie that remembers a language the visitor chose (only ever set when they choose one).
LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_DAYS = 365


def supported_language(code: str | None) -> str | None:
    """The configured language ``code`` names ("pt-br" → "pt_BR"), or None."""
    if not code or len(code) > 20:
        return None
    wanted = code.replace("-", "_").casefold()
    for language in current_app.config["LANGUAGES"]:
        if language.casefold() == wanted:
            return language
    return None


def _closest_language(tag: str) -> str | None:
    """The configured language ``tag`` names, else one of the same primary language
    ("hy-AM" is "hy", "pt" is "pt_BR")."""
    found = supported_language(tag)
    if found:
        return found
    primary = tag.replace("_", "-").split("-")[0].casefold()
    for language in current_app.config["LANGUAGES"]:
        if language.replace("_", "-").split("-")[0].casefold() == primary:
            return language
    return None


def _from_accept_language() -> str | None:
    """The browser's most preferred language that we speak: "hy-AM, ru;q=0.5" is Armenian
    (a region variant counts for its language before a less preferred exact match)."""
    for tag, _quality in request.accept_languages:
        found = _closest_language(tag)
        if found:
            return found
    return None


def select_locale() -> str:
    """A ``?lang=`` in the address, else the language the visitor chose before (cookie), else
    the browser's preference, else the default (outside a request: the default; a worker
    writes in the language it is told with force_locale)."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    return (
        supported_language(request.args.get("lang"))
        or supported_language(request.cookies.get(LANGUAGE_COOKIE))
        or _from_accept_language()
        or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def remember_language(response):
    """After a page asked for with ``?lang=``: keep the choice in a cookie (the visitor
    acted). Data a page fetches in its language (map markers) sets nothing."""
    chosen = supported_language(request.args.get("lang"))
    if (
        chosen
        and response.status_code == 200
        and response.mimetype == "text/html"
        and request.cookies.get(LANGUAGE_COOKIE) != chosen
    ):
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=LANGUAGE_COOKIE_DAYS * 86400,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
            samesite="Lax",
        )
        if response.cache_control.public:
            # An answer that sets a cookie is this visitor's: no shared cache may keep it.
            response.headers["Cache-Control"] = "private, no-cache"
    return response


def own_name(code: str) -> str:
    """A language named in itself: "Հայերեն", "Türkçe", "Português (Brasil)"."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, TypeError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


def text_direction() -> str:
    """ "rtl" for right-to-left languages (Arabic, Persian, Hebrew…), else "ltr"."""
    from flask_babel import get_locale

    locale = get_locale()
    return "rtl" if locale is not None and locale.character_order == "right-to-left" else "ltr"


def with_language(path: str, code: str) -> str:
    """``path`` (an address on this site) with ``lang=code`` in its query, replacing any."""
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
    query.append(("lang", code))
    return urlunsplit(("", "", parts.path or "/", urlencode(query), ""))


def local_path(candidate: str | None) -> str:
    """``candidate`` if it is a path on this site, else "/" (never another origin)."""
    if (
        not candidate
        or not candidate.startswith("/")
        or candidate.startswith(("//", "/\\"))
        or any(ch in candidate for ch in "\r\n\\")
        or len(candidate) > 2000
    ):
        return "/"
    return candidate


def country_name(code: str) -> str:
    """The country's name in the current language (Babel), or the code if unknown."""
    from flask_babel import get_locale

    locale = get_locale()
    territories = locale.territories if locale else {}
    return territories.get(code.upper(), code.upper())


# Letters an alphabet keeps apart from the letter they look like, filed after the letter named
# here, in the order of the digit (Swedish å ä ö after z, Turkish ç after c, Spanish ñ after n).
# Every other accented letter is filed with its base letter, as in German, French or Russian.
_SWEDISH = {"å": "z1", "ä": "z2", "æ": "z2", "ö": "z3", "ø": "z3"}
_DANISH = {"æ": "z1", "ä": "z1", "ø": "z2", "ö": "z2", "å": "z3"}
_OWN_LETTERS = {
    "sv": _SWEDISH,
    "fi": _SWEDISH,
    "da": _DANISH,
    "nb": _DANISH,
    "tr": {"ç": "c1", "ğ": "g1", "ı": "h1", "ö": "o1", "ş": "s1", "ü": "u1"},
    "es": {"ñ": "n1"},
}


@lru_cache(maxsize=16)
def _own_letters(language: str) -> dict[int, str]:
    """The translation that files a language's own letters after their neighbours."""
    # U+FFFF sorts after every letter, so "ö" → "z\uffff3" comes after all of z and before
    # whatever follows z; the digit keeps the language's order among its own letters.
    return {
        ord(letter): f"{filed[0]}\uffff{filed[1:]}"
        for letter, filed in _OWN_LETTERS.get(language, {}).items()
    }


def name_sort_key(name: str) -> tuple[str, str, str]:
    """A key that sorts names the way readers of the current language look them up.

    Without ICU: case and accents aside first (Österreich among the O in German), a language's
    own letters where its alphabet has them (Österrike after Zimbabwe in Swedish), then accents,
    then case, so the order is total.
    """
    from flask_babel import get_locale

    locale = get_locale()
    language = locale.language if locale else "en"
    text = unicodedata.normalize("NFC", name)
    if language == "tr":
        # Turkish capitals: I is the capital of ı, İ of i.
        text = text.replace("I", "ı").replace("İ", "i")
    folded = text.casefold()
    filed = folded.translate(_own_letters(language))
    primary = "".join(
        char for char in unicodedata.normalize("NFKD", filed) if not unicodedata.combining(char)
    )
    return primary, folded, name


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


def format_count(number: int) -> str:
    """A count with the reader's grouping: 12,345 · 12.345 · 12 345."""
    from flask_babel import format_decimal

    return format_decimal(number, format="#,##0")


def format_km(km: float) -> str:
    """A distance in kilometres for the reader: one decimal under 100 km ("2,6" in German),
    whole kilometres above ("1 240" in Russian)."""
    from flask_babel import format_decimal

    return format_decimal(km, format="#,##0" if km >= 100 else "#,##0.0")


def zone_name(timezone: str) -> str:
    """The zone's name in the current language, e.g. "Armenia Time"."""
    from babel.dates import get_timezone_name
    from flask_babel import get_locale

    return get_timezone_name(ZoneInfo(timezone), width="long", locale=get_locale())


def language_names(codes: str) -> list[str]:
    """A rally's languages ("hy,en") named for the reader, each with its own name beside it
    when that differs: "Armenian (հայերեն)", "English"."""
    from babel import Locale, UnknownLocaleError
    from flask_babel import get_locale

    reader = get_locale() or Locale("en")
    names = []
    for code in filter(None, (part.strip() for part in codes.split(","))):
        try:
            language = Locale.parse(code, sep="-" if "-" in code else "_")
        except (ValueError, UnknownLocaleError):
            names.append(code)
            continue
        read = language.get_display_name(reader) or code
        own = language.get_display_name(language) or read
        if own.casefold() == read.casefold():
            names.append(read)
        else:
            names.append(f"{read} — {own}" if "(" in read else f"{read} ({own})")
    return names


bp = Blueprint("i18n", __name__)


@bp.route("/language")
def choose():
    """Every interface language, each named in itself, linking back to the page the visitor
    came from in that language."""
    back = local_path(request.args.get("next"))
    return render_template(
        "language.html",
        choices=[
            (code, own_name(code), with_language(back, code))
            for code in current_app.config["LANGUAGES"]
        ],
        back=back,
    )


def same_language(a: str | None, b: str | None) -> bool:
    """Whether two codes name one language: "pt-BR" is "pt_BR"."""
    return bool(a and b) and a.replace("-", "_").casefold() == b.replace("-", "_").casefold()


def reader_language() -> str:
    """The language the current page or message is written in (request, or force_locale)."""
    from flask_babel import get_locale

    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def choose_version(main: str, versions: Iterable[str], reader: str | None = None) -> str:
    """The one rule for texts written in several languages: the reader's language if there
    is a version in it, otherwise the main one. Returns the language chosen."""
    reader = reader or reader_language()
    if same_language(main, reader):
        return main
    for language in versions:
        if same_language(language, reader):
            return language
    return main


@lru_cache(maxsize=4096)
def _zone_city(timezone: str, locale: str) -> str | None:
    """The city a time zone is named after, in ``locale`` (CLDR's exemplar city)."""
    from babel import UnknownLocaleError
    from babel.dates import get_timezone, get_timezone_location

    try:
        return get_timezone_location(get_timezone(timezone), locale=locale, return_city=True)
    except (LookupError, ValueError, UnknownLocaleError):
        return None


def local_city(city: str, timezone: str | None) -> str:
    """A city's name in the reader's language where the data has it: the cities time zones
    are named after (Москва for ru, Mosca for it, Moscow for en); others as stored."""
    if not timezone or not city:
        return city
    english = _zone_city(timezone, "en")
    if english is None or english.casefold() != city.casefold():
        return city
    return _zone_city(timezone, reader_language()) or city


def language_from_environment(environ) -> str:
    """The operator's language for command-line messages, from the usual variables
    (LANGUAGE, LC_ALL, LC_MESSAGES, LANG: "it_IT.UTF-8" is Italian), else the default."""
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for value in (environ.get(variable) or "").split(":"):
            tag = value.split(".")[0].split("@")[0]
            found = _closest_language(tag) if tag and tag not in ("C", "POSIX") else None
            if found:
                return found
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_address_without_language() -> str:
    """The page's own path and query, less any ``lang``: where the language chooser leads
    back to (with the language then chosen)."""
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + (f"?{urlencode(query)}" if query else "")


def every_country() -> list[tuple[str, str]]:
    """(ISO code, name) of every country, in the reader's language and alphabet."""
    from flask_babel import get_locale

    locale = get_locale()
    territories = locale.territories if locale else {}
    countries = [
        (code, name)
        for code, name in territories.items()
        if len(code) == 2 and code.isalpha() and code not in ("ZZ", "EU", "UN", "EZ", "QO")
    ]
    return sorted(countries, key=lambda pair: name_sort_key(pair[1]))
