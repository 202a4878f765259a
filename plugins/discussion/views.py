"""Pages of the discussion plugin: the live page (joined by code), the printable join
code with its QR code, and the minutes (printable page, JSON and CSV)."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from core.errors import Forbidden
from core.i18n import N_
from core.models import Community
from core.services import live as live_service
from core.services import sessions as sessions_service
from core.services.access import community_by_slug
from plugins.discussion.state import limiter_for
from web.auth import current_member, qr_svg
from web.db import get_db
from web.extensions import current_courtyard

bp = Blueprint("plugin_discussion", __name__, template_folder="templates", static_folder="static",
               static_url_path="/plugin-static/discussion")

#: endpoints where a join code is tried
CODE_ENDPOINTS = {"views.join", "plugin_discussion.live"}

JS_STRINGS = {
    "here": N_("%(count)s here"),
    "connecting": N_("Connecting…"),
    "connected": N_("Connected"),
    "offline": N_("Offline — your messages will be sent when you are back"),
    "sending": N_("Sending…"),
    "reply": N_("Reply"),
    "replying_to": N_("Replying to %(name)s"),
    "cancel": N_("Cancel"),
    "hide": N_("Hide"),
    "hidden": N_("Hidden by the host"),
    "hide_reason": N_("Why hide this message?"),
    "from_floor": N_("From the floor"),
    "raise_hand": N_("Raise my hand"),
    "lower_hand": N_("Lower my hand"),
    "give_floor": N_("Give the floor"),
    "take_back": N_("Take the floor back"),
    "has_floor": N_("%(name)s has the floor"),
    "you_have_floor": N_("You have the floor"),
    "time_left": N_("%(time)s left"),
    "time_up": N_("Time is up"),
    "time_ran_out": N_("%(name)s's speaking time ran out"),
    "nobody_floor": N_("Nobody has the floor"),
    "queue_empty": N_("No raised hands"),
    "closed": N_("This session is closed."),
    "guest": N_("guest"),
    "host": N_("host"),
    "department": N_("department"),
    "online": N_("here"),
    "left": N_("left"),
    "error": N_("Not sent"),
}


@bp.before_app_request
def _limit_code_attempts() -> None:
    if request.endpoint in CODE_ENDPOINTS and (request.view_args or request.args.get("code")):
        if limiter_for(current_app).blocked(request.remote_addr or "?"):
            abort(429)


@bp.after_app_request
def _count_failed_codes(response: Response) -> Response:
    if request.endpoint in CODE_ENDPOINTS and response.status_code == 404:
        limiter_for(current_app).failed(request.remote_addr or "?")
    return response


@bp.get("/live/<code>")
def live(code: str):
    db = get_db()
    session = sessions_service.session_by_join_code(db, code)
    community = db.get(Community, session.community_id)
    g.community = community
    me = current_member()
    member_here = me is not None and me.community_id == session.community_id
    if not member_here and not session.allow_guests:
        if me is None:
            return redirect(url_for("auth.sign_in", next=request.path))
        raise Forbidden(N_("Only members of this community can join this session."))
    strings = {key: gettext(msg) for key, msg in JS_STRINGS.items()}
    runs = member_here and sessions_service.can_run(db, me, session)
    return render_template("discussion/live.html", session=session, community=community, code=session.join_code,
                           strings=strings, runs=runs, needs_name=not member_here)


@bp.get("/live/<code>/print")
def print_code(code: str):
    db = get_db()
    session = sessions_service.session_by_join_code(db, code)
    me = current_member()
    if not sessions_service.can_run(db, me, session):
        raise Forbidden(N_("Only the host or staff can change this session."))
    url = url_for("views.join", code=session.join_code, _external=True)
    return render_template("discussion/print.html", session=session, code=session.join_code, url=url,
                           qr=qr_svg(url, scale=10))


def _minutes(slug: str, session_id: int) -> tuple[Any, dict[str, Any]]:
    db = get_db()
    g.community = community_by_slug(db, slug)
    session = sessions_service.get_session(db, session_id, community_id=g.community.id)
    me = current_member()
    if me is None:
        abort(401)
    if not live_service.can_read_minutes(db, me, session):
        raise Forbidden()
    return session, live_service.minutes_for(db, session=session, pm=current_courtyard().pm)


@bp.get("/c/<slug>/sessions/<int:session_id>/minutes")
def minutes(slug: str, session_id: int):
    if current_member() is None:
        return redirect(url_for("auth.sign_in", next=request.path))
    session, data = _minutes(slug, session_id)
    return render_template("discussion/minutes.html", session=session, community=g.community, m=data)


@bp.get("/c/<slug>/sessions/<int:session_id>/minutes.json")
def minutes_json(slug: str, session_id: int):
    _, data = _minutes(slug, session_id)
    return jsonify(data)


class _SafeWriter:
    """A CSV writer that keeps a resident's "=HYPERLINK(...)" from running as a formula."""

    def __init__(self, writer: Any):
        self.writer = writer

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow(["'" + c if isinstance(c, str) and c[:1] in ("=", "+", "-", "@", "\t", "\r") else c
                              for c in row])


@bp.get("/c/<slug>/sessions/<int:session_id>/minutes.csv")
def minutes_csv(slug: str, session_id: int):
    session, data = _minutes(slug, session_id)
    out = io.StringIO()
    writer = _SafeWriter(csv.writer(out))
    writer.writerow(["section", "at", "name", "role", "text", "detail"])
    for row in data["attendance"]:
        writer.writerow(["attendance", row["first_seen"], row["name"], row["role"], "",
                         "guest" if row["guest"] else "member"])
    for row in data["agenda"]:
        writer.writerow(["agenda", "", "", "", row["title"], "reached" if row["reached"] else ""])
    for row in data["floor"]:
        writer.writerow(["floor", row["granted_at"], row["name"], row["role"], row.get("ended_by") or "",
                         row["seconds"] or ""])
    for row in data["announcements"]:
        writer.writerow(["announcement", row["at"], "", "", row["text"], ""])
    for row in data["discussion"]:
        writer.writerow(["message", row["at"], row["name"], "", row["body"],
                         "from floor" if row["from_floor"] else ""])
    for section in data.get("sections", []):
        for row in section.get("rows", []):
            writer.writerow([section.get("key", ""), "", "", "", row.get("label", ""), row.get("value", "")])
    body = "\ufeff" + out.getvalue()  # a BOM so spreadsheet programs read the Chinese as UTF-8
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="minutes-{session.id}.csv"'})

