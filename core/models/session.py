"""Consultation sessions (议事会) and their agenda."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


class SessionStatus(str, enum.Enum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LIVE = "live"
    CLOSED = "closed"


#: allowed moves: draft → scheduled → live → closed (a scheduled session may go back to draft)
TRANSITIONS: dict[str, set[str]] = {
    SessionStatus.DRAFT.value: {SessionStatus.SCHEDULED.value},
    SessionStatus.SCHEDULED.value: {SessionStatus.LIVE.value, SessionStatus.DRAFT.value},
    SessionStatus.LIVE.value: {SessionStatus.CLOSED.value},
    SessionStatus.CLOSED.value: set(),
}


class ConsultationSession(Base):
    """One consultation meeting: a courtyard tea talk, a golden microphone forum..."""

    __tablename__ = "consultation_sessions"
    __table_args__ = (Index("ix_consultation_sessions_community_starts", "community_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    format_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    host_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    venue: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.DRAFT.value)
    category_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: short code residents type or scan to join; unique while it is in use
    join_code: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    allow_guests: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: optimistic concurrency: two staff editing at once cannot overwrite each other
    version: Mapped[int] = mapped_column(Integer, default=1)

    host = relationship("Member", foreign_keys=[host_id], lazy="joined")
    agenda: Mapped[list["AgendaItem"]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="AgendaItem.position", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}


class AgendaItem(Base):
    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("session_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    category_key: Mapped[str | None] = mapped_column(String(64), nullable=True)

    session: Mapped[ConsultationSession] = relationship(back_populates="agenda")
