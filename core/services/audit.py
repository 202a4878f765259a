"""The audit log: ``record`` one administrative action; read them back per community."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.models import AuditLog, Community, Member


def record(db: Session, *, actor: Member | None, community: Community | None, action: str, target: str = "",
           details: dict[str, Any] | None = None, now: datetime | None = None) -> AuditLog:
    """Record that ``actor`` (None: the operator at the command line) did ``action`` to
    ``target`` in ``community``. ``details`` must hold no personal data (no phone, no room)."""
    entry = AuditLog(community_id=community.id if community is not None else None,
                     actor_id=actor.id if actor is not None else None,
                     actor_name=actor.display_name if actor is not None else "",
                     action=action, target=target[:200], details=dict(details or {}), at=now or utcnow())
    db.add(entry)
    db.flush()
    return entry


def entries(db: Session, *, community: Community, limit: int = 200) -> list[AuditLog]:
    """The community's most recent entries first."""
    return list(db.scalars(select(AuditLog).where(AuditLog.community_id == community.id)
                           .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(limit)))
