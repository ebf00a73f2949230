"""The map at 100,000 rallies: what a view costs, tile by tile, beside the old dump of every marker.

Issue 17: ``/map/points.json`` sent every marker (7 MB, 0.8 s of CPU at 100,000 rallies) and
revalidating it cost as much. The map now asks for the 256-px tiles in view. Printed, in one run
on each database (PostgreSQL when TEST_DATABASE_URL points at one; BENCH_MAP_BACKENDS narrows):

- the old full dump (every marker, as the old view built it): its size and build time;
- a world view (zoom 2) and a city view (zoom 13 on the densest city) of a 1024×420 map: tiles,
  bytes (and gzipped, as a proxy would send them), the largest tile, and requests/s for its
  tiles built afresh (no kept body: the cost after each change of the data), served from the
  bodies kept per data version, and revalidated (304, no rally read).

One process and the test client, so the server's own work is what is measured.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import app_env, backends, database, percentile
from bench.bench_radius import fill

RALLIES = int(os.environ.get("BENCH_MAP_RALLIES", "100000"))
SECONDS = float(os.environ.get("BENCH_MAP_SECONDS", "3"))
WIDTH, HEIGHT = 1024, 420


def tiles_in_view(latitude: float, longitude: float, zoom: int) -> list[tuple[int, int, int]]:
    """The tiles a WIDTH×HEIGHT map centred there shows at ``zoom``, as map-points.js asks."""
    n = 2**zoom
    x = (longitude + 180) / 360 * n * 256
    y = (1 - math.asinh(math.tan(math.radians(latitude))) / math.pi) / 2 * n * 256
    columns = range(math.floor((x - WIDTH / 2) / 256), math.floor((x + WIDTH / 2 - 1) / 256) + 1)
    rows = range(
        max(0, math.floor((y - HEIGHT / 2) / 256)),
        min(n - 1, math.floor((y + HEIGHT / 2 - 1) / 256)) + 1,
    )
    return sorted({(zoom, column % n, row) for column in columns for row in rows})


def urls(tiles) -> list[str]:
    return [f"/map/points.json?lang=en&z={z}&x={x}&y={y}" for z, x, y in tiles]


def rate(client, paths: list[str], headers=None, status=200, before=None) -> float:
    """Requests/s over SECONDS, asking for ``paths`` in turn."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        path = paths[done % len(paths)]
        if before:
            before()
        response = client.get(path, headers=(headers or {}).get(path, {}))
        assert response.status_code == status, (path, response.status_code)
        done += 1
    return done / (time.perf_counter() - started)


def old_dump(app) -> tuple[int, float]:
    """Size and build time of every marker at once, as the old view built it."""
    from flask import json as flask_json
    from sqlalchemy import select

    from rallyhub.extensions import db
    from rallyhub.map.services import MARKER_COLUMNS, _in_readers_language, _marker
    from rallyhub.rallies.filters import NO_FILTER, filtered
    from rallyhub.rallies.models import Rally
    from rallyhub.rallies.texts import translated_titles

    times, size = [], 0
    with app.test_request_context("/map/points.json?lang=en"):
        for _ in range(3):
            started = time.perf_counter()
            query = filtered(select(*MARKER_COLUMNS), NO_FILTER).order_by(Rally.start_dt, Rally.id)
            markers = [_marker(row) for row in db.session.execute(query)]
            size = len(flask_json.dumps(_in_readers_language(markers, translated_titles())))
            times.append(time.perf_counter() - started)
        db.session.rollback()
    return size, percentile(times, 0.5)


def run(kind: str) -> None:
    with database(kind) as (url, folder):
        os.environ.update(app_env(url, folder))
        from rallyhub import create_app
        from rallyhub.caching import forget_built
        from rallyhub.extensions import db
        from rallyhub.places.gazetteer import get_gazetteer

        app = create_app()
        started = time.perf_counter()
        density = fill(app, RALLIES, random.Random(RALLIES))
        print(f"[{kind} {RALLIES:,}] loaded in {time.perf_counter() - started:.0f} s")
        size, seconds = old_dump(app)
        print(
            f"[{kind}] old full dump: {size / 2**20:.2f} MiB, built in {seconds * 1e3:.0f} ms"
            " (and again for every revalidation)"
        )
        densest = get_gazetteer()._places[density.most_common(1)[0][0]]
        views = {
            "world view (zoom 2)": tiles_in_view(25, 10, 2),
            f"city view (zoom 13, {densest.name})": tiles_in_view(
                densest.latitude, densest.longitude, 13
            ),
        }
        client = app.test_client()
        for label, tiles in views.items():
            paths = urls(tiles)
            bodies = {path: client.get(path) for path in paths}
            raw = sum(len(response.data) for response in bodies.values())
            zipped = sum(len(gzip.compress(response.data)) for response in bodies.values())
            rows = [row for response in bodies.values() for row in json.loads(response.data)]
            clusters = sum(1 for row in rows if len(row) == 4)
            largest = max(len(response.data) for response in bodies.values())
            etags = {path: {"If-None-Match": r.headers["ETag"]} for path, r in bodies.items()}
            fresh = rate(client, paths, before=forget_built)
            kept = rate(client, paths)
            revalidated = rate(client, paths, headers=etags, status=304)
            print(
                f"[{kind}] {label}: {len(paths)} tiles, {raw / 1024:.1f} KiB "
                f"({zipped / 1024:.1f} KiB gzipped; largest tile {largest / 1024:.1f} KiB), "
                f"{clusters} clusters and {len(rows) - clusters} markers\n"
                f"    tile requests/s: built afresh {fresh:7.0f} | kept body {kept:7.0f} | "
                f"304 {revalidated:7.0f}   (a whole view: {fresh / len(paths):.0f} / "
                f"{kept / len(paths):.0f} / {revalidated / len(paths):.0f} per s)"
            )
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    wanted = os.environ.get("BENCH_MAP_BACKENDS")
    for backend in backends():
        if not wanted or backend in wanted.split(","):
            run(backend)
