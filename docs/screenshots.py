"""Take the README's screenshots: the home page, a rally page and the host form, on a phone
(390×844) and a desktop (1280×800), from the demo data in a throw-away database.

Run it with ``make screenshots``; it needs Debian's Chromium and writes docs/screenshots/.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from itertools import product
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from rallyhub import create_app, demo
from rallyhub.extensions import db

HERE = Path(__file__).parent / "screenshots"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
# (name, path, signed in as a demo organizer). Tiles come from a server the script may not
# reach: the maps show their pins on a blank background.
PAGES = [
    ("home", "/", False),
    ("rally", "/rallies/1", False),
    ("host-form", "/rallies/new", True),
    ("language", "/language?next=/", False),
]


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.get_by_label("E-mail").fill("organizer1@example.org")
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def main() -> None:
    folder = tempfile.mkdtemp(prefix="rallyhub-shots-")
    app = create_app(
        {
            "RALLYHUB_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/demo.db",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        demo.seed(progress=lambda message: None)
        db.session.commit()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    HERE.mkdir(exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            for (name, path, signed_in), (size, viewport) in product(PAGES, SIZES.items()):
                context = browser.new_context(
                    viewport=viewport, is_mobile=size == "phone", has_touch=size == "phone"
                )
                page = context.new_page()
                page.route(
                    "**/*",
                    lambda route: (
                        route.continue_() if route.request.url.startswith(base) else route.abort()
                    ),
                )
                if signed_in:
                    _sign_in(page, base)
                page.goto(base + path)
                page.wait_for_timeout(600)
                target = HERE / f"{name}-{size}.png"
                page.screenshot(path=target)
                print(f"wrote docs/screenshots/{target.name}")
                context.close()
            browser.close()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
