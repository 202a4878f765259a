"""Durable vote ingest benchmark (not a test): votes cast over the live connection (the
``/vote`` Socket.IO namespace) to a real ``courtyard serve`` process on loopback, SQLite in
WAL mode, every vote committed (ballot row, ballot-log hash-chain entry, motion head)
before its acknowledgement. Reports acknowledged votes per second and the p50/p99
acknowledgement latency, against a raw ``sqlite3`` loop committing one vote per
transaction in the same run (same journal mode and synchronous setting).

    .venv/bin/python bench/bench_votes.py --clients 16 --seconds 10 --max-votes 50000

Bounded in time (``--seconds``) and count (``--max-votes``). Each client is one member
(signed in with an API token in the handshake) who keeps changing their vote, so every
vote is a real write: the open ballot row is updated and a log entry appended.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def server_run(clients: int, seconds: float, max_votes: int, mode: str) -> dict:
    import socketio

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
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
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
        sios = []
        for token in tokens:
            sio = socketio.Client(reconnection=False)
            sio.connect(url, namespaces=["/vote"], transports=["websocket"],
                        headers={"Authorization": f"Bearer {token}"})
            sios.append(sio)
        latencies: list[float] = []
        errors: list[str] = []
        count = [0]
        lock = threading.Lock()
        start_gate = threading.Barrier(len(sios) + 1)
        stop_at = [0.0]

        def client(sio, i: int) -> None:
            mine: list[float] = []
            n = 0
            start_gate.wait()
            while time.monotonic() < stop_at[0]:
                with lock:
                    if count[0] >= max_votes:
                        break
                    count[0] += 1
                payload = {"cid": uuid.uuid4().hex, "motion_id": motion_id,
                           "ballot": {"choice": "yes" if n % 2 else "no"}}
                t0 = time.perf_counter()
                ack = sio.call("vote", payload, namespace="/vote", timeout=30)
                mine.append(time.perf_counter() - t0)
                n += 1
                if not ack.get("ok"):
                    errors.append(json.dumps(ack)[:200])
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(s, i)) for i, s in enumerate(sios)]
        for t in threads:
            t.start()
        stop_at[0] = time.monotonic() + seconds
        t_start = time.monotonic()
        start_gate.wait()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t_start
        for s in sios:
            s.disconnect()
        lat = sorted(latencies)
        # every acknowledged vote is in the database: the log has one entry per change
        db = sqlite3.connect(tmp / "votes.db")
        stored = db.execute("SELECT log_length FROM motions WHERE id = ?", (motion_id,)).fetchone()[0]
        db.close()
        return {"mode": mode, "clients": clients, "acked": len(lat), "errors": len(errors),
                "error_sample": errors[:3], "seconds": round(elapsed, 2), "per_second": round(len(lat) / elapsed, 1),
                "p50_ms": round(1000 * lat[len(lat) // 2], 2) if lat else None,
                "p99_ms": round(1000 * lat[int(len(lat) * 0.99) - 1], 2) if lat else None,
                "mean_ms": round(1000 * statistics.mean(lat), 2) if lat else None,
                "log_entries_stored": stored}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
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
    ap.add_argument("--clients", type=int, nargs="+", default=[16])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--max-votes", type=int, default=100_000)
    ap.add_argument("--modes", nargs="+", default=["threading"])
    args = ap.parse_args()
    raw = raw_sqlite(min(args.seconds, 5), args.max_votes)
    full = raw_sqlite(min(args.seconds, 5), args.max_votes, "FULL")
    print(json.dumps({"raw_sqlite3": raw, "raw_sqlite3_full": full}), flush=True)
    for mode in args.modes:
        for n in args.clients:
            r = server_run(n, args.seconds, args.max_votes, mode)
            r["ratio_to_raw"] = round(r["per_second"] / raw["per_second"], 4)
            r["ratio_to_raw_full"] = round(r["per_second"] / full["per_second"], 3)
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
