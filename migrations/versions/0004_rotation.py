"""host rotation: talk series, applications to host, rota dates, seats, calendar tokens, reminders

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BUSY = "host_id IS NOT NULL AND state IN ('proposed', 'confirmed', 'overridden')"


def upgrade() -> None:
    op.create_table(
        "rotation_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("format_key", sa.String(length=64), nullable=False),
        sa.Column("category_key", sa.String(length=64), nullable=True),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("dates", sa.JSON(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("per_month", sa.Integer(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("min_capacity", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("min_capacity >= 1", name=op.f("ck_rotation_series_min_capacity_positive")),
        sa.CheckConstraint("duration_minutes > 0 AND duration_minutes <= 720",
                           name=op.f("ck_rotation_series_duration_range")),
        sa.CheckConstraint("per_month IS NULL OR per_month >= 1", name=op.f("ck_rotation_series_per_month_positive")),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"],
                                name=op.f("fk_rotation_series_community_id_communities"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_series")),
    )
    op.create_index(op.f("ix_rotation_series_community_id"), "rotation_series", ["community_id"])
    op.create_table(
        "rotation_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("venue_address", sa.String(length=300), nullable=False),
        sa.Column("venue_label", sa.String(length=200), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("bring_note", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("seats >= 1", name=op.f("ck_rotation_applications_seats_positive")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_rotation_applications_member_id_members"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["series_id"], ["rotation_series.id"],
                                name=op.f("fk_rotation_applications_series_id_rotation_series"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_applications")),
        sa.UniqueConstraint("series_id", "member_id", name=op.f("uq_rotation_applications_series_id_member_id")),
    )
    op.create_index(op.f("ix_rotation_applications_member_id"), "rotation_applications", ["member_id"])
    op.create_index(op.f("ix_rotation_applications_series_id"), "rotation_applications", ["series_id"])
    op.create_table(
        "rotation_application_dates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["rotation_applications.id"],
                                name=op.f("fk_rotation_application_dates_application_id_rotation_applications"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_application_dates")),
        sa.UniqueConstraint("application_id", "day", name=op.f("uq_rotation_application_dates_application_id_day")),
    )
    op.create_table(
        "rotation_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("declined_ids", sa.JSON(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_rotation_slots_ends_after_start")),
        sa.ForeignKeyConstraint(["host_id"], ["members.id"], name=op.f("fk_rotation_slots_host_id_members"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["series_id"], ["rotation_series.id"],
                                name=op.f("fk_rotation_slots_series_id_rotation_series"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["consultation_sessions.id"],
                                name=op.f("fk_rotation_slots_session_id_consultation_sessions"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_slots")),
        sa.UniqueConstraint("series_id", "starts_at", name=op.f("uq_rotation_slots_series_id_starts_at")),
        sa.UniqueConstraint("session_id", name=op.f("uq_rotation_slots_session_id")),
    )
    op.create_index(op.f("ix_rotation_slots_series_id"), "rotation_slots", ["series_id"])
    op.create_index("uq_rotation_slots_host_start", "rotation_slots", ["host_id", "starts_at"], unique=True,
                    sqlite_where=sa.text(BUSY), postgresql_where=sa.text(BUSY))
    op.create_table(
        "rotation_reservations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("bringing", sa.String(length=200), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_rotation_reservations_member_id_members"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["consultation_sessions.id"],
                                name=op.f("fk_rotation_reservations_session_id_consultation_sessions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_reservations")),
        sa.UniqueConstraint("session_id", "member_id", name=op.f("uq_rotation_reservations_session_id_member_id")),
        sa.UniqueConstraint("session_id", "position", name=op.f("uq_rotation_reservations_session_id_position")),
    )
    op.create_index(op.f("ix_rotation_reservations_member_id"), "rotation_reservations", ["member_id"])
    op.create_index("ix_rotation_reservations_session_status", "rotation_reservations", ["session_id", "status"])
    op.create_table(
        "calendar_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_calendar_tokens_member_id_members"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_tokens")),
        sa.UniqueConstraint("member_id", name=op.f("uq_calendar_tokens_member_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_tokens_token_hash")),
    )
    op.create_table(
        "rotation_reminders_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("sent_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_reminders_sent")),
        sa.UniqueConstraint("kind", "target", name=op.f("uq_rotation_reminders_sent_kind_target")),
    )


def downgrade() -> None:
    op.drop_table("rotation_reminders_sent")
    op.drop_table("calendar_tokens")
    op.drop_index("ix_rotation_reservations_session_status", table_name="rotation_reservations")
    op.drop_index(op.f("ix_rotation_reservations_member_id"), table_name="rotation_reservations")
    op.drop_table("rotation_reservations")
    op.drop_index("uq_rotation_slots_host_start", table_name="rotation_slots")
    op.drop_index(op.f("ix_rotation_slots_series_id"), table_name="rotation_slots")
    op.drop_table("rotation_slots")
    op.drop_table("rotation_application_dates")
    op.drop_index(op.f("ix_rotation_applications_series_id"), table_name="rotation_applications")
    op.drop_index(op.f("ix_rotation_applications_member_id"), table_name="rotation_applications")
    op.drop_table("rotation_applications")
    op.drop_index(op.f("ix_rotation_series_community_id"), table_name="rotation_series")
    op.drop_table("rotation_series")
