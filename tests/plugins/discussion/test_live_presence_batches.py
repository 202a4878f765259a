"""Presence is announced in batches: the joins and leaves of a room within
DISCUSSION_PRESENCE_INTERVAL (0.5 s) make one ``presence`` event, so a storm of phones
coming back is a handful of events (replayed, not a snapshot) and the count is right
after it — on one process and on two sharing the database."""

from __future__ import annotations

from sqlalchemy import select

from core.db import session_scope
from core.models import LiveEvent
from tests.conftest import make_app
from tests.plugins.discussion.conftest import FakeScheduler


def presence(client) -> list[dict]:
    return [e["data"] for e in client.events() if e["kind"] == "presence"]


def roster_after(events: list[dict], start: dict[int, str]) -> dict[int, str]:
    """Apply presence announcements the way the page does (add the present, drop the absent)."""
    here = dict(start)
    for d in events:
        for p in d["present"]:
            here[p["id"]] = p["name"]
        for pid in d["absent"]:
            here.pop(pid, None)
    return here


def test_joins_and_leaves_within_the_interval_are_one_announcement(live, live_scheduler):
    host = live.client("host")
    host.join(live.code)
    assert len(presence(host)) == 1  # the first change after a quiet spell is told at once
    early = [live.client(None) for _ in range(3)]
    for i, g in enumerate(early):
        g.join(live.code, guest_name=f"早到{i}")
    live_scheduler.advance(seconds=0.5)
    host.events()
    seq_before = host.emit("state")["state"]["seq"]
    live_scheduler.advance(seconds=1)  # quiet: the next change goes out at once…
    guests = [live.client(None) for _ in range(20)]
    guests[0].join(live.code, guest_name="客0")
    assert [d["present"][0]["name"] for d in presence(host)] == ["客0"]
    for i, g in enumerate(guests[1:], 1):  # …and the next 19 joins and 2 leaves wait for the next one
        g.join(live.code, guest_name=f"客{i}")
    early[0].disconnect()
    early[1].disconnect()
    assert presence(host) == []
    live_scheduler.advance(seconds=0.5)
    told = presence(host)
    assert len(told) == 1
    assert sorted(p["name"] for p in told[0]["present"]) == sorted(f"客{i}" for i in range(1, 20))
    assert sorted(told[0]["absent"]) == sorted([early[0].you["id"], early[1].you["id"]])
    state = host.emit("state")["state"]
    assert told[0]["count"] == state["count"] == 1 + 1 + 20  # the host, 早到2 and the 20 guests
    assert state["seq"] == seq_before + 2  # two numbered events for 23 joins and leaves


def test_a_reconnect_storm_replays_and_ends_with_the_right_count(live, live_scheduler, live_clock):
    host = live.client("host")
    host.join(live.code)
    phones = [live.client(None) for _ in range(60)]
    acks = [p.join(live.code, guest_name=f"邻居{i}") for i, p in enumerate(phones)]
    live_scheduler.advance(seconds=0.5)
    pins = [host.op("pin", text=f"公告{i}")["seq"] for i in range(3)]
    last = {id(p): max(e["seq"] for e in p.events()) for p in phones}
    host_seen = {p["id"]: p["name"] for p in host.emit("state")["state"]["present"]}
    host.events()
    # the network drops for everyone at once…
    dropped_at = live_clock.now
    for p in phones:
        p.disconnect()
    # …and over the next two seconds they come back, while the host keeps pinning
    back = []
    for i, (p, ack) in enumerate(zip(phones, acks)):
        live_scheduler.advance(seconds=2 / len(phones))
        if i % 20 == 0:
            pins.append(host.op("pin", text=f"又一条{i}")["seq"])
        again = live.client(None)
        back.append(again.join(live.code, guest_token=ack["you"]["guest_token"], since=last[id(p)]))
    live_scheduler.advance(seconds=0.5)
    # every phone replayed what it missed (no snapshot: presence did not push it 500 behind)
    assert all("events" in a and "state" not in a for a in back)
    for p, a in zip(phones, back):  # each got every pin it had not seen
        assert {e["seq"] for e in a["events"]} >= {s for s in pins if last[id(p)] < s <= a["seq"]}
    # the count and the host's list are right after the storm
    state = host.emit("state")["state"]
    assert state["count"] == 61 and len(state["present"]) == 61
    told = presence(host)
    assert len(told) <= 2 * 2 / 0.5 + 2  # a handful of announcements, not 120
    assert told[-1]["count"] == 61
    assert roster_after(told, host_seen) == {p["id"]: p["name"] for p in state["present"]}
    with session_scope(live.app.extensions["courtyard"].sessionmaker) as db:
        seqs = list(db.scalars(select(LiveEvent.seq).where(LiveEvent.session_id == live.session_id)
                               .order_by(LiveEvent.seq)))
    assert seqs == list(range(1, len(seqs) + 1))
    # attendance: each guest was last seen when their phone dropped, not when it was announced
    attendance = {a["id"]: a for a in host.emit("state")["state"]["attendance"]}
    assert all(attendance[a["you"]["id"]]["online"] for a in acks)
    assert all(attendance[a["you"]["id"]]["last_seen"] > dropped_at.isoformat() for a in acks)


def test_a_leave_is_recorded_at_the_time_the_connection_closed(live, live_scheduler, live_clock):
    host, resident = live.client("host"), live.client("resident2")
    host.join(live.code)
    resident.join(live.code)
    live_scheduler.advance(seconds=0.5)  # 张师傅's join is announced…
    live_scheduler.advance(seconds=0.5)  # …and then nothing happens for a while
    left_at = live_clock.now
    resident.disconnect()  # told at once (quiet before)
    attendance = {a["name"]: a for a in host.emit("state")["state"]["attendance"]}
    assert attendance["张师傅"]["last_seen"] == left_at.isoformat() and not attendance["张师傅"]["online"]
    guest = live.client(None)
    guest.join(live.code, guest_name="晚到的")
    live_scheduler.advance(seconds=0.2)
    closed_at = live_clock.now
    guest.disconnect()  # waits for the next announcement…
    live_scheduler.advance(seconds=0.2)
    assert host.emit("state")["state"]["count"] == 2  # (its row is there until then)
    live_scheduler.advance(seconds=0.1)
    attendance = {a["name"]: a for a in host.emit("state")["state"]["attendance"]}
    # …but it was last seen when its connection closed, not when that was announced
    assert attendance["晚到的"]["last_seen"] == closed_at.isoformat() and not attendance["晚到的"]["online"]
    assert host.emit("state")["state"]["count"] == 1


def test_a_failed_announcement_is_made_with_the_next_one(live, live_scheduler, monkeypatch):
    from core.services import live as live_service

    host = live.client("host")
    host.join(live.code)
    live_scheduler.advance(seconds=1)
    host.events()
    real = live_service.announce_presence
    calls = []

    def flaky(db, **kw):
        calls.append(kw)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(db, **kw)

    monkeypatch.setattr(live_service, "announce_presence", flaky)
    guest = live.client(None)
    guest.join(live.code, guest_name="客")  # the announcement fails…
    assert presence(host) == []
    live_scheduler.advance(seconds=0.5)  # …and is made with the next flush
    assert [[p["name"] for p in d["present"]] for d in presence(host)] == [["客"]]
    assert host.emit("state")["state"]["count"] == 2


def test_two_processes_announce_a_participant_right_when_their_phones_race(live, live_scheduler, live_clock,
                                                                           tmp_path):
    """张师傅 has a phone on each process; one closes on A while the other stays on B, then
    the one on B closes while a new one opens on A. Each process announces what it saw
    change; the last announcement naming 张师傅 is right every time."""
    b_scheduler = FakeScheduler(live_clock)
    b = live.on(make_app(tmp_path, DISCUSSION_CLOCK=live_clock, DISCUSSION_SCHEDULE=b_scheduler))
    host = live.client("host")
    host.join(live.code)
    on_a, on_b = live.client("resident2"), b.client("resident2")
    on_a.join(live.code)
    on_b.join(live.code)
    zhang = on_a.you["id"]

    def settle():
        for _ in range(3):
            live_clock.advance(seconds=0.5)
            live_scheduler.run_due()
            b_scheduler.run_due()

    def last_word() -> dict:
        with session_scope(live.app.extensions["courtyard"].sessionmaker) as db:
            told = [e.payload for e in db.scalars(select(LiveEvent).where(
                LiveEvent.session_id == live.session_id, LiveEvent.kind == "presence").order_by(LiveEvent.seq))]
        about = [d for d in told if zhang in d["absent"] or any(p["id"] == zhang for p in d["present"])]
        return {"here": zhang not in about[-1]["absent"], "count": about[-1]["count"]}

    settle()
    assert last_word() == {"here": True, "count": 2}
    on_a.disconnect()  # A saw 张师傅 leave; B still holds a phone
    settle()
    assert last_word() == {"here": True, "count": 2}
    again_on_a = live.client("resident2")
    on_b.disconnect()  # B's phone closes and a new one opens on A in the same moment
    again_on_a.join(live.code)
    settle()
    assert last_word() == {"here": True, "count": 2}
    again_on_a.disconnect()
    settle()
    assert last_word() == {"here": False, "count": 1}
    assert host.emit("state")["state"]["count"] == 1
    b.app.extensions["courtyard"].engine.dispose()
