"""URL converters: path values that cannot name a row are a 404 before any view runs."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, UnicodeConverter, ValidationError

from rallyhub.params import has_control_characters

# The largest id a table can hold: primary keys are INTEGER, 32 bits on PostgreSQL (SQLite
# takes 64). Larger numbers in a path fail in the database driver (a 500) instead of simply
# matching no row.
MAX_ID = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that matches only values an id column can hold (others are a 404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class TextConverter(UnicodeConverter):
    """``<name>`` (tokens, slugs) without control characters: PostgreSQL refuses a NUL."""

    def to_python(self, value: str) -> str:
        if has_control_characters(value):
            raise ValidationError()
        return value


CONVERTERS = {"int": BoundedIntConverter, "default": TextConverter, "string": TextConverter}
