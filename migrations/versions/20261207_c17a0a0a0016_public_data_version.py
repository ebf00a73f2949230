"""the public data version: one counter every public change bumps (cache validators)

Revision ID: c17a0a0a0016
Revises: c16e0e0e0015
Create Date: 2026-12-07 07:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c17a0a0a0016'
down_revision = 'c16e0e0e0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'content_versions',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('epoch', sa.String(length=16), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_content_versions')),
    )


def downgrade():
    op.drop_table('content_versions')
