"""votes: sealed pending secret ballots (written out later, shuffled, apart from the
participations: docs/voting.md, "Secret ballots in the database files")

Revision ID: 0008
Revises: 0007
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('pending_ballots',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('lookup', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['motion_id'], ['motions.id'], name=op.f('fk_pending_ballots_motion_id_motions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_ballots')),
    sa.UniqueConstraint('motion_id', 'lookup', name=op.f('uq_pending_ballots_motion_id_lookup')),
    sqlite_with_rowid=False
    )


def downgrade() -> None:
    # sealed ballots still waiting would be lost: refuse while any motion has some
    bind = op.get_bind()
    waiting = bind.execute(sa.text("SELECT count(*) FROM pending_ballots")).scalar()
    if waiting:
        raise RuntimeError(f"{waiting} acknowledged secret ballots are still sealed in pending_ballots; "
                           "close their motions (which writes them out) before downgrading")
    op.drop_table('pending_ballots')
