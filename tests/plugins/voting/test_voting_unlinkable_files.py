"""Secret ballots cannot be tied to their voters by someone who holds the database files
over time: the SQLite ``-wal`` file replayed frame by frame, and PostgreSQL's physical row
order (docs/voting.md, "Secret ballots in the database files").

A secret vote commits the participation (who, with the phone's client id) and a sealed
pending ballot; the anonymous ballots and their log entries are written later, shuffled,
in transactions of their own, at least ``VOTING_MIX_MIN`` at a time."""

from __future__ import annotations

import random
import struct
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text

from core.db import Base, make_engine, make_sessionmaker, session_scope
from core.models import AnonymousBallot, Motion, PendingBallot
from core.models.member import Role
from core.services import communities as cs
from core.services import votes as svc
from core.services.ballot_seal import BLOCK, BallotSeal
from plugins.tally import METHODS
from tests.conftest import Clock, make_app
from tests.plugins.voting.voting_world import VoteWorld

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
MIX_MIN = 3


# ---------------------------------------------------------------------------
# the SQLite write-ahead log, frame by frame


def wal_transactions(path: Path) -> list[bytes]:
    """The committed transactions of a SQLite ``-wal`` file, each as the bytes of the
    pages it wrote. Format (sqlite.org/fileformat2.html#walformat): a 32-byte header (page
    size at offset 8, salts at 16), then frames of a 24-byte header (page number, database
    size after commit — non-zero on the frame that ends a transaction —, the two salts,
    two checksums) and one page."""
    data = path.read_bytes()
    magic, _version, page_size, _seq, salt1, salt2 = struct.unpack(">IIIIII", data[:24])
    assert magic in (0x377F0682, 0x377F0683), "not a WAL file"
    transactions, current = [], []
    offset = 32
    while offset + 24 + page_size <= len(data):
        _page, committed, s1, s2 = struct.unpack(">IIII", data[offset:offset + 16])
        if (s1, s2) != (salt1, salt2):  # a frame of an earlier generation of the file: the log ends here
            break
        current.append(data[offset + 24:offset + 24 + page_size])
        if committed:
            transactions.append(b"".join(current))
            current = []
        offset += 24 + page_size
    return transactions


def no_checkpoints(engine) -> None:
    """Every connection of ``engine`` keeps the WAL (no automatic checkpoint), and the
    file starts empty now: it then holds every page written from here on."""
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    engine.dispose()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def test_the_wal_of_secret_votes_holds_no_commit_of_a_voter_with_their_ballot(tmp_path):
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_MIX_MIN=MIX_MIN)
    w = VoteWorld(app, clock)
    m = w.motion(method="plurality", options=["东片", "西片", "南片"], secret=True)["id"]
    voters = ["admin", "moderator", "grid_head", "other_grid_head", "department", "resident", "resident2",
              "other_resident"]
    for role in voters + ["host"]:
        w.http(role)  # signed in before the log is watched
    engine = app.extensions["courtyard"].engine
    no_checkpoints(engine)
    wal = Path(str(tmp_path / "test.db") + "-wal")

    seen: dict[str, dict] = {}  # role -> cid, voter key, receipts and nonces it was given

    def vote(role: str, choice: str, n: int, key: str | None = None) -> dict:
        cid = f"cid-{role}-{n:04d}"
        r = w.vote(role, m, {"choice": choice}, cid=cid, **({"voter_key": key} if key else {}))
        assert r.status_code in (200, 201), r.get_json()
        ack = r.get_json()
        mine = seen.setdefault(role, {"cids": [], "receipts": [], "nonces": [], "key": ack.get("voter_key") or key})
        mine["cids"].append(cid)
        mine["receipts"].append(ack["receipt"])
        mine["nonces"].append(ack["nonce"])
        return ack

    choices = ["东片", "西片", "南片"]
    for i, role in enumerate(voters[:3]):
        vote(role, choices[i % 3], 1)
    vote(voters[3], "东片", 1)
    # a change of a ballot still sealed: both versions reach the log, in order
    vote(voters[3], "西片", 2, key=seen[voters[3]]["key"])
    # a changed vote (its first ballot has been written out): the change waits sealed too
    vote("admin", "南片", 2, key=seen["admin"]["key"])
    first = vote(voters[4], "西片", 1)
    # acknowledged and sealed, not yet written out: "not published yet" (a lookup never
    # opens a sealed ballot)
    found = w.api(voters[4], "GET", f"/motions/{m}/receipts/{first['receipt']}")
    assert found.status_code == 404 and "还没公布" in found.get_json()["error"]["message"]
    for i, role in enumerate(voters[5:]):
        vote(role, choices[i % 3], 1)
    assert w.api("host", "POST", f"/motions/{m}/close").status_code == 200

    txs = wal_transactions(wal)
    assert len(txs) > len(voters)

    def where(needle: str) -> list[int]:
        return [i for i, tx in enumerate(txs) if needle.encode() in tx]

    cids = {c for s in seen.values() for c in s["cids"]}
    ballot_marks = {r for s in seen.values() for r in s["receipts"] + s["nonces"]}
    ballot_marks |= {svc.replace_hash(m, s["key"]) for s in seen.values()}
    with_voter = {i for c in cids for i in where(c)}
    with_ballot = {i for b in ballot_marks for i in where(b)}
    # every participation is in the log, and every ballot — never in one transaction
    assert all(where(c) for c in cids) and all(where(b) for b in ballot_marks)
    shared = sorted(with_voter & with_ballot)
    assert shared == [], f"{len(shared)} transactions hold both a voter's client id and a ballot"

    # each ballot first appears in a batch holding the ballots of at least MIX_MIN voters,
    # written after its voter's participation and in a transaction holding no participation
    receipts = {r: role for role, s in seen.items() for r in s["receipts"]}
    first_seen = {r: where(r)[0] for r in receipts}
    batches: dict[int, set[str]] = {}  # transaction -> the voters whose ballots it writes
    for r, i in first_seen.items():
        batches.setdefault(i, set()).add(receipts[r])
    # (a batch is written after the vote that made MIX_MIN wait has been acknowledged, so a
    # vote arriving meanwhile may join it; only the close writes whatever is left, maybe fewer)
    closing = where("motion_closed")[0]
    assert all(len(b) >= MIX_MIN for i, b in batches.items() if i != closing), batches
    assert len(receipts) == len(voters) + 2 and set(first_seen.values()) == set(batches)
    for r, role in receipts.items():
        cid = seen[role]["cids"][seen[role]["receipts"].index(r)]
        assert where(cid)[0] < first_seen[r]

    # the outcome is exact: every last vote counted once, the chain verifies
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        motion = db.get(Motion, m)
        report = svc.verify_motion(db, m, method=METHODS["plurality"])
        assert report["ok"], report["problems"]
        assert report["ballots"] == len(voters) and motion.log_length == len(voters) + 2
        stored = {r for (r,) in db.execute(select(AnonymousBallot.receipt).where(AnonymousBallot.motion_id == m))}
        assert stored == {s["receipts"][-1] for s in seen.values()}
        assert db.scalar(select(func.count()).select_from(PendingBallot)) == 0


def test_a_sealed_ballot_shows_neither_its_content_nor_its_length():
    seal = BallotSeal(["k1"])
    short = seal.seal(7, {"choice": "yes", "nonce": "0" * 32, "receipt": "a" * 64, "replace_hash": "b" * 64,
                          "replaces": None})
    long = seal.seal(7, {"choice": "abstain", "nonce": "0" * 32, "receipt": "a" * 64, "replace_hash": "b" * 64,
                         "replaces": "c" * 64})
    assert len(short) == len(long) == 12 + BLOCK + 16
    assert b"yes" not in short and b"a" * 64 not in short
    assert seal.open(7, long)["choice"] == "abstain"
    # sealed for motion 7, it does not open as a ballot of another motion; an older key still opens it
    with pytest.raises(Exception):
        seal.open(8, long)
    assert BallotSeal(["k2", "k1"]).open(7, short)["choice"] == "yes"


# ---------------------------------------------------------------------------
# PostgreSQL: physical order and columns


def spearman(xs: list[int]) -> float:
    """Rank correlation of a permutation of 0..n-1 with 0..n-1."""
    n = len(xs)
    return 1 - 6 * sum((x - i) ** 2 for i, x in enumerate(xs)) / (n * (n * n - 1))


@pytest.mark.postgres
def test_postgresql_row_order_of_secret_ballots_says_nothing_of_the_order_of_voting(fresh_postgres):
    voters_n = 80
    engine = make_engine(fresh_postgres)
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine, {"ballot_seal": BallotSeal(["pg-test-key"])})
    with session_scope(factory) as db:
        c = cs.create_community(db, slug="renfu", names={"zh_CN": "人福村", "en": "Renfu"})
        members = [cs.add_member(db, actor=None, community=c, display_name=f"居民{i}",
                                 roles=[(Role.RESIDENT, None)]) for i in range(voters_n)]
        motion_id = svc.create_motion(db, actor=None, community=c, method=METHODS["plurality"], title="修路",
                                      options=["东片", "西片"], secret=True, open_now=True, now=NOW).id
        member_ids = [mb.id for mb in members]
    order: dict[str, int] = {}  # receipt -> when its voter voted (0, 1, 2 ...)
    rng = random.Random(5)
    for i, member_id in enumerate(member_ids):  # each vote commits on its own, as the API's does
        with session_scope(factory) as db:
            from core.models import Member

            outcome = svc.cast_ballot(db, actor=db.get(Member, member_id), motion=db.get(Motion, motion_id),
                                      choice=rng.choice(["东片", "西片"]), client_id=f"cid-{i:06d}", now=NOW,
                                      mix_min=voters_n)
            order[outcome.receipt] = i
        if outcome.mix_due:
            with session_scope(factory) as db:
                assert svc.write_pending(db, motion_id, minimum=voters_n) == voters_n
    with engine.connect() as conn:
        by_ctid = [r for (r,) in conn.execute(text(
            "SELECT receipt FROM anonymous_ballots WHERE motion_id = :m ORDER BY ctid"), {"m": motion_id})]
        by_id = [r for (r,) in conn.execute(text(
            "SELECT receipt FROM anonymous_ballots WHERE motion_id = :m ORDER BY id"), {"m": motion_id})]
        by_log = [r for (r,) in conn.execute(text(
            "SELECT record->>'receipt' FROM ballot_log WHERE motion_id = :m ORDER BY position"), {"m": motion_id})]
        participations = conn.execute(text("SELECT count(*) FROM vote_participations")).scalar()
    assert participations == voters_n and sorted(by_ctid) == sorted(order) == sorted(by_log)
    rho = {name: spearman([order[r] for r in rows])
           for name, rows in (("ctid", by_ctid), ("id", by_id), ("log position", by_log))}
    # a random order has |rho| < 0.5 but for one chance in ~100,000 (sd 0.11 with 80 voters);
    # stored in the order of voting it is 1.0
    assert all(abs(v) < 0.5 for v in rho.values()), rho
    engine.dispose()


def test_a_changed_secret_key_strands_no_ballot_silently(tmp_path):
    """Sealed ballots need the key they were sealed with: after a key change the close is
    refused with a message (nothing is lost, nothing is counted without them) until the
    old key is back (``SECRET_KEY_FALLBACKS``)."""
    from core.errors import Conflict

    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, SECRET_KEY="old-key")
    w = VoteWorld(app, clock)
    m = w.motion(method="plurality", options=["东片", "西片"], secret=True)["id"]
    assert w.vote("resident2", m, {"choice": "东片"}).status_code == 201
    for config, closes in (({"SECRET_KEY": "new-key"}, False),
                           ({"SECRET_KEY": "new-key", "SECRET_KEY_FALLBACKS": ["old-key"]}, True)):
        other = make_app(tmp_path, **config)
        with other.app_context(), session_scope(other.extensions["courtyard"].sessionmaker) as db:
            motion = db.get(Motion, m)
            if not closes:
                with pytest.raises(Conflict) as refused:
                    svc.close_motion(db, actor=None, motion=motion, method=METHODS["plurality"], now=clock.now)
                assert refused.value.field == "motion"
                db.rollback()  # as the request does on a refusal: the motion stays open
                continue
            change = svc.close_motion(db, actor=None, motion=motion, method=METHODS["plurality"], now=clock.now)
            assert change.result.ballots == 1


def test_without_the_vote_writer_sealed_ballots_are_written_out_in_their_own_transaction(tmp_path):
    """Without a Socket.IO server (or with group commit off) each vote commits alone, and
    the vote that makes ``VOTING_MIX_MIN`` wait is followed by a transaction of its own
    that writes them out; the tally counts them from then on."""
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_GROUP_COMMIT=False,
                   VOTING_MIX_MIN=2)
    w = VoteWorld(app, clock)
    m = w.motion(method="plurality", options=["东片", "西片"], secret=True)["id"]

    def counted() -> tuple[int, int]:
        with session_scope(app.extensions["courtyard"].sessionmaker) as db:
            return (db.scalar(select(func.count()).select_from(PendingBallot)),
                    db.scalar(select(func.count()).select_from(AnonymousBallot)))

    assert w.vote("resident2", m, {"choice": "东片"}).status_code == 201
    assert counted() == (1, 0)
    assert w.vote("grid_head", m, {"choice": "西片"}).status_code == 201
    assert counted() == (0, 2)
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        assert svc.counted_choices(db, db.get(Motion, m)) == (["东片", "西片"], [1, 1]) or \
            svc.counted_choices(db, db.get(Motion, m)) == (["西片", "东片"], [1, 1])
    assert w.vote("admin", m, {"choice": "西片"}).status_code == 201
    assert counted() == (1, 2)
    assert w.api("host", "POST", f"/motions/{m}/close").status_code == 200
    assert counted() == (0, 3)
