"""Communities, their places and their members."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import savepoint
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.i18n import N_
from core.models import Community, Member, Place, RoleAssignment
from core.models.member import Role, STAFF_ROLES
from core.services import audit
from core.services.access import require_role
from core.services.auth import hash_password
from core.services.people import refresh_search_text

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
ROLE_VALUES = {r.value for r in Role}


def create_community(db: Session, *, slug: str, names: dict[str, str], default_locale: str = "zh_CN",
                     timezone: str = "Asia/Shanghai") -> Community:
    """Create a community (an operator's task: no actor, called from the CLI and the demo)."""
    if not SLUG_RE.match(slug):
        raise Invalid(N_("Use 2 to 63 lower-case letters, digits and hyphens."), field="slug")
    if not names or not any(v.strip() for v in names.values()):
        raise Invalid(N_("A name is required."), field="names")
    if db.scalar(select(Community.id).where(Community.slug == slug)) is not None:
        raise Conflict(N_("This address is taken."), field="slug")
    community = Community(slug=slug, names=dict(names), default_locale=default_locale, timezone=timezone)
    db.add(community)
    db.flush()
    return community


def list_communities(db: Session) -> list[Community]:
    return list(db.scalars(select(Community).order_by(Community.id)))


def add_place(db: Session, *, actor: Member | None, community: Community, kind: str, name: str,
              parent: Place | None = None) -> Place:
    """Add a place under ``parent`` (or as a root). ``actor`` None is the operator (CLI, demo)."""
    if actor is not None:
        require_role(db, actor, STAFF_ROLES, community_id=community.id)
    if parent is not None and parent.community_id != community.id:
        raise NotFound(N_("No such record in this community."), field="parent_id")
    if not name.strip():
        raise Invalid(N_("A name is required."), field="name")
    place = Place(community_id=community.id, parent_id=parent.id if parent else None, kind=kind, name=name.strip())
    db.add(place)
    db.flush()
    place.path = f"{parent.path if parent else '/'}{place.id}/"
    db.flush()
    return place


def subtree(db: Session, place: Place) -> list[Place]:
    """``place`` and every place below it."""
    return list(db.scalars(select(Place).where(Place.path.startswith(place.path)).order_by(Place.path)))


def ancestors(db: Session, place: Place) -> list[Place]:
    """From the root down to ``place``'s parent."""
    ids = place.ancestor_ids()[:-1]
    if not ids:
        return []
    by_id = {p.id: p for p in db.scalars(select(Place).where(Place.id.in_(ids)))}
    return [by_id[i] for i in ids]


def add_member(db: Session, *, actor: Member | None, community: Community, display_name: str,
               username: str | None = None, password: str | None = None, place: Place | None = None,
               roles: Iterable[tuple[Role | str, Place | None]] = (), locale: str | None = None) -> Member:
    """Register a member; staff (or the operator, ``actor`` None) only."""
    if actor is not None:
        require_role(db, actor, STAFF_ROLES, community_id=community.id)
    if not display_name.strip():
        raise Invalid(N_("A name is required."), field="display_name")
    if place is not None and place.community_id != community.id:
        raise NotFound(N_("No such record in this community."), field="place_id")
    member = Member(
        community_id=community.id,
        display_name=display_name.strip(),
        username=username,
        password_hash=hash_password(password) if password else None,
        place_id=place.id if place else None,
        locale=locale,
    )
    refresh_search_text(db, member)
    db.add(member)
    try:
        with savepoint(db):
            db.flush()
    except IntegrityError as exc:
        raise Conflict(N_("This user name is taken."), field="username") from exc
    for role, role_place in roles:
        grant_role(db, actor=actor, member=member, role=role, place=role_place)
    return member


def grant_role(db: Session, *, actor: Member | None, member: Member, role: Role | str,
               place: Place | None = None) -> RoleAssignment:
    if actor is not None:
        require_role(db, actor, STAFF_ROLES, community_id=member.community_id)
    value = role.value if isinstance(role, Role) else role
    if value not in ROLE_VALUES:
        raise Invalid(N_("Unknown role."), field="role")
    if place is not None and place.community_id != member.community_id:
        raise NotFound(N_("No such record in this community."), field="place_id")
    assignment = RoleAssignment(member=member, role=value, place_id=place.id if place else None)
    db.add(assignment)
    db.flush()
    return assignment


def get_member(db: Session, member_id: int, community_id: int) -> Member:
    member = db.get(Member, member_id)
    if member is None or member.community_id != community_id:
        raise NotFound(N_("No such record in this community."), field="member_id")
    return member


def update_preferences(db: Session, *, actor: Member, locale: str | None = None,
                       large_text: bool | None = None) -> Member:
    """A member changes their own language or text size."""
    if locale is not None:
        actor.locale = locale
    if large_text is not None:
        actor.large_text = large_text
    db.flush()
    return actor


def found_community(db: Session, *, actor: Member | None, slug: str, names: dict[str, str], admin_username: str,
                    admin_name: str | None = None, street: str | None = None,
                    now: datetime | None = None) -> tuple[Community, Member]:
    """A new community with its own place (under a street place when ``street`` is given)
    and its first administrator, who signs in with a one-time link (no password yet).
    Only the operator (``actor`` None: ``courtyard community create``) for now; a
    street-level administrator's right to found communities comes with its page.
    Recorded in the audit log."""
    if actor is not None:
        raise Forbidden(N_("You are not allowed to do this."))
    if not admin_username.strip():
        raise Invalid(N_("A user name is required."), field="admin")
    community = create_community(db, slug=slug, names=names)
    parent = add_place(db, actor=None, community=community, kind="street", name=street) if street else None
    home_name = names.get(community.default_locale) or next(v for v in names.values() if v.strip())
    add_place(db, actor=None, community=community, kind="community", name=home_name, parent=parent)
    admin = add_member(db, actor=None, community=community, display_name=(admin_name or admin_username).strip(),
                       username=admin_username.strip(), roles=[(Role.ADMIN, None)])
    audit.record(db, actor=actor, community=community, action="community.create", target=f"community:{slug}",
                 details={"admin_member_id": admin.id, "street": street or ""}, now=now)
    return community, admin
