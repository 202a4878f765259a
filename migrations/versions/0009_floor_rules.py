"""live: the rules of the microphone in the database — at most one speaking turn per
session, at most one raised hand per participant (partial unique indexes)

Before the indexes can be made, what the old race left behind is put right: a turn still
"speaking" that is not the room's floor ended when the next turn was given (or, with none
after it, when it was given), and of several raised hands of one participant the first
stays raised, the others are withdrawn.

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SPEAKING = "status = 'speaking'"
WAITING = "status = 'waiting'"


def upgrade() -> None:
    op.execute(sa.text(
        "UPDATE live_floor_requests SET status = 'done', ended_by = 'next', ended_at = COALESCE("
        " (SELECT MIN(later.granted_at) FROM live_floor_requests later"
        "  WHERE later.session_id = live_floor_requests.session_id"
        "  AND later.granted_at > live_floor_requests.granted_at), granted_at, raised_at)"
        " WHERE status = 'speaking' AND id NOT IN ("
        "  SELECT floor_request_id FROM live_rooms WHERE floor_request_id IS NOT NULL)"))
    op.execute(sa.text(
        "UPDATE live_floor_requests SET status = 'withdrawn', ended_at = raised_at"
        " WHERE status = 'waiting' AND id NOT IN ("
        "  SELECT MIN(w.id) FROM live_floor_requests w WHERE w.status = 'waiting'"
        "  GROUP BY w.session_id, w.participant_id)"))
    op.create_index("uq_live_floor_requests_speaking", "live_floor_requests", ["session_id"], unique=True,
                    sqlite_where=sa.text(SPEAKING), postgresql_where=sa.text(SPEAKING))
    op.create_index("uq_live_floor_requests_waiting", "live_floor_requests", ["session_id", "participant_id"],
                    unique=True, sqlite_where=sa.text(WAITING), postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index("uq_live_floor_requests_waiting", table_name="live_floor_requests")
    op.drop_index("uq_live_floor_requests_speaking", table_name="live_floor_requests")
