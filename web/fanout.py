"""Room broadcasts written once: one websocket frame per broadcast, sent straight to every
idle websocket.

A tally or a live event goes to every phone in a room — a thousand, in a city's assembly.
As python-socketio and python-engineio come, each copy costs a queue put, a wake-up of
that connection's writer greenlet or thread, the websocket framing (wsproto) and the
socket write: 18–23 µs a phone on this machine, against 7–11 µs writing one frame made
once (``bench/bench_fanout.py``; ``docs/benchmarks.md``, *Fan-out* and *Vote → tally
latency*). Node's socket.io does what this module does: it frames the message once
(``wsPreEncodedFrame``) and writes the same bytes to every socket.

* :class:`FanoutManager` (the Socket.IO client manager; :class:`web.queue.ResilientRedisManager`
  builds on it) encodes a broadcast once, as a :class:`SharedText` that carries its
  websocket frame, made on first use. Under gevent it writes that frame straight to each
  websocket that has nothing queued and is not in the middle of a write — without waiting:
  what the socket cannot take now (a phone on a weak network whose buffers are full) is
  queued whole-frame-first for the connection's own writer, so one slow phone never holds
  up the room and every phone gets every message, in order. Anything else — long-polling,
  a busy connection, the threading server, binary attachments, acknowledged emits — takes
  the library's usual path (under threading, the writer thread still sends the frame made
  once).
* :class:`FanoutWebSocket` (installed as Engine.IO's websocket class by :func:`install`)
  sends frames with ``sendall``: simple-websocket used ``send``, which under gevent may
  write part of a frame when the socket's buffer is full and drop the rest, corrupting the
  connection of exactly the phones on weak networks. It also declines the permessage-deflate
  extension — as Engine.IO 4 does by default, for the memory it takes per connection; a
  frame written to many sockets cannot be compressed per connection, and the messages here
  are a few hundred bytes of JSON.
* :class:`WireJson` is the JSON of every Socket.IO packet: Chinese text as UTF-8 (3 bytes a
  character) instead of ``\\uXXXX`` escapes (6 bytes) — half the bytes of a discussion on a
  phone's weak network.
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet
from wsproto.events import Message, TextMessage
from wsproto.frame_protocol import FrameProtocol

log = logging.getLogger("courtyard.fanout")


class WireJson:
    """``json`` for Socket.IO and Engine.IO packets: non-ASCII text left as UTF-8. A string
    that cannot be UTF-8 (a lone surrogate a client sent as ``\\ud800``) is escaped as
    before, so one odd message never breaks a broadcast."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        text = json.dumps(obj, ensure_ascii=False, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(obj, **kwargs)
        return text


class SharedText(str):
    """An Engine.IO message going to many clients: its text (what long-polling sends) and
    its websocket frame, made once for all of them."""

    @cached_property
    def frame(self) -> bytes:
        return bytes(FrameProtocol(client=False, extensions=[]).send_data(str(self), fin=True))


class RawTail(bytes):
    """The rest of a frame that a write without waiting could not finish: the connection's
    writer sends it as it is, before anything queued after it."""


def _packet(data: str, encoded: str | bytes) -> eio_packet.Packet:
    """An Engine.IO MESSAGE packet of ``data`` whose encoding is ``encoded`` (Engine.IO
    caches a packet's encoding; the cache holds what must reach the websocket's ``send``)."""
    pkt = eio_packet.Packet(eio_packet.MESSAGE, data)
    pkt.encode_cache = encoded
    return pkt


class FanoutManager(socketio.Manager):
    """The client manager: broadcasts encoded once; under gevent written straight to idle
    websockets (see the module's docstring). ``direct`` is set by :func:`install`."""

    direct = False

    def emit(self, event: str, data: Any, namespace: str, room: Any = None, skip_sid: Any = None,
             callback: Any = None, to: Any = None, **kwargs: Any) -> Any:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        if not isinstance(encoded, str):  # binary attachments: several packets, the library's way
            return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
        text = SharedText(eio_packet.Packet(eio_packet.MESSAGE, encoded).encode())
        message = _packet(encoded, text)
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        send = self.server._send_eio_packet  # the library's per-client send (the test client replaces it)
        sockets = self.server.eio.sockets if self.direct else None
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            if sockets is not None and self._write_now(sockets.get(eio_sid), text):
                continue
            send(eio_sid, message)
        return None

    @staticmethod
    def _write_now(sock: Any, text: SharedText) -> bool:
        """Write the frame to this connection now, without waiting; ``False``: it must go
        through the connection's queue (polling, something queued or being written, closed).
        Under gevent only: nothing else runs between the checks and the write, so an empty
        queue and an idle writer mean every earlier message is on the wire already."""
        ws = getattr(sock, "courtyard_ws", None)
        if (ws is None or ws.busy or not ws.ready() or sock.closed or sock.upgrading or not sock.upgraded
                or not sock.queue.empty()):
            return False
        if not sock.check_ping_timeout():  # gone: closed now, as the usual send would
            return True
        rest = ws.write_now(text.frame)
        if rest is None:  # the socket failed: the usual path finds out and closes the connection
            return False
        if rest:
            sock.queue.put(_packet("", RawTail(rest)))
        return True


class FanoutWebSocket:
    """Mixed into Engine.IO's websocket class (simple-websocket under the driver's thread
    and event classes) by :func:`install`: whole frames with ``sendall``, prebuilt frames
    as they are, no permessage-deflate, and :meth:`write_now` for the manager."""

    busy = False

    def __init__(self, handler: Any, server: Any, **kwargs: Any) -> None:
        super().__init__(handler, server, **kwargs)  # type: ignore[call-arg]
        sock = getattr(handler, "__self__", None)  # the Engine.IO socket whose handler this is
        if sock is not None:
            sock.courtyard_ws = self

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)  # no permessage-deflate (module docstring)
        return super().__call__(environ, start_response)  # type: ignore[misc]

    def ready(self) -> bool:
        ws = getattr(self, "ws", None)
        return ws is not None and ws.connected

    def send(self, message: Any) -> None:
        ws = self.ws  # type: ignore[attr-defined]
        if not ws.connected:
            raise OSError("the websocket is closed")
        kind = type(message)
        if kind is SharedText:
            data = message.frame
        elif kind is RawTail:
            data = message
        elif isinstance(message, bytes):
            data = ws.ws.send(Message(data=message))
        else:
            data = ws.ws.send(TextMessage(data=str(message)))
        self.busy = True
        try:
            ws.sock.sendall(data)
        finally:
            self.busy = False

    def write_now(self, frame: bytes) -> bytes | None:
        """Write what the socket takes without waiting (gevent's socket, timeout 0); the
        part it did not take, or ``None`` if the socket failed."""
        try:
            written = self.ws.sock.send(frame, 0, 0.0)  # type: ignore[attr-defined]
        except BlockingIOError:
            written = 0
        except OSError:
            return None
        return frame[written:]


def install(socketio_ext: Any) -> None:
    """Make the application's Socket.IO server broadcast through :class:`FanoutManager`
    (passed as its client manager) over :class:`FanoutWebSocket`."""
    server = socketio_ext.server
    eio = server.eio
    drivers = getattr(eio, "_async", None)  # Engine.IO's table of its async driver's classes
    base = drivers.get("websocket") if isinstance(drivers, dict) else None
    manager = server.manager
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    if base is None or not issubclass(base, SimpleWebSocketWSGI) or not isinstance(manager, FanoutManager):
        log.warning("broadcasts take the library's path: not simple-websocket, or another client manager")
        return
    if not issubclass(base, FanoutWebSocket):
        eio._async = {**drivers, "websocket": type("FanoutWebSocket", (FanoutWebSocket, base), {})}
    manager.direct = server.async_mode == "gevent"
