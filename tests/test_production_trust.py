"""Production trust: canonical links, trusted hosts and proxies, sessions, mail that survives."""

from __future__ import annotations

import http.client
import logging
import smtplib
import ssl
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rallyhub import create_app
from rallyhub.config import ConfigError
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, OutboxState
from rallyhub.security import PrivacyLogFilter, RateLimitLogFilter
from rallyhub.signups.models import Signup
from tests.conftest import csrf_from, post_form
from tests.factories import DEFAULT_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "RALLYHUB_ENV": "production",
    "SECRET_KEY": "p" * 40,
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x@localhost/x",
    "BASE_URL": "https://rallies.example.org",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
}


class TestProductionSettings:
    """Production refuses to start without what keeps links and limits honest."""

    def _build(self, tmp_path, **changes):
        settings = {**PRODUCTION, "INSTANCE_PATH": str(tmp_path), **changes}
        return create_app({k: v for k, v in settings.items() if v is not None})

    def test_base_url_is_required(self, tmp_path, monkeypatch):
        monkeypatch.delenv("BASE_URL", raising=False)
        with pytest.raises(ConfigError, match="BASE_URL must be set"):
            self._build(tmp_path, BASE_URL=None)

    @pytest.mark.parametrize(
        ("base_url", "message"),
        [
            ("http://rallies.example.org", "https://"),
            ("rallies.example.org", "must look like"),
            ("https://rallies.example.org/app", "without a path"),
        ],
    )
    def test_base_url_must_be_an_https_origin(self, tmp_path, base_url, message):
        with pytest.raises(ConfigError, match=message):
            self._build(tmp_path, BASE_URL=base_url)

    def test_redis_is_required_unless_one_process_is_declared(self, tmp_path, monkeypatch):
        monkeypatch.delenv("REDIS_URL", raising=False)
        with pytest.raises(ConfigError, match="REDIS_URL"):
            self._build(tmp_path, REDIS_URL=None)
        app = self._build(tmp_path, REDIS_URL=None, SINGLE_PROCESS=True)
        assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"

    def test_trusted_hosts_come_from_base_url(self, tmp_path):
        app = self._build(tmp_path)
        assert app.config["TRUSTED_HOSTS"] == ["rallies.example.org"]
        assert app.config["PREFERRED_URL_SCHEME"] == "https"

    def test_trusted_proxy_hops_from_the_environment(self, tmp_path, monkeypatch):
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", "two")
        with pytest.raises(ConfigError, match="whole number"):
            self._build(tmp_path)
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", "9")
        with pytest.raises(ConfigError, match="0 to 5"):
            self._build(tmp_path)
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", "1")
        assert self._build(tmp_path).config["TRUSTED_PROXY_HOPS"] == 1


# -- hosts and links ------------------------------------------------------------------------


def test_a_forged_host_is_refused_by_the_test_client(client, outbox, users):
    users(email="org@example.org")
    page = client.get("/auth/reset")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post(
        "/auth/reset",
        data={"csrf_token": token, "email": "org@example.org"},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 400
    assert outbox() == []
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_a_forged_host_is_refused_by_the_development_server(live_server, users, outbox):
    users(email="org@example.org")
    port = int(live_server.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/auth/reset", headers={"Host": "evil.example"})
        response = connection.getresponse()
        response.read()
        assert response.status == 400
    finally:
        connection.close()
    assert outbox() == []


def test_reset_links_use_base_url_whatever_the_request_host(make_app, users, outbox):
    app = make_app(
        BASE_URL="https://rallies.example.org", TRUSTED_HOSTS=["rallies.example.org", "localhost"]
    )
    users(email="org@example.org")
    client = app.test_client()  # speaks https (PREFERRED_URL_SCHEME follows BASE_URL)
    # Over https, Flask-WTF wants a same-origin Referer, as a browser sends under our policy.
    assert post_form(client, "/auth/reset", {"email": "org@example.org"}).status_code == 400
    response = post_form(
        client,
        "/auth/reset",
        {"email": "org@example.org"},
        headers={"Referer": "https://localhost/auth/reset"},
    )
    assert response.status_code == 302
    (message,) = outbox()
    body = message.get_content()
    assert "https://rallies.example.org/auth/reset/" in body
    assert "http://localhost" not in body


def test_proxy_headers_are_ignored_unless_trusted(make_app):
    seen = {}

    def record(app):
        @app.get("/whoami")
        def whoami():
            from flask import request, url_for

            seen["scheme"], seen["addr"] = request.scheme, request.remote_addr
            seen["url"] = url_for("map.index", _external=True)
            return "ok"

    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    untrusting = make_app()
    record(untrusting)
    untrusting.test_client().get("/whoami", headers=forged)
    assert seen == {"scheme": "http", "addr": "127.0.0.1", "url": "http://localhost/"}

    trusting = make_app(TRUSTED_PROXY_HOPS=1)
    record(trusting)
    trusting.test_client().get("/whoami", headers=forged)
    assert seen == {"scheme": "https", "addr": "203.0.113.9", "url": "https://localhost/"}


def test_rate_limits_key_on_the_client_behind_the_proxy(make_app):
    app = make_app(TRUSTED_PROXY_HOPS=1, RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    data = {"email": "a@example.org", "password": "wrong-password-1"}

    def attempt(address):
        return post_form(
            client,
            "/auth/login",
            data,
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [attempt("198.51.100.1") for _ in range(3)] == [400, 400, 429]
    assert attempt("198.51.100.2") == 400, "another client behind the same proxy"


def test_rate_limit_log_lines_carry_no_address(make_app, caplog):
    app = make_app(TRUSTED_PROXY_HOPS=1, RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="1 per minute")
    client = app.test_client()
    headers = {"X-Forwarded-For": "198.51.100.77"}
    data = {"email": "a@example.org", "password": "wrong-password-1"}
    with caplog.at_level(logging.INFO, logger="flask-limiter"):
        for _ in range(2):
            post_form(client, "/auth/login", data, headers=headers)
    lines = [record.getMessage() for record in caplog.records if record.name == "flask-limiter"]
    assert any("exceeded at endpoint: auth.login" in line for line in lines)
    assert not any("198.51.100.77" in line for line in lines)


def test_rate_limit_filter_keeps_the_limit_and_endpoint():
    record = logging.LogRecord(
        "flask-limiter",
        logging.INFO,
        __file__,
        1,
        "ratelimit %s (%s) exceeded at endpoint: %s",
        ("2 per 1 minute", "192.0.2.4", "auth.login"),
        None,
    )
    RateLimitLogFilter().filter(record)
    assert record.getMessage() == "ratelimit 2 per 1 minute exceeded at endpoint: auth.login"


def test_development_log_keeps_no_query_string_token_or_address():
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '192.0.2.4 - - [03/Dec/2026 10:00:00] "%s" %s %s',
        ("GET /near?q=ana%40example.org&lat=59.33 HTTP/1.1", "200", "-"),
        None,
    )
    PrivacyLogFilter().filter(record)
    line = record.getMessage()
    assert "192.0.2.4" not in line and "?" not in line and "ana" not in line
    assert '"GET /near HTTP/1.1" 200' in line
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, "%s", ("GET /s/SECRETTOKEN HTTP/1.1",), None
    )
    PrivacyLogFilter().filter(record)
    assert "SECRETTOKEN" not in record.getMessage()


# -- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "////evil.example",
        "///evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/%0d%0aLocation:%20https://evil.example",
        "/ok%0d%0aSet-Cookie:%20x=1",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(client, users, target):
    users(email="org@example.org")
    response = post_form(
        client,
        f"/auth/login?next={target}",
        {"email": "org@example.org", "password": DEFAULT_PASSWORD},
        page="/auth/login",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_follows_local_paths(client, users):
    users(email="org@example.org")
    response = post_form(
        client,
        "/auth/login?next=/rallies/mine%3Fpage%3D2",
        {"email": "org@example.org", "password": DEFAULT_PASSWORD},
        page="/auth/login",
    )
    assert response.headers["Location"] == "/rallies/mine?page=2"


# -- sessions -------------------------------------------------------------------------------


def _session_cookie(client) -> str:
    return client.get_cookie("rallyhub_session").value


def test_logging_out_ends_the_session_on_the_server(app, client, auth, users):
    users(email="org@example.org")
    auth.login("org@example.org")
    copied = _session_cookie(client)
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("rallyhub_session", copied)
    assert b"Sign out" not in thief.get("/").data
    assert thief.get("/rallies/mine").status_code == 302


def test_sign_out_everywhere_ends_every_session(app, client, auth, users):
    users(email="org@example.org")
    phone = app.test_client()
    post_form(phone, "/auth/login", {"email": "org@example.org", "password": DEFAULT_PASSWORD})
    auth.login("org@example.org")
    assert b"Sign out" in phone.get("/").data
    # The shared confirmation page asks first; nothing has ended yet.
    asked = post_form(client, "/auth/logout-everywhere", {}, page="/auth/password")
    assert asked.status_code == 200 and b"Log out everywhere?" in asked.data
    assert b"Sign out" in phone.get("/").data
    response = post_form(
        client, "/auth/logout-everywhere", {"confirm": "yes"}, page="/auth/password"
    )
    assert response.status_code == 302
    assert b"Sign out" not in phone.get("/").data
    assert b"Sign out" not in client.get("/").data
    # Signing in again works, and opens a new session only.
    auth.login("org@example.org")
    assert b"Sign out" in client.get("/").data
    assert b"Sign out" not in phone.get("/").data


def test_sign_out_everywhere_needs_the_form(app, client, auth, users):
    users(email="org@example.org")
    auth.login("org@example.org")
    assert client.post("/auth/logout-everywhere").status_code == 400
    assert b"Sign out" in client.get("/").data


# -- mail -----------------------------------------------------------------------------------


def _outbox_rows(app):
    with app.app_context():
        return db.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.attempts, OutboxMessage.last_error).where(
                OutboxMessage.state == OutboxState.QUEUED
            )
        ).all()


def _sign_up(client, rally_id, email="ana@example.org"):
    return post_form(
        client,
        f"/rallies/{rally_id}/signup",
        {"name": "Ana", "email": email, "consent": "y"},
        page=f"/rallies/{rally_id}",
    )


def _dead_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_sign_up_is_kept_when_the_mail_server_is_down(make_app, rallies, runner_for):
    app = make_app(SMTP_URL=f"smtp://127.0.0.1:{_dead_port()}", SMTP_TIMEOUT_S=2)
    rally_id = rallies()
    response = _sign_up(app.test_client(), rally_id)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 1
    ((recipient, attempts, error),) = _outbox_rows(app)
    assert (recipient, attempts) == ("ana@example.org", 1)
    assert error == "ConnectionRefusedError"

    # The server is back: the kept message goes out and leaves the outbox.
    delivered = []
    app.config["SMTP_URL"] = None
    with app.app_context():
        db.session.execute(OutboxMessage.__table__.update().values(next_attempt_dt=func.now()))
        db.session.commit()
    result = runner_for(app).invoke(args=["rallyhub", "send-mail"])
    assert "Delivered 1 of 1" in result.output, result.output
    delivered.extend(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert len(delivered) == 1
    assert "/s/" in delivered[0].read_text()
    assert _outbox_rows(app) == []


def test_a_failed_request_sends_nothing(app, client, rallies, outbox, monkeypatch):
    from rallyhub.signups import services

    rally_id = rallies()

    def failing_log(*_args, **_kwargs):
        raise RuntimeError("the commit never happens")

    # The sign-up and its message are written; the request then fails before its commit.
    monkeypatch.setattr(services.log, "info", failing_log)
    response = _sign_up(client, rally_id)
    assert response.status_code == 500
    assert outbox() == []
    assert _outbox_rows(app) == []


def test_mail_is_sent_outside_the_request(make_app, users, monkeypatch):
    """With background delivery, a reset answers before the mail server has replied."""
    from rallyhub import delivery as mail

    app = make_app(MAIL_DELIVERY="background", SMTP_URL="smtp://127.0.0.1:2525")
    users(email="org@example.org")
    release, entered = threading.Event(), threading.Event()

    def slow_smtp(_url, _message):
        entered.set()
        release.wait(10)
        raise smtplib.SMTPServerDisconnected("down")

    monkeypatch.setattr(mail, "_send_smtp", slow_smtp)
    client = app.test_client()
    try:
        known = post_form(client, "/auth/reset", {"email": "org@example.org"})
        unknown = post_form(client, "/auth/reset", {"email": "ghost@example.org"})
        assert known.status_code == unknown.status_code == 302
        assert known.headers["Location"] == unknown.headers["Location"]
        assert entered.wait(10), "the courier took the message"
        assert not release.is_set(), "both answers came while the mail server hung"
    finally:
        release.set()
        # The courier's pass ends before the test's database goes away.
        assert mail.wait_for_delivery(10)


def test_line_breaks_never_reach_a_mail_header(app_ctx):
    from rallyhub.delivery import build_message
    from rallyhub.mail import send_mail

    message = db.session.get(
        OutboxMessage, send_mail("ana@example.org", "Rally\r\nBcc: everyone@example.org", "body")
    )
    assert message.subject == "Rally Bcc: everyone@example.org"
    built = build_message(message.recipient, message.subject, message.body)
    assert "Bcc" not in built
    db.session.rollback()


@pytest.fixture
def runner_for():
    return lambda app: app.test_cli_runner()


# -- errors ---------------------------------------------------------------------------------


def test_busy_answers_carry_their_own_retry_after(app):
    from rallyhub.errors import Busy

    @app.get("/busy")
    def busy():
        raise Busy(retry_after=17)

    response = app.test_client().get("/busy")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "17"


def test_rate_limited_answers_say_when_to_retry(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="1 per hour")
    client = app.test_client()
    data = {"email": "a@example.org", "password": "wrong-password-1"}
    post_form(client, "/auth/login", data)
    response = post_form(client, "/auth/login", data)
    assert response.status_code == 429
    assert 60 < int(response.headers["Retry-After"]) <= 3600


def test_the_project_is_agpl_licensed():
    license_text = (ROOT / "LICENSE").read_text()
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in license_text
    assert "Version 3, 19 November 2007" in license_text
    assert "AGPL-3.0-or-later" in (ROOT / "pyproject.toml").read_text()
    assert "AGPL-3.0-or-later" in (ROOT / "README.md").read_text()


# -- gunicorn and SMTP ----------------------------------------------------------------------


def _gunicorn_config():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_access_log_redacts_tokens_and_survives_gunicorns_error_path(monkeypatch):
    from gunicorn.glogging import Logger

    config = _gunicorn_config()
    assert config.control_socket_disable is True
    for path, expected in [("/s/SECRETTOKEN", "/s/…"), (None, "")]:
        monkeypatch.setattr(Logger, "atoms", lambda *_args, path=path: {"U": path})
        logger = object.__new__(config.PrivateLogger)
        atoms = logger.atoms(None, None, None, None)
        assert atoms["U"] == expected


def test_smtp_verifies_the_mail_servers_certificate(app_ctx, monkeypatch):
    from rallyhub import delivery as mail

    contexts = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            self.host, self.port = host, port

        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return False

        def starttls(self, context=None):
            contexts.append(context)

        def login(self, user, password):
            contexts.append((user, password))

        def send_message(self, message):
            contexts.append(message["To"])

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    message = mail.build_message("ana@example.org", "Hi", "Body")
    mail._send_smtp("smtp://us%40er:p%3Ass@mail.example:587", message)
    context, credentials, recipient = contexts
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert credentials == ("us@er", "p:ss")
    assert recipient == "ana@example.org"
