"""campaigns say which messages their people get, and at what hours

Revision ID: f11b2c3d0005
Revises: e11a2b3c0004
Create Date: 2026-12-07 01:40:00

Existing campaigns get the defaults: reminders at 11:00 the day before and 08:00 on the day,
and the organizers' daily digest.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f11b2c3d0005'
down_revision = 'e11a2b3c0004'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs with constant defaults: batch mode would make SQLite copy the table,
    # which its rallies and toolkit items refer to (the defaults stay in the schema).
    op.add_column('campaigns', sa.Column('reminders_on', sa.Boolean(), nullable=False,
                                         server_default='1'))
    op.add_column('campaigns', sa.Column('reminder_eve_hour', sa.Integer(), nullable=False,
                                         server_default='11'))
    op.add_column('campaigns', sa.Column('reminder_day_hour', sa.Integer(), nullable=False,
                                         server_default='8'))
    op.add_column('campaigns', sa.Column('digests_on', sa.Boolean(), nullable=False,
                                         server_default='1'))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('digests_on')
        batch_op.drop_column('reminder_day_hour')
        batch_op.drop_column('reminder_eve_hour')
        batch_op.drop_column('reminders_on')
