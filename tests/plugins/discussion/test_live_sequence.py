"""Sequence numbers stay unique and gap-free with several writers at once, on SQLite and
PostgreSQL; a retried client id is stored once even when two attempts race."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.db import session_scope
from core.models import ConsultationSession, LiveEvent
from core.services import live as live_service
from tests.plugins.discussion.conftest import LiveWorld
from tests.conftest import make_app


def _hammer(app, session_id: int, writers: int = 4, each: int = 10) -> list[int]:
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        session = db.get(ConsultationSession, session_id)
        pids = [live_service.join(db, session=session, member=None, sid=f"s{i}", guest_name=f"客{i}").participant.id
                for i in range(writers)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def writer(pid: int) -> None:
        try:
            barrier.wait(10)
            for n in range(each):
                with session_scope(cy.sessionmaker) as db:
                    session, participant = live_service.context(db, session_id=session_id, participant_id=pid)
                    live_service.post_message(db, session=session, participant=participant, body=f"{pid}-{n}",
                                              key=f"{pid}:{n}", now=None) if n % 2 else \
                        live_service.append_event(db, session_id=session_id, kind="test", payload={"n": n},
                                                  participant=participant, client_key=f"{pid}:{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(pid,)) for pid in pids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with session_scope(cy.sessionmaker) as db:
        return list(db.scalars(select(LiveEvent.seq).where(LiveEvent.session_id == session_id).order_by(LiveEvent.seq)))


def _raise_rate_limit(monkeypatch):
    monkeypatch.setattr(live_service, "MESSAGE_BURST", 1000)


def test_concurrent_writers_on_sqlite(live, monkeypatch):
    _raise_rate_limit(monkeypatch)
    seqs = _hammer(live.app, live.session_id)
    # 40 writes (joining appends nothing: presence is announced by the caller, in batches)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 40


@pytest.mark.postgres
def test_concurrent_writers_on_postgres(tmp_path, fresh_postgres, live_clock, monkeypatch):
    _raise_rate_limit(monkeypatch)
    app = make_app(tmp_path, DATABASE_URL=fresh_postgres, DISCUSSION_CLOCK=live_clock)
    world = LiveWorld(app, live_clock)
    seqs = _hammer(app, world.session_id, writers=6)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 60
    app.extensions["courtyard"].engine.dispose()


def test_the_same_client_id_is_stored_once(live):
    cy = live.app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        session = db.get(ConsultationSession, live.session_id)
        p = live_service.join(db, session=session, member=None, sid="x", guest_name="客").participant
        live_service.append_event(db, session_id=session.id, kind="test", payload={}, participant=p, client_key="k:1")
    with pytest.raises(IntegrityError):
        with session_scope(cy.sessionmaker) as db:
            live_service.append_event(db, session_id=live.session_id, kind="test", payload={}, client_key="k:1")
    with session_scope(cy.sessionmaker) as db:
        assert live_service.find_event(db, session_id=live.session_id, key="k:1").seq == 1  # joining stores none
        assert live_service.last_seq(db, live.session_id) == 1  # the failed attempt used no number


def _join_from_many_phones(app, session_id: int, member_id: int, phones: int = 6) -> list[int]:
    """One member opens the live page on ``phones`` devices at the same moment."""
    from core.models import Member

    cy = app.extensions["courtyard"]
    barrier = threading.Barrier(phones)
    joined: list[int] = []
    errors: list[BaseException] = []

    def phone(n: int) -> None:
        try:
            barrier.wait(10)
            with session_scope(cy.sessionmaker) as db:
                session = db.get(ConsultationSession, session_id)
                member = db.get(Member, member_id)
                joined.append(live_service.join(db, session=session, member=member, sid=f"phone{n}").participant.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=phone, args=(n,)) for n in range(phones)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return joined


def test_one_member_joining_from_several_phones_at_once_is_one_participant(live):
    joined = _join_from_many_phones(live.app, live.session_id, live.ids["resident"])
    assert len(joined) == 6 and len(set(joined)) == 1


@pytest.mark.postgres
def test_one_member_joining_from_several_phones_at_once_on_postgres(tmp_path, fresh_postgres, live_clock):
    app = make_app(tmp_path, DATABASE_URL=fresh_postgres, DISCUSSION_CLOCK=live_clock)
    world = LiveWorld(app, live_clock)
    joined = _join_from_many_phones(app, world.session_id, world.ids["resident"], phones=8)
    assert len(joined) == 8 and len(set(joined)) == 1
    app.extensions["courtyard"].engine.dispose()
