"""safety check-ins after a rally: the rally's switch, HQ's contacts per country, the answers
and the incidents raised by "I need help"

Revision ID: c16c0c0c0013
Revises: c16b0b0b0012
Create Date: 2026-12-07 06:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c16c0c0c0013'
down_revision = 'c16b0b0b0012'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN: batch mode would make SQLite copy the rallies table others refer to.
    op.add_column('rallies', sa.Column('safety_checkins', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.create_table(
        'safety_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('country_code', sa.String(length=2), nullable=False),
        sa.Column('language', sa.String(length=12), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('updated_dt', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('length(country_code) = 2',
                           name=op.f('ck_safety_contacts_country_code_length')),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'],
                                name=op.f('fk_safety_contacts_updated_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_safety_contacts')),
        sa.UniqueConstraint('country_code', 'language',
                            name=op.f('uq_safety_contacts_country_code_language')),
    )
    op.create_table(
        'safety_answers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rally_id', sa.Integer(), nullable=False),
        sa.Column('signup_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.Enum('safe', 'needs_help', name='safety_status',
                                    create_constraint=True), nullable=False),
        sa.Column('answered_dt', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('(signup_id IS NULL) <> (user_id IS NULL)',
                           name=op.f('ck_safety_answers_one_person')),
        sa.ForeignKeyConstraint(['rally_id'], ['rallies.id'],
                                name=op.f('fk_safety_answers_rally_id_rallies'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['signup_id'], ['signups.id'],
                                name=op.f('fk_safety_answers_signup_id_signups'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_safety_answers_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_safety_answers')),
        sa.UniqueConstraint('rally_id', 'signup_id',
                            name=op.f('uq_safety_answers_rally_id_signup_id')),
        sa.UniqueConstraint('rally_id', 'user_id', name=op.f('uq_safety_answers_rally_id_user_id')),
    )
    op.create_table(
        'safety_incidents',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rally_id', sa.Integer(), nullable=False),
        sa.Column('created_dt', sa.DateTime(timezone=True), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('contact', sa.String(length=200), nullable=False),
        sa.Column('handled_dt', sa.DateTime(timezone=True), nullable=True),
        sa.Column('handled_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['handled_by_id'], ['users.id'],
                                name=op.f('fk_safety_incidents_handled_by_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['rally_id'], ['rallies.id'],
                                name=op.f('fk_safety_incidents_rally_id_rallies'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_safety_incidents')),
    )
    op.create_index(op.f('ix_safety_incidents_handled_dt_created_dt'), 'safety_incidents',
                    ['handled_dt', 'created_dt'], unique=False)
    op.create_index(op.f('ix_safety_incidents_rally_id'), 'safety_incidents', ['rally_id'],
                    unique=False)


def downgrade():
    op.drop_index(op.f('ix_safety_incidents_rally_id'), table_name='safety_incidents')
    op.drop_index(op.f('ix_safety_incidents_handled_dt_created_dt'), table_name='safety_incidents')
    op.drop_table('safety_incidents')
    op.drop_table('safety_answers')
    op.drop_table('safety_contacts')
    sa.Enum(name='safety_status').drop(op.get_bind(), checkfirst=True)
    # Plain DROP COLUMN (SQLite 3.35+): batch mode would copy the rallies table others refer to.
    op.drop_column('rallies', 'safety_checkins')
