"""Host rotation services on a real database with the real policy hook and an injected clock."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, Forbidden, Invalid
from core.models import (ConsultationSession, HostApplication, Member, Notification, PlannedSlot, ReminderSent,
                         RotationSeries, SeatReservation)
from core.services import rotation as rs

# the clock fixture starts on Monday 2026-03-02 09:00 in Shanghai; talks are on Saturdays
SATURDAYS = [date(2026, 3, 7), date(2026, 3, 14), date(2026, 3, 21), date(2026, 3, 28)]


@pytest.fixture
def cy(app):
    return app.extensions["courtyard"]


@pytest.fixture
def plan(cy):
    return lambda **kw: cy.pm.hook.courtyard_plan_host_rotation(**kw)


def member(db, world, role):
    return db.get(Member, world.ids[role])


def community(db, world):
    from core.models import Community

    return db.get(Community, world.community_id)


def setup_series(db, world, clock, *, min_capacity=5, applicants=None):
    staff = member(db, world, "admin")
    series = rs.create_series(db, actor=staff, community=community(db, world), title="海棠小院茶话会", weekdays=[5],
                              start_time="14:00", min_capacity=min_capacity, now=clock())
    applicants = applicants if applicants is not None else {
        "resident": (SATURDAYS, 10), "resident2": (SATURDAYS[:3], 8), "other_resident": (SATURDAYS[1:], 12)}
    for role, (days, seats) in applicants.items():
        rs.apply_to_host(db, actor=member(db, world, role), series=series, venue_address=f"{role} 路 1 号",
                         seats=seats, topic=f"{role} 的话题", dates=days, now=clock())
    db.commit()
    return series


def test_plan_through_the_hook_then_decline_replans_only_that_date(db, world, clock, plan):
    series = setup_series(db, world, clock)
    slots = rs.plan_period(db, actor=member(db, world, "admin"), series=series, start=date(2026, 3, 1),
                           end=date(2026, 4, 1), plan=plan, now=clock())
    db.commit()
    assert [s.starts_at.astimezone(rs.community_tz(db, series)).date() for s in slots] == SATURDAYS
    assert all(s.state == "proposed" and s.host_id is not None for s in slots)
    hosts = [s.host_id for s in slots]
    assert len(set(hosts)) == 3  # fairly rotated among the three applicants
    assert db.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "rotation_proposed"))
    # the host of the second Saturday declines: only that date changes
    declined = slots[1]
    decliner = declined.host_id
    rs.decline_slot(db, actor=db.get(Member, decliner), slot=declined, plan=plan, now=clock())
    db.commit()
    after = rs.slots_between(db, series)
    assert [s.host_id for i, s in enumerate(after) if i != 1] == [h for i, h in enumerate(hosts) if i != 1]
    assert after[1].host_id not in (None, decliner)
    assert decliner in after[1].declined_ids


def test_confirm_creates_the_session_and_a_confirmed_host_cannot_walk_away(db, world, clock, plan):
    series = setup_series(db, world, clock)
    slots = rs.plan_period(db, actor=None, series=series, start=date(2026, 3, 1), end=date(2026, 4, 1), plan=plan,
                           now=clock())
    slot = slots[0]
    host = db.get(Member, slot.host_id)
    with pytest.raises(Forbidden):
        rs.confirm_slot(db, actor=member(db, world, "moderator"), slot=slot, catalog=None, now=clock())
    rs.confirm_slot(db, actor=host, slot=slot, catalog=db.info.get("catalog") or _catalog(world), now=clock())
    db.commit()
    session = db.get(ConsultationSession, slot.session_id)
    application = rs.application_of(db, series.id, host.id)
    assert (session.format_key, session.status, session.host_id) == ("courtyard_talk", "scheduled", host.id)
    assert session.venue == application.venue_label and session.capacity == application.seats
    assert application.venue_address not in session.venue
    with pytest.raises(Conflict) as exc:
        rs.decline_slot(db, actor=host, slot=slot, plan=plan, now=clock())
    assert exc.value.field == "state"
    with pytest.raises(Conflict) as exc:
        rs.withdraw_application(db, actor=host, application=application, plan=plan, now=clock())
    assert exc.value.field == "status" and "confirmed" in exc.value.message
    db.rollback()
    assert db.get(HostApplication, application.id).status == "active"


def _catalog(world):
    return world.app.extensions["courtyard"].catalog


def test_swap_override_rights_and_optimistic_version(db, world, clock, plan):
    series = setup_series(db, world, clock)
    staff, resident = member(db, world, "admin"), member(db, world, "resident")
    slots = rs.plan_period(db, actor=staff, series=series, start=date(2026, 3, 1), end=date(2026, 4, 1), plan=plan,
                           now=clock())
    db.commit()
    by_host = {s.host_id: s for s in slots}
    # resident2 cannot host the 28th: a swap that would put them there is refused, naming why
    r2 = world.ids["resident2"]
    last = slots[3]
    if r2 in by_host and by_host[r2] is not last:
        with pytest.raises(Invalid) as exc:
            rs.swap_slots(db, actor=staff, slot_a=by_host[r2], slot_b=last, now=clock())
        assert exc.value.field == "host_id"
        db.rollback()
    a, b = slots[1], slots[2]
    host_a, host_b = a.host_id, b.host_id
    rs.swap_slots(db, actor=staff, slot_a=a, slot_b=b, now=clock())
    db.commit()
    assert (a.host_id, b.host_id) == (host_b, host_a)
    # a resident cannot override
    with pytest.raises(Forbidden):
        rs.override_slot(db, actor=resident, slot=a, host_id=resident.id, catalog=_catalog(world), now=clock())
    db.rollback()
    # two staff load the same version: the first wins, the second gets a conflict
    version = db.get(RotationSeries, series.id).version
    rs.override_slot(db, actor=staff, slot=a, host_id=world.ids["other_resident"], catalog=_catalog(world),
                     expected_version=version, now=clock())
    db.commit()
    assert a.state == "overridden" and a.session_id is not None
    with pytest.raises(Conflict) as exc:
        rs.override_slot(db, actor=member(db, world, "moderator"), slot=b, host_id=world.ids["resident"],
                         catalog=_catalog(world), expected_version=version, now=clock())
    assert exc.value.field == "version"
    db.rollback()


def test_one_host_is_never_in_two_places_at_once(db, world, clock, plan):
    """A second series at the same hour: whoever is confirmed in the first is not proposed."""
    first = setup_series(db, world, clock, applicants={"resident": (SATURDAYS[:1], 10)})
    slot = rs.plan_period(db, actor=None, series=first, start=date(2026, 3, 1), end=date(2026, 3, 8), plan=plan,
                          now=clock())[0]
    rs.confirm_slot(db, actor=member(db, world, "resident"), slot=slot, catalog=_catalog(world), now=clock())
    second = rs.create_series(db, actor=None, community=community(db, world), title="读书会", weekdays=[5],
                              start_time="15:00", min_capacity=3, now=clock())
    with pytest.raises(Invalid) as exc:  # overlapping availability
        rs.apply_to_host(db, actor=member(db, world, "resident"), series=second, venue_address="x", seats=5,
                         topic="t", dates=SATURDAYS[:1], now=clock())
    assert exc.value.field == "dates"
    db.rollback()


@pytest.mark.parametrize("kwargs, field", [
    (dict(seats=0), "seats"),
    (dict(dates=[date(2026, 2, 28)]), "dates"),           # in the past
    (dict(dates=[SATURDAYS[0], SATURDAYS[0]]), "dates"),  # listed twice
    (dict(dates=[date(2026, 3, 9)]), "dates"),            # a Monday: no talk that day
    (dict(dates=[]), "dates"),
    (dict(venue_address=" "), "venue_address"),
])
def test_bad_applications_are_refused_and_nothing_is_written(db, world, clock, kwargs, field):
    series = setup_series(db, world, clock, applicants={})
    data = dict(venue_address="人福村 3 组 12 号", seats=8, topic="围炉煮茶", dates=SATURDAYS[:2], **{})
    data.update(kwargs)
    with pytest.raises(Invalid) as exc:
        rs.apply_to_host(db, actor=member(db, world, "resident"), series=series, now=clock(), **data)
    assert exc.value.field == field
    db.rollback()
    assert db.scalar(select(func.count()).select_from(HostApplication)) == 0


def test_zero_capacity_series_is_refused(db, world, clock):
    with pytest.raises(Invalid) as exc:
        rs.create_series(db, actor=member(db, world, "admin"), community=community(db, world), title="x",
                         weekdays=[5], min_capacity=0, now=clock())
    assert exc.value.field == "min_capacity"
    with pytest.raises(Forbidden):
        rs.create_series(db, actor=member(db, world, "resident"), community=community(db, world), title="x",
                         weekdays=[5], now=clock())


def confirmed_talk(db, world, clock, plan, seats=2):
    series = setup_series(db, world, clock, applicants={"host": (SATURDAYS, seats)}, min_capacity=1)
    slot = rs.plan_period(db, actor=None, series=series, start=date(2026, 3, 1), end=date(2026, 3, 8), plan=plan,
                          now=clock())[0]
    rs.confirm_slot(db, actor=member(db, world, "host"), slot=slot, catalog=_catalog(world), now=clock())
    db.commit()
    return series, slot, db.get(ConsultationSession, slot.session_id)


def test_waiting_list_is_promoted_in_order_and_the_address_is_private(db, world, clock, plan):
    _, _, talk = confirmed_talk(db, world, clock, plan, seats=2)
    people = [member(db, world, r) for r in ("resident", "resident2", "other_resident", "grid_head")]
    rows = [rs.reserve_seat(db, actor=p, session=talk, bringing="竹椅", now=clock()) for p in people]
    db.commit()
    assert [r.status for r in rows] == ["reserved", "reserved", "waitlisted", "waitlisted"]
    with pytest.raises(Conflict):
        rs.reserve_seat(db, actor=people[0], session=talk, now=clock())
    db.rollback()
    assert rs.can_see_address(db, people[0], talk) and not rs.can_see_address(db, people[2], talk)
    assert rs.can_see_address(db, member(db, world, "host"), talk)
    assert rs.can_see_address(db, member(db, world, "moderator"), talk)
    assert not rs.can_see_address(db, member(db, world, "department"), talk)
    rs.cancel_reservation(db, actor=people[0], session=talk, now=clock())
    db.commit()
    statuses = {r.member_id: r.status for r in db.scalars(select(SeatReservation))}
    assert statuses[people[2].id] == "reserved" and statuses[people[3].id] == "waitlisted"
    assert db.scalar(select(Notification).where(Notification.kind == "rotation_promoted")).member_id == people[2].id
    coming = rs.who_is_coming(db, actor=member(db, world, "host"), session=talk)
    assert [r.member_id for r in coming] == [people[1].id, people[2].id, people[3].id]
    with pytest.raises(Forbidden):
        rs.who_is_coming(db, actor=people[1], session=talk)


def test_reminders_are_sent_once_with_an_injected_clock(db, world, clock, plan):
    series, slot, talk = confirmed_talk(db, world, clock, plan)
    rs.reserve_seat(db, actor=member(db, world, "resident"), session=talk, now=clock())
    # a later Saturday nobody can host
    open_slot = rs.plan_period(db, actor=None, series=series, start=date(2026, 3, 8), end=date(2026, 3, 15),
                               plan=lambda **kw: [type(a)(a.slot, None) for a in
                                                  __import__("plugins.host_rotation").host_rotation
                                                  .plan_rotation(kw["slots"], [], [], kw["fixed"])],
                               now=clock())[0]
    assert open_slot.state == "open"
    db.commit()
    assert rs.send_due_reminders(db, now=clock()) == []  # Monday: the talk is 5 days away, the gap 12
    clock.now = slot.starts_at - timedelta(hours=23)
    sent = rs.send_due_reminders(db, now=clock())
    db.commit()
    assert sorted(k for k, _ in sent) == ["rotation_reminder"] * 2  # the host and the resident with a seat
    assert rs.send_due_reminders(db, now=clock()) == []
    clock.now = open_slot.starts_at - timedelta(days=6)  # a week ahead and still no host: tell staff
    more = rs.send_due_reminders(db, now=clock())
    assert sorted(k for k, _ in more) == ["rotation_no_host"] * 2  # admin and moderator
    clock.advance(hours=1)
    assert rs.send_due_reminders(db, now=clock()) == []
    db.commit()
    assert db.scalar(select(func.count()).select_from(ReminderSent)) == len(sent) + len(more)
    notes = db.scalars(select(Notification).where(Notification.kind == "rotation_reminder")).all()
    assert sorted(n.member_id for n in notes) == sorted([world.ids["host"], world.ids["resident"]])


def test_cancel_keeps_the_session_for_calendars(db, world, clock, plan):
    _, slot, talk = confirmed_talk(db, world, clock, plan)
    rs.reserve_seat(db, actor=member(db, world, "resident"), session=talk, now=clock())
    with pytest.raises(Forbidden):
        rs.cancel_slot(db, actor=member(db, world, "resident"), slot=slot, now=clock())
    rs.cancel_slot(db, actor=member(db, world, "admin"), slot=slot, now=clock())
    db.commit()
    entries = dict((s.id, c) for s, c in rs.community_calendar(db, community(db, world)))
    assert entries[talk.id] is True
    assert dict((s.id, c) for s, c in rs.member_calendar(db, member(db, world, "resident")))[talk.id] is True
    assert db.get(PlannedSlot, slot.id).state == "cancelled"
