"""live sessions: the event log, participants, connections, messages, the floor queue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:20:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import core.db


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('live_rooms',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('agenda_position', sa.Integer(), nullable=True),
    sa.Column('pinned', sa.Text(), nullable=True),
    sa.Column('floor_request_id', sa.Integer(), nullable=True),
    sa.Column('minutes', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_live_rooms_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_live_rooms'))
    )

    op.create_table('live_participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('display_name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('guest_token_hash', sa.String(length=64), nullable=True),
    sa.Column('first_seen', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_live_participants_member_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_live_participants_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_participants')),
    sa.UniqueConstraint('guest_token_hash', name=op.f('uq_live_participants_guest_token_hash')),
    sa.UniqueConstraint('session_id', 'member_id', name=op.f('uq_live_participants_session_id_member_id'))
    )
    with op.batch_alter_table('live_participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_participants_session_id'), ['session_id'], unique=False)

    op.create_table('live_connections',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('connected_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['live_participants.id'], name=op.f('fk_live_connections_participant_id_live_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_live_connections_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_live_connections'))
    )
    with op.batch_alter_table('live_connections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_connections_participant_id'), ['participant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_connections_session_id'), ['session_id'], unique=False)

    op.create_table('live_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=True),
    sa.Column('client_key', sa.String(length=100), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['live_participants.id'], name=op.f('fk_live_events_participant_id_live_participants'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_live_events_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_events')),
    sa.UniqueConstraint('session_id', 'client_key', name=op.f('uq_live_events_session_id_client_key')),
    sa.UniqueConstraint('session_id', 'seq', name=op.f('uq_live_events_session_id_seq'))
    )

    op.create_table('live_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('reply_to_id', sa.Integer(), nullable=True),
    sa.Column('from_floor', sa.Boolean(), nullable=False),
    sa.Column('agenda_position', sa.Integer(), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('hidden_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('hidden_by_id', sa.Integer(), nullable=True),
    sa.Column('hidden_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['hidden_by_id'], ['live_participants.id'], name=op.f('fk_live_messages_hidden_by_id_live_participants'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['participant_id'], ['live_participants.id'], name=op.f('fk_live_messages_participant_id_live_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reply_to_id'], ['live_messages.id'], name=op.f('fk_live_messages_reply_to_id_live_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_live_messages_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_messages'))
    )
    with op.batch_alter_table('live_messages', schema=None) as batch_op:
        batch_op.create_index('ix_live_messages_participant_created', ['participant_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_messages_session_id'), ['session_id'], unique=False)

    op.create_table('live_floor_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('raised_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('granted_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('seconds', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['participant_id'], ['live_participants.id'], name=op.f('fk_live_floor_requests_participant_id_live_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_live_floor_requests_session_id_consultation_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_floor_requests'))
    )
    with op.batch_alter_table('live_floor_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_floor_requests_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('live_floor_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_floor_requests_session_id'))
    op.drop_table('live_floor_requests')
    with op.batch_alter_table('live_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_live_messages_participant_created')
        batch_op.drop_index(batch_op.f('ix_live_messages_session_id'))
    op.drop_table('live_messages')
    op.drop_table('live_events')
    with op.batch_alter_table('live_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_connections_participant_id'))
        batch_op.drop_index(batch_op.f('ix_live_connections_session_id'))
    op.drop_table('live_connections')
    with op.batch_alter_table('live_participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_participants_session_id'))
    op.drop_table('live_participants')
    op.drop_table('live_rooms')
