"""The in-app inbox; plugins deliver further through ``courtyard_notification_sent``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import events
from core.db import utcnow
from core.errors import NotFound
from core.i18n import N_
from core.models import Member, Notification


def notify(db: Session, *, recipients: Iterable[Member], kind: str, message: str, params: dict[str, Any] | None = None,
           link: str | None = None, now: datetime | None = None) -> list[Notification]:
    now = now or utcnow()
    out = []
    for member in {m.id: m for m in recipients}.values():
        note = Notification(member_id=member.id, kind=kind, message=message, params=dict(params or {}), link=link,
                            created_at=now)
        db.add(note)
        out.append(note)
        db.flush()
        events.queue(db, "courtyard_notification_sent", community_id=member.community_id, notification=note)
    return out


def inbox(db: Session, *, actor: Member, limit: int = 50) -> list[Notification]:
    return list(db.scalars(select(Notification).where(Notification.member_id == actor.id)
                           .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def mark_read(db: Session, *, actor: Member, notification_id: int, now: datetime | None = None) -> Notification:
    note = db.get(Notification, notification_id)
    if note is None or note.member_id != actor.id:
        raise NotFound(N_("No such notification."), field="notification_id")
    note.read_at = note.read_at or (now or utcnow())
    db.flush()
    return note
