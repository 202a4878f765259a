"""What the server writes on the wire (web/fanout.py): Chinese text as UTF-8, not \\uXXXX
escapes — half the bytes on a phone's weak network — without ever failing on a string
that cannot be UTF-8; and a broadcast's websocket frame, made once for every phone, is the
frame a websocket client reads back as the message, whatever its length."""

from __future__ import annotations

import json

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from web.fanout import SharedText, WireJson

BODY = {"kind": "message", "data": {"body": "海棠小院协商议事茶话会：今天说的是雨水管的事。" * 10}}


def test_chinese_text_is_sent_as_utf8_in_about_half_the_bytes():
    wire = WireJson.dumps(BODY, separators=(",", ":"))
    escaped = json.dumps(BODY, separators=(",", ":"))
    assert "海棠小院" in wire and "\\u" not in wire
    assert json.loads(wire) == BODY
    assert len(wire.encode("utf-8")) < 0.6 * len(escaped.encode("utf-8"))


def test_a_string_that_cannot_be_utf8_is_escaped_instead_of_failing():
    odd = {"name": "王\ud800阿婆"}  # a lone surrogate, as a client may send with "\ud800"
    wire = WireJson.dumps(odd)
    wire.encode("utf-8")  # would raise for the unescaped text
    assert json.loads(wire) == odd


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_the_shared_frame_reads_back_as_the_message(size):
    text = SharedText("42/live," + json.dumps(["event", {"t": "雨" * size}], ensure_ascii=False))
    reader = Connection(ConnectionType.CLIENT)  # a phone's side of an open websocket
    reader.receive_data(text.frame)
    parts = list(reader.events())
    assert all(isinstance(p, TextMessage) for p in parts)
    assert "".join(p.data for p in parts) == text
    assert parts[-1].message_finished
    assert text.frame is text.frame  # made once, for every phone
