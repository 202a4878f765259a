"""Consultation sessions: scheduling, the agenda, and the draft → scheduled → live → closed lifecycle."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import events
from core.catalog import Catalog
from core.db import lock_row, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.i18n import N_
from core.models import AgendaItem, Community, ConsultationSession, Member
from core.models.member import Role, STAFF_ROLES
from core.models.session import TRANSITIONS, SessionStatus
from core.services import categories as categories_service
from core.services.access import has_role, require_role
from core.services.plugins import enabled_checker

#: who may schedule sessions
ORGANISER_ROLES = STAFF_ROLES | {Role.HOST, Role.GRID_HEAD}
#: join codes: no 0/O, 1/I/L, so they can be read aloud and typed by anyone (31^8 ≈ 8.5e11)
JOIN_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
JOIN_CODE_LENGTH = 8
MAX_DURATION = timedelta(hours=12)


def new_join_code() -> str:
    return "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))


def can_run(db: Session, actor: Member | None, session: ConsultationSession) -> bool:
    """The session's host, or staff of its community."""
    if actor is not None and session.host_id == actor.id and actor.community_id == session.community_id:
        return True
    return has_role(db, actor, STAFF_ROLES, community_id=session.community_id)


def can_see_join_code(db: Session, viewer: Member | None, session: ConsultationSession) -> bool:
    """The join code is for the session's people: active members of its community (the
    host and staff among them). It is printed or shown in the room for guests; it is never
    listed to strangers, anonymous callers or members of another community."""
    return viewer is not None and viewer.active and viewer.community_id == session.community_id


def get_session(db: Session, session_id: int, *, community_id: int | None = None) -> ConsultationSession:
    session = db.get(ConsultationSession, session_id)
    if session is None or (community_id is not None and session.community_id != community_id):
        raise NotFound(N_("No such session."), field="session_id")
    return session


def _check_fields(db: Session, catalog: Catalog, community: Community, data: dict[str, Any]) -> None:
    enabled = enabled_checker(db, community.id, catalog.pm)
    if "format_key" in data and catalog.formats.get(data["format_key"], enabled) is None:
        raise Invalid(N_("Unknown format."), field="format_key")
    if data.get("category_key") is not None:
        categories_service.require_category(db, catalog, community, data["category_key"])
    starts, ends = data.get("starts_at"), data.get("ends_at")
    if starts is not None and ends is not None:
        if ends <= starts:
            raise Invalid(N_("The end must be after the start."), field="ends_at")
        if ends - starts > MAX_DURATION:
            raise Invalid(N_("A session can last at most 12 hours."), field="ends_at")
    if data.get("capacity") is not None and data["capacity"] < 1:
        raise Invalid(N_("Capacity must be at least 1."), field="capacity")
    if data.get("host_id") is not None:
        host = db.get(Member, data["host_id"])
        if host is None or host.community_id != community.id:
            raise NotFound(N_("No such record in this community."), field="host_id")


def create_session(db: Session, *, actor: Member | None, catalog: Catalog, community: Community,
                   format_key: str, title: str, starts_at: datetime, ends_at: datetime | None = None,
                   description: str = "", host_id: int | None = None, venue: str = "",
                   capacity: int | None = None, category_key: str | None = None, allow_guests: bool = False,
                   agenda: list[str] | None = None, status: str = SessionStatus.DRAFT.value,
                   now: datetime | None = None) -> ConsultationSession:
    """Schedule a session. Staff, hosts and grid heads may; ``actor`` None is the operator."""
    if actor is not None:
        require_role(db, actor, ORGANISER_ROLES, community_id=community.id)
    now = now or utcnow()
    fmt = catalog.formats.get(format_key)
    if ends_at is None:
        ends_at = starts_at + timedelta(hours=2)
    if not title.strip():
        raise Invalid(N_("A title is required."), field="title")
    data = dict(format_key=format_key, category_key=category_key, starts_at=starts_at, ends_at=ends_at,
                capacity=capacity, host_id=host_id)
    _check_fields(db, catalog, community, data)
    if status not in (SessionStatus.DRAFT.value, SessionStatus.SCHEDULED.value):
        raise Invalid(N_("A new session is a draft or scheduled."), field="status")
    if status == SessionStatus.SCHEDULED.value and starts_at < now - timedelta(minutes=5):
        raise Invalid(N_("The start is in the past."), field="starts_at")
    if capacity is None and fmt is not None:
        capacity = fmt.default_capacity
    session = ConsultationSession(
        community_id=community.id, format_key=format_key, title=title.strip(), description=description,
        host_id=host_id if host_id is not None else (actor.id if actor else None), venue=venue,
        capacity=capacity, starts_at=starts_at, ends_at=ends_at, status=status, category_key=category_key,
        allow_guests=allow_guests,
    )
    if status != SessionStatus.DRAFT.value:
        session.join_code = new_join_code()
    db.add(session)
    db.flush()
    for position, item in enumerate(agenda or [], start=1):
        db.add(AgendaItem(session_id=session.id, position=position, title=item))
    db.flush()
    db.refresh(session)
    return session


EDITABLE = ("title", "description", "venue", "capacity", "starts_at", "ends_at", "category_key", "allow_guests",
            "host_id", "format_key")


def update_session(db: Session, *, actor: Member, catalog: Catalog, session: ConsultationSession,
                   changes: dict[str, Any], expected_version: int | None = None) -> ConsultationSession:
    """Edit a session that is not closed. ``expected_version`` guards against two staff
    editing at once: a stale version is a Conflict."""
    if not can_run(db, actor, session):
        raise Forbidden(N_("Only the host or staff can change this session."))
    if session.status == SessionStatus.CLOSED.value:
        raise Conflict(N_("This session is closed."), field="status")
    if expected_version is not None and expected_version != session.version:
        raise Conflict(N_("Someone else changed this session; reload and try again."), field="version")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(N_("This field cannot be changed."), field=sorted(unknown)[0])
    community = db.get(Community, session.community_id)
    merged = {"starts_at": session.starts_at, "ends_at": session.ends_at, **changes}
    _check_fields(db, catalog, community, merged)
    if "title" in changes and not str(changes["title"]).strip():
        raise Invalid(N_("A title is required."), field="title")
    for key, value in changes.items():
        setattr(session, key, value)
    db.flush()
    return session


def change_status(db: Session, *, actor: Member | None, session: ConsultationSession, status: str,
                  now: datetime | None = None) -> ConsultationSession:
    """Move a session along its lifecycle; queues ``courtyard_session_status_changed``."""
    if actor is not None and not can_run(db, actor, session):
        raise Forbidden(N_("Only the host or staff can change this session."))
    # the row is locked and read again before its status is checked: two hosts closing
    # at once take turns, and the second is told it is closed already
    lock_row(db, ConsultationSession, session.id)
    old = session.status
    if status not in TRANSITIONS.get(old, set()):
        raise Conflict(N_("A session cannot go from %(old)s to %(new)s."), field="status", old=old, new=status)
    session.status = status
    if status in (SessionStatus.SCHEDULED.value, SessionStatus.LIVE.value) and not session.join_code:
        session.join_code = new_join_code()
    if status == SessionStatus.CLOSED.value:
        session.join_code = None  # codes expire when the session closes
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as exc:  # pragma: no cover - a join code collision, ~1e-12
        raise Conflict(N_("Please try again."), field="status") from exc
    events.queue(db, "courtyard_session_status_changed", community_id=session.community_id,
                 session=session, old_status=old, new_status=status, actor=actor)
    return session


def add_agenda_item(db: Session, *, actor: Member, catalog: Catalog, session: ConsultationSession, title: str,
                    notes: str = "", category_key: str | None = None) -> AgendaItem:
    if not can_run(db, actor, session):
        raise Forbidden(N_("Only the host or staff can change this session."))
    lock_row(db, ConsultationSession, session.id)  # the next position, one item at a time
    if session.status == SessionStatus.CLOSED.value:
        raise Conflict(N_("This session is closed."), field="status")
    if not title.strip():
        raise Invalid(N_("A title is required."), field="title")
    if category_key is not None:
        categories_service.require_category(db, catalog, db.get(Community, session.community_id), category_key)
    position = (db.scalar(select(func.max(AgendaItem.position)).where(AgendaItem.session_id == session.id))
                or 0) + 1
    item = AgendaItem(session_id=session.id, position=position, title=title.strip(), notes=notes,
                      category_key=category_key)
    db.add(item)
    db.flush()
    db.refresh(session)
    return item


def list_sessions(db: Session, *, community: Community, viewer: Member | None = None, upcoming_only: bool = False,
                  now: datetime | None = None, category_key: str | None = None,
                  limit: int = 100) -> list[ConsultationSession]:
    """Sessions residents can see (drafts only for organisers), soonest first."""
    now = now or utcnow()
    query = select(ConsultationSession).where(ConsultationSession.community_id == community.id)
    if not has_role(db, viewer, ORGANISER_ROLES, community_id=community.id):
        query = query.where(ConsultationSession.status != SessionStatus.DRAFT.value)
    if upcoming_only:
        query = query.where(ConsultationSession.ends_at >= now,
                            ConsultationSession.status != SessionStatus.CLOSED.value)
    if category_key:
        query = query.where(ConsultationSession.category_key == category_key)
    query = query.order_by(ConsultationSession.starts_at, ConsultationSession.id).limit(limit)
    return list(db.scalars(query))


def session_by_join_code(db: Session, code: str) -> ConsultationSession:
    normalised = code.strip().upper().replace(" ", "").replace("-", "")
    session = db.scalar(select(ConsultationSession).where(ConsultationSession.join_code == normalised))
    if session is None or session.status == SessionStatus.CLOSED.value:
        raise NotFound(N_("No open session has this code."), field="code")
    return session
