"""Pages and JSON API of residents' issues.

Pages under ``/c/<slug>/issues…``: the list (category / status / place filters), the
one-minute raise form, an issue with its timeline and the forms each role may use, the
dashboards (SVG charts, the same figures as a table, CSV) and the review-meeting list.
API under ``/api/v1/communities/<slug>/issues…``. Both load input through the schemas in
:mod:`plugins.issues.schemas`, call one service of :mod:`core.services.issues`, and
commit once.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any, Callable

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, gettext
from marshmallow import Schema
from sqlalchemy import select

from core.db import utcnow
from core.i18n import N_
from core.models import ConsultationSession, Member, Place
from core.models.issue import Issue
from core.models.member import PLACE_HEAD_ROLES, STAFF_ROLES
from core.models.session import SessionStatus
from core.services import categories as categories_service
from core.services import issue_stats as stats
from core.services import issues as svc
from core.services.access import can_look_after, community_by_slug, has_role, is_staff, require_member
from core.services.sessions import can_run
from plugins.issues import schemas as s
from plugins.issues.charts import bar_chart
from web.api import doc
from web.auth import current_member
from web.db import commit, get_db
from web.extensions import current_courtyard
from web.i18n import translate

bp = Blueprint("plugin_issues", __name__, template_folder="templates", static_folder="static",
               static_url_path="/plugin-static/issues")

API = "/api/v1/communities/<slug>/issues"

STATUS_LABELS = {
    "open": N_("Waiting for triage"),
    "accepted": N_("Accepted"),
    "rejected": N_("Not taken up"),
    "scheduled": N_("On a forum agenda"),
    "assigned": N_("Assigned to a department"),
    "replied": N_("Department replied"),
    "resolved": N_("Resolved"),
    "reopened": N_("Reopened"),
    "closed": N_("Closed"),
    "merged": N_("Merged"),
    "overdue": N_("Overdue"),
}
EVENT_LABELS = {
    "raised": N_("Raised"),
    "edited": N_("Edited"),
    "supported": N_("Me too"),
    "accepted": N_("Accepted"),
    "rejected": N_("Not taken up"),
    "scheduled": N_("Put on a forum agenda"),
    "assigned": N_("Assigned"),
    "replied": N_("Department replied"),
    "resolved": N_("Marked resolved"),
    "rated": N_("Rated"),
    "reopened": N_("Reopened"),
    "closed": N_("Closed"),
    "merged": N_("Merged into another issue"),
    "merged_from": N_("A duplicate was merged in"),
    "escalated": N_("Escalated"),
}
DIMENSIONS = {"category": N_("Category"), "place": N_("Place"), "department": N_("Department")}
SUCCESS = {
    "support": N_("Thank you — your support was counted."),
    "triage": N_("Saved."),
    "assign": N_("Assigned."),
    "reply": N_("Your reply was sent to the residents."),
    "resolve": N_("Marked resolved; residents are asked to rate it."),
    "rate": N_("Thank you for your rating."),
    "merge": N_("Merged."),
    "close": N_("Closed."),
    "reopen": N_("Reopened."),
    "edit": N_("Saved."),
}


# ---------------------------------------------------------------------------
# Helpers


@bp.url_value_preprocessor
def _community(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "slug" in values:
        g.community = community_by_slug(get_db(), values["slug"])


def now():
    return (current_app.config.get("ISSUES_CLOCK") or utcnow)()


def catalog():
    return current_courtyard().catalog


def locale() -> str:
    return str(get_locale())


def api_member() -> Member:
    me = current_member()
    if me is None:
        abort(401)
    require_member(me, g.community.id)
    return me


def form_data(schema: Schema) -> dict[str, Any]:
    """A submitted form through ``schema``: the CSRF token and empty optional fields dropped."""
    raw = {k: v for k, v in request.form.items() if k != "csrf_token" and not (v == "" and k not in ("title",))}
    return schema.load(raw)


def _load_json(schema: Schema) -> dict[str, Any]:
    from web.schemas import load_json

    return load_json(schema)


def uploaded_photos() -> list[bytes]:
    out = []
    for f in request.files.getlist("photos"):
        if not f or not f.filename:
            continue
        try:
            out.append(f.read(svc.MAX_PHOTO_BYTES + 1))
        finally:
            f.close()
    for f in request.files.getlist("photos"):
        f.close()
    return out


def category_map() -> dict[str, Any]:
    return {c.key: c for c in categories_service.list_categories(get_db(), catalog(), g.community)}


def places() -> list[Place]:
    return list(get_db().scalars(select(Place).where(Place.community_id == g.community.id).order_by(Place.path)))


def issue_url(issue: Issue) -> str:
    return url_for("plugin_issues.detail", slug=g.community.slug, issue_id=issue.id)


def average(issue: Issue) -> float | None:
    return svc.satisfaction(svc.round_scores(issue), catalog())


def dump_issue(issue: Issue, *, timeline: bool = False) -> dict[str, Any]:
    scores = svc.round_scores(issue)
    data = {
        "id": issue.id, "community": g.community.slug, "title": issue.title, "description": issue.description,
        "category_key": issue.category_key, "status": issue.status, "place": issue.place,
        "raised_by": issue.raised_by, "on_behalf_of": issue.on_behalf_of,
        "rejection_reason": issue.rejection_reason, "session_id": issue.session_id,
        "department": issue.assignee_name(), "assigned_member_id": issue.assigned_member_id,
        "outside_body_id": issue.outside_body_id, "due_at": issue.due_at, "overdue": svc.is_overdue(issue, now()),
        "escalation_level": issue.escalation_level, "escalation_place": issue.escalation_place,
        "merged_into_id": issue.merged_into_id, "supporters": len(issue.supports),
        "rating_round": issue.rating_round, "ratings": len(scores),
        "average_rating": svc.satisfaction(scores, catalog()),
        "photos": [url_for("plugin_issues.photo", slug=g.community.slug, issue_id=issue.id, photo_id=p.id,
                           _external=True) for p in issue.photos],
        "created_at": issue.created_at, "updated_at": issue.updated_at, "first_reply_at": issue.first_reply_at,
        "resolved_at": issue.resolved_at, "url": url_for("plugin_issues.detail", slug=g.community.slug,
                                                          issue_id=issue.id, _external=True),
    }
    if timeline:
        data["timeline"] = issue.events
    out = s.IssueOutSchema().dump(data)
    if not timeline:
        out.pop("timeline", None)
    return out


def load_issue(issue_id: int, me: Member | None) -> Issue:
    return svc.get_issue(get_db(), actor=me, issue_id=issue_id, community_id=g.community.id)


def _due(data: dict[str, Any]):
    days = data.pop("due_in_days", None)
    if days is not None:
        data["due_at"] = now() + timedelta(days=days)
    return data


def _assign(db, me, issue, data):
    return svc.assign(db, actor=me, issue=issue, now=now(), **_due(data))


#: action → (schema, service call)
ACTIONS: dict[str, tuple[type[Schema] | None, Callable[..., Any], str]] = {
    "support": (None, lambda db, me, issue, data: svc.support(db, actor=me, issue=issue, now=now()),
                "Support an issue (\"me too\")"),
    "triage": (s.IssueTriageSchema, lambda db, me, issue, data: svc.triage(db, actor=me, catalog=catalog(), issue=issue,
                                                                      now=now(), **data),
               "Accept, reject (with a reason) or schedule for a forum session (staff, grid head)"),
    "assign": (s.IssueAssignSchema, _assign, "Assign to a department or outside body with a due date (staff)"),
    "reply": (s.IssueReplySchema, lambda db, me, issue, data: svc.reply(db, actor=me, issue=issue, now=now(), **data),
              "The assigned department replies"),
    "resolve": (s.IssueNoteSchema, lambda db, me, issue, data: svc.resolve(db, actor=me, issue=issue, now=now(), **data),
                "Mark resolved (staff, the assigned department)"),
    "rate": (s.IssueRateSchema, lambda db, me, issue, data: svc.rate(db, actor=me, catalog=catalog(), issue=issue,
                                                                now=now(), **data),
             "Rate a resolved issue from 1 to 5 (supporters, residents of its place)"),
    "merge": (s.IssueMergeSchema, lambda db, me, issue, data: svc.merge(db, actor=me, issue=issue, now=now(), **data),
              "Merge a duplicate into another issue (staff)"),
    "close": (s.IssueNoteSchema, lambda db, me, issue, data: svc.close(db, actor=me, issue=issue, now=now(), **data),
              "Close a resolved issue (staff)"),
    "reopen": (s.IssueReasonSchema, lambda db, me, issue, data: svc.reopen(db, actor=me, issue=issue, now=now(), **data),
               "Reopen a resolved or rejected issue (staff)"),
}


@bp.app_template_filter("hours")
def _fmt_hours(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def fmt_share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def fmt_avg(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


# ---------------------------------------------------------------------------
# Pages


def _sign_in():
    return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))


@bp.get("/c/<slug>/issues")
def index(slug: str):
    me = current_member()
    if me is None:
        return _sign_in()
    db = get_db()
    require_member(me, g.community.id)
    if svc.escalate_overdue(db, now=now(), community_id=g.community.id):
        commit()  # lazily, so an overdue issue shows as escalated even without cron
    args = s.IssueListArgs().load(request.args.to_dict())
    items = svc.list_issues(db, actor=me, community=g.community, catalog=catalog(), category_key=args["category"],
                            status=args["status"], place_id=args["place"], now=now(), limit=args["limit"],
                            offset=args["offset"])
    return render_template("issues/list.html", community=g.community, issues=items, categories=category_map(),
                           places=places(), args=args, labels=STATUS_LABELS, now=now(), is_overdue=svc.is_overdue,
                           is_staff=is_staff(db, me, g.community.id))


@bp.route("/c/<slug>/issues/new", methods=["GET", "POST"])
def new(slug: str):
    me = current_member()
    if me is None:
        return _sign_in()
    db = get_db()
    require_member(me, g.community.id)
    if request.method == "POST":
        data = form_data(s.IssueInSchema())
        issue = svc.raise_issue(db, actor=me, catalog=catalog(), community=g.community, photos=uploaded_photos(),
                                now=now(), **data)
        commit()
        flash(gettext("Your issue was raised. You will be told of every step."), "ok")
        return redirect(issue_url(issue))
    looks_after = []
    if has_role(db, me, STAFF_ROLES, community_id=g.community.id) or any(
            r.role in {x.value for x in PLACE_HEAD_ROLES} for r in me.roles):
        members = db.scalars(select(Member).where(Member.community_id == g.community.id, Member.id != me.id,
                                                  Member.place_id.is_not(None)).order_by(Member.display_name))
        looks_after = [m for m in members if can_look_after(db, me, m)]
    return render_template("issues/new.html", community=g.community, categories=list(category_map().values()),
                           places=places(), home=me.place_id, looks_after=looks_after,
                           max_photos=svc.MAX_PHOTOS, max_mb=svc.MAX_PHOTO_BYTES // 2**20)


@bp.get("/c/<slug>/issues/<int:issue_id>")
def detail(slug: str, issue_id: int):
    me = current_member()
    if me is None:
        return _sign_in()
    db = get_db()
    issue = load_issue(issue_id, me)
    staff = is_staff(db, me, g.community.id)
    sessions = []
    if svc.can_triage(db, me, issue):
        sessions = list(db.scalars(select(ConsultationSession).where(
            ConsultationSession.community_id == g.community.id,
            ConsultationSession.status != SessionStatus.CLOSED.value).order_by(ConsultationSession.starts_at)))
    scores = svc.round_scores(issue)
    return render_template(
        "issues/detail.html", community=g.community, issue=issue, categories=category_map(), labels=STATUS_LABELS,
        event_labels=EVENT_LABELS, now=now(), overdue=svc.is_overdue(issue, now()),
        supported=any(x.member_id == me.id for x in issue.supports),
        my_rating=next((r for r in issue.ratings if r.member_id == me.id and r.round == issue.rating_round), None),
        can_edit=svc.can_edit(db, me, issue), can_support=svc.can_support(db, me, issue),
        can_triage=svc.can_triage(db, me, issue) and issue.status in svc.TRIAGE_FROM,
        can_assign=staff and issue.status in svc.ASSIGN_FROM,
        can_reply=svc.can_reply(db, me, issue) and issue.status in svc.REPLY_FROM,
        can_resolve=svc.can_resolve(db, me, issue) and issue.status in svc.RESOLVE_FROM,
        can_rate=svc.can_rate(db, me, issue) and issue.status == "resolved",
        can_merge=staff and issue.status in svc.MERGE_FROM, staff=staff, sessions=sessions,
        departments=svc.department_members(db, g.community.id) if staff else [],
        bodies=svc.list_outside_bodies(db, g.community.id) if staff else [],
        places=places(), average=svc.satisfaction(scores, catalog()), ratings=len(scores),
        min_ratings=svc.MIN_RATINGS, reopen_below=svc.REOPEN_BELOW,
    )


@bp.post("/c/<slug>/issues/<int:issue_id>/edit")
def edit(slug: str, issue_id: int):
    me = current_member()
    if me is None:
        abort(401)
    db = get_db()
    issue = load_issue(issue_id, me)
    data = form_data(s.IssuePatchSchema())
    svc.update_issue(db, actor=me, catalog=catalog(), issue=issue, changes=data, now=now())
    commit()
    flash(gettext(SUCCESS["edit"]), "ok")
    return redirect(issue_url(issue))


@bp.post("/c/<slug>/issues/<int:issue_id>/<action>")
def act(slug: str, issue_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    me = current_member()
    if me is None:
        abort(401)
    db = get_db()
    issue = load_issue(issue_id, me)
    schema, call, _ = ACTIONS[action]
    data = form_data(schema()) if schema is not None else {}
    call(db, me, issue, data)
    commit()
    flash(gettext(SUCCESS[action]), "ok")
    return redirect(issue_url(issue))


@bp.get("/c/<slug>/issues/<int:issue_id>/photos/<int:photo_id>")
def photo(slug: str, issue_id: int, photo_id: int):
    me = current_member()
    if me is None:
        abort(401)
    issue = load_issue(issue_id, me)
    row = svc.photo(get_db(), actor=me, issue=issue, photo_id=photo_id)
    response = Response(row.data, mimetype=row.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=86400"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def dashboard_data(by: str) -> tuple[list[stats.GroupFigures], dict[str, Any]]:
    db = get_db()
    me = api_member()
    cats = category_map()
    issues = svc.issues_for_stats(db, actor=me, community=g.community)
    facts = stats.facts_from_issues(issues, category_label=lambda k: cats[k].name(locale()) if k in cats else k)
    groups = stats.group_figures(facts, stats.BY[by], now(), none_label=gettext("Not assigned"))
    overall = stats.figures(gettext("All issues"), facts, now())
    return groups, {"overall": overall}


def charts_for(groups: list[stats.GroupFigures]) -> list[Any]:
    return [
        bar_chart(gettext("Issues"), [(x.key, x.total, str(x.total)) for x in groups], color="#7f1d1d"),
        bar_chart(gettext("Median hours to first reply"),
                  [(x.key, x.median_hours_to_first_reply, _fmt_hours(x.median_hours_to_first_reply)) for x in groups],
                  color="#1d4ed8"),
        bar_chart(gettext("Median hours to resolution"),
                  [(x.key, x.median_hours_to_resolution, _fmt_hours(x.median_hours_to_resolution)) for x in groups],
                  color="#15803d"),
        bar_chart(gettext("Overdue share"), [(x.key, x.overdue_share, fmt_share(x.overdue_share)) for x in groups],
                  color="#c2410c", max_value=1.0),
        bar_chart(gettext("Average satisfaction (1–5)"),
                  [(x.key, x.average_satisfaction, fmt_avg(x.average_satisfaction)) for x in groups],
                  color="#a16207", max_value=5.0),
    ]


@bp.get("/c/<slug>/issues/dashboard")
def dashboard(slug: str):
    if current_member() is None:
        return _sign_in()
    args = s.IssueDashboardArgs().load(request.args.to_dict())
    groups, extra = dashboard_data(args["by"])
    return render_template("issues/dashboard.html", community=g.community, groups=groups, by=args["by"],
                           dimensions=DIMENSIONS, charts=charts_for(groups), overall=extra["overall"],
                           statuses=stats.STATUS_ORDER, labels=STATUS_LABELS, fmt_share=fmt_share, fmt_avg=fmt_avg)


CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(CSV_FORMULA):
        return "'" + value  # never a formula in a spreadsheet
    return value


def dashboard_csv_response(by: str) -> Response:
    groups, _ = dashboard_data(by)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([by, "total", *stats.STATUS_ORDER, "median_hours_to_first_reply", "median_hours_to_resolution",
                     "overdue", "with_due_date", "overdue_percent", "ratings", "average_satisfaction"])
    for x in groups:
        writer.writerow([_cell(x.key), x.total, *(x.counts.get(k, 0) for k in stats.STATUS_ORDER),
                         "" if x.median_hours_to_first_reply is None else _fmt_hours(x.median_hours_to_first_reply),
                         "" if x.median_hours_to_resolution is None else _fmt_hours(x.median_hours_to_resolution),
                         x.overdue, x.with_due_date,
                         "" if x.overdue_share is None else f"{x.overdue_share * 100:.0f}",
                         x.ratings, "" if x.average_satisfaction is None else fmt_avg(x.average_satisfaction)])
    body = "\ufeff" + out.getvalue()  # a BOM so spreadsheet programs read the Chinese right
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="issues-{g.community.slug}-by-{by}.csv"'
    return response


@bp.get("/c/<slug>/issues/dashboard.csv")
def dashboard_csv(slug: str):
    if current_member() is None:
        abort(401)
    return dashboard_csv_response(s.IssueDashboardArgs().load(request.args.to_dict())["by"])


@bp.route("/c/<slug>/issues/review", methods=["GET", "POST"])
def review(slug: str):
    me = current_member()
    if me is None:
        return _sign_in()
    db = get_db()
    require_member(me, g.community.id)
    if request.method == "POST":
        data = form_data(s.IssueReviewAgendaSchema())
        session = db.get(ConsultationSession, data["session_id"])
        if session is None or session.community_id != g.community.id:
            from core.errors import NotFound

            raise NotFound(N_("No such session."), field="session_id")
        added = svc.add_review_agenda(db, actor=me, session=session, period=data["period"], catalog=catalog())
        commit()
        flash(gettext("%(count)s items were put on the agenda.", count=len(added)), "ok")
        return redirect(url_for("views.session_page", slug=slug, session_id=session.id))
    args = s.IssueReviewArgs().load(request.args.to_dict())
    items = svc.review_items(db, community=g.community, period=args["period"], until=now(), catalog=catalog())
    if svc.department_only(me):
        items = [i for i in items if i.issue.assigned_member_id == me.id]
    sessions = [x for x in db.scalars(select(ConsultationSession).where(
        ConsultationSession.community_id == g.community.id, ConsultationSession.format_key == "review_meeting",
        ConsultationSession.status != SessionStatus.CLOSED.value).order_by(ConsultationSession.starts_at))
        if can_run(db, me, x)]
    return render_template("issues/review.html", community=g.community, items=items, period=args["period"],
                           sessions=sessions, labels=STATUS_LABELS, fmt_avg=fmt_avg)


# ---------------------------------------------------------------------------
# JSON API


@bp.get(API)
@doc("Issues of the community the caller may see, newest first (status `overdue` lists overdue ones)",
     response=s.IssueOutSchema, many=True, query=s.IssueListArgs)
def api_list(slug: str):
    me = api_member()
    db = get_db()
    if svc.escalate_overdue(db, now=now(), community_id=g.community.id):
        commit()
    args = s.IssueListArgs().load(request.args.to_dict())
    items = svc.list_issues(db, actor=me, community=g.community, catalog=catalog(), category_key=args["category"],
                            status=args["status"], place_id=args["place"], now=now(), limit=args["limit"],
                            offset=args["offset"])
    return jsonify([dump_issue(i) for i in items])


@bp.post(API)
@doc("Raise an issue (JSON, or multipart with up to 4 `photos`)", body=s.IssueInSchema, response=s.IssueOutSchema,
     status=201)
def api_create(slug: str):
    me = api_member()
    multipart = request.mimetype == "multipart/form-data"
    data = form_data(s.IssueInSchema()) if multipart else _load_json(s.IssueInSchema())
    issue = svc.raise_issue(get_db(), actor=me, catalog=catalog(), community=g.community,
                            photos=uploaded_photos() if multipart else (), now=now(), **data)
    db = get_db()
    db.flush()
    db.refresh(issue)
    response = jsonify(dump_issue(issue, timeline=True))
    commit()  # after the answer is made: a failure making it leaves nothing written
    return response, 201


@bp.get(API + "/<int:issue_id>")
@doc("One issue with its timeline", response=s.IssueOutSchema)
def api_get(slug: str, issue_id: int):
    me = api_member()
    return jsonify(dump_issue(load_issue(issue_id, me), timeline=True))


@bp.patch(API + "/<int:issue_id>")
@doc("Change an issue (its resident before triage; staff)", body=s.IssuePatchSchema, response=s.IssueOutSchema)
def api_update(slug: str, issue_id: int):
    me = api_member()
    issue = load_issue(issue_id, me)
    data = _load_json(s.IssuePatchSchema())
    svc.update_issue(get_db(), actor=me, catalog=catalog(), issue=issue, changes=data, now=now())
    get_db().flush()
    get_db().refresh(issue)
    response = jsonify(dump_issue(issue, timeline=True))
    commit()  # after the answer is made
    return response


def _make_api_action(name: str, schema: type[Schema] | None, call: Callable[..., Any], summary: str) -> None:
    def view(slug: str, issue_id: int):
        me = api_member()
        db = get_db()
        issue = load_issue(issue_id, me)
        if schema is not None:
            data = _load_json(schema())
        else:
            data = {}
        call(db, me, issue, data)
        db.flush()
        db.refresh(issue)
        response = jsonify(dump_issue(issue, timeline=True))
        commit()  # after the answer is made: a failure making it leaves nothing written
        return response

    view.__name__ = f"api_{name}"
    view = doc(summary, body=schema, response=s.IssueOutSchema)(view)
    bp.add_url_rule(f"{API}/<int:issue_id>/{name}", endpoint=f"api_{name}", view_func=view, methods=["POST"])


for _name, (_schema, _call, _summary) in ACTIONS.items():
    _make_api_action(_name, _schema, _call, _summary)


@bp.get(API + "/dashboard")
@doc("Dashboard figures per category, place or department", response=s.IssueGroupFiguresSchema, many=True,
     query=s.IssueDashboardArgs)
def api_dashboard(slug: str):
    args = s.IssueDashboardArgs().load(request.args.to_dict())
    groups, _ = dashboard_data(args["by"])
    return jsonify([s.IssueGroupFiguresSchema().dump(x) for x in groups])


@bp.get(API + "/dashboard.csv")
@doc("Dashboard figures as CSV", query=s.IssueDashboardArgs)
def api_dashboard_csv(slug: str):
    api_member()
    return dashboard_csv_response(s.IssueDashboardArgs().load(request.args.to_dict())["by"])


@bp.get(API + "/review")
@doc("What a monthly or quarterly review meeting goes through: overdue, open, recently rated",
     response=s.IssueReviewItemSchema, many=True, query=s.IssueReviewArgs)
def api_review(slug: str):
    me = api_member()
    args = s.IssueReviewArgs().load(request.args.to_dict())
    items = svc.review_items(get_db(), community=g.community, period=args["period"], until=now(), catalog=catalog())
    if svc.department_only(me):
        items = [i for i in items if i.issue.assigned_member_id == me.id]
    return jsonify([s.IssueReviewItemSchema().dump({"section": i.section, "issue_id": i.issue.id, "title": i.issue.title,
                                               "status": i.issue.status, "average": i.average,
                                               "ratings": i.ratings}) for i in items])


@bp.get("/api/v1/communities/<slug>/outside-bodies")
@doc("Outside bodies issues can be assigned to", response=s.OutsideBodySchema, many=True)
def api_outside_bodies(slug: str):
    api_member()
    return jsonify([s.OutsideBodySchema().dump(b) for b in svc.list_outside_bodies(get_db(), g.community.id)])


@bp.post("/api/v1/communities/<slug>/outside-bodies")
@doc("Register an outside body (staff)", body=s.OutsideBodyInSchema, response=s.OutsideBodySchema, status=201)
def api_create_outside_body(slug: str):
    me = api_member()
    data = _load_json(s.OutsideBodyInSchema())
    body = svc.create_outside_body(get_db(), actor=me, community=g.community, **data)
    response = jsonify(s.OutsideBodySchema().dump(body))
    commit()  # after the answer is made
    return response, 201

