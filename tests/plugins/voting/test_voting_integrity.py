"""Integrity: one ballot per member under a race (SQLite WAL file and PostgreSQL), secret
ballots that nothing links to their voter, receipts, and `courtyard verify` failing loudly
on an edited, deleted or reordered ballot log."""

from __future__ import annotations


import random
import threading
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import DateTime, func, inspect, select, text, update

from core.db import Base, make_engine, make_sessionmaker, session_scope
from core.models import (
    AnonymousBallot,
    Ballot,
    BallotLogEntry,
    Member,
    Motion,
    Participation,
    PendingBallot,
)
from core.services.ballot_seal import BallotSeal
from core.models.member import Role
from core.services import communities as cs
from core.services import votes as svc
from plugins.tally import METHODS
from tests.plugins.voting.voting_world import vote_app, vote_clock, vw  # noqa: F401  (fixtures)

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


def setup_motion(factory, *, secret: bool = False, method: str = "majority", options=None):
    with session_scope(factory) as db:
        c = cs.create_community(db, slug=f"c{random.randrange(10**9)}", names={"zh_CN": "人福村", "en": "Renfu"})
        ids = [cs.add_member(db, actor=None, community=c, display_name=f"居民{i}", roles=[(Role.RESIDENT, None)]).id
               for i in range(8)]
        m = svc.create_motion(db, actor=None, community=c, method=METHODS[method], title="修路", options=options,
                              secret=secret, open_now=True, now=NOW)
        return m.id, ids


def race(factory, motion_id: int, member_id: int, n: int = 50, *, secret: bool = False) -> list[BaseException]:
    barrier = threading.Barrier(n, timeout=30)
    errors: list[BaseException] = []
    key = "k" * 32

    def worker(i: int) -> None:
        db = factory()
        try:
            barrier.wait()
            member = db.get(Member, member_id)
            motion = db.get(Motion, motion_id)
            svc.cast_ballot(db, actor=member, motion=motion, choice="yes" if i % 2 else "no", client_id=f"cid-{i:08d}",
                            voter_key=key if secret else None, now=NOW)
            db.commit()
        except BaseException as exc:  # collected and reported below
            db.rollback()
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def check_one_ballot(factory, motion_id: int, secret: bool) -> None:
    if secret:  # one sealed ballot waits; the close writes it out
        with session_scope(factory) as db:
            assert db.scalar(select(func.count()).select_from(PendingBallot)
                             .where(PendingBallot.motion_id == motion_id)) == 1
            svc.close_motion(db, actor=None, motion=db.get(Motion, motion_id), method=METHODS["majority"], now=NOW)
    with session_scope(factory) as db:
        model = AnonymousBallot if secret else Ballot
        assert db.scalar(select(func.count()).select_from(model).where(model.motion_id == motion_id)) == 1
        if secret:
            assert db.scalar(select(func.count()).select_from(Participation)
                             .where(Participation.motion_id == motion_id)) == 1
        report = svc.verify_motion(db, motion_id, method=METHODS["majority"])
        assert report["ok"], report["problems"]
        last = svc.log_entries(db, motion_id)[-1]
        stored = db.scalar(select(model.choice).where(model.motion_id == motion_id))
        assert last.record["choice"] == stored  # the ballot is the last version in the log


@pytest.mark.parametrize("secret", [False, True])
def test_fifty_parallel_submissions_sqlite_wal_file(tmp_path, secret):
    engine = make_engine(f"sqlite:///{tmp_path / 'race.db'}", pool_size=55, max_overflow=5)
    Base.metadata.create_all(engine)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    factory = make_sessionmaker(engine, {"ballot_seal": BallotSeal(["test-key"])})
    motion_id, ids = setup_motion(factory, secret=secret)
    errors = race(factory, motion_id, ids[0], secret=secret)
    assert errors == []
    check_one_ballot(factory, motion_id, secret)
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("secret", [False, True])
def test_fifty_parallel_submissions_postgresql(fresh_postgres, secret):
    engine = make_engine(fresh_postgres, pool_size=50, max_overflow=10)
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine, {"ballot_seal": BallotSeal(["test-key"])})
    motion_id, ids = setup_motion(factory, secret=secret)
    errors = race(factory, motion_id, ids[0], secret=secret)
    assert errors == []
    check_one_ballot(factory, motion_id, secret)
    engine.dispose()


def test_the_database_refuses_a_second_ballot(db, world):
    from sqlalchemy.exc import IntegrityError

    from core.models import Community

    c = db.get(Community, world.community_id)
    m = svc.create_motion(db, actor=None, community=c, method=METHODS["majority"], title="x", open_now=True)
    db.add(Ballot(motion_id=m.id, member_id=world.ids["resident"], choice="yes", nonce="0" * 32, receipt="a" * 64,
                  cast_at=NOW, updated_at=NOW))
    db.flush()
    db.add(Ballot(motion_id=m.id, member_id=world.ids["resident"], choice="no", nonce="1" * 32, receipt="b" * 64,
                  cast_at=NOW, updated_at=NOW))
    with pytest.raises(IntegrityError):
        db.flush()


def test_secret_ballot_links_no_voter_to_a_ballot(vw):
    m = vw.motion(method="plurality", options=["东片", "西片", "南片"], secret=True)
    keys = {}
    for role, choice in (("resident2", "东片"), ("grid_head", "西片"), ("admin", "东片"), ("moderator", "南片"),
                         ("department", "西片")):
        r = vw.vote(role, m["id"], {"choice": choice})
        assert r.status_code == 201
        keys[role] = r.get_json()["voter_key"]
    # an assisted secret vote, and a changed vote (with the change code the phone kept)
    assert vw.check_in(m["id"], "resident").status_code == 201
    assert vw.vote("host", m["id"], {"choice": "南片"}, member_id=vw.ids["resident"]).status_code == 201
    refused = vw.vote("resident2", m["id"], {"choice": "西片"})
    assert refused.status_code == 409 and "voter_key" in refused.get_json()["error"]["fields"]
    changed = vw.vote("resident2", m["id"], {"choice": "西片"}, voter_key=keys["resident2"])
    assert changed.status_code == 200 and changed.get_json()["changed"]
    mine = vw.api("resident2", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine == {"secret": True, "voted": True, "assisted_by": None}
    vw.api("host", "POST", f"/motions/{m['id']}/close")

    engine = vw.app.extensions["courtyard"].engine
    insp = inspect(engine)
    # the anonymous side has no member, no actor, no timestamp column; the participation no timestamp
    for table in ("anonymous_ballots", "vote_participations"):
        cols = {c["name"]: c for c in insp.get_columns(table)}
        assert not any(isinstance(c["type"], DateTime) or "DATETIME" in str(c["type"]).upper()
                       or "TIMESTAMP" in str(c["type"]).upper() for c in cols.values()), table
    assert set(c["name"] for c in insp.get_columns("anonymous_ballots")) == {
        "id", "motion_id", "choice", "nonce", "receipt", "replace_hash"}
    fks = {fk["referred_table"] for fk in insp.get_foreign_keys("anonymous_ballots")}
    assert fks == {"motions"}
    with engine.connect() as conn:
        anon = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM anonymous_ballots"))]
        parts = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM vote_participations"))]
        assert len(anon) == len(parts) == 6
        # random 128-bit ids, not an insertion order; no hidden rowid either (WITHOUT ROWID)
        for row in anon + parts:
            assert len(row["id"]) == 32 and int(row["id"], 16) >= 0
        for table in ("anonymous_ballots", "vote_participations"):
            with pytest.raises(Exception):
                conn.execute(text(f"SELECT rowid FROM {table}")).fetchall()
        secrets_of_ballots = {str(v) for row in anon for k, v in row.items() if k in ("id", "nonce", "receipt",
                                                                                      "replace_hash")}
        # nothing outside the anonymous side carries any of them: no table, no column
        for table in insp.get_table_names():
            if table in ("anonymous_ballots", "ballot_log", "motion_results"):
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    assert not any(s in str(value) for s in secrets_of_ballots), (table, value)
        # the ballot log of a secret motion holds the anonymous records only
        for (record,) in conn.execute(text("SELECT record FROM ballot_log")):
            import json

            assert set(json.loads(record)) <= {"op", "choice", "nonce", "receipt", "replaces"}
        # the motion's live events and stored result name no voter
        member_ids = set(vw.ids.values())
        for (payload,) in conn.execute(text("SELECT payload FROM live_events WHERE kind LIKE 'motion%'")):
            assert "member" not in payload and "receipt" not in payload
        del member_ids
    # published in random order
    orders = set()
    for _ in range(6):
        pub = vw.api("resident2", "GET", f"/motions/{m['id']}/receipts").get_json()
        assert len(pub["ballots"]) == 6
        orders.add(tuple(b["receipt"] for b in pub["ballots"]))
    assert len(orders) > 1
    for b in pub["ballots"]:
        assert svc.receipt_for(m["id"], b["choice"], b["nonce"]) == b["receipt"]
        assert set(b) == {"receipt", "choice", "nonce"}
    # my receipt is found as what I voted; the replaced one is not counted
    found = vw.api("resident2", "GET", f"/motions/{m['id']}/receipts/{changed.get_json()['receipt']}")
    assert found.status_code == 200 and found.get_json()["choice"] == "西片"


def tamper_cases():
    def edit_entry(db, mid):
        e = db.scalar(select(BallotLogEntry).where(BallotLogEntry.motion_id == mid, BallotLogEntry.position == 2))
        e.record = {**e.record, "choice": "no" if e.record["choice"] == "yes" else "yes"}

    def delete_middle(db, mid):
        db.delete(db.scalar(select(BallotLogEntry).where(BallotLogEntry.motion_id == mid,
                                                         BallotLogEntry.position == 2)))

    def delete_last(db, mid):
        last = svc.log_entries(db, mid)[-1]
        db.delete(last)

    def reorder(db, mid):
        a, b = svc.log_entries(db, mid)[:2]
        db.execute(update(BallotLogEntry).where(BallotLogEntry.id == a.id).values(position=1000))
        db.execute(update(BallotLogEntry).where(BallotLogEntry.id == b.id).values(position=1))
        db.execute(update(BallotLogEntry).where(BallotLogEntry.id == a.id).values(position=2))

    def edit_ballot(db, mid):
        b = db.scalar(select(Ballot).where(Ballot.motion_id == mid).limit(1))
        b.choice = "no" if b.choice == "yes" else "yes"

    return {"edit": (edit_entry, "edited"), "delete_middle": (delete_middle, "deleted"),
            "delete_last": (delete_last, "deleted"), "reorder": (reorder, "reordered"),
            "edit_ballot": (edit_ballot, "stored ballots differ")}


def _closed_motion(vw):
    m = vw.motion(method="majority")
    for role, choice in (("resident2", "yes"), ("grid_head", "no"), ("admin", "yes"), ("resident2", "no")):
        vw.vote(role, m["id"], {"choice": choice})
    vw.api("host", "POST", f"/motions/{m['id']}/close")
    return m["id"]


@pytest.mark.parametrize("case", list(tamper_cases()))
def test_verify_detects_tampering(vw, case):
    mid = _closed_motion(vw)
    factory = vw.app.extensions["courtyard"].sessionmaker
    with session_scope(factory) as db:
        assert svc.verify_motion(db, mid, method=METHODS["majority"])["ok"]
    tamper, word = tamper_cases()[case]
    with session_scope(factory) as db:
        tamper(db, mid)
    with session_scope(factory) as db:
        report = svc.verify_motion(db, mid, method=METHODS["majority"])
    assert not report["ok"]
    assert any(word in p for p in report["problems"]), report["problems"]


def test_courtyard_verify_command(vw, tmp_path):
    from web.cli import main

    mid = _closed_motion(vw)
    env = {"COURTYARD_DATABASE_URL": str(vw.app.extensions["courtyard"].engine.url),
           "COURTYARD_PLUGIN_ENTRYPOINTS": "0", "COURTYARD_SECRET_KEY": "x", "COURTYARD_INSTANCE_PATH": str(tmp_path)}
    runner = CliRunner()
    ok = runner.invoke(main, ["verify", str(mid)], env=env)
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        db.execute(update(BallotLogEntry).where(BallotLogEntry.motion_id == mid, BallotLogEntry.position == 1)
                   .values(record={"op": "cast", "member": 1, "choice": "no", "nonce": "0", "receipt": "0"}))
    bad = runner.invoke(main, ["verify", str(mid)], env=env)
    assert bad.exit_code == 1
    assert "VERIFICATION FAILED" in bad.output and "edited" in bad.output
