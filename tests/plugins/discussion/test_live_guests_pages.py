"""Guests, join-code guessing, the live page, minutes pages and exports, hooks."""

from __future__ import annotations

import csv
import io

from core.db import session_scope
from core.plugins import hookimpl
from tests.conftest import make_app


def test_guest_joins_with_a_name_speaks_but_cannot_vote_and_keeps_their_identity(live):
    guest = live.client(None)
    nameless = guest.emit("join", {"code": live.code})
    assert nameless["ok"] is False and "guest_name" in nameless["error"]["fields"]
    ack = guest.join(live.code, guest_name="路过的李老师")
    assert ack["you"]["guest"] is True and ack["you"]["can_vote"] is False and ack["you"]["role"] == "guest"
    token = ack["you"]["guest_token"]
    assert guest.op("message", body="我是来旁听的")["ok"]
    assert guest.op("status", status="closed")["error"]["status"] == 403
    guest.disconnect()
    back = live.client(None)
    again = back.join(live.code, guest_token=token, since=ack["seq"])
    assert again["you"]["id"] == ack["you"]["id"] and "guest_token" not in again["you"]


def test_guests_are_refused_where_the_session_does_not_allow_them(live):
    guest = live.client(None)
    ack = guest.emit("join", {"code": live.other_code, "guest_name": "访客"})
    assert ack["ok"] is False and ack["error"]["status"] == 403


def test_join_code_guessing_is_rate_limited(live):
    guesser = live.client(None)
    for _ in range(5):
        assert guesser.emit("join", {"code": "ZZZZZZZZ"})["error"]["status"] == 404
    blocked = guesser.emit("join", {"code": live.code, "guest_name": "猜码的人"})
    assert blocked["error"]["status"] == 429
    http = live.app.test_client()
    for _ in range(5):
        assert http.get("/j/YYYYYYYY").status_code in (404, 429)
    assert http.get(f"/j/{live.code}").status_code == 429


def test_join_link_opens_the_live_page(live):
    http = live.app.test_client()
    live.login(http, "resident2")
    response = http.get(f"/j/{live.code}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/live/{live.code}")
    page = http.get(f"/live/{live.code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="live"' in html and "socket.io.min.js" in html
    assert 'id="guest-form"' not in html
    anonymous = live.app.test_client().get(f"/live/{live.code}").get_data(as_text=True)
    assert 'id="guest-form"' in anonymous
    # not signed in, no guests: sign in first
    assert live.app.test_client().get(f"/live/{live.other_code}").status_code == 302


def test_host_prints_the_code_with_a_qr(live):
    http = live.app.test_client()
    live.login(http, "host")
    page = http.get(f"/live/{live.code}/print").get_data(as_text=True)
    assert live.code in page and "<svg" in page
    resident = live.app.test_client()
    live.login(resident, "resident2")
    assert resident.get(f"/live/{live.code}/print").status_code == 403


def _close_with_record(live):
    host, resident, dept = live.client("host"), live.client("resident2"), live.client("department")
    for c in (host, resident, dept):
        c.join(live.code)
    guest = live.client(None)
    guest.join(live.code, guest_name="访客甲")
    host.op("agenda", position=1)
    host.op("pin", text="每人发言不超过三分钟")
    resident.op("raise_hand")
    host.op("grant_floor", participant_id=resident.you["id"], seconds=180)
    resident.op("message", body="路边停满了车，老人过马路很危险")
    host.op("grant_floor", participant_id=dept.you["id"])
    dept.op("message", body="城管局：下周起增加巡查")
    guest.op("message", body="=HYPERLINK(\"x\")")
    spam = guest.op("message", body="广告")
    host.op("revoke_floor")
    events = [e for e in host.events() if e["kind"] == "message" and e["seq"] == spam["seq"]]
    host.op("hide", message_id=events[0]["data"]["id"], reason="广告")
    assert host.op("status", status="closed")["ok"]


def test_minutes_are_compiled_when_the_session_closes(live):
    _close_with_record(live)
    http = live.app.test_client()
    live.login(http, "resident2")
    base = f"/c/{live.slug}/sessions/{live.session_id}/minutes"
    m = http.get(base + ".json").get_json()
    assert {a["name"] for a in m["attendance"]} == {"李月昌", "张师傅", "城管局", "访客甲"}
    assert [a["guest"] for a in m["attendance"] if a["name"] == "访客甲"] == [True]
    assert [a["title"] for a in m["agenda"]] == ["网格报告", "部门回应", "居民提问"]
    assert [a["reached"] for a in m["agenda"]] == [True, False, False]
    assert [f["name"] for f in m["floor"]] == ["张师傅", "城管局"] and m["floor"][0]["seconds"] == 180
    assert [a["text"] for a in m["announcements"]] == ["每人发言不超过三分钟"]
    bodies = [d["body"] for d in m["discussion"]]
    assert "广告" not in bodies and "城管局：下周起增加巡查" in bodies
    assert [d["from_floor"] for d in m["discussion"]][:2] == [True, True]
    assert m["hidden"][0]["reason"] == "广告"
    page = http.get(base).get_data(as_text=True)
    assert "路边停满了车" in page and "访客甲" in page
    rows = list(csv.reader(io.StringIO(http.get(base + ".csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["section", "at", "name", "role", "text", "detail"]
    said = [r for r in rows if "城管局：下周起增加巡查" in r][0]
    assert said[0] == "message" and said[2] == "城管局" and said[4] == "城管局：下周起增加巡查"
    assert any(r[4] == "'=HYPERLINK(\"x\")" for r in rows)  # no formula runs in a spreadsheet
    assert live.app.test_client().get(base + ".json").status_code == 401


class MinutesPlugin:
    plugin_name = "test_votes"
    builtin = True  # enabled everywhere by default, like a built-in
    posted: list = []

    @staticmethod
    @hookimpl
    def courtyard_minutes_sections(session, db):
        return [{"key": "votes", "title": "Vote results", "rows": [{"label": "先修村道", "value": "18 票"}]}]

    @staticmethod
    @hookimpl
    def courtyard_message_posted(session, message, participant):
        MinutesPlugin.posted.append((session.id, message.body, participant.display_name))


def test_plugins_add_minutes_sections_and_hear_messages(tmp_path, live_clock):
    from tests.plugins.discussion.conftest import LiveWorld

    app = make_app(tmp_path, DISCUSSION_CLOCK=live_clock, EXTRA_PLUGINS=[MinutesPlugin])
    live = LiveWorld(app, live_clock)
    MinutesPlugin.posted.clear()
    host = live.client("host")
    host.join(live.code)
    host.op("message", body="开会")
    assert MinutesPlugin.posted == [(live.session_id, "开会", "李月昌")]
    host.op("status", status="closed")
    http = app.test_client()
    live.login(http, "host")
    m = http.get(f"/c/{live.slug}/sessions/{live.session_id}/minutes.json").get_json()
    assert m["sections"] == [{"plugin": "test_votes", "key": "votes", "title": "Vote results",
                              "rows": [{"label": "先修村道", "value": "18 票"}]}]
    assert "18 票" in http.get(f"/c/{live.slug}/sessions/{live.session_id}/minutes").get_data(as_text=True)
