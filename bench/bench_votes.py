"""Durable vote ingest benchmark (not a test): votes cast over the live connection (the
``/vote`` Socket.IO namespace) to a real ``courtyard serve`` process on loopback, SQLite in
WAL mode, every vote committed (ballot row, ballot-log hash-chain entry, motion head)
before its acknowledgement. Reports acknowledged votes per second and the p50/p99
acknowledgement latency, against a raw ``sqlite3`` loop committing one vote per
transaction in the same run (same journal mode and synchronous setting), the CPU taken by
the server and by the load generator, and checks afterwards, in the database, that every
acknowledged vote is stored and that the ballot log verifies (``courtyard verify``).

    .venv/bin/python bench/bench_votes.py --clients 200 --seconds 10 --modes gevent

Bounded in time (``--seconds``) and count (``--max-votes``). Each client is one member
(signed in with an API token in the handshake) who keeps changing their vote, waiting for
each acknowledgement before sending the next, so every vote is a real write: the open
ballot row is updated and a log entry appended. The load generator is lean: one process,
gevent greenlets speaking the Engine.IO 4 / Socket.IO 5 wire protocol over
websocket-client directly (as ``bench/bench_live.py`` does).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import websocket  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (gunicorn's master and worker)."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except FileNotFoundError:
            pass
    return total


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def seed(env: dict[str, str], members: int) -> tuple[int, list[str]]:
    """A community, ``members`` residents with API tokens, one open yes/no motion."""
    code = f"""
import json
from core.db import session_scope
from core.models.member import Role
from core.services import auth, communities as cs, votes as svc
from web import create_app
app = create_app()
cy = app.extensions["courtyard"]
with session_scope(cy.sessionmaker) as db:
    c = cs.create_community(db, slug="bench", names={{"zh_CN": "基准", "en": "Bench"}})
    tokens = []
    for i in range({members}):
        m = cs.add_member(db, actor=None, community=c, display_name=f"居民{{i}}", roles=[(Role.RESIDENT, None)])
        tokens.append(auth.issue_api_token(db, member=m, label="bench"))
    motion = svc.create_motion(db, actor=None, community=c, method=cy.catalog.tally_methods.get("majority"),
                               title="基准表决", open_now=True)
    db.flush()
    print(json.dumps({{"motion": motion.id, "tokens": tokens}}))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["motion"], data["tokens"]


class Voter:
    """One phone: a websocket on /vote, one vote in flight at a time."""

    def __init__(self, url: str, token: str, motion_id: int) -> None:
        self.url, self.token, self.motion_id = url, token, motion_id
        self.ws: websocket.WebSocket | None = None
        self.latencies: list[float] = []
        self.receipts: list[str] = []
        self.errors: list[str] = []

    def connect(self) -> None:
        ws_url = self.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = ws = websocket.create_connection(ws_url, header=[f"Authorization: Bearer {self.token}"],
                                                  origin=self.url, timeout=60)
        ws.recv()  # 0{...} open
        ws.send("40/vote,")
        while not ws.recv().startswith("40/vote,"):
            pass

    def run(self, start: float, stop: float, budget: list[int]) -> None:
        ws = self.ws
        assert ws is not None
        n = 0
        while time.time() < start:
            gevent.sleep(start - time.time())
        while time.time() < stop and budget[0] > 0:
            budget[0] -= 1
            n += 1
            payload = {"cid": uuid.uuid4().hex, "motion_id": self.motion_id,
                       "ballot": {"choice": "yes" if n % 2 else "no"}}
            prefix = f"43/vote,{n}"
            t0 = time.perf_counter()
            ws.send(f"42/vote,{n}" + json.dumps(["vote", payload]))
            while True:
                msg = ws.recv()
                if msg == "2":
                    ws.send("3")
                elif msg.startswith(prefix + "["):
                    break
            elapsed = time.perf_counter() - t0
            ack = json.loads(msg[len(prefix):])[0]
            if ack.get("ok"):
                self.latencies.append(elapsed)
                self.receipts.append(ack["receipt"])
            else:
                self.errors.append(json.dumps(ack)[:200])

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def q(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return round(1000 * values[min(len(values) - 1, int(p * len(values)))], 2)


def server_run(clients: int, seconds: float, max_votes: int, mode: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-votes-"))
    port = free_port()
    env = {**os.environ, "COURTYARD_DATABASE_URL": f"sqlite:///{tmp / 'votes.db'}", "COURTYARD_INSTANCE_PATH": str(tmp),
           "COURTYARD_SECRET_KEY": "bench", "COURTYARD_PLUGIN_ENTRYPOINTS": "0", "COURTYARD_ASYNC_MODE": mode,
           "PYTHONUNBUFFERED": "1"}
    env.pop("COURTYARD_MESSAGE_QUEUE", None)
    subprocess.run([sys.executable, "-m", "web.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    motion_id, tokens = seed(env, clients)
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--threads", str(clients + 50)],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    voters: list[Voter] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((tmp / "server.log").read_text()[-2000:])
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        voters = [Voter(url, token, motion_id) for token in tokens]
        gevent.joinall([gevent.spawn(v.connect) for v in voters], raise_error=True)
        budget = [max_votes]
        start = time.time() + 0.5
        stop = start + seconds
        cpu_server0, cpu_gen0 = proc_cpu(proc.pid), own_cpu()
        greenlets = [gevent.spawn(v.run, start, stop, budget) for v in voters]
        gevent.joinall(greenlets, raise_error=True)
        elapsed = time.time() - start
        cpu_server, cpu_gen = proc_cpu(proc.pid) - cpu_server0, own_cpu() - cpu_gen0
        for v in voters:
            v.close()
        lat = sorted(x for v in voters for x in v.latencies)
        errors = [e for v in voters for e in v.errors]
        receipts = [r for v in voters for r in v.receipts]
        # every acknowledged vote is in the database: a log entry with its receipt (every
        # vote changes the member's ballot, so each one appends an entry), and the log verifies
        db = sqlite3.connect(tmp / "votes.db")
        length = db.execute("SELECT log_length FROM motions WHERE id = ?", (motion_id,)).fetchone()[0]
        logged = {r for (r,) in db.execute("SELECT json_extract(record, '$.receipt') FROM ballot_log "
                                           "WHERE motion_id = ?", (motion_id,))}
        db.close()
        missing = sum(1 for r in receipts if r not in logged)
        verify = subprocess.run([sys.executable, "-m", "web.cli", "verify", str(motion_id)], env=env, cwd=ROOT,
                                capture_output=True, text=True)
        return {"mode": mode, "clients": clients, "acked": len(lat), "errors": len(errors),
                "error_sample": errors[:3], "seconds": round(elapsed, 2), "per_second": round(len(lat) / elapsed, 1),
                "p50_ms": q(lat, 0.50), "p99_ms": q(lat, 0.99), "max_ms": q(lat, 1.0),
                "server_cpu_percent": round(100 * cpu_server / elapsed, 1),
                "generator_cpu_percent": round(100 * cpu_gen / elapsed, 1),
                "log_entries_stored": length, "acked_votes_missing_from_log": missing,
                "all_acked_stored": missing == 0 and length >= len(receipts),
                "verify_ok": verify.returncode == 0}
    finally:
        for v in voters:
            try:
                v.close()
            except Exception:
                pass
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def raw_sqlite(seconds: float, max_votes: int, synchronous: str = "NORMAL") -> dict:
    """One vote per transaction with plain sqlite3: the floor the server is measured against
    (WAL, synchronous=NORMAL — the settings ``core.db.make_engine`` uses)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-raw-"))
    db = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE votes (motion INTEGER, member INTEGER, choice TEXT, UNIQUE (motion, member))")
    n = 0
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end and n < max_votes:
        db.execute("BEGIN")
        db.execute("INSERT INTO votes VALUES (1, ?, ?) ON CONFLICT (motion, member) DO UPDATE SET choice = "
                   "excluded.choice", (n % 1000, "yes" if n % 2 else "no"))
        db.execute("COMMIT")
        n += 1
    elapsed = time.monotonic() - t0
    db.close()
    return {"synchronous": synchronous, "votes": n, "seconds": round(elapsed, 2), "per_second": round(n / elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[200])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--max-votes", type=int, default=200_000)
    ap.add_argument("--modes", nargs="+", default=["gevent"])
    args = ap.parse_args()
    raw = raw_sqlite(min(args.seconds, 5), args.max_votes)
    full = raw_sqlite(min(args.seconds, 5), args.max_votes, "FULL")
    print(json.dumps({"raw_sqlite3": raw, "raw_sqlite3_full": full}), flush=True)
    for mode in args.modes:
        for n in args.clients:
            r = server_run(n, args.seconds, args.max_votes, mode)
            r["ratio_to_raw"] = round(r["per_second"] / raw["per_second"], 4)
            r["ratio_to_raw_full"] = round(r["per_second"] / full["per_second"], 4)
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
