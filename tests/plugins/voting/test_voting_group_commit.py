"""Group commit of live votes: one writer per process casts a batch of queued votes, each
in its own savepoint, commits them in one transaction and only then acknowledges them.
A refused vote gets its own error and leaves the others stored; a batch whose commit
fails acknowledges none of its votes (503, nothing stored) and the retry with the same
cid counts once; a failing or stuck writer never leaves a phone waiting for good."""

from __future__ import annotations

import logging
import sqlite3
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from core.db import session_scope
from core.models import AnonymousBallot, Ballot, Motion
from core.services import votes as svc
from plugins.tally import METHODS
from plugins.voting.live import Busy, VoteJob, vote_writer
from tests.conftest import Clock, make_app
from tests.plugins.voting.voting_world import VoteWorld


class Ticks:
    """An injected monotonic clock for the writer's watchdog and the motion cache."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def gw(tmp_path, ticks) -> VoteWorld:
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_MONOTONIC=ticks,
                   VOTING_ACK_TIMEOUT=30.0)
    return VoteWorld(app, clock)


def sock(w: VoteWorld, role: str):
    http, _ = w.http(role)
    return w.app.extensions["courtyard"].socketio.test_client(w.app, namespace="/vote", flask_test_client=http)


def job(w: VoteWorld, writer, role: str, motion_id: int, choice, **kw) -> VoteJob:
    return VoteJob(motion_id=motion_id, actor_id=w.ids[role], voter_id=kw.get("voter_id"), choice=choice,
                   cid=kw.get("cid", uuid.uuid4().hex), voter_key=kw.get("voter_key"), now=w.clock.now,
                   done=writer.make_event())


def write_out(w: VoteWorld, motion_id: int) -> int:
    """Write out the sealed secret ballots waiting (as the close, or enough of them, does)."""
    with session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        return svc.write_pending(db, motion_id)


def stored(w: VoteWorld, motion_id: int) -> dict:
    write_out(w, motion_id)
    with session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        motion = db.get(Motion, motion_id)
        model = AnonymousBallot if motion.secret else Ballot
        return {"ballots": db.scalar(select(func.count()).select_from(model).where(model.motion_id == motion_id)),
                "log_length": motion.log_length,
                "verify": svc.verify_motion(db, motion_id, method=METHODS[motion.method_key])}


def test_one_refused_vote_leaves_the_rest_of_its_batch_stored(gw):
    a = gw.motion()
    secret = gw.motion(method="plurality", options=["东片", "西片"], secret=True)
    closed = gw.motion()
    kept = gw.vote("grid_head", secret["id"], {"choice": "东片"}).get_json()
    assert gw.api("host", "POST", f"/motions/{closed['id']}/close").status_code == 200
    writer = vote_writer(gw.app)
    jobs = [job(gw, writer, "resident2", a["id"], "yes"),
            job(gw, writer, "grid_head", secret["id"], "西片", voter_key="wrong-change-code-0000"),
            job(gw, writer, "admin", closed["id"], "no"),
            job(gw, writer, "moderator", a["id"], "no"),
            job(gw, writer, "department", 10_000, "yes")]
    writer.process(jobs)
    assert all(j.done.is_set() for j in jobs)
    ok, bad_key, on_closed, ok2, missing = jobs
    assert ok.error is None and ok.outcome.first and len(ok.outcome.receipt) == 64
    assert ok2.error is None and ok2.outcome.first and ok2.outcome.receipt != ok.outcome.receipt
    assert bad_key.outcome is None and bad_key.error.status == 409 and bad_key.error.field == "voter_key"
    assert on_closed.outcome is None and on_closed.error.status == 409 and on_closed.error.field == "motion"
    assert missing.error.status == 404
    after = stored(gw, a["id"])
    assert after["ballots"] == 2 and after["log_length"] == 2 and after["verify"]["ok"], after["verify"]["problems"]
    # the refused change left the secret ballot as it was; the closed motion got nothing
    assert stored(gw, secret["id"])["ballots"] == 1
    with session_scope(gw.app.extensions["courtyard"].sessionmaker) as db:
        assert db.scalar(select(AnonymousBallot.receipt).where(AnonymousBallot.motion_id == secret["id"])) \
            == kept["receipt"]
    assert stored(gw, closed["id"])["ballots"] == 0


def test_the_chain_of_a_batch_verifies_with_changes_and_secret_votes(gw):
    """Several votes of one motion in one batch extend the chain in memory and write the
    head once; `courtyard verify` finds the chain exact."""
    m = gw.motion(method="plurality", options=["东片", "西片", "南片"], secret=True)
    writer = vote_writer(gw.app)
    first = [job(gw, writer, role, m["id"], c, voter_key=f"{role}-change-code-0001")
             for role, c in (("resident2", "东片"), ("grid_head", "西片"), ("admin", "南片"))]
    writer.process(first)
    assert all(j.error is None and j.outcome.first for j in first)
    assert write_out(gw, m["id"]) == 3  # written out: the changes below replace written ballots
    change = [job(gw, writer, "resident2", m["id"], "西片", voter_key="resident2-change-code-0001"),
              job(gw, writer, "moderator", m["id"], "东片", voter_key="moderator-change-code-01"),
              job(gw, writer, "resident2", m["id"], "南片", voter_key="resident2-change-code-0001")]
    writer.process(change)
    assert [j.outcome.changed for j in change] == [True, False, True]
    after = stored(gw, m["id"])
    assert after["ballots"] == 4 and after["log_length"] == 6
    assert after["verify"]["ok"], after["verify"]["problems"]


def failing_commits(writer):
    real = writer.sessionmaker

    def make():
        db = real()

        def commit():
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))

        db.commit = commit
        return db

    writer.sessionmaker = make
    return real


def test_a_batch_whose_commit_fails_acknowledges_nothing_and_the_retry_counts_once(gw):
    m = gw.motion()
    writer = vote_writer(gw.app)
    cids = {role: uuid.uuid4().hex for role in ("resident2", "admin", "moderator")}
    jobs = [job(gw, writer, role, m["id"], "yes", cid=cid) for role, cid in cids.items()]
    real = failing_commits(writer)
    writer.process(jobs)
    for j in jobs:
        assert j.outcome is None and isinstance(j.error, Busy) and j.error.status == 503
    assert stored(gw, m["id"])["ballots"] == 0 and stored(gw, m["id"])["log_length"] == 0
    writer.sessionmaker = real
    # the phones send them again, with the same cid, over the live connection
    for role, cid in cids.items():
        tc = sock(gw, role)
        ack = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "yes"}}, namespace="/vote",
                      callback=True)
        assert ack["ok"] and ack["first"] and not ack["duplicate"]
        again = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "yes"}}, namespace="/vote",
                        callback=True)
        assert again["ok"] and again["duplicate"] and again["receipt"] == ack["receipt"]
    after = stored(gw, m["id"])
    assert after["ballots"] == 3 and after["log_length"] == 3 and after["verify"]["ok"]


def test_the_busy_ack_over_the_live_connection(gw):
    m = gw.motion()
    writer = vote_writer(gw.app)
    tc = sock(gw, "resident2")
    real = failing_commits(writer)
    cid = uuid.uuid4().hex
    ack = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "no"}}, namespace="/vote",
                  callback=True)
    assert ack["ok"] is False and ack["error"]["status"] == 503 and ack["error"]["message"]
    assert set(ack) == {"ok", "error"}
    writer.sessionmaker = real
    ack = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "no"}}, namespace="/vote",
                  callback=True)
    assert ack["ok"] and ack["first"]
    assert set(ack) == {"ok", "motion_id", "receipt", "nonce", "first", "changed", "duplicate", "assisted"}


def test_the_writer_survives_an_exception_and_a_crash(gw, caplog, monkeypatch):
    m = gw.motion()
    writer = vote_writer(gw.app)
    tc = sock(gw, "resident2")

    def vote(choice: str) -> dict:
        return tc.emit("vote", {"cid": uuid.uuid4().hex, "motion_id": m["id"], "ballot": {"choice": choice}},
                       namespace="/vote", callback=True)

    real_write, real_process = writer._write, writer.process
    calls = []

    def broken_write(jobs):
        calls.append("write")
        raise RuntimeError("a bug in the batch")

    monkeypatch.setattr(writer, "_write", broken_write)
    with caplog.at_level(logging.ERROR, logger="courtyard.voting"):
        first = vote("yes")
    assert first["ok"] is False and first["error"]["status"] == 503 and calls == ["write"]
    monkeypatch.setattr(writer, "_write", real_write)
    assert vote("yes")["ok"]  # the same writer goes on

    def crash(jobs):  # an error outside the batch's own handling: the writer itself stops
        raise RuntimeError("the writer crashed")

    monkeypatch.setattr(writer, "process", crash)
    starts = writer.starts
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="courtyard.voting"):
        crashed = vote("no")
    assert crashed["ok"] is False and crashed["error"]["status"] == 503
    # answered at once (the batch's jobs are released when the writer stops), not by the 30 s timeout
    assert not any("did not answer" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(writer, "process", real_process)
    after = vote("no")
    assert after["ok"] and after["changed"]
    assert writer.starts == starts + 1  # a new writer was started for it
    assert stored(gw, m["id"])["log_length"] == 2


def test_a_stuck_writer_times_out_and_is_replaced(gw, ticks, monkeypatch):
    m = gw.motion()
    writer = vote_writer(gw.app)
    tc = sock(gw, "resident2")
    real_socketio = writer.socketio

    class Stuck:  # a writer task that never runs
        def start_background_task(self, fn):
            return None

        def sleep(self, seconds):
            return None

    writer.socketio = Stuck()
    writer.timeout = 0.01
    cid = uuid.uuid4().hex
    ack = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "yes"}}, namespace="/vote",
                  callback=True)
    assert ack["ok"] is False and ack["error"]["status"] == 503
    assert writer.running  # it has not been silent for long enough yet
    writer.socketio = real_socketio
    ticks.t += 60  # the writer has not moved for a minute
    ack = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "yes"}}, namespace="/vote",
                  callback=True)
    assert ack["ok"] is False  # this one timed out too, and marked the writer as gone
    writer.timeout = 30.0
    ack = tc.emit("vote", {"cid": cid, "motion_id": m["id"], "ballot": {"choice": "yes"}}, namespace="/vote",
                  callback=True)
    assert ack["ok"]  # a new writer took the queue: the retried vote counted once
    assert stored(gw, m["id"])["ballots"] == 1


def test_without_socketio_each_vote_commits_alone(tmp_path):
    """The CLI and scripts have no Socket.IO server: the same cast_and_ack commits alone."""
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_GROUP_COMMIT=False)
    w = VoteWorld(app, clock)
    assert vote_writer(app) is None
    m = w.motion()
    r = w.vote("resident2", m["id"], {"choice": "yes"}, cid=uuid.uuid4().hex)
    assert r.status_code == 201 and stored(w, m["id"])["ballots"] == 1


def test_a_vote_failing_halfway_is_cast_out_and_the_batch_cast_again(gw, caplog):
    """A vote that fails after it started writing (here: a ballot the database cannot
    store) rolls its batch back; the batch is cast again without it, so the others are
    stored once, with an exact chain."""
    m = gw.motion()
    writer = vote_writer(gw.app)
    jobs = [job(gw, writer, "resident2", m["id"], "yes"),
            job(gw, writer, "admin", m["id"], {"not": object()}),
            job(gw, writer, "moderator", m["id"], "no")]
    with caplog.at_level(logging.ERROR, logger="courtyard.voting"):
        writer.process(jobs)
    ok, broken, ok2 = jobs
    assert ok.error is None and ok2.error is None and ok.outcome.first and ok2.outcome.first
    assert broken.outcome is None and broken.error is not None and not isinstance(broken.error, Busy)
    after = stored(gw, m["id"])
    assert after["ballots"] == 2 and after["log_length"] == 2 and after["verify"]["ok"], after["verify"]["problems"]
    receipts = {e["receipt"] for e in (ok.outcome.__dict__, ok2.outcome.__dict__)}
    with session_scope(gw.app.extensions["courtyard"].sessionmaker) as db:
        assert set(db.scalars(select(Ballot.receipt).where(Ballot.motion_id == m["id"]))) == receipts
