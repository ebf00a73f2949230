"""radius search reads bands of latitude and unit vectors

Revision ID: a26a8815a44c
Revises: 48c4d698db88
Create Date: 2026-11-24 19:47:34.550936

"""
import math

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a26a8815a44c'
down_revision = '48c4d698db88'
branch_labels = None
depends_on = None

# rallyhub.places.distance as of this revision (kept frozen here).
BANDS_PER_DEGREE = 4


def upgrade():
    with op.batch_alter_table('rallies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_band', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('public_x', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('public_y', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('public_z', sa.Double(), nullable=True))

    _fill_search_columns()

    with op.batch_alter_table('rallies', schema=None) as batch_op:
        for column in ('public_band', 'public_x', 'public_y', 'public_z'):
            batch_op.alter_column(
                column,
                existing_type=sa.Integer() if column == 'public_band' else sa.Double(),
                nullable=False,
            )
        batch_op.create_check_constraint(
            op.f('ck_rallies_public_band_holds_public_latitude'),
            f'(public_latitude + 90) * {BANDS_PER_DEGREE} >= public_band'
            f' AND (public_latitude + 90) * {BANDS_PER_DEGREE} < public_band + 1',
        )
        batch_op.create_check_constraint(
            op.f('ck_rallies_public_vector_is_unit'),
            'public_x * public_x + public_y * public_y + public_z * public_z'
            ' BETWEEN 0.999999 AND 1.000001',
        )
        batch_op.drop_index(batch_op.f('ix_rallies_status_public_latitude_public_longitude'))
        batch_op.create_index('ix_rallies_radius_search', ['status', 'public_band', 'public_longitude', 'public_latitude', 'end_dt', 'public_x', 'public_y', 'public_z'], unique=False)


def downgrade():
    with op.batch_alter_table('rallies', schema=None) as batch_op:
        batch_op.drop_index('ix_rallies_radius_search')
        batch_op.create_index(batch_op.f('ix_rallies_status_public_latitude_public_longitude'), ['status', 'public_latitude', 'public_longitude'], unique=False)
        batch_op.drop_constraint(op.f('ck_rallies_public_vector_is_unit'), type_='check')
        batch_op.drop_constraint(op.f('ck_rallies_public_band_holds_public_latitude'), type_='check')
        batch_op.drop_column('public_z')
        batch_op.drop_column('public_y')
        batch_op.drop_column('public_x')
        batch_op.drop_column('public_band')


def _fill_search_columns():
    rallies = sa.table(
        'rallies', sa.column('id'), sa.column('public_latitude'), sa.column('public_longitude'),
        sa.column('public_band'), sa.column('public_x'), sa.column('public_y'),
        sa.column('public_z'),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(rallies.c.id, rallies.c.public_latitude, rallies.c.public_longitude)
    ).all()
    update = (
        rallies.update().where(rallies.c.id == sa.bindparam('rally_id'))
        .values(
            public_band=sa.bindparam('band'), public_x=sa.bindparam('x'),
            public_y=sa.bindparam('y'), public_z=sa.bindparam('z'),
        )
    )
    for start in range(0, len(rows), 10_000):
        values = []
        for rally_id, latitude, longitude in rows[start:start + 10_000]:
            phi, lam = math.radians(latitude), math.radians(longitude)
            values.append({
                'rally_id': rally_id,
                'band': math.floor((latitude + 90) * BANDS_PER_DEGREE),
                'x': round(math.cos(phi) * math.cos(lam), 15),
                'y': round(math.cos(phi) * math.sin(lam), 15),
                'z': round(math.sin(phi), 15),
            })
        connection.execute(update, values)
