"""Radius search over 100,000 and 1,000,000 synthetic rallies clustered around real cities.

For radius 50 and 200 km, nearest 50, prints median and p95 of rallyhub's search for a mix of
query points and for the 100 densest cities, beside (a) the floor — the bare bounding-box
query for the same radius as raw SQL through the database driver (sqlite3, psycopg), ids only,
on the same index the search uses — and (b) the naive full scan.
Goals (issue 3): p95 at 1M ≤ 2× the floor's p95; p95/p50 ≤ 3; p95 at 200 km ≤ 1.5× p95 at
50 km; median ≥ 1,000× faster than the full scan. SQLite always; PostgreSQL too when
TEST_DATABASE_URL points at one. Sizes: BENCH_RADIUS_SIZES=100000,1000000.
"""

from __future__ import annotations

import heapq
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import app_env, backends, database, percentile

SIZES = [int(n) for n in os.environ.get("BENCH_RADIUS_SIZES", "100000,1000000").split(",")]
QUERIES = int(os.environ.get("BENCH_RADIUS_QUERIES", "200"))
SCANS = 3


def synthetic(count: int, rng: random.Random):
    """Rallies around real cities, the biggest cities holding thousands each."""
    from rallyhub.places.gazetteer import get_gazetteer

    places = get_gazetteer()._places
    weights = [place.population**1.3 for place in places]
    chosen = rng.choices(range(len(places)), weights=weights, k=count)
    for number in chosen:
        place = places[number]
        lat = max(-89.9, min(89.9, place.latitude + rng.gauss(0, 0.08)))
        lon = (place.longitude + rng.gauss(0, 0.1) + 180) % 360 - 180
        yield number, lat, lon


def fill(app, count: int, rng: random.Random) -> Counter:
    from sqlalchemy import insert

    from rallyhub.auth.models import User
    from rallyhub.campaigns.models import Campaign
    from rallyhub.extensions import db
    from rallyhub.rallies.models import Rally, search_columns

    now = datetime.now(UTC)
    density: Counter = Counter()
    with app.app_context():
        db.session.add(User(id=1, email="b@example.org", name="B", password_hash="x"))
        db.session.add(Campaign(id=1, slug="b", name="B", hashtag="#B", start_date=now.date()))
        db.session.flush()
        batch = []
        for n, (city, lat, lon) in enumerate(synthetic(count, rng), start=1):
            density[city] += 1
            start = now + timedelta(days=1 + n % 60)
            batch.append(
                {
                    "id": n,
                    "campaign_id": 1,
                    "organizer_id": 1,
                    "title": "R",
                    "description": "",
                    "city": "C",
                    "country_code": "XX",
                    "meeting_point": "",
                    "latitude": lat,
                    "longitude": lon,
                    "public_latitude": lat,
                    "public_longitude": lon,
                    **search_columns(lat, lon),
                    "timezone": "UTC",
                    "start_dt": start,
                    "end_dt": start + timedelta(hours=2),
                    "languages": "",
                    "status": "approved",
                    "visibility": "public",
                    "review_note": "",
                    "cancel_note": "",
                    "created_dt": now,
                    "updated_dt": now,
                    "asks_phone": False,
                    "walk_in_count": 0,
                }
            )
            if len(batch) == 20_000:
                db.session.execute(insert(Rally), batch)
                batch = []
        if batch:
            db.session.execute(insert(Rally), batch)
        db.session.commit()
        # As autovacuum would: statistics, and PostgreSQL's visibility map for index-only scans.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if db.engine.dialect.name == "postgresql":
                connection.exec_driver_sql("VACUUM ANALYZE rallies")
            else:
                connection.exec_driver_sql("ANALYZE")
    return density


def timed(function, points) -> list[float]:
    times = []
    for lat, lon in points:
        started = time.perf_counter()
        function(lat, lon)
        times.append(time.perf_counter() - started)
    return times


def run(kind: str, count: int) -> None:
    rng = random.Random(count)
    with database(kind) as (url, folder):
        os.environ.update(app_env(url, folder))
        from sqlalchemy import text

        from rallyhub import create_app
        from rallyhub.extensions import db
        from rallyhub.places.distance import bands, bounding_box, chord_squared, unit_vector
        from rallyhub.places.gazetteer import get_gazetteer
        from rallyhub.rallies.search import find_rallies_near

        app = create_app()
        started = time.perf_counter()
        density = fill(app, count, rng)
        print(f"[{kind} {count:,}] loaded in {time.perf_counter() - started:.0f} s")
        places = get_gazetteer()._places
        densest = [(places[n].latitude, places[n].longitude) for n, _ in density.most_common(100)]
        mixed = [
            (places[n].latitude, places[n].longitude)
            for n in rng.sample(sorted(density), min(QUERIES, len(density)))
        ]
        now = datetime.now(UTC)
        with app.app_context():
            connection = db.session.connection()
            driver = connection.connection.driver_connection.cursor()
            mark = "?" if kind == "sqlite" else "%s"
            # As SQLAlchemy stores a UTC datetime on SQLite; PostgreSQL takes the datetime.
            ends_after = now.strftime("%Y-%m-%d %H:%M:%S.%f") if kind == "sqlite" else now
            tail: dict[tuple[int, str], float] = {}  # p95 by radius and set of points
            for radius in (50, 200):

                def search(lat, lon, radius=radius):
                    find_rallies_near(lat, lon, radius, limit=50)

                def floor(lat, lon, radius=radius):
                    for a, b, c, d in bounding_box(lat, lon, radius):
                        numbers = bands(a, b)
                        driver.execute(
                            f"SELECT id FROM rallies WHERE status = 'approved' AND end_dt > {mark}"
                            f" AND public_band IN ({', '.join([mark] * len(numbers))})"
                            f" AND public_longitude BETWEEN {mark} AND {mark}"
                            f" AND public_latitude BETWEEN {mark} AND {mark}",
                            [ends_after, *numbers, c, d, a, b],
                        )
                        driver.fetchall()

                for label, points in (("mixed points", mixed), ("100 densest", densest)):
                    ours, bare = timed(search, points), timed(floor, points)
                    tail[radius, label] = percentile(ours, 0.95)
                    print(
                        f"[{kind} {count:,}] {radius:3} km {label:13} search p50 "
                        f"{percentile(ours, 0.5) * 1e3:6.2f} ms p95 "
                        f"{percentile(ours, 0.95) * 1e3:6.2f} ms (p95/p50 "
                        f"{percentile(ours, 0.95) / percentile(ours, 0.5):.1f}) | floor p50 "
                        f"{percentile(bare, 0.5) * 1e3:6.2f} ms p95 "
                        f"{percentile(bare, 0.95) * 1e3:6.2f} ms | p95 vs floor "
                        f"{percentile(ours, 0.95) / percentile(bare, 0.95):.2f}x"
                    )

            for label in ("mixed points", "100 densest"):
                print(
                    f"[{kind} {count:,}] p95 at 200 km vs 50 km, {label}: "
                    f"{tail[200, label] / tail[50, label]:.2f}x"
                )

            def scan(lat, lon):
                # Every rally read, its distance from the stored vector, the 50 nearest kept.
                centre = unit_vector(lat, lon)
                rows = connection.execute(
                    text("SELECT id, public_x, public_y, public_z FROM rallies")
                ).all()
                heapq.nsmallest(50, ((chord_squared(centre, row[1:]), row[0]) for row in rows))

            full = timed(scan, mixed[:SCANS])
            ours = timed(lambda lat, lon: find_rallies_near(lat, lon, 50, limit=50), mixed)
            print(
                f"[{kind} {count:,}] full scan p50 {percentile(full, 0.5) * 1e3:.0f} ms: "
                f"search median is {percentile(full, 0.5) / percentile(ours, 0.5):,.0f}x faster"
            )
            db.session.rollback()
            db.engine.dispose()


if __name__ == "__main__":
    for size in SIZES:
        for backend in backends():
            run(backend, size)
