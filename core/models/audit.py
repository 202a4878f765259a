"""The audit log: every administrative action (an import, a role change, a sign-in link
issued, a deactivation) with who did it and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime


class AuditLog(Base):
    """One administrative action. The actor's name is copied so the trail survives the
    actor's erasure; ``actor_id`` None with an empty name is the operator (the CLI)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_community_at", "community_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"),
                                                     nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(80), default="")
    #: dotted, e.g. "community.create", "roster.import", "sign_in_link.issue"
    action: Mapped[str] = mapped_column(String(64))
    #: what it was done to, e.g. "member:12", "community:renfu"
    target: Mapped[str] = mapped_column(String(200), default="")
    #: counts and ids, never phone numbers or rooms
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
