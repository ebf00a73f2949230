"""The campaign's calendar with 1,000 rallies beside one rally's calendar, in the same run.

Issue 17's goal: ``/campaigns/<slug>/rallies.ics`` answers at least as many requests/s as a
single rally's ``.ics`` (it was 18 requests/s against Indico's 190 for one event). Printed:
requests/s of each (one process, the test client, so the server's own work is what is
measured), the campaign calendar's first build after a change, and a revalidation (304).
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import app_env, backends, database
from bench.bench_radius import fill

RALLIES = int(os.environ.get("BENCH_CALENDAR_RALLIES", "1000"))
SECONDS = float(os.environ.get("BENCH_CALENDAR_SECONDS", "3"))


def rate(client, path: str, headers=None, status=200) -> float:
    """Requests/s for ``path`` over SECONDS."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        response = client.get(path, headers=headers or {})
        assert response.status_code == status, (path, response.status_code)
        done += 1
    return done / (time.perf_counter() - started)


def run(kind: str) -> None:
    with database(kind) as (url, folder):
        os.environ.update(app_env(url, folder))
        from rallyhub import create_app
        from rallyhub.extensions import db
        from rallyhub.rallies.models import Rally

        app = create_app()
        fill(app, RALLIES, random.Random(RALLIES))
        client = app.test_client()
        campaign = "/campaigns/b/rallies.ics"
        single = rate(client, "/rallies/1.ics")
        with app.app_context():
            db.session.get(Rally, 1).title = "Changed"
            db.session.commit()
        started = time.perf_counter()
        first = client.get(campaign)
        cold_ms = (time.perf_counter() - started) * 1e3
        events = first.get_data(as_text=True).count("BEGIN:VEVENT")
        warm = rate(client, campaign)
        etag = first.headers["ETag"]
        revalidate = rate(client, campaign, {"If-None-Match": etag}, status=304)
        print(
            f"{kind}: one rally's .ics {single:,.0f} req/s; campaign .ics with {events:,} events "
            f"{warm:,.0f} req/s ({warm / single:.2f}x one rally's; goal ≥ 1x), "
            f"304 revalidation {revalidate:,.0f} req/s; first build after a change {cold_ms:.0f} ms"
        )
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    for backend in backends():
        run(backend)
