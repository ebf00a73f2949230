"""Pages and the API under load.

1. The home page with 10,000 and 100,000 approved rallies on each database: render time beside
   a plain template page in the same run, and page weight. Goal (issue 17): ≤ 3× the plain
   page at 100,000 (its counts by country are kept per public data version and minute; the
   first view after a change, which counts again, is printed too).
2. gunicorn (2 workers) at 100,000 rallies: /api/v1/events?near=…&radius_km=50 and a public
   rally page, requests/s and p99 beside the trivial /api/v1/ping. Goals: the API ≥ 25 % of
   ping's requests/s with p99 within 5× of ping's; the rally page ≥ 400 requests/s.
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import app_env, database, gunicorn, percentile
from bench.bench_radius import fill

CLIENTS = 16
DURATION_S = float(os.environ.get("BENCH_LOAD_SECONDS", "8"))


def render_times(client, path: str, repeat: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        size = len(response.data)
        assert response.status_code == 200, (path, response.status_code)
    return times, size


def home_map() -> None:
    """The home page beside a plain page, at 10,000 and 100,000 rallies, on each database."""
    import random

    from bench._support import backends

    for kind in backends():
        for count in (10_000, 100_000):
            with database(kind) as (url, folder):
                os.environ.update(app_env(url, folder))
                from rallyhub import create_app
                from rallyhub.extensions import db
                from rallyhub.rallies.models import Rally

                app = create_app()
                fill(app, count, random.Random(count))
                client = app.test_client()
                client.get("/")
                home, weight = render_times(client, "/", 20)
                plain, _plain_weight = render_times(client, "/auth/login", 20)
                # The first view after a change counts every rally again.
                cold = []
                for n in range(5):
                    with app.app_context():
                        db.session.get(Rally, 1 + n).title = f"Changed {n}"
                        db.session.commit()
                    cold.extend(render_times(client, "/", 1)[0])
                _tile, tile_weight = render_times(client, "/map/points.json?z=2&x=2&y=1", 5)
                base = percentile(plain, 0.5)
                print(
                    f"home, {kind}, {count:,} rallies: p50 {percentile(home, 0.5) * 1e3:.1f} ms "
                    f"({percentile(home, 0.5) / base:.1f}x the plain page's {base * 1e3:.1f} ms; "
                    f"goal ≤ 3x), first view after a change {percentile(cold, 0.5) * 1e3:.1f} ms "
                    f"({percentile(cold, 0.5) / base:.1f}x); page {weight / 2**10:.0f} KiB, "
                    f"a world-view map tile {tile_weight / 2**10:.1f} KiB"
                )
                with app.app_context():
                    db.engine.dispose()


def hammer(
    port: int, path: str, seconds: float, headers: dict[str, str] | None = None
) -> tuple[float, float, int]:
    """Requests/s, p99 and errors for ``path`` from CLIENTS keep-alive clients."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, percentile(latencies, 0.99), errors[0]


def under_load() -> None:
    import random

    with database("sqlite") as (url, folder):
        os.environ.update(app_env(url, folder))
        from rallyhub import create_app
        from rallyhub.extensions import db

        app = create_app()
        fill(app, 100_000, random.Random(5))
        with app.app_context():
            db.engine.dispose()
        with gunicorn(url, folder, workers=2) as port:
            for path in ("/api/v1/ping", "/api/v1/events?near=Paris&radius_km=50", "/rallies/1"):
                hammer(port, path, 1.0)  # warm every worker
            ping = hammer(port, "/api/v1/ping", DURATION_S)
            api = hammer(port, "/api/v1/events?near=Paris&radius_km=50", DURATION_S)
            page = hammer(port, "/rallies/1", DURATION_S)
    print(f"gunicorn 2 workers, {CLIENTS} clients, 100,000 rallies:")
    for label, (rate, p99, errors) in (
        ("ping", ping),
        ("events near Paris", api),
        ("rally page", page),
    ):
        print(f"  {label:18} {rate:7.0f} req/s  p99 {p99 * 1e3:6.1f} ms  errors {errors}")
    print(
        f"  events: {api[0] / ping[0] * 100:.0f} % of ping's req/s (goal ≥ 25 %), "
        f"p99 {api[1] / ping[1]:.1f}x ping's (goal ≤ 5x); rally page goal ≥ 400 req/s"
    )


if __name__ == "__main__":
    home_map()
    under_load()
