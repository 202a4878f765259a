"""The server takes the floor back when the speaking time runs out: once, whoever gets
there first (the timer, another process's sweep, the host's button), and also after the
process that set the timer is gone."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import session_scope
from core.models import ConsultationSession, FloorRequest, LiveEvent
from core.services import live as live_service
from tests.conftest import make_app
from tests.plugins.discussion.conftest import FakeScheduler, LiveWorld


def released(client) -> list[dict]:
    return [e for e in client.events() if e["kind"] == "floor_released"]


def floor_events_in_log(app, session_id: int) -> list[LiveEvent]:
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        return list(db.scalars(select(LiveEvent).where(LiveEvent.session_id == session_id,
                                                       LiveEvent.kind == "floor_released")))


def test_the_floor_is_taken_back_when_the_speaking_time_ends(live, live_scheduler):
    host, speaker, listener = live.client("host"), live.client("resident2"), live.client("grid_head")
    for c in (host, speaker, listener):
        c.join(live.code)
    live_scheduler.advance(seconds=1)  # the joins are announced (together, a moment after)
    granted_at = live.clock.now
    granted = host.op("grant_floor", participant_id=speaker.you["id"], seconds=60)
    assert granted["ok"]
    assert speaker.op("message", body="我讲两句")["ok"]
    live_scheduler.advance(seconds=59)
    assert released(listener) == [] and listener.emit("state")["state"]["floor"] is not None

    live_scheduler.advance(seconds=1)
    for c in (host, speaker, listener):
        events = released(c)
        assert len(events) == 1, c.you
        data = events[0]["data"]
        assert data["reason"] == "time" and data["participant_id"] == speaker.you["id"]
        assert data["participant"]["name"] == "张师傅"
        assert data["ended_at"] == (granted_at + timedelta(seconds=60)).isoformat()
    # it is a committed, numbered event: a phone that reconnects replays it
    replay = listener.emit("sync", {"since": granted["seq"]})["events"]
    assert [e["kind"] for e in replay] == ["message", "floor_released"]
    state = listener.emit("state")["state"]
    assert state["floor"] is None
    # what the speaker says after the time ran out is no longer "from the floor"
    late = speaker.op("message", body="再补充一句")
    assert [e for e in listener.events() if e["seq"] == late["seq"]][0]["data"]["from_floor"] is False
    # nothing is released twice, however long the session goes on
    live_scheduler.advance(seconds=120)
    assert len(floor_events_in_log(live.app, live.session_id)) == 1
    # the minutes say who had the floor and that the time ran out
    assert host.op("status", status="closed")["ok"]
    http = live.app.test_client()
    http.get("/lang/en")
    live.login(http, "host")
    minutes = http.get(f"/c/{live.slug}/sessions/{live.session_id}/minutes.json").get_json()
    assert [(f["name"], f["seconds"], f["ended_by"]) for f in minutes["floor"]] == [("张师傅", 60, "time")]
    assert minutes["floor"][0]["ended_at"] == (granted_at + timedelta(seconds=60)).isoformat()
    page = http.get(f"/c/{live.slug}/sessions/{live.session_id}/minutes").get_data(as_text=True)
    assert "张师傅" in page and "the time ran out" in page


def test_taking_the_floor_back_by_hand_says_so_and_the_timer_then_does_nothing(live, live_scheduler):
    host, speaker = live.client("host"), live.client("resident2")
    host.join(live.code)
    speaker.join(live.code)
    assert host.op("grant_floor", participant_id=speaker.you["id"], seconds=30)["ok"]
    live_scheduler.advance(seconds=10)
    assert host.op("revoke_floor")["ok"]
    assert [e["data"]["reason"] for e in released(speaker)] == ["host"]
    live_scheduler.advance(seconds=30)
    assert len(floor_events_in_log(live.app, live.session_id)) == 1
    # a floor given without a time limit is never taken back by the server
    assert host.op("grant_floor", participant_id=speaker.you["id"])["ok"]
    live_scheduler.advance(seconds=3600)
    assert speaker.emit("state")["state"]["floor"]["participant"]["id"] == speaker.you["id"]


def test_giving_the_floor_again_resets_the_time(live, live_scheduler):
    host, a, b = live.client("host"), live.client("resident2"), live.client("grid_head")
    for c in (host, a, b):
        c.join(live.code)
    assert host.op("grant_floor", participant_id=a.you["id"], seconds=30)["ok"]
    live_scheduler.advance(seconds=20)
    assert host.op("grant_floor", participant_id=b.you["id"], seconds=30)["ok"]
    live_scheduler.advance(seconds=15)  # a's old timer is due now: it must not end b's turn
    assert released(host) == []
    assert host.emit("state")["state"]["floor"]["participant"]["id"] == b.you["id"]
    live_scheduler.advance(seconds=15)
    assert [e["data"]["participant_id"] for e in released(host)] == [b.you["id"]]
    with session_scope(live.app.extensions["courtyard"].sessionmaker) as db:
        ends = {r.participant_id: r.ended_by for r in db.scalars(select(FloorRequest))}
    assert ends == {a.you["id"]: "next", b.you["id"]: "time"}


def test_two_processes_and_the_host_release_a_floor_exactly_once(live, live_scheduler, tmp_path, live_clock):
    """Process A gave the floor (and set the timer); process B found it on its beat and
    armed its own; the host presses "take back" on A just as the time runs out."""
    b_scheduler = FakeScheduler(live_clock)
    app_b = make_app(tmp_path, DISCUSSION_CLOCK=live_clock, DISCUSSION_SCHEDULE=b_scheduler)
    on_b = live.on(app_b)
    host, speaker = live.client("host"), live.client("resident2")
    host.join(live.code)
    speaker.join(live.code)
    watcher_b = on_b.client("grid_head")
    watcher_b.join(live.code)
    assert host.op("grant_floor", participant_id=speaker.you["id"], seconds=30)["ok"]
    b_scheduler.advance(seconds=10)  # B's beat arms a timer for A's floor
    live_clock.advance(seconds=20)   # the time is up; both timers are due
    revoke = host.op("revoke_floor")  # the host's press reaches the server first
    b_scheduler.run_due()
    live_scheduler.run_due()
    assert revoke["ok"]
    events = floor_events_in_log(live.app, live.session_id)
    assert [e.payload["reason"] for e in events] == ["host"]
    # the other way round: the timers win, the host's late press is refused
    assert host.op("grant_floor", participant_id=speaker.you["id"], seconds=30)["ok"]
    b_scheduler.advance(seconds=10)
    live_clock.advance(seconds=20)
    b_scheduler.run_due()
    live_scheduler.run_due()
    late = host.op("revoke_floor")
    assert late["ok"] is False and late["error"]["status"] == 409
    events = floor_events_in_log(live.app, live.session_id)
    assert [e.payload["reason"] for e in events] == ["host", "time"]
    assert [e["data"]["reason"] for e in released(watcher_b)] == ["time"]  # B's phones heard it from B


def test_a_floor_outlives_no_restart(live, tmp_path, live_clock):
    """The process that gave the floor dies before the time runs out; a fresh process
    releases it on the next join, and on its first beat if nobody joins."""
    host, speaker = live.client("host"), live.client("resident2")
    host.join(live.code)
    speaker.join(live.code)
    granted = host.op("grant_floor", participant_id=speaker.you["id"], seconds=30)
    live_clock.advance(seconds=45)  # the first process is gone: its timer never runs
    restarted = live.on(make_app(tmp_path, DISCUSSION_CLOCK=live_clock, TESTING=True))  # no background work
    back = restarted.client("resident2")  # the phone reconnects to the new process
    ack = back.join(live.code, since=granted["seq"])
    floor = [e["data"]["reason"] for e in ack["events"] if e["kind"].startswith("floor")]
    assert floor == ["time"]
    assert back.emit("state")["state"]["floor"] is None
    assert len(floor_events_in_log(live.app, live.session_id)) == 1

    # and the periodic beat of a process nobody joins
    assert host.op("grant_floor", participant_id=speaker.you["id"], seconds=30)["ok"]
    live_clock.advance(seconds=31)
    sweeper = FakeScheduler(live_clock)
    other = live.on(make_app(tmp_path, DISCUSSION_CLOCK=live_clock, DISCUSSION_SCHEDULE=sweeper))
    other.client(None)  # connecting starts the process's upkeep: register, sweep, check floors
    assert [e.payload["reason"] for e in floor_events_in_log(live.app, live.session_id)] == ["time", "time"]


def _race(app, session_id: int, host_pid: int, now, racers: int = 6) -> list[str]:
    cy = app.extensions["courtyard"]
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def racer(i: int) -> None:
        barrier.wait(10)
        try:
            with session_scope(cy.sessionmaker) as db:
                if i % 2:
                    event = live_service.expire_floor(db, session_id=session_id, now=now)
                    outcome = "time" if event else "nothing"
                else:
                    session, host = live_service.context(db, session_id=session_id, participant_id=host_pid)
                    live_service.revoke_floor(db, session=session, participant=host, now=now)
                    outcome = "host"
        except Exception as exc:  # a refused revoke (409) or a busy database
            outcome = type(exc).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def _grant(app, world, now) -> tuple[int, int]:
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        session = db.get(ConsultationSession, world.session_id)
        from core.models import Member

        host = live_service.join(db, session=session, member=db.get(Member, world.ids["host"]), sid="h", now=now)
        guest = live_service.join(db, session=session, member=None, sid="g", guest_name="客", now=now)
        live_service.grant_floor(db, session=session, participant=host.participant,
                                 to_participant_id=guest.participant.id, seconds=10, now=now)
        return host.participant.id, guest.participant.id


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_racing_releases_store_one_event(database, tmp_path, live_clock, request):
    if database == "postgres":
        url = request.getfixturevalue("fresh_postgres")
        app = make_app(tmp_path, DATABASE_URL=url, DISCUSSION_CLOCK=live_clock)
    else:
        app = make_app(tmp_path, DISCUSSION_CLOCK=live_clock)
    world = LiveWorld(app, live_clock)
    host_pid, _ = _grant(app, world, live_clock.now)
    for _ in range(3):
        outcomes = _race(app, world.session_id, host_pid, live_clock.now + timedelta(seconds=10))
        winners = [o for o in outcomes if o in ("time", "host")]
        assert len(winners) == 1, outcomes
        assert set(outcomes) - {"time", "host", "nothing", "Conflict"} == set(), outcomes
        _grant(app, world, live_clock.now)
    assert len(floor_events_in_log(app, world.session_id)) == 3
    app.extensions["courtyard"].engine.dispose()


def test_a_due_floor_is_released_before_a_join_or_a_snapshot_is_answered(live, live_scheduler):
    """Between timer and beat (or with both lost), a phone asking for the state never
    sees a floor whose time is up."""
    host, speaker = live.client("host"), live.client("resident2")
    host.join(live.code)
    speaker.join(live.code)
    granted = host.op("grant_floor", participant_id=speaker.you["id"], seconds=20)
    live.clock.advance(seconds=21)  # the timer has not run (yet)
    late = live.client("grid_head")
    ack = late.join(live.code, since=granted["seq"])
    assert [e["data"]["reason"] for e in ack["events"] if e["kind"] == "floor_released"] == ["time"]
    assert [e["data"]["reason"] for e in released(host)] == ["time"]  # and everyone was told
    assert host.op("grant_floor", participant_id=speaker.you["id"], seconds=20)["ok"]
    live.clock.advance(seconds=20)
    assert speaker.emit("state")["state"]["floor"] is None
    assert [e["data"]["reason"] for e in released(host)] == ["time"]
    live_scheduler.run_due()  # the timers, late: nothing more happens
    assert len(floor_events_in_log(live.app, live.session_id)) == 2
