"""countries at risk (HQ's settings), a rally's coarse public cell and held meeting point

Revision ID: c16e0e0e0015
Revises: c16d0d0d0014
Create Date: 2026-12-07 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c16e0e0e0015'
down_revision = 'c16d0d0d0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'country_risks',
        sa.Column('country_code', sa.String(length=2), nullable=False),
        sa.Column('high_risk', sa.Boolean(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('cell_km', sa.Double(), nullable=False),
        sa.Column('purge_hours', sa.Integer(), nullable=False),
        sa.Column('hold_hours', sa.Integer(), nullable=True),
        sa.Column('two_factor', sa.Boolean(), nullable=False),
        sa.Column('tiles', sa.String(length=500), nullable=False),
        sa.Column('set_by_id', sa.Integer(), nullable=True),
        sa.Column('set_dt', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('length(country_code) = 2',
                           name=op.f('ck_country_risks_country_code_length')),
        sa.CheckConstraint('cell_km BETWEEN 1 AND 50', name=op.f('ck_country_risks_cell_km_range')),
        sa.CheckConstraint('purge_hours BETWEEN 1 AND 720',
                           name=op.f('ck_country_risks_purge_hours_range')),
        sa.CheckConstraint('hold_hours IS NULL OR hold_hours BETWEEN 1 AND 72',
                           name=op.f('ck_country_risks_hold_range')),
        sa.ForeignKeyConstraint(['set_by_id'], ['users.id'],
                                name=op.f('fk_country_risks_set_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('country_code', name=op.f('pk_country_risks')),
    )
    # Plain ADD COLUMN: batch mode would make SQLite copy the rallies table others refer to.
    op.add_column('rallies', sa.Column('public_cell_km', sa.Double(), nullable=True))
    op.add_column('rallies', sa.Column('hold_hours', sa.Integer(), nullable=True))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): batch mode would copy the rallies table others refer to.
    op.drop_column('rallies', 'hold_hours')
    op.drop_column('rallies', 'public_cell_km')
    op.drop_table('country_risks')
