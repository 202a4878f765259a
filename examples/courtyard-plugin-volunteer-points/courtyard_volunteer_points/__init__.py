"""Volunteer service points (服务积分) for Courtyard.

Residents earn points for taking part — attending a session, hosting a courtyard talk,
an issue they raised being resolved, turning up on the monthly service day (the 28th) —
see their ledger and balance, and exchange points for items from a small catalogue.

Uses only the public plugin API: ``core.plugins.hookimpl``, ``core.registry``,
``core.db.Base`` for its own ``plugin_volunteer_points_`` tables, ``web.plugin_api``
and ``web.plugin_migrations``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.plugins import hookimpl
from core.registry import Category, NavLink

__version__ = "0.1.0"

NAME = "volunteer_points"
DOMAIN = "courtyard_volunteer_points"
HERE = Path(__file__).resolve().parent
NAMESPACE = "/volunteer_points"

log = logging.getLogger("courtyard_volunteer_points")

# the tables are defined on import so that a test database (create_all) has them
from courtyard_volunteer_points import models  # noqa: E402,F401


@hookimpl
def courtyard_register_categories(register):
    register(Category("volunteering", {"zh_CN": "志愿服务", "en": "Volunteering"}, "#dc2626"))


@hookimpl
def courtyard_register_blueprints(register):
    from courtyard_volunteer_points.views import bp

    register(bp)


@hookimpl
def courtyard_register_socket_handlers(socketio):
    from courtyard_volunteer_points.views import PointsNamespace

    socketio.on_namespace(PointsNamespace(NAMESPACE))


@hookimpl
def courtyard_register_migrations(register):
    register(str(HERE / "migrations"))


@hookimpl
def courtyard_register_translations(register):
    register(str(HERE / "translations"), DOMAIN)


def _attendees(db: Any, session_id: int) -> list[int]:
    """Members in the session's attendance record (the live-session participants), if
    this Courtyard keeps one."""
    try:
        from core.models.live import Participant
    except ImportError:  # an older Courtyard without live sessions
        return []
    from sqlalchemy import select

    return [m for m in db.scalars(select(Participant.member_id).where(Participant.session_id == session_id)) if m]


def _push(community_id: int, awards: list[tuple[int, int, str]]) -> None:
    """Tell each member's open points page about their new points (best effort)."""
    from web import plugin_api

    socketio = plugin_api.socketio()
    if socketio is None:
        return
    for member_id, points, reason in awards:
        socketio.emit("points_awarded", {"points": points, "reason": reason}, namespace=NAMESPACE,
                      to=f"member:{member_id}")


@hookimpl
def courtyard_session_status_changed(session, new_status):
    """A closed session: its host earns hosting points, its attendees attendance points."""
    if new_status != "closed":
        return
    from web import plugin_api
    from courtyard_volunteer_points import service

    awards: list[tuple[int, int, str]] = []
    with plugin_api.unit_of_work() as db:
        if session.host_id:
            if service.award(db, community_id=session.community_id, member_id=session.host_id, reason="hosted",
                             source_kind="session_host", source_id=session.id):
                awards.append((session.host_id, service.RULES["hosted"], "hosted"))
        for member_id in _attendees(db, session.id):
            if member_id == session.host_id:
                continue
            if service.award(db, community_id=session.community_id, member_id=member_id, reason="attended",
                             source_kind="session", source_id=session.id):
                awards.append((member_id, service.RULES["attended"], "attended"))
    _push(session.community_id, awards)


@hookimpl(optionalhook=True)
def courtyard_issue_status_changed(issue, new_status):
    """An issue resolved: the resident who raised it (or on whose behalf it was raised)
    earns points. ``optionalhook``: works on a Courtyard without residents' issues."""
    if new_status != "resolved":
        return
    member_id = getattr(issue, "on_behalf_of_id", None) or getattr(issue, "raised_by_id", None)
    if not member_id:
        return
    from web import plugin_api
    from courtyard_volunteer_points import service

    with plugin_api.unit_of_work() as db:
        done = service.award(db, community_id=issue.community_id, member_id=member_id, reason="issue_resolved",
                             source_kind="issue", source_id=issue.id)
    if done:
        _push(issue.community_id, [(member_id, service.RULES["issue_resolved"], "issue_resolved")])


@hookimpl
def courtyard_register_nav_links(register):
    register(NavLink("volunteer_points", {"zh_CN": "志愿服务积分", "en": "Volunteer points"},
                     "plugin_volunteer_points.points", order=50))


@hookimpl
def courtyard_seed_demo(db, pm, community):
    """In the demo, 人福村 has the plugin turned on (an installed plugin is off until a
    community's admin turns it on; here the demo plays that admin)."""
    if community.slug == "renfu":
        from core.services.plugins import set_enabled

        set_enabled(db, actor=None, pm=pm, community_id=community.id, name=NAME, enabled=True)
