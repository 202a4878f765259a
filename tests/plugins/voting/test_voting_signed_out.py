"""A phone signed out everywhere (lost, stolen) or whose member was deactivated casts no
more votes on a /vote connection it opened before; a script's bearer token is not a
sign-in and keeps working."""

from __future__ import annotations

import uuid

import pytest

from core.db import session_scope
from core.models import Member
from core.services import auth as auth_service
from tests.conftest import Clock, make_app
from tests.plugins.voting.voting_world import VoteWorld


@pytest.fixture(params=[True, False], ids=["group-commit", "one-by-one"])
def sw(request, tmp_path):
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_GROUP_COMMIT=request.param)
    return VoteWorld(app, clock)


def _vote(tc, motion_id, choice):
    return tc.emit("vote", {"cid": uuid.uuid4().hex, "motion_id": motion_id, "ballot": {"choice": choice}},
                   namespace="/vote", callback=True)


@pytest.mark.parametrize("how", ["signed_out", "deactivated"])
def test_an_open_vote_connection_stops_voting_for_a_member_signed_out(sw, how):
    m = sw.motion(method="plurality", options=["东片", "西片"])
    http, _ = sw.http("resident2")
    tc = sw.app.extensions["courtyard"].socketio.test_client(sw.app, namespace="/vote", flask_test_client=http)
    assert _vote(tc, m["id"], "东片")["ok"]
    with session_scope(sw.app.extensions["courtyard"].sessionmaker) as db:
        member = db.get(Member, sw.ids["resident2"])
        if how == "signed_out":
            auth_service.end_sign_ins(db, actor=None, member=member)
        else:
            member.active = False
    after = _vote(tc, m["id"], "西片")
    assert after["ok"] is False and after["error"]["status"] in (401, 403), after
    if how == "signed_out":  # a new sign-in on the phone votes again
        fresh = sw.app.test_client()
        sw.login(fresh, "resident2")
        tc2 = sw.app.extensions["courtyard"].socketio.test_client(sw.app, namespace="/vote", flask_test_client=fresh)
        assert _vote(tc2, m["id"], "西片")["ok"]


def test_a_bearer_token_connection_is_not_ended_by_signing_out(sw):
    m = sw.motion(method="plurality", options=["东片", "西片"])
    with session_scope(sw.app.extensions["courtyard"].sessionmaker) as db:
        member = db.get(Member, sw.ids["resident2"])
        token = auth_service.issue_api_token(db, member=member, label="script")
    tc = sw.app.extensions["courtyard"].socketio.test_client(sw.app, namespace="/vote",
                                                            headers={"Authorization": f"Bearer {token}"})
    assert _vote(tc, m["id"], "东片")["ok"]
    with session_scope(sw.app.extensions["courtyard"].sessionmaker) as db:
        auth_service.end_sign_ins(db, actor=None, member=db.get(Member, sw.ids["resident2"]))
    assert _vote(tc, m["id"], "西片")["ok"]
