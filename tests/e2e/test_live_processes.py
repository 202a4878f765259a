"""The live namespace against real server processes: a server killed and restarted in the
middle of a discussion loses nothing and counts who is really there; two processes share
rooms through Redis, and when one is killed and replaced everyone's count corrects itself;
a foreign Origin is refused at the handshake.

Every python-socketio client is shut down explicitly (the ``phones`` fixture, also when a
test fails), so no socket is left to the garbage collector after a server is killed."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import socketio

from tests.plugins.discussion.live_server import LiveServer, live_session, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: a process beats every half second and is taken for dead two seconds after its last beat
FAST_UPKEEP = {"COURTYARD_LIVE_HEARTBEAT": "0.5", "COURTYARD_LIVE_PROCESS_TIMEOUT": "2"}


def close_http(client: socketio.Client) -> None:
    """Close the HTTP session engineio keeps (it is not closed on disconnect)."""
    http = getattr(client.eio, "http", None)
    if http is not None:
        http.close()


class Phone:
    """A python-socketio client that behaves like live.js: keeps the last seq it applied,
    rejoins with it, drops duplicates, and retries its own emits until acknowledged."""

    def __init__(self, url: str, code: str, *, cookie: str | None = None, guest_name: str | None = None,
                 reconnection: bool = True):
        self.url, self.code, self.cookie, self.guest_name = url, code, cookie, guest_name
        self.guest_token: str | None = None
        self.seq: int | None = None
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.sio = socketio.Client(reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=1)
        self.sio.on("event", self._on_event, namespace="/live")
        self.you: dict[str, Any] = {}

    def connect(self) -> "Phone":
        headers = {"Cookie": self.cookie} if self.cookie else {}
        self.sio.connect(self.url, namespaces=["/live"], transports=["websocket"], headers=headers, wait_timeout=10)
        self.join()
        return self

    def join(self) -> dict[str, Any]:
        ack = self.sio.call("join", {"code": self.code, "since": self.seq, "guest_name": self.guest_name,
                                     "guest_token": self.guest_token}, namespace="/live", timeout=10)
        assert ack["ok"], ack
        self.you = ack["you"]
        self.guest_token = ack["you"].get("guest_token", self.guest_token)
        with self.lock:
            if "state" in ack:
                self.seq = ack["state"]["seq"]
                for m in ack["state"]["messages"]:
                    self.events.append({"seq": m["seq"], "kind": "message", "data": m})
            else:
                for ev in ack["events"]:
                    self._apply(ev)
        return ack

    def _apply(self, ev: dict[str, Any]) -> None:
        if self.seq is None or ev["seq"] <= self.seq:
            return
        if ev["seq"] > self.seq + 1:  # a gap: fill it from the server (outside this thread)
            threading.Thread(target=self.sync, daemon=True).start()
            return
        self.events.append(ev)
        self.seq = ev["seq"]

    def _on_event(self, ev: dict[str, Any]) -> None:
        with self.lock:
            self._apply(ev)

    def sync(self) -> None:
        try:
            ack = self.sio.call("sync", {"since": self.seq}, namespace="/live", timeout=10)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            return  # disconnected: the next join brings what was missed
        with self.lock:
            for ev in ack["events"]:
                self._apply(ev)

    def send(self, event: str, timeout: float = 30, **payload: Any) -> dict[str, Any]:
        """Emit with a client id, retrying until acknowledged (the same id each time)."""
        payload["cid"] = uuid.uuid4().hex
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                ack = self.sio.call(event, payload, namespace="/live", timeout=3)
                if ack.get("ok") is False and ack["error"]["status"] == 403 and "Join" in str(ack):
                    raise socketio.exceptions.TimeoutError()
                return ack
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                if time.monotonic() > deadline:
                    raise
                wait_for(lambda: self.sio.connected, timeout=max(0.1, deadline - time.monotonic()),
                         message="reconnection")
                try:
                    self.join()
                except Exception:
                    pass

    def bodies(self) -> list[str]:
        with self.lock:
            return [e["data"]["body"] for e in self.events if e["kind"] == "message"]

    def kinds(self) -> list[str]:
        with self.lock:
            return [e["kind"] for e in self.events]

    def presence(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e["data"] for e in self.events if e["kind"] == "presence"]

    def told(self, participant_id: int) -> list[dict[str, Any]]:
        """What the presence announcements said of one participant, in order:
        ``{"online": bool, "reason": str | None}`` (several come and go per announcement)."""
        out = []
        for d in self.presence():
            if any(p["id"] == participant_id for p in d["present"]):
                out.append({"online": True, "reason": d.get("reason")})
            if participant_id in d["absent"]:
                out.append({"online": False, "reason": d.get("reason")})
        return out

    def names_told_present(self) -> set[str]:
        return {p["name"] for d in self.presence() for p in d["present"]}

    def count(self) -> int:
        """How many are here, as the server counts them now."""
        return self.sio.call("state", {}, namespace="/live", timeout=10)["state"]["count"]

    def close(self) -> None:
        """Disconnect, stop reconnecting, and close the sockets engineio keeps."""
        try:
            self.sio.shutdown()
        except Exception:
            pass
        close_http(self.sio)


@pytest.fixture
def phones():
    """``phones(Phone(...))`` registers a phone to be shut down after the test, pass or fail."""
    made: list[Phone] = []

    def register(phone: Phone) -> Phone:
        made.append(phone)
        return phone

    yield register
    for phone in made:
        phone.close()


@pytest.fixture
def server(tmp_path):
    srv = LiveServer(tmp_path, env=FAST_UPKEEP)
    info = srv.prepare()
    try:
        srv.start()
        yield srv, info
    finally:
        srv.kill()


def test_a_foreign_origin_is_refused(server, phones):
    srv, info = server
    code = live_session(info)["join_code"]
    evil = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        evil.connect(srv.url, namespaces=["/live"], transports=["websocket"],
                     headers={"Origin": "http://evil.example"}, wait_timeout=5)
    polling = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        polling.connect(srv.url, namespaces=["/live"], transports=["polling"],
                        headers={"Origin": "https://courtyard.evil.example"}, wait_timeout=5)
    close_http(evil)
    close_http(polling)
    ok = phones(Phone(srv.url, code, guest_name="本站访客")).connect()
    assert ok.you["guest"] is True


def test_a_server_killed_mid_discussion_comes_back_with_nothing_missing(server, phones):
    srv, info = server
    code = live_session(info)["join_code"]
    host = phones(Phone(srv.url, code, cookie=srv.cookie_for("renfu-host"))).connect()
    guest = phones(Phone(srv.url, code, guest_name="王阿婆的孙女")).connect()
    # a third phone whose owner walks away while the server is down: it never comes back
    walker = phones(Phone(srv.url, code, guest_name="散步去的老李", reconnection=False)).connect()
    assert host.you["host"] is True
    wait_for(lambda: host.count() == 3, message="three here before the kill")
    sent = []
    for i in range(3):
        body = f"重启前第{i}条"
        assert host.send("message", body=body)["ok"]
        sent.append(body)
    wait_for(lambda: guest.bodies()[-3:] == sent, message="messages before the restart")

    srv.kill()
    # the host keeps talking while the server is down: the emit is retried until acknowledged
    results: dict[str, Any] = {}

    def talk() -> None:
        results["ack"] = host.send("message", timeout=40, body="服务器挂了也不丢")

    talker = threading.Thread(target=talk)
    talker.start()
    srv.start()
    talker.join(45)
    assert results["ack"]["ok"], results
    sent.append("服务器挂了也不丢")
    wait_for(lambda: guest.sio.connected, message="guest reconnection")
    guest.join()  # rejoin with the last seq it saw
    assert guest.send("message", body="我回来了")["ok"]
    sent.append("我回来了")
    for body in ("重启后A", "重启后B"):
        assert host.send("message", body=body)["ok"]
        sent.append(body)
    wait_for(lambda: [b for b in guest.bodies() if b in sent] == sent, message="everything, in order, once")
    wait_for(lambda: [b for b in host.bodies() if b in sent] == sent, message="the host sees it all too")
    seqs = [e["seq"] for e in guest.events]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert guest.bodies().count("服务器挂了也不丢") == 1
    # presence: the killed process's connections are swept once its heartbeat is stale,
    # so the count is the two who came back, not three
    wait_for(lambda: host.count() == 2, timeout=20, message="the walker swept from presence")
    for phone in (host, guest):
        wait_for(lambda p=phone: any(not t["online"] for t in p.told(walker.you["id"])),
                 message="everyone told the walker left")
        assert phone.told(walker.you["id"])[-1] == {"online": False, "reason": "lost"}
    assert {p["name"] for p in host.sio.call("state", {}, namespace="/live", timeout=10)["state"]["present"]} == \
        {"李月昌", "王阿婆的孙女"}


@pytest.mark.redis
def test_two_processes_share_rooms_through_redis(tmp_path, redis_url, phones):
    a = LiveServer(tmp_path, message_queue=redis_url)
    info = a.prepare()
    b = LiveServer(tmp_path, message_queue=redis_url)
    try:
        a.start()
        b.start()
        code = live_session(info)["join_code"]
        host = phones(Phone(a.url, code, cookie=a.cookie_for("renfu-host"))).connect()
        on_a = phones(Phone(a.url, code, guest_name="甲（A进程）")).connect()
        on_b = phones(Phone(b.url, code, guest_name="乙（B进程）")).connect()
        on_b2 = phones(Phone(b.url, code, guest_name="丙（B进程）")).connect()
        everyone = [host, on_a, on_b, on_b2]
        # presence: those who joined on B are seen on A
        wait_for(lambda: host.names_told_present() >= {"乙（B进程）", "丙（B进程）"},
                 message="presence across processes")
        # discussion both ways
        assert on_b.send("message", body="B进程说的话")["ok"]
        assert on_a.send("message", body="A进程说的话")["ok"]
        for phone in everyone:
            wait_for(lambda p=phone: {"B进程说的话", "A进程说的话"} <= set(p.bodies()), message="discussion")
        # floor changes made on A reach B
        assert on_b.send("raise_hand")["ok"]
        wait_for(lambda: "hand_raised" in host.kinds(), message="raised hand reaches the host on A")
        assert host.send("grant_floor", participant_id=on_b.you["id"], seconds=60)["ok"]
        for phone in everyone:
            wait_for(lambda p=phone: "floor_granted" in p.kinds(), message="floor granted everywhere")
        granted = [e for e in on_b2.events if e["kind"] == "floor_granted"][-1]
        assert granted["data"]["participant"]["name"] == "乙（B进程）"
        assert host.send("revoke_floor")["ok"]
        for phone in everyone:
            wait_for(lambda p=phone: "floor_released" in p.kinds(), message="floor taken back everywhere")
        # the same sequence everywhere
        wait_for(lambda: len({p.seq for p in everyone}) == 1, message="every phone at the same seq")
    finally:
        a.kill()
        b.kill()


@pytest.mark.redis
def test_a_killed_process_is_replaced_and_everyones_count_is_right(tmp_path, redis_url, phones):
    """Two processes share a session through Redis; B is SIGKILLed with two residents on
    it and replaced by a new process on the same address. One of them reconnects, the
    other is gone: A's phones see the count go from 4 to 3, told by a sweep."""
    a = LiveServer(tmp_path, message_queue=redis_url, env=FAST_UPKEEP)
    info = a.prepare()
    b = LiveServer(tmp_path, message_queue=redis_url, env=FAST_UPKEEP)
    try:
        a.start()
        b.start()
        code = live_session(info)["join_code"]
        host = phones(Phone(a.url, code, cookie=a.cookie_for("renfu-host"))).connect()
        on_a = phones(Phone(a.url, code, guest_name="甲（A进程）")).connect()
        returns = phones(Phone(b.url, code, guest_name="乙（B进程，会回来）")).connect()
        leaves = phones(Phone(b.url, code, guest_name="丙（B进程，不回来）", reconnection=False)).connect()
        wait_for(lambda: host.count() == 4 and on_a.count() == 4, message="four here")
        b.kill()
        b.start()  # the replacement, on the same address: 乙's phone reconnects to it
        wait_for(lambda: returns.sio.connected, message="乙 reconnected to the new B")
        returns.join()
        wait_for(lambda: host.count() == 3, timeout=20, message="the count corrected on A")
        for phone in (host, on_a, returns):
            wait_for(lambda p=phone: any(not t["online"] for t in p.told(leaves.you["id"])),
                     message="丙's departure reaches every phone")
        # 乙 may have been swept before their phone was back, but the last word is "here"
        wait_for(lambda: host.told(returns.you["id"])[-1]["online"] is True, message="乙 is told back")
        assert returns.count() == 3 and on_a.count() == 3
        present = {p["name"] for p in host.sio.call("state", {}, namespace="/live", timeout=10)["state"]["present"]}
        assert present == {"李月昌", "甲（A进程）", "乙（B进程，会回来）"}
    finally:
        a.kill()
        b.kill()
