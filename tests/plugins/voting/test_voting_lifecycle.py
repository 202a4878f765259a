"""A motion's life through the JSON API and the pages: put on the table, opened, voted
on (and the vote changed), closed, counted; who may do what; who may vote."""

from __future__ import annotations


import re
from datetime import timedelta

from sqlalchemy import func, select

from core.db import session_scope
from core.models import Ballot, BallotLogEntry, Member
from core.services import votes as svc
from tests.plugins.voting.voting_world import vote_app, vote_clock, vw  # noqa: F401  (fixtures)


def count(app, model, **where) -> int:
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return db.scalar(q)


def test_vote_change_close_then_frozen(vw):
    m = vw.motion(quorum=2, threshold="two_thirds")
    assert m["status"] == "open" and m["options"] == ["yes", "no", "abstain"] and m["params"]["quorum"] == 2
    first = vw.vote("resident2", m["id"], {"choice": "no"})
    assert first.status_code == 201 and len(first.get_json()["receipt"]) == 64
    changed = vw.vote("resident2", m["id"], {"choice": "yes"})
    assert changed.status_code == 200 and changed.get_json()["changed"] is True
    assert changed.get_json()["receipt"] != first.get_json()["receipt"]
    mine = vw.api("resident2", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine["choice"] == "yes" and mine["receipt"] == changed.get_json()["receipt"]
    vw.vote("grid_head", m["id"], {"choice": "yes"})
    vw.vote("admin", m["id"], {"choice": "no"})
    # hidden until close
    assert vw.api("resident2", "GET", f"/motions/{m['id']}/results").status_code == 409
    closed = vw.api("host", "POST", f"/motions/{m['id']}/close")
    assert closed.status_code == 200
    result = closed.get_json()["result"]
    assert result["counts"] == {"yes": 2, "no": 1, "abstain": 0}
    assert result["passed"] is True  # 2 of 3 is two-thirds
    assert result["turnout"] == {"ballots": 3, "eligible": 9, "quorum": 2, "quorum_met": True, "percent": 33.3}
    after = vw.vote("resident2", m["id"], {"choice": "no"})
    assert after.status_code == 409
    assert "closed" in after.get_json()["error"]["message"].lower() or "结束" in after.get_json()["error"]["message"]
    assert count(vw.app, Ballot, motion_id=m["id"]) == 3
    assert count(vw.app, BallotLogEntry, motion_id=m["id"]) == 4  # 3 first ballots + 1 change
    assert vw.api("host", "POST", f"/motions/{m['id']}/close").status_code == 409


def test_window_closes_by_itself(vw, vote_clock):
    closes = (vote_clock.now + timedelta(minutes=10)).isoformat()
    m = vw.motion(method="plurality", options=["东片", "西片"], closes_at=closes)
    assert vw.vote("resident2", m["id"], {"choice": "东片"}).status_code == 201
    vote_clock.advance(minutes=11)
    late = vw.vote("resident2", m["id"], {"choice": "西片"})
    assert late.status_code == 409
    data = vw.api("resident2", "GET", f"/motions/{m['id']}").get_json()
    assert data["status"] == "closed" and data["result"]["winners"] == ["东片"]


def test_rights_resident_cannot_open_close_or_assist(vw):
    r = vw.api("resident2", "POST", "/motions", {"title": "x", "method": "majority", "session_id": vw.session_id})
    assert r.status_code == 403
    m = vw.motion(open_now=False)
    assert vw.api("resident2", "POST", f"/motions/{m['id']}/open").status_code in (403, 404)
    assert vw.api("host", "POST", f"/motions/{m['id']}/open").status_code == 200
    assert vw.api("resident2", "POST", f"/motions/{m['id']}/close").status_code == 403
    assisted = vw.vote("resident2", m["id"], {"choice": "yes"}, member_id=vw.ids["resident"])
    assert assisted.status_code == 403
    assert count(vw.app, Ballot, motion_id=m["id"]) == 0
    # department (not staff, not host) cannot manage either
    assert vw.api("department", "POST", f"/motions/{m['id']}/close").status_code == 403


def test_assisted_vote_is_recorded_and_visible_to_the_resident(vw):
    m = vw.motion()
    assert vw.check_in(m["id"], "resident").status_code == 201
    r = vw.vote("host", m["id"], {"choice": "yes"}, member_id=vw.ids["resident"])
    assert r.status_code == 201 and r.get_json()["assisted"] is True
    mine = vw.api("resident", "GET", f"/motions/{m['id']}/my-ballot").get_json()["mine"]
    assert mine == {**mine, "choice": "yes", "assisted_by": "李月昌"}
    page = vw.http("resident")[0].get(f"/c/{vw.slug}/motions/{m['id']}").get_data(as_text=True)
    assert "李月昌" in page
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        b = db.scalar(select(Ballot).where(Ballot.motion_id == m["id"]))
        assert b.member_id == vw.ids["resident"] and b.assisted_by_id == vw.ids["host"]


def test_eligibility_place_list_and_representatives(vw):
    building = vw.motion(method="plurality", options=["A", "B"], electorate="place",
                         place_id=vw.place_ids["building"])
    assert building["eligible"] >= 2
    ok = vw.vote("resident2", building["id"], {"choice": "A"})  # home in 9栋1单元, below 9栋
    assert ok.status_code == 201
    no = vw.vote("other_grid_head", building["id"], {"choice": "A"})  # 西片网格
    assert no.status_code == 403 and no.get_json()["error"]["fields"]["motion"]
    grid = vw.motion(method="plurality", options=["A", "B"], electorate="place", place_id=vw.place_ids["grid"])
    assert vw.vote("grid_head", grid["id"], {"choice": "B"}).status_code == 201  # role bound to the grid
    listed = vw.motion(method="plurality", options=["A", "B"], electorate="list", voter_ids=[vw.ids["admin"]])
    assert listed["eligible"] == 1
    assert vw.vote("resident2", listed["id"], {"choice": "A"}).status_code == 403
    assert vw.vote("admin", listed["id"], {"choice": "A"}).status_code == 201
    assert vw.api("resident2", "PUT", "/representatives", {"member_ids": [vw.ids["resident2"]]}).status_code == 403
    assert vw.api("admin", "PUT", "/representatives", {"member_ids": [vw.ids["resident2"]]}).status_code == 200
    reps = vw.motion(method="plurality", options=["A", "B"], electorate="representatives")
    assert reps["eligible"] == 1
    assert vw.vote("grid_head", reps["id"], {"choice": "A"}).status_code == 403
    assert vw.vote("resident2", reps["id"], {"choice": "B"}).status_code == 201


def test_invalid_ballots_refused_naming_the_field_and_nothing_stored(vw):
    irv = vw.motion(method="irv", options=["水管", "停车", "电梯"])
    bad = [({"ranking": ["水管", "水管"]}, "ranking"), ({"ranking": ["游泳池"]}, "ranking"),
           ({"ranking": []}, "ranking"), ({"choice": "水管"}, "choice"), ("水管", "_schema")]
    for ballot, fieldname in bad:
        r = vw.vote("resident2", irv["id"], ballot)
        assert r.status_code == 400, ballot
        assert fieldname in r.get_json()["error"]["fields"]["ballot"], r.get_json()
    score = vw.motion(method="satisfaction", options=["物业", "城管"])
    r = vw.vote("resident2", score["id"], {"scores": {"物业": 9}})
    assert r.status_code == 400 and "scores" in r.get_json()["error"]["fields"]["ballot"]
    assert count(vw.app, Ballot) == 0 and count(vw.app, BallotLogEntry) == 0
    # the motion itself is checked too
    r = vw.api("host", "POST", "/motions", {"title": "x", "method": "plurality", "options": ["A"]})
    assert r.status_code == 422 and "options" in r.get_json()["error"]["fields"]
    r = vw.api("host", "POST", "/motions", {"title": "x", "method": "score", "options": ["A", "B"],
                                            "params": {"treshold": 1}})
    assert r.status_code == 422 and "params" in r.get_json()["error"]["fields"]


def test_results_page_svg_and_table_equal_the_tally(vw):
    irv = vw.motion(method="irv", options=["水管", "停车", "电梯"], quorum=3)
    for role, ranking in (("resident2", ["水管", "电梯"]), ("grid_head", ["停车", "水管"]),
                          ("admin", ["电梯", "水管"]), ("moderator", ["水管"]), ("department", ["停车", "电梯"])):
        assert vw.vote(role, irv["id"], {"ranking": ranking}).status_code == 201
    result = vw.api("host", "POST", f"/motions/{irv['id']}/close").get_json()["result"]
    c, _ = vw.http("resident2")
    html = c.get(f"/c/{vw.slug}/motions/{irv['id']}/results").get_data(as_text=True)
    first = result["rounds"][0]["counts"]
    svg_figures = re.findall(r'class="figure">([^<]*)<', html)
    table = re.search(r"<table class=\"table\" data-figures>(.*?)</table>", html, re.S).group(1)
    table_figures = re.findall(r"<td data-value>([^<]*)</td>", table)
    assert svg_figures == table_figures == [str(first[o]) for o in ["水管", "停车", "电梯"]]
    assert "<svg" in html and 'role="img"' in html and "data-rounds" in html
    assert html.count("<tr><th scope=\"row\">") >= 3 + len(result["rounds"])
    assert "5 of 9 voted" in html or "9 人中 5 人" in html or "5" in html
    csv_text = c.get(f"/c/{vw.slug}/motions/{irv['id']}/results.csv").get_data(as_text=True)
    assert csv_text.startswith("\ufeff") and "round 1" in csv_text and result["winner"] in html


def test_community_plugin_tally_method_with_its_own_schema(tmp_path, vote_clock):
    """A community plugin registers 'veto': one 'object' from anyone sinks the motion."""
    from marshmallow import Schema, ValidationError, fields, post_load, validates

    from core.plugins import hookimpl
    from core.registry import TallyMethod
    from tests.conftest import make_app
    from tests.plugins.voting.voting_world import VoteWorld

    class VetoBallot(Schema):
        class Meta:
            unknown = "raise"

        stance = fields.String(required=True)

        @validates("stance")
        def _known(self, value, **kw):
            if value not in ("agree", "object"):
                raise ValidationError("Say agree or object.")

        @post_load
        def _bare(self, data, **kw):
            return data["stance"]

    def tally(options, ballots, counts, params):
        counts = counts or [1] * len(ballots)
        objections = sum(c for b, c in zip(ballots, counts) if b == "object")
        winners = ["agree"] if ballots and not objections else ["object"] if objections else []
        return {"method": "veto", "ballots": sum(counts), "counts": {"agree": sum(counts) - objections,
                                                                    "object": objections},
                "winners": winners, "winner": winners[0] if winners else None, "tie_break": None}

    class Veto:
        plugin_name = "veto"

        @hookimpl
        def courtyard_register_tally_methods(self, register):
            register(TallyMethod(key="veto", names={"zh_CN": "一票否决", "en": "Veto"}, ballot_kind="choice",
                                 tally=tally, make_ballot_schema=lambda options, params: VetoBallot()))

    app = make_app(tmp_path, VOTING_CLOCK=vote_clock, EXTRA_PLUGINS=[Veto()])
    w = VoteWorld(app, vote_clock)
    assert w.api("admin", "PUT", "/plugins/veto", {"enabled": True}).status_code == 200  # opt in, per community
    m = w.motion(method="veto", options=["agree", "object"])
    bad = w.vote("resident2", m["id"], {"stance": "maybe"})
    assert bad.status_code == 400 and "stance" in bad.get_json()["error"]["fields"]["ballot"]
    assert w.vote("resident2", m["id"], {"stance": "agree"}).status_code == 201
    assert w.vote("admin", m["id"], {"stance": "object"}).status_code == 201
    result = w.api("host", "POST", f"/motions/{m['id']}/close").get_json()["result"]
    assert result["winners"] == ["object"] and result["counts"] == {"agree": 1, "object": 1}
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        report = svc.verify_motion(db, m["id"], method=app.extensions["courtyard"].catalog.tally_methods.get("veto"))
    assert report["ok"], report


def test_minutes_section_and_closed_hook(vw):
    from core.plugins import hookimpl

    seen = []

    class Listener:
        @hookimpl
        def courtyard_motion_closed(self, motion, result):
            seen.append((motion.id, result["winners"]))

    pm = vw.app.extensions["courtyard"].pm
    pm.register(Listener(), name="listener")
    pm.builtin_names.add("listener")  # enabled everywhere, like a built-in
    m = vw.motion(method="plurality", options=["东片", "西片"])
    vw.vote("resident2", m["id"], {"choice": "西片"})
    vw.api("host", "POST", f"/motions/{m['id']}/close")
    assert seen == [(m["id"], ["西片"])]
    from core.models import ConsultationSession
    from core.services import live as live_service

    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        session = db.get(ConsultationSession, vw.session_id)
        minutes = live_service.build_minutes(db, session=session, pm=vw.app.extensions["courtyard"].pm)
        kinds = [e.kind for e in live_service.events_since(db, session_id=vw.session_id, after=0)]
    votes = [s for s in minutes["sections"] if s["key"] == "votes"]
    assert votes and votes[0]["rows"][0]["label"] == "先修哪条路？" and "西片" in votes[0]["rows"][0]["value"]
    assert "motion_opened" in kinds and "motion_closed" in kinds


def test_pages_render_for_phone_and_host(vw):
    m = vw.motion(method="irv", options=["水管", "停车", "电梯"])
    c, _ = vw.http("resident2")
    page = c.get(f"/c/{vw.slug}/motions/{m['id']}").get_data(as_text=True)
    assert 'data-kind="ranking"' in page and page.count('class="button secondary opt"') == 3
    assert "Record a vote" not in page and "为没有手机的居民" not in page
    host, _ = vw.http("host")
    hp = host.get(f"/c/{vw.slug}/motions/{m['id']}").get_data(as_text=True)
    assert 'name="member_id"' in hp
    assert host.get(f"/c/{vw.slug}/motions/new?session_id={vw.session_id}").status_code == 200
    assert c.get(f"/c/{vw.slug}/motions/new?session_id={vw.session_id}").status_code == 403
    assert c.get(f"/c/{vw.slug}/motions").status_code == 200
    with session_scope(vw.app.extensions["courtyard"].sessionmaker) as db:
        assert db.scalar(select(func.count()).select_from(Member)) == 9


def test_a_session_page_links_to_the_votes_of_that_session_only(vw):
    in_session = vw.motion(title="本场：先修哪条路？")
    elsewhere = vw.motion(title="别的会：路灯换不换？", session_id=None)
    c, _ = vw.http("resident")
    page = c.get(f"/c/{vw.slug}/sessions/{vw.session_id}?lang=zh_CN").get_data(as_text=True)
    link = re.search(r'href="(/c/[^"]+/motions\?session_id=(\d+))"[^>]*>本场表决<', page)
    assert link is not None and int(link.group(2)) == vw.session_id
    listing = c.get(link.group(1)).get_data(as_text=True)
    assert in_session["title"] in listing and elsewhere["title"] not in listing
    assert elsewhere["title"] in c.get(f"/c/{vw.slug}/motions").get_data(as_text=True)  # the community's list has both
