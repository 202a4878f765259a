"""The points pages (``/c/<slug>/points``), the JSON API and the live namespace.

The blueprint is named ``plugin_volunteer_points``: Courtyard answers 404 on its
``/c/<slug>/…`` routes in communities where the plugin is off.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for
from flask_babel import get_locale
from flask_socketio import Namespace, emit, join_room

from core.errors import DomainError
from core.i18n import N_
from courtyard_volunteer_points import DOMAIN, NAME, service
from web import plugin_api

bp = Blueprint(f"plugin_{NAME}", __name__, template_folder="templates", static_folder="static",
               static_url_path=f"/plugin-static/{NAME}")

REASONS = {
    "attended": N_("Took part in a session"),
    "hosted": N_("Hosted a session"),
    "issue_resolved": N_("An issue you raised was resolved"),
    "service_day": N_("Service day"),
    "exchange": N_("Exchanged"),
}


def _(message: str, **params: Any) -> str:
    return plugin_api.translations(DOMAIN).gettext(message, **params)


def _today(community: Any) -> date:
    from zoneinfo import ZoneInfo

    from core.db import utcnow

    return utcnow().astimezone(ZoneInfo(community.timezone or "Asia/Shanghai")).date()


def _member_here(slug: str):
    community = plugin_api.community(slug)
    me = plugin_api.current_member()
    if me is None:
        return community, None
    if me.community_id != community.id:
        abort(403)
    return community, me


@bp.get("/c/<slug>/points")
def points(slug: str):
    community, me = _member_here(slug)
    if me is None:
        return redirect(url_for("auth.sign_in", next=request.path))
    db = plugin_api.get_db()
    today = _today(community)
    day = service.next_service_day(today)
    signed = {s.member_id for s in service.signups(db, community.id, day)}
    is_staff = plugin_api.has_role(db, me, service.STAFF, community_id=community.id)
    return plugin_api.render(
        "volunteer_points/points.html", domain=DOMAIN, community=community, me=me,
        balance=service.balance(db, me.id), entries=service.ledger(db, me.id),
        leaders=service.leaderboard(db, community.id), catalogue=service.CATALOGUE, reasons=REASONS,
        service_day=day, signed_up=me.id in signed, signup_count=len(signed), is_staff=is_staff,
        last_service_day=_last_service_day(today), request_id=secrets.token_urlsafe(12), lang=str(get_locale()))


def _last_service_day(today: date) -> date:
    if today.day >= service.SERVICE_DAY:
        return today.replace(day=service.SERVICE_DAY)
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return date(year, month, service.SERVICE_DAY)


@bp.post("/c/<slug>/points/exchange")
def exchange(slug: str):
    community, me = _member_here(slug)
    if me is None:
        abort(403)
    db = plugin_api.get_db()
    try:
        entry = service.exchange(db, member=me, item_key=request.form.get("item", ""),
                                 request_id=request.form.get("request_id", ""))
    except DomainError as exc:
        db.rollback()
        flash(_(exc.message), "error")
        return redirect(url_for(".points", slug=slug)), 303
    plugin_api.commit()
    flash(_("Exchanged %(points)s points for: %(item)s", points=-entry.points,
            item=service.item(entry.item).name(str(get_locale()))), "success")
    return redirect(url_for(".points", slug=slug)), 303


@bp.post("/c/<slug>/points/service-day")
def service_day_sign_up(slug: str):
    community, me = _member_here(slug)
    if me is None:
        abort(403)
    today = _today(community)
    service.sign_up(plugin_api.get_db(), member=me, day=service.next_service_day(today), today=today)
    plugin_api.commit()
    flash(_("You are signed up for the service day."), "success")
    return redirect(url_for(".points", slug=slug)), 303


@bp.post("/c/<slug>/points/service-day/confirm")
def service_day_confirm(slug: str):
    community, me = _member_here(slug)
    if me is None:
        abort(403)
    db = plugin_api.get_db()
    try:
        day = date.fromisoformat(request.form.get("day", ""))
        count = service.confirm_service_day(db, actor=me, day=day, today=_today(community))
    except ValueError:
        abort(400)
    except DomainError as exc:
        db.rollback()
        flash(_(exc.message), "error")
        return redirect(url_for(".points", slug=slug)), 303
    plugin_api.commit()
    flash(_("Service day confirmed: %(count)s residents earned points.", count=count), "success")
    return redirect(url_for(".points", slug=slug)), 303


@bp.get("/api/v1/communities/<slug>/points")
def api_points(slug: str):
    community, me = _member_here(slug)
    if me is None:
        abort(401)
    db = plugin_api.get_db()
    return jsonify({
        "balance": service.balance(db, me.id),
        "ledger": [{"points": e.points, "reason": e.reason, "source": f"{e.source_kind}:{e.source_id}",
                    "item": e.item, "at": e.at.isoformat()} for e in service.ledger(db, me.id)],
        "catalogue": [{"key": i.key, "cost": i.cost, "names": dict(i.names)} for i in service.CATALOGUE],
    })


class PointsNamespace(Namespace):
    """``/volunteer_points``: a signed-in member's page gets ``balance`` on connect and
    ``points_awarded`` when points arrive."""

    def on_connect(self, auth: Any = None) -> bool:
        me = plugin_api.current_member()
        if me is None or not plugin_api.enabled_in(me.community_id, NAME):
            return False
        join_room(f"member:{me.id}")
        emit("balance", {"points": service.balance(plugin_api.get_db(), me.id)})
        return True
