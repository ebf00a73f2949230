"""rallies and campaigns in several languages: translations, and a campaign's own language

Revision ID: b13d4e5f0007
Revises: a12c3d4e0006
Create Date: 2026-12-07 04:00:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'b13d4e5f0007'
down_revision = 'a12c3d4e0006'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN: batch mode would make SQLite copy the campaigns table others refer to.
    op.add_column('campaigns', sa.Column('language', sa.String(length=10), nullable=False,
                                         server_default='en'))
    op.create_table(
        'campaign_translations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=10), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_campaign_translations_campaign_id_campaigns'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_translations')),
        sa.UniqueConstraint('campaign_id', 'language',
                            name=op.f('uq_campaign_translations_campaign_id_language')),
    )
    op.create_table(
        'rally_translations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rally_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=10), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('meeting_point', sa.String(length=500), nullable=False),
        sa.Column('updated_dt', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['rally_id'], ['rallies.id'],
                                name=op.f('fk_rally_translations_rally_id_rallies'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rally_translations')),
        sa.UniqueConstraint('rally_id', 'language', name=op.f('uq_rally_translations_rally_id_language')),
    )


def downgrade():
    op.drop_table('rally_translations')
    op.drop_table('campaign_translations')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('language')
