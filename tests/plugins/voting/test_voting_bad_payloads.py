"""Socket events get the same edge as HTTP: a lone surrogate, NUL, an id past the
database's range or a payload nested a thousand deep is an error ack naming the field,
never a 500 ack and never a stored message."""

from __future__ import annotations

import uuid

import pytest

from tests.plugins.voting.test_voting_live import fake_time, lw, sock  # noqa: F401  (fixtures)

HUGE = 2**64


def deep(levels: int) -> object:
    inner: object = "x"
    for _ in range(levels):
        inner = [inner]
    return inner


def test_vote_events(lw):
    m = lw.motion(method="plurality", options=["东片", "西片"])
    tc = sock(lw, "resident2")
    for payload, field in (
        ({"cid": uuid.uuid4().hex, "motion_id": HUGE, "ballot": {"choice": "东片"}}, "motion_id"),
        ({"cid": uuid.uuid4().hex, "motion_id": m["id"], "ballot": {"choice": "东\ud800"}}, "ballot.choice"),
        ({"cid": uuid.uuid4().hex, "motion_id": m["id"], "ballot": {"choice": deep(300)}}, "ballot.choice"),
    ):
        ack = tc.emit("vote", payload, namespace="/vote", callback=True)
        assert ack["ok"] is False and ack["error"]["status"] == 400, ack
        assert any(k.startswith(field.split(".")[0]) for k in ack["error"]["fields"]), ack
    ack = tc.emit("watch", {"motion_id": HUGE}, namespace="/vote", callback=True)
    assert ack["error"]["status"] == 400 and "motion_id" in ack["error"]["fields"]


@pytest.mark.parametrize("body", ["你好\ud800", "a\x00b"], ids=["surrogate", "nul"])
def test_live_messages(lw, body):
    live = sock(lw, "resident2", "/live")
    assert live.emit("join", {"code": lw.code}, namespace="/live", callback=True)["ok"]
    ack = live.emit("message", {"cid": uuid.uuid4().hex, "body": body}, namespace="/live", callback=True)
    assert ack["ok"] is False and ack["error"]["status"] == 400 and "body" in ack["error"]["fields"], ack
    ack = live.emit("message", {"cid": uuid.uuid4().hex, "body": "好", "reply_to": HUGE}, namespace="/live",
                    callback=True)
    assert ack["ok"] is False and ack["error"]["status"] == 400 and "reply_to" in ack["error"]["fields"], ack
    ack = live.emit("sync", {"since": HUGE}, namespace="/live", callback=True)
    assert ack["ok"] is False and ack["error"]["status"] == 400, ack
    page = lw.http("resident2")[0].get(f"/c/{lw.slug}/sessions/{lw.session_id}")
    assert page.status_code in (200, 302)
