"""Scale-out benchmarks (not tests), issue #8. Real `courtyard serve` processes on loopback,
the same load generator as bench_live.py (bench/loadgen.py, several processes), bounded in
time and count. Every scenario compares against a peer in the same run and reports ratios.

    flock /tmp/courtyard-bench.lock .venv/bin/python bench/bench_scale.py votes    --clients 1000 --rate 500 --seconds 20
    flock /tmp/courtyard-bench.lock .venv/bin/python bench/bench_scale.py scaleout --steps 500 1000 1500 2000 3000 --seconds 20
    flock /tmp/courtyard-bench.lock .venv/bin/python bench/bench_scale.py storm    --clients 2000 --window 10
    flock /tmp/courtyard-bench.lock .venv/bin/python bench/bench_scale.py sessions --sessions 50 --per-session 40 \\
        --message-rate 100 --vote-rate 100 --seconds 20

* ``votes``    — N members watching one live-results motion of one session; votes at
  ``--rate``/s in aggregate from those clients; latency from a vote's emit to *every*
  client's receipt of the first tally that includes it. Votes walk up the options
  o1, o2, … (one step per vote), so Σ k·count(o_k) of a tally is the number of votes it
  includes; vote k in acknowledgement order is in the first tally whose sum is ≥ k.
  Peer: the vote acknowledgement latency of the same run (tally − ack = what the
  coalescing and the broadcast add).
* ``scaleout`` — p99 of the live broadcast (bench_live's load) at growing N for: 1 process
  without Redis, 1 process with Redis, 2 processes with Redis; all on one throwaway
  PostgreSQL database. Peer: the 1-process run without Redis at the same N (ratios).
* ``storm``    — N guests on a live session while the host pins 4/s; every socket is closed
  at once and the clients re-join within ``--window`` s with ``since`` = last seq seen;
  reconnections/s, events missed after replay, duplicate deliveries. Peer: the first
  (cold) join of the same clients.
* ``sessions`` — S sessions × M members, each on /live and /vote over one socket, sending
  ``message`` and ``vote`` at the stated aggregate rates; acknowledged events/s, p99 ack
  and message-delivery latency. Peer: the single-session broadcast run of bench_live
  (N = S × M) is the reference the docs compare with.

Databases: ``--db postgres`` (default; a throwaway database ``cy_bench_<pid>`` on
127.0.0.1:5432, dropped at the end) or ``--db sqlite``. Redis: a redis-server of the run's
own on a free loopback port (the shared one's pub/sub channel is global to the server,
whatever the database index, so runs would hear each other's broadcasts).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager, nullcontext  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Iterator  # noqa: E402

import gevent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loadgen  # noqa: E402
from bench_live import measure, self_cpu  # noqa: E402

PG_ADMIN = os.environ.get("COURTYARD_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
OPTIONS = [f"o{k}" for k in range(12)]


def cleanup(tmp: Path) -> None:
    """Remove the run's directory (server logs, SQLite) unless COURTYARD_BENCH_KEEP is set."""
    if os.environ.get("COURTYARD_BENCH_KEEP"):
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row, ensure_ascii=False), flush=True)


def phase(name: str, pids: list[int]) -> None:
    """A progress line on stderr (``# go <time> pids …``), for a profiler to start on."""
    print(f"# {name} {time.time():.3f} pids {' '.join(map(str, pids))}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# services


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"cy_bench_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def redis_db(tmp: Path) -> Iterator[str]:
    """A redis-server of the benchmark's own on a free loopback port (no persistence).
    Not a database index of the shared Redis: Socket.IO's pub/sub channel
    (``flask-socketio``) is global to a Redis server, whatever the index, so servers of
    other runs on the same Redis would receive this run's broadcasts and it theirs."""
    import redis
    from tests.plugins.discussion.live_server import free_port

    port = free_port()
    with (tmp / "redis.log").open("ab") as log:
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait(10)


class Servers:
    """``count`` `courtyard serve` processes on one database (and Redis when given)."""

    def __init__(self, tmp: Path, db_url: str, *, mode: str, count: int = 1, queue: str | None = None,
                 threads: int = 200):
        from tests.plugins.discussion.live_server import LiveServer

        self.list = [LiveServer(tmp, database_url=db_url, message_queue=queue, async_mode=mode, threads=threads)
                     for _ in range(count)]

    @property
    def first(self) -> Any:
        return self.list[0]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.list]

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.list]

    def start(self) -> "Servers":
        for s in self.list:
            s.start()
        return self

    def kill(self) -> None:
        for s in self.list:
            s.kill()

    def log_errors(self) -> list[str]:
        lines: list[str] = []
        for s in self.list:
            if s.log.exists():
                lines += [ln for ln in s.log.read_text(errors="replace").splitlines()
                          if ("Traceback" in ln or "ERROR" in ln or "Error" in ln or "CRITICAL" in ln)
                          and "MonkeyPatchWarning" not in ln]
        return lines[:8]


SEED = r"""
import json, sys
from datetime import timedelta
from core.db import session_scope, utcnow
from core.models.member import Role
from core.services import auth, communities as cs, sessions as ss, votes as svc
from web import create_app
p = json.loads(sys.argv[1])
app = create_app()
cy = app.extensions["courtyard"]
out = []
with session_scope(cy.sessionmaker) as db:
    c = cs.create_community(db, slug="bench", names={"zh_CN": "基准", "en": "Bench"})
    host = cs.add_member(db, actor=None, community=c, display_name="主持人", roles=[(Role.HOST, None)])
    host_token = auth.issue_api_token(db, member=host, label="bench")
    now = utcnow()
    start = now - timedelta(minutes=10)
    for s in range(p["sessions"]):
        session = ss.create_session(db, actor=None, catalog=cy.catalog, community=c, format_key="courtyard_talk",
                                    title=f"基准会议{s}", starts_at=start, ends_at=start + timedelta(hours=3),
                                    host_id=host.id, capacity=None, status="scheduled", now=start, allow_guests=True,
                                    agenda=["议题"])
        ss.change_status(db, actor=None, session=session, status="live")
        tokens = []
        for i in range(p["members"]):
            m = cs.add_member(db, actor=None, community=c, display_name=f"居民{s}-{i}", roles=[(Role.RESIDENT, None)])
            tokens.append(auth.issue_api_token(db, member=m, label="bench"))
        motion_id = None
        if p["method"]:
            kw = {"options": p["options"]} if p["options"] else {}
            motion = svc.create_motion(db, actor=None, community=c, method=cy.catalog.tally_methods.get(p["method"]),
                                       title=f"基准表决{s}", session_id=session.id, results_visibility="live",
                                       open_now=True, **kw)
            db.flush()
            motion_id = motion.id
        db.flush()
        out.append({"session_id": session.id, "code": session.join_code, "motion_id": motion_id, "tokens": tokens})
print(json.dumps({"host_token": host_token, "sessions": out}))
"""


MIGRATE = r"""
import os
from core.plugins import make_plugin_manager
from web.plugin_migrations import upgrade
upgrade(os.environ["COURTYARD_DATABASE_URL"], pm=make_plugin_manager(entrypoints=False))
"""


def migrate(srv: Any) -> None:
    """``courtyard db upgrade`` without the community plugins installed in this environment:
    the command loads installed plugins even with COURTYARD_PLUGIN_ENTRYPOINTS=0, and the
    example plugin's migration fails on PostgreSQL (a constraint name over 63 characters)."""
    out = subprocess.run([sys.executable, "-c", MIGRATE], cwd=ROOT, env=srv.env, capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])


def prepare_demo(srv: Any) -> dict[str, Any]:
    migrate(srv)
    return json.loads(srv.cli("demo", "--json", "--base-url", srv.url))


def seed(srv: Any, *, sessions: int, members: int, method: str | None, options: list[str] | None) -> dict[str, Any]:
    migrate(srv)
    out = subprocess.run([sys.executable, "-c", SEED, json.dumps({"sessions": sessions, "members": members,
                                                                   "method": method, "options": options})],
                         cwd=ROOT, env=srv.env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def workers_for(n: int, requested: int) -> int:
    return requested or max(1, math.ceil(n / 1000))


# ---------------------------------------------------------------------------
# votes: vote → tally latency


def drive_votes(args: argparse.Namespace, urls: list[str], pids: list[int], motion_id: int,
                clients: list[dict[str, Any]]) -> dict[str, Any]:
    """The measured phase of ``votes`` against running servers: watch, vote at the rate,
    collect every vote's (emit, ack) and every client's tallies."""
    workers = workers_for(args.clients, args.workers)
    pool = loadgen.Pool("vote_watch", clients, workers=workers,
                        common={"urls": urls, "motion_id": motion_id, "options": OPTIONS, "connect_parallel": 20})
    try:
        ready = pool.ready()
        joined = sum(r["ready"] for r in ready)
        gevent.sleep(2)
        cpu0 = sum(loadgen.proc_stats(p)[0] for p in pids)
        gen0 = pool.cpu_seconds() + self_cpu()
        m0 = loadgen.machine_cpu()
        t0 = time.time()
        pool.command("go", rate=args.rate / workers, until=t0 + args.seconds)
        phase("go", pids)
        gevent.sleep(args.seconds + 3)
        elapsed = time.time() - t0
        cpu1 = sum(loadgen.proc_stats(p)[0] for p in pids)
        rss = sum(loadgen.proc_stats(p)[1] for p in pids)
        gen1 = pool.cpu_seconds() + self_cpu()
        m1 = loadgen.machine_cpu()
        results = pool.results()
    finally:
        pool.close()
    return {"results": results, "joined": joined, "workers": workers, "elapsed": elapsed, "server_cpu": cpu1 - cpu0,
            "rss": rss, "generator_cpu": gen1 - gen0, "machine": (m1[0] - m0[0], m1[1] - m0[1])}


def node_votes(args: argparse.Namespace) -> dict[str, Any]:
    """The same load against the Node socket.io peer (bench/node/server.js: acks at once,
    no database, the same 10-a-second tally coalescing)."""
    from bench_live import node_server

    with node_server() as (url, pid):
        run = drive_votes(args, [url], [pid], 1, [{"token": f"node{i}"} for i in range(args.clients)])
    return vote_row(args, run, "node-socket.io", [])


def run_votes(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    with database(args.db, tmp) as url:
        srv = Servers(tmp, url, mode=args.mode, threads=args.clients + 50)
        try:
            data = seed(srv.first, sessions=1, members=args.clients, method="plurality", options=OPTIONS)
            srv.start()
            s = data["sessions"][0]
            run = drive_votes(args, srv.urls, srv.pids, s["motion_id"], [{"token": t} for t in s["tokens"]])
            errors = srv.log_errors()
        finally:
            srv.kill()
    cleanup(tmp)
    row = vote_row(args, run, "courtyard", errors)
    if args.node:
        peer = node_votes(args)
        emit(peer)
        for key in ("ack_p50_ms", "ack_p99_ms", "tally_p50_ms", "tally_p99_ms"):
            if row.get(key) and peer.get(key):
                row[f"{key}_vs_node"] = round(row[key] / peer[key], 2)
    emit(row)


def vote_row(args: argparse.Namespace, run: dict[str, Any], server: str, errors: list[str]) -> dict[str, Any]:
    import numpy as np

    results, joined, workers, elapsed = run["results"], run["joined"], run["workers"], run["elapsed"]
    votes = sorted((v for r in results for v in r["votes"]), key=lambda v: v[1])
    ok = [v for v in votes if v[2]]
    if os.environ.get("COURTYARD_BENCH_DUMP"):  # every vote's (emit, ack, ok), for a closer look
        Path(os.environ["COURTYARD_BENCH_DUMP"]).write_text(json.dumps(votes))
        Path(os.environ["COURTYARD_BENCH_DUMP"] + ".tallies").write_text(json.dumps([t for r in results for t in r["tallies"]]))
    emits = np.array([v[0] for v in ok])
    acks = np.array([v[1] - v[0] for v in ok])
    ranks = np.arange(1, len(ok) + 1)
    lat_all: list[np.ndarray] = []
    missing = 0
    tallies_per_client = []
    for r in results:
        for tallies in r["tallies"]:
            tallies_per_client.append(len(tallies))
            if not tallies:
                missing += len(ok)
                continue
            sums = np.maximum.accumulate(np.array([t[0] for t in tallies]))
            times = np.array([t[1] for t in tallies])
            idx = np.searchsorted(sums, ranks, side="left")
            have = idx < len(sums)
            missing += int((~have).sum())
            lat_all.append(times[idx[have]] - emits[have])
    lat = np.concatenate(lat_all) if lat_all else np.array([])
    span = (max(v[1] for v in ok) - min(v[0] for v in ok)) if ok else 0.0

    def q(a: np.ndarray, p: float) -> float | None:
        return round(float(np.quantile(a, p)) * 1000, 1) if len(a) else None

    return {"scenario": "votes", "server": server, "mode": args.mode, "db": args.db, "clients": args.clients,
            "joined": joined,
            "target_rate": args.rate, "votes_sent": len(votes), "votes_acked_ok": len(ok),
            "acked_per_s": round(len(ok) / span, 1) if span else None,
            "vote_errors": [e for r in results for e in r["vote_errors"]][:3],
            "ack_p50_ms": q(acks, 0.5), "ack_p99_ms": q(acks, 0.99),
            "tally_deliveries_timed": int(len(lat)), "expected": len(ok) * joined, "unmatched": missing,
            "tally_p50_ms": q(lat, 0.5), "tally_p99_ms": q(lat, 0.99), "tally_max_ms": q(lat, 1.0),
            "tallies_per_client_median": int(np.median(tallies_per_client)) if tallies_per_client else 0,
            "tally_p99_over_ack_p99": round(q(lat, 0.99) / q(acks, 0.99), 2) if len(lat) and len(acks) else None,
            "server_cpu_pct": round(100 * run["server_cpu"] / elapsed, 1), "rss_mb": round(run["rss"] / 2**20, 1),
            "generator_cpu_pct": round(100 * run["generator_cpu"] / elapsed, 1),
            "machine_busy_pct": round(100 * run["machine"][0] / max(1.0, run["machine"][1]), 1), "workers": workers,
           "server_log_errors": errors}


# ---------------------------------------------------------------------------
# scale-out: 1 process vs 1 process + Redis vs 2 processes + Redis


def broadcast_step(tmp: Path, db_url: str, *, mode: str, processes: int, queue: str | None, n: int,
                   seconds: float, workers: int, info: dict[str, Any] | None,
                   listeners: str = "member") -> tuple[dict[str, Any], dict]:
    from tests.plugins.discussion.live_server import live_session

    srv = Servers(tmp, db_url, mode=mode, count=processes, queue=queue, threads=n // processes + 60)
    try:
        if info is None:
            info = prepare_demo(srv.first)
        srv.start()
        cookie = srv.first.cookie_for("renfu-host")
        listener = srv.first.cookie_for("renfu-grid") if listeners == "member" else None
        row = measure(srv.urls, live_session(info)["join_code"], n, seconds, srv.pids, [f"Cookie: {cookie}"],
                      workers, listener_cookie=listener)
        row["listeners"] = listeners
        row["server_log_errors"] = srv.log_errors()
        return row, info
    finally:
        srv.kill()


def run_scaleout(args: argparse.Namespace) -> None:
    """Every (configuration, N) on a fresh database and fresh processes: a killed server
    leaves connection rows that the next one would sweep (presence broadcasts) mid-run."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    configs = [(p, r) for p, r in ((1, False), (1, True), (2, True)) if f"{p}{'r' if r else ''}" in args.configs]
    alive = {(c, m): True for c in configs for m in args.modes}
    with redis_db(tmp) as queue:
        for n in args.steps:
            for mode in args.modes:
                base = None
                for processes, with_redis in configs:
                    if not alive[((processes, with_redis), mode)]:
                        continue
                    with database("postgres", tmp) as url:
                        row, _ = broadcast_step(tmp, url, mode=mode, processes=processes,
                                                queue=queue if with_redis else None, n=n, seconds=args.seconds,
                                                workers=workers_for(n, args.workers), info=None,
                                                listeners=args.listeners)
                    row = {"scenario": "scaleout", "mode": mode, "processes": processes, "redis": with_redis, **row}
                    if processes == 1 and not with_redis:
                        base = row
                    elif base is not None and base.get("p99_ms") and row.get("p99_ms"):
                        row["p99_vs_1proc"] = round(row["p99_ms"] / base["p99_ms"], 2)
                        row["p99_minus_1proc_ms"] = round(row["p99_ms"] - base["p99_ms"], 1)
                    emit(row)
                    if row["joined"] < n or (row["p99_ms"] or 1e9) > args.limit_ms:
                        alive[((processes, with_redis), mode)] = False
            if not any(alive.values()):
                break
    cleanup(tmp)


# ---------------------------------------------------------------------------
# reconnect storm


def run_storm(args: argparse.Namespace) -> None:
    from tests.plugins.discussion.live_server import live_session

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    with database(args.db, tmp) as url, (redis_db(tmp) if args.processes > 1 else nullcontext()) as queue:
        srv = Servers(tmp, url, mode=args.mode, count=args.processes, queue=queue,
                      threads=args.clients // args.processes + 60)
        try:
            info = prepare_demo(srv.first)
            srv.start()
            code = live_session(info)["join_code"]
            cookie = srv.first.cookie_for("renfu-host")
            Conn = loadgen.make_conn_class()
            host = Conn(srv.first.url, [f"Cookie: {cookie}"])
            host.open(["/live"])
            assert host.call("/live", "join", {"code": code, "since": None}).get("ok")
            listener = srv.first.cookie_for("renfu-grid") if args.listeners == "member" else None
            clients = [{"code": code, "name": f"s{i}", "cookie": listener, "server": i} for i in range(args.clients)]
            workers = workers_for(args.clients, args.workers)
            t_join = time.time()
            pool = loadgen.Pool("live_storm", clients, workers=workers,
                                common={"urls": srv.urls, "connect_parallel": args.parallel})
            try:
                ready = pool.ready()
                joined = sum(r["ready"] for r in ready)
                cold = time.time() - t_join
                stop = [False]
                pins = [0]
                run = os.urandom(4).hex()

                def pinning() -> None:
                    while not stop[0]:
                        pins[0] += 1
                        host.emit("/live", "pin", {"cid": f"storm{run}{pins[0]:07d}", "text": f"第{pins[0]}条"},
                                  lambda a: None)
                        gevent.sleep(0.25)

                g = gevent.spawn(pinning)
                gevent.sleep(3)
                cpu0 = sum(loadgen.proc_stats(p)[0] for p in srv.pids)
                gen0 = pool.cpu_seconds() + self_cpu()
                t0 = time.time()
                pool.command("drop", window=args.window, delay=0.5)
                gevent.sleep(args.window + args.settle)
                stop[0] = True
                g.join()
                gevent.sleep(3)
                elapsed = time.time() - t0
                final = host.call("/live", "sync", {"since": 0})
                final_seq = final.get("seq")
                cpu1 = sum(loadgen.proc_stats(p)[0] for p in srv.pids)
                rss = sum(loadgen.proc_stats(p)[1] for p in srv.pids)
                gen1 = pool.cpu_seconds() + self_cpu()
                results = pool.results()
            finally:
                pool.close()
                host.close()
            errors = srv.log_errors()
        finally:
            srv.kill()
    cleanup(tmp)
    recs = [r for res in results for r in res["reconnects"]]
    ok = [r for r in recs if r[2]]
    missed = dup = snapshots = replayed = 0
    clients_missing = 0
    for res in results:
        for c in res["clients"]:
            seen = c["seen"]
            covered = set(seen)
            for lo, hi in c["snapshots"]:
                covered.update(range(lo, hi + 1))
                snapshots += 1
            m = sum(1 for s in range(c["base"] + 1, final_seq + 1) if s not in covered)
            missed += m
            clients_missing += m > 0
            dup += len(seen) - len(set(seen))
            replayed += c["replayed"]
    span = (max(r[1] for r in ok) - min(r[0] for r in ok)) if ok else 0.0
    durations = [r[1] - r[0] for r in ok]
    emit({"scenario": "storm", "mode": args.mode, "db": args.db, "listeners": args.listeners,
          "processes": args.processes, "parallel": args.parallel, "clients": args.clients, "joined": joined,
          "cold_join_s": round(cold, 1), "cold_joins_per_s": round(joined / cold, 1) if cold else None,
          "pins": pins[0], "final_seq": final_seq, "window_s": args.window,
          "reconnected": len(ok), "reconnect_failed": len(recs) - len(ok),
          "reconnect_unanswered": sum(res.get("pending", 0) for res in results),
          "reconnect_errors": [e for res in results for e in res["reconnect_errors"]][:3],
          "reconnect_span_s": round(span, 1), "reconnects_per_s": round(len(ok) / span, 1) if span else None,
          "rejoin_p50_ms": loadgen.quantiles(durations)["p50_ms"], "rejoin_p99_ms": loadgen.quantiles(durations)["p99_ms"],
          "events_replayed": replayed, "snapshot_fallbacks": snapshots,
          "events_missed": missed, "clients_with_misses": clients_missing, "duplicate_deliveries": dup,
          "server_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1), "rss_mb": round(rss / 2**20, 1),
          "generator_cpu_pct": round(100 * (gen1 - gen0) / elapsed, 1), "workers": workers,
          "server_log_errors": errors})


# ---------------------------------------------------------------------------
# many sessions at once


def run_sessions(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    n = args.sessions * args.per_session
    with database(args.db, tmp) as url:
        srv = Servers(tmp, url, mode=args.mode, threads=n + 60)
        try:
            data = seed(srv.first, sessions=args.sessions, members=args.per_session, method="majority", options=None)
            srv.start()
            clients = [{"token": t, "code": s["code"], "motion_id": s["motion_id"]}
                       for s in data["sessions"] for t in s["tokens"]]
            workers = workers_for(n, args.workers)
            t_join = time.time()
            pool = loadgen.Pool("sessions", clients, workers=workers, common={"urls": srv.urls, "connect_parallel": 20})
            try:
                ready = pool.ready()
                joined = sum(r["ready"] for r in ready)
                join_s = time.time() - t_join
                gevent.sleep(2)
                cpu0 = sum(loadgen.proc_stats(p)[0] for p in srv.pids)
                gen0 = pool.cpu_seconds() + self_cpu()
                m0 = loadgen.machine_cpu()
                t0 = time.time()
                pool.command("go", message_rate=args.message_rate / workers, vote_rate=args.vote_rate / workers,
                             until=t0 + args.seconds)
                gevent.sleep(args.seconds + 3)
                elapsed = time.time() - t0
                cpu1 = sum(loadgen.proc_stats(p)[0] for p in srv.pids)
                rss = sum(loadgen.proc_stats(p)[1] for p in srv.pids)
                gen1 = pool.cpu_seconds() + self_cpu()
                m1 = loadgen.machine_cpu()
                results = pool.results()
            finally:
                pool.close()
            errors = srv.log_errors()
        finally:
            srv.kill()
    cleanup(tmp)
    msg = [x for r in results for x in r["msg_acks"]]
    vote = [x for r in results for x in r["vote_acks"]]
    delivery = [x for r in results for x in r["delivery"]]
    qm, qv, qd = loadgen.quantiles(msg), loadgen.quantiles(vote), loadgen.quantiles(delivery)
    emit({"scenario": "sessions", "mode": args.mode, "db": args.db, "sessions": args.sessions,
          "per_session": args.per_session, "clients": n, "joined": joined, "join_s": round(join_s, 1),
          "message_rate": args.message_rate, "vote_rate": args.vote_rate, "seconds": args.seconds,
          "messages_acked": len(msg), "votes_acked": len(vote),
          "acked_per_s": round((len(msg) + len(vote)) / args.seconds, 1),
          "errors": sum(r["error_count"] for r in results), "error_sample": [e for r in results for e in r["errors"]][:3],
          "message_ack_p50_ms": qm["p50_ms"], "message_ack_p99_ms": qm["p99_ms"],
          "vote_ack_p50_ms": qv["p50_ms"], "vote_ack_p99_ms": qv["p99_ms"],
          "deliveries": len(delivery), "deliveries_expected": len(msg) * args.per_session,
          "delivery_p50_ms": qd["p50_ms"], "delivery_p99_ms": qd["p99_ms"],
          "server_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1), "rss_mb": round(rss / 2**20, 1),
          "generator_cpu_pct": round(100 * (gen1 - gen0) / elapsed, 1),
          "machine_busy_pct": round(100 * (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1]), 1), "workers": workers,
          "server_log_errors": errors})


LISTENERS = ("member: every listener signs in as one member (one presence event); guests: each a guest of its own, "
             "so every join and every reconnection broadcasts presence to the whole room (O(N²) sends)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="scenario", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--mode", default="gevent", choices=["gevent", "threading"])
    common.add_argument("--db", default="postgres", choices=["postgres", "sqlite"])
    common.add_argument("--workers", type=int, default=0, help="load-generator processes (0: one per 1,000 clients)")
    common.add_argument("--seconds", type=float, default=20)
    p = sub.add_parser("votes", parents=[common])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--node", action="store_true", help="the same load against the Node socket.io peer too")
    p = sub.add_parser("scaleout", parents=[common])
    p.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 1500, 2000, 3000])
    p.add_argument("--modes", nargs="+", default=["gevent"])
    p.add_argument("--configs", nargs="+", default=["1", "1r", "2r"], help="1: one process; 1r: + Redis; 2r: two + Redis")
    p.add_argument("--limit-ms", type=float, default=250)
    p.add_argument("--listeners", choices=["guests", "member"], default="member", help=LISTENERS)
    p = sub.add_parser("storm", parents=[common])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--window", type=float, default=10)
    p.add_argument("--settle", type=float, default=10)
    p.add_argument("--processes", type=int, default=1, help="server processes sharing the room through Redis")
    p.add_argument("--parallel", type=int, default=20,
                   help="joins and re-joins in flight at once per generator process (phones do not wait for each other)")
    p.add_argument("--listeners", choices=["guests", "member"], default="member", help=LISTENERS)
    p = sub.add_parser("sessions", parents=[common])
    p.add_argument("--sessions", type=int, default=50)
    p.add_argument("--per-session", type=int, default=40)
    p.add_argument("--message-rate", type=float, default=100)
    p.add_argument("--vote-rate", type=float, default=100)
    args = ap.parse_args()
    loadgen.raise_fd_limit()
    {"votes": run_votes, "scaleout": run_scaleout, "storm": run_storm, "sessions": run_sessions}[args.scenario](args)


if __name__ == "__main__":
    main()
