"""SQLite writes under concurrency: none lost, and a database that stays busy answers 503."""

from __future__ import annotations

import logging
import sqlite3
import threading

import pytest
from sqlalchemy import func, select

from rallyhub.auth.audit import AuditRecord, record_audit
from rallyhub.extensions import db
from tests.auth_data import REGISTRATION
from tests.conftest import post_form


def _sqlite_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite locking only")


def test_concurrent_read_then_write_transactions_all_commit(app):
    _sqlite_only(app)
    threads, per_thread, errors = 8, 25, []

    def work(worker: int):
        with app.app_context():
            for step in range(per_thread):
                try:
                    # Read first, then write: a deferred transaction fails here on lock upgrade.
                    seen = db.session.scalar(select(func.count()).select_from(AuditRecord))
                    record_audit(None, "test.write", "worker", worker, f"{step}:{seen}")
                    db.session.commit()
                except Exception as error:
                    db.session.rollback()
                    errors.append(repr(error))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(AuditRecord)) == threads * per_thread
        )


def test_a_database_that_stays_locked_answers_503_with_a_retry_message(make_app):
    app = make_app(SQLITE_BUSY_TIMEOUT_S=0.2)
    _sqlite_only(app)
    client = app.test_client()
    page = client.get("/auth/register")
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        from tests.conftest import csrf_from

        response = client.post(
            "/auth/register",
            data={"csrf_token": csrf_from(page.get_data(as_text=True)), **REGISTRATION},
        )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert b"try again in a few seconds" in response.data
    # Once the lock is gone the same request works.
    assert post_form(client, "/auth/register", REGISTRATION).status_code == 302


def test_logs_carry_no_personal_data(client, users, caplog):
    caplog.set_level(logging.DEBUG)
    users(email="private.person@example.org", name="Private Person")
    post_form(
        client,
        "/auth/register",
        {**REGISTRATION, "email": "someone.new@example.org", "name": "Someone New"},
    )
    post_form(
        client,
        "/auth/login",
        {"email": "private.person@example.org", "password": "wrong-password-here"},
    )
    post_form(client, "/auth/reset", {"email": "private.person@example.org"})
    text = caplog.text
    for secret in (
        "private.person",
        "someone.new",
        "Someone New",
        "Private Person",
        "example.org",
        "127.0.0.1",
    ):
        assert secret not in text


def test_access_log_has_no_client_address_and_no_tokens(live_server, caplog):
    import urllib.error
    import urllib.request

    caplog.set_level(logging.INFO, logger="werkzeug")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{live_server}/auth/reset/secret-token-123")  # noqa: S310
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("/auth/reset/…" in line for line in lines), lines
    assert not any("127.0.0.1" in line or "secret-token-123" in line for line in lines)
