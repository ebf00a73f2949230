"""Links that leave the site (e-mails, calendars): always on the configured origin."""

from __future__ import annotations

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of ``endpoint`` on ``BASE_URL``, whatever Host the request named.

    Without ``BASE_URL`` (development and tests only; production requires it) the request's
    own origin is used, which TRUSTED_HOSTS limits to this machine's names.
    """
    base_url = current_app.config.get("BASE_URL")
    if base_url:
        return base_url + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
