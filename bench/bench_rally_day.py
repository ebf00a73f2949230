"""A day of action (issue 17): 3,000 upcoming rallies and 1,000,000 sign-ups on PostgreSQL, two
instances of gunicorn behind nginx (tests/cluster/environment.py), 64 clients for 60 s.

The clients are wrk's (C, one connection per thread; bench/rally_day.lua keeps the figures per
kind of request), so that the load generator costs little of the 2 cores it shares with the
servers. The mix: 90 % public reads (rally pages, near searches from random towns of the
gazetteer, map tiles, the events API, campaign calendars) and 10 % sign-ups spread over every
rally, each with an e-mail of its own. Printed per layer: requests/s, p50/p99 per kind, the
proxy's cache hits, errors; then sign-ups counted in the database against those acknowledged
(lost, doubled); /healthz alone beside it; and which processes the cores went to during the
mix. Layers: both instances behind nginx with its cache (filled first with every public read
of the plan, as the day's first minutes would), the same without the cache, one instance
without nginx.

Goals (issue 17): sign-ups ≥ 300/s sustained and ≥ 20 % of /healthz's rate, sign-up p99 <
300 ms while the reads go on, reads p99 < 100 ms, 0 errors.

Shorter: BENCH_SECONDS (60), BENCH_RALLIES (3000), BENCH_SIGNUPS (1000000), BENCH_CLIENTS
(64), BENCH_HEALTHZ_SECONDS (10), BENCH_WARMUP_SECONDS (40), BENCH_WORKERS (gunicorn workers
per instance; as deployed: 2 per core), BENCH_NGINX_WORKERS (1), BENCH_LAYERS
(proxy,uncached,direct).
"""

from __future__ import annotations

import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import percentile

SECONDS = int(os.environ.get("BENCH_SECONDS", "60"))
RALLIES = int(os.environ.get("BENCH_RALLIES", "3000"))
SIGNUPS = int(os.environ.get("BENCH_SIGNUPS", "1000000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "64"))
HEALTHZ_SECONDS = int(os.environ.get("BENCH_HEALTHZ_SECONDS", "10"))
# Each process builds some answers once per data version (a campaign's calendar: seconds for
# 1,000 rallies in many time zones) and each zone's VTIMEZONE once: a server that has run for
# a while has them. Warmed through the uncached proxy, which reaches every worker.
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP_SECONDS", "40"))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1))))
LAYERS = os.environ.get("BENCH_LAYERS", "proxy,uncached,direct").split(",")
NGINX_WORKERS = int(os.environ.get("BENCH_NGINX_WORKERS", "1"))
CAMPAIGNS = 3
WRK = "/usr/bin/wrk"
SCRIPT = Path(__file__).with_name("rally_day.lua")
# Per 100 requests.
MIX = {"rally": 50, "map": 15, "near": 8, "events": 9, "calendar": 8, "signup": 10}
READS = [kind for kind in MIX if kind != "signup"]
LAYER_NAMES = {
    "proxy": "2 instances behind nginx with its cache",
    "uncached": "2 instances behind nginx, no cache",
    "direct": "1 instance, no proxy",
}


# --- the data ---------------------------------------------------------------------------


def load(database_url: str, folder: Path, rng: random.Random) -> list[tuple]:
    """Campaigns, RALLIES upcoming rallies in real towns and SIGNUPS sign-ups spread over
    them; return the rallies' (id, latitude, longitude)."""
    from sqlalchemy import insert, select, text

    from rallyhub import create_app
    from rallyhub.auth.models import User
    from rallyhub.campaigns.models import Campaign
    from rallyhub.extensions import db
    from rallyhub.places.gazetteer import get_gazetteer
    from rallyhub.rallies.models import Rally, search_columns

    app = create_app(
        {
            "RALLYHUB_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench-" + "k" * 40,
            "INSTANCE_PATH": str(folder / "loader"),
        }
    )
    places = get_gazetteer()._places
    towns = rng.choices(places, weights=[p.population for p in places], k=RALLIES)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = time.perf_counter()
    with app.app_context():
        organizer = User(email="organizer@example.org", name="Organizer", password_hash="x")
        campaigns = [
            Campaign(slug=f"day-{n}", name=f"Day {n}", hashtag=f"#Day{n}", start_date=now.date())
            for n in range(1, CAMPAIGNS + 1)
        ]
        db.session.add_all([organizer, *campaigns])
        db.session.flush()
        rows = []
        for n, town in enumerate(towns):
            start = now + timedelta(days=1 + n % 30, hours=n % 12)
            rows.append(
                {
                    "campaign_id": campaigns[n % CAMPAIGNS].id,
                    "organizer_id": organizer.id,
                    "title": f"Rally in {town.name}",
                    "description": "Bring a sign, water and a friend.",
                    "city": town.name,
                    "place_id": town.geonameid,
                    "country_code": town.country_code,
                    "meeting_point": "The main square",
                    "latitude": town.latitude,
                    "longitude": town.longitude,
                    "public_latitude": town.latitude,
                    "public_longitude": town.longitude,
                    **search_columns(town.latitude, town.longitude),
                    "timezone": town.timezone,
                    "start_dt": start,
                    "end_dt": start + timedelta(hours=2),
                    "languages": "en",
                    "status": "approved",
                    "visibility": "public",
                    "approved_dt": now,
                }
            )
        db.session.execute(insert(Rally), rows)  # bumps the public data version
        db.session.commit()
        rallies = db.session.execute(
            select(Rally.id, Rally.latitude, Rally.longitude).order_by(Rally.id)
        ).all()
        first = rallies[0].id
        # One statement on the server: a million rows in well under a minute.
        db.session.execute(
            text(
                "INSERT INTO signups (rally_id, name, email, consent_to_contact, token, status,"
                " language, created_dt, updated_dt)"
                " SELECT :first + g % :rallies, 'Supporter ' || g, 'seed' || g || '@example.org',"
                " g % 3 = 0, md5('token' || g), 'going'::signup_status, 'en',"
                " now() - (g % 1440) * interval '1 minute', now()"
                " FROM generate_series(1, :signups) AS g"
            ),
            {"first": first, "rallies": len(rallies), "signups": SIGNUPS},
        )
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        db.engine.dispose()
    print(
        f"loaded {len(rallies):,} rallies in {CAMPAIGNS} campaigns and {SIGNUPS:,} sign-ups "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return rallies


def tile(latitude: float, longitude: float, zoom: int) -> tuple[int, int]:
    """The web-mercator tile (x, y) holding a point at ``zoom``."""
    scale = 2**zoom
    phi = math.radians(max(-85.05, min(85.05, latitude)))
    x = int((longitude + 180) / 360 * scale)
    y = int((1 - math.asinh(math.tan(phi)) / math.pi) / 2 * scale)
    return min(x, scale - 1), min(y, scale - 1)


def write_plan(path: Path, rallies: list, rng: random.Random) -> None:
    """The requests each kind picks from at random, and the mix's weights."""
    from rallyhub.places.gazetteer import get_gazetteer

    places = get_gazetteer()._places
    lines = [f"weight\t{kind}\t{share}" for kind, share in MIX.items()]
    lines += [f"rally\t/rallies/{rally.id}" for rally in rallies]
    lines += [f"signup\t{rally.id}" for rally in rallies]
    for town in rng.sample(places, 5000):
        lines.append(f"near\t/near?q={quote(town.name)}")
    for rally in rng.sample(rallies, min(1000, len(rallies))):
        zoom = rng.randint(2, 8)
        x, y = tile(rally.latitude, rally.longitude, zoom)
        lines.append(f"map\t/map/points.json?z={zoom}&x={x}&y={y}")
    lines += ["map\t/map/points.json"] * 50
    lines += ["events\t/api/v1/events"] * 100
    for town in rng.sample(places, 1000):
        lines.append(f"events\t/api/v1/events?near={quote(town.name)}&radius_km=200")
    lines += [f"calendar\t/campaigns/day-{n}/rallies.ics" for n in range(1, CAMPAIGNS + 1)]
    path.write_text("\n".join(lines) + "\n")


# --- the load ---------------------------------------------------------------------------


@dataclass
class Results:
    """What one wrk run recorded."""

    seconds: float
    # Every e-mail of the run's sign-ups starts with it.
    tag: str
    socket_errors: str = ""
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    caches: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    broken: Counter = field(default_factory=Counter)
    acked: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    inflight: list[str] = field(default_factory=list)

    def rate(self, kind: str | None = None) -> float:
        """Answers a second, of ``kind`` or of every kind."""
        if kind is None:
            return sum(len(times) for times in self.latencies.values()) / self.seconds
        return len(self.latencies[kind]) / self.seconds

    def errors(self, kind: str) -> int:
        """Answers other than the kind's success, and requests that got none."""
        good = 302 if kind == "signup" else 200
        wrong = sum(n for status, n in self.statuses[kind].items() if status != good)
        return wrong + self.broken[kind]


def hammer(cluster, target: str, plan: Path, seconds: int, tag: str, folder: Path) -> Results:
    """Run wrk with the plan against ``target`` for ``seconds``; read what it recorded."""
    origin = cluster.origin_of(target)
    port = origin.rsplit(":", 1)[1]
    out = folder / f"results-{tag}"
    command = [WRK, "-t", str(CLIENTS), "-c", str(CLIENTS), "-d", f"{seconds}s"]
    command += ["--timeout", "30s", "-s", str(SCRIPT), f"http://127.0.0.1:{port}"]
    finished = subprocess.run(
        [*command, "--", str(plan), tag, origin],
        env={**os.environ, "RALLY_DAY_OUT": str(out)},
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    took = re.search(r"requests in ([\d.]+)(ms|s|m)\b", finished.stdout)
    unit = {"ms": 0.001, "s": 1, "m": 60}[took[2]]
    results = Results(seconds=float(took[1]) * unit, tag=tag)
    for thread in range(1, CLIENTS + 1):
        read_thread(Path(f"{out}.{thread}"), results)
    errors = re.search(r"Socket errors: (.*)", finished.stdout)
    results.socket_errors = errors[1] if errors else ""
    return results


def read_thread(path: Path, results: Results) -> None:
    """Pair one thread's requests with their answers (see bench/rally_day.lua)."""
    waiting = None
    for line in path.read_text().splitlines():
        record = line.split("\t")
        if record[0] == "q" and len(record) == 3:
            if waiting:  # its connection broke before an answer
                results.broken[waiting[0]] += 1
                results.unanswered += [waiting[1]] if waiting[1] else []
            waiting = (record[1], record[2])
        elif record[0] == "a" and len(record) == 4 and waiting:
            (kind, email), waiting = waiting, None
            status = int(record[1])
            results.latencies[kind].append(int(record[3]) / 1e6)
            results.statuses[kind][status] += 1
            if record[2] != "-":
                results.caches[kind][record[2]] += 1
            if email and status == 302:
                results.acked.append(email)
    if waiting and waiting[1]:
        results.inflight.append(waiting[1])


def stored_signups(database_url: str, tag: str) -> Counter:
    """Sign-up rows per e-mail of the run ``tag``."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        rows = connection.execute(
            "SELECT email, count(*) FROM signups WHERE email LIKE %s GROUP BY email",
            (f"{tag}-%",),
        ).fetchall()
    return Counter(dict(rows))


# --- the report -------------------------------------------------------------------------


def report(layer: str, mix: Results, healthz: Results, stored: Counter) -> None:
    ms = 1000
    total = mix.rate()
    print(
        f"\n[{LAYER_NAMES[layer]}] {CLIENTS} clients, {mix.seconds:.0f} s: {total:,.0f} req/s "
        f"({sum(len(v) for v in mix.latencies.values()):,} requests)"
    )
    print(f"  {'kind':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  proxy cache")
    for kind in [*READS, "signup"]:
        times = mix.latencies[kind]
        caches = ", ".join(f"{k} {v}" for k, v in mix.caches[kind].most_common()) or "-"
        print(
            f"  {kind:10} {mix.rate(kind):8,.0f} {percentile(times, 0.5) * ms:8.1f} "
            f"{percentile(times, 0.99) * ms:8.1f} {mix.errors(kind):7}  {caches}"
        )
    reads = [t for kind in READS for t in mix.latencies[kind]]
    read_errors = sum(mix.errors(kind) for kind in READS)
    print(
        f"  {'all reads':10} {len(reads) / mix.seconds:8,.0f} {percentile(reads, 0.5) * ms:8.1f} "
        f"{percentile(reads, 0.99) * ms:8.1f} {read_errors:7}"
    )
    odd = {kind: dict(c) for kind, c in mix.statuses.items() if set(c) - {200, 302}}
    if odd or mix.socket_errors:
        print(f"  statuses {odd}; wrk's socket errors: {mix.socket_errors or 'none'}")
    acked = Counter(mix.acked)
    lost = sum(1 for email in acked if email not in stored)
    doubled = sum(n - 1 for n in stored.values() if n > 1)
    unsettled = set(mix.unanswered) | set(mix.inflight)
    extra = sum(1 for email in stored if email not in acked and email not in unsettled)
    print(
        f"  sign-ups: {len(acked):,} acknowledged, {sum(stored.values()):,} rows for this run "
        f"({len(unsettled)} unanswered or still in flight at the end) -> lost {lost}, "
        f"doubled {doubled}, rows nobody sent {extra}"
    )
    rate = healthz.rate("healthz")
    signups = mix.rate("signup")
    share = signups / rate * 100 if rate else float("nan")
    print(
        f"  /healthz alone: {rate:,.0f} req/s, p99 "
        f"{percentile(healthz.latencies['healthz'], 0.99) * ms:.1f} ms, errors "
        f"{healthz.errors('healthz')}; sign-ups {signups:,.0f}/s = {share:.0f} % of it "
        f"(goals: ≥ 300/s and ≥ 20 %, p99 < 300 ms; reads p99 < 100 ms; 0 errors)"
    )


def fill_cache(cluster, plan: Path) -> None:
    """Ask the proxy for every public read of the plan once, as the day's first minutes
    would: the cache the day runs on, and no page of it built twice."""
    paths = [
        line.split("\t", 1)[1]
        for line in plan.read_text().splitlines()
        if line.split("\t", 1)[0] in READS
    ]
    paths = list(dict.fromkeys(paths))
    host = cluster.origin_of("proxy").split("://")[1]
    local = threading.local()
    connections: list = []

    def get(path: str) -> int:
        if not hasattr(local, "connection"):
            local.connection = cluster.connection("proxy", timeout=60)
            connections.append(local.connection)
        local.connection.request("GET", path, headers={"Host": host, "Accept-Encoding": "gzip"})
        reply = local.connection.getresponse()
        reply.read()
        return reply.status

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(get, paths))
    for connection in connections:
        connection.close()
    print(
        f"  the proxy's cache filled with {len(paths):,} public reads in "
        f"{time.perf_counter() - started:.0f} s (statuses {dict(statuses)})"
    )


# Which processes the two cores went to, by a word of their command line.
CPU_USERS = (
    ("gunicorn", "gunicorn"),
    ("postgres", "PostgreSQL"),
    ("nginx", "nginx"),
    ("rallyhub worker", "RQ worker"),
    ("redis", "Redis"),
)


def cpu_seconds() -> dict:
    """CPU seconds used so far by each process of a kind in CPU_USERS (from /proc), by the
    finished children of this process (wrk) and by the whole machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError, IndexError):
            continue  # gone meanwhile
        user = next((label for word, label in CPU_USERS if word in command), None)
        if user:
            used[(user, stat.parent.name)] = (int(fields[11]) + int(fields[12])) / ticks
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used[("wrk", "")] = children.ru_utime + children.ru_stime
    busy = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    used[("all", "")] = (sum(busy) - busy[3] - busy[4]) / ticks  # minus idle and iowait
    return used


def cpu_report(before: dict, after: dict, seconds: float) -> str:
    """Each kind's share of the machine's cores during a run, the busiest first (a process
    that ended during the run is left out: PostgreSQL's backends live as long as the pools)."""
    cores = os.cpu_count() or 1
    spent: Counter = Counter()
    for (user, pid), total in after.items():
        spent[user] += (total - before.get((user, pid), 0)) / seconds / cores * 100
    machine = spent.pop("all")
    shares = ", ".join(f"{user} {share:.0f} %" for user, share in spent.most_common())
    return f"{shares}; the machine busy {machine:.0f} % of {cores} cores"


def measure(cluster, layer: str, plans: dict[str, Path], folder: Path) -> None:
    """Warm up, /healthz alone, then the day's mix, against one layer; print the figures."""
    target = "a" if layer == "direct" else layer
    # /healthz first: the day's mix then starts on the cache as it was just filled.
    healthz = hammer(cluster, target, plans["healthz"], HEALTHZ_SECONDS, "healthz", folder)
    if layer == "proxy":
        fill_cache(cluster, plans["day"])
    else:
        hammer(cluster, target, plans["day"], 5, f"warm-{layer}", folder)
    before = cpu_seconds()
    mix = hammer(cluster, target, plans["day"], SECONDS, f"day-{layer}", folder)
    after = cpu_seconds()
    time.sleep(1)  # the last commits land before the count
    report(layer, mix, healthz, stored_signups(cluster.database_url, mix.tag))
    print(f"  CPU during the mix: {cpu_report(before, after, mix.seconds)}")
    # Others' work on the machine skews every figure: say how busy it was.
    one, five, fifteen = os.getloadavg()
    print(f"  load average after the run: {one:.1f} (1 min), {five:.1f} (5 min), {fifteen:.1f}")


def main() -> None:
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        print("skipped: the day of action runs on PostgreSQL (set TEST_DATABASE_URL)")
        return
    from tests.cluster.environment import Cluster, nginx_missing

    missing = nginx_missing() or (None if Path(WRK).exists() else f"{WRK} is missing")
    if missing:
        print(f"skipped: {missing} (`make cluster` installs Debian's nginx and wrk)")
        return
    from tests.production.conftest import _database_admin_url, _require_redis

    admin_url = _database_admin_url()
    _require_redis()
    rng = random.Random(17)
    folder = Path(tempfile.mkdtemp(prefix="rally-day-"))
    settings = {
        # Every client comes from 127.0.0.1: the per-address limit would stop the bench.
        "RALLYHUB_RATELIMIT_SIGNUP": "1000000 per minute",
        # Mail waits in the outbox while the worker catches up: not a reason to stop serving.
        "READY_MAX_QUEUE_AGE_S": "0",
    }
    plans = {"day": folder / "day.tsv", "healthz": folder / "healthz.tsv"}
    try:
        with Cluster(
            folder / "cluster",
            admin_url,
            settings=settings,
            workers=WORKERS,
            nginx_workers=NGINX_WORKERS,
        ) as cluster:
            cluster.migrate()
            write_plan(plans["day"], load(cluster.database_url, folder, rng), rng)
            plans["healthz"].write_text("weight\thealthz\t100\nhealthz\t/healthz\n")
            cluster.start()
            print(
                f"gunicorn: {WORKERS} workers per instance; nginx: {NGINX_WORKERS} worker(s); "
                f"an RQ worker writing the mail to files; "
                f"wrk: {CLIENTS} connections on {CLIENTS} threads; "
                f"per 100 requests: {', '.join(f'{kind} {n}' for kind, n in MIX.items())}"
            )
            started = time.perf_counter()
            hammer(cluster, "uncached", plans["day"], WARMUP_SECONDS, "warm", folder)
            print(f"warmed every worker for {time.perf_counter() - started:.0f} s")
            for layer in LAYERS:
                measure(cluster, layer, plans, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
