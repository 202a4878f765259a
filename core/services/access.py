"""Who may do what: roles bound to places, inherited down the place hierarchy."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound
from core.i18n import N_
from core.models import Community, Member, Place
from core.models.member import PLACE_HEAD_ROLES, STAFF_ROLES, Role


def role_values(roles: Iterable[Role | str]) -> set[str]:
    return {r.value if isinstance(r, Role) else r for r in roles}


def has_role(db: Session, member: Member | None, roles: Iterable[Role | str], *, community_id: int,
             place: Place | None = None) -> bool:
    """True when ``member`` belongs to the community and holds one of ``roles`` for the
    whole community or for ``place`` or one of its ancestors. Admins hold every role."""
    if member is None or not member.active or member.community_id != community_id:
        return False
    wanted = role_values(roles) | {Role.ADMIN.value}
    place_ids = set(place.ancestor_ids()) if place is not None else set()
    for assignment in member.roles:
        if assignment.role not in wanted:
            continue
        if assignment.place_id is None or assignment.place_id in place_ids:
            return True
    return False


def is_staff(db: Session, member: Member | None, community_id: int) -> bool:
    return has_role(db, member, STAFF_ROLES, community_id=community_id)


def require_role(db: Session, member: Member | None, roles: Iterable[Role | str], *, community_id: int,
                 place: Place | None = None) -> Member:
    if not has_role(db, member, roles, community_id=community_id, place=place):
        raise Forbidden(N_("You are not allowed to do this."))
    assert member is not None
    return member


def require_member(member: Member | None, community_id: int) -> Member:
    if member is None or not member.active or member.community_id != community_id:
        raise Forbidden(N_("Only members of this community can do this."))
    return member


def holds_role_above_resident(member: Member) -> bool:
    """True when ``member`` holds any role but resident (host, a head, department, staff...)."""
    return any(assignment.role != Role.RESIDENT.value for assignment in member.roles)


def can_look_after(db: Session, actor: Member | None, resident: Member) -> bool:
    """Staff, or a grid/building/unit head over the resident's home place. A head looks
    after plain residents only: never a member holding a role above resident (a host,
    another head, a department, staff), whatever their home place."""
    if is_staff(db, actor, resident.community_id):
        return True
    if holds_role_above_resident(resident):
        return False
    place = db.get(Place, resident.place_id) if resident.place_id else None
    if place is None:
        return False
    return has_role(db, actor, PLACE_HEAD_ROLES, community_id=resident.community_id, place=place)


def can_issue_sign_in_link(db: Session, actor: Member | None, member: Member) -> bool:
    """Who may make a one-time sign-in link for ``member`` (a link signs in as them).

    An admin of the community, for any active member of it. Anyone else (a moderator, a
    grid/building/unit head) only for a resident they look after who holds no role above
    resident: a link for a host, a head, a department or staff comes only from an admin."""
    if actor is None or not member.active or actor.community_id != member.community_id:
        return False
    if has_role(db, actor, {Role.ADMIN}, community_id=member.community_id):
        return True
    if holds_role_above_resident(member):
        return False
    return can_look_after(db, actor, member)


def get_in_community(db: Session, model: type, obj_id: int, community_id: int, *, field: str = "id"):
    """Load ``model`` by id, as not found when it belongs to another community."""
    obj = db.get(model, obj_id)
    if obj is None or getattr(obj, "community_id", None) != community_id:
        raise NotFound(N_("No such record in this community."), field=field)
    return obj


def community_by_slug(db: Session, slug: str) -> Community:
    community = db.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        raise NotFound(N_("No such community."), field="community")
    return community
