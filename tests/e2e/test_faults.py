"""Faults, against real server processes (issue #8). Each test prints its figures
(``FAULT FIGURES …``, also in the terminal summary and as JUnit properties);
``docs/faults.md`` says what each test does and the figures of a run.

* the server is killed with SIGKILL in the middle of votes, 10 times over, on a SQLite WAL
  file and on PostgreSQL: no acknowledged vote is missing, none is stored twice, the
  database passes its integrity check and ``courtyard verify`` passes;
* Redis stops for 30 seconds under two server processes: votes are still acknowledged
  and stored, broadcasts between the processes resume within 5 seconds of its return, and
  clients recover the live events they missed by ``seq`` replay;
* the database is cut off for ~2 seconds (a TCP proxy in between): clients get 503 error
  acknowledgements and retry with the same ``cid``; nothing is acknowledged that was not
  stored, and the server serves again afterwards;
* a community plugin that raises and one that hangs in the hook a live message fires:
  messages and votes keep being acknowledged and delivered, in bounded time, and both
  plugins are blocked after 3 failures.

The tests go through the protocol only (acknowledgements, the database's contents,
``courtyard verify``), never through the server's internals.

    .venv/bin/python -m pytest tests/e2e/test_faults.py -rA -s
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import JSON, create_engine, text

from tests.e2e.conftest import RedisProcess, close_motions, courtyard_verify, seed_voters
from tests.e2e.test_live_processes import Phone, close_http
from tests.plugins.discussion.live_server import LiveServer, live_session, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    # python-socketio's client drops the socket of a connection to a killed server without
    # closing it (a ResourceWarning from its background threads, at an unpredictable time)
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

KILLS = 10
VOTERS = 6


# ---------------------------------------------------------------------------
# a phone on /vote


class Voter:
    """One member's phone on ``/vote`` (``docs/voting.md``): votes one at a time, each vote
    with a fresh ``cid``, alternating its choice and the motions; keeps the vote in its
    outbox until it is acknowledged, re-sending it with the **same** ``cid`` after a lost
    connection, a timeout or a 503. Records every vote it sent and the ack it got."""

    def __init__(self, url: str, token: str, member_id: int, motions: dict[str, int], *, call_timeout: float = 2.0):
        self.url, self.token, self.member_id = url, token, member_id
        self.motions = motions  # kind ("open" / "secret") → motion id
        self.call_timeout = call_timeout
        self.voter_key = uuid.uuid4().hex  # the phone's own change code for secret ballots
        self.sent: list[dict[str, Any]] = []  # {kind, motion, cid, choice, ack, errors, sent_at, acked_at}
        self.unexpected: list[dict[str, Any]] = []  # error acks other than 503
        self.error_statuses: Counter[int] = Counter()
        self.timeouts = 0
        self.lock = threading.Lock()
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.1, reconnection_delay_max=0.5,
                                   randomization_factor=0)

    def connect(self) -> "Voter":
        self.sio.connect(self.url, namespaces=["/vote"], transports=["websocket"],
                         headers={"Authorization": f"Bearer {self.token}"}, wait_timeout=10)
        return self

    def in_flight(self) -> bool:
        with self.lock:
            return bool(self.sent) and self.sent[-1]["ack"] is None

    def acked(self) -> list[dict[str, Any]]:
        with self.lock:
            return [v for v in self.sent if v["ack"] is not None]

    def vote(self, kind: str, choice: str, *, give_up_after: float = 60.0) -> dict[str, Any]:
        entry = {"kind": kind, "motion": self.motions[kind], "cid": uuid.uuid4().hex, "choice": choice, "ack": None,
                 "errors": [], "sent_at": time.monotonic(), "acked_at": None}
        with self.lock:
            self.sent.append(entry)
        payload = {"cid": entry["cid"], "motion_id": entry["motion"], "ballot": {"choice": choice},
                   "voter_key": self.voter_key}
        deadline = time.monotonic() + give_up_after
        while time.monotonic() < deadline:
            try:
                ack = self.sio.call("vote", payload, namespace="/vote", timeout=self.call_timeout)
            except socketio.exceptions.TimeoutError:
                self.timeouts += 1
                continue
            except socketio.exceptions.BadNamespaceError:  # disconnected: wait for the reconnection
                time.sleep(0.05)
                continue
            if ack.get("ok"):
                with self.lock:
                    entry["ack"], entry["acked_at"] = ack, time.monotonic()
                return entry
            status = ack["error"]["status"]
            entry["errors"].append(status)
            self.error_statuses[status] += 1
            if status != 503:  # only "busy, retry" is expected here
                self.unexpected.append({"cid": entry["cid"], "ack": ack})
                return entry
            time.sleep(0.1)
        return entry  # never acknowledged: the test reports it

    def run(self, stop: threading.Event, pause: float = 0.0) -> None:
        n = 0
        kinds = list(self.motions)
        while not stop.is_set():
            kind = kinds[n % len(kinds)]
            choice = ("yes", "no")[(n // len(kinds)) % 2]
            entry = self.vote(kind, choice)
            if entry["ack"] is None:
                return
            n += 1
            if pause:
                stop.wait(pause)

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:
            pass
        close_http(self.sio)


def start_voters(voters: list[Voter], pause: float = 0.0) -> tuple[threading.Event, list[threading.Thread]]:
    stop = threading.Event()
    threads = [threading.Thread(target=v.run, args=(stop, pause), daemon=True, name=f"voter-{v.member_id}")
               for v in voters]
    for t in threads:
        t.start()
    return stop, threads


def stop_voters(stop: threading.Event, threads: list[threading.Thread], timeout: float = 90) -> None:
    stop.set()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a voter never got its last vote acknowledged"


def acks_so_far(voters: list[Voter]) -> int:
    """Votes acknowledged so far; fails at once on an error ack other than 503."""
    unexpected = [u for v in voters for u in v.unexpected]
    assert not unexpected, f"unexpected error acks: {unexpected[:3]}"
    return sum(len(v.acked()) for v in voters)


# ---------------------------------------------------------------------------
# what the database holds


def bare(choice: Any) -> Any:
    """A stored yes/no ballot as the phone sent it (``{"choice": "yes"}`` or ``"yes"``)."""
    return choice.get("choice") if isinstance(choice, dict) else choice


def stored_votes(database_url: str, motions: dict[str, int]) -> dict[str, Any]:
    """The ballot log, the open ballots and the secret ballots' two halves, read directly."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            out: dict[str, Any] = {}
            for kind, motion_id in motions.items():
                log = [r for (r,) in conn.execute(text(
                    "SELECT record FROM ballot_log WHERE motion_id = :m ORDER BY position").columns(record=JSON),
                    {"m": motion_id})]
                out[kind] = {
                    "log": log,
                    "log_length": conn.execute(text("SELECT log_length FROM motions WHERE id = :m"),
                                               {"m": motion_id}).scalar_one(),
                    "ballots": list(conn.execute(text(
                        "SELECT member_id, choice, receipt FROM ballots WHERE motion_id = :m").columns(choice=JSON),
                        {"m": motion_id})),
                    "participants": [m for (m,) in conn.execute(
                        text("SELECT member_id FROM vote_participations WHERE motion_id = :m"), {"m": motion_id})],
                    "anonymous": list(conn.execute(text(
                        "SELECT choice, receipt FROM anonymous_ballots WHERE motion_id = :m").columns(choice=JSON),
                        {"m": motion_id})),
                }
            return out
    finally:
        engine.dispose()


def check_votes(voters: list[Voter], stored: dict[str, Any]) -> dict[str, Any]:
    """Compare what the phones were told with what the database holds. Every vote was
    acknowledged in the end (the phones retried until it was), so the log must hold
    exactly the receipts the phones were given, once each, and each member's ballot must
    be their last vote."""
    figures = Counter()
    problems: list[str] = []
    for kind, data in stored.items():
        log_receipts = [r["receipt"] for r in data["log"]]
        counts = Counter(log_receipts)
        figures["log_entries"] += len(log_receipts)
        figures["duplicates"] += sum(n - 1 for n in counts.values() if n > 1)
        if data["log_length"] != len(log_receipts):
            problems.append(f"{kind}: motion head says {data['log_length']} entries, the log has {len(log_receipts)}")
        acked_receipts = set()
        for v in voters:
            mine = [e for e in v.acked() if e["kind"] == kind]
            for e in mine:
                figures["acked"] += 1
                figures["acked_as_duplicate"] += bool(e["ack"].get("duplicate"))
                receipt = e["ack"]["receipt"]
                acked_receipts.add(receipt)
                if receipt not in counts:
                    figures["missing"] += 1
                    problems.append(f"{kind}: member {v.member_id}'s acknowledged vote {e['cid']} is not in the log")
        unacked_in_log = set(counts) - acked_receipts
        if unacked_in_log:
            figures["stored_not_acked"] += len(unacked_in_log)
            problems.append(f"{kind}: {len(unacked_in_log)} log entries that no phone was told about")
        # the ballot each member holds now is their last vote
        last = {v.member_id: [e for e in v.acked() if e["kind"] == kind][-1] for v in voters
                if any(e["kind"] == kind for e in v.acked())}
        if kind == "open":
            by_member = Counter(m for m, _, _ in data["ballots"])
            figures["duplicates"] += sum(n - 1 for n in by_member.values() if n > 1)
            held = {m: (bare(choice), receipt) for m, choice, receipt in data["ballots"]}
            if set(held) != set(last):
                problems.append(f"open: ballots of members {sorted(set(held) ^ set(last))} who voted / did not")
            for member, e in last.items():
                if held.get(member) != (e["choice"], e["ack"]["receipt"]):
                    figures["wrong_final_ballot"] += 1
                    problems.append(f"open: member {member} holds {held.get(member)}, last vote {e['choice']}")
        else:
            by_member = Counter(data["participants"])
            figures["duplicates"] += sum(n - 1 for n in by_member.values() if n > 1)
            if len(data["anonymous"]) != len(data["participants"]):
                figures["duplicates"] += abs(len(data["anonymous"]) - len(data["participants"]))
                problems.append(f"secret: {len(data['anonymous'])} ballots for {len(data['participants'])} voters")
            if sorted(by_member) != sorted(last):
                problems.append("secret: the voters who took part are not those who voted")
            held = {receipt for _, receipt in data["anonymous"]}
            expected = {e["ack"]["receipt"] for e in last.values()}
            if held != expected:
                figures["wrong_final_ballot"] += len(held ^ expected)
                problems.append("secret: the anonymous ballots are not each voter's last vote")
    figures["problems"] = len(problems)
    figures_dict = dict(figures)
    figures_dict["problem_list"] = problems[:20]
    return figures_dict


def sqlite_integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


# ---------------------------------------------------------------------------
# 1. SIGKILL mid-vote, 10 times over


@pytest.fixture(params=["sqlite", "postgresql"])
def kill_target(request, tmp_path):
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'votes.db'}"
    else:
        yield "postgresql", request.getfixturevalue("fresh_postgres")


def test_sigkill_mid_vote_ten_times_loses_and_doubles_nothing(kill_target, tmp_path, fault_figures):
    backend, database_url = kill_target
    rng = random.Random(8)  # issue #8: the kill moments are random but the same in every run
    # secret ballots are written out, shuffled, whenever 3 wait: kills also land around those batches
    srv = LiveServer(tmp_path, database_url=database_url, env={"COURTYARD_VOTING_MIX_MIN": "3"})
    srv.cli("db", "upgrade", "--core-only")  # the server runs without installed plugins
    seeded = seed_voters(srv.env, members=VOTERS)
    voters: list[Voter] = []
    in_flight_at_kill: list[int] = []
    started = time.monotonic()
    try:
        srv.start()
        voters = [Voter(srv.url, token, member, seeded["motions"]).connect()
                  for token, member in zip(seeded["tokens"], seeded["members"])]
        stop, threads = start_voters(voters)
        for _ in range(KILLS):
            # let the phones vote a random while after the (re)start, then kill while a vote is in flight
            target = acks_so_far(voters) + rng.randint(2, 20)
            wait_for(lambda: acks_so_far(voters) >= target, timeout=60, message="votes acknowledged after a restart")
            wait_for(lambda: any(v.in_flight() for v in voters), timeout=10, message="a vote in flight")
            in_flight_at_kill.append(sum(v.in_flight() for v in voters))
            srv.kill()  # SIGKILL to the server's process group
            time.sleep(rng.uniform(0, 0.5))  # phones keep retrying against a dead port
            srv.start()
        target = acks_so_far(voters) + 20
        wait_for(lambda: acks_so_far(voters) >= target, timeout=60, message="votes after the last restart")
        stop_voters(stop, threads)
    finally:
        for v in voters:
            v.close()
        srv.kill()
    elapsed = time.monotonic() - started

    assert not [u for v in voters for u in v.unexpected], [u for v in voters for u in v.unexpected][:5]
    never_acked = [e["cid"] for v in voters for e in v.sent if e["ack"] is None]
    assert never_acked == [], f"votes never acknowledged: {never_acked}"
    # acknowledged secret ballots wait sealed until enough are pending: the close writes out
    # every one still sealed, so each acknowledged vote must be in the log after it
    close_motions(srv.env, list(seeded["motions"].values()))
    stored = stored_votes(database_url, seeded["motions"])
    result = check_votes(voters, stored)
    integrity = sqlite_integrity(tmp_path / "votes.db") if backend == "sqlite" else "n/a (PostgreSQL)"
    verified = {kind: courtyard_verify(srv.env, motion_id) for kind, motion_id in seeded["motions"].items()}
    fault_figures(backend=backend, kills=KILLS, voters=VOTERS, votes_sent=sum(len(v.sent) for v in voters),
                  acked=result.get("acked", 0), acked_as_duplicate_after_kill=result.get("acked_as_duplicate", 0),
                  in_flight_at_kills=sum(in_flight_at_kill), missing=result.get("missing", 0),
                  duplicates=result.get("duplicates", 0), stored_not_acked=result.get("stored_not_acked", 0),
                  wrong_final_ballot=result.get("wrong_final_ballot", 0),
                  timeouts_retried=sum(v.timeouts for v in voters),
                  error_acks=dict(sum((v.error_statuses for v in voters), Counter())),
                  integrity_check=integrity, verify={k: p.returncode == 0 for k, p in verified.items()},
                  seconds=round(elapsed, 1))
    assert len(in_flight_at_kill) == KILLS and min(in_flight_at_kill) >= 1
    assert result["problems"] == 0, result["problem_list"]
    assert result.get("missing", 0) == 0 and result.get("duplicates", 0) == 0
    assert result["acked"] > KILLS * 4
    if backend == "sqlite":
        assert integrity == "ok"
        with sqlite3.connect(tmp_path / "votes.db") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for kind, proc in verified.items():
        assert proc.returncode == 0, f"courtyard verify {seeded['motions'][kind]}: {proc.stdout}{proc.stderr}"


# ---------------------------------------------------------------------------
# 2. Redis down for 30 seconds under two processes

#: seconds, real time: the issue's figure (``COURTYARD_FAULTS_REDIS_OUTAGE`` overrides it, e.g. 40 to see
#: python-socketio's own listener back off for 31 s; docs/faults.md)
REDIS_OUTAGE = float(os.environ.get("COURTYARD_FAULTS_REDIS_OUTAGE", "30"))


class TimedPhone(Phone):
    """A /live phone that also notes when each broadcast reached it (not a replayed event)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: dict[int, float] = {}

    def _on_event(self, ev: dict[str, Any]) -> None:
        self.arrivals.setdefault(ev["seq"], time.monotonic())
        super()._on_event(ev)


class Talker(threading.Thread):
    """Sends a message every ``every`` seconds until stopped; records each ack's seq,
    when it was sent and how long its ack took."""

    def __init__(self, phone: Phone, label: str, every: float) -> None:
        super().__init__(daemon=True, name=f"talker-{label}")
        self.phone, self.label, self.every = phone, label, every
        self.sent: list[dict[str, Any]] = []
        self.failures: list[Any] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            body = f"{self.label}-{n}"
            t0 = time.monotonic()
            try:
                ack = self.phone.send("message", timeout=20, body=body)
            except Exception as exc:  # noqa: BLE001 — reported by the test
                self.failures.append(repr(exc))
                return
            if not ack.get("ok"):
                self.failures.append(ack)
            else:
                self.sent.append({"body": body, "seq": ack["seq"], "sent_at": t0, "ack_s": time.monotonic() - t0})
            n += 1
            self.stop.wait(self.every)


def first_live_arrival(talker: Talker, phones: list[TimedPhone], after: float) -> float | None:
    """How long after ``after`` the first message sent after it reached every one of
    ``phones`` as a broadcast."""
    best = None
    for s in talker.sent:
        if s["sent_at"] < after:
            continue
        times = [p.arrivals.get(s["seq"]) for p in phones]
        if all(t is not None for t in times):
            arrived = max(times) - after
            best = arrived if best is None else min(best, arrived)
    return best


@pytest.mark.redis
def test_redis_down_thirty_seconds_two_processes(tmp_path, own_redis: RedisProcess, fault_figures):
    a = LiveServer(tmp_path, message_queue=own_redis.url)
    info = a.prepare()
    seeded = seed_voters(a.env, members=4, secret=False)
    b = LiveServer(tmp_path, message_queue=own_redis.url)
    phones: list[TimedPhone] = []
    voters: list[Voter] = []
    talkers: list[Talker] = []
    try:
        a.start()
        b.start()
        code = live_session(info)["join_code"]
        host_cookie = a.cookie_for("renfu-host")
        host_a = TimedPhone(a.url, code, cookie=host_cookie).connect()
        host_b = TimedPhone(b.url, code, cookie=host_cookie).connect()  # the host's laptop, on the other process
        on_a = TimedPhone(a.url, code, guest_name="甲（A进程）").connect()
        on_b = TimedPhone(b.url, code, guest_name="乙（B进程）").connect()
        on_b2 = TimedPhone(b.url, code, guest_name="丙（B进程）").connect()
        phones = [host_a, host_b, on_a, on_b, on_b2]
        voters = [Voter(srv.url, token, member, seeded["motions"]).connect()
                  for srv, token, member in zip([a, b, a, b], seeded["tokens"], seeded["members"])]
        talkers = [Talker(host_a, "A", 0.25), Talker(host_b, "B", 0.25), Talker(on_b, "guestB", 2.5)]
        for t in talkers:
            t.start()
        stop_votes, vote_threads = start_voters(voters, pause=0.05)
        # before the outage the rooms are shared: A's words reach B's phones as broadcasts
        wait_for(lambda: first_live_arrival(talkers[0], [on_b, on_b2], 0) is not None, timeout=15,
                 message="a broadcast from A on B before the outage")

        own_redis.stop()
        down_at = time.monotonic()
        time.sleep(REDIS_OUTAGE)  # the outage itself: real time, as the issue states
        own_redis.start()
        up_at = time.monotonic()
        wait_for(lambda: first_live_arrival(talkers[0], [on_b, on_b2], up_at) is not None
                 and first_live_arrival(talkers[1], [on_a], up_at) is not None, timeout=30,
                 message="broadcasts between the processes after Redis came back")
        resume_a_to_b = first_live_arrival(talkers[0], [on_b, on_b2], up_at)
        resume_b_to_a = first_live_arrival(talkers[1], [on_a], up_at)
        time.sleep(2)  # a little more talk after the resume
        for t in talkers:
            t.stop.set()
        for t in talkers:
            t.join(30)
        stop_voters(stop_votes, vote_threads)

        assert not [f for t in talkers for f in t.failures], [f for t in talkers for f in t.failures]
        sent = [s for t in talkers for s in t.sent]
        last_seq = max(s["seq"] for s in sent)
        for p in phones:  # every phone catches up, by replay where the broadcast was lost
            wait_for(lambda p=p: p.seq is not None and p.seq >= last_seq, timeout=15,
                     message=f"{p.you.get('name')} catching up to seq {last_seq}")
        missing = 0
        replayed = 0
        for p in phones:
            with p.lock:
                seqs = [e["seq"] for e in p.events]
                bodies = Counter(e["data"].get("body") for e in p.events if e["kind"] == "message")
            assert seqs == sorted(set(seqs)), f"{p.you.get('name')}: events out of order or twice"
            assert seqs == list(range(seqs[0], seqs[-1] + 1)), f"{p.you.get('name')}: a gap in the events"
            missing += sum(1 for s in sent if bodies[s["body"]] != 1)
            replayed += sum(1 for s in sent if s["seq"] not in p.arrivals)
        during = [s for s in sent if down_at <= s["sent_at"] < up_at]
        votes_during = [e for v in voters for e in v.sent if down_at <= e["sent_at"] < up_at]
        stored = check_votes(voters, stored_votes(a.env["COURTYARD_DATABASE_URL"], seeded["motions"]))
        figures = dict(
            outage_s=REDIS_OUTAGE, resume_a_to_b_s=round(resume_a_to_b, 2), resume_b_to_a_s=round(resume_b_to_a, 2),
            messages_acked=len(sent), messages_acked_during_outage=len(during),
            message_ack_max_s_during_outage=round(max((s["ack_s"] for s in during), default=0), 2),
            missing_after_replay=missing, events_recovered_by_replay=replayed,
            votes_acked=stored.get("acked", 0), votes_acked_during_outage=len([e for e in votes_during if e["ack"]]),
            vote_ack_max_s_during_outage=round(max((e["acked_at"] - e["sent_at"] for e in votes_during
                                                    if e["ack"]), default=0), 2),
            votes_missing=stored.get("missing", 0), vote_duplicates=stored.get("duplicates", 0),
            vote_error_acks=dict(sum((v.error_statuses for v in voters), Counter())))
        fault_figures(**figures)
        assert stored["problems"] == 0, stored["problem_list"]
        assert figures["votes_acked_during_outage"] > 10 and figures["vote_ack_max_s_during_outage"] < 5
        assert figures["messages_acked_during_outage"] > 10 and figures["message_ack_max_s_during_outage"] < 5
        assert missing == 0
        assert replayed > 0  # the outage did cost broadcasts: they came back by replay
        assert resume_a_to_b <= 5 and resume_b_to_a <= 5, figures
    finally:
        for t in talkers:
            t.stop.set()
        for c in [*phones, *voters]:
            c.close()
        a.kill()
        b.kill()


@pytest.mark.redis
def test_a_broadcast_never_waits_long_on_redis(own_redis: RedisProcess, caplog):
    """The queue's publish (run inside the handler that broadcasts, before its ack) fails
    fast when Redis is gone, is bounded by its timeout when Redis hangs (SIGSTOP: the
    stock client has no timeout and would block the handler for good), never raises, and
    works again as soon as Redis is back."""
    import signal

    from web.queue import ResilientRedisManager

    manager = ResilientRedisManager(own_redis.url, channel="faults-test", timeout=0.5)
    message = {"method": "emit", "event": "event", "data": [{"seq": 1}], "host_id": "test"}
    assert manager._publish(message) == 0  # up, nobody subscribed
    own_redis.stop()
    t0 = time.monotonic()
    assert manager._publish(message) is None
    refused_s = time.monotonic() - t0
    own_redis.start()
    assert manager._publish(message) == 0  # a fresh connection after the restart
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        assert manager._publish(message) is None
        hung_s = time.monotonic() - t0
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert manager._publish(message) == 0
    assert refused_s < 0.5 and hung_s < 2 * 0.5 + 0.5, (refused_s, hung_s)
    assert "cannot publish to Redis" in caplog.text and "publishing to Redis again" in caplog.text
    with_password = ResilientRedisManager(f"redis://:s3cret@127.0.0.1:{own_redis.port + 1}/0", timeout=0.5)
    assert with_password._publish(message) is None
    assert "redis://:***@127.0.0.1" in caplog.text and "s3cret" not in caplog.text  # never a password in the log


# ---------------------------------------------------------------------------
# 3. the database briefly unavailable


class TcpProxy:
    """A loopback TCP proxy (two threads per connection) between the server and
    PostgreSQL. ``cut()`` closes every proxied connection and refuses new ones (accepted
    and closed at once) until ``heal()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.is_cut = threading.Event()
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.refused = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    @staticmethod
    def _drop(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv
        except OSError:
            pass
        sock.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.is_cut.is_set():
                self.refused += 1
                self._drop(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._drop(client)
                continue
            with self.lock:
                self.open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True, name="proxy-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self.lock:
                self.open.discard(src)
                self.open.discard(dst)
            self._drop(src)
            self._drop(dst)

    def cut(self) -> int:
        self.is_cut.set()
        with self.lock:
            sockets, self.open = list(self.open), set()
        for s in sockets:
            self._drop(s)
        return len(sockets) // 2

    def heal(self) -> None:
        self.is_cut.clear()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut()


DB_CUT = 2.0  # seconds


def test_database_briefly_unavailable_error_acks_and_retries(tmp_path, fresh_postgres, fault_figures):
    from sqlalchemy.engine import make_url

    url = make_url(fresh_postgres)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    srv = LiveServer(tmp_path, database_url=url.set(port=proxy.port).render_as_string(hide_password=False))
    voters: list[Voter] = []
    try:
        srv.cli("db", "upgrade", "--core-only")
        seeded = seed_voters(srv.env, members=VOTERS)
        srv.start()
        voters = [Voter(srv.url, token, member, seeded["motions"]).connect()
                  for token, member in zip(seeded["tokens"], seeded["members"])]
        stop, threads = start_voters(voters, pause=0.02)
        target = acks_so_far(voters) + 30
        wait_for(lambda: acks_so_far(voters) >= target, timeout=30, message="votes before the cut")
        connections_cut = proxy.cut()
        cut_at = time.monotonic()
        health_during = requests.get(srv.url + "/healthz", timeout=5).status_code  # liveness is not the database
        time.sleep(max(0.0, DB_CUT - (time.monotonic() - cut_at)))  # the outage: connections gone, new ones refused
        proxy.heal()
        healed_at = time.monotonic()
        target = acks_so_far(voters) + 60
        wait_for(lambda: acks_so_far(voters) >= target, timeout=30, message="votes after the database came back")
        stop_voters(stop, threads)
        health = requests.get(srv.url + "/healthz", timeout=5).status_code
    finally:
        for v in voters:
            v.close()
        srv.kill()
        proxy.close()

    entries = [e for v in voters for e in v.sent]
    errors = dict(sum((v.error_statuses for v in voters), Counter()))
    retried_after_503 = [e for e in entries if 503 in e["errors"] and e["ack"] is not None]
    first_ok_after_heal = min((e["acked_at"] for e in entries if e["acked_at"] and e["acked_at"] > healed_at),
                              default=None)
    stored = check_votes(voters, stored_votes(fresh_postgres, seeded["motions"]))
    verified = {kind: courtyard_verify(srv.env | {"COURTYARD_DATABASE_URL": fresh_postgres}, motion_id)
                for kind, motion_id in seeded["motions"].items()}
    fault_figures(cut_s=DB_CUT, connections_cut=connections_cut, connections_refused=proxy.refused,
                  votes_acked=stored.get("acked", 0), error_acks=errors,
                  votes_acked_after_503_retry=len(retried_after_503),
                  acked_as_duplicate=stored.get("acked_as_duplicate", 0), missing=stored.get("missing", 0),
                  stored_not_acked=stored.get("stored_not_acked", 0), duplicates=stored.get("duplicates", 0),
                  first_ok_ack_after_heal_s=round(first_ok_after_heal - healed_at, 2) if first_ok_after_heal else None,
                  cut_seen_by_phones_s=round(healed_at - cut_at, 2), healthz_during=health_during,
                  healthz_after=health,
                  verify={k: p.returncode == 0 for k, p in verified.items()})
    assert not [u for v in voters for u in v.unexpected], [u for v in voters for u in v.unexpected][:5]
    assert errors.get(503, 0) > 0 and set(errors) == {503}  # the phones were told "busy, retry"
    assert retried_after_503, "no vote was retried after a 503"
    assert [e["cid"] for e in entries if e["ack"] is None] == []
    assert stored["problems"] == 0, stored["problem_list"]  # nothing acknowledged that was not stored, no doubles
    assert first_ok_after_heal is not None and first_ok_after_heal - healed_at < 5
    assert health_during == 200 and health == 200
    for kind, proc in verified.items():
        assert proc.returncode == 0, f"courtyard verify {seeded['motions'][kind]}: {proc.stdout}{proc.stderr}"


# ---------------------------------------------------------------------------
# 4. a plugin that raises or hangs during a live session

FAULTY_PLUGIN = '''
"""Two community plugins that fail in the hook every live message fires."""
import os
import time

from core.plugins import hookimpl


def _note(what):
    with open(os.environ["FAULTY_CALLS"], "a") as f:
        f.write(what + "\\n")


class Raising:
    @hookimpl
    def courtyard_message_posted(self, session, message, participant):
        _note("raise")
        raise RuntimeError("a community plugin's own bug")


class Hanging:
    @hookimpl
    def courtyard_message_posted(self, message):
        _note("hang")
        time.sleep(120)  # far beyond the hook's time budget (5 s); dies with the server


raising = Raising()
hanging = Hanging()
'''

HOOK_TIMEOUT = 5.0  # PLUGIN_HOOK_TIMEOUT's default


def install_faulty_plugins(root: Path) -> Path:
    """Install the two plugins the way pip would for the server process: a module and a
    ``.dist-info`` with entry points in the ``courtyard.plugins`` group, on PYTHONPATH."""
    root.mkdir()
    (root / "courtyard_faulty.py").write_text(FAULTY_PLUGIN)
    info = root / "courtyard_faulty-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: courtyard-faulty\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[courtyard.plugins]\nfaulty_raise = courtyard_faulty:raising\n"
                                           "faulty_hang = courtyard_faulty:hanging\n")
    return root


def send_together(phones: list[Phone], label: str) -> list[tuple[dict[str, Any], float]]:
    """Every phone sends one message at the same time; returns (ack, seconds) per phone."""
    out: list[Any] = [None] * len(phones)

    def one(i: int, phone: Phone) -> None:
        t0 = time.monotonic()  # one emit, waiting long enough to see how long its ack takes
        ack = phone.sio.call("message", {"cid": uuid.uuid4().hex, "body": f"{label}-{i}"}, namespace="/live",
                             timeout=3 * HOOK_TIMEOUT)
        out[i] = (ack, time.monotonic() - t0)

    threads = [threading.Thread(target=one, args=(i, p), daemon=True) for i, p in enumerate(phones)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert all(o is not None for o in out), f"a message of {label} was never acknowledged"
    return out


def test_a_plugin_that_raises_or_hangs_does_not_stop_the_session(tmp_path, fault_figures):
    calls = tmp_path / "plugin-calls.txt"
    calls.touch()
    plugdir = install_faulty_plugins(tmp_path / "site")
    srv = LiveServer(tmp_path)
    srv.env.update({"COURTYARD_PLUGIN_ENTRYPOINTS": "1", "FAULTY_CALLS": str(calls),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(plugdir), srv.env.get("PYTHONPATH")]))})
    info = srv.prepare()
    seeded = seed_voters(srv.env, members=2, slug="renfu", secret=False, enable=("faulty_raise", "faulty_hang"))
    phones: list[Phone] = []
    voters: list[Voter] = []
    try:
        srv.start()
        code = live_session(info)["join_code"]
        phones = [Phone(srv.url, code, cookie=srv.cookie_for("renfu-host")).connect(),
                  Phone(srv.url, code, guest_name="王阿婆的孙女").connect(),
                  Phone(srv.url, code, guest_name="张师傅").connect()]
        voters = [Voter(srv.url, token, member, seeded["motions"]).connect()
                  for token, member in zip(seeded["tokens"], seeded["members"])]
        stop, threads = start_voters(voters, pause=0.05)
        wait_for(lambda: acks_so_far(voters) >= 10, timeout=20, message="votes before the plugins fail")
        t0 = time.monotonic()
        failing = send_together(phones, "插件出错时")  # both plugins fail on each: 3 failures each
        failing_done = time.monotonic()
        plugin_calls_then = Counter(calls.read_text().split())
        after = [*send_together(phones, "插件停用后"), *send_together(phones, "再说一轮")]
        votes_during = [e for v in voters for e in v.sent if t0 <= e["sent_at"] < failing_done]
        stop_voters(stop, threads)
        bodies = [f"{label}-{i}" for label in ("插件出错时", "插件停用后", "再说一轮") for i in range(len(phones))]
        for p in phones:
            wait_for(lambda p=p: all(p.bodies().count(b) == 1 for b in bodies), timeout=15,
                     message="every message delivered once to every phone")
        plugin_calls = Counter(calls.read_text().split())
    finally:
        for c in [*phones, *voters]:
            c.close()
        srv.kill()

    engine = create_engine(srv.env["COURTYARD_DATABASE_URL"])
    with engine.connect() as conn:
        blocked = dict(conn.execute(text("SELECT plugin_name, blocked_reason FROM community_plugins "
                                         "WHERE community_id = :c"), {"c": seeded["community_id"]}).all())
        notices = conn.execute(text("SELECT count(*) FROM notifications WHERE kind = 'plugin_blocked'")).scalar_one()
    engine.dispose()
    log = srv.log.read_text()
    stored = check_votes(voters, stored_votes(srv.env["COURTYARD_DATABASE_URL"], seeded["motions"]))
    figures = dict(
        hook_timeout_s=HOOK_TIMEOUT, message_ack_max_s_while_failing=round(max(s for _, s in failing), 2),
        message_ack_max_s_after_block=round(max(s for _, s in after), 2),
        plugin_calls={k: plugin_calls[k] for k in ("raise", "hang")},
        blocked={k: (v or "")[:40] for k, v in blocked.items() if k.startswith("faulty")}, admin_notices=notices,
        votes_acked_while_failing=len([e for e in votes_during if e["ack"]]),
        vote_ack_max_s_while_failing=round(max((e["acked_at"] - e["sent_at"] for e in votes_during if e["ack"]),
                                               default=0), 2),
        votes_missing=stored.get("missing", 0))
    fault_figures(**figures)
    assert all(ack["ok"] for ack, _ in [*failing, *after])
    # while failing, a message waits for the hanging plugin's budget at most; afterwards not at all
    assert figures["message_ack_max_s_while_failing"] < HOOK_TIMEOUT + 3
    assert figures["message_ack_max_s_after_block"] < 2
    # both were called for the first three messages, then blocked: never called again
    assert plugin_calls_then == {"raise": 3, "hang": 3} and plugin_calls == plugin_calls_then
    assert blocked["faulty_raise"].startswith("RuntimeError") and blocked["faulty_hang"].startswith("HookTimeout")
    assert notices >= 2
    assert "plugin faulty_raise raised in courtyard_message_posted" in log
    assert "plugin faulty_hang did not answer courtyard_message_posted" in log
    assert figures["votes_acked_while_failing"] > 5 and figures["vote_ack_max_s_while_failing"] < 2
    assert stored["problems"] == 0, stored["problem_list"]
