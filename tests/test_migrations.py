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
    yield f"sqlite:///{tmp_path / 'fresh.db'}", None
    if os.environ.get("TEST_DATABASE_URL"):
        schema = f"rh_mig_{secrets.token_hex(4)}"
        admin = create_engine(os.environ["TEST_DATABASE_URL"], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        yield _postgres_url(schema), (admin, schema)


def test_upgrade_downgrade_upgrade_from_empty(make_app, tmp_path):
    for url, cleanup in _fresh_urls(tmp_path):
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        try:
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
        finally:
            if cleanup:
                admin, schema = cleanup
                with admin.connect() as connection:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                admin.dispose()


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
