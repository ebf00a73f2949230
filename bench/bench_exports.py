"""Exports at scale: the attendance CSV over 100,000 rallies and 1,000,000 sign-ups.

Streams the real endpoint and, in the same run, builds the same CSV in memory; prints time,
time to first byte and peak memory of each. Run: ``make bench``.
"""

from __future__ import annotations

import csv
import io
import os
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import app_env, database

RALLIES = int(os.environ.get("BENCH_EXPORT_RALLIES", "100000"))
SIGNUPS = int(os.environ.get("BENCH_EXPORT_SIGNUPS", "1000000"))
CITIES = [
    ("Stockholm", "SE", "Europe/Stockholm"),
    ("Roma", "IT", "Europe/Rome"),
    ("Yerevan", "AM", "Asia/Yerevan"),
    ("São Paulo", "BR", "America/Sao_Paulo"),
    ("Berlin", "DE", "Europe/Berlin"),
    ("London", "GB", "Europe/London"),
]


def fill(app) -> None:
    """Bulk-load rallies and sign-ups with Core inserts."""
    from sqlalchemy import insert

    from rallyhub.auth.models import User
    from rallyhub.campaigns.models import Campaign
    from rallyhub.extensions import db
    from rallyhub.rallies.models import Rally, search_columns
    from rallyhub.signups.models import Signup

    rng = random.Random(7)
    now = datetime(2027, 5, 17, tzinfo=UTC)
    with app.app_context():
        db.session.execute(
            insert(User).values(
                id=1,
                email="b@example.org",
                name="B",
                password_hash="x",
                role="organizer",
                is_disabled=False,
                session_nonce="n",
                created_dt=now,
            )
        )
        db.session.execute(
            insert(Campaign).values(
                id=1,
                slug="bench",
                name="Bench",
                hashtag="#Bench",
                description="",
                start_date=now.date(),
                is_active=True,
                created_dt=now,
            )
        )
        rows = []
        for n in range(1, RALLIES + 1):
            city, code, zone = CITIES[n % len(CITIES)]
            start = now + timedelta(hours=n % 5000)
            rows.append(
                {
                    "id": n,
                    "campaign_id": 1,
                    "organizer_id": 1,
                    "title": f"Rally {n}",
                    "description": "",
                    "city": city,
                    "country_code": code,
                    "meeting_point": "",
                    "latitude": 45.0,
                    "longitude": 9.0,
                    "public_latitude": 45.0,
                    "public_longitude": 9.0,
                    **search_columns(45.0, 9.0),
                    "timezone": zone,
                    "start_dt": start,
                    "end_dt": start + timedelta(hours=2),
                    "languages": "en",
                    "status": "approved",
                    "visibility": "public",
                    "review_note": "",
                    "cancel_note": "",
                    "created_dt": now,
                    "updated_dt": now,
                    "asks_phone": False,
                    "walk_in_count": n % 7,
                }
            )
            if len(rows) == 10_000:
                db.session.execute(insert(Rally), rows)
                rows = []
        if rows:
            db.session.execute(insert(Rally), rows)
        batch = []
        for n in range(SIGNUPS):
            batch.append(
                {
                    "rally_id": rng.randint(1, RALLIES),
                    "name": "P",
                    "email": f"p{n}@example.org",
                    "consent_to_contact": False,
                    "token": f"t{n}",
                    "status": "going" if n % 9 else "cancelled",
                    "created_dt": now,
                    "updated_dt": now,
                    "checked_in_dt": now if n % 3 == 0 else None,
                }
            )
            if len(batch) == 50_000:
                db.session.execute(insert(Signup), batch)
                batch = []
        if batch:
            db.session.execute(insert(Signup), batch)
        db.session.commit()


def stream(app, client) -> tuple[float, float, int]:
    """Download the streamed CSV: total seconds, seconds to first byte, bytes."""
    started = time.perf_counter()
    response = client.get("/hq/exports/attendance.csv", buffered=False)
    first = None
    size = 0
    for chunk in response.response:
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    response.close()
    return time.perf_counter() - started, first or 0.0, size


def in_memory(app) -> tuple[float, int]:
    """The same CSV built as one string from a list of ORM-free rows."""
    from rallyhub.hq import services
    from rallyhub.rallies.filters import RallyFilter

    started = time.perf_counter()
    with app.test_request_context():
        rows = list(services.attendance_rows(RallyFilter()))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(services.ATTENDANCE_HEADER)
        writer.writerows(rows)
        text = buffer.getvalue()
    return time.perf_counter() - started, len(text.encode())


def peak(function) -> float:
    """Peak Python memory allocated while ``function`` runs, in MiB."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    with database("sqlite") as (url, folder):
        os.environ.update(app_env(url, folder))
        from rallyhub import create_app
        from rallyhub.auth.models import Role, User
        from rallyhub.extensions import db

        app = create_app()
        started = time.perf_counter()
        fill(app)
        print(
            f"loaded {RALLIES} rallies and {SIGNUPS} sign-ups in "
            f"{time.perf_counter() - started:.1f} s"
        )
        with app.app_context():
            hq = User(
                email="hq@example.org",
                name="HQ",
                password_hash="x",
                role=Role.HQ,
                email_confirmed_dt=datetime.now(UTC),
            )
            db.session.add(hq)
            db.session.commit()
            hq_session = hq.get_id()
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = hq_session
            session["_login_ts"] = time.time()
        stream(app, client)  # warm caches once
        streamed, first_byte, size = stream(app, client)
        built, built_size = in_memory(app)
        stream_peak = peak(lambda: stream(app, client))
        build_peak = peak(lambda: in_memory(app))
        with app.app_context():
            db.engine.dispose()
    print(
        f"streamed attendance.csv: {streamed:.2f} s, first byte {first_byte * 1000:.1f} ms, "
        f"{size / 2**20:.1f} MiB, peak memory {stream_peak:.1f} MiB"
    )
    print(
        f"built in memory:         {built:.2f} s, {built_size / 2**20:.1f} MiB, "
        f"peak memory {build_peak:.1f} MiB"
    )
    print(
        f"streaming: {stream_peak / build_peak * 100:.1f} % of the in-memory peak, "
        f"{streamed / built:.2f}x its time (goals: < 5 %, first byte < 100 ms, <= 1.2x)"
    )


if __name__ == "__main__":
    main()
