"""limit event weight and reservation token

Revision ID: 0008_limit_event_weight
Revises: 0007_abuse_limits
Create Date: 2026-12-05 12:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_limit_event_weight'
down_revision = '0007_abuse_limits'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('limit_events', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('weight', sa.BigInteger(), server_default='1', nullable=False)
        )
        batch_op.add_column(sa.Column('token', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_limit_events_token', ['token'], unique=False)


def downgrade():
    with op.batch_alter_table('limit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_limit_events_token')
        batch_op.drop_column('token')
        batch_op.drop_column('weight')
