"""Live voting over Socket.IO: acknowledgement after commit, harmless retries, hidden
results never broadcast before close, coalesced tallies, and motion events in the
session's /live log for reconnecting phones."""

from __future__ import annotations


import uuid

import pytest

from plugins.voting.live import Coalescer
from tests.conftest import Clock, make_app
from tests.plugins.voting.voting_world import VoteWorld
from tests.plugins.voting.voting_world import vote_app, vote_clock, vw  # noqa: F401  (fixtures)


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0
        self.scheduled: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.t

    def schedule(self, delay: float, fn) -> None:
        self.scheduled.append((self.t + delay, fn))

    def advance(self, seconds: float) -> None:
        self.t += seconds
        due = [(at, fn) for at, fn in self.scheduled if at <= self.t + 1e-9]
        self.scheduled = [(at, fn) for at, fn in self.scheduled if at > self.t + 1e-9]
        for _, fn in due:
            fn()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def lw(tmp_path, fake_time):
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_MONOTONIC=fake_time,
                   VOTING_SCHEDULE=fake_time.schedule)
    return VoteWorld(app, clock)


def sock(w: VoteWorld, role: str, namespace: str = "/vote"):
    http, _ = w.http(role)
    return w.app.extensions["courtyard"].socketio.test_client(w.app, namespace=namespace, flask_test_client=http)


def received(tc, name: str, namespace: str = "/vote") -> list[dict]:
    return [r["args"][0] for r in tc.get_received(namespace) if r["name"] == name]


def test_coalescer_sends_at_most_ten_a_second_and_always_the_last(fake_time):
    sent: list[float] = []
    c = Coalescer(lambda key: sent.append(fake_time()), interval=0.1, clock=fake_time, schedule=fake_time.schedule)
    for _ in range(1000):  # a vote every millisecond for one second
        c.request(7)
        fake_time.advance(0.001)
    fake_time.advance(0.2)
    assert 10 <= len(sent) <= 11
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert min(gaps) >= 0.1 - 1e-9
    assert sent[-1] >= 1000.0 + 0.999  # the trailing change was sent
    c.request(8)  # another motion is not held back
    assert len(sent) == (11 if len(gaps) == 9 else 12)


def test_vote_ack_after_commit_and_retry_is_harmless(lw):
    m = lw.motion(method="plurality", options=["东片", "西片"])
    tc = sock(lw, "resident2")
    watch = tc.emit("watch", {"motion_id": m["id"]}, namespace="/vote", callback=True)
    assert watch["ok"] and watch["motion"]["eligible"] and watch["motion"]["ballot_kind"] == "choice"
    assert "result" not in watch["motion"]
    cid = uuid.uuid4().hex
    ack = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "东片"}}, namespace="/vote",
                  callback=True)
    assert ack["ok"] and ack["first"] and len(ack["receipt"]) == 64
    again = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "东片"}}, namespace="/vote",
                    callback=True)
    assert again["ok"] and again["duplicate"] and again["receipt"] == ack["receipt"]
    mine = lw.api("resident2", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine["receipt"] == ack["receipt"]  # committed before the ack
    bad = tc.emit("vote", {"cid": uuid.uuid4().hex, "motion_id": m["id"], "ballot": {"choice": "北片"}},
                  namespace="/vote", callback=True)
    assert not bad["ok"] and bad["error"]["status"] == 400 and "choice" in bad["error"]["fields"]["ballot"]
    odd = tc.emit("nonsense", {}, namespace="/vote", callback=True)
    assert odd["ok"] is False


def test_hidden_results_are_never_broadcast_before_close(lw, fake_time):
    m = lw.motion(method="plurality", options=["东片", "西片"], results_visibility="after_close")
    watcher = sock(lw, "grid_head")
    assert "result" not in watcher.emit("watch", {"motion_id": m["id"]}, namespace="/vote", callback=True)["motion"]
    voter = sock(lw, "resident2")
    for i in range(5):
        voter.emit("vote", {"cid": uuid.uuid4().hex, "motion_id": m["id"],
                            "ballot": {"choice": "东片" if i % 2 else "西片"}}, namespace="/vote", callback=True)
        fake_time.advance(0.5)
    assert received(watcher, "tally") == [] and received(voter, "tally") == []
    assert lw.api("grid_head", "GET", f"/motions/{m['id']}/results").status_code == 409
    lw.api("host", "POST", f"/motions/{m['id']}/close")
    fake_time.advance(1)
    closed = received(watcher, "motion")
    assert closed and closed[-1]["status"] == "closed" and closed[-1]["result"]["winners"] == ["西片"]
    assert received(watcher, "tally") == []


def test_live_results_are_broadcast_coalesced(lw, fake_time):
    m = lw.motion(results_visibility="live")
    watcher = sock(lw, "grid_head")
    watcher.emit("watch", {"motion_id": m["id"]}, namespace="/vote", callback=True)
    roles = ["resident2", "admin", "moderator", "department"]
    for i, role in enumerate(roles):  # four votes within 40 ms
        tc = sock(lw, role)
        tc.emit("vote", {"cid": uuid.uuid4().hex, "motion_id": m["id"], "ballot": {"choice": "yes"}},
                namespace="/vote", callback=True)
        fake_time.advance(0.01)
    tallies = received(watcher, "tally")
    assert len(tallies) == 1 and tallies[0]["result"]["counts"]["yes"] == 1  # the first went at once
    fake_time.advance(0.1)
    tallies = received(watcher, "tally")
    assert len(tallies) == 1 and tallies[0]["result"]["counts"]["yes"] == 4  # the rest as one


def test_motion_events_reach_the_live_log_and_reconnecting_phones(lw):
    m = lw.motion(open_now=False)
    live = sock(lw, "resident2", "/live")
    ack = live.emit("join", {"code": lw.code}, namespace="/live", callback=True)
    assert ack["ok"]
    seq = ack["seq"]
    lw.api("host", "POST", f"/motions/{m['id']}/open")
    pushed = [e for e in received(live, "event", "/live") if e["kind"] == "motion_opened"]
    assert pushed and pushed[0]["data"]["motion_id"] == m["id"]
    live.disconnect(namespace="/live")
    lw.api("host", "POST", f"/motions/{m['id']}/close")
    again = sock(lw, "resident2", "/live")
    replay = again.emit("join", {"code": lw.code, "since": seq}, namespace="/live", callback=True)
    kinds = [e["kind"] for e in replay["events"]]
    assert "motion_opened" in kinds and "motion_closed" in kinds
    closed = next(e for e in replay["events"] if e["kind"] == "motion_closed")
    assert closed["data"]["result"]["turnout"]["ballots"] == 0
