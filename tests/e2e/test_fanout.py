"""Room broadcasts on a real server (web/fanout.py): a phone on a weak network — its socket
buffers full, reading nothing for a while — neither holds up the rest of the room nor
loses anything: when it reads again it gets every event, whole and in order. A phone on
long-polling gets the same events. A client offering permessage-deflate, as browsers do,
is answered without it (each broadcast is framed once for everyone).

Under gevent the server writes a broadcast straight to idle websockets without waiting and
queues what a full socket does not take; simple-websocket's own ``send`` could write part
of a frame to such a socket and drop the rest."""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import termios
import threading
import uuid
from typing import Any

import pytest
import socketio
import websocket

from tests.plugins.discussion.live_server import LiveServer, live_session, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: 1,500 messages of 1,000 Chinese characters, a 3 kB frame each: 4.5 MB, more than the
#: slow phone's buffers (its receive buffer is set to 4 kB) and the server's socket buffer
#: for it (Linux lets that grow to 4 MB) can hold
MESSAGES = 1500
TEXT = ("海棠小院协商议事茶话会：五个网格的居民轮流当院长，今天说的是雨水管的事。" * 28)[:996]


class RawPhone:
    """A websocket phone speaking Engine.IO 4 / Socket.IO 5 itself, so a test can stop
    reading (``rcvbuf`` makes its socket's receive buffer small) and look at the frames."""

    def __init__(self, url: str, cookie: str, *, rcvbuf: int | None = None, extensions: str | None = None):
        headers = [f"Cookie: {cookie}"]
        if extensions:
            headers.append(f"Sec-WebSocket-Extensions: {extensions}")
        options = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),) if rcvbuf else ()
        self.ws = websocket.create_connection(url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket",
                                              header=headers, origin=url, sockopt=options, timeout=30)
        self.response_headers = {k.lower(): v for k, v in (self.ws.getheaders() or {}).items()}
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []  # every message as it came, before JSON decoding
        assert self.ws.recv().startswith("0{")
        self.ws.send("40/live,")
        self._until(lambda m: m.startswith("40/live,"))

    def join(self, code: str) -> dict[str, Any]:
        self.ws.send("42/live,1" + json.dumps(["join", {"code": code}]))
        ack = self._until(lambda m: m.startswith("43/live,1"))
        body = json.loads(ack[len("43/live,1"):])[0]
        assert body["ok"], body
        return body

    def _until(self, done) -> str:
        while True:
            message = self.ws.recv()
            self.raw.append(message)
            if message == "2":
                self.ws.send("3")
            elif message.startswith('42/live,["event",'):
                self.events.append(json.loads(message[len("42/live,"):])[1])
            if done(message):
                return message

    def messages(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "message"]

    def read_messages(self, count: int) -> list[dict[str, Any]]:
        self._until(lambda m: len(self.messages()) >= count)
        return self.messages()

    def unread_bytes(self) -> int:
        """What has reached this phone's socket and not been read."""
        return struct.unpack("i", fcntl.ioctl(self.ws.sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]

    def close(self) -> None:
        self.ws.close()


def texts(n: int) -> list[str]:
    return [f"{i:04d}{TEXT}" for i in range(n)]


def assert_every_message_in_order(messages: list[dict[str, Any]], expected: list[str]) -> None:
    got = [m["data"]["body"] for m in messages]
    assert len(got) == len(expected), (len(got), len(expected))
    assert got == expected  # whole, in the order they were sent
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.fixture(params=["gevent", "threading"])
def server(request, tmp_path):
    srv = LiveServer(tmp_path, async_mode=request.param)
    info = srv.prepare()
    srv.start()
    try:
        yield srv, live_session(info)["join_code"]
    finally:
        srv.kill()


def test_a_phone_that_stops_reading_holds_up_nobody_and_later_gets_every_event_whole(server):
    srv, code = server
    listener_cookie = srv.cookie_for("renfu-grid")
    fast = RawPhone(srv.url, listener_cookie)
    slow = RawPhone(srv.url, listener_cookie, rcvbuf=4096)
    polling = socketio.Client(reconnection=False)
    polled: list[dict[str, Any]] = []
    polling.on("event", lambda ev: polled.append(ev), namespace="/live")
    host = socketio.Client(reconnection=False)
    try:
        fast.join(code)
        slow.join(code)
        polling.connect(srv.url, namespaces=["/live"], transports=["polling"],
                        headers={"Cookie": listener_cookie}, wait_timeout=10)
        assert polling.call("join", {"code": code}, namespace="/live", timeout=10)["ok"]
        host.connect(srv.url, namespaces=["/live"], transports=["websocket"],
                     headers={"Cookie": srv.cookie_for("renfu-host")}, wait_timeout=10)
        assert host.call("join", {"code": code}, namespace="/live", timeout=10)["ok"]

        expected = texts(MESSAGES)
        received_by_fast: list[Any] = []

        def read_fast() -> None:
            try:
                received_by_fast.append(fast.read_messages(MESSAGES))
            except Exception as exc:  # reported by the assertion below
                received_by_fast.append(exc)

        reader = threading.Thread(target=read_fast, daemon=True)
        reader.start()
        for text in expected:  # the slow phone reads nothing meanwhile
            ack = host.call("message", {"cid": uuid.uuid4().hex, "body": text}, namespace="/live", timeout=20)
            assert ack["ok"], ack
        reader.join(30)
        assert received_by_fast, "the phone that reads did not get every message while another phone read nothing"
        assert isinstance(received_by_fast[0], list), received_by_fast[0]
        assert_every_message_in_order(received_by_fast[0], expected)

        # most of what the slow phone is owed has not reached it: the server holds it
        owed = sum(len(json.dumps(p, ensure_ascii=False).encode()) for p in received_by_fast[0])
        assert slow.unread_bytes() < owed / 4, (slow.unread_bytes(), owed)

        assert_every_message_in_order(slow.read_messages(MESSAGES), expected)  # and now every event, whole, in order
        wait_for(lambda: len([e for e in polled if e["kind"] == "message"]) >= MESSAGES, timeout=30,
                 message="the long-polling phone's messages")
        assert_every_message_in_order([e for e in polled if e["kind"] == "message"], expected)
    finally:
        for client in (host, polling):
            client.disconnect()
        fast.close()
        slow.close()


def test_permessage_deflate_is_declined_and_broadcasts_arrive_as_utf8(server):
    srv, code = server
    cookie = srv.cookie_for("renfu-grid")
    phone = RawPhone(srv.url, cookie, extensions="permessage-deflate; client_max_window_bits")
    host = socketio.Client(reconnection=False)
    try:
        assert "sec-websocket-extensions" not in phone.response_headers, phone.response_headers
        phone.join(code)
        host.connect(srv.url, namespaces=["/live"], transports=["websocket"],
                     headers={"Cookie": srv.cookie_for("renfu-host")}, wait_timeout=10)
        assert host.call("join", {"code": code}, namespace="/live", timeout=10)["ok"]
        expected = texts(5)
        for text in expected:
            assert host.call("message", {"cid": uuid.uuid4().hex, "body": text}, namespace="/live", timeout=20)["ok"]
        phone.ws.settimeout(20)
        assert_every_message_in_order(phone.read_messages(5), expected)
        sent = [m for m in phone.raw if '"kind":"message"' in m]
        assert len(sent) == 5 and all(TEXT[:20] in m for m in sent)  # UTF-8 on the wire, not \uXXXX escapes
    finally:
        host.disconnect()
        phone.close()
