"""A phone that was signed out everywhere (lost, stolen, handed on) or whose member was
deactivated loses what its member could do on a connection it opened before: an open
/live connection no longer speaks, hides or gives the floor as that member."""

from __future__ import annotations

import pytest

from core.db import session_scope
from core.models import Member
from core.services import auth as auth_service


def _end(live, role: str, how: str) -> None:
    with session_scope(live.app.extensions["courtyard"].sessionmaker) as db:
        member = db.get(Member, live.ids[role])
        if how == "signed_out":
            auth_service.end_sign_ins(db, actor=None, member=member)
        else:
            member.active = False


@pytest.mark.parametrize("how", ["signed_out", "deactivated"])
def test_an_open_connection_stops_acting_for_a_member_signed_out(live, how):
    host, resident, neighbour = live.client("host"), live.client("resident2"), live.client("grid_head")
    host.join(live.code)
    resident.join(live.code)
    neighbour.join(live.code)
    said = resident.op("message", body="我先说")
    assert said["ok"]
    assert host.op("pin", text="先说停车")["ok"]
    _end(live, "host", how)
    _end(live, "resident2", how)
    message_id = next(e["data"]["id"] for e in host.events() if e["kind"] == "message")
    acts = {
        "message": resident.op("message", body="被偷的手机在说话"),
        "raise_hand": resident.op("raise_hand"),
        "pin": host.op("pin", text="被偷的手机"),
        "hide": host.op("hide", message_id=message_id, reason="x"),
        "grant_floor": host.op("grant_floor", participant_id=resident.you["id"]),
    }
    allowed = {event: ack for event, ack in acts.items() if ack.get("ok")}
    assert allowed == {}, sorted(allowed)
    assert all(ack["error"]["status"] in (401, 403) for ack in acts.values()), acts
    # nor does the phone hear the room any more
    resident.events()
    assert neighbour.op("message", body="签退之后说的话")["ok"]
    assert not [e for e in resident.events() if e["kind"] == "message"]
