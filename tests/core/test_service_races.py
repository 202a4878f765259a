"""Read-then-write races in the services, on SQLite and PostgreSQL: two people doing the
same thing at the same moment (two threads, each with its own connection and unit of
work, released together) get what they would get one after the other — the second is
told (a 409 naming the field), never a server error, never the change made twice."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any, Callable

import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.errors import DomainError
from core.models import AgendaItem, Community, ConsultationSession, Member
from core.models.issue import Issue, IssueEvent
from core.models.rotation import HostApplication
from core.services import categories as categories_service
from core.services import issues as issues_service
from core.services import rotation as rs
from core.services import sessions as ss
from core.services import votes as votes_service
from plugins.tally import METHODS
from tests import races
from tests.conftest import World


@pytest.fixture
def race_world(race_app) -> World:
    return World(race_app)


def at_once(app, call: Callable[[Any], Any], n: int = 2) -> tuple[int, list[BaseException]]:
    """``call(db)`` by ``n`` people at the same moment (:func:`tests.races.at_once`)."""
    return races.at_once(app.extensions["courtyard"].sessionmaker, [call] * n)


def told(errors: list[BaseException], field: str) -> bool:
    """Every error is a refusal the edge answers with a 409 naming ``field``."""
    return bool(errors) and all(isinstance(e, DomainError) and e.status == 409 and e.field == field
                                for e in errors)


def scope(app):
    return session_scope(app.extensions["courtyard"].sessionmaker)


def _session(app, world, clock, status: str = "live") -> int:
    cy = app.extensions["courtyard"]
    with scope(app) as db:
        s = ss.create_session(db, actor=None, catalog=cy.catalog, community=db.get(Community, world.community_id),
                              format_key="golden_microphone", title="民声金话筒", starts_at=clock.now,
                              host_id=world.ids["host"], status="scheduled", now=clock.now)
        if status != "scheduled":
            ss.change_status(db, actor=None, session=s, status=status)
        return s.id


def test_hosts_closing_a_session_at_once(race_app, race_world, clock):
    session_id = _session(race_app, race_world, clock)

    def close(db: Any) -> None:
        s = db.get(ConsultationSession, session_id)
        ss.change_status(db, actor=db.get(Member, race_world.ids["host"]), session=s, status="closed")

    committed, errors = at_once(race_app, close, n=4)
    assert committed == 1 and told(errors, "status"), errors


def test_agenda_items_added_at_once_each_get_a_place(race_app, race_world, clock):
    session_id = _session(race_app, race_world, clock, status="scheduled")
    cy = race_app.extensions["courtyard"]

    def add(db: Any) -> None:
        ss.add_agenda_item(db, actor=db.get(Member, race_world.ids["host"]), catalog=cy.catalog,
                           session=db.get(ConsultationSession, session_id), title="居民提问")

    committed, errors = at_once(race_app, add, n=4)
    assert errors == [] and committed == 4
    with scope(race_app) as db:
        positions = sorted(db.scalars(select(AgendaItem.position).where(AgendaItem.session_id == session_id)))
    assert positions == [1, 2, 3, 4]


def test_an_issue_closed_by_several_at_once_is_closed_once(race_app, race_world, clock):
    cy = race_app.extensions["courtyard"]
    with scope(race_app) as db:
        admin = db.get(Member, race_world.ids["admin"])
        issue = issues_service.raise_issue(
            db, actor=db.get(Member, race_world.ids["resident2"]), catalog=cy.catalog,
            community=db.get(Community, race_world.community_id), title="9栋雨水管漏水", description="",
            category_key="environment", place_id=race_world.place_ids["building"], now=clock.now)
        issues_service.triage(db, actor=admin, catalog=cy.catalog, issue=issue, decision="accept", now=clock.now)
        issues_service.resolve(db, actor=admin, issue=issue, now=clock.now)
        issue_id = issue.id

    def close(db: Any) -> None:
        issues_service.close(db, actor=db.get(Member, race_world.ids["admin"]), issue=db.get(Issue, issue_id),
                             now=clock.now)

    committed, errors = at_once(race_app, close, n=4)
    assert committed == 1 and told(errors, "status"), errors
    with scope(race_app) as db:
        closings = db.scalar(select(func.count()).select_from(IssueEvent).where(
            IssueEvent.issue_id == issue_id, IssueEvent.kind == "closed"))
    assert closings == 1


def test_a_motion_opened_by_several_at_once_is_opened_once(race_app, race_world, clock):
    with scope(race_app) as db:
        motion = votes_service.create_motion(db, actor=None, community=db.get(Community, race_world.community_id),
                                             method=METHODS["majority"], title="修路", now=clock.now)
        motion_id = motion.id

    def open_(db: Any) -> None:
        votes_service.open_motion(db, actor=None, motion=votes_service.get_motion(db, motion_id), now=clock.now)

    committed, errors = at_once(race_app, open_, n=4)
    assert committed == 1 and told(errors, "status"), errors


def test_the_same_category_added_by_several_at_once(race_app, race_world):
    cy = race_app.extensions["courtyard"]

    def create(db: Any) -> None:
        categories_service.create_category(db, actor=db.get(Member, race_world.ids["admin"]), catalog=cy.catalog,
                                           community=db.get(Community, race_world.community_id), key="parking",
                                           names={"zh_CN": "停车", "en": "Parking"})

    committed, errors = at_once(race_app, create, n=4)
    assert committed == 1 and told(errors, "key"), errors


def test_the_same_outside_body_added_by_several_at_once(race_app, race_world):
    def create(db: Any) -> None:
        issues_service.create_outside_body(db, actor=db.get(Member, race_world.ids["admin"]),
                                           community=db.get(Community, race_world.community_id), name="小区物业公司")

    committed, errors = at_once(race_app, create, n=4)
    assert committed == 1 and told(errors, "name"), errors


def test_one_offer_to_host_sent_several_times_at_once(race_app, race_world, clock):
    with scope(race_app) as db:
        series = rs.create_series(db, actor=None, community=db.get(Community, race_world.community_id),
                                  title="海棠小院茶话会", weekdays=[5], start_time="14:00", min_capacity=5, now=clock.now)
        series_id = series.id
    saturday = date(2026, 3, 7)  # a Saturday ahead of the clock

    def apply(db: Any) -> None:
        rs.apply_to_host(db, actor=db.get(Member, race_world.ids["resident2"]),
                         series=rs.get_series(db, series_id, community_id=race_world.community_id),
                         venue_address="人福村 9 栋 1 单元", seats=10, topic="围炉煮茶", dates=[saturday],
                         now=clock.now)

    committed, errors = at_once(race_app, apply, n=4)
    assert committed == 1 and told(errors, "series_id"), errors
    with scope(race_app) as db:
        assert db.scalar(select(func.count()).select_from(HostApplication)) == 1


def test_an_overdue_issue_escalated_by_two_requests_at_once_moves_once(race_app, race_world, clock):
    cy = race_app.extensions["courtyard"]
    with scope(race_app) as db:
        admin = db.get(Member, race_world.ids["admin"])
        issue = issues_service.raise_issue(
            db, actor=db.get(Member, race_world.ids["resident2"]), catalog=cy.catalog,
            community=db.get(Community, race_world.community_id), title="芙蓉中路三段违停", description="",
            category_key="environment", place_id=race_world.place_ids["building"], now=clock.now)
        issues_service.assign(db, actor=admin, issue=issue, department_member_id=race_world.ids["department"],
                              due_at=clock.now + timedelta(days=2), now=clock.now)
        issue_id = issue.id
    later = clock.now + timedelta(days=2, hours=1)  # overdue: one level up

    def escalate(db: Any) -> None:  # what opening the issue list does, lazily
        issues_service.escalate_overdue(db, now=later, community_id=race_world.community_id)

    committed, errors = at_once(race_app, escalate, n=3)
    assert errors == [] and committed == 3
    with scope(race_app) as db:
        escalations = db.scalar(select(func.count()).select_from(IssueEvent).where(
            IssueEvent.issue_id == issue_id, IssueEvent.kind == "escalated"))
        assert escalations == 1 and db.get(Issue, issue_id).escalation_level == 1


def test_two_staff_replacing_the_representatives_at_once(race_app, race_world):
    ids = race_world.ids
    lists = [[ids["resident"], ids["resident2"]], [ids["resident2"], ids["other_resident"]]]
    turn = iter(range(2))
    lock = threading.Lock()

    def replace(db: Any) -> None:
        with lock:
            mine = lists[next(turn)]
        votes_service.set_representatives(db, actor=db.get(Member, ids["admin"]),
                                          community=db.get(Community, race_world.community_id), member_ids=mine)

    committed, errors = at_once(race_app, replace)
    assert errors == [] and committed == 2
    with scope(race_app) as db:
        kept = sorted(m.id for m in votes_service.representatives(db, race_world.community_id))
    assert kept in [sorted(x) for x in lists]  # one list or the other, not both, not a server error


def test_a_first_calendar_link_asked_for_several_times_at_once(race_app, race_world):
    tokens: list[str] = []

    def issue(db: Any) -> None:
        tokens.append(rs.issue_calendar_token(db, actor=db.get(Member, race_world.ids["resident2"])))

    committed, errors = at_once(race_app, issue, n=4)
    assert errors == [] and committed == 4
    with scope(race_app) as db:
        working = []
        for token in tokens:
            try:
                working.append(rs.member_for_calendar_token(db, token).id)
            except DomainError:
                pass
    assert working == [race_world.ids["resident2"]]  # one link, the later one, works
