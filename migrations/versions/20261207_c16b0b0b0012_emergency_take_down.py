"""emergency take-down: a rally status that hides it from everyone but its organizers and HQ

Revision ID: c16b0b0b0012
Revises: c16a0a0a0011
Create Date: 2026-12-07 05:00:00

PostgreSQL keeps rally statuses in an enum type, which gains a value. SQLite keeps them in a
CHECK constraint of the rallies table; rebuilding that table (batch mode) would drop it under
the tables that refer to it, so the constraint is widened in place, the way SQLite's manual
describes for changes that leave every stored row valid ("Making Other Kinds Of Table Schema
Changes": the schema text is rewritten and the schema version bumped, in one transaction).
"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c16b0b0b0012'
down_revision = 'c16a0a0a0011'
branch_labels = None
depends_on = None

STATUSES = ('pending', 'approved', 'rejected', 'cancelled')
NEW = 'taken_down'
_CHECK = re.compile(r"(CONSTRAINT ck_rallies_rally_status CHECK \(status IN \()([^)]*)(\)\))")
_TYPE = re.compile(r"status VARCHAR\(\d+\)")


def _sqlite_status_check(values) -> None:
    """Rewrite the rallies table's status CHECK to allow exactly ``values``."""
    bind = op.get_bind()
    sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'rallies'")
    ).scalar_one()
    if not _CHECK.search(sql):
        return  # no such constraint (a database made without it): nothing to widen
    allowed = ", ".join(f"'{value}'" for value in values)
    new_sql = _CHECK.sub(lambda m: f"{m.group(1)}{allowed}{m.group(3)}", sql, count=1)
    # The declared length follows the longest value, as SQLAlchemy's Enum declares it.
    width = max(len(value) for value in values)
    new_sql = _TYPE.sub(f"status VARCHAR({width})", new_sql, count=1)
    if new_sql == sql:
        return
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'rallies'"),
        {"sql": new_sql},
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # Not used in this transaction, so PostgreSQL (12+) accepts it inside one.
        op.execute(f"ALTER TYPE rally_status ADD VALUE IF NOT EXISTS '{NEW}'")
    else:
        _sqlite_status_check(STATUSES + (NEW,))
    # A plain ADD COLUMN: batch mode would make SQLite copy the rallies table others refer to.
    op.add_column('rallies', sa.Column('taken_down_dt', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Without the status, a rally that was taken down must stay hidden: rejected is public to
    # no one and takes no sign-ups (its sign-ups' personal data is gone already).
    op.execute(f"UPDATE rallies SET status = 'rejected' WHERE status = '{NEW}'")
    if op.get_bind().dialect.name == 'postgresql':
        # PostgreSQL cannot drop an enum value: the type is made again without it.
        op.execute("ALTER TYPE rally_status RENAME TO rally_status_old")
        op.execute(
            "CREATE TYPE rally_status AS ENUM ("
            + ", ".join(f"'{value}'" for value in STATUSES) + ")"
        )
        op.execute(
            "ALTER TABLE rallies ALTER COLUMN status TYPE rally_status"
            " USING status::text::rally_status"
        )
        op.execute("DROP TYPE rally_status_old")
    else:
        _sqlite_status_check(STATUSES)
    op.drop_column('rallies', 'taken_down_dt')
