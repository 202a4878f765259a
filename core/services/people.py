"""Finding members the way staff do: by name, pinyin, initials, phone tail, building or
unit. The pinyin columns are written when a member is written (``refresh_search_text``),
so a search is one SQL ``LIKE``."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.models import Community, Member, Place
from core.people import name_pinyin, search_terms, search_text


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
