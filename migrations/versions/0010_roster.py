"""roster: households, members' contact data, lifecycle and pinyin search columns, the
audit log

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import core.db


revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('households',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.String(length=32), nullable=True),
    sa.Column('room', sa.String(length=32), nullable=True),
    sa.Column('representative_id', sa.Integer(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_households_community_id_communities'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_households_place_id_places'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['representative_id'], ['members.id'],
                            name=op.f('fk_households_representative_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households'))
    )
    op.create_index('ix_households_community_place', 'households', ['community_id', 'place_id'], unique=False)
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('community_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['members.id'], name=op.f('fk_audit_log_actor_id_members'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_audit_log_community_id_communities'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_community_at', 'audit_log', ['community_id', 'at'], unique=False)
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('household_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('room', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('note', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('deactivated_at', core.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deactivation_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('name_pinyin', sa.String(length=400), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('search_text', sa.String(length=1000), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_members_household_id'), ['household_id'], unique=False)
        batch_op.create_index('ix_members_community_phone', ['community_id', 'phone'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_members_household_id_households'), 'households',
                                    ['household_id'], ['id'], ondelete='SET NULL')
    _fill_search_columns()
    # the server defaults only filled the existing rows; the models set the values
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.alter_column('name_pinyin', server_default=None)
        batch_op.alter_column('search_text', server_default=None)


def _fill_search_columns() -> None:
    """Members made before this revision get their pinyin sort key and search text."""
    from core.people import name_pinyin, search_text

    conn = op.get_bind()
    places = sa.table('places', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('name', sa.String), sa.column('path', sa.String))
    members = sa.table('members', sa.column('id', sa.Integer), sa.column('display_name', sa.String),
                       sa.column('place_id', sa.Integer), sa.column('name_pinyin', sa.String),
                       sa.column('search_text', sa.String))
    by_id = {row.id: row for row in conn.execute(sa.select(places))}
    updates = []
    for member in conn.execute(sa.select(members.c.id, members.c.display_name, members.c.place_id)):
        place = by_id.get(member.place_id)
        ids = [int(part) for part in place.path.strip('/').split('/') if part] if place is not None else []
        names = [by_id[i].name for i in ids if i in by_id and by_id[i].kind not in ('street', 'community')]
        updates.append({'member_id': member.id, 'pinyin': name_pinyin(member.display_name),
                        'text': search_text(member.display_name, names)})
    if updates:
        conn.execute(members.update().where(members.c.id == sa.bindparam('member_id'))
                     .values(name_pinyin=sa.bindparam('pinyin'), search_text=sa.bindparam('text')), updates)


def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_members_household_id_households'), type_='foreignkey')
        batch_op.drop_index('ix_members_community_phone')
        batch_op.drop_index(batch_op.f('ix_members_household_id'))
        batch_op.drop_column('search_text')
        batch_op.drop_column('name_pinyin')
        batch_op.drop_column('deactivation_reason')
        batch_op.drop_column('deactivated_at')
        batch_op.drop_column('note')
        batch_op.drop_column('room')
        batch_op.drop_column('phone')
        batch_op.drop_column('household_id')
    op.drop_index('ix_audit_log_community_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_households_community_place', table_name='households')
    op.drop_table('households')
