"""Pages residents, hosts and staff see. Mobile first: one column, large tap targets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from sqlalchemy import select

from core.db import utcnow
from core.errors import Forbidden
from core.i18n import N_
from core.models import Member, Place
from core.models.member import PLACE_HEAD_ROLES, STAFF_ROLES
from core.plugins import hooks_implemented, plugin_names
from core.services import categories as categories_service
from core.services import communities as communities_service
from core.services import plugins as plugins_service
from core.services import sessions as sessions_service
from core.services.access import can_issue_sign_in_link, community_by_slug, has_role
from web.auth import current_member, qr_svg
from web.db import commit, get_db
from web.extensions import current_courtyard
from web.i18n import COOKIE, LARGE_TEXT_COOKIE, LOCALES
from web.redirects import safe_next

bp = Blueprint("views", __name__)

STATUS_LABELS = {
    "draft": N_("Draft"),
    "scheduled": N_("Scheduled"),
    "live": N_("Live now"),
    "closed": N_("Closed"),
}
ROLE_LABELS = {
    "resident": N_("Resident"),
    "host": N_("Host"),
    "grid_head": N_("Grid head"),
    "building_head": N_("Building head"),
    "unit_head": N_("Unit head"),
    "department": N_("Department"),
    "moderator": N_("Moderator"),
    "admin": N_("Administrator"),
}


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"current_member": current_member(), "status_labels": STATUS_LABELS, "role_labels": ROLE_LABELS,
            "when": when}


def when(dt: datetime | None) -> str:
    """A date and time the way people say it: "11月26日周四 14:00" / "Thu, Nov 26, 14:00"."""
    if dt is None:
        return ""
    from babel.dates import format_skeleton
    from flask_babel import to_user_timezone

    local = to_user_timezone(dt)
    locale = get_locale()
    return f"{format_skeleton('MMMEd', local, locale=locale)} {format_skeleton('Hm', local, locale=locale)}"


@bp.url_value_preprocessor
def _community(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "slug" in values:
        g.community = community_by_slug(get_db(), values["slug"])


def _formats_by_key() -> dict[str, Any]:
    cy = current_courtyard()
    enabled = plugins_service.enabled_checker(get_db(), g.community.id, cy.pm) if g.get("community") else None
    return {f.key: f for f in (cy.catalog.formats.all(enabled) if enabled else cy.catalog.formats.all())}


def _nav_links(scope: str = "community", **params: Any) -> list[tuple[str, str]]:
    """(label, url) of the plugin pages enabled in this community for the community's page
    (or, ``scope="session"``, a session's page, ``params`` holding its ``session_id``)."""
    from flask import current_app

    cy = current_courtyard()
    enabled = plugins_service.enabled_checker(get_db(), g.community.id, cy.pm)
    locale = str(get_locale())
    links = sorted(cy.catalog.nav_links.all(enabled), key=lambda link: (link.order, link.key))
    return [(link.name(locale), url_for(link.endpoint, slug=g.community.slug, **params)) for link in links
            if link.scope == scope and link.endpoint in current_app.view_functions]


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. It touches no database or Redis, so a database
    outage does not make a supervisor restart every process (see ``/readyz``)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness for load balancers: 200 when the database (and Redis, when configured)
    answer, else 503; each check with its time or the error's class (details go to the log)."""
    from flask import current_app

    from web.health import first_line, ping_database, ping_redis, redact_redis

    checks: dict[str, dict[str, Any]] = {}
    try:
        checks["database"] = {"ok": True, "ms": round(ping_database(current_courtyard().engine), 1)}
    except Exception as exc:
        current_app.logger.warning("readiness: database unreachable: %s", first_line(exc))
        checks["database"] = {"ok": False, "error": type(getattr(exc, "orig", None) or exc).__name__}
    queue = current_app.config.get("MESSAGE_QUEUE")
    if queue:
        try:
            checks["message_queue"] = {"ok": True, "ms": round(ping_redis(queue, timeout=2.0), 1)}
        except Exception as exc:
            current_app.logger.warning("readiness: Redis at %s unreachable: %s", redact_redis(queue), first_line(exc))
            checks["message_queue"] = {"ok": False, "error": type(exc).__name__}
    ready = all(check["ok"] for check in checks.values())
    response = jsonify({"status": "ready" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def home():
    db = get_db()
    cy = current_courtyard()
    now = utcnow()
    entries = []
    for community in communities_service.list_communities(db):
        upcoming = sessions_service.list_sessions(db, community=community, viewer=current_member(),
                                                  upcoming_only=True, now=now, limit=5)
        entries.append((community, upcoming))
    formats = {f.key: f for f in cy.catalog.formats.all()}
    return render_template("home.html", entries=entries, formats=formats)


@bp.get("/c/<slug>")
def community(slug: str):
    db = get_db()
    category = request.args.get("category") or None
    upcoming = sessions_service.list_sessions(db, community=g.community, viewer=current_member(), upcoming_only=True,
                                              category_key=category)
    categories = categories_service.list_categories(db, current_courtyard().catalog, g.community)
    me = current_member()
    return render_template(
        "community.html", community=g.community, sessions=upcoming, formats=_formats_by_key(),
        categories=categories, category=category, links=_nav_links(),
        can_organise=has_role(db, me, sessions_service.ORGANISER_ROLES, community_id=g.community.id),
        is_staff=has_role(db, me, STAFF_ROLES, community_id=g.community.id),
        is_admin=has_role(db, me, {"admin"}, community_id=g.community.id),
        looks_after=has_role(db, me, PLACE_HEAD_ROLES | STAFF_ROLES, community_id=g.community.id)
        or any(r.role in {x.value for x in PLACE_HEAD_ROLES} for r in (me.roles if me else [])),
    )


@bp.get("/c/<slug>/sessions/<int:session_id>")
def session_page(slug: str, session_id: int):
    db = get_db()
    session = sessions_service.get_session(db, session_id, community_id=g.community.id)
    me = current_member()
    runs = sessions_service.can_run(db, me, session)
    if session.status == "draft" and not runs:
        abort(404)
    join_url = (url_for("views.join", code=session.join_code, _external=True)
                if session.join_code and sessions_service.can_see_join_code(db, me, session) else None)
    categories = {c.key: c for c in categories_service.list_categories(db, current_courtyard().catalog, g.community)}
    return render_template("session.html", community=g.community, session=session, runs=runs,
                           fmt=_formats_by_key().get(session.format_key), join_url=join_url,
                           qr=qr_svg(join_url) if (join_url and runs) else None, categories=categories,
                           links=_nav_links("session", session_id=session.id))


@bp.get("/join")
@bp.get("/j/<code>")
def join(code: str | None = None):
    """Type or scan a join code. The live page itself comes with the discussion plugin."""
    code = code or request.args.get("code")
    if not code:
        return render_template("join.html")
    session = sessions_service.session_by_join_code(get_db(), code)
    target = "plugin_discussion.live" if "plugin_discussion.live" in current_app_endpoints() else None
    if target:
        return redirect(url_for(target, code=session.join_code))
    return redirect(url_for("views.session_page", slug=session_community_slug(session), session_id=session.id))


def current_app_endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


def session_community_slug(session: Any) -> str:
    from core.models import Community

    return get_db().get(Community, session.community_id).slug


@bp.get("/c/<slug>/residents")
def residents(slug: str):
    """Residents a grid head (or staff) looks after, each with a 'print sign-in card' button."""
    db = get_db()
    me = current_member()
    if me is None:
        return redirect(url_for("auth.sign_in", next=request.path))
    members = db.scalars(select(Member).where(Member.community_id == g.community.id).order_by(Member.display_name))
    mine = [m for m in members if m.id != me.id and can_issue_sign_in_link(db, me, m)]
    if not mine and not has_role(db, me, PLACE_HEAD_ROLES | STAFF_ROLES, community_id=g.community.id) and not any(
            r.role in {x.value for x in PLACE_HEAD_ROLES} for r in me.roles):
        raise Forbidden(N_("Only staff or the head of this resident's grid, building or unit can do this."))
    places = {p.id: p for p in db.scalars(select(Place).where(Place.community_id == g.community.id))}
    return render_template("residents.html", community=g.community, residents=mine, places=places)


@bp.route("/c/<slug>/admin/plugins", methods=["GET", "POST"])
def admin_plugins(slug: str):
    db = get_db()
    cy = current_courtyard()
    me = current_member()
    if me is None:
        return redirect(url_for("auth.sign_in", next=request.path))
    if request.method == "POST":
        name = request.form.get("plugin", "")
        plugins_service.set_enabled(db, actor=me, pm=cy.pm, community_id=g.community.id, name=name,
                                    enabled=request.form.get("enabled") == "1")
        commit()
        return redirect(url_for("views.admin_plugins", slug=slug))
    if not has_role(db, me, {"admin"}, community_id=g.community.id):
        raise Forbidden()
    enabled = plugins_service.enabled_checker(db, g.community.id, cy.pm)
    rows = plugins_service.settings_for(db, g.community.id)
    plugins = [{"name": n, "builtin": cy.pm.is_builtin(n), "enabled": enabled(n),
                "blocked": rows[n].blocked_reason if n in rows else None,
                "hooks": hooks_implemented(cy.pm, n), "version": cy.pm.distributions.get(n, ("", ""))[1]}
               for n in plugin_names(cy.pm)]
    return render_template("admin_plugins.html", community=g.community, plugins=plugins,
                           failures=cy.pm.load_failures)


@bp.get("/c/<slug>/admin/sign-in-links")
def admin_sign_in_links(slug: str):
    """Every sign-in link issued in the community (who issued it, for whom, when, used or
    not), for its admins: a link signs in as its member, so each one is accounted for."""
    from core.services import auth as auth_service

    me = current_member()
    if me is None:
        return redirect(url_for("auth.sign_in", next=request.path))
    from web.schemas import SignInLinkListArgs, load_args

    limit = load_args(SignInLinkListArgs())["limit"]
    links = auth_service.list_sign_in_links(get_db(), actor=me, community_id=g.community.id, limit=limit)
    return render_template("admin_sign_in_links.html", community=g.community, links=links)


@bp.get("/lang/<code>")
def set_language(code: str):
    if code not in LOCALES:
        abort(404)
    response = make_response(redirect(safe_next(request.args.get("next"))))
    response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    me = current_member()
    if me is not None:
        communities_service.update_preferences(get_db(), actor=me, locale=code)
        commit()
    return response


@bp.post("/large-text")
def toggle_large_text():
    on = request.form.get("on") == "1"
    response = make_response(redirect(safe_next(request.form.get("next"))))
    response.set_cookie(LARGE_TEXT_COOKIE, "1" if on else "0", max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    me = current_member()
    if me is not None:
        communities_service.update_preferences(get_db(), actor=me, large_text=on)
        commit()
    return response
