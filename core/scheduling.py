"""Plain data for host rotation: what a host-rotation policy receives and returns.

The policy itself is the ``courtyard_plan_host_rotation`` hook (``firstresult``);
the built-in one lives in ``plugins/host_rotation`` and is ``trylast`` so that a
community plugin (by building, by lottery...) can replace it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Slot:
    """One date of a series that needs a host."""

    start: datetime
    end: datetime
    min_capacity: int = 1

    @property
    def day(self) -> date:
        return self.start.date()

    def overlaps(self, other: "Slot") -> bool:
        """True when the two slots share some time (half-open: one ending at 16:00 and
        another starting at 16:00 do not overlap). One host cannot be in both."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Candidate:
    """A resident who applied to host: the dates they can host and how many their home seats."""

    member_id: int
    capacity: int
    available: frozenset[date] = field(default_factory=frozenset)

    def can_host(self, slot: Slot) -> bool:
        """True when ``slot``'s date is one of ours and our home seats enough people."""
        return slot.day in self.available and self.capacity >= slot.min_capacity


@dataclass(frozen=True)
class PastHosting:
    """A session someone already hosted (or is confirmed to host)."""

    member_id: int
    start: datetime


@dataclass(frozen=True)
class Assignment:
    """The proposed host for ``slot`` (``member_id`` None: nobody can host that date)."""

    slot: Slot
    member_id: int | None
