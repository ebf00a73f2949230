"""Query-string parameters read once, the same way everywhere: bad ones are a 400 naming them."""

from __future__ import annotations

import math
from datetime import date

from flask_babel import gettext as _

from rallyhub.errors import UserError


def _raw(args, name: str) -> str | None:
    value = args.get(name)
    return value.strip() or None if value is not None else None


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a NUL, a line break or another control character."""
    return any(ch < " " or "\x7f" <= ch < "\xa0" for ch in text)


def text_arg(args, name: str, max_length: int = 200) -> str | None:
    """One line of text (no control characters, at most ``max_length``), or None when blank."""
    raw = _raw(args, name)
    if raw is None:
        return None
    if len(raw) > max_length or has_control_characters(raw):
        raise UserError(
            _(
                "“%(name)s” must be one line of at most %(max)d characters.",
                name=name,
                max=max_length,
            ),
            field=name,
        )
    return raw


def number_arg(args, name: str, low: float, high: float) -> float | None:
    """A finite number in [low, high], or None when absent or blank."""
    raw = _raw(args, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UserError(_("“%(name)s” must be a number.", name=name), field=name) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise UserError(
            _("“%(name)s” must be between %(low)g and %(high)g.", name=name, low=low, high=high),
            field=name,
        )
    return value


# Years a rally can plausibly take place in. Beyond them a day's end or a wall time may not
# even convert (9999-12-31 plus a day overflows: once a 500).
FIRST_YEAR, LAST_YEAR = 2000, 2999


def date_arg(args, name: str) -> date | None:
    """An ISO date between FIRST_YEAR and LAST_YEAR, or None when absent or blank."""
    raw = _raw(args, name)
    if raw is None:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise UserError(
            _("“%(name)s” must be a date like 2027-05-17.", name=name), field=name
        ) from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise UserError(
            _(
                "“%(name)s” must be a date between the years %(first)d and %(last)d.",
                name=name,
                first=FIRST_YEAR,
                last=LAST_YEAR,
            ),
            field=name,
        )
    return value


def date_range_args(args) -> tuple[date | None, date | None]:
    """``start`` and ``end``, with the end not before the start."""
    start, end = date_arg(args, "start"), date_arg(args, "end")
    if start and end and end < start:
        raise UserError(_("“end” must not be before “start”."), field="end")
    return start, end


def country_arg(args, name: str = "country") -> str | None:
    """An ISO 3166 alpha-2 code (any case), upper-cased, or None."""
    raw = _raw(args, name)
    if raw is None:
        return None
    if len(raw) != 2 or not raw.isalpha() or not raw.isascii():
        raise UserError(
            _("“%(name)s” must be a two-letter country code such as SE.", name=name), field=name
        )
    return raw.upper()
