"""Households (户): the residents who live together, one of them the representative.

Village assemblies count households, not heads; a roster groups its rows into
households by 户号 (a number within a unit or building), by "same household as"
(同户) or by room (房号).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow


class Household(Base):
    """A household of a community, living at ``place`` (the unit or building it is in)."""

    __tablename__ = "households"
    __table_args__ = (Index("ix_households_community_place", "community_id", "place_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="SET NULL"), nullable=True)
    #: 户号 as the council writes it ("0301", "3-2"); None for a household grouped otherwise
    number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: the room (房号) a household without a 户号 was grouped by
    room: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: the member who speaks for the household (户主 / 户代表); members.household_id points back,
    #: so this side of the cycle is created with ALTER (use_alter)
    representative_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL", use_alter=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
