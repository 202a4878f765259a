"""Which plugins are enabled in which community."""

from __future__ import annotations

from typing import Callable

import pluggy
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Invalid
from core.i18n import N_
from core.models import CommunityPlugin, Member
from core.models.member import Role
from core.services.access import require_role


def default_enabled(pm: pluggy.PluginManager, name: str) -> bool:
    """Built-ins are on unless a community turns them off; installed plugins are off
    until a community turns them on."""
    is_builtin = getattr(pm, "is_builtin", None)
    return bool(is_builtin(name)) if is_builtin is not None else True


def settings_for(db: Session, community_id: int) -> dict[str, CommunityPlugin]:
    rows = db.scalars(select(CommunityPlugin).where(CommunityPlugin.community_id == community_id))
    return {row.plugin_name: row for row in rows}


def enabled_checker(db: Session, community_id: int | None, pm: pluggy.PluginManager) -> Callable[[str], bool]:
    """A predicate ``name -> enabled in this community``, loaded with one query."""
    rows = settings_for(db, community_id) if community_id is not None else {}

    def enabled(name: str) -> bool:
        row = rows.get(name)
        if row is None:
            return default_enabled(pm, name)
        return row.enabled and row.blocked_reason is None

    return enabled


def set_enabled(db: Session, *, actor: Member | None, pm: pluggy.PluginManager, community_id: int, name: str,
                enabled: bool) -> CommunityPlugin:
    """Enable or disable a plugin in one community (admins only). Disabling hides the
    plugin's features; its data stays."""
    if actor is not None:
        require_role(db, actor, {Role.ADMIN}, community_id=community_id)
    if pm.get_plugin(name) is None:
        raise Invalid(N_("No such plugin."), field="plugin")
    row = db.get(CommunityPlugin, (community_id, name))
    if row is None:
        row = CommunityPlugin(community_id=community_id, plugin_name=name, enabled=enabled, settings={})
        db.add(row)
    row.enabled = enabled
    if enabled:
        row.blocked_reason = None
    db.flush()
    return row


def block(db: Session, *, community_id: int, name: str, reason: str) -> CommunityPlugin:
    """Block a misbehaving plugin in one community (after repeated failures)."""
    row = db.get(CommunityPlugin, (community_id, name))
    if row is None:
        row = CommunityPlugin(community_id=community_id, plugin_name=name, enabled=True, settings={})
        db.add(row)
    row.blocked_reason = reason[:500]
    db.flush()
    return row
