"""residents' issues: issues, their timeline, supports, photos, ratings; outside bodies

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:18:18.634410
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import core.db


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLES = ('issue_supports', 'issue_ratings', 'issue_photos', 'issue_events', 'issues', 'outside_bodies')


def upgrade() -> None:
    op.create_table('outside_bodies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_outside_bodies_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outside_bodies')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_outside_bodies_community_id_name'))
    )
    with op.batch_alter_table('outside_bodies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outside_bodies_community_id'), ['community_id'], unique=False)

    op.create_table('issues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=False),
    sa.Column('category_key', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('raised_by_id', sa.Integer(), nullable=True),
    sa.Column('on_behalf_of_id', sa.Integer(), nullable=True),
    sa.Column('rejection_reason', sa.String(length=500), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('agenda_item_id', sa.Integer(), nullable=True),
    sa.Column('assigned_member_id', sa.Integer(), nullable=True),
    sa.Column('outside_body_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalation_place_id', sa.Integer(), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('rating_round', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_reply_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'accepted', 'rejected', 'scheduled', 'assigned', 'replied', 'resolved', 'reopened', 'closed', 'merged')", name=op.f('ck_issues_status')),
    sa.CheckConstraint('assigned_member_id IS NULL OR outside_body_id IS NULL', name=op.f('ck_issues_one_assignee')),
    sa.CheckConstraint('escalation_level >= 0', name=op.f('ck_issues_escalation_level')),
    sa.CheckConstraint('merged_into_id IS NULL OR merged_into_id <> id', name=op.f('ck_issues_not_merged_into_self')),
    sa.CheckConstraint('rating_round >= 0', name=op.f('ck_issues_rating_round')),
    sa.ForeignKeyConstraint(['agenda_item_id'], ['agenda_items.id'], name=op.f('fk_issues_agenda_item_id_agenda_items'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['assigned_member_id'], ['members.id'], name=op.f('fk_issues_assigned_member_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_issues_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['escalation_place_id'], ['places.id'], name=op.f('fk_issues_escalation_place_id_places'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merged_into_id'], ['issues.id'], name=op.f('fk_issues_merged_into_id_issues'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['on_behalf_of_id'], ['members.id'], name=op.f('fk_issues_on_behalf_of_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['outside_body_id'], ['outside_bodies.id'], name=op.f('fk_issues_outside_body_id_outside_bodies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_issues_place_id_places'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['raised_by_id'], ['members.id'], name=op.f('fk_issues_raised_by_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['consultation_sessions.id'], name=op.f('fk_issues_session_id_consultation_sessions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issues'))
    )
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issues_assigned_member_id'), ['assigned_member_id'], unique=False)
        batch_op.create_index('ix_issues_community_category', ['community_id', 'category_key'], unique=False)
        batch_op.create_index('ix_issues_community_status', ['community_id', 'status'], unique=False)
        batch_op.create_index('ix_issues_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_issues_place_id'), ['place_id'], unique=False)

    op.create_table('issue_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['members.id'], name=op.f('fk_issue_events_actor_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_events_issue_id_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_events'))
    )
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.create_index('ix_issue_events_issue_at', ['issue_id', 'at'], unique=False)

    op.create_table('issue_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/gif')", name=op.f('ck_issue_photos_content_type')),
    sa.CheckConstraint('size > 0', name=op.f('ck_issue_photos_size')),
    sa.CheckConstraint('width > 0 AND height > 0', name=op.f('ck_issue_photos_dimensions')),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_photos_issue_id_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_photos'))
    )
    with op.batch_alter_table('issue_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_photos_issue_id'), ['issue_id'], unique=False)

    op.create_table('issue_ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_issue_ratings_score')),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_ratings_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_issue_ratings_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_ratings')),
    sa.UniqueConstraint('issue_id', 'member_id', 'round', name=op.f('uq_issue_ratings_issue_id_member_id_round'))
    )
    with op.batch_alter_table('issue_ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_ratings_member_id'), ['member_id'], unique=False)

    op.create_table('issue_supports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_issue_supports_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_issue_supports_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_supports')),
    sa.UniqueConstraint('issue_id', 'member_id', name=op.f('uq_issue_supports_issue_id_member_id'))
    )
    with op.batch_alter_table('issue_supports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_supports_member_id'), ['member_id'], unique=False)


def downgrade() -> None:
    # dropping a table drops its indexes; children before parents
    for table in TABLES:
        op.drop_table(table)
