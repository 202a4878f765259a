"""Members of a community, their roles bound to places, and how they sign in."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow


class Role(str, enum.Enum):
    """Roles, each bound to a place (or to the whole community when no place is given)."""

    RESIDENT = "resident"
    HOST = "host"
    GRID_HEAD = "grid_head"
    BUILDING_HEAD = "building_head"
    UNIT_HEAD = "unit_head"
    DEPARTMENT = "department"
    MODERATOR = "moderator"
    ADMIN = "admin"


#: roles that run the community: they schedule sessions and manage members
STAFF_ROLES = frozenset({Role.ADMIN, Role.MODERATOR})
#: roles that look after residents of a place (print sign-in links, raise issues for them)
PLACE_HEAD_ROLES = frozenset({Role.GRID_HEAD, Role.BUILDING_HEAD, Role.UNIT_HEAD})


class Member(Base):
    """A person in a community (居民). Hosts and staff have a username and password;
    residents usually sign in with a one-time link or QR code."""

    __tablename__ = "members"
    __table_args__ = (Index("ix_members_community_phone", "community_id", "phone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(80))
    username: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: home place (building / unit) of a resident
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="SET NULL"), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)
    large_text: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the household (户) the member belongs to
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id", ondelete="SET NULL"),
                                                     nullable=True, index=True)
    #: E.164 ("+8613812345678"). Personal data (PIPL): never in the public API, exports or logs
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: 房号 / 门牌号. Personal data, as the phone
    room: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: why a member was deactivated: "moved", "deceased", ... (free text, localised at the edge)
    deactivation_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the name in toneless pinyin, "zhang san": lists sort by it
    name_pinyin: Mapped[str] = mapped_column(String(400), default="")
    #: lower-case text search runs LIKE over: name, pinyin, initials, building and unit names
    #: (written by core.services.people.refresh_search_text; no phone in it)
    search_text: Mapped[str] = mapped_column(String(1000), default="")
    #: part of every sign-in cookie (and remember-me cookie); raising it ends them all,
    #: on every device (:func:`core.services.auth.end_sign_ins`)
    sign_in_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    roles: Mapped[list["RoleAssignment"]] = relationship(
        back_populates="member", cascade="all, delete-orphan", lazy="selectin"
    )

    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}


class RoleAssignment(Base):
    """``member`` holds ``role`` over ``place`` and everything below it (no place: the whole community)."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("member_id", "role", "place_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    place_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"), nullable=True)

    member: Mapped[Member] = relationship(back_populates="roles")


class SignInToken(Base):
    """A one-time sign-in link (and its QR code) a grid head prints or shows to a resident.
    Only a hash of the token is stored."""

    __tablename__ = "sign_in_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    """A bearer token for the JSON API (scripts, the plugin kit). Only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
