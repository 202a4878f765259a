"""Live-room broadcast benchmark (not a test): one server process, one room, N websocket
clients, the host pinning a 150-byte update 4 times a second. Reports p50/p99 latency
(send → receive, same clock), clients joined, deliveries, server CPU and memory, the
load generator's own CPU, per async mode, and the same load against a minimal Node
socket.io 4 server (bench/node/server.js) in the same run, with the ratios to it.

    flock /tmp/courtyard-bench.lock .venv/bin/python bench/bench_live.py \\
        --clients 500 1000 2000 --modes threading gevent --node --seconds 20

The clients come from bench/loadgen.py (the load generator every live benchmark uses):
gevent greenlets speaking Engine.IO 4 / Socket.IO 5 over websocket-client, spread over
``--workers`` processes (default: one per 1,000 clients).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Iterator  # noqa: E402

import gevent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loadgen  # noqa: E402

NODE_DIR = ROOT / "bench" / "node"


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(url: str | list[str], code: str, n: int, seconds: float, server_pid: int | list[int],
            host_headers: list[str], workers: int, guest_host: bool = False, listener_cookie: str | None = None) -> dict:
    """The same load for every server: N listeners (guests) in ``workers`` processes, one
    host pinning ``t=<time>;…`` 4 times a second for ``seconds``. With several server
    URLs (processes sharing rooms through Redis) the listeners are dealt out round-robin
    and the host is on the first. ``listener_cookie``: every listener signs in as that one
    member instead of being a guest of its own (see ``--listeners``)."""
    urls = [url] if isinstance(url, str) else list(url)
    pids = [server_pid] if isinstance(server_pid, int) else list(server_pid)
    url = urls[0]
    Conn = loadgen.make_conn_class()
    host = Conn(url, host_headers)
    host.open(["/live"])
    ack = host.call("/live", "join", {"code": code, "since": None, "guest_name": "host" if guest_host else None})
    assert ack.get("ok"), ack
    clients = [{"code": code, "name": f"p{i}", "server": i % len(urls), "cookie": listener_cookie} for i in range(n)]
    t_join = time.time()
    pool = loadgen.Pool("live_listen", clients, workers=workers,
                        common={"urls": urls, "connect_parallel": 20, "join_timeout": 240})
    try:
        ready = pool.ready()
        joined = sum(r["ready"] for r in ready)
        join_seconds = round(time.time() - t_join, 1)
        gevent.sleep(3)  # let the join traffic (presence broadcasts) drain
        pool.command("go")
        cpu0 = sum(loadgen.proc_stats(p)[0] for p in pids)
        gen0 = pool.cpu_seconds() + self_cpu()
        m0 = loadgen.machine_cpu()
        t0 = time.time()
        k = 0
        run = os.urandom(4).hex()  # a cid already stored (same host, earlier run) is a duplicate: no broadcast
        acks: list[float] = []
        while time.time() - t0 < seconds:
            k += 1
            text = (f"t={time.time():.6f};" + "x" * 150)[:150]
            host.emit("/live", "pin", {"cid": f"bench{run}{k:08d}", "text": text},
                      lambda a, t=time.time(): acks.append(time.time() - t))
            gevent.sleep(max(0.0, t0 + k * 0.25 - time.time()))
        gevent.sleep(2)
        elapsed = time.time() - t0
        cpu1 = sum(loadgen.proc_stats(p)[0] for p in pids)
        rss = sum(loadgen.proc_stats(p)[1] for p in pids)
        gen1 = pool.cpu_seconds() + self_cpu()
        m1 = loadgen.machine_cpu()
        results = pool.results()
    finally:
        pool.close()
        host.close()
    lat = [x for r in results for x in r["latencies"]]
    q = loadgen.quantiles(lat)
    return {"clients": n, "joined": joined, "join_s": join_seconds,
            "join_errors": [e for r in ready for e in r["errors"]][:3],
            "updates": k, "received": len(lat), "expected": k * joined,
            "p50_ms": q["p50_ms"], "p99_ms": q["p99_ms"], "max_ms": q["max_ms"],
            "pin_ack_p50_ms": loadgen.quantiles(acks)["p50_ms"],
            "server_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1), "rss_mb": round(rss / 2**20, 1),
            "generator_cpu_pct": round(100 * (gen1 - gen0) / elapsed, 1),
            "machine_busy_pct": round(100 * (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1]), 1),
            "workers": workers}


def courtyard(mode: str, n: int, seconds: float, workers: int, listeners: str = "guests") -> dict:
    from tests.plugins.discussion.live_server import LiveServer, live_session

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    srv = LiveServer(tmp, async_mode=mode, threads=n + 50)
    try:
        info = srv.prepare()
        srv.start()
        cookie = srv.cookie_for("renfu-host")
        listener = srv.cookie_for("renfu-grid") if listeners == "member" else None
        row = measure(srv.url, live_session(info)["join_code"], n, seconds, srv.proc.pid, [f"Cookie: {cookie}"],
                      workers, listener_cookie=listener)
        errors = [line for line in srv.log.read_text(errors="replace").splitlines()
                  if ("Traceback" in line or "ERROR" in line or "Error" in line) and "MonkeyPatchWarning" not in line]
        return {"server": f"courtyard-{mode}", "listeners": listeners, **row, "server_log_errors": errors[:5]}
    finally:
        srv.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_node() -> None:
    if not (NODE_DIR / "node_modules" / "socket.io").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"], cwd=NODE_DIR, check=True)


@contextmanager
def node_server() -> Iterator[tuple[str, int]]:
    """The Node socket.io peer (bench/node/server.js) on a free port: (url, pid)."""
    from tests.plugins.discussion.live_server import free_port

    ensure_node()
    port = free_port()
    proc = subprocess.Popen(["node", "server.js"], cwd=NODE_DIR, env={**os.environ, "PORT": str(port)},
                            stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.kill()
        proc.wait()


def node(n: int, seconds: float, workers: int) -> dict:
    with node_server() as (url, pid):
        return {"server": "node-socket.io", **measure(url, "X", n, seconds, pid, [], workers, guest_host=True)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--modes", nargs="+", default=["threading", "gevent"])
    ap.add_argument("--node", action="store_true")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=0, help="load-generator processes (0: one per 1,000 clients)")
    ap.add_argument("--listeners", choices=["guests", "member"], default="guests",
                    help="guests: each listener a guest of its own (each join broadcasts presence to the room, "
                         "so joining N costs O(N²) sends); member: all sign in as one member (one presence event)")
    args = ap.parse_args()
    loadgen.raise_fd_limit()
    for n in args.clients:
        workers = args.workers or max(1, math.ceil(n / 1000))
        rows = [courtyard(mode, n, args.seconds, workers, args.listeners) for mode in args.modes]
        if args.node:
            rows.append(node(n, args.seconds, workers))
            base = rows[-1]
            for row in rows[:-1]:
                for key in ("p50_ms", "p99_ms", "server_cpu_pct", "rss_mb"):
                    if row.get(key) is not None and base.get(key):
                        row[f"{key}_vs_node"] = round(row[key] / base[key], 2)
        for row in rows:
            print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
