"""Health checks: live asks nothing, ready asks the database, Redis and the outbox."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
import redis

from rallyhub import create_app
from rallyhub.config import ConfigError
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, OutboxState
from rallyhub.models import utcnow
from tests.conftest import TEST_SETTINGS

PATHS = ("/healthz/live", "/healthz/ready", "/healthz")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def app_like(app, tmp_path):
    """Build another app with the test app's settings and some changed; disposed after."""
    built = []

    def build(**settings):
        other = create_app(
            {
                **{k: v for k, v in app.config.items() if k.isupper()},
                "INSTANCE_PATH": str(tmp_path / f"other{len(built)}"),
                **settings,
            }
        )
        built.append(other)
        return other

    yield build
    for other in built:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def queue_message(app, minutes_ago: float, state=OutboxState.QUEUED) -> None:
    with app.app_context():
        db.session.add(
            OutboxMessage(
                recipient="someone@example.org",
                subject="Subject",
                body="Body",
                state=state,
                created_dt=utcnow() - timedelta(minutes=minutes_ago),
            )
        )
        db.session.commit()


def test_live_asks_nothing(client):
    response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_names_each_check(client):
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    # The outbox is left out unless an operator sets READY_MAX_QUEUE_AGE_S (one outbox for
    # every instance: a stuck mail server would take them all out of the load balancer).
    assert response.get_json() == {"status": "ok", "checks": {"database": True}}


def test_ready_names_the_outbox_check_when_it_is_on(make_app):
    response = make_app(READY_MAX_QUEUE_AGE_S=900).test_client().get("/healthz/ready")
    assert response.get_json() == {"status": "ok", "checks": {"database": True, "outbox": True}}


def test_healthz_is_the_readiness_check_in_its_first_form(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": True}


def test_a_database_on_a_closed_port_is_not_ready_but_alive(app_like):
    broken = app_like(
        SQLALCHEMY_DATABASE_URI=(
            f"postgresql+psycopg://rallyhub:db-secret-9f3e@127.0.0.1:{closed_port()}/rallyhub"
        )
    ).test_client()
    assert broken.get("/healthz/live").status_code == 200
    ready = broken.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.get_json() == {
        "status": "unavailable",
        "checks": {"database": False},
        "failed": ["database"],
    }
    legacy = broken.get("/healthz")
    assert legacy.status_code == 503
    assert legacy.get_json()["database"] is False
    for response in (ready, legacy):
        assert b"db-secret" not in response.data and b"127.0.0.1" not in response.data


def test_a_message_waiting_too_long_makes_the_site_unready(make_app):
    app = make_app(READY_MAX_QUEUE_AGE_S=900)
    queue_message(app, minutes_ago=14)
    client = app.test_client()
    assert client.get("/healthz/ready").status_code == 200
    queue_message(app, minutes_ago=16)
    ready = client.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.get_json() == {
        "status": "unavailable",
        "checks": {"database": True, "outbox": False},
        "failed": ["outbox"],
    }
    legacy = client.get("/healthz")
    assert legacy.status_code == 503
    assert legacy.get_json() == {"status": "unavailable", "database": True, "failed": ["outbox"]}
    assert client.get("/healthz/live").status_code == 200


def test_only_waiting_messages_count_for_readiness(make_app):
    app = make_app(READY_MAX_QUEUE_AGE_S=60)
    queue_message(app, minutes_ago=600, state=OutboxState.SENT)
    queue_message(app, minutes_ago=600, state=OutboxState.FAILED)
    assert app.test_client().get("/healthz/ready").status_code == 200


def test_the_outbox_check_can_be_turned_off(make_app):
    app = make_app(READY_MAX_QUEUE_AGE_S=0)
    queue_message(app, minutes_ago=600)
    response = app.test_client().get("/healthz/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": True}


def test_redis_that_does_not_answer_makes_the_site_unready(app_like):
    client = app_like(REDIS_URL=f"redis://:redis-secret-4c1a@127.0.0.1:{closed_port()}/0")
    response = client.test_client().get("/healthz/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["redis"]
    assert body["checks"] == {"database": True, "redis": False}
    assert b"redis-secret" not in response.data


@pytest.fixture
def redis_url(tmp_path):
    """A throw-away redis-server on a free port (skipped where there is none)."""
    server = shutil.which("redis-server")
    if not server:
        pytest.skip("redis-server is not installed")
    port = closed_port()
    process = subprocess.Popen(  # noqa: S603
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=1).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_redis_that_answers_is_ready(app_like, redis_url):
    response = app_like(REDIS_URL=redis_url).test_client().get("/healthz/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": True, "redis": True}


def test_health_checks_are_never_rate_limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute")
    client = app.test_client()
    # The default limit holds elsewhere…
    statuses = [client.get("/api/v1/ping").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    # …but not for the checks that load balancers poll every few seconds.
    for path in PATHS:
        assert [client.get(path).status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize("path", PATHS)
def test_health_checks_set_no_cookie(app, path):
    client = app.test_client()
    with client.session_transaction() as session:
        session["something"] = "kept"
    response = client.get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_ready_max_queue_age_comes_from_the_environment(tmp_path, monkeypatch):
    settings = {**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    monkeypatch.setenv("READY_MAX_QUEUE_AGE_S", "120")
    app = create_app({**settings, "INSTANCE_PATH": str(tmp_path / "a")})
    assert app.config["READY_MAX_QUEUE_AGE_S"] == 120
    with app.app_context():
        db.engine.dispose()
    monkeypatch.setenv("READY_MAX_QUEUE_AGE_S", "fifteen minutes")
    with pytest.raises(ConfigError, match="READY_MAX_QUEUE_AGE_S"):
        create_app({**settings, "INSTANCE_PATH": str(tmp_path / "b")})
