"""Load: 5,000 sign-ups from 32 concurrent clients against gunicorn with 4 workers.

Prints requests/s, p50/p99 latency, server errors, and — counted in the database afterwards —
sign-ups lost or duplicated. Run: ``make bench`` (or ``python bench/bench_signups.py``).
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import sys
import threading
import time
import urllib.parse
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import app_env, backends, database, gunicorn, percentile

REQUESTS = int(os.environ.get("BENCH_SIGNUPS", "5000"))
CLIENTS = 32
WORKERS = 4
# One request in five repeats an earlier e-mail: it must update, never add a row.
REPEAT_EVERY = 5


def make_rally(url: str, folder: str) -> int:
    """A campaign and an approved rally with room for everyone."""
    os.environ.update(app_env(url, folder))
    from rallyhub import create_app
    from rallyhub.auth.models import User
    from rallyhub.campaigns.models import Campaign
    from rallyhub.extensions import db
    from rallyhub.models import utcnow
    from rallyhub.rallies.models import Rally, RallyStatus

    app = create_app()
    with app.app_context():
        organizer = User(email="bench@example.org", name="Bench", password_hash="x")
        campaign = Campaign(
            slug="bench", name="Bench", hashtag="#Bench", start_date=utcnow().date()
        )
        start = utcnow() + timedelta(days=5)
        rally = Rally(
            campaign=campaign,
            organizer=organizer,
            title="Load test",
            city="Roma",
            country_code="IT",
            latitude=41.9,
            longitude=12.5,
            timezone="Europe/Rome",
            start_dt=start,
            end_dt=start + timedelta(hours=2),
            capacity=REQUESTS,
            status=RallyStatus.APPROVED,
        )
        db.session.add(rally)
        db.session.commit()
        rally_id = rally.id
        db.engine.dispose()
    return rally_id


def count_rows(url: str, folder: str, rally_id: int) -> tuple[int, int]:
    """Sign-up rows for the rally, and distinct e-mails among them."""
    from sqlalchemy import func, select

    from rallyhub import create_app
    from rallyhub.extensions import db
    from rallyhub.signups.models import Signup

    app = create_app()
    with app.app_context():
        rows = db.session.scalar(select(func.count()).where(Signup.rally_id == rally_id))
        distinct = db.session.scalar(
            select(func.count(func.distinct(Signup.email))).where(Signup.rally_id == rally_id)
        )
        db.engine.dispose()
    return rows, distinct


def session_cookie(response: http.client.HTTPResponse, current: str) -> str:
    """The session cookie the response sets, or the current one."""
    for header in response.headers.get_all("Set-Cookie") or []:
        if header.startswith("rallyhub_session="):
            return header.split(";")[0]
    return current


def client(port: int, rally_id: int, jobs: queue.Queue, results: list, lock: threading.Lock):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"/rallies/{rally_id}")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = session_cookie(response, "")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    mine = []
    while True:
        try:
            email = jobs.get_nowait()
        except queue.Empty:
            break
        body = urllib.parse.urlencode(
            {"csrf_token": token, "name": "Supporter", "email": email, "consent": "y"}
        )
        started = time.perf_counter()
        connection.request(
            "POST",
            f"/rallies/{rally_id}/signup",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        reply = connection.getresponse()
        reply.read()
        mine.append((reply.status, time.perf_counter() - started))
        # The session cookie grows with the list of rallies signed up for; keep it current.
        cookie = session_cookie(reply, cookie)
    connection.close()
    with lock:
        results.extend(mine)


def run(kind: str) -> None:
    with database(kind) as (url, folder):
        rally_id = make_rally(url, folder)
        emails = [
            f"person{n}@example.org" if n % REPEAT_EVERY else f"person{max(n - 7, 1)}@example.org"
            for n in range(REQUESTS)
        ]
        unique = len(set(emails))
        jobs: queue.Queue = queue.Queue()
        for email in emails:
            jobs.put(email)
        results: list = []
        lock = threading.Lock()
        with gunicorn(url, folder, WORKERS) as port:
            threads = [
                threading.Thread(target=client, args=(port, rally_id, jobs, results, lock))
                for _ in range(CLIENTS)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        rows, distinct = count_rows(url, folder, rally_id)
    latencies = [latency for _status, latency in results]
    errors = sum(1 for status, _ in results if status >= 500)
    other = sum(1 for status, _ in results if status not in (302,) and status < 500)
    print(
        f"[{kind}] {len(results)} sign-ups, {CLIENTS} clients, gunicorn {WORKERS} workers: "
        f"{len(results) / elapsed:.0f} req/s, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    print(
        f"[{kind}] server errors {errors}, other non-redirects {other}; in the database: "
        f"{rows} rows for {unique} distinct e-mails sent -> lost {unique - distinct}, "
        f"duplicated {rows - distinct}"
    )


if __name__ == "__main__":
    for backend in backends():
        run(backend)
