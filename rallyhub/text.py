"""Text people type, rendered safely: escaped, with line breaks and plain links."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
# Punctuation that ends a sentence rather than a link.
_TRAILING = ".,;:!?)]}'\""


def _link(url: str) -> str:
    trimmed = url.rstrip(_TRAILING)
    rest = url[len(trimmed) :]
    return (
        f'<a href="{escape(trimmed)}" rel="nofollow noopener noreferrer ugc">{escape(trimmed)}</a>'
        f"{escape(rest)}"
    )


def plain_text(value: str | None) -> Markup:
    """Escape ``value``, turn http(s) addresses into links and line breaks into ``<br>``."""
    if not value:
        return Markup("")
    pieces: list[str] = []
    position = 0
    for match in _URL.finditer(value):
        pieces.append(str(escape(value[position : match.start()])))
        pieces.append(_link(match.group(0)))
        position = match.end()
    pieces.append(str(escape(value[position:])))
    html = "".join(pieces).replace("\r\n", "\n").replace("\n", "<br>\n")
    return Markup(html)  # noqa: S704 - every piece above was escaped
