"""Fixtures: an app per test on each database, a client, a CLI runner, accounts, the outbox."""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
from contextlib import contextmanager, suppress
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import ThreadedWSGIServer

from rallyhub import create_app
from rallyhub.extensions import db, limiter
from tests import factories

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])

TEST_SETTINGS = {
    "RALLYHUB_ENV": "testing",
    "TESTING": True,
    "SECRET_KEY": "test-" + "k" * 40,
    "SERVER_NAME": None,
    "RATELIMIT_ENABLED": False,
    # Hashing at production cost would make the suite slow; a test checks the real profile.
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST_KIB": 256,
    "TILE_URL": "https://tiles.example.test/{z}/{x}/{y}.png",
}


def _postgres_url(schema: str) -> str:
    url = make_url(os.environ["TEST_DATABASE_URL"])
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A database with the schema built by the migrations, once per backend per run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        cleanup = None
    else:
        # A schema of our own, so that parallel runs on one server never meet.
        schema = f"rh_test_{secrets.token_hex(4)}"
        admin = create_engine(os.environ["TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = _postgres_url(schema)

        def cleanup():
            with admin.connect() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

    app = create_app(
        {
            **TEST_SETTINGS,
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
        }
    )
    with app.app_context():
        # Every head: sibling migrations written side by side (before they are chained) still
        # build one schema, instead of failing every test on "multiple heads".
        upgrade(revision="heads")
        db.engine.dispose()
    yield url
    if cleanup:
        cleanup()


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build apps on the test database with extra settings; each is cleaned up after the test."""
    apps = []

    def build(**settings):
        instance = tmp_path / f"instance{len(apps)}"
        app = create_app(
            {
                **TEST_SETTINGS,
                "SQLALCHEMY_DATABASE_URI": database_url,
                "INSTANCE_PATH": str(instance),
                "OUTBOX_DIR": str(tmp_path / "outbox"),
                **settings,
            }
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            _wait_for_connections(db.engine)
            db.engine.dispose()
    if apps:
        _empty_tables(database_url)
        _forget_limits()


def _forget_limits() -> None:
    """Drop default and application limits a test configured.

    Flask-Limiter keeps the first app's ``RATELIMIT_DEFAULT`` on the module-wide ``limiter`` for
    every later app of the process: one test's "2 per minute" on every route would otherwise
    limit the sign-in page of the tests after it.
    """
    limiter.limit_manager.set_default_limits([])
    limiter.limit_manager.set_application_limits([])


def _wait_for_connections(engine, timeout: float = 5.0) -> None:
    """Let threads still using the app give their connections back (the mail courier, a
    test's own threads; a live server waits for its requests itself, see ``serve``).

    A connection checked out when the pool is disposed is dropped unclosed later, and its
    ResourceWarning fails whichever test the garbage collector happens to run in.
    """
    checkedout = getattr(engine.pool, "checkedout", lambda: 0)
    deadline = time.monotonic() + timeout
    while checkedout() and time.monotonic() < deadline:
        time.sleep(0.02)


def _empty_tables(url: str) -> None:
    """Delete every row, children first, so the next test starts from nothing."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def app(make_app):
    """The application under test, on one database backend."""
    return make_app()


@pytest.fixture
def app_ctx(app):
    """An application context for tests that call services directly."""
    with app.app_context():
        yield app


class _LiveServer(ThreadedWSGIServer):
    """Werkzeug's threaded server on a free loopback port, able to wait for its requests.

    Its request threads are daemons, which ``server_close`` does not join. A request still
    running when a test ends (a page's last fetch as its tab closes) would go on into the
    teardown: it takes a connection from the pool the teardown has just disposed and drops it
    unclosed, and the ResourceWarning fails whichever later test the garbage collector runs
    in; or it meets the dropped schema in a deadlock.
    """

    def __init__(self, app):
        super().__init__("127.0.0.1", 0, app)
        self._lock = threading.Lock()
        self._requests: dict[threading.Thread, socket.socket] = {}

    def process_request(self, request, client_address):
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._lock:
            self._requests = {t: s for t, s in self._requests.items() if t.is_alive()}
            self._requests[thread] = request
        thread.start()

    def wait_for_requests(self, grace: float = 5.0) -> None:
        """Let requests in flight finish; then end connections a client left open and idle."""
        with self._lock:
            running = dict(self._requests)
        deadline = time.monotonic() + grace
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))
        for thread, connection in running.items():
            if thread.is_alive():
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                thread.join(1.0)


@contextmanager
def serve(app):
    """Serve ``app`` on a free loopback port in a thread; yield its base URL.

    On leaving, the server stops taking connections and waits for the requests it is still
    answering, so that nothing of the app runs on into the test's teardown.
    """
    server = _LiveServer(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        server.wait_for_requests()


@pytest.fixture
def live_server(app):
    """Serve the test app on a free port in a thread; yield its base URL."""
    with serve(app) as url:
        yield url


@pytest.fixture
def client(app):
    """A test client (cookies kept between requests)."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A runner for the ``flask`` CLI commands."""
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


SECOND_STEP = "/auth/login/code"


def post_form(client, url: str, data: dict, page: str | None = None, *, second_step=True, **kwargs):
    """POST a form the way a browser does: fetch the page first for its CSRF token.

    A sign-in (``/auth/login`` with an e-mail) that asks for a second factor is finished with
    the code the account's app shows, as a person would, for the accounts the factory enrolled
    (HQ's); ``second_step=False`` stops after the password.
    """
    html = client.get(page or url).get_data(as_text=True)
    if CSRF_RE.search(html):
        data = {"csrf_token": csrf_from(html), **data}
    else:
        # A public form rendered without a session (the sign-up form of a rally page a cache
        # may hold) has no token: the browser's Origin header shows where it was sent from.
        kwargs.setdefault("headers", {}).setdefault("Origin", "http://localhost")
    response = client.post(url, data=data, **kwargs)
    if (
        second_step
        and url.split("?")[0] == "/auth/login"
        and data.get("email")
        and response.status_code == 302
        and response.headers["Location"].endswith(SECOND_STEP)
    ):
        code = factories.fresh_totp_code(client.application, data["email"])
        response = post_form(client, "/auth/login", {"code": code}, page=SECOND_STEP)
    return response


@pytest.fixture
def users(app):
    """Make accounts: ``users(role=Role.HQ, email=..., password=...)``."""
    return factories.UserFactory(app)


@pytest.fixture
def campaigns(app):
    """Make campaigns with sensible defaults."""
    return factories.CampaignFactory(app)


@pytest.fixture
def rallies(app, users, campaigns):
    """Make rallies with sensible defaults (approved, a week ahead, in Stockholm)."""
    return factories.RallyFactory(app, users, campaigns)


def sign_in(client, email: str, password: str = factories.DEFAULT_PASSWORD):
    """Sign in through the real forms (the password, then any second factor); the last answer."""
    return post_form(client, "/auth/login", {"email": email, "password": password})


class AuthActions:
    """Sign in and out through the real forms."""

    def __init__(self, client):
        self._client = client

    def login(self, email: str, password: str = factories.DEFAULT_PASSWORD):
        return sign_in(self._client, email, password)

    def logout(self):
        return post_form(self._client, "/auth/logout", {}, page="/")


@pytest.fixture
def auth(client):
    """Sign in and out as a given account."""
    return AuthActions(client)


class ReceivedMail(EmailMessage):
    """A message as its recipient reads it: ``get_content()`` is the text, attachments aside."""

    def get_content(self, *args, **kwargs):
        if self.is_multipart():
            return self.get_body(("plain",)).get_content(*args, **kwargs)
        return super().get_content(*args, **kwargs)


MAIL_POLICY = policy.default.clone(message_factory=ReceivedMail)


@pytest.fixture
def outbox(app):
    """Read the messages the app wrote to its outbox, oldest first."""

    def read():
        directory = Path(app.config["OUTBOX_DIR"])
        if not directory.exists():
            return []
        parser = BytesParser(policy=MAIL_POLICY)
        return [parser.parsebytes(path.read_bytes()) for path in sorted(directory.glob("*.eml"))]

    return read


def link_in(message, path_prefix: str) -> str:
    """The path of the first link in a message that starts with ``path_prefix``."""
    body = message.get_content()
    match = re.search(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s]*)", body)
    assert match, f"no {path_prefix} link in the message"
    return match.group(1)
