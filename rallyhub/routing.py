"""URL converters: path values that cannot name a row are a 404 before any view runs."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

# The largest id any of our databases can store (a signed 64-bit integer). Larger numbers in
# a path overflow the database driver (a 500 on SQLite) instead of simply matching no row.
MAX_ID = 2**63 - 1


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that matches only values a database integer can hold (others are a 404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
