"""Two rallyhub instances behind one nginx, as a day of action runs them.

Each instance is gunicorn as deployed (``gunicorn -c gunicorn.conf.py wsgi:app``,
``RALLYHUB_ENV=production``) on a loopback port of its own; they share one PostgreSQL schema,
one Redis (rate limits, the mail queue; keys prefixed per run), one ``UPLOAD_DIR`` and the
``SECRET_KEY``; an RQ worker delivers their mail. Debian's nginx, run as a child process from
a configuration written into the run's directory, balances between them, retries only what is
safe to retry, caches what the app marks public and compresses text.

Used by the tests in this package (``conftest.py``) and by ``bench/bench_rally_day.py``.
"""

from __future__ import annotations

import grp
import http.client
import os
import pwd
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.production.conftest import (
    REDIS_URL,
    ROOT,
    TILE_URL,
    _delete_redis_keys,
    free_port,
    production_environment,
    run_cli,
)

NGINX = "/usr/sbin/nginx"
# libfaketime moves nginx's wall clock (and so the age of what it cached) on request.
FAKETIME_LIBRARIES = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
)
STARTUP_TIMEOUT_S = 40
# What nginx compresses (text/html always is; naming it again is an error).
GZIP_TYPES = (
    "application/json",
    "application/geo+json",
    "text/calendar",
    "text/css",
    "application/javascript",
    "text/javascript",
)


def nginx_missing() -> str | None:
    """Why the environment cannot run here, or None."""
    if not Path(NGINX).exists():
        return f"{NGINX} is missing (`make cluster` installs Debian's nginx)"
    return None


def faketime_library() -> str | None:
    """The libfaketime preload library, when Debian's faketime is installed."""
    return next((path for path in FAKETIME_LIBRARIES if Path(path).exists()), None)


@dataclass(frozen=True)
class TLSFiles:
    """A certificate and key nginx presents for ``localhost``, and a client context that
    trusts it."""

    cert_file: Path
    key_file: Path
    client_context: ssl.SSLContext


@dataclass
class Instance:
    """One gunicorn (master and workers, a process group of their own) on its own port."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen | None = None


@dataclass
class Cluster:
    """The whole environment in ``directory``; ``with Cluster(...) as c: c.start()``.

    ``settings`` are extra environment variables for the app (``RALLYHUB_RATELIMIT_SIGNUP``…).
    With ``tls`` nginx listens over HTTPS; ``fake_clock`` lets :meth:`advance_proxy_clock`
    move nginx's clock forward.
    """

    directory: Path
    admin_url: str
    settings: dict[str, str] = field(default_factory=dict)
    workers: int = 2
    tls: TLSFiles | None = None
    fake_clock: bool = False
    nginx_workers: int = 1
    instance_names: tuple[str, ...] = ("a", "b")
    schema: str = field(default_factory=lambda: f"rh_cluster_{secrets.token_hex(4)}")
    redis_prefix: str = field(default_factory=lambda: f"rhcluster{secrets.token_hex(4)}")
    proxy_port: int = field(default_factory=free_port)
    # The same proxy without its cache, to measure what the cache adds.
    uncached_port: int = field(default_factory=free_port)
    instances: dict[str, Instance] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    nginx: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    _clock_offset_s: int = 0
    _schema_made: bool = False
    _logs: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in self.instance_names:
            self.instances[name] = Instance(name, free_port(), self.directory / f"{name}.log")
        self.database_url = (
            make_url(self.admin_url)
            .set(drivername="postgresql+psycopg")
            .update_query_dict({"options": f"-csearch_path={self.schema}"})
            .render_as_string(hide_password=False)
        )
        self.env = production_environment(
            SECRET_KEY=secrets.token_urlsafe(48),
            DATABASE_URL=self.database_url,
            REDIS_URL=REDIS_URL,
            RALLYHUB_RATELIMIT_KEY_PREFIX=self.redis_prefix,
            RALLYHUB_MAIL_QUEUE=f"{self.redis_prefix}-mail",
            # Links in mail name the proxy; production insists on https:// even where the
            # bench speaks plain HTTP to nginx.
            BASE_URL=f"https://localhost:{self.proxy_port}",
            TRUSTED_PROXY_HOPS="1",
            TILE_URL=TILE_URL,
            UPLOAD_DIR=str(self.directory / "uploads"),
            RALLYHUB_OUTBOX_DIR=str(self.directory / "outbox"),
            WEB_CONCURRENCY=str(self.workers),
            **self.settings,
        )

    # --- addresses ---------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """The proxy's scheme."""
        return "https" if self.tls else "http"

    @property
    def base_url(self) -> str:
        """The proxy's origin, as a browser names it (and the Origin header it sends)."""
        return f"{self.scheme}://localhost:{self.proxy_port}"

    def origin_of(self, target: str) -> str:
        """``proxy``, ``uncached`` or an instance's name → the origin a browser would use."""
        if target == "proxy":
            return self.base_url
        if target == "uncached":
            return f"{self.scheme}://localhost:{self.uncached_port}"
        return f"http://localhost:{self.instances[target].port}"

    def connection(
        self, target: str, *, source: str = "127.0.0.1", timeout: float = 15
    ) -> http.client.HTTPConnection:
        """A new connection to ``target`` from the loopback address ``source``."""
        origin = self.origin_of(target)
        port = int(origin.rsplit(":", 1)[1])
        if origin.startswith("https://"):
            return http.client.HTTPSConnection(
                "127.0.0.1",
                port,
                context=self.tls.client_context,
                timeout=timeout,
                source_address=(source, 0),
            )
        return http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
        )

    # --- life ----------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def migrate(self) -> None:
        """Make the schema and build it with the migrations."""
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {self.schema}")
        self._schema_made = True
        run_cli(self.env, "db", "upgrade")

    def start(self) -> None:
        """Start both instances, the worker and nginx; return when all of them answer."""
        for name in self.instances:
            self.start_instance(name, wait=False)
        self.worker = self._spawn(
            [sys.executable, "-m", "flask", "--app", "wsgi", "rallyhub", "worker"],
            self.directory / "worker.log",
        )
        self._write_nginx_config()
        env = dict(os.environ)
        if self.fake_clock:
            library = faketime_library()
            if library is None:
                raise RuntimeError("libfaketime is missing (`make cluster` installs faketime)")
            self._write_clock()
            env.update(
                LD_PRELOAD=library,
                FAKETIME_TIMESTAMP_FILE=str(self.directory / "clock"),
                FAKETIME_NO_CACHE="1",
                # Timers run on the monotonic clock: only the time of day moves.
                FAKETIME_DONT_FAKE_MONOTONIC="1",
            )
        self.nginx = self._spawn(
            [
                NGINX,
                "-p",
                str(self.directory / "nginx"),
                "-c",
                str(self.directory / "nginx" / "nginx.conf"),
                "-e",
                str(self.directory / "nginx" / "error.log"),
                "-g",
                "daemon off;",
            ],
            self.directory / "nginx" / "stderr.log",
            env=env,
        )
        for name in self.instances:
            self.wait_until_ready(name)
        self._wait(
            lambda: self._healthy("proxy"),
            "nginx",
            lambda: self.log_text("nginx/error.log"),
            self.nginx,
        )

    def start_instance(self, name: str, *, wait: bool = True) -> None:
        """Start (or start again) instance ``name``."""
        instance = self.instances[name]
        env = {**self.env, "BIND": f"127.0.0.1:{instance.port}"}
        instance.process = self._spawn(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            instance.log_path,
            env=env,
            # Its own process group: a kill takes the master and every worker at once.
            start_new_session=True,
        )
        if wait:
            self.wait_until_ready(name)

    def wait_until_ready(self, name: str) -> None:
        instance = self.instances[name]
        self._wait(
            lambda: self._healthy(name),
            f"instance {name}",
            lambda: instance.log_path.read_text(errors="replace"),
            instance.process,
        )

    def kill_instance(self, name: str) -> None:
        """SIGKILL instance ``name``'s master and workers, as a crashed machine would stop."""
        process = self.instances[name].process
        # Before the master is reaped its id cannot name anyone else's process group.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def advance_proxy_clock(self, seconds: int) -> None:
        """Move nginx's time of day ``seconds`` forward (with ``fake_clock``)."""
        if not self.fake_clock:
            raise RuntimeError("the cluster was started without fake_clock")
        self._clock_offset_s += seconds
        self._write_clock()

    def close(self) -> None:
        """Stop everything (gracefully, then by force); drop the schema and the Redis keys."""
        processes = [i.process for i in self.instances.values()] + [self.worker, self.nginx]
        for process in processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in processes:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._schema_made:
            with psycopg.connect(self.admin_url, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA {self.schema} CASCADE")
            self._schema_made = False
        _delete_redis_keys(self.redis_prefix)

    def log_text(self, name: str) -> str:
        """A log file of the run (``a.log``, ``worker.log``, ``nginx/error.log``…)."""
        path = self.directory / name
        return path.read_text(errors="replace") if path.exists() else ""

    # --- inside ----------------------------------------------------------------------------

    def _spawn(self, args, log_path: Path, *, env=None, **options) -> subprocess.Popen:
        log = log_path.open("ab")
        self._logs.append(log)
        return subprocess.Popen(  # noqa: S603 (our own interpreter, nginx, our arguments)
            args,
            cwd=ROOT,
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            **options,
        )

    def _healthy(self, target: str) -> bool:
        try:
            connection = self.connection(target, timeout=2)
            try:
                host = self.origin_of(target).split("://")[1]
                connection.request("GET", "/healthz", headers={"Host": host})
                return connection.getresponse().status == 200
            finally:
                connection.close()
        except (OSError, http.client.HTTPException):
            return False

    def _wait(self, ready, what: str, log, process) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not ready():
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}:\n{log()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer in {STARTUP_TIMEOUT_S} s:\n{log()}")
            time.sleep(0.2)

    def _write_clock(self) -> None:
        (self.directory / "clock").write_text(f"+{self._clock_offset_s}s\n")

    def _write_nginx_config(self) -> None:
        prefix = self.directory / "nginx"
        for folder in ("temp", "cache"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        (prefix / "proxy.conf").write_text(PROXY_CONF)
        (prefix / "nginx.conf").write_text(nginx_config(self, prefix))


def nginx_config(cluster: Cluster, prefix: Path) -> str:
    """nginx.conf for ``cluster``, every path inside ``prefix``."""
    upstreams = "\n".join(
        f"        server 127.0.0.1:{i.port} max_fails=1 fail_timeout=5s;"
        for i in cluster.instances.values()
    )
    tls = (
        f"""
        ssl_certificate {cluster.tls.cert_file};
        ssl_certificate_key {cluster.tls.key_file};"""
        if cluster.tls
        else ""
    )
    listen = "ssl" if cluster.tls else ""
    # As root, nginx would hand its workers to "nobody", who cannot enter a private temp dir.
    user = ""
    if os.geteuid() == 0:
        user = f"user {pwd.getpwuid(0).pw_name} {grp.getgrgid(0).gr_name};"
    clock = (
        "env LD_PRELOAD; env FAKETIME_TIMESTAMP_FILE; env FAKETIME_NO_CACHE; "
        "env FAKETIME_DONT_FAKE_MONOTONIC;"
        if cluster.fake_clock
        else ""
    )
    return f"""# Written by tests/cluster/environment.py for one run.
{user}
worker_processes {cluster.nginx_workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{clock}

events {{
    worker_connections 4096;
}}

http {{
    default_type application/octet-stream;
    log_format cluster '$request_method $uri $status $upstream_addr $upstream_status '
                       '$upstream_cache_status $request_time';
    access_log {prefix}/access.log cluster buffer=64k flush=1s;
    client_body_temp_path {prefix}/temp/client;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    # The app's own limit (MAX_CONTENT_LENGTH): toolkit files up to 10 MB.
    client_max_body_size 12m;
    keepalive_requests 100000;

    upstream rallyhub {{
{upstreams}
    }}

    # Only answers the app marks public are kept; nginx also never keeps one that sets a
    # cookie or says private/no-store, and honours the app's max-age, ETag and Vary.
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=rallyhub:10m max_size=256m
                     inactive=10m use_temp_path=off;
    map $upstream_http_cache_control $not_public {{
        ~*(^|[,\\s])public([,\\s]|$) 0;
        default 1;
    }}

    gzip on;
    gzip_types {" ".join(GZIP_TYPES)};
    gzip_min_length 512;
    gzip_proxied any;
    gzip_vary on;

    server {{
        listen 127.0.0.1:{cluster.proxy_port} {listen} default_server;
        server_name localhost;{tls}
        location / {{
            proxy_cache rallyhub;
            proxy_cache_key $scheme://$host$request_uri;
            proxy_cache_revalidate on;
            # An expired page is served, while its stale-while-revalidate lasts, as the app
            # rebuilds it in the background: asked once, and nobody waits for it. (No
            # proxy_cache_lock: it would queue every GET of an address nginx may not keep,
            # /healthz or a signed-in page, one behind the other.)
            proxy_cache_background_update on;
            proxy_no_cache $not_public;
            add_header X-Cache-Status $upstream_cache_status always;
            include {prefix}/proxy.conf;
        }}
    }}

    server {{
        listen 127.0.0.1:{cluster.uncached_port} {listen} default_server;
        server_name localhost;{tls}
        location / {{
            include {prefix}/proxy.conf;
        }}
    }}
}}
"""


# Included by both servers: where requests go and what nginx tells the app about them.
PROXY_CONF = """proxy_pass http://rallyhub;
proxy_set_header Host $http_host;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_set_header X-Forwarded-Host $host;
proxy_set_header X-Forwarded-Port $server_port;
# A request goes to the other instance when this one refuses the connection, times out or
# answers 502/503; never a POST already sent (non_idempotent is left out on purpose): the
# client may retry a sign-up, nginx must not send it twice on its own.
proxy_next_upstream error timeout http_502 http_503;
proxy_next_upstream_tries 2;
proxy_connect_timeout 2s;
proxy_read_timeout 30s;
"""


def source_address(number: int) -> str:
    """The ``number``-th loopback address after 127.0.0.1 (each client of a test its own,
    so that rate limits, kept per address, count each apart)."""
    return socket.inet_ntoa((0x7F000001 + 1 + number).to_bytes(4, "big"))
