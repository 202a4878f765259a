"""Who may do what in a live session, bad input, the golden microphone, host controls."""

from __future__ import annotations

from datetime import timedelta

import pytest


def test_bad_input_gets_an_error_ack_and_the_session_keeps_running(live):
    resident = live.client("resident2")
    # before joining
    before = resident.op("message", body="hi")
    assert before["ok"] is False and before["error"]["status"] == 403
    resident.join(live.code)
    cases = [
        ("message", "not a dict"),
        ("message", ["a", "list"]),
        ("message", {"cid": "short", "body": "x"}),
        ("message", {"cid": "abcdefgh12", "body": "x" * 1001}),
        ("message", {"cid": "abcdefgh12", "body": "x", "extra": 1}),
        ("message", {"cid": "abcdefgh12", "body": 5}),
        ("message", {"cid": "abcdefgh12", "body": "x", "reply_to": "1"}),
        ("message", {"cid": "abcdefgh12"}),
        ("sync", {"since": -1}),
        ("join", {"code": 12}),
    ]
    for event, payload in cases:
        ack = resident.emit(event, payload)
        assert ack["ok"] is False, (event, payload, ack)
        assert ack["error"]["status"] == 400 and ack["error"]["message"]
    too_long = resident.emit("message", {"cid": "abcdefgh12", "body": "x" * 1001})
    assert "body" in too_long["error"]["fields"]
    assert resident.emit("no_such_event", {})["ok"] is False
    # still running
    assert resident.op("message", body="还在")["ok"] is True


def test_errors_are_translated_for_an_english_speaker(live):
    http = live.app.test_client()
    http.get("/lang/en")
    live.login(http, "resident2")
    sio = live.app.extensions["courtyard"].socketio.test_client(live.app, namespace="/live", flask_test_client=http)
    ack = sio.emit("message", {"cid": "abcdefgh12", "body": "x"}, namespace="/live", callback=True)
    assert ack["error"]["message"] == "Join the session first."


def test_residents_cannot_send_host_only_events(live):
    host, resident = live.client("host"), live.client("resident2")
    host.join(live.code)
    resident.join(live.code)
    msg = resident.op("message", body="hello")
    host.op("raise_hand")
    for event, payload in [("hide", {"message_id": 1, "reason": "x"}),
                           ("grant_floor", {"participant_id": resident.you["id"]}),
                           ("revoke_floor", {}), ("agenda", {"position": 1}), ("pin", {"text": "x"}),
                           ("status", {"status": "closed"})]:
        ack = resident.op(event, **payload)
        assert ack["ok"] is False and ack["error"]["status"] == 403, (event, ack)
    assert msg["ok"]
    state = resident.emit("state")["state"]
    assert state["session"]["status"] == "live" and state["pinned"] is None and state["floor"] is None


def test_another_sessions_ids_are_refused(live):
    host = live.client("host")
    host.join(live.code)
    other_host = live.client("host")
    other_host.join(live.other_code)
    foreign = other_host.op("message", body="别处的话")
    foreign_msg_id = [e for e in other_host.events() if e["kind"] == "message"][0]["data"]["id"]
    assert foreign["ok"]
    for event, payload in [("hide", {"message_id": foreign_msg_id, "reason": "x"}),
                           ("message", {"body": "reply", "reply_to": foreign_msg_id}),
                           ("grant_floor", {"participant_id": other_host.you["id"]})]:
        ack = host.op(event, **payload)
        assert ack["ok"] is False and ack["error"]["status"] == 404, (event, ack)
    # one connection, one session
    assert host.emit("join", {"code": live.other_code})["error"]["status"] == 403


def test_golden_microphone_queue_floor_and_countdown(live):
    host, a, b = live.client("host"), live.client("resident2"), live.client("grid_head")
    dept = live.client("department")
    for c in (host, a, b, dept):
        c.join(live.code)
    assert a.op("raise_hand")["ok"]
    live.clock.advance(seconds=1)
    assert b.op("raise_hand")["ok"]
    again = a.op("raise_hand")
    assert again["ok"] is False and again["error"]["status"] == 409
    queue = host.emit("state")["state"]["queue"]
    assert [q["participant"]["name"] for q in queue] == ["张师傅", "沈网格长"]
    granted = host.op("grant_floor", participant_id=a.you["id"], seconds=120)
    assert granted["ok"]
    event = [e for e in b.events() if e["kind"] == "floor_granted"][-1]
    assert event["data"]["participant"]["name"] == "张师傅" and event["data"]["seconds"] == 120
    assert event["data"]["ends_at"] == (live.clock.now + timedelta(seconds=120)).isoformat()
    from_floor = a.op("message", body="我来说两句")
    plain = b.op("message", body="我也想说")
    msgs = {e["seq"]: e["data"] for e in host.events() if e["kind"] == "message"}
    assert msgs[from_floor["seq"]]["from_floor"] is True and msgs[plain["seq"]]["from_floor"] is False
    state = b.emit("state")["state"]
    assert state["floor"]["participant"]["id"] == a.you["id"]
    assert [q["participant"]["name"] for q in state["queue"]] == ["沈网格长"]
    # a department is given the floor without raising a hand
    assert host.op("grant_floor", participant_id=dept.you["id"])["ok"]
    assert b.emit("state")["state"]["floor"]["participant"]["role"] == "department"
    assert host.op("revoke_floor")["ok"]
    assert host.op("revoke_floor")["error"]["status"] == 409
    assert b.op("lower_hand")["ok"]
    assert b.emit("state")["state"]["queue"] == [] and b.emit("state")["state"]["floor"] is None


def test_hiding_keeps_the_reason_and_hides_the_text_from_residents(live):
    host, resident = live.client("host"), live.client("resident2")
    host.join(live.code)
    ack = resident.join(live.code)
    start = ack["seq"]
    resident.op("message", body="广告：低价卖房")
    msg_id = [e for e in host.events() if e["kind"] == "message"][0]["data"]["id"]
    moderator = live.client("moderator")
    moderator.join(live.code)
    assert moderator.op("hide", message_id=msg_id, reason="广告")["ok"]
    hidden = [e for e in resident.events() if e["kind"] == "hidden"][0]
    assert hidden["data"]["message_id"] == msg_id and hidden["data"]["reason"] == "广告"
    # a resident who reconnects does not get the text back; the host still sees it
    replay = resident.emit("sync", {"since": start})["events"]
    replayed = [e for e in replay if e["kind"] == "message"][0]
    assert replayed["data"]["body"] == "" and replayed["data"]["hidden"] is True
    assert [m for m in resident.emit("state")["state"]["messages"] if m["id"] == msg_id][0]["body"] == ""
    assert [m for m in host.emit("state")["state"]["messages"] if m["id"] == msg_id][0]["body"] == "广告：低价卖房"


def test_agenda_pin_and_closing_with_minutes(live):
    host, resident = live.client("host"), live.client("resident2")
    host.join(live.code)
    resident.join(live.code)
    assert host.op("agenda", position=2)["ok"]
    assert host.op("agenda", position=9)["error"]["status"] == 404
    assert host.op("pin", text="请文明发言，每人三分钟")["ok"]
    resident.op("message", body="支持")
    state = resident.emit("state")["state"]
    assert state["agenda_position"] == 2 and state["pinned"] == "请文明发言，每人三分钟"
    assert host.op("status", status="closed")["ok"]
    status = [e for e in resident.events() if e["kind"] == "status"][-1]
    assert status["data"]["status"] == "closed"
    # codes expire with the session
    late = live.client("grid_head")
    assert late.emit("join", {"code": live.code})["error"]["status"] == 404
    assert resident.op("message", body="散会了吗")["error"]["status"] == 409


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "[点我](javascript:alert(1)) javascript:alert(1)",
    "ئۇيغۇرچە خەۋەر",
    "مرحبا بالجميع",
    "人人为我，我为人人 👍🏽👨‍👩‍👧",
])
def test_text_round_trips_unchanged(live, text):
    resident = live.client("resident2")
    resident.join(live.code)
    seq = resident.op("message", body=text)["seq"]
    event = [e for e in resident.events() if e["seq"] == seq][0]
    assert event["data"]["body"] == text
    assert resident.emit("state")["state"]["messages"][-1]["body"] == text


def test_messages_are_rate_limited_per_participant(live):
    resident, other = live.client("resident2"), live.client("grid_head")
    resident.join(live.code)
    other.join(live.code)
    for i in range(5):
        assert resident.op("message", body=f"{i}")["ok"]
    fast = resident.op("message", body="太快了")
    assert fast["ok"] is False and fast["error"]["status"] == 429
    assert other.op("message", body="别人不受影响")["ok"]
    live.clock.advance(seconds=11)
    assert resident.op("message", body="现在可以了")["ok"]
