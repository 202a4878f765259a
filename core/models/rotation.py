"""Host rotation (院长轮值) for courtyard tea talks: a series of talks, residents'
applications to host at home, the planned dates, seat reservations, calendar tokens
and the reminders already sent.

The home address of a host (``HostApplication.venue_address``) is private: only the
host, staff and people holding a seat see it (``core.services.rotation.can_see_address``);
the public label ("王阿婆家小院") is what lists, feeds and the notice board show.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from sqlalchemy import (JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint,
                        text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


class SlotState(str, enum.Enum):
    OPEN = "open"              # nobody can host (yet)
    PROPOSED = "proposed"      # the policy proposed a host; waiting for them
    CONFIRMED = "confirmed"    # the host said yes: a session exists
    OVERRIDDEN = "overridden"  # staff chose the host: a session exists
    CANCELLED = "cancelled"    # staff called the date off (its session is withdrawn)


#: states whose host is fixed (re-planning keeps them) and which have a session
FIXED_STATES = frozenset({SlotState.CONFIRMED.value, SlotState.OVERRIDDEN.value})
#: states in which a host is holding the time
BUSY_STATES = frozenset({SlotState.PROPOSED.value, SlotState.CONFIRMED.value, SlotState.OVERRIDDEN.value})


class ReservationStatus(str, enum.Enum):
    RESERVED = "reserved"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class RotationSeries(Base):
    """A series of courtyard talks: when they happen (weekdays + time, optionally at most
    ``per_month`` a month, or explicit dates), how long, how many seats a home needs."""

    __tablename__ = "rotation_series"
    __table_args__ = (
        CheckConstraint("min_capacity >= 1", name="min_capacity_positive"),
        CheckConstraint("duration_minutes > 0 AND duration_minutes <= 720", name="duration_range"),
        CheckConstraint("per_month IS NULL OR per_month >= 1", name="per_month_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    format_key: Mapped[str] = mapped_column(String(64), default="courtyard_talk")
    category_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: weekdays, Monday = 0 ... Sunday = 6 (empty when ``dates`` lists the dates)
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)
    #: explicit dates "YYYY-MM-DD" (used instead of weekdays when not empty)
    dates: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: local start time "HH:MM" in the community's time zone
    start_time: Mapped[str] = mapped_column(String(5), default="14:00")
    #: at most this many talks a calendar month (the first matching dates), or no limit
    per_month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    min_capacity: Mapped[int] = mapped_column(Integer, default=8)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: optimistic locking of the plan: every change bumps it; a stale edit is refused
    version: Mapped[int] = mapped_column(Integer, default=1)


class HostApplication(Base):
    """A resident offers their home to host talks of a series on some dates."""

    __tablename__ = "rotation_applications"
    __table_args__ = (
        UniqueConstraint("series_id", "member_id"),
        CheckConstraint("seats >= 1", name="seats_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("rotation_series.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    #: the home address: private (attendees with a seat, the host and staff only)
    venue_address: Mapped[str] = mapped_column(String(300))
    #: the public label, e.g. "王阿婆家小院"
    venue_label: Mapped[str] = mapped_column(String(200))
    seats: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(200))
    #: what the host asks guests to bring (chairs, cups...)
    bring_note: Mapped[str] = mapped_column(String(300), default="")
    #: active / withdrawn
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dates: Mapped[list["ApplicationDate"]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="ApplicationDate.day", lazy="selectin")
    member = relationship("Member", lazy="joined")


class ApplicationDate(Base):
    __tablename__ = "rotation_application_dates"
    __table_args__ = (UniqueConstraint("application_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("rotation_applications.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)

    application: Mapped[HostApplication] = relationship(back_populates="dates")


class PlannedSlot(Base):
    """One date of a series and who hosts it. A confirmed (or staff-chosen) slot has a
    :class:`ConsultationSession`; a cancelled one keeps its session link so calendars
    can show the cancellation."""

    __tablename__ = "rotation_slots"
    __table_args__ = (
        UniqueConstraint("series_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # one host, one place at a time: never two live assignments starting together
        Index("uq_rotation_slots_host_start", "host_id", "starts_at", unique=True,
              sqlite_where=text("host_id IS NOT NULL AND state IN ('proposed', 'confirmed', 'overridden')"),
              postgresql_where=text("host_id IS NOT NULL AND state IN ('proposed', 'confirmed', 'overridden')")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("rotation_series.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=SlotState.OPEN.value)
    #: members who declined this date (not proposed again for it)
    declined_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultation_sessions.id", ondelete="SET NULL"), nullable=True, unique=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    host = relationship("Member", foreign_keys=[host_id], lazy="joined")
    session = relationship("ConsultationSession", foreign_keys=[session_id], lazy="joined")


class SeatReservation(Base):
    """A seat at a talk, or a place on its waiting list (``position`` orders both)."""

    __tablename__ = "rotation_reservations"
    __table_args__ = (
        UniqueConstraint("session_id", "member_id"),
        UniqueConstraint("session_id", "position"),
        Index("ix_rotation_reservations_session_status", "session_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ReservationStatus.RESERVED.value)
    position: Mapped[int] = mapped_column(Integer)
    #: what they bring: "two bamboo chairs", "cups"
    bringing: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    member = relationship("Member", lazy="joined")


class CalendarToken(Base):
    """The secret of a member's personal calendar feed URL (only its hash is stored)."""

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderSent(Base):
    """A reminder already sent: the unique key is what makes sending idempotent."""

    __tablename__ = "rotation_reminders_sent"
    __table_args__ = (UniqueConstraint("kind", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: what it was about and for whom, e.g. "session:12@2026-03-07T06:00:00+00:00:member:5"
    target: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<ReminderSent {self.kind} {self.target}>"
