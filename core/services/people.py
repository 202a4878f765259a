"""Finding members the way staff do (by name, pinyin, initials, phone tail, building or
unit), and deactivating / reactivating them. The pinyin columns are written when a member is written (``refresh_search_text``),
so a search is one SQL ``LIKE``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.db import utcnow
from core.errors import Invalid
from core.i18n import N_
from core.models import Community, Member, Place
from core.models.member import Role
from core.people import name_pinyin, search_terms, search_text
from core.services import audit
from core.services.access import require_role


def place_names(db: Session, place_id: int | None) -> list[str]:
    """The names of a place and its ancestors below the community (grid, building, unit)."""
    if place_id is None:
        return []
    place = db.get(Place, place_id)
    if place is None:
        return []
    ids = place.ancestor_ids()
    by_id = {p.id: p for p in db.scalars(select(Place).where(Place.id.in_(ids)))}
    return [by_id[i].name for i in ids if i in by_id and by_id[i].kind not in ("street", "community")]


def refresh_search_text(db: Session, member: Member) -> None:
    """Recompute ``member``'s pinyin sort key and search text (after a rename or a move)."""
    member.name_pinyin = name_pinyin(member.display_name)
    member.search_text = search_text(member.display_name, place_names(db, member.place_id))


def find_members(db: Session, *, community: Community, query: str, limit: int = 50,
                 include_inactive: bool = False) -> list[Member]:
    """Members of ``community`` whose name, pinyin ("zhang san", "zhangsan"), initials
    ("zs"), building or unit name contains ``query``, or whose phone ends with it (3 to 11
    digits); sorted by pinyin. An empty query finds nobody."""
    text, tail = search_terms(query)
    if not text:
        return []
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    match = Member.search_text.like(f"%{escaped}%", escape="\\")
    if tail is not None:
        match = or_(match, Member.phone.like(f"%{tail}"))
    stmt = select(Member).where(Member.community_id == community.id, match)
    if not include_inactive:
        stmt = stmt.where(Member.active.is_(True))
    return list(db.scalars(stmt.order_by(Member.name_pinyin, Member.id).limit(limit)))


def deactivate_member(db: Session, *, actor: Member | None, member: Member, reason: str,
                      now: datetime | None = None) -> Member:
    """Deactivate a member who moved away or died: the record, their votes and issues are
    kept; they can no longer sign in and are no longer listed. An administrator of the
    community (``actor`` None: the operator); the heads' rights come with the pages.
    Recorded in the audit log (the reason too, which must not hold personal data)."""
    if actor is not None:
        require_role(db, actor, [Role.ADMIN], community_id=member.community_id)
    if not reason.strip():
        raise Invalid(N_("Give a reason."), field="reason")
    now = now or utcnow()
    if member.active:
        member.active = False
        member.deactivated_at = now
        member.deactivation_reason = reason.strip()[:200]
        audit.record(db, actor=actor, community=db.get(Community, member.community_id),
                     action="member.deactivate", target=f"member:{member.id}",
                     details={"reason": member.deactivation_reason}, now=now)
    db.flush()
    return member


def reactivate_member(db: Session, *, actor: Member | None, member: Member, now: datetime | None = None) -> Member:
    """Undo a deactivation (the resident came back, a mistake). Recorded."""
    if actor is not None:
        require_role(db, actor, [Role.ADMIN], community_id=member.community_id)
    if not member.active:
        member.active = True
        member.deactivated_at = None
        member.deactivation_reason = None
        audit.record(db, actor=actor, community=db.get(Community, member.community_id),
                     action="member.reactivate", target=f"member:{member.id}", details={}, now=now or utcnow())
    db.flush()
    return member
