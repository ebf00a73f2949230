"""attendee approval: rallies may require it; sign-ups can be requested or declined

Revision ID: c16d0d0d0014
Revises: c16c0c0c0013
Create Date: 2026-12-07 05:00:00

Existing rallies do not require approval; existing sign-ups keep their status. On the way
down, requests and declined requests become cancelled sign-ups (none of them held a place).
"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c16d0d0d0014'
down_revision = 'c16c0c0c0013'
branch_labels = None
depends_on = None

OLD_STATUSES = ('going', 'waitlisted', 'cancelled')
NEW_STATUSES = (*OLD_STATUSES, 'requested', 'declined')


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        # ADD VALUE may not be used in the transaction that adds it: commit it on its own.
        with op.get_context().autocommit_block():
            for value in NEW_STATUSES[len(OLD_STATUSES):]:
                op.execute(f"ALTER TYPE signup_status ADD VALUE IF NOT EXISTS '{value}'")
    elif bind.dialect.name == 'sqlite':
        _set_sqlite_status_check(NEW_STATUSES)
    # A plain ADD COLUMN: batch mode would make SQLite copy the rallies table others refer to.
    op.add_column('rallies', sa.Column('approval_required', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def downgrade():
    op.drop_column('rallies', 'approval_required')
    op.execute("UPDATE signups SET status = 'cancelled' WHERE status IN ('requested', 'declined')")
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        # PostgreSQL cannot drop an enum value: the type is made again without them.
        op.execute("ALTER TYPE signup_status RENAME TO signup_status_old")
        op.execute("CREATE TYPE signup_status AS ENUM ('going', 'waitlisted', 'cancelled')")
        op.execute("ALTER TABLE signups ALTER COLUMN status TYPE signup_status"
                   " USING status::text::signup_status")
        op.execute("DROP TYPE signup_status_old")
    elif bind.dialect.name == 'sqlite':
        _set_sqlite_status_check(OLD_STATUSES)


def _set_sqlite_status_check(statuses):
    """Let SQLite's CHECK on signups.status accept ``statuses``, without copying the table.

    SQLite cannot alter a constraint, and batch mode would copy the table: dropping the old
    one deletes (ON DELETE CASCADE) the outbox messages that refer to its rows. Changing only
    which values a CHECK accepts leaves every stored row valid, so SQLite's documented
    procedure for such changes applies: rewrite the table's SQL in the schema table, and bump
    the schema version so that every connection reads it again
    (https://www.sqlite.org/lang_altertable.html#otheralter).
    """
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'signups'"
    ).scalar_one()
    allowed = ", ".join(f"'{status}'" for status in statuses)
    pattern = re.compile(r"(CONSTRAINT ck_signups_signup_status CHECK \(status IN \()[^)]*(\)\))")
    new_sql, count = pattern.subn(lambda m: f"{m.group(1)}{allowed}{m.group(2)}", sql)
    if count != 1:
        raise RuntimeError("signups has no CHECK ck_signups_signup_status to change")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'signups'",
            (new_sql,),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ['ok']:
        raise RuntimeError(f"SQLite integrity check after changing signups: {problems}")
