"""What carrying nine languages costs (issue 15), measured in one run.

The same database is served twice by gunicorn (2 workers): once with English alone
(``RALLYHUB_LANGUAGES=["en"]``: no switcher, as rallyhub was before it spoke other languages)
and once with the nine languages, read in Armenian. Printed:

1. the bytes of each page in both, and what the switcher adds in English (goal: ≤ 5 %);
2. the rally page's requests/s in both, in alternating rounds (goal: within 10 %).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import app_env, database, gunicorn
from bench.bench_pages import DURATION_S, hammer
from bench.bench_radius import fill

RALLIES = 2_000
PAGES = ("/", "/rallies/1", "/near?q=Stockholm", "/auth/login", "/auth/register")
ROUNDS = 3


@contextmanager
def serving(url: str, folder: str, languages: list[str]):
    os.environ["RALLYHUB_LANGUAGES"] = json.dumps(languages)
    try:
        with gunicorn(url, folder, workers=2) as port:
            yield port
    finally:
        os.environ.pop("RALLYHUB_LANGUAGES", None)


def size(port: int, path: str, language: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Accept-Language": language})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200, (path, response.status)
    return len(body)


def main() -> None:
    with database("sqlite") as (url, folder):
        os.environ.update(app_env(url, folder))
        from rallyhub import create_app
        from rallyhub.extensions import db

        app = create_app()
        fill(app, RALLIES, random.Random(15))
        with app.app_context():
            db.engine.dispose()
        with (
            serving(url, folder, ["en"]) as english,
            serving(url, folder, app.config["LANGUAGES"]) as nine,
        ):
            print(f"Page bytes, {RALLIES:,} rallies (English alone → nine languages):")
            worst = 0.0
            for path in PAGES:
                alone, with_switcher = size(english, path, "en"), size(nine, path, "en")
                armenian = size(nine, path, "hy")
                grown = (with_switcher - alone) / alone * 100
                worst = max(worst, grown)
                print(
                    f"  {path:20} {alone:7,} → {with_switcher:7,} B (+{grown:4.1f} %), "
                    f"in Armenian {armenian:7,} B"
                )
            print(f"  largest growth from the switcher: {worst:.1f} % (goal ≤ 5 %)")
            rates: dict[str, list[float]] = {"en": [], "hy": []}
            for port, language in [(english, "en"), (nine, "hy")]:
                hammer(port, "/rallies/1", 1.0, {"Accept-Language": language})  # warm
            for _round in range(ROUNDS):
                for port, language in [(english, "en"), (nine, "hy")]:
                    rate, _p99, errors = hammer(
                        port, "/rallies/1", DURATION_S / 2, {"Accept-Language": language}
                    )
                    assert errors == 0
                    rates[language].append(rate)
    alone, translated = max(rates["en"]), max(rates["hy"])
    print(
        f"Rally page, gunicorn 2 workers, best of {ROUNDS} alternating rounds: English alone "
        f"{alone:.0f} req/s, nine languages read in Armenian {translated:.0f} req/s: "
        f"{translated / alone:.2f}x (goal ≥ 0.90x)"
    )


if __name__ == "__main__":
    main()
