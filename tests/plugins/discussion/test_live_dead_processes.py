"""Presence after a server process dies without closing its connections: its heartbeat
goes stale and another process sweeps its connections as gone, so every phone's count
corrects itself. Each simulated process is an application on the same database with its
own scheduler; a killed one is one whose scheduler never runs again."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.models import ConsultationSession, LiveConnection, LiveEvent, Participant
from core.models.live import LiveProcess
from core.services import live as live_service
from tests.conftest import make_app
from tests.plugins.discussion.conftest import FakeScheduler, LiveWorld


def process(live, tmp_path, clock, **config):
    scheduler = FakeScheduler(clock)
    app = make_app(tmp_path, DISCUSSION_CLOCK=clock, DISCUSSION_SCHEDULE=scheduler, **config)
    return live.on(app), scheduler


def presence(client) -> list[dict]:
    return [e["data"] for e in client.events() if e["kind"] == "presence"]


def test_a_killed_process_is_swept_and_the_count_corrects_itself(live, live_scheduler, live_clock, tmp_path):
    b, b_scheduler = process(live, tmp_path, live_clock)
    host = b.client("host")  # on the process that survives
    host.join(live.code)
    stays = live.client("resident2")  # on process A, which will be killed
    gone = live.client(None)
    stays.join(live.code)
    gone_ack = gone.join(live.code, guest_name="不回来的访客")
    assert host.emit("state")["state"]["count"] == 3
    beat_before_kill = live_clock.now + timedelta(seconds=10)
    live_scheduler.advance(seconds=10)  # A beats once more…
    b_scheduler.run_due()
    host.events()
    # …and is SIGKILLed: its scheduler never runs again, its sockets never say goodbye.
    # 张师傅's phone reconnects to B at once; the guest's does not come back.
    stays_again = b.client("resident2")
    stays_again.join(live.code)
    assert host.emit("state")["state"]["count"] == 3  # still over-counted: A's rows are there
    # a join is always announced (here again), so a join racing a leave elsewhere ends right
    assert presence(host) == [{"present": [{"id": stays_again.you["id"], "name": "张师傅", "role": "resident"}],
                               "absent": [], "count": 3}]

    for _ in range(3):
        b_scheduler.advance(seconds=10)  # up to 30 s after A's last beat: not yet taken for dead
    assert presence(host) == [] and host.emit("state")["state"]["count"] == 3
    b_scheduler.advance(seconds=10)  # 40 s: A's heartbeat is stale, B sweeps it
    lost = presence(host)
    assert lost == [{"present": [], "absent": [gone_ack["you"]["id"]], "count": 2, "reason": "lost"}]
    for phone in (host, stays_again):
        state = phone.emit("state")["state"]
        assert state["count"] == 2 and {p["name"] for p in state["present"]} == {"李月昌", "张师傅"}
    attendance = {a["name"]: a for a in host.emit("state")["state"]["attendance"]}
    assert attendance["不回来的访客"]["online"] is False
    assert attendance["不回来的访客"]["last_seen"] == beat_before_kill.isoformat()  # last heard of, not the sweep
    with session_scope(live.app.extensions["courtyard"].sessionmaker) as db:
        assert db.scalar(select(func.count()).select_from(LiveProcess)) == 1  # only B is left
        seqs = list(db.scalars(select(LiveEvent.seq).where(LiveEvent.session_id == live.session_id)
                               .order_by(LiveEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1))
    # sweeping again changes nothing
    b_scheduler.advance(seconds=10)
    assert presence(host) == []


def test_a_new_process_sweeps_at_start(live, live_scheduler, live_clock, tmp_path):
    """The only process dies; its replacement finds the old rows on its first beat."""
    host, guest = live.client("host"), live.client(None)
    host.join(live.code)
    guest.join(live.code, guest_name="访客")
    live_clock.advance(minutes=2)  # the process died long ago; nobody swept it
    replacement, _ = process(live, tmp_path, live_clock)
    host_again = replacement.client("host")
    ack = host_again.join(live.code)
    assert ack["state"]["count"] == 1 and [p["name"] for p in ack["state"]["present"]] == ["李月昌"]


def test_a_process_taken_for_dead_records_its_connections_again(live, live_scheduler, live_clock, tmp_path):
    """A process that was only frozen (longer than the timeout) finds on its next beat that
    it was swept, and brings its living connections back."""
    b, b_scheduler = process(live, tmp_path, live_clock)
    host = b.client("host")
    host.join(live.code)
    frozen = live.client("resident2")
    frozen.join(live.code)
    host.events()
    live_clock.advance(seconds=35)
    b_scheduler.run_due()
    assert [(p["absent"], p["count"], p["reason"]) for p in presence(host)] == [([frozen.you["id"]], 1, "lost")]
    live_scheduler.run_due()  # A wakes up and beats
    state = host.emit("state")["state"]
    assert state["count"] == 2
    seen_by_a = [e["data"] for e in frozen.events() if e["kind"] == "presence"]
    assert seen_by_a[-1] == {"present": [{"id": frozen.you["id"], "name": "张师傅", "role": "resident"}],
                             "absent": [], "count": 2}
    # and A is alive again: B's next sweep leaves its connection alone
    b_scheduler.advance(seconds=10)
    live_scheduler.run_due()
    assert host.emit("state")["state"]["count"] == 2


def test_a_process_never_sweeps_itself_and_live_processes_are_left_alone(live, live_scheduler, live_clock,
                                                                          tmp_path):
    b, b_scheduler = process(live, tmp_path, live_clock)
    host = b.client("host")
    host.join(live.code)
    here = live.client("resident2")
    here.join(live.code)
    host.events()
    for _ in range(12):  # two minutes of both beating
        live_clock.advance(seconds=10)
        live_scheduler.run_due()
        b_scheduler.run_due()
    assert presence(host) == [] and host.emit("state")["state"]["count"] == 2


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_racing_sweepers_announce_each_departure_once(database, tmp_path, live_clock, request):
    """Four processes sweep the same dead ones at the same moment; a participant with
    connections on two dead processes goes offline once."""
    url = request.getfixturevalue("fresh_postgres") if database == "postgres" else None
    app = make_app(tmp_path, DISCUSSION_CLOCK=live_clock, **({"DATABASE_URL": url} if url else {}))
    world = LiveWorld(app, live_clock)
    cy = app.extensions["courtyard"]
    now = live_clock.now
    with session_scope(cy.sessionmaker) as db:
        session = db.get(ConsultationSession, world.session_id)
        for pid in ("dead-1", "dead-2", "alive"):
            live_service.register_process(db, process_id=pid, now=now)
        guests = []
        for i in range(6):
            j = live_service.join(db, session=session, member=None, sid=f"d1-{i}", guest_name=f"客{i}",
                                  now=now, process_id="dead-1")
            guests.append(j)
            if i % 2:  # the same phone also had a connection on the other dead process
                live_service.join(db, session=session, member=None, sid=f"d2-{i}", guest_token=j.guest_token,
                                  now=now, process_id="dead-2")
        live_service.join(db, session=session, member=None, sid="a-0", guest_name="留下的人", now=now,
                          process_id="alive")
    later = now + timedelta(seconds=31)
    with session_scope(cy.sessionmaker) as db:
        live_service.heartbeat(db, process_id="alive", now=later)
    barrier = threading.Barrier(4)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def sweeper(i: int) -> None:
        try:
            barrier.wait(10)
            with session_scope(cy.sessionmaker) as db:
                events = live_service.sweep_dead_processes(db, stale_after=timedelta(seconds=30),
                                                           keep=f"sweeper-{i}", now=later)
                results.append([pid for e in events for pid in e.payload["absent"]])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweeper, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    announced = sorted(p for r in results for p in r)
    assert announced == sorted(g.participant.id for g in guests)
    with session_scope(cy.sessionmaker) as db:
        left = db.scalars(select(Participant.display_name).join(
            LiveConnection, LiveConnection.participant_id == Participant.id))
        assert list(left) == ["留下的人"]
        counts = [e.payload["count"] for e in db.scalars(select(LiveEvent).where(
            LiveEvent.session_id == world.session_id, LiveEvent.kind == "presence").order_by(LiveEvent.seq))]
    # one announcement per sweeper that found someone (their departures together); each says how
    # many are here as it is announced, and the last one is right for everyone
    assert 1 <= len(counts) <= 4 and counts == sorted(counts, reverse=True) and counts[-1] == 1
    cy.engine.dispose()
