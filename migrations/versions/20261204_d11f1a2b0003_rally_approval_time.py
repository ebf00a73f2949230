"""rallies remember when HQ first approved them

Revision ID: d11f1a2b0003
Revises: c11d0e2f0002
Create Date: 2026-12-04 02:30:00

A cancelled rally keeps its public page only if it had been approved; the approval time is
taken from the audit record for rallies that already exist.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd11f1a2b0003'
down_revision = 'c11d0e2f0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('rallies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_dt', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE rallies SET approved_dt = ("
        " SELECT min(audit_records.created_dt) FROM audit_records"
        " WHERE audit_records.target_type = 'rally'"
        " AND audit_records.target_id = rallies.id"
        " AND audit_records.action = 'rally.approve')"
    )
    # Approved rallies without a record (e.g. seeded) count as approved when they were created.
    op.execute(
        "UPDATE rallies SET approved_dt = created_dt"
        " WHERE approved_dt IS NULL AND status = 'approved'"
    )


def downgrade():
    with op.batch_alter_table('rallies', schema=None) as batch_op:
        batch_op.drop_column('approved_dt')
