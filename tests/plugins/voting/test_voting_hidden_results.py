"""Results hidden until close stay hidden — from staff, admins and hosts too — on every
reader: the API (motion, list, results, verify, receipts), the CSV, the pages, the
``/vote`` socket (join snapshot and tally broadcasts) and ``courtyard verify``. A secret
ballot never shows live results: creating one is refused with the field named, and a
secret motion stored with live results before that rule is read as hidden until close."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from core.db import session_scope
from core.errors import Invalid
from core.models import Community
from core.models.vote import Motion
from core.services import votes as svc
from plugins.tally import METHODS
from tests.conftest import Clock, make_app
from tests.plugins.voting.test_voting_live import FakeTime, received, sock
from tests.plugins.voting.voting_world import VoteWorld
from tests.plugins.voting.voting_world import vote_app, vote_clock, vw  # noqa: F401  (fixtures)

OPTIONS = ["东片", "西片"]
#: keys under which a tally carries per-option figures (majority/plurality counts, IRV rounds,
#: score totals, winners, a recount)
COUNT_KEYS = {"counts", "totals", "rounds", "scores", "averages", "winners", "winner", "passed", "recount",
              "stored", "result"}
STAFF_AND_HOST = ["admin", "moderator", "host"]


def counts_in(obj: Any, path: str = "") -> list[str]:
    """Where ``obj`` (decoded JSON) carries per-option figures: a non-empty value under a
    count key, or an option name paired with a number."""
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in COUNT_KEYS and v not in (None, [], {}):
                found.append(f"{path}.{k}")
            elif k in OPTIONS and isinstance(v, (int, float)) and not isinstance(v, bool):
                found.append(f"{path}.{k}")
            found += counts_in(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += counts_in(v, f"{path}[{i}]")
    return found


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def hw(tmp_path, fake_time) -> VoteWorld:
    clock = Clock()
    app = make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, VOTING_MONOTONIC=fake_time,
                   VOTING_SCHEDULE=fake_time.schedule)
    return VoteWorld(app, clock)


def _make_secret_live(w: VoteWorld, motion_id: int) -> None:
    """A secret motion stored with live results, as rows made before the rule look."""
    with session_scope(w.app.extensions["courtyard"].sessionmaker) as db:
        db.execute(update(Motion).where(Motion.id == motion_id).values(results_visibility="live"))


def _voted_motion(w: VoteWorld, kind: str) -> int:
    """An open motion with 3 votes (2 for 东片, 1 for 西片): ``hidden`` (open ballot, results
    after close) or ``secret_live`` (secret ballot stored with live results)."""
    secret = kind == "secret_live"
    m = w.motion(method="plurality", options=OPTIONS, secret=secret, results_visibility="after_close")
    if secret:
        _make_secret_live(w, m["id"])
    for role, choice in (("resident2", "东片"), ("grid_head", "西片"), ("department", "东片")):
        assert w.vote(role, m["id"], {"choice": choice}).status_code == 201
    return m["id"]


@pytest.mark.parametrize("kind", ["hidden", "secret_live"])
def test_no_api_reader_reveals_counts_before_close(hw, kind):
    mid = _voted_motion(hw, kind)
    leaks: dict[str, list[str]] = {}
    for role in STAFF_AND_HOST:
        for path in (f"/motions/{mid}", "/motions", f"/motions?session_id={hw.session_id}",
                     f"/motions/{mid}/results", f"/motions/{mid}/receipts", f"/motions/{mid}/verify"):
            r = hw.api(role, "GET", path)
            assert r.status_code in (200, 403, 409), (role, path, r.status_code)
            where = counts_in(r.get_json())
            if where:
                leaks[f"{role} GET {path}"] = where
        assert hw.api(role, "GET", f"/motions/{mid}/results").status_code == 409
    assert leaks == {}
    # staff still get the integrity check before close, without the recount
    report = hw.api("admin", "GET", f"/motions/{mid}/verify").get_json()
    # (a secret ballot waits sealed until its batch is written out: no log entry yet)
    assert report["ok"] and report["entries"] == (0 if kind == "secret_live" else 3) and report["recount"] is None
    detail = hw.api("admin", "GET", f"/motions/{mid}").get_json()
    assert detail["result"] is None and detail["results_visibility"] == "after_close"
    assert detail["voted"] == 3  # the turnout is not a count of choices (docs/voting.md)
    # after close everything is there
    hw.api("host", "POST", f"/motions/{mid}/close")
    after = hw.api("admin", "GET", f"/motions/{mid}/verify").get_json()
    assert after["ok"] and after["recount"]["counts"] == {"东片": 2, "西片": 1}
    assert hw.api("resident2", "GET", f"/motions/{mid}/results").get_json()["result"]["counts"] == {"东片": 2,
                                                                                                    "西片": 1}


@pytest.mark.parametrize("kind", ["hidden", "secret_live"])
def test_no_page_or_csv_reveals_counts_before_close(hw, kind):
    mid = _voted_motion(hw, kind)
    for role in STAFF_AND_HOST:
        c, _ = hw.http(role)
        assert c.get(f"/c/{hw.slug}/motions/{mid}/results.csv").status_code == 404
        results = c.get(f"/c/{hw.slug}/motions/{mid}/results").get_data(as_text=True)
        assert "data-hidden-result" in results and "data-figures" not in results and "<svg" not in results
        page = c.get(f"/c/{hw.slug}/motions/{mid}").get_data(as_text=True)
        assert "data-tally" not in page
        assert not re.search(r"东片: <strong>\d", page) and not re.search(r"西片: <strong>\d", page)
        receipts = c.get(f"/c/{hw.slug}/motions/{mid}/receipts").get_data(as_text=True)
        assert "东片</td>" not in receipts and "西片</td>" not in receipts
    # the session's minutes (previewed while it is on) carry no vote of an open motion
    from core.models import ConsultationSession
    from core.services import live as live_service

    with session_scope(hw.app.extensions["courtyard"].sessionmaker) as db:
        session = db.get(ConsultationSession, hw.session_id)
        minutes = live_service.build_minutes(db, session=session, pm=hw.app.extensions["courtyard"].pm)
        assert [s for s in minutes["sections"] if s["key"] == "votes"] == []


@pytest.mark.parametrize("kind", ["hidden", "secret_live"])
def test_socket_snapshot_and_tally_reveal_no_counts_before_close(hw, fake_time, kind):
    m = hw.motion(method="plurality", options=OPTIONS, secret=kind == "secret_live")
    if kind == "secret_live":
        _make_secret_live(hw, m["id"])
    watchers = {role: sock(hw, role) for role in STAFF_AND_HOST}
    voter = sock(hw, "resident2")
    for i, role in enumerate(["resident2", "grid_head", "department", "other_grid_head"]):
        tc = voter if role == "resident2" else sock(hw, role)
        ack = tc.emit("vote", {"cid": uuid.uuid4().hex, "motion_id": m["id"], "ballot": {"choice": OPTIONS[i % 2]}},
                      namespace="/vote", callback=True)
        assert ack["ok"], ack
        fake_time.advance(0.5)
        if i == 0:  # watchers join once votes are in: their snapshot holds no result
            for role, w in watchers.items():
                state = w.emit("watch", {"motion_id": m["id"]}, namespace="/vote", callback=True)["motion"]
                assert counts_in(state) == [] and state["results_visibility"] == "after_close", (role, state)
    fake_time.advance(1)
    for role, w in watchers.items():
        assert received(w, "tally") == [], role
        assert all(counts_in(e) == [] for e in received(w, "motion")), role
    assert received(voter, "tally") == []


@pytest.mark.parametrize("kind", ["hidden", "secret_live"])
def test_courtyard_verify_prints_no_count_before_close(hw, tmp_path, kind):
    from web.cli import main

    mid = _voted_motion(hw, kind)
    env = {"COURTYARD_DATABASE_URL": str(hw.app.extensions["courtyard"].engine.url),
           "COURTYARD_PLUGIN_ENTRYPOINTS": "0", "COURTYARD_SECRET_KEY": "x", "COURTYARD_INSTANCE_PATH": str(tmp_path)}
    out = CliRunner().invoke(main, ["verify", str(mid), "--json"], env=env)
    assert out.exit_code == 0, out.output
    report = json.loads(out.output[:out.output.rindex("}") + 1])
    assert report["ok"] and counts_in(report) == []
    assert "winners" not in out.output.split("\n")[-2] and "hidden until the vote closes" in out.output


def test_secret_ballot_with_live_results_is_refused_naming_the_field(vw):
    body = {"title": "垃圾分类点设在哪里？", "method": "plurality", "options": OPTIONS, "session_id": vw.session_id,
            "secret": True, "results_visibility": "live", "open_now": True}
    r = vw.api("host", "POST", "/motions", body)
    assert r.status_code == 400, r.get_json()
    message = r.get_json()["error"]["fields"]["results_visibility"][0]
    assert "无记名" in message  # in the community's language
    # the form says so too, and stores nothing
    c, _ = vw.http("host")
    form = c.get(f"/c/{vw.slug}/motions/new?session_id={vw.session_id}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    posted = c.post(f"/c/{vw.slug}/motions", data={"csrf_token": token, "title": "垃圾分类点", "method": "plurality",
                                                  "options": "东片\n西片", "secret": "1", "results_visibility": "live",
                                                  "session_id": str(vw.session_id)},
                    headers={"Referer": f"/c/{vw.slug}/motions/new?session_id={vw.session_id}"})
    assert posted.status_code == 302
    shown = c.get(posted.headers["Location"]).get_data(as_text=True)
    assert "无记名投票不能在投票时实时公布结果" in shown and "results_visibility" in shown
    assert vw.api("host", "GET", "/motions").get_json() == []
    # and the service (the demo, scripts) refuses it as well
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        community = db.get(Community, vw.community_id)
        with pytest.raises(Invalid) as err:
            svc.create_motion(db, actor=None, community=community, method=METHODS["plurality"], title="x",
                              options=OPTIONS, secret=True, results_visibility="live")
        assert err.value.field == "results_visibility"
    # in English for a member who reads English
    c.get("/lang/en")
    en = vw.api("host", "POST", "/motions", body)
    assert en.status_code == 400 and "secret ballot" in en.get_json()["error"]["fields"]["results_visibility"][0]
