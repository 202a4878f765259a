"""The vote writer reads a batch in a few queries and sends its writes together
(``CastBatch.prepare`` / deferred writes): every vote must come out exactly as if the
votes had been cast one by one — repeated voters, changes and duplicates inside one
batch, secret ballots with change codes, a restricted electorate — and a batch whose
deferred writes fail is cast again one write at a time, storing nothing twice."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select

from core.db import session_scope
from core.models import AnonymousBallot, Ballot, Motion
from core.services import votes as svc
from plugins.tally import METHODS
from plugins.voting.live import VoteJob, vote_writer
from tests.conftest import Clock, make_app
from tests.plugins.voting.voting_world import VoteWorld


def world(path) -> VoteWorld:
    clock = Clock()
    path.mkdir()
    return VoteWorld(make_app(path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock), clock)


def motions(w: VoteWorld) -> dict[str, int]:
    return {"open": w.motion()["id"],
            "secret": w.motion(method="plurality", options=["东片", "西片"], secret=True)["id"],
            "grid": w.motion(electorate="place", place_id=w.place_ids["grid"])["id"]}


# (role, motion, choice, cid, change code): run in this order
SCRIPT = [
    ("resident2", "open", "yes", "c-r2-1", None),
    ("admin", "open", "no", None, None),
    ("resident2", "open", "no", "c-r2-2", None),       # a change inside the batch
    ("resident2", "open", "yes", "c-r2-2", None),      # a retry of that change: a duplicate
    ("moderator", "open", "yes", None, None),
    ("moderator", "open", "yes", "c-mod-2", None),     # the same choice again: nothing changes
    ("grid_head", "secret", "东片", None, "grid-head-change-code-1"),
    ("grid_head", "secret", "西片", None, "grid-head-change-code-1"),  # a secret change inside the batch
    ("admin", "secret", "东片", None, "admin-change-code-000001"),
    ("moderator", "secret", "西片", None, "grid-head-change-code-1"),  # someone else's change code: refused
    ("admin", "secret", "西片", None, None),                            # a change without the code: refused
    ("resident2", "grid", "yes", None, None),
    ("other_grid_head", "grid", "yes", None, None),    # outside the electorate: refused
    ("grid_head", "grid", "no", None, None),
    ("grid_head", "grid", "yes", None, None),
]


def jobs_for(w: VoteWorld, writer, ids: dict[str, int]) -> list[VoteJob]:
    return [VoteJob(motion_id=ids[m], actor_id=w.ids[role], voter_id=None, choice=choice,
                    cid=cid or uuid.uuid4().hex, voter_key=key, now=w.clock.now, done=writer.make_event())
            for role, m, choice, cid, key in SCRIPT]


def outcome(j: VoteJob) -> tuple:
    if j.error is not None:
        return ("error", getattr(j.error, "status", None), getattr(j.error, "field", None))
    o = j.outcome
    return ("ok", o.first, o.changed, o.duplicate)


def stored(w: VoteWorld, ids: dict[str, int]) -> dict:
    with session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        out = {}
        for name, motion_id in ids.items():
            motion = db.get(Motion, motion_id)
            if motion.secret:  # the sealed ballots waiting are written out (as the close does)
                svc.write_pending(db, motion_id)
                rows = sorted(db.scalars(select(AnonymousBallot.choice).where(AnonymousBallot.motion_id == motion_id)))
            else:
                rows = sorted(tuple(r) for r in db.execute(select(Ballot.member_id, Ballot.choice)
                                         .where(Ballot.motion_id == motion_id)).all())
            check = svc.verify_motion(db, motion_id, method=METHODS[motion.method_key])
            out[name] = {"ballots": rows, "log_length": motion.log_length, "verify": check["ok"]}
        return out


def test_one_batch_casts_exactly_as_one_vote_at_a_time(tmp_path):
    batched, single = world(tmp_path / "batched"), world(tmp_path / "single")
    ids_b, ids_s = motions(batched), motions(single)

    writer_b = vote_writer(batched.app)
    jobs_b = jobs_for(batched, writer_b, ids_b)
    writer_b.process(jobs_b)

    writer_s = vote_writer(single.app)
    jobs_s = jobs_for(single, writer_s, ids_s)
    for j in jobs_s:
        writer_s.process([j])

    assert [outcome(j) for j in jobs_b] == [outcome(j) for j in jobs_s]
    # and what that means, spelled out
    assert [outcome(j)[0] for j in jobs_b].count("error") == 3
    assert outcome(jobs_b[3]) == ("ok", False, False, True)
    assert outcome(jobs_b[7]) == ("ok", False, True, False)
    assert outcome(jobs_b[12]) == ("error", 403, "motion")
    assert jobs_b[3].outcome.receipt == jobs_b[2].outcome.receipt

    def by_member(s, w):  # member ids differ between the two worlds: compare by role
        names = {v: k for k, v in w.ids.items()}
        return {m: {**v, "ballots": [(names[i], c) for i, c in v["ballots"]] if m != "secret" else v["ballots"]}
                for m, v in s.items()}

    got, want = by_member(stored(batched, ids_b), batched), by_member(stored(single, ids_s), single)
    assert got == want
    assert got["open"]["ballots"] == [("admin", "no"), ("moderator", "yes"), ("resident2", "no")]
    assert got["secret"]["ballots"] == ["东片", "西片"] and got["secret"]["log_length"] == 3
    assert got["grid"]["ballots"] == [("grid_head", "yes"), ("resident2", "yes")]
    assert all(v["verify"] for v in got.values())


def count_statements(w: VoteWorld):
    engine = w.app.extensions["courtyard"].sessionmaker.kw["bind"]
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def test_a_batch_of_many_votes_costs_a_few_statements_not_a_few_per_vote(tmp_path):
    """Under gevent every statement is a round trip that waits behind everything else the
    process does; the batch's cost must not grow with its size."""
    w = world(tmp_path / "w")
    from core.services import communities as cs
    from core.models import Community
    from core.models.member import Role

    with session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        c = db.get(Community, w.community_id)
        voters = [cs.add_member(db, actor=None, community=c, display_name=f"居民{i}",
                                roles=[(Role.RESIDENT, None)]).id for i in range(60)]
    m = w.motion()["id"]
    writer = vote_writer(w.app)
    first = [VoteJob(motion_id=m, actor_id=v, voter_id=None, choice="yes", cid=uuid.uuid4().hex, voter_key=None,
                     now=w.clock.now, done=writer.make_event()) for v in voters]
    again = [VoteJob(motion_id=m, actor_id=v, voter_id=None, choice="no", cid=uuid.uuid4().hex, voter_key=None,
                     now=w.clock.now, done=writer.make_event()) for v in voters]
    seen, stop = count_statements(w)
    try:
        writer.process(first)
        cast = len(seen)
        writer.process(again)
        changed = len(seen) - cast
    finally:
        stop()
    assert all(j.error is None and j.outcome.first for j in first)
    assert all(j.error is None and j.outcome.changed for j in again)
    # one at a time this was 3 statements per vote (read, write, log): 180 for 60 votes
    assert cast <= 15 and changed <= 15, (cast, changed, seen)
    with session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        assert list(db.scalars(select(Ballot.choice).where(Ballot.motion_id == m))) == ["no"] * 60
        assert svc.verify_motion(db, m, method=METHODS["majority"])["ok"]


def test_a_batch_whose_deferred_writes_fail_is_cast_again_one_write_at_a_time(tmp_path, monkeypatch, caplog):
    """A wrong read ahead (here: the batch is told a voter has no ballot yet, though they
    have one) makes the batch's writes fail at the end; the batch is rolled back and cast
    again one write at a time, which reads for real: every vote is stored once, right."""
    w = world(tmp_path / "w")
    m = w.motion()["id"]
    writer = vote_writer(w.app)
    earlier = VoteJob(motion_id=m, actor_id=w.ids["admin"], voter_id=None, choice="yes", cid=uuid.uuid4().hex,
                      voter_key=None, now=w.clock.now, done=writer.make_event())
    writer.process([earlier])
    assert earlier.outcome.first

    real_prepare = svc.CastBatch.prepare

    def stale_prepare(self, motion, voter_ids, voter_keys=()):
        real_prepare(self, motion, voter_ids, voter_keys)
        self.known[("ballot", motion.id, w.ids["admin"])] = None  # "no ballot yet": wrong

    monkeypatch.setattr(svc.CastBatch, "prepare", stale_prepare)
    jobs = [VoteJob(motion_id=m, actor_id=w.ids[r], voter_id=None, choice=c, cid=uuid.uuid4().hex, voter_key=None,
                    now=w.clock.now, done=writer.make_event())
            for r, c in (("resident2", "yes"), ("admin", "no"), ("moderator", "no"))]
    writer.process(jobs)
    assert [outcome(j) for j in jobs] == [("ok", True, False, False), ("ok", False, True, False),
                                          ("ok", True, False, False)]
    assert "one write at a time" in caplog.text
    with session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        rows = dict(db.execute(select(Ballot.member_id, Ballot.choice).where(Ballot.motion_id == m)).all())
        assert rows == {w.ids["resident2"]: "yes", w.ids["admin"]: "no", w.ids["moderator"]: "no"}
        motion = db.get(Motion, m)
        assert motion.log_length == 4
        assert svc.verify_motion(db, m, method=METHODS["majority"])["ok"]


@pytest.mark.parametrize("secret", [False, True])
def test_one_vote_alone_still_reads_and_writes_as_before(tmp_path, secret):
    """``cast_ballot`` (the JSON API without a socket server, the CLI) has no read ahead:
    its writes are sent by ``finish``; a second vote sees the first."""
    w = world(tmp_path / "w")
    kw = {"method": "plurality", "options": ["东片", "西片"], "secret": True} if secret else {}
    m = w.motion(**kw)["id"]
    ballot = {"choice": "东片"} if secret else {"choice": "yes"}
    first = w.vote("resident2", m, ballot).get_json()
    assert first.get("first") is True, first
    change = {"choice": "西片"} if secret else {"choice": "no"}
    extra = {"voter_key": first["voter_key"]} if secret else {}
    second = w.vote("resident2", m, change, **extra).get_json()
    assert second.get("changed") is True, second
    s = stored(w, {"m": m})["m"]
    assert s["log_length"] == 2 and s["verify"] and len(s["ballots"]) == 1


def test_an_expired_motion_is_read_again_by_one_vote_while_the_others_use_the_old_entry(tmp_path):
    """At 500 votes a second, every vote arriving after the cached motion expired used to
    read it again at once (and queue for database connections). Now one vote reads it;
    votes arriving meanwhile use the expired entry — the writer re-checks everything under
    the motion's lock, so the entry is never the judge."""
    from plugins.voting.live import MotionCache, OpenMotion

    ticks = [100.0]
    clock = Clock()
    path = tmp_path / "w"
    path.mkdir()
    w = VoteWorld(make_app(path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_MONOTONIC=lambda: ticks[0]),
                  clock)
    m = w.motion()["id"]
    cache = MotionCache(w.app)
    reads: list[int] = []
    nested: list = []

    class Db:  # the database session of the vote that reads the motion again
        def __init__(self, real):
            self.real = real

        def get(self, model, ident):
            reads.append(ident)
            if len(reads) == 2:  # while this read is under way, another vote arrives
                nested.append(cache.get(Db(self.real), ident))
            return self.real.get(model, ident)

        def __getattr__(self, name):
            return getattr(self.real, name)

    with w.app.app_context(), session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        first = cache.get(Db(db), m)
        assert isinstance(first, OpenMotion) and reads == [m]
        assert cache.get(Db(db), m) is first and reads == [m]  # fresh: no read
        ticks[0] += 5  # expired
        second = cache.get(Db(db), m)
        assert reads == [m, m], "only the vote that refreshes reads the motion"
        assert nested == [first], "the vote arriving meanwhile used the expired entry"
        assert isinstance(second, OpenMotion) and second is not first
        assert cache.get(Db(db), m) is second and reads == [m, m]
