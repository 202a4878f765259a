"""Topic categories: the ones plugins contribute plus the ones a community defines."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.catalog import Catalog
from core.errors import Conflict, Invalid
from core.i18n import N_
from core.models import Community, CustomCategory, Member
from core.models.member import STAFF_ROLES
from core.registry import Category
from core.services.access import require_role
from core.services.plugins import enabled_checker

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def list_categories(db: Session, catalog: Catalog, community: Community) -> list[Category]:
    enabled = enabled_checker(db, community.id, catalog.pm)
    found = list(catalog.categories.all(enabled))
    keys = {c.key for c in found}
    for row in db.scalars(select(CustomCategory).where(CustomCategory.community_id == community.id)
                          .order_by(CustomCategory.id)):
        if row.key not in keys:
            found.append(Category(key=row.key, names=row.names, color=row.color))
    return found


def require_category(db: Session, catalog: Catalog, community: Community, key: str) -> Category:
    for category in list_categories(db, catalog, community):
        if category.key == key:
            return category
    raise Invalid(N_("Unknown category."), field="category_key")


def create_category(db: Session, *, actor: Member | None, catalog: Catalog, community: Community, key: str,
                    names: dict[str, str], color: str = "#6b7280") -> Category:
    """A community defines its own category (staff only), with zh_CN and en names."""
    if actor is not None:
        require_role(db, actor, STAFF_ROLES, community_id=community.id)
    if not KEY_RE.match(key):
        raise Invalid(N_("Use lower-case letters, digits, hyphens and underscores."), field="key")
    if not COLOR_RE.match(color):
        raise Invalid(N_("Use a colour like #1f7a4d."), field="color")
    for locale in ("zh_CN", "en"):
        if not names.get(locale, "").strip():
            raise Invalid(N_("A name in Chinese and in English is required."), field="names")
    if any(c.key == key for c in list_categories(db, catalog, community)):
        raise Conflict(N_("A category with this key exists."), field="key")
    try:
        # inside a savepoint: two staff adding the same key at once meet the unique
        # (community, key) here, and the second is told, instead of a server error
        with db.begin_nested():
            db.add(CustomCategory(community_id=community.id, key=key, names=dict(names), color=color))
            db.flush()
    except IntegrityError as exc:
        raise Conflict(N_("A category with this key exists."), field="key") from exc
    return Category(key=key, names=dict(names), color=color)
