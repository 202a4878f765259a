"""Assisted votes (a host recording the vote of a resident without a phone): only for a
resident checked in at the motion's session, never over a vote the resident cast
themselves, and the resident may still change an assisted vote on their own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import session_scope
from core.models import Ballot, LiveEvent, Participant
from core.models.vote import Participation
from tests.plugins.voting.test_voting_live import received, sock
from tests.plugins.voting.voting_world import vote_app, vote_clock, vw  # noqa: F401  (fixtures)


def ballots(vw, motion_id: int) -> int:
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        return db.scalar(select(func.count()).select_from(Ballot).where(Ballot.motion_id == motion_id))


def test_no_assisted_vote_for_a_resident_who_is_not_checked_in(vw):
    m = vw.motion()
    r = vw.vote("host", m["id"], {"choice": "yes"}, member_id=vw.ids["resident"])  # 王阿婆 never came
    assert r.status_code == 409, r.get_json()
    assert "签到" in r.get_json()["error"]["fields"]["member_id"][0]
    assert ballots(vw, m["id"]) == 0
    # checked in by the host at the door: now her show of hands can be recorded
    assert vw.check_in(m["id"], "resident").status_code == 201
    assert vw.check_in(m["id"], "resident").status_code == 200  # already there: nothing changes
    ok = vw.vote("host", m["id"], {"choice": "yes"}, member_id=vw.ids["resident"])
    assert ok.status_code == 201 and ok.get_json()["assisted"] is True
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        events = list(db.scalars(select(LiveEvent).where(LiveEvent.session_id == vw.session_id,
                                                         LiveEvent.kind == "checked_in")))
        assert [(e.payload["participant"]["name"], e.payload["by"]) for e in events] == [("王阿婆", "李月昌")]


def test_a_resident_who_joined_the_live_room_is_present(vw):
    m = vw.motion()
    live = sock(vw, "resident2", "/live")
    assert live.emit("join", {"code": vw.code}, namespace="/live", callback=True)["ok"]
    r = vw.vote("host", m["id"], {"choice": "no"}, member_id=vw.ids["resident2"])
    assert r.status_code == 201, r.get_json()


def test_no_assisted_vote_on_a_motion_without_a_session(vw):
    m = vw.motion("admin", session_id=None)
    for by in ("admin", "host"):
        r = vw.vote(by, m["id"], {"choice": "yes"}, member_id=vw.ids["resident"])
        assert r.status_code == 409 and "member_id" in r.get_json()["error"]["fields"], r.get_json()
    assert vw.check_in(m["id"], "resident").status_code == 409
    assert ballots(vw, m["id"]) == 0


def test_only_hosts_and_staff_check_residents_in(vw):
    m = vw.motion()
    assert vw.check_in(m["id"], "resident", by="resident2").status_code == 403
    assert vw.check_in(m["id"], "resident", by="department").status_code == 403
    bad = vw.api("host", "POST", f"/motions/{m['id']}/check-in", {"member_id": "2"})
    assert bad.status_code == 400 and "member_id" in bad.get_json()["error"]["fields"]
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        assert db.scalar(select(func.count()).select_from(Participant)) == 0


def test_an_assisted_vote_never_replaces_the_residents_own_vote(vw):
    m = vw.motion()
    assert vw.vote("resident2", m["id"], {"choice": "no"}).status_code == 201  # 张师傅 on his own phone
    assert vw.check_in(m["id"], "resident2").status_code == 201
    r = vw.vote("host", m["id"], {"choice": "yes"}, member_id=vw.ids["resident2"])
    assert r.status_code == 409, r.get_json()
    assert "自己" in r.get_json()["error"]["fields"]["member_id"][0]
    mine = vw.api("resident2", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine["choice"] == "no" and mine["assisted_by"] is None


def test_the_resident_may_change_an_assisted_vote_and_then_it_is_theirs(vw):
    m = vw.motion()
    assert vw.check_in(m["id"], "resident").status_code == 201
    assert vw.vote("host", m["id"], {"choice": "yes"}, member_id=vw.ids["resident"]).status_code == 201
    # the host may correct the vote they recorded
    assert vw.vote("host", m["id"], {"choice": "abstain"}, member_id=vw.ids["resident"]).status_code == 200
    mine = vw.api("resident", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine["choice"] == "abstain" and mine["assisted_by"] == "李月昌"  # shown to her
    changed = vw.vote("resident", m["id"], {"choice": "no"})
    assert changed.status_code == 200 and changed.get_json()["assisted"] is False
    mine = vw.api("resident", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine["choice"] == "no" and mine["assisted_by"] is None
    assert vw.vote("host", m["id"], {"choice": "yes"}, member_id=vw.ids["resident"]).status_code == 409


def test_secret_ballot_assisted_vote_never_replaces_the_residents_own(vw):
    m = vw.motion(method="plurality", options=["东片", "西片"], secret=True)
    assert vw.vote("resident2", m["id"], {"choice": "东片"}).status_code == 201
    assert vw.check_in(m["id"], "resident2").status_code == 201
    r = vw.vote("host", m["id"], {"choice": "西片"}, member_id=vw.ids["resident2"], voter_key="k" * 20)
    assert r.status_code == 409 and "member_id" in r.get_json()["error"]["fields"], r.get_json()
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        part = db.scalar(select(Participation).where(Participation.motion_id == m["id"]))
        assert part.assisted_by_id is None


def test_assisted_vote_over_the_socket_needs_the_resident_checked_in(vw):
    m = vw.motion()
    host = sock(vw, "host")
    vote = {"motion_id": m["id"], "ballot": {"choice": "yes"}, "member_id": vw.ids["resident"]}
    ack = host.emit("vote", {"cid": uuid.uuid4().hex, **vote}, namespace="/vote", callback=True)
    assert not ack["ok"] and ack["error"]["status"] == 409 and "member_id" in ack["error"]["fields"]
    vw.check_in(m["id"], "resident")
    ack = host.emit("vote", {"cid": uuid.uuid4().hex, **vote}, namespace="/vote", callback=True)
    assert ack["ok"] and ack["assisted"], ack
    assert received(host, "tally") == []


def test_host_page_checks_in_then_records_the_vote(vw):
    import re

    m = vw.motion()
    c, _ = vw.http("host")
    url = f"/c/{vw.slug}/motions/{m['id']}"
    page = c.get(url).get_data(as_text=True)
    assisted_form = page[page.index('id="member_id"'):]
    assert "王阿婆" not in assisted_form.split("</select>")[0]  # not checked in: not offered for a vote
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    posted = c.post(f"{url}/check-in", data={"csrf_token": token, "member_id": str(vw.ids["resident"])})
    assert posted.status_code == 302
    page = c.get(url).get_data(as_text=True)
    assert "王阿婆" in page[page.index('id="member_id"'):].split("</select>")[0]
    voted = c.post(f"{url}/vote", data={"csrf_token": token, "member_id": str(vw.ids["resident"]), "choice": "yes"})
    assert voted.status_code == 302
    mine = vw.api("resident", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine["choice"] == "yes" and mine["assisted_by"] == "李月昌"
    # a motion without a session offers no assisted vote at all
    other = vw.motion("admin", session_id=None)
    admin, _ = vw.http("admin")
    page = admin.get(f"/c/{vw.slug}/motions/{other['id']}").get_data(as_text=True)
    assert "data-no-assist" in page and 'id="member_id"' not in page


def _race_own_and_assisted(w, n: int = 10) -> tuple[list[BaseException], list[Any], Any]:
    """``n`` threads at once (fewer than the app's pooled connections): half the resident voting "no" on their own phone, half the host
    recording "yes" for them. Returns the unexpected errors, the log records of the
    resident's ballot in order, and the ballot as stored."""
    import threading

    from core.errors import Conflict
    from core.models import Member
    from core.models.vote import Motion
    from core.services import votes as svc

    m = w.motion()
    factory = w.app.extensions["courtyard"].sessionmaker
    with session_scope(factory) as db:  # she is in the room (the attendance record the check-in makes)
        db.add(Participant(session_id=w.session_id, member_id=w.ids["resident"], display_name="王阿婆",
                           role="resident"))
    barrier = threading.Barrier(n, timeout=30)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        db = factory()
        try:
            own = i % 2 == 0
            actor = db.get(Member, w.ids["resident" if own else "host"])
            voter = db.get(Member, w.ids["resident"])
            motion = db.get(Motion, m["id"])
            barrier.wait()
            svc.cast_ballot(db, actor=actor, voter=voter, motion=motion, choice="no" if own else "yes",
                            client_id=f"cid-{i:08d}", now=w.clock.now)
            db.commit()
        except Conflict as exc:  # the host refused: expected once the resident has voted
            db.rollback()
            if exc.field != "member_id" or i % 2 == 0:
                errors.append(exc)
        except BaseException as exc:  # collected and reported below
            db.rollback()
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with session_scope(factory) as db:
        records = [e.record for e in svc.log_entries(db, m["id"])]
        ballot = db.scalar(select(Ballot).where(Ballot.motion_id == m["id"]))
        return errors, records, (ballot.choice, ballot.assisted_by_id) if ballot is not None else None


def _check_race(w) -> None:
    errors, records, stored = _race_own_and_assisted(w)
    assert errors == []
    overwritten = [i for i, (a, b) in enumerate(zip(records, records[1:]))
                   if a["assisted_by"] is None and b["assisted_by"] is not None]
    assert overwritten == [], f"{len(overwritten)} assisted votes replaced the resident's own"
    assert stored == ("no", None)  # the resident's own vote stands


def test_resident_and_host_at_the_same_moment_sqlite(vw):
    _check_race(vw)


@pytest.mark.postgres
def test_resident_and_host_at_the_same_moment_postgresql(tmp_path, fresh_postgres):
    from tests.conftest import Clock, make_app
    from tests.plugins.voting.voting_world import VoteWorld

    clock = Clock()
    app = make_app(tmp_path, DATABASE_URL=fresh_postgres, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock)
    _check_race(VoteWorld(app, clock))
    app.extensions["courtyard"].engine.dispose()


def test_a_secret_vote_recorded_for_a_resident_is_final_and_its_change_code_stays_with_nobody(vw):
    """The probe: the host's device got the resident's change code in the acknowledgement
    and, with it, changed the resident's secret vote again (200, "changed") after the first
    record, while the resident, who never saw the code, could not change it themselves.
    Now the code is given to nobody and a recorded secret vote cannot be changed for them."""
    m = vw.motion(method="plurality", options=["东片", "西片"], secret=True)
    assert vw.check_in(m["id"], "resident2").status_code == 201
    first = vw.vote("host", m["id"], {"choice": "西片"}, member_id=vw.ids["resident2"], cid="assist-cid-1")
    assert first.status_code == 201 and first.get_json()["assisted"] is True
    code = first.get_json().get("voter_key")  # the host's device kept it (before)
    again = vw.vote("host", m["id"], {"choice": "西片"}, member_id=vw.ids["resident2"], cid="assist-cid-1")
    assert again.status_code in (200, 201) and again.get_json()["duplicate"] is True  # a retry is harmless
    for key in (code, None, "k" * 32):
        extra = {"voter_key": key} if key else {}
        changed = vw.vote("host", m["id"], {"choice": "东片"}, member_id=vw.ids["resident2"], **extra)
        assert changed.status_code == 409 and "member_id" in changed.get_json()["error"]["fields"], changed.get_json()
    assert code is None
    mine = vw.api("resident2", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine["voted"] is True and mine["assisted_by"] == "李月昌"
