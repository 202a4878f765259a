"""Live-room broadcast benchmark (not a test): one server process, one room, N websocket
clients from one load generator, the host pinning a 150-byte update 4 times a second.
Reports p50/p99 latency (send → receive, same clock), server CPU and memory, per async
mode, and against a minimal Node socket.io 4 server (bench/node/server.js; the npm package
socket.io is installed into bench/node/ on first use).

    .venv/bin/python bench/bench_live.py --clients 500 1000 2000 --modes threading gevent --node --seconds 20

The load generator speaks the Engine.IO 4 / Socket.IO 5 wire protocol directly over
websocket-client in gevent greenlets, so 2,000 clients fit in one process.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import websocket  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NODE_SERVER = r"""
const { Server } = require("socket.io");
const io = new Server(+process.env.PORT, { pingInterval: 10000, pingTimeout: 20000 });
const live = io.of("/live");
live.on("connection", (s) => {
  s.on("join", (d, ack) => { s.join("room"); ack && ack({ ok: true, you: {}, seq: 0, events: [] }); });
  s.on("pin", (d, ack) => { live.to("room").emit("event", { seq: 0, kind: "pinned", data: { text: d.text } }); ack && ack({ ok: true }); });
});
"""


def proc_stats(pid: int) -> tuple[float, int]:
    """(cpu seconds, rss bytes) of a process and its children."""
    total_cpu, total_rss = 0.0, 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total_cpu += (int(fields[11]) + int(fields[12])) / tick
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_rss += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total_cpu, total_rss


class WireClient:
    def __init__(self, url: str, code: str, name: str, latencies: list[float], cookie: str | None = None):
        self.url, self.code, self.name, self.lat, self.cookie = url, code, name, latencies, cookie
        self.ws: websocket.WebSocket | None = None
        self.ready = False

    def run(self) -> None:
        ws_url = self.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        headers = [f"Cookie: {self.cookie}"] if self.cookie else []
        self.ws = ws = websocket.create_connection(ws_url, header=headers, origin=self.url, timeout=120)
        ws.recv()  # 0{...} open
        ws.send("40/live,")
        ws.recv()  # 40/live,{sid}
        join = {"code": self.code, "since": None, "guest_name": None if self.cookie else self.name}
        ws.send("42/live,1" + json.dumps(["join", join]))
        while True:
            msg = ws.recv()
            if msg == "2":
                ws.send("3")
            elif msg.startswith("43/live,1"):
                self.ready = True
            elif msg.startswith("42/live,"):
                payload = json.loads(msg[len("42/live,"):])
                text = (payload[1].get("data") or {}).get("text") or ""
                if text.startswith("t="):
                    self.lat.append(time.time() - float(text[2:].split(";")[0]))

    def emit(self, n: int, event: str, data: dict) -> None:
        assert self.ws is not None
        self.ws.send(f"42/live,{n}" + json.dumps([event, data]))


def run_one(url: str, code: str, n: int, seconds: float, pid: int, cookie: str | None) -> dict:
    latencies: list[float] = []
    clients = [WireClient(url, code, f"p{i}", latencies) for i in range(n)]
    host = WireClient(url, code, "host", [], cookie=cookie)
    greenlets = [gevent.spawn(host.run)]
    for i, c in enumerate(clients):
        greenlets.append(gevent.spawn(c.run))
        if i % 50 == 0:
            gevent.sleep(0.05)  # ramp up
    deadline = time.time() + 120
    while time.time() < deadline and not (host.ready and sum(c.ready for c in clients) == n):
        gevent.sleep(0.2)
    joined = sum(c.ready for c in clients)
    latencies.clear()
    cpu0, _ = proc_stats(pid)
    t0 = time.time()
    k = 0
    while time.time() - t0 < seconds:
        k += 1
        text = f"t={time.time():.6f};" + "x" * 130
        host.emit(k + 1, "pin", {"cid": f"bench{k:08d}", "text": text[:150]})
        gevent.sleep(0.25)
    gevent.sleep(2)
    cpu1, rss = proc_stats(pid)
    gevent.killall(greenlets, block=False)
    lat = sorted(latencies)
    q = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)) if lat else (lambda p: None)
    return {"clients": n, "joined": joined, "updates": k, "received": len(lat), "expected": k * joined,
            "p50_ms": q(0.50), "p99_ms": q(0.99), "mean_ms": round(statistics.mean(lat) * 1000, 1) if lat else None,
            "cpu_percent": round(100 * (cpu1 - cpu0) / (time.time() - t0), 1), "rss_mb": round(rss / 2**20, 1)}


def courtyard(mode: str, n: int, seconds: float) -> dict:
    from tests.plugins.discussion.live_server import LiveServer, live_session

    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    srv = LiveServer(tmp, async_mode=mode, threads=n + 50)
    info = srv.prepare()
    srv.start()
    try:
        cookie = srv.cookie_for("renfu-host")
        return {"server": f"courtyard-{mode}", **run_one(srv.url, live_session(info)["join_code"], n, seconds,
                                                          srv.proc.pid, cookie)}
    finally:
        srv.kill()


def node(n: int, seconds: float) -> dict:
    here = ROOT / "bench" / "node"
    if not (here / "node_modules" / "socket.io").exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "socket.io@4"], cwd=here, check=True)
    (here / "server.js").write_text(NODE_SERVER)
    from tests.plugins.discussion.live_server import free_port

    port = free_port()
    proc = subprocess.Popen(["node", "server.js"], cwd=here, env={**os.environ, "PORT": str(port)})
    time.sleep(1.0)
    try:
        return {"server": "node-socket.io", **run_one(f"http://127.0.0.1:{port}", "X", n, seconds, proc.pid, None)}
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--modes", nargs="+", default=["threading", "gevent"])
    ap.add_argument("--node", action="store_true")
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    for n in args.clients:
        rows = [courtyard(mode, n, args.seconds) for mode in args.modes]
        if args.node:
            rows.append(node(n, args.seconds))
        for row in rows:
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
