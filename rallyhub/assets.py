"""Static files at fingerprinted addresses: kept by browsers and proxies for a year, never stale.

Every ``url_for("static", …)`` carries ``v=``, a digest of the file's bytes. An answer for the
current digest may be kept for a year, unchanged (``immutable``); a changed file gets a new
address, so nobody keeps an old one. Any other request (no or an old ``v``) is revalidated.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from flask import Flask, request

YEAR_S = 365 * 24 * 3600


@lru_cache(maxsize=2048)
def _digest(path: str, _size: int, _mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "blake2b").hexdigest()[:12]


def fingerprint(folder: str, filename: str) -> str | None:
    """The digest of ``folder/filename`` (None when there is no such file)."""
    path = os.path.join(folder, filename)
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    # Keyed by size and time too: a file edited while the server runs gets a new digest.
    return _digest(path, stat.st_size, stat.st_mtime_ns)


def current_fingerprint(app: Flask, filename: str | None) -> bool:
    """Whether this request names ``filename`` at its current fingerprint."""
    version = request.args.get("v")
    return bool(filename and version and version == fingerprint(app.static_folder, filename))


def init_assets(app: Flask) -> None:
    """Fingerprint static addresses, and let a fingerprinted answer be kept for a year."""

    @app.url_defaults
    def _add_fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and values.get("filename"):
            version = fingerprint(app.static_folder, values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def _immutable(response):
        # Static files are the same for everyone, signed in or not.
        if request.endpoint == "static" and response.status_code == 200:
            if current_fingerprint(app, (request.view_args or {}).get("filename")):
                response.headers["Cache-Control"] = f"public, max-age={YEAR_S}, immutable"
            else:
                response.headers["Cache-Control"] = "public, no-cache"
        return response
