"""The plugin's own tables, all prefixed ``plugin_volunteer_points_``.

The ledger is the record: one row per award or exchange. ``(member, source kind,
source id)`` is unique, so an event (a session closing, an issue resolved, a service
day, an exchange request) is never counted twice, even when a hook is called again.
The balance row is the running sum the exchange checks and debits in one conditional
``UPDATE``; a CHECK keeps it from going negative under a race.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

PREFIX = "plugin_volunteer_points_"


class LedgerEntry(Base):
    __tablename__ = f"{PREFIX}ledger"
    # named here: the naming convention's name would pass PostgreSQL's 63-character limit
    __table_args__ = (UniqueConstraint("member_id", "source_kind", "source_id", name=f"uq_{PREFIX}ledger_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    #: positive when earned, negative when exchanged
    points: Mapped[int] = mapped_column(Integer)
    #: why: attended, hosted, issue_resolved, service_day, exchange
    reason: Mapped[str] = mapped_column(String(32))
    source_kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    #: for an exchange: the catalogue item
    item: Mapped[str | None] = mapped_column(String(32), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Balance(Base):
    __tablename__ = f"{PREFIX}balance"
    __table_args__ = (CheckConstraint("points >= 0", name="not_negative"),)

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    points: Mapped[int] = mapped_column(Integer, default=0)


class ServiceDaySignup(Base):
    __tablename__ = f"{PREFIX}service_day"
    __table_args__ = (UniqueConstraint("member_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    signed_up_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
