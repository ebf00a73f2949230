"""outbox messages have a kind, a key, a state and what they are about; sign-ups a language
and an unsubscribe time

Revision ID: e11a2b3c0004
Revises: d11f1a2b0003
Create Date: 2026-12-07 01:20:00

Messages already in the outbox were all waiting: they stay queued.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e11a2b3c0004'
down_revision = 'd11f1a2b0003'
branch_labels = None
depends_on = None

outbox_state = sa.Enum('queued', 'sent', 'failed', name='outbox_state', create_constraint=True)


def upgrade():
    outbox_state.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=40), nullable=False,
                                      server_default='notice'))
        batch_op.add_column(sa.Column('dedup_key', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('signup_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rally_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('batch', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('calendar', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('unsubscribe_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('state', outbox_state, nullable=False,
                                      server_default='queued'))
        batch_op.add_column(sa.Column('sent_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('queued_dt', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_outbox_messages_dedup_key'),
                                          ['dedup_key'])
        batch_op.create_foreign_key(batch_op.f('fk_outbox_messages_signup_id_signups'),
                                    'signups', ['signup_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_outbox_messages_rally_id_rallies'),
                                    'rallies', ['rally_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_next_attempt_dt'))
        batch_op.create_index(batch_op.f('ix_outbox_messages_state_next_attempt_dt'),
                              ['state', 'next_attempt_dt'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_messages_signup_id'), ['signup_id'])
        batch_op.create_index(batch_op.f('ix_outbox_messages_rally_id'), ['rally_id'])
        batch_op.create_index(batch_op.f('ix_outbox_messages_batch'), ['batch'])
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('kind', server_default=None)
        batch_op.alter_column('state', server_default=None)
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=12), nullable=False,
                                      server_default='en'))
        batch_op.add_column(sa.Column('unsubscribed_dt', sa.DateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.alter_column('language', server_default=None)


def downgrade():
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.drop_column('unsubscribed_dt')
        batch_op.drop_column('language')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_messages_batch'))
        batch_op.drop_index(batch_op.f('ix_outbox_messages_rally_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_messages_signup_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_messages_state_next_attempt_dt'))
        batch_op.create_index(batch_op.f('ix_outbox_messages_next_attempt_dt'),
                              ['next_attempt_dt'], unique=False)
        batch_op.drop_constraint(batch_op.f('fk_outbox_messages_rally_id_rallies'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_outbox_messages_signup_id_signups'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_outbox_messages_dedup_key'), type_='unique')
        batch_op.drop_column('queued_dt')
        batch_op.drop_column('sent_dt')
        if op.get_bind().dialect.name == 'sqlite':
            # SQLite keeps the enum as a CHECK on the column (PostgreSQL as a type).
            batch_op.drop_constraint(batch_op.f('ck_outbox_messages_outbox_state'), type_='check')
        batch_op.drop_column('state')
        batch_op.drop_column('unsubscribe_url')
        batch_op.drop_column('calendar')
        batch_op.drop_column('batch')
        batch_op.drop_column('rally_id')
        batch_op.drop_column('signup_id')
        batch_op.drop_column('dedup_key')
        batch_op.drop_column('kind')
    outbox_state.drop(op.get_bind(), checkfirst=True)
