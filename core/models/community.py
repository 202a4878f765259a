"""Communities (the tenants), their place hierarchy, categories and plugin settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow
from core.registry import pick_name


class Community(Base):
    """One council with its members: a village (村) or an urban community (社区)."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    #: the name by locale, e.g. {"zh_CN": "人福村", "en": "Renfu Village"}
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    default_locale: Mapped[str] = mapped_column(String(16), default="zh_CN")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    places: Mapped[list["Place"]] = relationship(back_populates="community", cascade="all, delete-orphan")

    def name(self, locale: str) -> str:
        return pick_name(self.names, locale)


class Place(Base):
    """A node of the place hierarchy: street → community → grid → building → unit, any depth."""

    __tablename__ = "places"
    __table_args__ = (Index("ix_places_community_parent", "community_id", "parent_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"), nullable=True)
    #: street, community, grid, building, unit, household... (free text, localised at the edge)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    #: the ids from the root to this place, "/1/4/9/", so a subtree is one LIKE away
    path: Mapped[str] = mapped_column(String(512), default="/")

    community: Mapped[Community] = relationship(back_populates="places")
    parent: Mapped["Place | None"] = relationship(remote_side="Place.id")

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to and including this place."""
        return [int(part) for part in self.path.strip("/").split("/") if part]


class CustomCategory(Base):
    """A topic category a community defines for itself, with zh_CN and en names."""

    __tablename__ = "custom_categories"
    __table_args__ = (UniqueConstraint("community_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    color: Mapped[str] = mapped_column(String(16), default="#6b7280")


class CommunityPlugin(Base):
    """Whether a plugin is enabled in a community (no row: the plugin's default)."""

    __tablename__ = "community_plugins"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    plugin_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: set when the plugin was blocked after repeated failures
    blocked_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
