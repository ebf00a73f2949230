"""co-organizer invitations are accepted through a link and expire

Revision ID: b11c0a1e0001
Revises: a26a8815a44c
Create Date: 2026-12-03 10:00:00.000000

"""
import hashlib
import secrets
from datetime import timedelta

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b11c0a1e0001'
down_revision = 'a26a8815a44c'
branch_labels = None
depends_on = None

# COORGANIZER_INVITE_DAYS as of this revision (kept frozen here).
INVITE_DAYS = 7


def upgrade():
    with op.batch_alter_table('coorganizer_invites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('expires_dt', sa.DateTime(timezone=True), nullable=True))

    _fill_existing_invites()

    with op.batch_alter_table('coorganizer_invites', schema=None) as batch_op:
        batch_op.alter_column('token_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('expires_dt', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f('uq_coorganizer_invites_token_hash'), ['token_hash'])


def downgrade():
    with op.batch_alter_table('coorganizer_invites', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_coorganizer_invites_token_hash'), type_='unique')
        batch_op.drop_column('expires_dt')
        batch_op.drop_column('token_hash')


def _fill_existing_invites():
    """Keep the invitations already made: each gets its time to accept from when it was made,
    and the digest of a secret nobody holds (no link was ever sent for it; inviting the address
    again sends one)."""
    invites = sa.table(
        'coorganizer_invites',
        sa.column('id', sa.Integer()),
        sa.column('created_dt', sa.DateTime(timezone=True)),
        sa.column('token_hash', sa.String()),
        sa.column('expires_dt', sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(invites.c.id, invites.c.created_dt)).all()
    for invite_id, created in rows:
        digest = hashlib.sha256(secrets.token_urlsafe(32).encode()).hexdigest()
        connection.execute(
            invites.update().where(invites.c.id == invite_id)
            .values(token_hash=digest, expires_dt=created + timedelta(days=INVITE_DAYS))
        )
