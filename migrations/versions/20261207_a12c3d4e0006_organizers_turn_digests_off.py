"""organizers can turn the daily digests of new sign-ups off; accounts have a language

Revision ID: a12c3d4e0006
Revises: f11b2c3d0005
Create Date: 2026-12-07 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a12c3d4e0006'
down_revision = 'f11b2c3d0005'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN: batch mode would make SQLite copy the users table others refer to.
    op.add_column('users', sa.Column('digests_off_dt', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('language', sa.String(length=12), nullable=False,
                                     server_default='en'))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('language')
        batch_op.drop_column('digests_off_dt')
