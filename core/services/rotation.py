"""Host rotation for courtyard tea talks (海棠小院 院长轮值).

Staff set up a series of talks; residents apply to host at home on some of its dates;
the rotation policy (the ``courtyard_plan_host_rotation`` hook, passed in as the
``plan`` callable so that ``core`` never imports a plugin) proposes a host per date;
the host confirms (a :class:`ConsultationSession` is created) or declines (only that
date is re-planned); hosts or staff swap two dates; staff override or cancel. Residents
reserve seats; a full talk keeps a waiting list promoted in order.

Every function takes the database session and the acting member explicitly and only
``flush()``-es: the caller commits. ``now`` is injectable for tests.
"""

from __future__ import annotations

import calendar as _calendar
import hashlib
import re
import secrets
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.catalog import Catalog
from core.db import lock_row, utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.i18n import N_
from core.models import Community, ConsultationSession, Member, RoleAssignment
from core.models.member import STAFF_ROLES
from core.models.rotation import (BUSY_STATES, FIXED_STATES, ApplicationDate, CalendarToken, HostApplication,
                                  PlannedSlot, ReminderSent, ReservationStatus, RotationSeries, SeatReservation,
                                  SlotState)
from core.models.session import SessionStatus
from core.scheduling import Assignment, Candidate, PastHosting, Slot
from core.services import notifications
from core.services import sessions as sessions_service
from core.services.access import is_staff, require_member

#: the policy: ``plan(slots=..., candidates=..., history=..., fixed=...)`` → assignments or None
PlanFn = Callable[..., "Sequence[Assignment] | None"]

#: how far ahead a resident can offer dates (the apply form shows this window)
APPLY_WINDOW_DAYS = 62
REMINDER_LEAD = timedelta(hours=24)
NO_HOST_LEAD = timedelta(days=7)
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# ---------------------------------------------------------------------------
# Dates and times
# ---------------------------------------------------------------------------


def community_tz(db: Session, series_or_community: Any) -> ZoneInfo:
    community = series_or_community
    if isinstance(series_or_community, RotationSeries):
        community = db.get(Community, series_or_community.community_id)
    try:
        return ZoneInfo(community.timezone or "Asia/Shanghai")
    except Exception:  # pragma: no cover - a bad zone name in the database
        return ZoneInfo("Asia/Shanghai")


def local_today(tz: ZoneInfo, now: datetime) -> date:
    return now.astimezone(tz).date()


def slot_times(series: RotationSeries, tz: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """The start and end (timezone-aware, local zone) of the series' talk on ``day``."""
    hour, minute = (int(x) for x in series.start_time.split(":"))
    start = datetime.combine(day, time(hour, minute), tzinfo=tz)
    return start, start + timedelta(minutes=series.duration_minutes)


def series_dates(series: RotationSeries, start: date, end: date) -> list[date]:
    """The series' dates in ``[start, end)``: its explicit dates, or its weekdays (at most
    ``per_month`` a calendar month: the first matching dates of each month)."""
    if series.dates:
        return sorted(d for d in (date.fromisoformat(x) for x in series.dates) if start <= d < end)
    out: list[date] = []
    weekdays = set(series.weekdays or [])
    if not weekdays or end <= start:
        return out
    year, month = start.year, start.month
    while date(year, month, 1) < end:
        days_in = _calendar.monthrange(year, month)[1]
        matching = [date(year, month, d) for d in range(1, days_in + 1) if date(year, month, d).weekday() in weekdays]
        if series.per_month:
            matching = matching[:series.per_month]
        out += [d for d in matching if start <= d < end]
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def upcoming_dates(db: Session, series: RotationSeries, *, now: datetime | None = None,
                   days: int = APPLY_WINDOW_DAYS) -> list[date]:
    """Dates a resident can still offer: from tomorrow (local) for ``days`` days."""
    now = now or utcnow()
    today = local_today(community_tz(db, series), now)
    return series_dates(series, today + timedelta(days=1), today + timedelta(days=days + 1))


def month_bounds(month: str) -> tuple[date, date]:
    """``"2026-03"`` → (2026-03-01, 2026-04-01); a malformed month is Invalid."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise Invalid(N_("Give the month as YYYY-MM."), field="month")
    first = date(int(m.group(1)), int(m.group(2)), 1)
    nxt = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return first, nxt


def fmt_local(dt: datetime, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------
# Loading and rights
# ---------------------------------------------------------------------------


def require_staff(db: Session, actor: Member | None, community_id: int) -> Member:
    if not is_staff(db, actor, community_id):
        raise Forbidden(N_("Only staff can change the rota."))
    assert actor is not None
    return actor


def get_series(db: Session, series_id: int, *, community_id: int) -> RotationSeries:
    series = db.get(RotationSeries, series_id)
    if series is None or series.community_id != community_id:
        raise NotFound(N_("No such series of talks."), field="series_id")
    return series


def list_series(db: Session, *, community: Community) -> list[RotationSeries]:
    return list(db.scalars(select(RotationSeries).where(RotationSeries.community_id == community.id,
                                                         RotationSeries.active.is_(True))
                           .order_by(RotationSeries.id)))


def get_slot(db: Session, slot_id: int, *, community_id: int, field: str = "slot_id") -> PlannedSlot:
    slot = db.get(PlannedSlot, slot_id)
    if slot is None or db.get(RotationSeries, slot.series_id).community_id != community_id:
        raise NotFound(N_("No such date in the rota."), field=field)
    return slot


def application_of(db: Session, series_id: int, member_id: int | None, *,
                   active_only: bool = True) -> HostApplication | None:
    if member_id is None:
        return None
    query = select(HostApplication).where(HostApplication.series_id == series_id,
                                          HostApplication.member_id == member_id)
    if active_only:
        query = query.where(HostApplication.status == "active")
    return db.scalar(query)


def applications(db: Session, series: RotationSeries) -> list[HostApplication]:
    return list(db.scalars(select(HostApplication).where(HostApplication.series_id == series.id,
                                                         HostApplication.status == "active")
                           .order_by(HostApplication.id)))


def slots_between(db: Session, series: RotationSeries, start: datetime | None = None,
                  end: datetime | None = None) -> list[PlannedSlot]:
    query = select(PlannedSlot).where(PlannedSlot.series_id == series.id)
    if start is not None:
        query = query.where(PlannedSlot.starts_at >= start)
    if end is not None:
        query = query.where(PlannedSlot.starts_at < end)
    return list(db.scalars(query.order_by(PlannedSlot.starts_at, PlannedSlot.id)))


def month_slots(db: Session, series: RotationSeries, month: str) -> list[PlannedSlot]:
    first, nxt = month_bounds(month)
    tz = community_tz(db, series)
    return slots_between(db, series, datetime.combine(first, time(), tzinfo=tz),
                         datetime.combine(nxt, time(), tzinfo=tz))


def slot_for_session(db: Session, session_id: int) -> PlannedSlot | None:
    return db.scalar(select(PlannedSlot).where(PlannedSlot.session_id == session_id))


def _staff_members(db: Session, community_id: int) -> list[Member]:
    roles = [r.value for r in STAFF_ROLES]
    return list(db.scalars(select(Member).join(RoleAssignment).where(
        Member.community_id == community_id, Member.active.is_(True), RoleAssignment.role.in_(roles),
        RoleAssignment.place_id.is_(None)).distinct()))


def _bump(db: Session, series: RotationSeries, expected_version: int | None) -> None:
    """Compare-and-set the plan's version: two staff editing at once cannot both win."""
    if expected_version is not None and expected_version != series.version:
        raise Conflict(N_("Someone else changed the rota; reload and try again."), field="version")
    current = series.version if expected_version is None else expected_version
    result = db.execute(update(RotationSeries).where(RotationSeries.id == series.id,
                                                     RotationSeries.version == current)
                        .values(version=current + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(N_("Someone else changed the rota; reload and try again."), field="version")
    set_committed_value(series, "version", current + 1)


def _future(slot: PlannedSlot, now: datetime) -> None:
    if slot.starts_at <= now:
        raise Invalid(N_("This date is in the past."), field="slot_id")


# ---------------------------------------------------------------------------
# Series
# ---------------------------------------------------------------------------


def create_series(db: Session, *, actor: Member | None, community: Community, title: str,
                  weekdays: Sequence[int] = (), dates: Sequence[date] = (), start_time: str = "14:00",
                  per_month: int | None = None, duration_minutes: int = 120, min_capacity: int = 8,
                  format_key: str = "courtyard_talk", category_key: str | None = None,
                  catalog: Catalog | None = None, now: datetime | None = None) -> RotationSeries:
    """Set up a series of courtyard talks (staff; ``actor`` None is the operator)."""
    if actor is not None:
        require_staff(db, actor, community.id)
    now = now or utcnow()
    if not title or not title.strip():
        raise Invalid(N_("A title is required."), field="title")
    if not _TIME.match(start_time or ""):
        raise Invalid(N_("Give the time as HH:MM."), field="start_time")
    if min_capacity is None or min_capacity < 1:
        raise Invalid(N_("Capacity must be at least 1."), field="min_capacity")
    if not 15 <= duration_minutes <= 720:
        raise Invalid(N_("A talk lasts between 15 minutes and 12 hours."), field="duration_minutes")
    if per_month is not None and per_month < 1:
        raise Invalid(N_("At least one talk a month."), field="per_month")
    if any(w not in range(7) for w in weekdays) or len(set(weekdays)) != len(list(weekdays)):
        raise Invalid(N_("Pick each weekday at most once."), field="weekdays")
    dates = list(dates)
    if len(set(dates)) != len(dates):
        raise Invalid(N_("The date %(date)s is listed twice."), field="dates",
                      date=next(d for d in dates if dates.count(d) > 1).isoformat())
    today = local_today(community_tz(db, community), now)
    for d in dates:
        if d <= today:
            raise Invalid(N_("%(date)s is in the past."), field="dates", date=d.isoformat())
    if not weekdays and not dates:
        raise Invalid(N_("Pick weekdays or dates."), field="weekdays")
    if catalog is not None and catalog.formats.get(format_key) is None:
        raise Invalid(N_("Unknown format."), field="format_key")
    series = RotationSeries(community_id=community.id, title=title.strip(), weekdays=sorted(set(weekdays)),
                            dates=sorted(d.isoformat() for d in dates), start_time=start_time, per_month=per_month,
                            duration_minutes=duration_minutes, min_capacity=min_capacity, format_key=format_key,
                            category_key=category_key, created_at=now)
    db.add(series)
    db.flush()
    return series


# ---------------------------------------------------------------------------
# Applications to host
# ---------------------------------------------------------------------------


def _busy_intervals(db: Session, member_id: int, *, exclude_series_id: int | None = None,
                    exclude_slot_id: int | None = None) -> list[tuple[datetime, datetime]]:
    """Times ``member_id`` is already holding: rota dates (proposed or fixed) and
    sessions they host."""
    out: list[tuple[datetime, datetime]] = []
    query = select(PlannedSlot).where(PlannedSlot.host_id == member_id, PlannedSlot.state.in_(BUSY_STATES))
    linked: set[int] = set()
    for slot in db.scalars(query):
        if slot.session_id:
            linked.add(slot.session_id)
        if slot.id == exclude_slot_id or slot.series_id == exclude_series_id:
            continue
        out.append((slot.starts_at, slot.ends_at))
    for session in db.scalars(select(ConsultationSession).where(
            ConsultationSession.host_id == member_id,
            ConsultationSession.status.in_([SessionStatus.SCHEDULED.value, SessionStatus.LIVE.value]))):
        if session.id in linked:
            continue
        out.append((session.starts_at, session.ends_at))
    return out


def _overlaps(start: datetime, end: datetime, busy: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(start < b_end and b_start < end for b_start, b_end in busy)


def apply_to_host(db: Session, *, actor: Member, series: RotationSeries, venue_address: str, seats: int,
                  topic: str, dates: Sequence[date], venue_label: str | None = None, bring_note: str = "",
                  now: datetime | None = None) -> HostApplication:
    """A resident offers their home on some of the series' dates."""
    require_member(actor, series.community_id)
    now = now or utcnow()
    if seats is None or seats < 1:
        raise Invalid(N_("Capacity must be at least 1."), field="seats")
    if not venue_address or not venue_address.strip():
        raise Invalid(N_("Give the address of your home."), field="venue_address")
    if not topic or not topic.strip():
        raise Invalid(N_("Say what the talk or activity is about."), field="topic")
    dates = list(dates)
    if not dates:
        raise Invalid(N_("Pick at least one date."), field="dates")
    seen: set[date] = set()
    for d in dates:
        if d in seen:
            raise Invalid(N_("The date %(date)s is listed twice."), field="dates", date=d.isoformat())
        seen.add(d)
    tz = community_tz(db, series)
    today = local_today(tz, now)
    for d in sorted(dates):
        if d <= today:
            raise Invalid(N_("%(date)s is in the past."), field="dates", date=d.isoformat())
    valid = set(series_dates(series, min(dates), max(dates) + timedelta(days=1)))
    for d in sorted(dates):
        if d not in valid:
            raise Invalid(N_("There is no talk of this series on %(date)s."), field="dates", date=d.isoformat())
    busy = _busy_intervals(db, actor.id, exclude_series_id=series.id)
    for d in sorted(dates):
        if _overlaps(*slot_times(series, tz, d), busy):
            raise Invalid(N_("On %(date)s you already host another talk at that time."), field="dates",
                          date=d.isoformat())
    existing = application_of(db, series.id, actor.id, active_only=False)
    if existing is not None and existing.status == "active":
        raise Conflict(N_("You have already applied to host this series; withdraw it to apply again."),
                       field="series_id")
    label = (venue_label or "").strip() or N_("%(name)s's courtyard") % {"name": actor.display_name}
    if existing is None:
        application = HostApplication(series_id=series.id, member_id=actor.id, created_at=now)
    else:
        application = existing
        application.dates.clear()
        db.flush()
    application.venue_address = venue_address.strip()
    application.venue_label = label[:200]
    application.seats = seats
    application.topic = topic.strip()
    application.bring_note = (bring_note or "").strip()
    application.status = "active"
    application.dates.extend(ApplicationDate(day=d) for d in sorted(dates))
    try:
        # added inside the savepoint: the same offer sent twice at once (a double tap)
        # fails here, on the unique (series, member), not at the commit as a server error
        with db.begin_nested():
            db.add(application)
            db.flush()
    except IntegrityError as exc:
        raise Conflict(N_("You have already applied to host this series; withdraw it to apply again."),
                       field="series_id") from exc
    return application


def withdraw_application(db: Session, *, actor: Member, application: HostApplication, plan: PlanFn,
                         now: datetime | None = None) -> HostApplication:
    """Withdraw an offer to host. A host who confirmed a date that is still ahead cannot
    just leave: staff must find another host for it first. Proposed dates are re-planned."""
    now = now or utcnow()
    series = db.get(RotationSeries, application.series_id)
    if actor.id != application.member_id and not is_staff(db, actor, series.community_id):
        raise Forbidden(N_("You can only withdraw your own application."))
    if application.status != "active":
        raise Conflict(N_("This application was already withdrawn."), field="status")
    tz = community_tz(db, series)
    mine = [s for s in slots_between(db, series, start=now) if s.host_id == application.member_id]
    for slot in mine:
        if slot.state in FIXED_STATES:
            raise Conflict(N_("You are confirmed to host on %(date)s; ask staff to find another host first."),
                           field="status", date=fmt_local(slot.starts_at, tz))
    application.status = "withdrawn"
    db.flush()
    for slot in mine:
        slot.host_id = None
        slot.state = SlotState.OPEN.value
        db.flush()
        _replan_one(db, series, slot, plan=plan, now=now)
    _bump(db, series, None)
    db.flush()
    return application


# ---------------------------------------------------------------------------
# Planning through the policy hook
# ---------------------------------------------------------------------------


def _candidates(db: Session, series: RotationSeries, slots: Sequence[PlannedSlot], tz: ZoneInfo) -> list[Candidate]:
    """Applicants as plain data. A day is left out of someone's availability when they
    declined that date, or already hold another talk (elsewhere) at that time."""
    declined: dict[int, set[date]] = {}
    for slot in slots:
        for member_id in slot.declined_ids or []:
            declined.setdefault(member_id, set()).add(slot.starts_at.astimezone(tz).date())
    out = []
    for application in applications(db, series):
        busy = _busy_intervals(db, application.member_id, exclude_series_id=series.id)
        days = set()
        for entry in application.dates:
            if entry.day in declined.get(application.member_id, set()):
                continue
            if busy and _overlaps(*slot_times(series, tz, entry.day), busy):
                continue
            days.add(entry.day)
        out.append(Candidate(member_id=application.member_id, capacity=application.seats,
                             available=frozenset(days)))
    return out


def _history(db: Session, series: RotationSeries, exclude: set[int], tz: ZoneInfo) -> list[PastHosting]:
    rows = db.scalars(select(PlannedSlot).where(PlannedSlot.series_id == series.id,
                                                PlannedSlot.state.in_(FIXED_STATES),
                                                PlannedSlot.host_id.is_not(None))
                      .order_by(PlannedSlot.starts_at))
    return [PastHosting(member_id=s.host_id, start=s.starts_at.astimezone(tz)) for s in rows if s.id not in exclude]


def _as_slot(series: RotationSeries, slot: PlannedSlot, tz: ZoneInfo) -> Slot:
    return Slot(start=slot.starts_at.astimezone(tz), end=slot.ends_at.astimezone(tz), min_capacity=series.min_capacity)


def _ask_policy(plan: PlanFn, slots: list[Slot], candidates: list[Candidate], history: list[PastHosting],
                fixed: list[Assignment]) -> list[int | None]:
    """Call the policy and check its answer (a community plugin may be wrong): one
    assignment per slot, each host an applicant who fits, nobody in two places at once."""
    answer = plan(slots=slots, candidates=candidates, history=history, fixed=fixed)
    if answer is None:
        raise Invalid(N_("No rotation policy answered."), field="plan")
    answer = list(answer)
    if len(answer) != len(slots):
        raise Invalid(N_("The rotation policy returned a plan that does not fit the dates."), field="plan")
    fixed_by_slot = {a.slot: a.member_id for a in fixed}
    by_id = {c.member_id: c for c in candidates}
    hosts: list[int | None] = []
    for slot, assignment in zip(slots, answer):
        member = assignment.member_id
        if slot in fixed_by_slot:
            member = fixed_by_slot[slot]  # fixed ones stay, whatever the policy says
        elif member is not None and (member not in by_id or not by_id[member].can_host(slot)):
            raise Invalid(N_("The rotation policy proposed a host who cannot host that date."), field="plan")
        hosts.append(member)
    for i, a in enumerate(slots):
        for j in range(i + 1, len(slots)):
            if hosts[i] is not None and hosts[i] == hosts[j] and a.overlaps(slots[j]):
                raise Invalid(N_("The rotation policy put one host in two places at once."), field="plan")
    return hosts


def plan_period(db: Session, *, actor: Member | None, series: RotationSeries, start: date, end: date, plan: PlanFn,
                expected_version: int | None = None, now: datetime | None = None) -> list[PlannedSlot]:
    """Propose hosts for the series' dates in ``[start, end)`` that are still ahead.
    Confirmed and staff-chosen dates stay; open and proposed ones are (re-)planned."""
    if actor is not None:
        require_staff(db, actor, series.community_id)
    now = now or utcnow()
    tz = community_tz(db, series)
    today = local_today(tz, now)
    if end <= today + timedelta(days=1):
        raise Invalid(N_("This period is over; plan dates that are still ahead."), field="month")
    _bump(db, series, expected_version)
    existing = {s.starts_at: s for s in slots_between(db, series)}
    window: list[PlannedSlot] = []
    for day in series_dates(series, max(start, today), end):
        starts, ends = slot_times(series, tz, day)
        if starts <= now:
            continue
        row = existing.get(starts)
        if row is None:
            row = PlannedSlot(series_id=series.id, starts_at=starts, ends_at=ends, state=SlotState.OPEN.value,
                              declined_ids=[], updated_at=now)
            db.add(row)
        if row.state != SlotState.CANCELLED.value:
            window.append(row)
    db.flush()
    if not window:
        return []
    slots = [_as_slot(series, s, tz) for s in window]
    fixed = [Assignment(slot, row.host_id) for slot, row in zip(slots, window) if row.state in FIXED_STATES]
    candidates = _candidates(db, series, window, tz)
    history = _history(db, series, {row.id for row in window}, tz)
    hosts = _ask_policy(plan, slots, candidates, history, fixed)
    previous = {row.id: row.host_id for row in window}
    # free the re-planned rows first so the one-host-one-start index never sees a half swap
    for row in window:
        if row.state not in FIXED_STATES:
            row.host_id = None
    db.flush()
    for row, host in zip(window, hosts):
        if row.state in FIXED_STATES:
            continue
        row.host_id = host
        row.state = SlotState.PROPOSED.value if host is not None else SlotState.OPEN.value
        row.updated_at = now
        if host is not None and previous[row.id] != host:
            _tell_proposed(db, series, row, tz, now)
    db.flush()
    return window


def _tell_proposed(db: Session, series: RotationSeries, slot: PlannedSlot, tz: ZoneInfo, now: datetime) -> None:
    community = db.get(Community, series.community_id)
    notifications.notify(db, recipients=[db.get(Member, slot.host_id)], kind="rotation_proposed",
                         message=N_("You are proposed as host of %(series)s on %(date)s. Please confirm or decline."),
                         params={"series": series.title, "date": fmt_local(slot.starts_at, tz)},
                         link=f"/c/{community.slug}/courtyard/{series.id}?month={slot.starts_at.astimezone(tz):%Y-%m}",
                         now=now)


def _replan_one(db: Session, series: RotationSeries, slot: PlannedSlot, *, plan: PlanFn, now: datetime) -> None:
    """Find a host for ``slot`` alone: every other date of the series is passed to the
    policy as fixed, so nothing else moves."""
    tz = community_tz(db, series)
    rows = [s for s in slots_between(db, series, start=now) if s.state != SlotState.CANCELLED.value]
    if slot not in rows:
        rows.append(slot)
    slots = [_as_slot(series, s, tz) for s in rows]
    fixed = [Assignment(sl, row.host_id) for sl, row in zip(slots, rows) if row.id != slot.id]
    candidates = _candidates(db, series, rows, tz)
    history = _history(db, series, {row.id for row in rows}, tz)
    hosts = _ask_policy(plan, slots, candidates, history, fixed)
    new_host = hosts[rows.index(slot)]
    slot.host_id = new_host
    slot.state = SlotState.PROPOSED.value if new_host is not None else SlotState.OPEN.value
    slot.updated_at = now
    db.flush()
    if new_host is not None:
        _tell_proposed(db, series, slot, tz, now)


# ---------------------------------------------------------------------------
# Confirm, decline, swap, override, cancel
# ---------------------------------------------------------------------------


def confirm_slot(db: Session, *, actor: Member, slot: PlannedSlot, catalog: Catalog,
                 now: datetime | None = None) -> PlannedSlot:
    """The proposed host says yes: the talk becomes a scheduled session at their home."""
    now = now or utcnow()
    if slot.host_id != actor.id:
        raise Forbidden(N_("Only the proposed host can confirm or decline this date."))
    if slot.state in FIXED_STATES:
        raise Conflict(N_("This date is already confirmed."), field="state")
    if slot.state != SlotState.PROPOSED.value:
        raise Conflict(N_("This date is not waiting for a confirmation."), field="state")
    _future(slot, now)
    series = db.get(RotationSeries, slot.series_id)
    application = application_of(db, series.id, actor.id)
    if application is None:
        raise Conflict(N_("This member has not applied to host this series."), field="host_id")
    if _overlaps(slot.starts_at, slot.ends_at, _busy_intervals(db, actor.id, exclude_slot_id=slot.id)):
        raise Conflict(N_("You already host another talk at that time."), field="slot_id")
    _bump(db, series, None)
    _ensure_session(db, series, slot, application, catalog, now)
    slot.state = SlotState.CONFIRMED.value
    slot.updated_at = now
    db.flush()
    return slot


def _ensure_session(db: Session, series: RotationSeries, slot: PlannedSlot, application: HostApplication,
                    catalog: Catalog, now: datetime) -> ConsultationSession:
    community = db.get(Community, series.community_id)
    session = db.get(ConsultationSession, slot.session_id) if slot.session_id else None
    if session is None:
        session = sessions_service.create_session(
            db, actor=None, catalog=catalog, community=community, format_key=series.format_key,
            title=application.topic, description=series.title, starts_at=slot.starts_at, ends_at=slot.ends_at,
            host_id=application.member_id, venue=application.venue_label, capacity=application.seats,
            category_key=series.category_key, status=SessionStatus.SCHEDULED.value, now=now)
        slot.session_id = session.id
    else:
        session.host_id = application.member_id
        session.venue = application.venue_label
        session.title = application.topic
        session.capacity = application.seats
        session.updated_at = now
        if session.status == SessionStatus.DRAFT.value:
            sessions_service.change_status(db, actor=None, session=session, status=SessionStatus.SCHEDULED.value,
                                           now=now)
        db.flush()
        _rebalance(db, session, now)
    return session


def decline_slot(db: Session, *, actor: Member, slot: PlannedSlot, plan: PlanFn,
                 now: datetime | None = None) -> PlannedSlot:
    """The proposed host says no: only this date is re-planned (the policy gets every
    other date as fixed and the decliner not available that day)."""
    now = now or utcnow()
    if slot.host_id != actor.id:
        raise Forbidden(N_("Only the proposed host can confirm or decline this date."))
    if slot.state in FIXED_STATES:
        raise Conflict(N_("You confirmed this date; ask staff to find another host."), field="state")
    if slot.state != SlotState.PROPOSED.value:
        raise Conflict(N_("This date is not waiting for a confirmation."), field="state")
    _future(slot, now)
    series = db.get(RotationSeries, slot.series_id)
    _bump(db, series, None)
    slot.declined_ids = sorted(set(slot.declined_ids or []) | {actor.id})
    slot.host_id = None
    slot.state = SlotState.OPEN.value
    db.flush()
    _replan_one(db, series, slot, plan=plan, now=now)
    if slot.host_id is None:
        tz = community_tz(db, series)
        community = db.get(Community, series.community_id)
        notifications.notify(db, recipients=_staff_members(db, series.community_id), kind="rotation_no_host",
                             message=N_("Nobody can host %(series)s on %(date)s yet."),
                             params={"series": series.title, "date": fmt_local(slot.starts_at, tz)},
                             link=f"/c/{community.slug}/courtyard/{series.id}", now=now)
    return slot


def _check_fits(db: Session, series: RotationSeries, member_id: int, slot: PlannedSlot, tz: ZoneInfo, *,
                ignore_slot_ids: set[int], field: str = "host_id", check_available: bool = True) -> HostApplication:
    application = application_of(db, series.id, member_id)
    if application is None:
        raise Invalid(N_("This member has not applied to host this series."), field=field)
    day = slot.starts_at.astimezone(tz).date()
    if check_available and day not in {d.day for d in application.dates}:
        raise Invalid(N_("%(name)s is not available on %(date)s."), field=field,
                      name=application.member.display_name, date=day.isoformat())
    if application.seats < series.min_capacity:
        raise Invalid(N_("%(name)s's home seats %(seats)s; this talk needs %(min)s."), field=field,
                      name=application.member.display_name, seats=application.seats, min=series.min_capacity)
    busy = [(s.starts_at, s.ends_at) for s in db.scalars(select(PlannedSlot).where(
        PlannedSlot.host_id == member_id, PlannedSlot.state.in_(BUSY_STATES))) if s.id not in ignore_slot_ids]
    linked = {s.session_id for s in db.scalars(select(PlannedSlot).where(PlannedSlot.session_id.is_not(None)))}
    busy += [(x.starts_at, x.ends_at) for x in db.scalars(select(ConsultationSession).where(
        ConsultationSession.host_id == member_id,
        ConsultationSession.status.in_([SessionStatus.SCHEDULED.value, SessionStatus.LIVE.value])))
        if x.id not in linked]
    if _overlaps(slot.starts_at, slot.ends_at, busy):
        raise Conflict(N_("%(name)s already hosts another talk at that time."), field=field,
                       name=application.member.display_name)
    return application


def swap_slots(db: Session, *, actor: Member, slot_a: PlannedSlot, slot_b: PlannedSlot,
               expected_version: int | None = None, now: datetime | None = None) -> tuple[PlannedSlot, PlannedSlot]:
    """Exchange the hosts of two dates not yet confirmed (staff, or one of the two hosts)."""
    now = now or utcnow()
    if slot_a.series_id != slot_b.series_id:
        raise Invalid(N_("Both dates must belong to the same series."), field="other_slot_id")
    if slot_a.id == slot_b.id:
        raise Invalid(N_("Pick another date to swap with."), field="other_slot_id")
    series = db.get(RotationSeries, slot_a.series_id)
    if not is_staff(db, actor, series.community_id) and actor.id not in (slot_a.host_id, slot_b.host_id):
        raise Forbidden(N_("Only staff or one of the two hosts can swap these dates."))
    for slot, field in ((slot_a, "slot_id"), (slot_b, "other_slot_id")):
        if slot.starts_at <= now:
            raise Invalid(N_("This date is in the past."), field=field)
        if slot.state in FIXED_STATES or slot.state == SlotState.CANCELLED.value:
            raise Conflict(N_("A confirmed date cannot be swapped; staff can change its host."), field=field)
    tz = community_tz(db, series)
    ids = {slot_a.id, slot_b.id}
    if slot_a.host_id is not None:
        _check_fits(db, series, slot_a.host_id, slot_b, tz, ignore_slot_ids=ids)
    if slot_b.host_id is not None:
        _check_fits(db, series, slot_b.host_id, slot_a, tz, ignore_slot_ids=ids)
    _bump(db, series, expected_version)
    host_a, host_b = slot_a.host_id, slot_b.host_id
    slot_a.host_id = slot_b.host_id = None
    db.flush()
    slot_a.host_id, slot_b.host_id = host_b, host_a
    for slot in (slot_a, slot_b):
        slot.state = SlotState.PROPOSED.value if slot.host_id is not None else SlotState.OPEN.value
        slot.updated_at = now
    db.flush()
    for slot in (slot_a, slot_b):
        if slot.host_id is not None:
            _tell_proposed(db, series, slot, tz, now)
    return slot_a, slot_b


def override_slot(db: Session, *, actor: Member | None, slot: PlannedSlot, host_id: int, catalog: Catalog,
                  expected_version: int | None = None, now: datetime | None = None) -> PlannedSlot:
    """Staff choose the host of a date themselves (the host agreed in person): the talk is
    scheduled at once, or moved to the new home if it already was."""
    now = now or utcnow()
    series = db.get(RotationSeries, slot.series_id)
    if actor is not None:
        require_staff(db, actor, series.community_id)
    _future(slot, now)
    tz = community_tz(db, series)
    host = db.get(Member, host_id)
    if host is None or host.community_id != series.community_id:
        raise NotFound(N_("No such record in this community."), field="host_id")
    application = _check_fits(db, series, host_id, slot, tz, ignore_slot_ids={slot.id}, check_available=False)
    _bump(db, series, expected_version)
    old_host = slot.host_id
    session = db.get(ConsultationSession, slot.session_id) if slot.session_id else None
    if session is not None and session.status in (SessionStatus.LIVE.value, SessionStatus.CLOSED.value):
        raise Conflict(N_("This talk has already started."), field="slot_id")
    slot.host_id = host_id
    slot.state = SlotState.OVERRIDDEN.value
    slot.updated_at = now
    db.flush()
    session = _ensure_session(db, series, slot, application, catalog, now)
    community = db.get(Community, series.community_id)
    link = f"/c/{community.slug}/courtyard/sessions/{session.id}"
    params = {"series": series.title, "date": fmt_local(slot.starts_at, tz), "venue": application.venue_label}
    notifications.notify(db, recipients=[host], kind="rotation_assigned",
                         message=N_("Staff made you host of %(series)s on %(date)s."), params=params,
                         link=link, now=now)
    if old_host is not None and old_host != host_id:
        notifications.notify(db, recipients=[db.get(Member, old_host)], kind="rotation_unassigned",
                             message=N_("Staff gave %(series)s on %(date)s to another host."), params=params,
                             link=link, now=now)
        attendees = [r.member for r in _active_reservations(db, session.id)]
        notifications.notify(db, recipients=attendees, kind="rotation_moved",
                             message=N_("%(series)s on %(date)s moves to %(venue)s."), params=params, link=link,
                             now=now)
    return slot


def cancel_slot(db: Session, *, actor: Member | None, slot: PlannedSlot, expected_version: int | None = None,
                now: datetime | None = None) -> PlannedSlot:
    """Staff call a date off; its session is withdrawn and calendars show it cancelled."""
    now = now or utcnow()
    series = db.get(RotationSeries, slot.series_id)
    if actor is not None:
        require_staff(db, actor, series.community_id)
    _future(slot, now)
    if slot.state == SlotState.CANCELLED.value:
        raise Conflict(N_("This date is already cancelled."), field="state")
    session = db.get(ConsultationSession, slot.session_id) if slot.session_id else None
    if session is not None and session.status != SessionStatus.SCHEDULED.value:
        raise Conflict(N_("This talk has already started."), field="slot_id")
    _bump(db, series, expected_version)
    tz = community_tz(db, series)
    recipients = [db.get(Member, slot.host_id)] if slot.host_id else []
    if session is not None:
        recipients += [r.member for r in _active_reservations(db, session.id)]
        sessions_service.change_status(db, actor=None, session=session, status=SessionStatus.DRAFT.value, now=now)
        session.updated_at = now
    slot.state = SlotState.CANCELLED.value
    slot.host_id = None
    slot.updated_at = now
    db.flush()
    notifications.notify(db, recipients=recipients, kind="rotation_cancelled",
                         message=N_("%(series)s on %(date)s is cancelled."),
                         params={"series": series.title, "date": fmt_local(slot.starts_at, tz)}, now=now)
    return slot


# ---------------------------------------------------------------------------
# Seats and the waiting list
# ---------------------------------------------------------------------------


def _active_reservations(db: Session, session_id: int) -> list[SeatReservation]:
    return list(db.scalars(select(SeatReservation).where(
        SeatReservation.session_id == session_id,
        SeatReservation.status.in_([ReservationStatus.RESERVED.value, ReservationStatus.WAITLISTED.value]))
        .order_by(SeatReservation.position)))


def reservations(db: Session, session: ConsultationSession) -> list[SeatReservation]:
    """Seats then the waiting list, each in order."""
    rows = _active_reservations(db, session.id)
    return ([r for r in rows if r.status == ReservationStatus.RESERVED.value]
            + [r for r in rows if r.status == ReservationStatus.WAITLISTED.value])


def my_reservation(db: Session, session: ConsultationSession, member: Member | None) -> SeatReservation | None:
    if member is None:
        return None
    return db.scalar(select(SeatReservation).where(SeatReservation.session_id == session.id,
                                                   SeatReservation.member_id == member.id))


def _rebalance(db: Session, session: ConsultationSession, now: datetime) -> list[SeatReservation]:
    """Give the seats to the first ``capacity`` in order; the rest wait. Returns those promoted."""
    rows = _active_reservations(db, session.id)
    promoted = []
    for i, row in enumerate(rows):
        want = (ReservationStatus.RESERVED.value if session.capacity is None or i < session.capacity
                else ReservationStatus.WAITLISTED.value)
        if row.status != want:
            if want == ReservationStatus.RESERVED.value:
                promoted.append(row)
            row.status = want
            row.updated_at = now
    db.flush()
    return promoted


def _lock_talk(db: Session, session: ConsultationSession) -> None:
    """Lock the talk's row and read it again (its status and capacity as they are now)."""
    if lock_row(db, ConsultationSession, session.id) is None:
        raise NotFound(N_("No such session."), field="session_id")


def _bookable(session: ConsultationSession, now: datetime) -> None:
    if session.status != SessionStatus.SCHEDULED.value:
        raise Conflict(N_("This talk is not open for sign-up."), field="session_id")
    if session.starts_at <= now:
        raise Invalid(N_("This talk has already started."), field="session_id")


def reserve_seat(db: Session, *, actor: Member, session: ConsultationSession, bringing: str = "",
                 now: datetime | None = None) -> SeatReservation:
    """Take a seat, or a place on the waiting list when the talk is full.

    The talk's row is locked before the seats are counted (:func:`core.db.lock_row`):
    residents signing up at the same moment take turns, so the talk never gets more
    seats than it has and each gets the next place in line."""
    now = now or utcnow()
    require_member(actor, session.community_id)
    _lock_talk(db, session)
    _bookable(session, now)
    if session.host_id == actor.id:
        raise Conflict(N_("You are the host of this talk."), field="session_id")
    row = my_reservation(db, session, actor)
    if row is not None and row.status != ReservationStatus.CANCELLED.value:
        raise Conflict(N_("You already have a seat or a place on the waiting list."), field="session_id")
    position = (db.scalar(select(func.max(SeatReservation.position)).where(
        SeatReservation.session_id == session.id)) or 0) + 1
    try:
        # the new row is added inside the savepoint: begin_nested() flushes what is pending
        # first, and a failed insert there would fail the whole request
        with db.begin_nested():
            if row is None:
                row = SeatReservation(session_id=session.id, member_id=actor.id, created_at=now)
                db.add(row)
            row.position = position
            row.bringing = (bringing or "").strip()[:200]
            row.status = ReservationStatus.WAITLISTED.value
            row.updated_at = now
            db.flush()
    except IntegrityError as exc:  # (not expected under the lock) the same place taken at once
        raise Conflict(N_("Someone signed up at the same moment; please try again."), field="session_id") from exc
    _rebalance(db, session, now)
    db.refresh(row)
    return row


def cancel_reservation(db: Session, *, actor: Member, session: ConsultationSession,
                       now: datetime | None = None) -> SeatReservation:
    """Give up a seat (or a place on the waiting list); the first one waiting gets the seat."""
    now = now or utcnow()
    _lock_talk(db, session)  # as reserve_seat: the seat goes to the first in line, once
    row = my_reservation(db, session, actor)
    if row is None or row.status == ReservationStatus.CANCELLED.value:
        raise NotFound(N_("You have no seat at this talk."), field="session_id")
    if session.starts_at <= now:
        raise Invalid(N_("This talk has already started."), field="session_id")
    row.status = ReservationStatus.CANCELLED.value
    row.updated_at = now
    db.flush()
    promoted = _rebalance(db, session, now)
    community = db.get(Community, session.community_id)
    tz = community_tz(db, community)
    for p in promoted:
        notifications.notify(db, recipients=[p.member], kind="rotation_promoted",
                             message=N_("A seat became free: you now have a seat at %(title)s on %(date)s."),
                             params={"title": session.title, "date": fmt_local(session.starts_at, tz)},
                             link=f"/c/{community.slug}/courtyard/sessions/{session.id}", now=now)
    return row


def who_is_coming(db: Session, *, actor: Member | None, session: ConsultationSession) -> list[SeatReservation]:
    """The host's (and staff's) list: who has a seat, who waits, what each brings."""
    if not sessions_service.can_run(db, actor, session):
        raise Forbidden(N_("Only the host or staff can see who is coming."))
    return reservations(db, session)


def can_see_address(db: Session, member: Member | None, session: ConsultationSession) -> bool:
    """The home address is for the host, staff and people holding a seat only."""
    if member is None or member.community_id != session.community_id:
        return False
    if session.host_id == member.id or is_staff(db, member, session.community_id):
        return True
    row = my_reservation(db, session, member)
    return row is not None and row.status == ReservationStatus.RESERVED.value


def venue_address(db: Session, session: ConsultationSession) -> str | None:
    slot = slot_for_session(db, session.id)
    if slot is None:
        return None
    application = application_of(db, slot.series_id, session.host_id, active_only=False)
    return application.venue_address if application else None


def address_for(db: Session, viewer: Member | None, session: ConsultationSession) -> str | None:
    return venue_address(db, session) if can_see_address(db, viewer, session) else None


def bring_note(db: Session, session: ConsultationSession) -> str:
    slot = slot_for_session(db, session.id)
    application = application_of(db, slot.series_id, session.host_id, active_only=False) if slot else None
    return application.bring_note if application else ""


# ---------------------------------------------------------------------------
# Calendars
# ---------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_calendar_token(db: Session, *, actor: Member, now: datetime | None = None) -> str:
    """A new secret for the member's personal feed (the old link stops working)."""
    token = secrets.token_urlsafe(24)
    row = db.scalar(select(CalendarToken).where(CalendarToken.member_id == actor.id))
    if row is None:
        try:
            # the first link asked for twice at once (a double tap): the second meets the
            # unique member_id here and replaces the first one's secret, as a later ask does
            with db.begin_nested():
                db.add(CalendarToken(member_id=actor.id, token_hash=_hash(token), created_at=now or utcnow()))
                db.flush()
            return token
        except IntegrityError:
            row = db.scalar(select(CalendarToken).where(CalendarToken.member_id == actor.id))
            assert row is not None
    row.token_hash = _hash(token)
    row.created_at = now or utcnow()
    db.flush()
    return token


def has_calendar_token(db: Session, member: Member) -> bool:
    return db.scalar(select(CalendarToken.id).where(CalendarToken.member_id == member.id)) is not None


def member_for_calendar_token(db: Session, token: str) -> Member:
    row = db.scalar(select(CalendarToken).where(CalendarToken.token_hash == _hash(token or "")))
    member = db.get(Member, row.member_id) if row else None
    if member is None or not member.active:
        raise NotFound(N_("This calendar link is not valid."), field="token")
    return member


def _cancelled_session_ids(db: Session, community_id: int) -> set[int]:
    rows = db.scalars(select(PlannedSlot.session_id).join(RotationSeries).where(
        RotationSeries.community_id == community_id, PlannedSlot.state == SlotState.CANCELLED.value,
        PlannedSlot.session_id.is_not(None)))
    return set(rows)


def community_calendar(db: Session, community: Community) -> list[tuple[ConsultationSession, bool]]:
    """Every session residents can see, plus withdrawn rota talks marked cancelled."""
    cancelled = _cancelled_session_ids(db, community.id)
    rows = db.scalars(select(ConsultationSession).where(
        ConsultationSession.community_id == community.id,
        or_(ConsultationSession.status != SessionStatus.DRAFT.value, ConsultationSession.id.in_(cancelled or {0})))
        .order_by(ConsultationSession.starts_at))
    return [(s, s.id in cancelled) for s in rows]


def member_calendar(db: Session, member: Member) -> list[tuple[ConsultationSession, bool]]:
    """Talks the member hosts or holds a seat at (or waits for); cancelled ones stay, marked."""
    cancelled = _cancelled_session_ids(db, member.community_id)
    seat_ids = set(db.scalars(select(SeatReservation.session_id).where(
        SeatReservation.member_id == member.id, SeatReservation.status != ReservationStatus.CANCELLED.value)))
    rows = db.scalars(select(ConsultationSession).where(
        ConsultationSession.community_id == member.community_id,
        or_(ConsultationSession.host_id == member.id, ConsultationSession.id.in_(seat_ids or {0})))
        .order_by(ConsultationSession.starts_at))
    out = []
    for s in rows:
        if s.status == SessionStatus.DRAFT.value and s.id not in cancelled:
            continue
        out.append((s, s.id in cancelled))
    return out


# ---------------------------------------------------------------------------
# Reminders
# ---------------------------------------------------------------------------


def _once(db: Session, kind: str, target: str, now: datetime) -> bool:
    """Record that a reminder goes out; False when it already went (the unique key decides)."""
    if db.scalar(select(ReminderSent.id).where(ReminderSent.kind == kind, ReminderSent.target == target)):
        return False
    try:
        with db.begin_nested():
            db.add(ReminderSent(kind=kind, target=target, sent_at=now))
            db.flush()
    except IntegrityError:
        return False
    return True


def send_due_reminders(db: Session, *, now: datetime | None = None, lead: timedelta = REMINDER_LEAD,
                       no_host_lead: timedelta = NO_HOST_LEAD) -> list[tuple[str, str]]:
    """Send what is due and was not sent yet (idempotent: run it as often as you like):

    * ``rotation_reminder`` — to the host and everyone with a seat, ``lead`` before a talk;
    * ``rotation_no_host`` — to staff, when a date ``no_host_lead`` ahead still has no host.

    A talk moved to another time is reminded again. Returns ``(kind, target)`` sent.
    """
    now = now or utcnow()
    sent: list[tuple[str, str]] = []
    due = db.scalars(select(PlannedSlot).join(RotationSeries).where(
        PlannedSlot.state.in_(FIXED_STATES), PlannedSlot.session_id.is_not(None),
        PlannedSlot.starts_at > now, PlannedSlot.starts_at <= now + lead))
    for slot in due:
        session = db.get(ConsultationSession, slot.session_id)
        if session is None or session.status != SessionStatus.SCHEDULED.value:
            continue
        series = db.get(RotationSeries, slot.series_id)
        community = db.get(Community, series.community_id)
        tz = community_tz(db, community)
        people = [db.get(Member, session.host_id)] if session.host_id else []
        people += [r.member for r in _active_reservations(db, session.id)
                   if r.status == ReservationStatus.RESERVED.value]
        for person in people:
            target = f"session:{session.id}@{session.starts_at.isoformat()}:member:{person.id}"
            if not _once(db, "rotation_reminder", target, now):
                continue
            hosting = person.id == session.host_id
            notifications.notify(
                db, recipients=[person], kind="rotation_reminder",
                message=(N_("Reminder: you host %(title)s at %(date)s.") if hosting
                         else N_("Reminder: %(title)s at %(venue)s, %(date)s.")),
                params={"title": session.title, "venue": session.venue, "date": fmt_local(session.starts_at, tz)},
                link=f"/c/{community.slug}/courtyard/sessions/{session.id}", now=now)
            sent.append(("rotation_reminder", target))
    empty = db.scalars(select(PlannedSlot).join(RotationSeries).where(
        RotationSeries.active.is_(True), PlannedSlot.state == SlotState.OPEN.value,
        PlannedSlot.starts_at > now, PlannedSlot.starts_at <= now + no_host_lead))
    for slot in empty:
        series = db.get(RotationSeries, slot.series_id)
        community = db.get(Community, series.community_id)
        tz = community_tz(db, community)
        for person in _staff_members(db, community.id):
            target = f"slot:{slot.id}@{slot.starts_at.isoformat()}:member:{person.id}"
            if not _once(db, "rotation_no_host", target, now):
                continue
            notifications.notify(db, recipients=[person], kind="rotation_no_host",
                                 message=N_("Nobody can host %(series)s on %(date)s yet."),
                                 params={"series": series.title, "date": fmt_local(slot.starts_at, tz)},
                                 link=f"/c/{community.slug}/courtyard/{series.id}", now=now)
            sent.append(("rotation_no_host", target))
    db.flush()
    return sent
