"""The golden microphone under races, on SQLite and PostgreSQL: many grants (or raised
hands) at the same moment leave one speaker (one raised hand), and a grant that could
not take the floor back is refused, not acknowledged."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.db import session_scope
from core.models import ConsultationSession, LiveEvent
from core.models.live import FloorRequest, LiveRoom
from core.services import live as live_service
from tests import races
from tests.conftest import make_app
from tests.plugins.discussion.conftest import LiveWorld


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def race_world(request, tmp_path, live_clock, live_scheduler):
    url = None if request.param == "sqlite" else request.getfixturevalue("fresh_postgres")
    overrides: dict[str, Any] = {"DATABASE_URL": url} if url else {}
    app = make_app(tmp_path, DISCUSSION_CLOCK=live_clock, DISCUSSION_SCHEDULE=live_scheduler, **overrides)
    yield LiveWorld(app, live_clock)
    app.extensions["courtyard"].engine.dispose()


def _guests(world: LiveWorld, n: int) -> tuple[int, list[int]]:
    """The host's participant id and ``n`` guests' in the live session."""
    from core.models import Member

    cy = world.app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        session = db.get(ConsultationSession, world.session_id)
        host = live_service.join(db, session=session, member=db.get(Member, world.ids["host"]), sid="host").participant
        guests = [live_service.join(db, session=session, member=None, sid=f"g{i}", guest_name=f"居民{i}").participant
                  for i in range(n)]
        return host.id, [g.id for g in guests]


def _at_once(world: LiveWorld, calls: list[Callable[[Any], Any]]) -> tuple[int, list[BaseException]]:
    """Each call in its own thread and unit of work, at the same moment
    (:func:`tests.races.at_once`): how many committed, and what the others raised."""
    return races.at_once(world.app.extensions["courtyard"].sessionmaker, calls)


def _speaking(world: LiveWorld) -> list[int]:
    with session_scope(world.app.extensions["courtyard"].sessionmaker) as db:
        return list(db.scalars(select(FloorRequest.id).where(FloorRequest.session_id == world.session_id,
                                                             FloorRequest.status == "speaking")))


def test_twenty_grants_at_once_leave_exactly_one_speaker(race_world):
    world = race_world
    host_id, guests = _guests(world, 20)

    def grant(to: int) -> Callable[[Any], Any]:
        def call(db: Any) -> Any:
            session, host = live_service.context(db, session_id=world.session_id, participant_id=host_id)
            return live_service.grant_floor(db, session=session, participant=host, to_participant_id=to,
                                            seconds=120, key=f"{host_id}:grant-{to}", now=world.clock.now)
        return call

    committed, errors = _at_once(world, [grant(g) for g in guests])
    assert errors == [] and committed == 20  # each grant in turn takes the floor from the one before
    speaking = _speaking(world)
    assert len(speaking) == 1
    with session_scope(world.app.extensions["courtyard"].sessionmaker) as db:
        assert db.get(LiveRoom, world.session_id).floor_request_id == speaking[0]
        ended = db.scalar(select(func.count()).select_from(FloorRequest).where(
            FloorRequest.session_id == world.session_id, FloorRequest.status == "done",
            FloorRequest.ended_by == live_service.ENDED_BY_NEXT))
        assert ended == 19
        granted = db.scalar(select(func.count()).select_from(LiveEvent).where(
            LiveEvent.session_id == world.session_id, LiveEvent.kind == "floor_granted"))
        assert granted == 20


def test_one_hand_raised_twice_at_once_is_one_hand(race_world):
    world = race_world
    _, guests = _guests(world, 1)
    me = guests[0]

    def raise_hand(n: int) -> Callable[[Any], Any]:
        def call(db: Any) -> Any:
            session, p = live_service.context(db, session_id=world.session_id, participant_id=me)
            return live_service.raise_hand(db, session=session, participant=p, key=f"{me}:tap-{n}",
                                           now=world.clock.now)
        return call

    committed, errors = _at_once(world, [raise_hand(n) for n in range(6)])
    assert committed == 1
    assert len(errors) == 5 and all(getattr(e, "status", None) == 409 for e in errors), errors
    with session_scope(world.app.extensions["courtyard"].sessionmaker) as db:
        assert len(live_service.queue(db, world.session_id)) == 1


def test_the_database_refuses_a_second_speaking_turn(race_world):
    world = race_world
    _, guests = _guests(world, 2)
    cy = world.app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        db.add(FloorRequest(session_id=world.session_id, participant_id=guests[0], status="speaking",
                            raised_at=world.clock.now))
    with pytest.raises(IntegrityError):
        with session_scope(cy.sessionmaker) as db:
            db.add(FloorRequest(session_id=world.session_id, participant_id=guests[1], status="speaking",
                                raised_at=world.clock.now))
    assert len(_speaking(world)) == 1


def test_a_grant_that_cannot_take_the_floor_back_is_refused(live, monkeypatch):
    host = live.client("host")
    host.join(live.code)
    resident = live.client("resident2")
    resident.join(live.code)
    guest = live.client(None)
    guest.join(live.code, guest_name="路人")
    assert host.op("grant_floor", participant_id=resident.you["id"])["ok"]
    # another writer ended the turn between our read and our write (the old race)
    monkeypatch.setattr(live_service, "_take_floor_back", lambda *a, **kw: False)
    ack = host.op("grant_floor", participant_id=guest.you["id"])
    assert ack["ok"] is False and ack["error"]["status"] == 409, ack
    assert len(_speaking(live)) == 1


def test_one_message_hidden_by_two_moderators_at_once_is_hidden_once(race_world):
    world = race_world
    host_id, guests = _guests(world, 1)
    cy = world.app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        session, p = live_service.context(db, session_id=world.session_id, participant_id=guests[0])
        message_id = live_service.post_message(db, session=session, participant=p, body="广告", now=world.clock.now
                                               ).payload["id"]

    def hide(n: int) -> Callable[[Any], Any]:
        def call(db: Any) -> Any:
            session, host = live_service.context(db, session_id=world.session_id, participant_id=host_id)
            return live_service.hide_message(db, session=session, participant=host, message_id=message_id,
                                             reason="广告", key=f"{host_id}:hide-{n}", now=world.clock.now)
        return call

    committed, errors = _at_once(world, [hide(n) for n in range(2)])
    assert committed == 1 and len(errors) == 1 and getattr(errors[0], "status", None) == 409, errors
    with session_scope(cy.sessionmaker) as db:
        hidden = db.scalar(select(func.count()).select_from(LiveEvent).where(
            LiveEvent.session_id == world.session_id, LiveEvent.kind == "hidden"))
    assert hidden == 1


def test_a_grant_racing_the_close_leaves_nobody_speaking(race_world):
    world = race_world
    host_id, guests = _guests(world, 8)

    def grant(to: int) -> Callable[[Any], Any]:
        def call(db: Any) -> Any:
            session, host = live_service.context(db, session_id=world.session_id, participant_id=host_id)
            return live_service.grant_floor(db, session=session, participant=host, to_participant_id=to,
                                            key=f"{host_id}:grant-{to}", now=world.clock.now)
        return call

    def close(db: Any) -> Any:
        from core.models import Member

        session, host = live_service.context(db, session_id=world.session_id, participant_id=host_id)
        return live_service.set_status(db, session=session, participant=host, status="closed",
                                       member=db.get(Member, world.ids["host"]), key=f"{host_id}:close",
                                       now=world.clock.now)

    committed, errors = _at_once(world, [grant(g) for g in guests] + [close])
    assert all(getattr(e, "status", None) == 409 for e in errors), errors
    assert _speaking(world) == []  # grants before the close ended with it; those after it were refused
