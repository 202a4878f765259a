"""votes: motions, electorate lists, representatives, open ballots, secret participations
and anonymous ballots (WITHOUT ROWID on SQLite), the ballot log hash chain, stored results

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import core.db


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('vote_representatives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_vote_representatives_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_vote_representatives_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_representatives')),
    sa.UniqueConstraint('community_id', 'member_id', name=op.f('uq_vote_representatives_community_id_member_id'))
    )
    with op.batch_alter_table('vote_representatives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_representatives_member_id'), ['member_id'], unique=False)

    op.create_table('motions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('agenda_item_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('method_key', sa.String(length=64), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('quorum', sa.Integer(), nullable=False),
    sa.Column('electorate', sa.String(length=16), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('secret', sa.Boolean(), nullable=False),
    sa.Column('results_visibility', sa.String(length=16), nullable=False),
    sa.Column('opens_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closes_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('category_key', sa.String(length=64), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('log_length', sa.Integer(), nullable=False),
    sa.Column('log_head', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("electorate <> 'place' OR place_id IS NOT NULL", name=op.f('ck_motions_place_electorate_has_place')),
    sa.CheckConstraint("electorate IN ('community', 'place', 'representatives', 'list')", name=op.f('ck_motions_electorate')),
    sa.CheckConstraint("results_visibility IN ('live', 'after_close')", name=op.f('ck_motions_results_visibility')),
    sa.CheckConstraint("status IN ('draft', 'open', 'closed')", name=op.f('ck_motions_status')),
    sa.CheckConstraint('closes_at IS NULL OR opens_at IS NULL OR closes_at > opens_at', name=op.f('ck_motions_window')),
    sa.CheckConstraint('log_length >= 0', name=op.f('ck_motions_log_length')),
    sa.CheckConstraint('quorum >= 0', name=op.f('ck_motions_quorum')),
    sa.ForeignKeyConstraint(['agenda_item_id'], ['agenda_items.id'], name=op.f('fk_motions_agenda_item_id_agenda_items'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_motions_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['members.id'], name=op.f('fk_motions_created_by_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_motions_place_id_places'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_motions_session_id_consultation_sessions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_motions'))
    )
    with op.batch_alter_table('motions', schema=None) as batch_op:
        batch_op.create_index('ix_motions_community_status', ['community_id', 'status'], unique=False)
        batch_op.create_index('ix_motions_session', ['session_id'], unique=False)

    op.create_table('anonymous_ballots',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.JSON(), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('receipt', sa.String(length=64), nullable=False),
    sa.Column('replace_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['motion_id'], ['motions.id'], name=op.f('fk_anonymous_ballots_motion_id_motions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anonymous_ballots')),
    sa.UniqueConstraint('motion_id', 'receipt', name=op.f('uq_anonymous_ballots_motion_id_receipt')),
    sa.UniqueConstraint('motion_id', 'replace_hash', name=op.f('uq_anonymous_ballots_motion_id_replace_hash')),
    sqlite_with_rowid=False
    )
    op.create_table('ballot_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('position >= 1', name=op.f('ck_ballot_log_position')),
    sa.ForeignKeyConstraint(['motion_id'], ['motions.id'], name=op.f('fk_ballot_log_motion_id_motions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballot_log')),
    sa.UniqueConstraint('motion_id', 'position', name=op.f('uq_ballot_log_motion_id_position'))
    )
    op.create_table('ballots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.JSON(), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('receipt', sa.String(length=64), nullable=False),
    sa.Column('assisted_by_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.Column('cast_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assisted_by_id'], ['members.id'], name=op.f('fk_ballots_assisted_by_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_ballots_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['motion_id'], ['motions.id'], name=op.f('fk_ballots_motion_id_motions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballots')),
    sa.UniqueConstraint('motion_id', 'member_id', name=op.f('uq_ballots_motion_id_member_id')),
    sa.UniqueConstraint('motion_id', 'receipt', name=op.f('uq_ballots_motion_id_receipt'))
    )
    with op.batch_alter_table('ballots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ballots_member_id'), ['member_id'], unique=False)

    op.create_table('motion_results',
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('ballots', sa.Integer(), nullable=False),
    sa.Column('eligible', sa.Integer(), nullable=False),
    sa.Column('quorum_met', sa.Boolean(), nullable=False),
    sa.Column('log_length', sa.Integer(), nullable=False),
    sa.Column('log_head', sa.String(length=64), nullable=False),
    sa.Column('computed_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['motion_id'], ['motions.id'], name=op.f('fk_motion_results_motion_id_motions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('motion_id', name=op.f('pk_motion_results'))
    )
    op.create_table('motion_voters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_motion_voters_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['motion_id'], ['motions.id'], name=op.f('fk_motion_voters_motion_id_motions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_motion_voters')),
    sa.UniqueConstraint('motion_id', 'member_id', name=op.f('uq_motion_voters_motion_id_member_id'))
    )
    with op.batch_alter_table('motion_voters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_motion_voters_member_id'), ['member_id'], unique=False)

    op.create_table('vote_participations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('motion_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('assisted_by_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['assisted_by_id'], ['members.id'], name=op.f('fk_vote_participations_assisted_by_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_vote_participations_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['motion_id'], ['motions.id'], name=op.f('fk_vote_participations_motion_id_motions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vote_participations')),
    sa.UniqueConstraint('motion_id', 'member_id', name=op.f('uq_vote_participations_motion_id_member_id')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('vote_participations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vote_participations_member_id'), ['member_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vote_participations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_participations_member_id'))

    op.drop_table('vote_participations')
    with op.batch_alter_table('motion_voters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_motion_voters_member_id'))

    op.drop_table('motion_voters')
    op.drop_table('motion_results')
    with op.batch_alter_table('ballots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ballots_member_id'))

    op.drop_table('ballots')
    op.drop_table('ballot_log')
    op.drop_table('anonymous_ballots')
    with op.batch_alter_table('motions', schema=None) as batch_op:
        batch_op.drop_index('ix_motions_session')
        batch_op.drop_index('ix_motions_community_status')

    op.drop_table('motions')
    with op.batch_alter_table('vote_representatives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vote_representatives_member_id'))

    op.drop_table('vote_representatives')
