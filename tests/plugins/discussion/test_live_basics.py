"""The /live namespace with the Socket.IO test client: joining, presence, messages,
replay after a reconnect, idempotent retries."""

from __future__ import annotations


def test_members_join_by_code_and_see_each_other(live, live_scheduler):
    host = live.client("host")
    ack = host.join(live.code)
    assert ack["you"]["role"] == "host" and ack["you"]["host"] is True
    assert ack["state"]["session"]["status"] == "live"
    resident = live.client("resident2")
    ack = resident.join(live.code.lower())
    assert ack["you"]["role"] == "resident" and ack["you"]["can_vote"] is True
    assert {p["name"] for p in ack["state"]["present"]} == {"李月昌", "张师傅"}
    assert ack["state"]["count"] == 2
    assert "attendance" not in ack["state"]  # only the host sees attendance
    # the host's own join was announced at once; 张师傅's, a moment later, with the next announcement
    assert [e["data"]["present"] for e in host.events() if e["kind"] == "presence"] == [
        [{"id": host.you["id"], "name": "李月昌", "role": "host"}]]
    live_scheduler.advance(seconds=0.5)
    presence = [e["data"] for e in host.events() if e["kind"] == "presence"]
    assert presence == [{"present": [{"id": resident.you["id"], "name": "张师傅", "role": "resident"}],
                         "absent": [], "count": 2}]


def test_message_reaches_everyone_with_sequence(live):
    host, resident = live.client("host"), live.client("resident2")
    host.join(live.code)
    resident.join(live.code)
    host.events(), resident.events()
    ack = resident.op("message", body="芙蓉中路三段晚上全是违停 🚗")
    assert ack["ok"] and isinstance(ack["seq"], int)
    for c in (host, resident):
        events = c.events()
        assert [e["kind"] for e in events] == ["message"]
        assert events[0]["seq"] == ack["seq"]
        assert events[0]["data"]["body"] == "芙蓉中路三段晚上全是违停 🚗"
        assert events[0]["data"]["participant"]["name"] == "张师傅"


def test_a_retried_emit_is_stored_once(live):
    resident = live.client("resident2")
    resident.join(live.code)
    first = resident.op("message", cid="retry-0001", body="只说一次")
    again = resident.op("message", cid="retry-0001", body="只说一次")
    assert first["ok"] and again == {"ok": True, "seq": first["seq"], "duplicate": True}
    bodies = [e["data"]["body"] for e in resident.events() if e["kind"] == "message"]
    assert bodies == ["只说一次"]
    # another participant may use the same client id without clashing
    other = live.client("grid_head")
    other.join(live.code)
    assert other.op("message", cid="retry-0001", body="我的")["seq"] > first["seq"]


def test_reconnect_replays_what_was_missed_in_order(live):
    host, resident = live.client("host"), live.client("resident2")
    host.join(live.code)
    ack = resident.join(live.code)
    resident.op("message", body="第一条")
    last_seen = max(e["seq"] for e in resident.events())
    resident.disconnect()  # the phone locks
    sent = [host.op("message", body=f"错过的第{i}条")["seq"] for i in range(3)]
    host.op("raise_hand")
    back = live.client("resident2")
    ack = back.join(live.code, since=last_seen)
    assert "state" not in ack
    seqs = [e["seq"] for e in ack["events"]]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)) and seqs[0] == last_seen + 1
    bodies = [e["data"]["body"] for e in ack["events"] if e["kind"] == "message"]
    assert bodies == ["错过的第0条", "错过的第1条", "错过的第2条"]
    assert set(sent) <= set(seqs)
    assert ack["seq"] == seqs[-1]
    # sync gives the same answer, so a client that saw a gap can fill it
    sync = back.emit("sync", {"since": last_seen})
    assert [e["seq"] for e in sync["events"]] == seqs and sync["more"] is False


def test_leaving_is_seen_by_others(live, live_scheduler):
    host, resident = live.client("host"), live.client("resident2")
    host.join(live.code)
    resident.join(live.code)
    live_scheduler.advance(seconds=0.5)
    host.events()
    live_scheduler.advance(seconds=0.5)  # a quiet moment: the next change is told at once
    resident.disconnect()
    presence = [e["data"] for e in host.events() if e["kind"] == "presence"]
    assert presence == [{"present": [], "absent": [resident.you["id"]], "count": 1}]
    assert host.emit("state")["state"]["count"] == 1
