"""Mail at campaign scale, through a local SMTP server with STARTTLS (aiosmtpd) and RQ on Redis.

1. Sign-up latency, p50 and p99 of 200 sign-ups while two RQ workers deliver through a mail
   server that takes 2 s a message, beside one that answers at once. Goal (issue 13): ratio
   ≤ 1.1 — a web request never waits for mail.
2. 10,000 reminders delivered by 2 RQ workers (``flask rallyhub worker``); one worker is
   killed (SIGKILL) midway and a new one started; the sweep hands on what the dead one held
   once its lease runs out. Prints messages/s, and lost and duplicated messages (goal 0 and 0;
   duplicates counted by Message-ID at the server).
3. An organizer's message to 5,000 attendees: the POST's time. Goal: under 1 s.

Needs Redis on 127.0.0.1:6379 (database 7 is used). SQLite, and PostgreSQL when
TEST_DATABASE_URL is set (part 2 runs on the last of them).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from email import message_from_bytes
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trustme
from aiosmtpd.controller import Controller

from bench._support import BIN, ROOT, app_env, backends, database, free_port, percentile

REDIS_URL = "redis://127.0.0.1:6379/7"
SIGNUPS = int(os.environ.get("BENCH_MAIL_SIGNUPS", "200"))
REMINDERS = int(os.environ.get("BENCH_MAIL_REMINDERS", "10000"))
ATTENDEES = int(os.environ.get("BENCH_MAIL_ATTENDEES", "5000"))
LEASE_S = 5
WARM_UP = 20


class Sink:
    """An SMTP server that keeps the Message-IDs it received, after ``delay`` seconds each."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content)
        with self.lock:
            self.ids.append(message["Message-ID"])
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.ids)


class Servers:
    """A CA of our own and SMTP servers with STARTTLS that the app trusts through it."""

    def __init__(self, folder: str):
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = Path(folder) / "ca.pem"
        self.ca.cert_pem.write_to_path(self.ca_file)
        os.environ["SSL_CERT_FILE"] = str(self.ca_file)
        self.controllers: list[Controller] = []

    def start(self, sink: Sink) -> int:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        port = free_port()
        controller = Controller(
            sink,
            hostname="127.0.0.1",
            port=port,
            server_hostname="localhost",
            tls_context=context,
            require_starttls=True,
        )
        controller.start()
        self.controllers.append(controller)
        return port

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


def make_app(url: str, folder: str, **settings):
    os.environ.update(app_env(url, folder))
    from rallyhub import create_app

    return create_app(settings)


def seed(app, signups: int, start: datetime) -> int:
    """A campaign, an organizer and a rally at ``start`` with ``signups`` sign-ups."""
    from sqlalchemy import insert

    from rallyhub.auth.models import User
    from rallyhub.auth.passwords import hash_password
    from rallyhub.campaigns.models import Campaign
    from rallyhub.extensions import db
    from rallyhub.models import utcnow
    from rallyhub.rallies.models import Rally, RallyStatus
    from rallyhub.signups.models import Signup, SignupStatus

    with app.app_context():
        organizer = User(
            email=f"org-{secrets.token_hex(3)}@example.org",
            name="Organizer",
            password_hash=hash_password("bench-password-123"),
            email_confirmed_dt=utcnow(),
        )
        campaign = Campaign(
            slug=f"bench-{secrets.token_hex(3)}",
            name="Bench",
            hashtag="#Bench",
            start_date=utcnow().date(),
        )
        rally = Rally(
            campaign=campaign,
            organizer=organizer,
            title="Rally for justice",
            city="Stockholm",
            country_code="SE",
            meeting_point="Sergels torg",
            latitude=59.33,
            longitude=18.07,
            timezone="Europe/Stockholm",
            start_dt=start,
            end_dt=start + timedelta(hours=2),
            status=RallyStatus.APPROVED,
            approved_dt=utcnow(),
        )
        db.session.add(rally)
        db.session.flush()
        now = utcnow()
        rows = [
            {
                "rally_id": rally.id,
                "name": f"Person {n}",
                "email": f"person{n}@example.org",
                "token": secrets.token_urlsafe(24),
                "status": SignupStatus.GOING,
                "language": "en",
                "consent_to_contact": False,
                "created_dt": now,
                "updated_dt": now,
            }
            for n in range(signups)
        ]
        for begin in range(0, len(rows), 2000):
            db.session.execute(insert(Signup), rows[begin : begin + 2000])
        db.session.commit()
        rally_id, email = rally.id, organizer.email
        db.engine.dispose()
    app.config["BENCH_ORGANIZER"] = email
    return rally_id


def form_post(client, path: str, data: dict, page: str):
    html = client.get(page).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    return client.post(path, data={**data, "csrf_token": token})


# -- 1. sign-up latency ------------------------------------------------------------------------


def signup_latency(kind: str, servers: Servers, delay: float) -> tuple[float, float]:
    """p50 and p99 of sign-ups while two RQ workers deliver through a server this slow."""
    import redis
    from rq import Queue

    sink = Sink(delay)
    port = servers.start(sink)
    queue = f"bench-{secrets.token_hex(4)}"
    with database(kind) as (url, folder):
        settings = {
            "SMTP_URL": f"smtp://127.0.0.1:{port}",
            "MAIL_DELIVERY": "queue",
            "REDIS_URL": REDIS_URL,
            "MAIL_QUEUE": queue,
            "RATELIMIT_ENABLED": False,
        }
        app = make_app(url, folder, **settings)
        rally_id = seed(app, 0, datetime.now(UTC) + timedelta(days=3))
        env = {**app_env(url, folder), **{f"RALLYHUB_{k}": str(v) for k, v in settings.items()}}
        workers = [worker(env), worker(env)]
        client = app.test_client()
        html = client.get(f"/rallies/{rally_id}").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        times = []
        # The first requests warm up caches (templates, the gazetteer): not counted.
        for n in range(-WARM_UP, SIGNUPS):
            started = time.perf_counter()
            response = client.post(
                f"/rallies/{rally_id}/signup",
                data={"csrf_token": token, "name": "Ana", "email": f"a{n}@example.org"},
            )
            if n >= 0:
                times.append(time.perf_counter() - started)
            assert response.status_code == 302, response.status_code
        for process in workers:
            stop(process)
        Queue(queue, connection=redis.Redis.from_url(REDIS_URL)).delete(delete_jobs=True)
        with app.app_context():
            from rallyhub.extensions import db

            db.engine.dispose()
    return percentile(times, 0.5), percentile(times, 0.99)


# -- 2. reminders through two workers, one killed midway ---------------------------------------


def worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "rallyhub", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen) -> None:
    """A warm shutdown (SIGTERM: the current job ends first), else SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def reminders_run(kind: str, servers: Servers) -> None:
    import redis
    from rq import Queue

    sink = Sink()
    port = servers.start(sink)
    queue = f"bench-{secrets.token_hex(4)}"
    with database(kind) as (url, folder):
        settings = {
            "SMTP_URL": f"smtp://127.0.0.1:{port}",
            "MAIL_DELIVERY": "queue",
            "REDIS_URL": REDIS_URL,
            "MAIL_QUEUE": queue,
            "MAIL_LEASE_SECONDS": LEASE_S,
        }
        app = make_app(url, folder, **settings)
        zone = ZoneInfo("Europe/Stockholm")
        tomorrow = datetime.now(zone).date() + timedelta(days=1)
        start = datetime.combine(tomorrow, clock(14), zone).astimezone(UTC)
        rally_id = seed(app, REMINDERS, start)
        env = {**app_env(url, folder), **{f"RALLYHUB_{k}": str(v) for k, v in settings.items()}}

        from rallyhub import tasks

        started = time.perf_counter()
        with app.app_context():
            from rallyhub.extensions import db
            from rallyhub.models import utcnow
            from rallyhub.rallies.models import Rally
            from rallyhub.signups.reminders import reminder_times

            eve = reminder_times(db.session.get(Rally, rally_id)).eve
            db.session.rollback()
            counts = tasks.sweep(max(eve, utcnow()))
        written = time.perf_counter() - started
        workers = [worker(env), worker(env)]
        while sink.count() < REMINDERS // 3:
            time.sleep(0.05)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        killed_at = sink.count()
        workers.append(worker(env))
        connection = redis.Redis.from_url(REDIS_URL)
        pending = Queue(queue, connection=connection)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if pending.count == 0 and sink.count() >= REMINDERS:
                break
            if pending.count == 0:
                # What the killed worker held: free once its lease runs out, then the sweep
                # (every minute in production) hands it on again.
                time.sleep(LEASE_S)
                with app.app_context():
                    app.config["MAIL_DELIVERY"] = "queue"
                    from rallyhub import delivery

                    ids = delivery.due_message_ids(limit=REMINDERS)
                    delivery.enqueue(app, ids)
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        for process in workers[1:]:
            stop(process)
        pending.delete(delete_jobs=True)
        connection.close()
        with app.app_context():
            from sqlalchemy import func, select

            from rallyhub.mail import OutboxMessage, OutboxState

            states = dict(
                db.session.execute(
                    select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
                ).all()
            )
            db.engine.dispose()
    received = Counter(sink.ids)
    duplicates = sum(n - 1 for n in received.values())
    lost = REMINDERS - len(received)
    print(
        f"[{kind}] {counts['reminders']:,} reminders written in {written:.1f} s; "
        f"2 workers, one killed after {killed_at:,}: {len(received):,} delivered in "
        f"{elapsed:.1f} s = {len(received) / elapsed:,.0f} messages/s; "
        f"lost {lost}, sent twice {duplicates}; outbox: "
        f"{states.get(OutboxState.SENT, 0):,} sent, {states.get(OutboxState.QUEUED, 0)} queued"
    )


# -- 3. an organizer writes to 5,000 attendees -------------------------------------------------


def message_post(kind: str) -> None:
    from rq import Queue

    queue = f"bench-{secrets.token_hex(4)}"
    with database(kind) as (url, folder):
        app = make_app(url, folder, MAIL_DELIVERY="queue", REDIS_URL=REDIS_URL, MAIL_QUEUE=queue)
        rally_id = seed(app, ATTENDEES, datetime.now(UTC) + timedelta(days=3))
        client = app.test_client()
        form_post(
            client,
            "/auth/login",
            {"email": app.config["BENCH_ORGANIZER"], "password": "bench-password-123"},
            page="/auth/login",
        )
        page = f"/rallies/{rally_id}/message"
        html = client.get(page).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        started = time.perf_counter()
        response = client.post(
            page, data={"csrf_token": token, "subject": "Bring water", "body": "It is hot."}
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 302, response.status_code
        from redis import Redis

        jobs = Queue(queue, connection=Redis.from_url(REDIS_URL))
        queued = jobs.count
        jobs.delete(delete_jobs=True)
        with app.app_context():
            from rallyhub.extensions import db

            db.engine.dispose()
    print(
        f"[{kind}] message to {ATTENDEES:,} attendees: the POST took {elapsed * 1000:.0f} ms "
        f"(goal < 1,000 ms); {queued:,} jobs queued"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        servers = Servers(folder)
        try:
            for kind in backends():
                fast = signup_latency(kind, servers, delay=0.0)
                slow = signup_latency(kind, servers, delay=2.0)
                print(
                    f"[{kind}] sign-up with a 2 s mail server: p50 {slow[0] * 1000:.1f} ms "
                    f"p99 {slow[1] * 1000:.1f} ms; instant: p50 {fast[0] * 1000:.1f} ms "
                    f"p99 {fast[1] * 1000:.1f} ms; ratio p50 {slow[0] / fast[0]:.2f} "
                    f"p99 {slow[1] / fast[1]:.2f} (goal ≤ 1.1)"
                )
                message_post(kind)
            reminders_run(backends()[-1], servers)
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
