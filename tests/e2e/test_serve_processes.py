"""`courtyard serve --processes 2` for real: two gunicorn processes on two ports over
PostgreSQL and Redis, a supervisor that restarts the one that is killed (and whose
replacement joins the same live rooms), restarts both one at a time on SIGHUP, and
stops everything on SIGTERM. (Rooms shared across processes in detail:
test_live_processes.py.)"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.conftest import ROOT, nginx_with_shipped_site

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


COURTYARD = [sys.executable, "-m", "web.cli"]


def two_free_ports() -> int:
    """A port P with P+1 free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65535 and all(_free(p) for p in (port, port + 1)):
            return port
    raise RuntimeError("no two consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # polling real processes with a deadline
    raise AssertionError(f"timed out waiting for {message}")


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class Phone:
    """A guest in the live discussion: joins (again after a reconnect) and collects bodies."""

    def __init__(self, port: int, code: str, name: str, transports: list[str] | None = None):
        self.url, self.code, self.name, self.transports = f"http://127.0.0.1:{port}", code, name, transports
        self.bodies: list[str] = []
        self.joins = 0
        self.failures: list[str] = []  # join calls that raised or were refused, for the failure message
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1)
        self.sio.on("event", self._on_event, namespace="/live")
        self.sio.on("connect", self._on_connect, namespace="/live")

    def _on_event(self, ev: dict[str, Any]) -> None:
        if ev["kind"] == "message":
            self.bodies.append(ev["data"]["body"])

    def _on_connect(self) -> None:
        threading.Thread(target=self._join, daemon=True).start()  # not inside the client's own handler

    def _join(self) -> None:
        try:
            ack = self.sio.call("join", {"code": self.code, "guest_name": self.name}, namespace="/live", timeout=10)
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return
        if ack.get("ok"):
            self.joins += 1
        else:
            self.failures.append(str(ack))

    def connect(self) -> "Phone":
        self.sio.connect(self.url, namespaces=["/live"], transports=self.transports, wait_timeout=10)
        wait_for(lambda: self.joins >= 1, 15, f"{self.name} joined")
        return self

    def say(self, body: str) -> None:
        ack = self.sio.call("message", {"body": body, "cid": uuid.uuid4().hex}, namespace="/live", timeout=10)
        assert ack["ok"], ack

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:
            pass
        http = getattr(self.sio.eio, "http", None)
        if http is not None:
            http.close()


def child_pids(log: Path) -> dict[int, int]:
    """{process index: pid} from the supervisor's latest 'started'/'restarted' lines."""
    pids: dict[int, int] = {}
    for match in re.finditer(r"process (\d+) on port \d+ (?:re)?started \(pid (\d+)\)", log.read_text()):
        pids[int(match.group(1))] = int(match.group(2))
    return pids


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def start_group(tmp_path: Path, database_url: str, redis_url: str) -> tuple[subprocess.Popen, int, str, Path]:
    """Migrate and seed ``database_url``, start `courtyard serve --processes 2`; returns the
    supervisor, the first port, the live session's join code and the supervisor's log."""
    env = {**os.environ, "COURTYARD_DATABASE_URL": database_url, "COURTYARD_MESSAGE_QUEUE": redis_url,
           "COURTYARD_SECRET_KEY": "supervisor-test-" + "k" * 40, "COURTYARD_INSTANCE_PATH": str(tmp_path),
           "COURTYARD_PLUGIN_ENTRYPOINTS": "0", "PYTHONUNBUFFERED": "1"}
    port = two_free_ports()
    for args in (["db", "upgrade", "--core-only"], ["demo", "--json", "--base-url", f"http://127.0.0.1:{port}"]):
        out = subprocess.run([*COURTYARD, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
    code = next(s for s in json.loads(out.stdout)["sessions"] if s["status"] == "live")["join_code"]
    log = tmp_path / "supervisor.log"
    with log.open("wb") as sink:
        supervisor = subprocess.Popen([*COURTYARD, "serve", "--processes", "2", "--port", str(port), "--threads", "32"],
                                      env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    return supervisor, port, code, log


def stop_group(supervisor: subprocess.Popen, log: Path, pids: set[int]) -> None:
    if supervisor.poll() is None:
        supervisor.kill()
        supervisor.wait(10)
    for pid in pids | set(child_pids(log).values()):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_the_supervisor_restarts_a_killed_process_and_stops_them_all(tmp_path, fresh_postgres, redis_url):
    supervisor, port, code, log = start_group(tmp_path, fresh_postgres, redis_url)
    phones: list[Phone] = []
    seen: set[int] = set()
    try:
        wait_for(lambda: ready(port) and ready(port + 1), 60, "both processes ready")
        first = child_pids(log)
        seen |= set(first.values())
        assert sorted(first) == [1, 2] and len(set(first.values())) == 2

        # a phone on each process (one on long-polling, as a browser starts), one room
        on_a = Phone(port, code, "甲（一号进程）", transports=["polling"]).connect()
        on_b = Phone(port + 1, code, "乙（二号进程）", transports=["websocket"]).connect()
        phones += [on_a, on_b]
        on_b.say("二号进程说的话")
        wait_for(lambda: "二号进程说的话" in on_a.bodies, 15, "a message across the two processes")

        # the first process dies: logged, restarted on its port, back in the same room
        os.kill(first[1], signal.SIGKILL)
        wait_for(lambda: child_pids(log)[1] != first[1], 30, "the killed process restarted")
        assert re.search(rf"process 1 on port {port} \(pid {first[1]}\) killed by signal 9; restarting in 1 s",
                         log.read_text())
        restarted = child_pids(log)[1]
        seen.add(restarted)
        assert child_pids(log)[2] == first[2]  # the other one was left alone
        wait_for(lambda: ready(port), 60, "the restarted process ready")
        wait_for(lambda: on_a.joins >= 2, 30, "the phone on the restarted process rejoined")
        on_b.say("重启之后")
        wait_for(lambda: "重启之后" in on_a.bodies, 15, "a message reaching the restarted process")

        # SIGHUP: both replaced, one at a time
        supervisor.send_signal(signal.SIGHUP)
        wait_for(lambda: child_pids(log)[2] != first[2] and ready(port) and ready(port + 1), 90,
                 "a rolling restart of both")
        after_hup = child_pids(log)
        seen |= set(after_hup.values())
        assert after_hup[1] != restarted and after_hup[2] != first[2]
        for phone in phones:
            phone.close()
        phones = []

        # SIGTERM stops every process and the supervisor exits 0
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0
        assert all(gone(pid) for pid in seen)
        assert not listening(port) and not listening(port + 1)
        assert "courtyard supervisor: stopped" in log.read_text()
    finally:
        for phone in phones:
            phone.close()
        stop_group(supervisor, log, seen)


def nginx_in_front(tmp_path: Path, ports: list[int]) -> tuple[subprocess.Popen, int]:
    """deploy/nginx/courtyard.conf as shipped, on a free port, with a throwaway certificate
    and its upstream pointing at ``ports``."""
    https = free_port()

    def on_loopback(site: str) -> str:
        servers = re.findall(r"    server 127\.0\.0\.1:800\d [^\n]*\n", site)
        assert len(servers) == 4
        site = site.replace("".join(servers), "".join(s.replace(s.split()[1], f"127.0.0.1:{p}")
                                                       for s, p in zip(servers, ports)))
        site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;")
        return site.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")

    nginx, conf, _ = nginx_with_shipped_site(tmp_path, on_loopback)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: listening(https) or proc.poll() is not None, 20, "nginx listening")
    assert proc.poll() is None, (tmp_path / "nginx.log").read_text()
    return proc, https


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_behind_the_shipped_nginx_config_long_polling_sticks_and_origins_match(tmp_path, fresh_postgres, redis_url):
    """Two processes behind deploy/nginx/courtyard.conf over TLS: a long-polling client
    keeps one Engine.IO session through many polls (each would fail on the other process),
    a websocket client upgrades through nginx, the browser's Origin is accepted (Host and
    X-Forwarded-Proto reach the server) and a foreign one refused; killing the supervisor
    takes its processes with it."""
    supervisor, port, code, log = start_group(tmp_path, fresh_postgres, redis_url)
    nginx = None
    phones: list[Phone] = []
    pids: set[int] = set()
    try:
        wait_for(lambda: ready(port) and ready(port + 1), 60, "both processes ready")
        pids = set(child_pids(log).values())
        nginx, https = nginx_in_front(tmp_path, [port, port + 1])
        site = f"https://127.0.0.1:{https}"
        cert = str(tmp_path / "cert.pem")
        assert requests.get(site + "/readyz", verify=cert, timeout=5).json()["status"] == "ready"

        def client(reconnection: bool = False) -> socketio.Client:
            http = requests.Session()
            http.verify, http.trust_env = cert, False  # our certificate, whatever the environment says
            return socketio.Client(reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=1,
                                   http_session=http)

        polling = Phone(https, code, "轮询的手机", transports=["polling"])
        polling.url = site
        polling.sio = client()
        polling.sio.on("event", polling._on_event, namespace="/live")
        polling.sio.on("connect", polling._on_connect, namespace="/live")
        polling.sio.connect(site, namespaces=["/live"], transports=["polling"], headers={"Origin": site},
                            wait_timeout=10)
        phones.append(polling)
        wait_for(lambda: polling.joins == 1, 15, "the polling phone joined")
        sid = polling.sio.eio.sid
        socket_phone = Phone(https, code, "websocket的手机", transports=["websocket"])
        socket_phone.url = site
        # reconnects as a real phone does: once, under the full suite's load, its first websocket
        # closed right after the namespace connect and the test never got a join back
        socket_phone.sio = client(reconnection=True)
        socket_phone.sio.on("event", socket_phone._on_event, namespace="/live")
        socket_phone.sio.on("connect", socket_phone._on_connect, namespace="/live")
        # (the websocket client sends the page's Origin, https://127.0.0.1:port, by itself)
        socket_phone.sio.connect(site, namespaces=["/live"], transports=["websocket"], wait_timeout=10)
        phones.append(socket_phone)
        try:
            wait_for(lambda: socket_phone.joins >= 1, 15, "the websocket phone joined")
        except AssertionError:
            raise AssertionError(f"the websocket phone never joined: {socket_phone.failures}") from None
        for i in range(4):  # every emit is a POST and every delivery a GET, all of one session (5 per 10 s allowed)
            socket_phone.say(f"第{i}句")
            polling.say(f"回第{i}句")
        wait_for(lambda: [b for b in polling.bodies if b.startswith("第")] == [f"第{i}句" for i in range(4)], 20,
                 "the polling phone got every message")
        wait_for(lambda: len([b for b in socket_phone.bodies if b.startswith("回")]) == 4, 20,
                 "the websocket phone got every answer")
        assert polling.sio.eio.sid == sid and polling.sio.eio.current_transport == "polling"
        assert polling.joins == 1  # never reconnected
        polls = [line for line in (tmp_path / "access.log").read_text().splitlines()
                 if f"sid={sid}" in line and "transport=polling" in line]
        assert len(polls) >= 10 and all('" 200 ' in line for line in polls), polls[-3:]

        foreign = client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            foreign.connect(site, namespaces=["/live"], transports=["polling"],
                            headers={"Origin": "https://evil.example"}, wait_timeout=5)
        close_http(foreign)

        # the supervisor killed outright: its processes do not outlive it
        for phone in phones:
            phone.close()
        phones = []
        supervisor.kill()
        supervisor.wait(10)
        wait_for(lambda: all(gone(pid) for pid in pids), 30, "the processes gone with their supervisor")
        wait_for(lambda: not listening(port) and not listening(port + 1), 30, "the ports closed")
    finally:
        for phone in phones:
            phone.close()
        if nginx is not None:  # its workers outlive a killed master: stop the whole group
            os.killpg(nginx.pid, signal.SIGTERM)
            try:
                nginx.wait(10)
            finally:
                try:
                    os.killpg(nginx.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        stop_group(supervisor, log, pids)


def close_http(client: socketio.Client) -> None:
    http = getattr(client.eio, "http", None)
    if http is not None:
        http.close()
