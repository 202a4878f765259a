"""live: server processes with heartbeats (connections of a dead process are swept), the
process holding each connection, and how a floor ended

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import core.db


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('live_processes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('started_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_processes'))
    )
    with op.batch_alter_table('live_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('process_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_live_connections_process_id'), ['process_id'], unique=False)
    with op.batch_alter_table('live_floor_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_by', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('live_floor_requests', schema=None) as batch_op:
        batch_op.drop_column('ended_by')
    with op.batch_alter_table('live_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_connections_process_id'))
        batch_op.drop_column('process_id')
    op.drop_table('live_processes')
