"""The application factory, health check, error pages and security headers."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from rallyhub import create_app
from rallyhub.config import ConfigError
from rallyhub.extensions import db


def test_home_page_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'<html lang="en"' in response.data


def test_healthz_is_ok_with_the_database_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": True}


def test_healthz_answers_503_when_the_database_is_unreachable(make_app, tmp_path):
    app = make_app()
    broken = create_app(
        {
            **{k: v for k, v in app.config.items() if k.isupper()},
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}",
            "INSTANCE_PATH": str(tmp_path / "broken"),
        }
    )
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] is False
    with broken.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/no/such/page", 404, b"could not find that page"),
        ("/healthz", 405, b"does not accept"),
    ],
)
def test_errors_are_explained_in_plain_words(client, path, status, words):
    response = client.post(path) if status == 405 else client.get(path)
    assert response.status_code == status
    assert words in response.data
    assert b"Traceback" not in response.data


def test_errors_answer_json_to_clients_that_ask_for_it(client):
    response = client.get("/nowhere", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert "could not find" in response.get_json()["error"]


def test_oversized_body_is_refused_with_413(client):
    response = client.post(
        "/auth/login",
        data=b"x" * (13 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert b"too large" in response.data


def test_unexpected_exception_gives_a_500_page_without_traceback(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert b"secret internals" not in response.data
    assert b"Something went wrong" in response.data


def test_security_headers_on_every_page(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp
    assert directives["img-src"].split() == ["'self'", "data:", "https://tiles.example.test"]
    # Our own forms send a Referer (Flask-WTF's HTTPS check needs it); no other origin gets one.
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers


def test_csp_nonce_changes_per_response(client):
    first = client.get("/").headers["Content-Security-Policy"]
    second = client.get("/").headers["Content-Security-Policy"]
    assert first != second


def test_hsts_in_production(make_app):
    app = make_app(HSTS_ENABLED=True)
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(app_ctx):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 15000
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


class TestConfiguration:
    """Production refuses unsafe settings; development fills them in safely."""

    def test_production_refuses_a_missing_secret(self, tmp_path, monkeypatch):
        monkeypatch.delenv("SECRET_KEY", raising=False)
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            create_app(
                {
                    "RALLYHUB_ENV": "production",
                    "INSTANCE_PATH": str(tmp_path),
                    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://x@localhost/x",
                }
            )

    def test_production_refuses_sqlite_unless_told(self, tmp_path):
        settings = {
            "RALLYHUB_ENV": "production",
            "INSTANCE_PATH": str(tmp_path),
            "SECRET_KEY": "s" * 40,
            "BASE_URL": "https://rallies.example.org",
            "SINGLE_PROCESS": True,
        }
        with pytest.raises(ConfigError, match="PostgreSQL"):
            create_app(settings)
        app = create_app({**settings, "ALLOW_SQLITE_IN_PRODUCTION": True})
        assert app.config["SESSION_COOKIE_SECURE"] is True
        with app.app_context():
            db.engine.dispose()

    def test_development_generates_one_secret_into_the_instance(self, tmp_path, monkeypatch):
        monkeypatch.delenv("SECRET_KEY", raising=False)
        settings = {"RALLYHUB_ENV": "development", "INSTANCE_PATH": str(tmp_path)}
        first, second = create_app(settings), create_app(settings)
        assert len(first.config["SECRET_KEY"]) >= 64
        assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
        assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
        for app in (first, second):
            with app.app_context():
                db.engine.dispose()

    def test_environment_variables_are_read(self, tmp_path, monkeypatch):
        monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example/rallyhub")
        monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
        monkeypatch.setenv("TILE_URL", "https://tiles.example.org/{z}/{x}/{y}.png")
        monkeypatch.setenv("RALLYHUB_RATELIMIT_ENABLED", "false")
        app = create_app({"RALLYHUB_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
        assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/rallyhub"
        assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
        assert app.config["TILE_HOST"] == "https://tiles.example.org"
        assert app.config["RATELIMIT_ENABLED"] is False


def test_times_are_shown_in_the_rallys_own_zone(app_ctx):
    from datetime import UTC, datetime

    from rallyhub.i18n import format_local

    with app_ctx.test_request_context():
        moment = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
        assert format_local(moment, "Europe/Rome") == "Fri, Dec 4, 2026, 6:00\u202fPM"
        assert format_local(moment, "Asia/Yerevan") == "Fri, Dec 4, 2026, 9:00\u202fPM"
