"""The production configuration, started once per module: gunicorn over TLS, PostgreSQL, Redis.

gunicorn runs as deployed without a proxy (``gunicorn -c gunicorn.conf.py wsgi:app``, two
workers of four threads, ``RALLYHUB_ENV=production``) with a certificate this suite makes with
trustme; mail travels by SMTP with STARTTLS to an aiosmtpd server that keeps it in memory;
Chromium trusts exactly that certificate. gunicorn's output (access and error logs) goes to
one file the tests read.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import queue
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import trustme
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.engine import make_url

from tests.conftest import MAIL_POLICY

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# The same flags as tests/browser/conftest.py; the certificate flag is added per run.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# A spare database number; keys are also prefixed per run, and only those are deleted.
REDIS_URL = "redis://127.0.0.1:6379/7"
TILE_URL = "https://tiles.example.test/{z}/{x}/{y}.png"
# Variables the app reads: none may leak in from the shell that runs the tests.
APP_VARIABLES = {
    "DATABASE_URL",
    "SECRET_KEY",
    "REDIS_URL",
    "SINGLE_PROCESS",
    "ALLOW_SQLITE_IN_PRODUCTION",
    "BASE_URL",
    "TRUSTED_HOSTS",
    "TRUSTED_PROXY_HOPS",
    "FORWARDED_ALLOW_IPS",
    "TILE_URL",
    "TILE_ATTRIBUTION",
    "SMTP_URL",
    "UPLOAD_DIR",
    "PERSONAL_DATA_RETENTION_DAYS",
    "BIND",
    "WEB_CONCURRENCY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
}
STARTUP_TIMEOUT_S = 30


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- TLS ------------------------------------------------------------------------------------


@dataclass
class Certificates:
    """A throwaway CA and the certificate it issued for localhost and 127.0.0.1."""

    ca: trustme.CA
    server: trustme.LeafCert
    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only, with hostname checks on."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def server_context(self) -> ssl.SSLContext:
        """A server context presenting the certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.configure_cert(context)
        return context

    def spki_sha256(self) -> str:
        """Base64 SHA-256 of the certificate's public key, as Chromium's SPKI list wants it."""
        cert = x509.load_pem_x509_certificate(self.server.cert_chain_pems[0].bytes())
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    """Make the CA and the server certificate, written where gunicorn can read them."""
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    found = Certificates(
        ca, server, directory / "ca.pem", directory / "server.pem", directory / "server.key"
    )
    ca.cert_pem.write_to_path(found.ca_file)
    for blob in server.cert_chain_pems:
        blob.write_to_path(found.cert_file, append=True)
    server.private_key_pem.write_to_path(found.key_file)
    return found


# --- Mail -----------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One message as the SMTP server received it."""

    message: EmailMessage
    recipients: tuple[str, ...]
    over_tls: bool

    @property
    def text(self) -> str:
        """Headers and body, for searching."""
        return str(self.message) + "\n" + self.message.get_content()


class Mailbox:
    """An aiosmtpd handler that keeps every delivered message in memory, oldest first."""

    def __init__(self, port: int):
        self.port = port
        self._deliveries: list[Delivery] = []
        self._arrived = threading.Condition()
        # Addresses the server refuses for good, as a real one refuses an unknown user.
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        message = BytesParser(policy=MAIL_POLICY).parsebytes(envelope.content)
        delivery = Delivery(message, tuple(envelope.rcpt_tos), session.ssl is not None)
        with self._arrived:
            self._deliveries.append(delivery)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def all(self) -> list[Delivery]:
        """Every message so far."""
        with self._arrived:
            return list(self._deliveries)

    def wait_for(self, to: str, containing: str, since: int = 0, timeout: float = 15) -> Delivery:
        """The first message to ``to`` whose body holds ``containing``, among those after the
        first ``since``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout

        def find():
            return next(
                (
                    d
                    for d in self._deliveries[since:]
                    if to in d.recipients and containing in d.message.get_content()
                ),
                None,
            )

        with self._arrived:
            while (found := find()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no message to {to} with {containing!r} within {timeout} s")
                self._arrived.wait(left)
            return found


@pytest.fixture(scope="module")
def mailbox(certificates):
    """An SMTP server on a free port that requires STARTTLS with the suite's certificate."""
    box = Mailbox(free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        server_hostname="localhost",
        tls_context=certificates.server_context(),
        require_starttls=True,
    )
    controller.start()
    yield box
    controller.stop()


# --- The site -------------------------------------------------------------------------------


@dataclass
class Reply:
    """What a plain HTTPS client got back."""

    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class Site:
    """gunicorn serving the production configuration; ``stop()`` ends it (idempotent)."""

    base_url: str
    port: int
    redis_prefix: str
    hq_email: str
    hq_name: str
    hq_password: str
    tls: ssl.SSLContext
    log_path: Path
    process: subprocess.Popen | None = None
    # The RQ worker that delivers the mail gunicorn's workers queue.
    worker: subprocess.Popen | None = None
    _log_file: object = field(default=None, repr=False)

    @property
    def host(self) -> str:
        """The Host header a browser sends for BASE_URL."""
        return urlsplit(self.base_url).netloc

    def request(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        headers: dict[str, str] | None = None,
        body: str | None = None,
    ) -> Reply:
        """One request over TLS with hostname checks, naming any Host it is given."""
        try:
            return self._send(method, path, host or self.host, headers or {}, body)
        except http.client.RemoteDisconnected:
            errors = [line for line in self.log_text().splitlines() if "rror" in line]
            raise AssertionError(
                f"gunicorn hung up on {method} {path} (Host {host or self.host!r}) without an "
                "answer; the last errors in its log:\n" + "\n".join(errors[-6:])
            ) from None

    def _send(self, method, path, host, headers, body) -> Reply:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.tls, timeout=10
        )
        try:
            connection.request(method, path, body=body, headers={"Host": host, **headers})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read().decode())
        finally:
            connection.close()

    def log_text(self) -> str:
        """Everything gunicorn and the app wrote to stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Stop gunicorn and the worker gracefully (SIGTERM), so that their last lines reach
        the log."""
        for process in (self.process, self.worker):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def _database_admin_url() -> str:
    """TEST_DATABASE_URL for psycopg, or skip when PostgreSQL is not there."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("TEST_DATABASE_URL does not name a PostgreSQL database")
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(plain, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL does not answer: {error}")
    return plain


def _require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis does not answer at {REDIS_URL}: {error}")
    finally:
        client.close()


def _delete_redis_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def production_environment(**settings: str) -> dict[str, str]:
    """This process's environment without the app's variables, plus ``settings``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in APP_VARIABLES and not key.startswith("RALLYHUB_")
    }
    env.update(settings, RALLYHUB_ENV="production", PYTHONUNBUFFERED="1")
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``flask --app wsgi …`` in the production environment; fail with its output."""
    result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode:
        pytest.fail(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def _wait_until_ready(site: Site) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if site.process.poll() is not None:
            pytest.fail(f"gunicorn exited with {site.process.returncode}:\n{site.log_text()}")
        try:
            if site._send("GET", "/healthz", site.host, {}, None).status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"gunicorn was not ready in {STARTUP_TIMEOUT_S} s:\n{site.log_text()}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def site(certificates, mailbox, tmp_path_factory):
    """gunicorn with two workers on a free port over TLS, on a schema of its own."""
    admin_url = _database_admin_url()
    _require_redis()
    schema = f"rh_prod_{secrets.token_hex(4)}"
    redis_prefix = f"rhprod{secrets.token_hex(4)}"
    port = free_port()
    directory = tmp_path_factory.mktemp("production")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    database_url = (
        make_url(os.environ["TEST_DATABASE_URL"])
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    env = production_environment(
        SECRET_KEY=secrets.token_urlsafe(48),
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        RALLYHUB_RATELIMIT_KEY_PREFIX=redis_prefix,
        RALLYHUB_MAIL_QUEUE=f"{redis_prefix}-mail",
        BASE_URL=f"https://localhost:{port}",
        SMTP_URL=f"smtp://127.0.0.1:{mailbox.port}",
        # The app verifies the SMTP server's certificate against the default trust store.
        SSL_CERT_FILE=str(certificates.ca_file),
        TILE_URL=TILE_URL,
        UPLOAD_DIR=str(directory / "uploads"),
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
    )
    found = Site(
        base_url=f"https://localhost:{port}",
        port=port,
        redis_prefix=redis_prefix,
        hq_email="ingrid.halvorsen@hq.example.org",
        hq_name="Ingrid Halvorsen",
        hq_password="north-lantern-4471-quay",
        tls=certificates.client_context(),
        log_path=directory / "gunicorn.log",
    )
    try:
        run_cli(env, "db", "upgrade")
        run_cli(
            env,
            "rallyhub",
            "create-hq",
            found.hq_email,
            "--name",
            found.hq_name,
            "--password-stdin",
            stdin=found.hq_password + "\n",
        )
        found._log_file = found.log_path.open("wb")
        found.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                # gunicorn's control socket defaults to one path in $HOME: two servers clash.
                "--no-control-socket",
                "--workers",
                "2",
                # Browsers reach gunicorn directly here, with no buffering proxy in front: a
                # sync worker waits on each socket it accepts, and Chromium opens sockets it
                # may never use (preconnect on hover and mousedown), which held both workers
                # and stalled a page's stylesheet. Threads (gthread) keep serving meanwhile,
                # as the README advises when clients reach gunicorn directly.
                "--threads",
                "4",
                "--certfile",
                str(certificates.cert_file),
                "--keyfile",
                str(certificates.key_file),
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=found._log_file,
            stderr=subprocess.STDOUT,
        )
        found.worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "rallyhub", "worker"],
            cwd=ROOT,
            env=env,
            stdout=found._log_file,
            stderr=subprocess.STDOUT,
        )
        _wait_until_ready(found)
        yield found
    finally:
        found.stop()
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
        _delete_redis_keys(redis_prefix)


# --- Chromium -------------------------------------------------------------------------------


class Chromium:
    """Headless Chromium on a thread of its own; ``run(fn)`` calls ``fn(browser)`` there.

    Playwright's sync API refuses to start on a thread where another instance is alive, and
    tests/browser keeps one for the whole session; a thread of our own never meets it.
    """

    def __init__(self, args: list[str]):
        self._args = args
        self._jobs: queue.Queue = queue.Queue()
        self._started: Future = Future()
        self._thread = threading.Thread(target=self._serve, name="chromium", daemon=True)

    def start(self) -> None:
        """Launch the browser in the background (while gunicorn starts, say)."""
        self._thread.start()

    def run(self, function, timeout: float = 120):
        """Call ``function(browser)`` on the browser's thread; return or raise its outcome."""
        self._started.result(timeout=60)  # raises what the launch raised
        outcome: Future = Future()
        self._jobs.put((function, outcome))
        return outcome.result(timeout=timeout)

    def close(self) -> None:
        """Close the browser and end its thread."""
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=self._args
                )
                self._started.set_result(None)
                try:
                    while (job := self._jobs.get()) is not None:
                        function, outcome = job
                        try:
                            outcome.set_result(function(browser))
                        except BaseException as error:  # a failed assertion or pytest.fail
                            outcome.set_exception(error)
                finally:
                    browser.close()
        except BaseException as error:
            if not self._started.done():
                self._started.set_exception(error)
            else:
                raise


@pytest.fixture(scope="module")
def chromium(certificates):
    """Debian's Chromium, trusting exactly the suite's server certificate (by its key)."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium)")
    browser = Chromium(
        [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={certificates.spki_sha256()}"]
    )
    browser.start()
    yield browser
    browser.close()


def open_page(browser, base_url: str):
    """A page in a fresh context that blocks every other origin and records what it asked.

    Tile requests (allowed by design, not served here) go to ``page.tile_requests``; anything
    else off this origin to ``page.foreign_requests``; dialogs to ``page.dialogs``.
    """
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.foreign_requests = []
    page.tile_requests = []
    page.dialogs = []
    tile_origin = "{0.scheme}://{0.netloc}".format(urlsplit(TILE_URL))

    def route(request_route):
        url = request_route.request.url
        parts = urlsplit(url)
        if parts.hostname in LOCAL_HOSTS:
            request_route.continue_()
            return
        if f"{parts.scheme}://{parts.netloc}" == tile_origin:
            page.tile_requests.append(url)
        else:
            page.foreign_requests.append(url)
        request_route.abort()

    page.route("**/*", route)
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.set_default_timeout(10_000)
    return page
