"""co-organizer invitations

Revision ID: b11c0a1e0001
Revises: a26a8815a44c
Create Date: 2026-12-03 18:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b11c0a1e0001'
down_revision = 'a26a8815a44c'
branch_labels = None
depends_on = None


def upgrade():
    # To be filled in by the co-organizer invitation change.
    pass


def downgrade():
    pass
