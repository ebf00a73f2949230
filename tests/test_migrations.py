"""The migrations build the schema the models describe, on every backend."""

from __future__ import annotations

import os
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from rallyhub.extensions import db
from tests.conftest import _postgres_url


def test_migrated_schema_matches_the_models(app_ctx):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def _fresh_urls(tmp_path):
    """An empty SQLite database, then an empty PostgreSQL schema (dropped after its turn)."""
    yield f"sqlite:///{tmp_path / 'fresh.db'}"
    if os.environ.get("TEST_DATABASE_URL"):
        schema = f"rh_mig_{secrets.token_hex(4)}"
        admin = create_engine(os.environ["TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            yield _postgres_url(schema)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


def test_upgrade_downgrade_upgrade_from_empty(make_app, tmp_path):
    for url in _fresh_urls(tmp_path):
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade()
            tables = set(inspect(db.engine).get_table_names())
            assert {
                "users",
                "campaigns",
                "rallies",
                "signups",
                "toolkit_items",
                "turnout_reports",
                "audit_records",
                "rally_coorganizers",
            } <= tables
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            db.engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        # One sign-up per rally and e-mail.
        "INSERT INTO signups (rally_id, name, email, consent_to_contact, token, status, created_dt,"
        " updated_dt) SELECT rally_id, name, email, consent_to_contact, 'other-token', status,"
        " created_dt, updated_dt FROM signups",
        # Status values outside the enum.
        "UPDATE rallies SET status = 'published'",
        # A rally that ends before it starts.
        "UPDATE rallies SET end_dt = start_dt",
        # Coordinates out of range.
        "UPDATE rallies SET latitude = 91",
        # Radius-search columns out of step with the public position.
        "UPDATE rallies SET public_band = public_band + 1",
        "UPDATE rallies SET public_x = 0, public_y = 0, public_z = 0",
        # A sign-up for a rally that does not exist.
        "UPDATE signups SET rally_id = rally_id + 1000",
        # Personal data may only be missing once purged.
        "UPDATE signups SET email = NULL",
    ],
)
def test_the_database_enforces_the_rules(app_ctx, rallies, statement):
    from sqlalchemy.exc import IntegrityError, StatementError

    from rallyhub.signups.models import Signup

    rally_id = rallies()
    db.session.add(Signup(rally_id=rally_id, name="Ana", email="ana@example.org"))
    db.session.commit()
    with pytest.raises((IntegrityError, StatementError)), db.engine.begin() as connection:
        connection.execute(text(statement))


def test_the_radius_search_columns_are_filled_for_existing_rallies(make_app, tmp_path):
    from rallyhub.rallies.models import search_columns

    # Yerevan, a rally at the South Pole and one just west of the antimeridian.
    positions = [(40.1811, 44.5136), (-90.0, 0.0), (-18.0, -179.8)]
    for url in _fresh_urls(tmp_path):
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="48c4d698db88")
            _insert_rallies_as_of_48c4d698db88(positions)
            upgrade()
            rows = db.session.execute(
                text(
                    "SELECT public_latitude, public_longitude, public_band, public_x,"
                    " public_y, public_z FROM rallies ORDER BY id"
                )
            ).all()
            db.session.rollback()
            db.engine.dispose()
        assert [tuple(row[:2]) for row in rows] == positions
        assert [dict(zip(search_columns(0, 0), row[2:], strict=True)) for row in rows] == [
            search_columns(*position) for position in positions
        ]


def _insert_rallies_as_of_48c4d698db88(positions):
    """Public rallies at ``positions``, written with the columns the schema had then."""
    now = "2026-01-01 00:00:00"
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, name, password_hash, role, is_disabled,"
                " session_nonce, created_dt) VALUES (1, 'o@example.org', 'O', 'x', 'organizer',"
                " false, 'n', :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO campaigns (id, slug, name, hashtag, description, start_date,"
                " is_active, created_dt) VALUES (1, 'c', 'C', '#C', '', '2026-01-01', true, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO rallies (campaign_id, organizer_id, title, description, city,"
                " country_code, meeting_point, latitude, longitude, public_latitude,"
                " public_longitude, timezone, start_dt, end_dt, languages, status, visibility,"
                " review_note, cancel_note, created_dt, updated_dt, asks_phone, walk_in_count)"
                " VALUES (1, 1, 'R', '', 'C', 'AM', '', :lat, :lon, :lat, :lon, 'UTC', :now,"
                " '2026-01-01 02:00:00', '', 'approved', 'public', '', '', :now, :now, false, 0)"
            ),
            [{"lat": lat, "lon": lon, "now": now} for lat, lon in positions],
        )


def test_existing_rallies_learn_when_they_were_approved(make_app, tmp_path):
    """The approval time comes from the audit record; a never-approved cancellation stays hidden."""
    for url in _fresh_urls(tmp_path):
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            upgrade(revision="48c4d698db88")
            _insert_rallies_as_of_48c4d698db88([(40.18, 44.51)] * 4)
            with db.engine.begin() as connection:
                connection.execute(
                    text("UPDATE rallies SET status = 'cancelled' WHERE id IN (2, 3)")
                )
                connection.execute(
                    text(
                        "INSERT INTO audit_records (actor_id, action, target_type, target_id,"
                        " detail, created_dt) VALUES (1, 'rally.approve', 'rally', :id, '', :at)"
                    ),
                    [
                        {"id": 1, "at": "2026-01-03 10:00:00"},
                        {"id": 2, "at": "2026-01-05 10:00:00"},
                        {"id": 2, "at": "2026-01-06 10:00:00"},
                    ],
                )
            upgrade()
            rows = db.session.execute(text("SELECT id, approved_dt FROM rallies ORDER BY id")).all()
            db.session.rollback()
            db.engine.dispose()
        approved = {row_id: value and str(value)[:16] for row_id, value in rows}
        assert approved == {
            1: "2026-01-03 10:00",  # approved, from its audit record
            2: "2026-01-05 10:00",  # cancelled after its first approval
            3: None,  # cancelled before HQ approved it: never public
            4: "2026-01-01 00:00",  # approved without a record (seeded): when it was created
        }
