"""The load generator shared by every live benchmark (bench_live.py, bench_scale.py).

Each simulated phone is one Engine.IO 4 websocket (websocket-client, in a gevent
greenlet) speaking the Socket.IO 5 wire protocol directly; one connection can carry
several namespaces (``/live`` and ``/vote``), as the browser client does. Clients are
spread over several worker *processes* (``python bench/loadgen.py worker``), each
driven over its stdin/stdout with one JSON object per line, so that 2,000+ sockets are
not all serialised on one Python interpreter:

    parent → worker: {"spec": {...}}            the role, the server URL(s), the clients
    worker → parent: {"ready": joined, ...}      every client connected and joined
    parent → worker: {"cmd": "go", ...}          start the measured phase (role dependent)
    parent → worker: {"cmd": "drop", ...}        (storm) close every socket and reconnect
    parent → worker: {"cmd": "stop"}             stop, report
    worker → parent: {"result": {...}}           raw measurements; the parent merges them

Latencies are measured on one clock (``time.time()`` of the same machine) between
processes. ``Pool.cpu_seconds()`` is the generator's own CPU (parent + workers), so the
reports can state how much of the 2 cores the generator took.

Roles (``spec["role"]``):

* ``live_listen``  — join a /live session (guest or cookie) and time every ``pinned`` event
  whose text starts with ``t=<send time>;``.
* ``vote_watch``   — member with an API token on /vote: ``watch`` one motion; on ``go``, cast
  votes at ``rate`` per second (this worker's share) and record every ``tally`` received.
* ``live_storm``   — join /live as a guest; remember the last seq; on ``drop`` close the
  socket and re-join with ``since`` and the guest token, paced over ``window`` seconds;
  report every seq seen (live or replayed) so the parent counts misses and duplicates.
* ``sessions``     — member with a token on /live (its session) and /vote (its session's
  motion) over one socket; on ``go``, send ``message`` and ``vote`` at the given rates;
  record ack latencies and message delivery latencies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------
# /proc helpers (no gevent needed)


def proc_tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            children = []
        todo.extend(int(c) for c in children)
    return pids


def proc_stats(pid: int) -> tuple[float, int]:
    """(cpu seconds, rss bytes) of a process and its descendants."""
    cpu, rss = 0.0, 0
    for p in proc_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return cpu, rss


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, to report everyone's CPU share."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


def quantiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    v = sorted(values)

    def q(p: float) -> float:
        return round(1000 * v[min(len(v) - 1, int(p * len(v)))], 1)

    return {"n": len(v), "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": round(1000 * v[-1], 1)}


def raise_fd_limit() -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


# ---------------------------------------------------------------------------
# the parent side: a pool of worker processes


class Worker:
    def __init__(self, spec: dict[str, Any], index: int):
        self.index = index
        self.proc = subprocess.Popen([sys.executable, str(HERE / "loadgen.py"), "worker"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.send({"spec": spec})

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def read(self, key: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"load worker {self.index} exited (code {self.proc.poll()})")
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if key in msg:
                return msg

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Pool:
    """``workers`` processes, the clients dealt out round-robin; every command goes to all."""

    def __init__(self, role: str, clients: list[dict[str, Any]], *, workers: int, common: dict[str, Any]):
        self.workers: list[Worker] = []
        shares = [clients[i::workers] for i in range(workers)]
        for i, share in enumerate(shares):
            self.workers.append(Worker({"role": role, "clients": share, "worker": i, "workers": workers,
                                        **common}, i))

    def ready(self) -> list[dict[str, Any]]:
        return [w.read("ready") for w in self.workers]

    def command(self, cmd: str, **kw: Any) -> None:
        for w in self.workers:
            w.send({"cmd": cmd, **kw})

    def wait(self, key: str) -> list[dict[str, Any]]:
        return [w.read(key) for w in self.workers]

    def results(self) -> list[dict[str, Any]]:
        self.command("stop")
        return [w.read("result")["result"] for w in self.workers]

    def cpu_seconds(self) -> float:
        return sum(proc_stats(w.proc.pid)[0] for w in self.workers)

    def close(self) -> None:
        for w in self.workers:
            w.kill()


# ---------------------------------------------------------------------------
# the wire client (imported by workers and by parents that drive a host)


READER_ERRORS = 0


def make_conn_class():  # imported lazily: gevent must patch before websocket is imported
    import gevent
    import gevent.event
    import websocket

    class Conn:
        """One Engine.IO 4 websocket with Socket.IO 5 namespaces on it."""

        def __init__(self, url: str, headers: list[str] | None = None):
            self.url = url
            self.headers = headers or []
            self.ws: Any = None
            self.acks: dict[int, Callable[[Any], None]] = {}
            self.handlers: dict[tuple[str, str], Callable[[Any], None]] = {}
            self.connected: dict[str, gevent.event.Event] = {}
            self.next_id = 0
            self.closed = False
            self.reader: Any = None

        def open(self, namespaces: list[str], timeout: float = 60) -> None:
            ws_url = self.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
            self.ws = websocket.create_connection(ws_url, header=self.headers, origin=self.url, timeout=timeout,
                                                  enable_multithread=False, skip_utf8_validation=True)
            self.ws.recv()  # 0{"sid":...,"pingInterval":...}
            self.closed = False
            for ns in namespaces:
                self.connected[ns] = gevent.event.Event()
                self.ws.send(f"40{ns},")
            self.reader = gevent.spawn(self._read)
            for ns in namespaces:
                if not self.connected[ns].wait(timeout):
                    raise TimeoutError(f"namespace {ns} not connected")

        def on(self, ns: str, event: str, fn: Callable[[Any], None]) -> None:
            self.handlers[(ns, event)] = fn

        def emit(self, ns: str, event: str, data: Any, callback: Callable[[Any], None] | None = None) -> None:
            if callback is None:
                self.ws.send(f"42{ns}," + json.dumps([event, data]))
                return
            self.next_id += 1
            self.acks[self.next_id] = callback
            self.ws.send(f"42{ns},{self.next_id}" + json.dumps([event, data]))

        def call(self, ns: str, event: str, data: Any, timeout: float = 60) -> Any:
            result = gevent.event.AsyncResult()
            self.emit(ns, event, data, result.set)
            return result.get(timeout=timeout)

        def _read(self) -> None:
            """Read frames in bulk: one ``recv`` takes whatever has arrived and every whole
            frame in it is handled (websocket-client's own ``recv`` makes two or three
            system calls a message — header, extended length, payload — which at a
            thousand sockets made the generator, not the server, the slower side)."""
            sock, buf = self.ws.sock, bytearray()
            try:
                while True:
                    chunk = sock.recv(262144)
                    if not chunk:
                        break
                    buf += chunk
                    pos, end = 0, len(buf)
                    while end - pos >= 2:
                        first, size, head = buf[pos], buf[pos + 1] & 0x7F, 2
                        if size == 126:
                            if end - pos < 4:
                                break
                            size, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
                        elif size == 127:
                            if end - pos < 10:
                                break
                            size, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
                        if end - pos < head + size:
                            break
                        payload = bytes(buf[pos + head:pos + head + size])
                        pos += head + size
                        opcode = first & 0x0F
                        if opcode == 0x1:  # the server sends whole messages, never fragments
                            self._message(payload.decode("utf-8"))
                        elif opcode == 0x9:
                            self.ws.pong(payload)
                        elif opcode == 0x8:
                            raise ConnectionError("the server closed the websocket")
                    del buf[:pos]
            except Exception as exc:  # the connection is lost to the run: say why, once per process
                global READER_ERRORS
                READER_ERRORS += 1
                if READER_ERRORS <= 3:
                    sys.stderr.write(f"loadgen: a reader stopped: {type(exc).__name__}: {exc}\n")
            self.closed = True

        def _message(self, msg: str) -> None:
            if msg == "2":
                self.ws.send("3")
                return
            if msg[0] != "4":
                return
            kind, rest = msg[1], msg[2:]
            ns = "/"
            if rest.startswith("/"):
                ns, rest = rest.split(",", 1)
            i = 0
            while i < len(rest) and rest[i].isdigit():
                i += 1
            ack_id, body = (int(rest[:i]) if i else None), rest[i:]
            if kind == "0":
                if ns in self.connected:
                    self.connected[ns].set()
            elif kind == "2":
                data = json.loads(body)
                fn = self.handlers.get((ns, data[0]))
                if fn is not None:
                    fn(data[1] if len(data) > 1 else None)
            elif kind == "3" and ack_id is not None:
                fn = self.acks.pop(ack_id, None)
                if fn is not None:
                    data = json.loads(body)
                    fn(data[0] if data else None)

        def close(self) -> None:
            """Drop the connection at once (no close handshake to wait for, as when a
            phone loses its network): the server sees the socket close."""
            self.closed = True
            if self.reader is not None:
                self.reader.kill(block=False)
            try:
                self.ws.shutdown()
            except Exception:
                pass

    return Conn


# ---------------------------------------------------------------------------
# worker process


def worker_main() -> None:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import gevent.lock
    import gevent.queue

    raise_fd_limit()
    Conn = make_conn_class()
    out_lock = gevent.lock.Semaphore()

    def say(obj: dict[str, Any]) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    from gevent.fileobject import FileObjectPosix

    stdin = FileObjectPosix(0, "rb")  # cooperative: a blocking read would stall every socket
    spec = json.loads(stdin.readline())["spec"]
    commands: gevent.queue.Queue = gevent.queue.Queue()

    def read_commands() -> None:
        while True:
            line = stdin.readline()
            if not line:
                break
            commands.put(json.loads(line))
        commands.put({"cmd": "stop"})

    role = ROLES[spec["role"]](spec, Conn)
    gate = gevent.lock.BoundedSemaphore(spec.get("connect_parallel", 25))
    errors: list[str] = []

    def start(c: Any) -> None:
        with gate:
            try:
                role.connect(c)
            except Exception as exc:  # counted as not joined
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    t0 = time.time()
    greenlets = []
    pace = spec.get("connect_pace", 0.0)  # seconds between connection starts
    for c in role.clients:
        greenlets.append(gevent.spawn(start, c))
        if pace:
            gevent.sleep(pace)
    gevent.joinall(greenlets, timeout=spec.get("join_timeout", 240))
    say({"ready": role.joined(), "of": len(role.clients), "seconds": round(time.time() - t0, 2),
         "errors": errors[:5], "error_count": len(errors)})
    gevent.spawn(read_commands)
    while True:
        cmd = commands.get()
        if cmd["cmd"] == "stop":
            role.stop()
            say({"result": role.result()})
            break
        getattr(role, "cmd_" + cmd["cmd"])(cmd)
    os._exit(0)  # do not wait for sockets to close politely


class Role:
    def __init__(self, spec: dict[str, Any], Conn: Any):
        import gevent

        self.gevent = gevent
        self.spec = spec
        self.Conn = Conn
        self.clients = [dict(c) for c in spec["clients"]]
        self.running = False

    def url_for(self, c: dict[str, Any]) -> str:
        urls = self.spec["urls"]
        return urls[c.get("server", 0) % len(urls)]

    def headers_for(self, c: dict[str, Any]) -> list[str]:
        h = []
        if c.get("cookie"):
            h.append(f"Cookie: {c['cookie']}")
        if c.get("token"):
            h.append(f"Authorization: Bearer {c['token']}")
        return h

    def joined(self) -> int:
        return sum(1 for c in self.clients if c.get("ready"))

    def stop(self) -> None:
        self.running = False


class LiveListen(Role):
    def __init__(self, spec: dict[str, Any], Conn: Any):
        super().__init__(spec, Conn)
        self.lat: list[float] = []
        self.measuring = False

    def connect(self, c: dict[str, Any]) -> None:
        conn = c["conn"] = self.Conn(self.url_for(c), self.headers_for(c))
        conn.open(["/live"], timeout=self.spec.get("join_timeout", 240))

        def on_event(ev: Any) -> None:
            text = ((ev or {}).get("data") or {}).get("text") or ""
            if self.measuring and text.startswith("t="):
                self.lat.append(time.time() - float(text[2:].split(";", 1)[0]))

        conn.on("/live", "event", on_event)
        ack = conn.call("/live", "join", {"code": c["code"], "since": None,
                                          "guest_name": None if (c.get("cookie") or c.get("token")) else c["name"]},
                        timeout=self.spec.get("join_timeout", 240))
        if not (ack or {}).get("ok"):
            raise RuntimeError(f"join refused: {json.dumps(ack)[:150]}")
        c["ready"] = True

    def cmd_go(self, cmd: dict[str, Any]) -> None:
        self.measuring = True

    def result(self) -> dict[str, Any]:
        return {"latencies": [round(x, 6) for x in self.lat]}


class VoteWatch(Role):
    """Votes walk up the options o1, o2, … so that Σ k·count(o_k) grows by exactly one per
    committed vote: the tally tells how many votes it includes."""

    def __init__(self, spec: dict[str, Any], Conn: Any):
        super().__init__(spec, Conn)
        self.votes: list[tuple[float, float, bool]] = []  # (emit, ack, ok)
        self.vote_errors: list[str] = []
        self.options: list[str] = spec["options"]

    def connect(self, c: dict[str, Any]) -> None:
        conn = c["conn"] = self.Conn(self.url_for(c), self.headers_for(c))
        conn.open(["/vote"], timeout=self.spec.get("join_timeout", 240))
        c["tallies"] = []
        c["n"] = 0
        index = {o: k for k, o in enumerate(self.options)}

        def on_tally(ev: Any) -> None:
            counts = ((ev or {}).get("result") or {}).get("counts") or {}
            c["tallies"].append((sum(index.get(o, 0) * int(n) for o, n in counts.items()), time.time()))

        conn.on("/vote", "tally", on_tally)
        ack = conn.call("/vote", "watch", {"motion_id": self.spec["motion_id"]},
                        timeout=self.spec.get("join_timeout", 240))
        if not (ack or {}).get("ok"):
            raise RuntimeError(f"watch refused: {json.dumps(ack)[:150]}")
        c["ready"] = True

    def cmd_go(self, cmd: dict[str, Any]) -> None:
        self.running = True
        self.gevent.spawn(self._drive, cmd["rate"], cmd["until"])

    def _drive(self, rate: float, until: float) -> None:
        ready = [c for c in self.clients if c.get("ready")]
        if not ready or rate <= 0:
            return
        interval = 1.0 / rate
        nxt = time.time()
        i = 0
        max_per_client = len(self.options) - 1
        while self.running and time.time() < until:
            c = ready[i % len(ready)]
            i += 1
            if c["n"] >= max_per_client:
                if all(x["n"] >= max_per_client for x in ready):
                    break
                continue
            c["n"] += 1
            choice = self.options[c["n"]]
            t_emit = time.time()

            def acked(ack: Any, t_emit: float = t_emit) -> None:
                ok = bool((ack or {}).get("ok"))
                self.votes.append((t_emit, time.time(), ok))
                if not ok and len(self.vote_errors) < 5:
                    self.vote_errors.append(json.dumps(ack)[:200])

            try:
                c["conn"].emit("/vote", "vote", {"cid": uuid.uuid4().hex, "motion_id": self.spec["motion_id"],
                                                 "ballot": {"choice": choice}}, acked)
            except Exception as exc:
                self.vote_errors.append(f"send: {exc}"[:200])
            nxt += interval
            delay = nxt - time.time()
            if delay > 0:
                self.gevent.sleep(delay)
            elif i % 20 == 0:
                self.gevent.sleep(0)

    def result(self) -> dict[str, Any]:
        return {"votes": self.votes, "vote_errors": self.vote_errors,
                "tallies": [c.get("tallies", []) for c in self.clients if c.get("ready")]}


class LiveStorm(Role):
    def __init__(self, spec: dict[str, Any], Conn: Any):
        super().__init__(spec, Conn)
        self.reconnects: list[tuple[float, float, bool]] = []  # (start, done, ok)
        self.pending = 0  # re-joins started and not answered yet
        self.reconnect_errors: list[str] = []

    def _join(self, c: dict[str, Any], since: int | None) -> None:
        conn = c["conn"] = self.Conn(self.url_for(c), self.headers_for(c))
        conn.open(["/live"], timeout=self.spec.get("join_timeout", 240))

        def on_event(ev: Any) -> None:
            seq = (ev or {}).get("seq")
            if isinstance(seq, int):
                c["seen"].append(seq)
                c["last"] = max(c["last"], seq)

        conn.on("/live", "event", on_event)
        payload = {"code": c["code"], "since": since}
        if c.get("cookie") or c.get("token"):
            pass
        elif c.get("guest_token"):
            payload["guest_token"] = c["guest_token"]
        else:
            payload["guest_name"] = c["name"]
        ack = conn.call("/live", "join", payload, timeout=self.spec.get("join_timeout", 240))
        if not (ack or {}).get("ok"):
            raise RuntimeError(f"join refused: {json.dumps(ack)[:150]}")
        you = ack.get("you") or {}
        if you.get("guest_token"):
            c["guest_token"] = you["guest_token"]
        if since is None:  # the first join: a snapshot; count events after its seq
            c["base"] = ack.get("seq", 0)
            c["last"] = max(c["last"], c["base"])
        elif "events" in ack:
            for ev in ack["events"]:
                c["seen"].append(ev["seq"])
                c["replayed"] += 1
            c["last"] = max([c["last"], *[ev["seq"] for ev in ack["events"]]])
        else:  # more than 500 behind: a snapshot covers what was missed
            c["snapshots"].append((since + 1, ack.get("seq", 0)))
            c["last"] = max(c["last"], ack.get("seq", 0))

    def connect(self, c: dict[str, Any]) -> None:
        c.update(seen=[], last=0, base=0, replayed=0, snapshots=[])
        self._join(c, None)
        c["ready"] = True

    def cmd_drop(self, cmd: dict[str, Any]) -> None:
        """Close every socket at once, then reconnect the clients evenly over ``window`` s."""
        import gevent.lock

        ready = [c for c in self.clients if c.get("ready")]
        for c in ready:
            c["conn"].close()
        window = cmd["window"]
        t0 = time.time()
        gate = gevent.lock.BoundedSemaphore(self.spec.get("connect_parallel", 25))

        def again(c: dict[str, Any], at: float) -> None:
            self.gevent.sleep(max(0.0, at - time.time()))
            self.pending += 1
            start = time.time()
            with gate:
                try:
                    self._join(c, c["last"])
                    self.reconnects.append((start, time.time(), True))
                    self.pending -= 1
                except Exception as exc:
                    self.pending -= 1
                    self.reconnects.append((start, time.time(), False))
                    if len(self.reconnect_errors) < 5:
                        self.reconnect_errors.append(f"{type(exc).__name__}: {exc}"[:200])

        for k, c in enumerate(ready):
            self.gevent.spawn(again, c, t0 + cmd.get("delay", 0.5) + window * k / max(1, len(ready)))

    def result(self) -> dict[str, Any]:
        return {"reconnects": self.reconnects, "reconnect_errors": self.reconnect_errors, "pending": self.pending,
                "clients": [{"base": c["base"], "seen": c["seen"], "replayed": c["replayed"],
                             "snapshots": c["snapshots"]} for c in self.clients if c.get("ready")]}


class Sessions(Role):
    def __init__(self, spec: dict[str, Any], Conn: Any):
        super().__init__(spec, Conn)
        self.msg_acks: list[float] = []
        self.vote_acks: list[float] = []
        self.delivery: list[float] = []
        self.errors: list[str] = []
        self.error_count = 0
        self.measuring = False

    def connect(self, c: dict[str, Any]) -> None:
        conn = c["conn"] = self.Conn(self.url_for(c), self.headers_for(c))
        conn.open(["/live", "/vote"], timeout=self.spec.get("join_timeout", 240))
        c["n"] = 0

        def on_event(ev: Any) -> None:
            if (ev or {}).get("kind") != "message" or not self.measuring:
                return
            body = ((ev or {}).get("data") or {}).get("body") or ""
            if body.startswith("t="):
                self.delivery.append(time.time() - float(body[2:].split(";", 1)[0]))

        conn.on("/live", "event", on_event)
        ack = conn.call("/live", "join", {"code": c["code"], "since": None}, timeout=self.spec.get("join_timeout", 240))
        if not (ack or {}).get("ok"):
            raise RuntimeError(f"join refused: {json.dumps(ack)[:150]}")
        ack = conn.call("/vote", "watch", {"motion_id": c["motion_id"]}, timeout=self.spec.get("join_timeout", 240))
        if not (ack or {}).get("ok"):
            raise RuntimeError(f"watch refused: {json.dumps(ack)[:150]}")
        c["ready"] = True

    def _fail(self, what: str) -> None:
        self.error_count += 1
        if len(self.errors) < 5:
            self.errors.append(what[:200])

    def cmd_go(self, cmd: dict[str, Any]) -> None:
        self.running = True
        self.measuring = True
        self.gevent.spawn(self._drive, "message", cmd["message_rate"], cmd["until"])
        self.gevent.spawn(self._drive, "vote", cmd["vote_rate"], cmd["until"])

    def _drive(self, kind: str, rate: float, until: float) -> None:
        ready = [c for c in self.clients if c.get("ready")]
        if not ready or rate <= 0:
            return
        interval = 1.0 / rate
        nxt = time.time()
        i = 0
        while self.running and time.time() < until:
            c = ready[i % len(ready)]
            i += 1
            t_emit = time.time()
            sink = self.msg_acks if kind == "message" else self.vote_acks

            def acked(ack: Any, t_emit: float = t_emit, sink: list = sink) -> None:
                if (ack or {}).get("ok"):
                    sink.append(time.time() - t_emit)
                else:
                    self._fail(json.dumps(ack))

            try:
                if kind == "message":
                    body = f"t={t_emit:.6f};" + "说" * 40
                    c["conn"].emit("/live", "message", {"cid": uuid.uuid4().hex, "body": body}, acked)
                else:
                    c["n"] += 1
                    c["conn"].emit("/vote", "vote", {"cid": uuid.uuid4().hex, "motion_id": c["motion_id"],
                                                     "ballot": {"choice": "yes" if c["n"] % 2 else "no"}}, acked)
            except Exception as exc:
                self._fail(f"send: {exc}")
            nxt += interval
            delay = nxt - time.time()
            if delay > 0:
                self.gevent.sleep(delay)
            elif i % 20 == 0:
                self.gevent.sleep(0)

    def result(self) -> dict[str, Any]:
        return {"msg_acks": self.msg_acks, "vote_acks": self.vote_acks, "delivery": self.delivery,
                "errors": self.errors, "error_count": self.error_count}


ROLES: dict[str, Any] = {"live_listen": LiveListen, "vote_watch": VoteWatch, "live_storm": LiveStorm,
                         "sessions": Sessions}


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        worker_main()
    else:
        print(__doc__)
