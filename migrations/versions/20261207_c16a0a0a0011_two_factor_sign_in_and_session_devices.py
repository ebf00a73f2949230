"""two-factor sign-in (TOTP and recovery codes); sessions' coarse device and last activity

Revision ID: c16a0a0a0011
Revises: b13d4e5f0007
Create Date: 2026-12-07 06:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c16a0a0a0011'
down_revision = 'b13d4e5f0007'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN: batch mode would make SQLite copy the users table others refer to.
    op.add_column('users', sa.Column('totp_secret', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('totp_enabled_dt', sa.DateTime(timezone=True),
                                     nullable=True))
    op.add_column('users', sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.add_column('users', sa.Column('two_factor_required', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column('user_sessions', sa.Column('device', sa.String(length=40), nullable=False,
                                             server_default=''))
    op.add_column('user_sessions', sa.Column('last_seen_dt', sa.DateTime(timezone=True),
                                             nullable=True))
    op.create_table(
        'recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('used_dt', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_recovery_codes_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    )
    op.create_index(op.f('ix_recovery_codes_user_id_code_hash'), 'recovery_codes',
                    ['user_id', 'code_hash'], unique=True)


def downgrade():
    op.drop_index(op.f('ix_recovery_codes_user_id_code_hash'), table_name='recovery_codes')
    op.drop_table('recovery_codes')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_column('last_seen_dt')
        batch_op.drop_column('device')
    # Plain DROP COLUMN (SQLite 3.35+): batch mode would copy the users table others refer to.
    op.drop_column('users', 'two_factor_required')
    op.drop_column('users', 'totp_last_step')
    op.drop_column('users', 'totp_enabled_dt')
    op.drop_column('users', 'totp_secret')
