"""Residents' issues (民情 / 诉求): raised, triaged, assigned to a department (职能部门),
answered, resolved and rated by the residents — the golden microphone loop.

The rules that must hold under a race live in the database: one "me too" per member and
issue, one rating per member, issue and rating round, a rating from 1 to 5, a photo of a
known image type, an issue never merged into itself and never assigned twice at once.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


class IssueStatus(str, enum.Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    ASSIGNED = "assigned"
    REPLIED = "replied"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    MERGED = "merged"


STATUS_VALUES = tuple(s.value for s in IssueStatus)
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OutsideBody(Base):
    """An outside body registered in a community — a company, a utility, a district bureau
    without a member account — that issues can be assigned to (staff record its replies)."""

    __tablename__ = "outside_bodies"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    contact: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Issue(Base):
    """A problem a resident (or a grid head for them) raised, tracked to its result."""

    __tablename__ = "issues"
    __table_args__ = (
        CheckConstraint(_in("status", STATUS_VALUES), name="status"),
        CheckConstraint("escalation_level >= 0", name="escalation_level"),
        CheckConstraint("rating_round >= 0", name="rating_round"),
        CheckConstraint("merged_into_id IS NULL OR merged_into_id <> id", name="not_merged_into_self"),
        CheckConstraint("assigned_member_id IS NULL OR outside_body_id IS NULL", name="one_assignee"),
        Index("ix_issues_community_status", "community_id", "status"),
        Index("ix_issues_community_category", "community_id", "category_key"),
        Index("ix_issues_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    place_id: Mapped[int] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"), index=True)
    category_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=IssueStatus.OPEN.value)
    #: who typed it in; ``on_behalf_of`` the resident it is for when a grid head raised it
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"),
                                                        nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    #: the forum session (and its agenda item) the issue was scheduled for
    session_id: Mapped[int | None] = mapped_column(ForeignKey("consultation_sessions.id", ondelete="SET NULL"),
                                                   nullable=True)
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_items.id", ondelete="SET NULL"),
                                                       nullable=True)
    #: the department: a member with the department role, or an outside body
    assigned_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"),
                                                           nullable=True, index=True)
    outside_body_id: Mapped[int | None] = mapped_column(ForeignKey("outside_bodies.id", ondelete="SET NULL"),
                                                        nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: 0 = handled where it was raised; each overdue period moves it one level up
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalation_place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="SET NULL"),
                                                            nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"), nullable=True)
    #: how many times it was marked resolved; ratings belong to one round
    rating_round: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    place = relationship("Place", foreign_keys=[place_id], lazy="joined")
    escalation_place = relationship("Place", foreign_keys=[escalation_place_id])
    raised_by = relationship("Member", foreign_keys=[raised_by_id])
    on_behalf_of = relationship("Member", foreign_keys=[on_behalf_of_id])
    assigned_member = relationship("Member", foreign_keys=[assigned_member_id])
    outside_body = relationship(OutsideBody)
    events: Mapped[list["IssueEvent"]] = relationship(
        back_populates="issue", cascade="all, delete-orphan", order_by="(IssueEvent.at, IssueEvent.id)"
    )
    photos: Mapped[list["IssuePhoto"]] = relationship(
        back_populates="issue", cascade="all, delete-orphan", order_by="IssuePhoto.id"
    )
    supports: Mapped[list["IssueSupport"]] = relationship(back_populates="issue", cascade="all, delete-orphan")
    ratings: Mapped[list["IssueRating"]] = relationship(back_populates="issue", cascade="all, delete-orphan")

    @property
    def resident_id(self) -> int | None:
        """The resident the issue is for: the one it was raised on behalf of, else the raiser."""
        return self.on_behalf_of_id or self.raised_by_id

    def assignee_name(self) -> str | None:
        if self.assigned_member is not None:
            return self.assigned_member.display_name
        if self.outside_body is not None:
            return self.outside_body.name
        return None


class IssueSupport(Base):
    """A "me too" (我也遇到了): one per member and issue."""

    __tablename__ = "issue_supports"
    __table_args__ = (UniqueConstraint("issue_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    issue: Mapped[Issue] = relationship(back_populates="supports")


class IssueEvent(Base):
    """One line of an issue's timeline: who did what, when (``data`` holds the details:
    a reason, a reply, the department and due date, the places of an escalation)."""

    __tablename__ = "issue_events"
    __table_args__ = (Index("ix_issue_events_issue_at", "issue_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    issue: Mapped[Issue] = relationship(back_populates="events")
    actor = relationship("Member", lazy="joined")


class IssuePhoto(Base):
    """A photo attached to an issue, stored in the database after its bytes were checked
    to be a JPEG, PNG, WebP or GIF of sane size and dimensions."""

    __tablename__ = "issue_photos"
    __table_args__ = (
        CheckConstraint(_in("content_type", PHOTO_TYPES), name="content_type"),
        CheckConstraint("size > 0", name="size"),
        CheckConstraint("width > 0 AND height > 0", name="dimensions"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    issue: Mapped[Issue] = relationship(back_populates="photos")


class IssueRating(Base):
    """A resident's rating (1–5) of how well a resolved issue was carried out, in one
    rating round (an issue reopened and resolved again is rated again)."""

    __tablename__ = "issue_ratings"
    __table_args__ = (
        UniqueConstraint("issue_id", "member_id", "round"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    issue: Mapped[Issue] = relationship(back_populates="ratings")
