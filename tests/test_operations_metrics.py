"""Operators' metrics: only for the token's holder, true to the database, with no one's data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rallyhub import create_app
from rallyhub.config import ConfigError
from rallyhub.extensions import db
from rallyhub.mail import OutboxMessage, OutboxState
from rallyhub.models import utcnow
from rallyhub.signups.models import Signup
from tests.conftest import TEST_SETTINGS, link_in, post_form

TOKEN = "metrics-" + "t" * 40
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def metrics_app(make_app):
    return make_app(METRICS_ENABLED=True, METRICS_TOKEN=TOKEN)


def scrape(app) -> dict[tuple[str, frozenset], float]:
    """The scrape's samples read back by Prometheus's own parser: (name, labels) → value."""
    response = app.test_client().get("/metrics", headers=BEARER)
    assert response.status_code == 200
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(samples, endpoint, method="GET", status="2xx") -> float:
    labels = frozenset({"endpoint": endpoint, "method": method, "status": status}.items())
    return samples.get(("rallyhub_http_requests_total", labels), 0)


def test_metrics_are_not_found_while_disabled(client):
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 404
    assert b"rallyhub_" not in response.data


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("", 401),
        ("Bearer", 401),
        (f"Basic {TOKEN}", 401),
        ("Bearer wrong-token", 403),
        (f"Bearer {TOKEN[:-1]}", 403),
        (f"Bearer {TOKEN}x", 403),
        ("Bearer caf\xe9-" + "t" * 40, 403),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
    ],
)
def test_metrics_answer_only_the_holder_of_the_token(metrics_app, authorization, status):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = metrics_app.test_client().get("/metrics", headers=headers)
    assert response.status_code == status
    assert ("rallyhub_http_requests" in response.get_data(as_text=True)) is (status == 200)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Set-Cookie" not in response.headers


def test_metrics_without_a_configured_token_answer_no_one(make_app):
    app = make_app(METRICS_ENABLED=True, METRICS_TOKEN=None)
    for guess in ("None", "", "null"):
        response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {guess}"})
        assert response.status_code in (401, 403)


def test_a_scrape_is_prometheus_text_that_no_cache_keeps(metrics_app):
    response = metrics_app.test_client().get("/metrics", headers=BEARER)
    # Prometheus's text exposition format, named with its version and one charset.
    content_type = response.headers["Content-Type"]
    assert response.mimetype == "text/plain"
    assert "version=" in content_type and content_type.count("charset=") == 1
    assert response.headers["Cache-Control"] == "no-store"


def test_requests_are_counted_by_endpoint_method_and_status_class(metrics_app):
    client = metrics_app.test_client()
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.post("/healthz").status_code == 405
    assert client.get("/api/v1/places").status_code == 400
    samples = scrape(metrics_app)
    assert requests_counted(samples, "map.index") == 3
    assert requests_counted(samples, "unmatched", status="4xx") == 1
    assert requests_counted(samples, "unmatched", method="POST", status="4xx") == 1
    assert requests_counted(samples, "api.places", status="4xx") == 1
    index = frozenset({"endpoint": "map.index", "method": "GET", "status": "2xx"}.items())
    assert samples[("rallyhub_http_request_duration_seconds_count", index)] == 3
    assert samples[("rallyhub_http_request_duration_seconds_sum", index)] > 0


def test_unknown_methods_make_no_new_series(metrics_app):
    client = metrics_app.test_client()
    for method in ("PROPFIND", "BREW", "X" * 30):
        client.open("/", method=method)
    samples = scrape(metrics_app)
    methods = {
        dict(labels)["method"] for name, labels in samples if name == "rallyhub_http_requests_total"
    }
    # (The scrape itself is counted after it answers.)
    assert methods == {"other"}
    assert requests_counted(samples, "unmatched", method="other", status="4xx") == 3


def test_metrics_hold_no_personal_data(metrics_app, rallies, outbox):
    name, email = "Zofia Wiśniewska-Quark", "zofia.quark@example.org"
    rally_id = rallies(title="Rally in Kraków")
    browser = metrics_app.test_client()
    browser.environ_base["REMOTE_ADDR"] = "203.0.113.77"
    response = post_form(
        browser,
        f"/rallies/{rally_id}/signup",
        {"name": name, "email": email, "consent": "y"},
        page=f"/rallies/{rally_id}",
    )
    assert response.status_code == 302
    manage_path = link_in(outbox()[-1], "/s/")
    assert browser.get(manage_path).status_code == 200

    text = metrics_app.test_client().get("/metrics", headers=BEARER).get_data(as_text=True)
    token = manage_path.rsplit("/", 1)[1]
    for private in (name, "Zofia", email, "quark", token, "203.0.113.77", "Kraków"):
        assert private not in text
    samples = parse(text)
    assert requests_counted(samples, "signups.manage") == 1
    # Label values are endpoint names, methods and status classes: never a path or an id.
    for name_, labels in samples:
        for key, value in labels:
            assert "/" not in value and "@" not in value and not value.isdigit(), (name_, key)
    assert {key for _, labels in samples for key, _ in labels} <= {
        "endpoint",
        "method",
        "status",
        "state",
        "le",
    }


def _outbox_row(minutes_ago: float, state=OutboxState.QUEUED, attempts=0) -> OutboxMessage:
    return OutboxMessage(
        recipient="someone@example.org",
        subject="Subject",
        body="Body",
        state=state,
        attempts=attempts,
        created_dt=utcnow() - timedelta(minutes=minutes_ago),
    )


def test_outbox_gauges_are_read_from_the_table(metrics_app):
    with metrics_app.app_context():
        db.session.add_all(
            [
                _outbox_row(10),  # the oldest still waiting: 600 s
                _outbox_row(3, attempts=2),  # tried twice, waits for its retry
                _outbox_row(0),
                _outbox_row(60, OutboxState.FAILED, attempts=1),
                _outbox_row(30, OutboxState.FAILED, attempts=1),
                _outbox_row(240, OutboxState.SENT, attempts=1),  # older, but gone
            ]
        )
        db.session.commit()
    samples = scrape(metrics_app)
    assert samples[("rallyhub_outbox_messages", frozenset({("state", "queued")}))] == 3
    assert samples[("rallyhub_outbox_messages", frozenset({("state", "failed")}))] == 2
    assert samples[("rallyhub_outbox_retrying_messages", frozenset())] == 1
    age = samples[("rallyhub_outbox_oldest_queued_age_seconds", frozenset())]
    assert 600 <= age < 630
    assert samples[("rallyhub_database_up", frozenset())] == 1


def test_an_empty_outbox_reads_as_zero(metrics_app):
    samples = scrape(metrics_app)
    assert samples[("rallyhub_outbox_messages", frozenset({("state", "queued")}))] == 0
    assert samples[("rallyhub_outbox_oldest_queued_age_seconds", frozenset())] == 0


def test_sign_ups_of_the_last_minute_are_counted(metrics_app, rallies):
    rally_id = rallies()
    browser = metrics_app.test_client()
    for n in range(2):
        response = post_form(
            browser,
            f"/rallies/{rally_id}/signup",
            {"name": f"Person {n}", "email": f"p{n}@example.org", "consent": "y"},
            page=f"/rallies/{rally_id}",
        )
        assert response.status_code == 302
    with metrics_app.app_context():
        # Made five minutes ago: not in the last minute.
        db.session.add(
            Signup(
                rally_id=rally_id,
                name="Earlier",
                email="earlier@example.org",
                created_dt=utcnow() - timedelta(minutes=5),
            )
        )
        db.session.commit()
    assert scrape(metrics_app)[("rallyhub_signups_last_minute", frozenset())] == 2


def test_a_scrape_without_the_database_still_answers(make_app, tmp_path):
    app = make_app()
    broken = create_app(
        {
            **{k: v for k, v in app.config.items() if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}",
            "INSTANCE_PATH": str(tmp_path / "broken"),
            "METRICS_ENABLED": True,
            "METRICS_TOKEN": TOKEN,
        }
    )
    try:
        samples = scrape(broken)
    finally:
        with broken.app_context():
            db.engine.dispose()
    assert samples[("rallyhub_database_up", frozenset())] == 0
    assert not any(name.startswith("rallyhub_outbox") for name, _ in samples)


# gunicorn's workers as forks of one loaded app (preload_app): each counts its own requests.
WORKERS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from rallyhub import create_app

    settings = json.loads(sys.argv[1])
    app = create_app(settings)
    children = []
    for requests in (2, 3):
        pid = os.fork()
        if pid == 0:
            client = app.test_client()
            for _ in range(requests):
                client.get("/api/v1/ping")
            os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    scrape = app.test_client().get(
        "/metrics", headers={"Authorization": "Bearer " + settings["METRICS_TOKEN"]}
    )
    assert scrape.status_code == 200, scrape.status_code
    sys.stdout.write(scrape.get_data(as_text=True))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork, as gunicorn does")
def test_counts_of_every_worker_add_up_in_multiprocess_mode(tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    settings = {
        **TEST_SETTINGS,
        # Requests only: the database's numbers are the same whichever process reads them.
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "METRICS_ENABLED": True,
        "METRICS_TOKEN": TOKEN,
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", WORKERS_SCRIPT, json.dumps(settings)],
        cwd=ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    samples = parse(result.stdout)
    assert requests_counted(samples, "api.ping") == 5
    assert list(directory.glob("*.db")), "the workers wrote no counts to the directory"


def test_production_refuses_metrics_without_a_long_token(tmp_path):
    settings = {
        "RALLYHUB_ENV": "production",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "s" * 40,
        "BASE_URL": "https://rallies.example.org",
        "SINGLE_PROCESS": True,
        "ALLOW_SQLITE_IN_PRODUCTION": True,
        "METRICS_ENABLED": True,
    }
    for token in (None, "", "short-token"):
        with pytest.raises(ConfigError, match="METRICS_TOKEN"):
            create_app({**settings, "METRICS_TOKEN": token})
    app = create_app({**settings, "METRICS_TOKEN": "p" * 32})
    assert app.config["METRICS_ENABLED"] is True
    with app.app_context():
        db.engine.dispose()


def test_metrics_settings_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("METRICS_ENABLED", "true")
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    app = create_app(
        {
            **TEST_SETTINGS,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "INSTANCE_PATH": str(tmp_path),
        }
    )
    assert app.config["METRICS_ENABLED"] is True
    assert app.config["METRICS_TOKEN"] == TOKEN
    with app.app_context():
        db.engine.dispose()
