"""Pages, calendar feeds and the JSON API of host rotation (blueprint ``plugin_host_rotation``).

Thin handlers: load the input through a schema, call one service of
:mod:`core.services.rotation` with the policy hook as its ``plan`` callable, commit,
answer. Errors are domain errors or ``ValidationError``s which ``web/errors.py`` turns
into 4xx answers (JSON for the API, a flash message back on the form's page otherwise).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable

from urllib.parse import urlsplit

from flask import (Blueprint, Response, abort, current_app, g, jsonify, redirect, render_template, request,
                   url_for)
from flask_babel import format_date, format_datetime, gettext

from core.db import utcnow
from core.errors import NotFound
from core.i18n import N_
from core.models import ConsultationSession, Member, RotationSeries
from core.models.rotation import FIXED_STATES, ReservationStatus, SlotState
from core.services import rotation as rs
from core.services import sessions as sessions_service
from core.services.access import community_by_slug, is_staff, require_member
from core.services.plugins import enabled_checker
from plugins.host_rotation import ical
from plugins.host_rotation import schemas as s
from web.auth import current_member
from web.db import commit, get_db
from web.extensions import current_courtyard
from web.plugin_api import holds_secret

PLUGIN = "host_rotation"
bp = Blueprint("plugin_host_rotation", __name__, template_folder="templates", static_folder="static",
               static_url_path="/plugin-static/host-rotation")
API = "/api/v1/communities/<slug>/rotation"

STATE_LABELS = {
    "open": N_("No host yet"),
    "proposed": N_("Proposed, waiting for the host"),
    "confirmed": N_("Confirmed"),
    "overridden": N_("Set by staff"),
    "cancelled": N_("Cancelled"),
}
RESERVATION_LABELS = {"reserved": N_("Seat reserved"), "waitlisted": N_("On the waiting list"),
                      "cancelled": N_("Cancelled")}
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))


# ---------------------------------------------------------------------------
# OpenAPI: the same documentation table as web/api.py, keyed by this blueprint's endpoints
# ---------------------------------------------------------------------------


def doc(summary: str, *, body: type | None = None, response: type | None = None, many: bool = False,
        status: int = 200, query: type | None = None) -> Callable:
    from web.api import API_DOCS

    def decorate(fn: Callable) -> Callable:
        API_DOCS[f"{bp.name}.{fn.__name__}"] = dict(summary=summary, body=body, response=response, many=many,
                                                   status=status, query=query)
        return fn

    return decorate


# ---------------------------------------------------------------------------
# Plumbing
# ---------------------------------------------------------------------------


@bp.url_value_preprocessor
def _community(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values and "slug" in values:
        g.community = community_by_slug(get_db(), values["slug"])
        if not enabled_checker(get_db(), g.community.id, current_courtyard().pm)(PLUGIN):
            abort(404)


def now() -> datetime:
    clock = current_app.config.get("COURTYARD_CLOCK")
    return clock() if clock else utcnow()


def planner() -> Callable[..., Any]:
    pm = current_courtyard().pm
    return lambda **kw: pm.hook.courtyard_plan_host_rotation(**kw)


def catalog():
    return current_courtyard().catalog


def signed_in_page() -> Member | Response:
    me = current_member()
    if me is None:
        return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
    return me


def api_member() -> Member:
    me = current_member()
    if me is None:
        abort(401)
    return me


def _series(series_id: int) -> RotationSeries:
    return rs.get_series(get_db(), series_id, community_id=g.community.id)


def _talk(session_id: int) -> ConsultationSession:
    session = sessions_service.get_session(get_db(), session_id, community_id=g.community.id)
    if session.status == "draft" and not sessions_service.can_run(get_db(), current_member(), session) \
            and rs.slot_for_session(get_db(), session.id) is None:
        abort(404)
    return session


def _int_or_raw(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


def _form_version() -> dict[str, Any]:
    raw = request.form.get("version")
    return {"version": _int_or_raw(raw)} if raw not in (None, "") else {}


def local_month(dt: datetime) -> str:
    tz = rs.community_tz(get_db(), g.community)
    return dt.astimezone(tz).strftime("%Y-%m")


def shift_month(month: str, delta: int) -> str:
    first, _ = rs.month_bounds(month)
    index = first.year * 12 + first.month - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def talk_url(session: ConsultationSession, external: bool = False) -> str:
    return url_for("plugin_host_rotation.talk_page", slug=g.community.slug, session_id=session.id,
                   _external=external)


def dump_slot(slot: Any) -> dict[str, Any]:
    db = get_db()
    application = rs.application_of(db, slot.series_id, slot.host_id, active_only=False)
    return s.RotaSlotSchema().dump({
        "id": slot.id, "series_id": slot.series_id, "starts_at": slot.starts_at, "ends_at": slot.ends_at,
        "state": slot.state, "host": slot.host, "session_id": slot.session_id,
        "venue": application.venue_label if application else None,
        "topic": application.topic if application else None,
    })


def dump_talk(session: ConsultationSession, me: Member | None) -> dict[str, Any]:
    db = get_db()
    rows = rs.reservations(db, session)
    mine = rs.my_reservation(db, session, me)
    slot = rs.slot_for_session(db, session.id)
    return s.RotaTalkSchema().dump({
        "id": session.id, "title": session.title, "starts_at": session.starts_at, "ends_at": session.ends_at,
        "status": session.status, "venue": session.venue, "address": rs.address_for(db, me, session),
        "bring_note": rs.bring_note(db, session), "host": session.host, "capacity": session.capacity,
        "seats_taken": sum(1 for r in rows if r.status == ReservationStatus.RESERVED.value),
        "waiting": sum(1 for r in rows if r.status == ReservationStatus.WAITLISTED.value),
        "my_reservation": mine if mine is not None and mine.status != "cancelled" else None,
        "cancelled": bool(slot is not None and slot.state == SlotState.CANCELLED.value),
    })


def _applicant_label(member: Member) -> str:
    return gettext("%(name)s's courtyard", name=member.display_name)


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


@bp.route("/c/<slug>/courtyard/", methods=["GET", "POST"])
def index(slug: str):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    db = get_db()
    if request.method == "POST":
        form = request.form
        data = s.RotaSeriesInSchema().load({
            "title": form.get("title", ""),
            "weekdays": [_int_or_raw(x) for x in form.getlist("weekdays")],
            "start_time": form.get("start_time") or "14:00",
            "per_month": _int_or_raw(form.get("per_month")) if form.get("per_month") else None,
            "duration_minutes": _int_or_raw(form.get("duration_minutes") or "120"),
            "min_capacity": _int_or_raw(form.get("min_capacity") or "8"),
        })
        series = rs.create_series(db, actor=me, community=g.community, catalog=catalog(), now=now(), **data)
        commit()
        return redirect(url_for(".plan_page", slug=slug, series_id=series.id))
    require_member(me, g.community.id)
    current = now()
    upcoming = []
    for series in rs.list_series(db, community=g.community):
        for slot in rs.slots_between(db, series, start=current):
            if slot.session is not None and slot.state in FIXED_STATES:
                upcoming.append((series, slot))
    upcoming.sort(key=lambda pair: pair[1].starts_at)
    return render_template("host_rotation/index.html", community=g.community,
                           series_list=rs.list_series(db, community=g.community), upcoming=upcoming[:20],
                           is_staff=is_staff(db, me, g.community.id), weekdays=WEEKDAYS,
                           month=local_month(current))


@bp.get("/c/<slug>/courtyard/<int:series_id>")
def plan_page(slug: str, series_id: int):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    require_member(me, g.community.id)
    db = get_db()
    series = _series(series_id)
    args = s.RotaMonthArgs().load(request.args.to_dict())
    month = args["month"] or local_month(now())
    slots = rs.month_slots(db, series, month)
    apps = {a.member_id: a for a in rs.applications(db, series)}
    staff = is_staff(db, me, g.community.id)
    mine = rs.application_of(db, series.id, me.id)
    return render_template("host_rotation/plan.html", community=g.community, series=series, slots=slots, month=month,
                           prev_month=shift_month(month, -1), next_month=shift_month(month, 1),
                           applications=apps, is_staff=staff, me=me, my_application=mine,
                           state_labels=STATE_LABELS, fixed_states=FIXED_STATES, now=now(), weekdays=WEEKDAYS)


@bp.post("/c/<slug>/courtyard/<int:series_id>/plan")
def plan_action(slug: str, series_id: int):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    data = s.RotaPlanInSchema().load({"month": request.form.get("month", ""), **_form_version()})
    first, nxt = rs.month_bounds(data["month"])
    rs.plan_period(get_db(), actor=me, series=_series(series_id), start=first, end=nxt, plan=planner(),
                   expected_version=data["version"], now=now())
    commit()
    return redirect(url_for(".plan_page", slug=slug, series_id=series_id, month=data["month"]))


@bp.post("/c/<slug>/courtyard/slots/<int:slot_id>/<action>")
def slot_action(slug: str, slot_id: int, action: str):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    db = get_db()
    slot = rs.get_slot(db, slot_id, community_id=g.community.id)
    form = request.form
    if action == "confirm":
        rs.confirm_slot(db, actor=me, slot=slot, catalog=catalog(), now=now())
    elif action == "decline":
        rs.decline_slot(db, actor=me, slot=slot, plan=planner(), now=now())
    elif action == "swap":
        data = s.RotaSwapInSchema().load({"other_slot_id": _int_or_raw(form.get("other_slot_id", "")),
                                      **_form_version()})
        other = rs.get_slot(db, data["other_slot_id"], community_id=g.community.id, field="other_slot_id")
        rs.swap_slots(db, actor=me, slot_a=slot, slot_b=other, expected_version=data["version"], now=now())
    elif action == "override":
        data = s.RotaOverrideInSchema().load({"host_id": _int_or_raw(form.get("host_id", "")), **_form_version()})
        rs.override_slot(db, actor=me, slot=slot, host_id=data["host_id"], catalog=catalog(),
                         expected_version=data["version"], now=now())
    elif action == "cancel":
        data = s.RotaVersionInSchema().load(_form_version())
        rs.cancel_slot(db, actor=me, slot=slot, expected_version=data["version"], now=now())
    else:
        abort(404)
    commit()
    return redirect(url_for(".plan_page", slug=slug, series_id=slot.series_id, month=local_month(slot.starts_at)))


@bp.route("/c/<slug>/courtyard/<int:series_id>/apply", methods=["GET", "POST"])
def apply_page(slug: str, series_id: int):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    require_member(me, g.community.id)
    db = get_db()
    series = _series(series_id)
    if request.method == "POST":
        form = request.form
        data = s.RotaApplicationInSchema().load({
            "venue_address": form.get("venue_address", ""),
            "venue_label": form.get("venue_label", ""),
            "seats": _int_or_raw(form.get("seats", "")),
            "topic": form.get("topic", ""),
            "bring_note": form.get("bring_note", ""),
            "dates": form.getlist("dates"),
        })
        data["venue_label"] = data["venue_label"] or _applicant_label(me)
        rs.apply_to_host(db, actor=me, series=series, now=now(), **data)
        commit()
        return redirect(url_for(".plan_page", slug=slug, series_id=series.id))
    return render_template("host_rotation/apply.html", community=g.community, series=series,
                           dates=rs.upcoming_dates(db, series, now=now()),
                           my_application=rs.application_of(db, series.id, me.id), default_label=_applicant_label(me))


@bp.post("/c/<slug>/courtyard/<int:series_id>/withdraw")
def withdraw(slug: str, series_id: int):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    db = get_db()
    series = _series(series_id)
    application = rs.application_of(db, series.id, me.id)
    if application is None:
        raise NotFound(N_("You have not applied to host this series."), field="series_id")
    rs.withdraw_application(db, actor=me, application=application, plan=planner(), now=now())
    commit()
    return redirect(url_for(".plan_page", slug=slug, series_id=series.id))


@bp.get("/c/<slug>/courtyard/sessions/<int:session_id>")
def talk_page(slug: str, session_id: int):
    db = get_db()
    session = _talk(session_id)
    me = current_member()
    runs = sessions_service.can_run(db, me, session)
    slot = rs.slot_for_session(db, session.id)
    return render_template("host_rotation/talk.html", community=g.community, session=session, me=me,
                           address=rs.address_for(db, me, session), bring_note=rs.bring_note(db, session),
                           mine=rs.my_reservation(db, session, me), rows=rs.reservations(db, session),
                           runs=runs, cancelled=bool(slot and slot.state == SlotState.CANCELLED.value),
                           labels=RESERVATION_LABELS, now=now())


@bp.post("/c/<slug>/courtyard/sessions/<int:session_id>/reserve")
def reserve(slug: str, session_id: int):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    data = s.RotaReservationInSchema().load({"bringing": request.form.get("bringing", "")})
    rs.reserve_seat(get_db(), actor=me, session=_talk(session_id), now=now(), **data)
    commit()
    return redirect(url_for(".talk_page", slug=slug, session_id=session_id))


@bp.post("/c/<slug>/courtyard/sessions/<int:session_id>/cancel")
def unreserve(slug: str, session_id: int):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    rs.cancel_reservation(get_db(), actor=me, session=_talk(session_id), now=now())
    commit()
    return redirect(url_for(".talk_page", slug=slug, session_id=session_id))


@bp.get("/c/<slug>/courtyard/<int:series_id>/print")
def print_page(slug: str, series_id: int):
    """The month's rota on one sheet, for a member to print for the notice board. Members
    only, like the plan it prints: it names every host, proposed ones who have not said
    yes yet included, beside the venue of their home."""
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    require_member(me, g.community.id)
    db = get_db()
    series = _series(series_id)
    args = s.RotaMonthArgs().load(request.args.to_dict())
    month = args["month"] or local_month(now())
    slots = rs.month_slots(db, series, month)
    apps = {a.member_id: a for a in rs.applications(db, series)}
    first, _ = rs.month_bounds(month)
    return render_template("host_rotation/print.html", community=g.community, series=series, slots=slots,
                           applications=apps, month_start=first, state_labels=STATE_LABELS,
                           calendar_url=url_for(".community_ics", slug=slug, _external=True))


@bp.route("/c/<slug>/courtyard/calendar", methods=["GET", "POST"])
def calendar_page(slug: str):
    me = signed_in_page()
    if not isinstance(me, Member):
        return me
    require_member(me, g.community.id)
    personal = None
    if request.method == "POST":
        token = rs.issue_calendar_token(get_db(), actor=me, now=now())
        commit()
        holds_secret()
        personal = url_for(".member_ics", token=token, _external=True)
    return render_template("host_rotation/calendar.html", community=g.community, personal=personal,
                           has_token=rs.has_calendar_token(get_db(), me),
                           community_url=url_for(".community_ics", slug=slug, _external=True))


# ---------------------------------------------------------------------------
# Calendar feeds
# ---------------------------------------------------------------------------


def _ics(body: bytes, filename: str) -> Response:
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _domain() -> str:
    """The host in each event's UID: the public address's (COURTYARD_PUBLIC_URL) when set,
    so a feed read through another trusted address (loopback, a second name) keeps its
    UIDs and a calendar never sees one talk twice."""
    return urlsplit(url_for("views.home", _external=True)).hostname or "courtyard"


@bp.get("/c/<slug>/calendar.ics")
def community_ics(slug: str):
    db = get_db()
    body = ical.build_calendar(
        rs.community_calendar(db, g.community), name=g.community.name(g.community.default_locale),
        domain=_domain(), now=now(), url_for_session=lambda x: talk_url(x, external=True),
        location_for=lambda x: x.venue)
    return _ics(body, f"{slug}.ics")


@bp.get("/calendar/<token>.ics")
def member_ics(token: str):
    db = get_db()
    member = rs.member_for_calendar_token(db, token)
    from core.models import Community

    g.community = db.get(Community, member.community_id)

    def location(session: ConsultationSession) -> str:
        address = rs.address_for(db, member, session)
        return f"{session.venue} · {address}" if address else session.venue

    body = ical.build_calendar(rs.member_calendar(db, member), name=member.display_name, domain=_domain(), now=now(),
                               url_for_session=lambda x: talk_url(x, external=True), location_for=location)
    return _ics(body, "courtyard.ics")


# ---------------------------------------------------------------------------
# JSON API
# ---------------------------------------------------------------------------


def load(schema: Any) -> dict[str, Any]:
    from web.schemas import load_json

    return load_json(schema)


@bp.get(f"{API}/series")
@doc("Series of courtyard talks of the community", response=s.RotaSeriesSchema, many=True)
def api_series_list(slug: str):
    return jsonify(s.RotaSeriesSchema(many=True).dump(rs.list_series(get_db(), community=g.community)))


@bp.post(f"{API}/series")
@doc("Set up a series of courtyard talks (staff)", body=s.RotaSeriesInSchema, response=s.RotaSeriesSchema, status=201)
def api_series_create(slug: str):
    me = api_member()
    data = load(s.RotaSeriesInSchema())
    series = rs.create_series(get_db(), actor=me, community=g.community, catalog=catalog(), now=now(), **data)
    commit()
    return jsonify(s.RotaSeriesSchema().dump(series)), 201


def _plan_body(series: RotationSeries, month: str) -> dict[str, Any]:
    slots = rs.month_slots(get_db(), series, month)
    return {"series": s.RotaSeriesSchema().dump(series), "month": month, "version": series.version,
            "slots": [dump_slot(x) for x in slots]}


@bp.get(f"{API}/series/<int:series_id>/plan")
@doc("The rota of one month (`month=YYYY-MM`, default this month)", response=s.RotaPlanSchema, query=s.RotaMonthArgs)
def api_plan(slug: str, series_id: int):
    require_member(api_member(), g.community.id)
    args = s.RotaMonthArgs().load(request.args.to_dict())
    return jsonify(_plan_body(_series(series_id), args["month"] or local_month(now())))


@bp.post(f"{API}/series/<int:series_id>/plan")
@doc("Propose hosts for a month through the rotation policy (staff); send `version`", body=s.RotaPlanInSchema,
     response=s.RotaPlanSchema)
def api_plan_propose(slug: str, series_id: int):
    me = api_member()
    data = load(s.RotaPlanInSchema())
    series = _series(series_id)
    first, nxt = rs.month_bounds(data["month"])
    rs.plan_period(get_db(), actor=me, series=series, start=first, end=nxt, plan=planner(),
                   expected_version=data["version"], now=now())
    commit()
    return jsonify(_plan_body(series, data["month"]))


@bp.post(f"{API}/series/<int:series_id>/applications")
@doc("Apply to host at home on some dates of the series", body=s.RotaApplicationInSchema, response=s.RotaApplicationSchema,
     status=201)
def api_apply(slug: str, series_id: int):
    me = api_member()
    data = load(s.RotaApplicationInSchema())
    data["venue_label"] = data["venue_label"] or _applicant_label(me)
    application = rs.apply_to_host(get_db(), actor=me, series=_series(series_id), now=now(), **data)
    commit()
    return jsonify(dump_application(application)), 201


def dump_application(application: Any) -> dict[str, Any]:
    return s.RotaApplicationSchema().dump({**{k: getattr(application, k) for k in (
        "id", "series_id", "member", "venue_label", "venue_address", "seats", "topic", "bring_note", "status")},
        "dates": [d.day for d in application.dates]})


@bp.post(f"{API}/series/<int:series_id>/applications/mine/withdraw")
@doc("Withdraw my application to host", response=s.RotaApplicationSchema)
def api_withdraw(slug: str, series_id: int):
    me = api_member()
    series = _series(series_id)
    application = rs.application_of(get_db(), series.id, me.id)
    if application is None:
        raise NotFound(N_("You have not applied to host this series."), field="series_id")
    rs.withdraw_application(get_db(), actor=me, application=application, plan=planner(), now=now())
    commit()
    return jsonify(dump_application(application))


def _slot_api(slot_id: int, action: str):
    me = api_member()
    db = get_db()
    slot = rs.get_slot(db, slot_id, community_id=g.community.id)
    if action == "confirm":
        load(s.RotaVersionInSchema())
        rs.confirm_slot(db, actor=me, slot=slot, catalog=catalog(), now=now())
    elif action == "decline":
        load(s.RotaVersionInSchema())
        rs.decline_slot(db, actor=me, slot=slot, plan=planner(), now=now())
    elif action == "swap":
        data = load(s.RotaSwapInSchema())
        other = rs.get_slot(db, data["other_slot_id"], community_id=g.community.id, field="other_slot_id")
        rs.swap_slots(db, actor=me, slot_a=slot, slot_b=other, expected_version=data["version"], now=now())
    elif action == "override":
        data = load(s.RotaOverrideInSchema())
        rs.override_slot(db, actor=me, slot=slot, host_id=data["host_id"], catalog=catalog(),
                         expected_version=data["version"], now=now())
    else:
        data = load(s.RotaVersionInSchema())
        rs.cancel_slot(db, actor=me, slot=slot, expected_version=data["version"], now=now())
    commit()
    series = db.get(RotationSeries, slot.series_id)
    return jsonify({**dump_slot(slot), "version": series.version})


@bp.post(f"{API}/slots/<int:slot_id>/confirm")
@doc("The proposed host confirms the date (a session is scheduled at their home)", body=s.RotaVersionInSchema,
     response=s.RotaSlotSchema)
def api_confirm(slug: str, slot_id: int):
    return _slot_api(slot_id, "confirm")


@bp.post(f"{API}/slots/<int:slot_id>/decline")
@doc("The proposed host declines; only this date is re-planned", body=s.RotaVersionInSchema, response=s.RotaSlotSchema)
def api_decline(slug: str, slot_id: int):
    return _slot_api(slot_id, "decline")


@bp.post(f"{API}/slots/<int:slot_id>/swap")
@doc("Swap the hosts of two dates (staff or one of the hosts)", body=s.RotaSwapInSchema, response=s.RotaSlotSchema)
def api_swap(slug: str, slot_id: int):
    return _slot_api(slot_id, "swap")


@bp.post(f"{API}/slots/<int:slot_id>/override")
@doc("Staff choose the host of a date", body=s.RotaOverrideInSchema, response=s.RotaSlotSchema)
def api_override(slug: str, slot_id: int):
    return _slot_api(slot_id, "override")


@bp.post(f"{API}/slots/<int:slot_id>/cancel")
@doc("Staff call a date off", body=s.RotaVersionInSchema, response=s.RotaSlotSchema)
def api_cancel(slug: str, slot_id: int):
    return _slot_api(slot_id, "cancel")


@bp.get(f"{API}/sessions/<int:session_id>")
@doc("A courtyard talk: seats, waiting list, and the address for those with a seat", response=s.RotaTalkSchema)
def api_talk(slug: str, session_id: int):
    return jsonify(dump_talk(_talk(session_id), current_member()))


@bp.post(f"{API}/sessions/<int:session_id>/reservations")
@doc("Reserve a seat (or join the waiting list when full)", body=s.RotaReservationInSchema, response=s.RotaTalkSchema,
     status=201)
def api_reserve(slug: str, session_id: int):
    me = api_member()
    data = load(s.RotaReservationInSchema())
    session = _talk(session_id)
    rs.reserve_seat(get_db(), actor=me, session=session, now=now(), **data)
    commit()
    return jsonify(dump_talk(session, me)), 201


@bp.delete(f"{API}/sessions/<int:session_id>/reservations/mine")
@doc("Give up my seat; the first one waiting gets it", response=s.RotaTalkSchema)
def api_unreserve(slug: str, session_id: int):
    me = api_member()
    session = _talk(session_id)
    rs.cancel_reservation(get_db(), actor=me, session=session, now=now())
    commit()
    return jsonify(dump_talk(session, me))


@bp.get(f"{API}/sessions/<int:session_id>/attendees")
@doc("Who is coming and what they bring (the host and staff)", response=s.RotaReservationSchema, many=True)
def api_attendees(slug: str, session_id: int):
    rows = rs.who_is_coming(get_db(), actor=current_member(), session=_talk(session_id))
    return jsonify(s.RotaReservationSchema(many=True).dump(rows))


@bp.post(f"{API}/calendar-token")
@doc("A new personal calendar feed URL (the previous one stops working)", response=s.RotaCalendarTokenSchema,
     status=201)
def api_calendar_token(slug: str):
    me = api_member()
    require_member(me, g.community.id)
    token = rs.issue_calendar_token(get_db(), actor=me, now=now())
    commit()
    holds_secret()
    return jsonify({"url": url_for(".member_ics", token=token, _external=True)}), 201


@bp.app_template_filter("rota_date")
def _rota_date(value: date | datetime) -> str:
    return format_date(value, "full") if isinstance(value, date) and not isinstance(value, datetime) \
        else format_datetime(value, "full")
