"""Links that leave the site (e-mails, calendars): always on the configured origin."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for

# Where a developer's browser reaches ``make run`` (and tests their client): the origin of
# links written outside any request when no BASE_URL is set (a reminder, a worker's message).
DEVELOPMENT_ORIGIN = "http://localhost:5000"


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of ``endpoint`` on ``BASE_URL``, whatever Host the request named.

    Without ``BASE_URL`` (development and tests only; production requires it) the request's
    own origin is used, which TRUSTED_HOSTS limits to this machine's names, and outside a
    request (a worker, the sweep) DEVELOPMENT_ORIGIN.
    """
    base_url = current_app.config.get("BASE_URL")
    if has_request_context():
        if base_url:
            return base_url + url_for(endpoint, **values)
        return url_for(endpoint, _external=True, **values)
    origin = urlsplit(base_url or DEVELOPMENT_ORIGIN)
    adapter = current_app.url_map.bind(
        origin.netloc,
        script_name=current_app.config.get("APPLICATION_ROOT") or "/",
        url_scheme=origin.scheme,
    )
    return adapter.build(endpoint, values, force_external=True)
