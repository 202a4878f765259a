"""Volunteer points: the ledger, the balance, service-day sign-ups.

Revision ID: vp0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "vp0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plugin_volunteer_points_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source_kind", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE",
                                name="fk_plugin_volunteer_points_ledger_community_id_communities"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE",
                                name="fk_plugin_volunteer_points_ledger_member_id_members"),
        sa.PrimaryKeyConstraint("id", name="pk_plugin_volunteer_points_ledger"),
        sa.UniqueConstraint("member_id", "source_kind", "source_id",
                            name="uq_plugin_volunteer_points_ledger_source"),
    )
    op.create_index("ix_plugin_volunteer_points_ledger_community_id", "plugin_volunteer_points_ledger",
                    ["community_id"])
    op.create_index("ix_plugin_volunteer_points_ledger_member_id", "plugin_volunteer_points_ledger", ["member_id"])
    op.create_table(
        "plugin_volunteer_points_balance",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.CheckConstraint("points >= 0", name="ck_plugin_volunteer_points_balance_not_negative"),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE",
                                name="fk_plugin_volunteer_points_balance_community_id_communities"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE",
                                name="fk_plugin_volunteer_points_balance_member_id_members"),
        sa.PrimaryKeyConstraint("member_id", name="pk_plugin_volunteer_points_balance"),
    )
    op.create_index("ix_plugin_volunteer_points_balance_community_id", "plugin_volunteer_points_balance",
                    ["community_id"])
    op.create_table(
        "plugin_volunteer_points_service_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("signed_up_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE",
                                name="fk_plugin_volunteer_points_service_day_community_id_communities"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE",
                                name="fk_plugin_volunteer_points_service_day_member_id_members"),
        sa.PrimaryKeyConstraint("id", name="pk_plugin_volunteer_points_service_day"),
        sa.UniqueConstraint("member_id", "day", name="uq_plugin_volunteer_points_service_day_member_id_day"),
    )
    op.create_index("ix_plugin_volunteer_points_service_day_community_id", "plugin_volunteer_points_service_day",
                    ["community_id"])


def downgrade() -> None:
    op.drop_table("plugin_volunteer_points_service_day")
    op.drop_table("plugin_volunteer_points_balance")
    op.drop_table("plugin_volunteer_points_ledger")
