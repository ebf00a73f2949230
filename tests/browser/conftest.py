"""Real-browser fixtures: the app on a free loopback port, Debian's Chromium via Playwright.

Tests check what a page shows with ``locator.wait_for()`` (visible within the timeout, or the
test fails), never ``is_visible()`` right after a click, which races the navigation.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(app, browser, live_server):
    """A fresh page that blocks every other origin and records what it asked of them.

    Requests to the configured tile server go to ``page.tile_requests`` (they are allowed by
    design, though not served here); anything else off this origin is a failure waiting in
    ``page.foreign_requests``.
    """
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    page.foreign_requests = []
    page.tile_requests = []
    page.dialogs = []
    tile_host = app.config.get("TILE_HOST")

    def route(request_route):
        url = request_route.request.url
        parts = urlsplit(url)
        if parts.hostname in LOCAL_HOSTS:
            request_route.continue_()
            return
        if tile_host and f"{parts.scheme}://{parts.netloc}" == tile_host:
            page.tile_requests.append(url)
        else:
            page.foreign_requests.append(url)
        request_route.abort()

    page.route("**/*", route)
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.set_default_timeout(10_000)
    yield page
    context.close()
