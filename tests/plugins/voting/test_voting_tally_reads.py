"""The running tally is read grouped by the database — one row per distinct ballot, not one
per voter (``core.services.votes.counted_choices``) — and must come out exactly as the tally
of every stored ballot: for every ballot shape, for secret ballots, with changed votes, on
SQLite and on PostgreSQL; and a ballot stored as two different JSON texts still counts as
one ballot."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, update

from core.db import session_scope
from core.models import Ballot, Motion
from core.services import votes as svc
from plugins.voting.live import method_for
from tests.conftest import Clock, make_app
from tests.plugins.voting.voting_world import VoteWorld

VOTERS = ["admin", "moderator", "host", "grid_head", "other_grid_head", "resident2"]

# (method, options, ballots in the order of VOTERS, then a change by the first voter)
CASES = [
    ("majority", None, [{"choice": c} for c in ["yes", "no", "yes", "abstain", "yes", "no"]], {"choice": "no"}),
    ("plurality", ["东片", "西片", "南片"], [{"choice": c} for c in ["东片", "西片", "东片", "南片", "东片", "西片"]],
     {"choice": "南片"}),
    ("approval", ["水管", "停车", "电梯"],
     [{"approvals": a} for a in (["水管"], ["水管", "电梯"], ["停车"], ["电梯", "水管"], ["水管"], ["停车"])],
     {"approvals": ["停车", "电梯"]}),
    ("irv", ["水管", "停车", "电梯"],
     [{"ranking": r} for r in (["水管", "停车"], ["停车", "电梯", "水管"], ["电梯"], ["水管", "停车"], ["停车"],
                               ["电梯", "水管"])],
     {"ranking": ["电梯", "停车"]}),
    ("score", ["物业", "城管"],
     [{"scores": s} for s in ({"物业": 3, "城管": 7}, {"物业": 10}, {"城管": 2, "物业": 3}, {"物业": 3, "城管": 7},
                              {"城管": 5}, {"城管": 0})],
     {"scores": {"物业": 1}}),
]


def each_row_tally(db, motion, method) -> dict:
    """The tally as it was computed before the grouped read: every stored ballot, one by one."""
    return svc.tally_choices(motion, method, [c for _, c, _ in svc.current_choices(db, motion)],
                             svc.eligible_count(db, motion))


def run_cases(w: VoteWorld, secret: bool) -> None:
    cy = w.app.extensions["courtyard"]
    for method_key, options, ballots, change in CASES:
        body = {"method": method_key, "secret": secret}
        if options:
            body["options"] = options
        motion_id = w.motion(**body)["id"]
        keys: dict[str, str] = {}
        for role, ballot in zip(VOTERS, ballots):
            r = w.vote(role, motion_id, ballot)
            assert r.status_code == 201, (method_key, r.get_json())
            if secret:
                keys[role] = r.get_json()["voter_key"]
        extra = {"voter_key": keys[VOTERS[0]]} if secret else {}
        r = w.vote(VOTERS[0], motion_id, change, **extra)
        assert r.status_code == 200 and r.get_json()["changed"], (method_key, r.get_json())
        if secret:  # the sealed ballots are counted once written out (as enough of them, or the close, do)
            with session_scope(cy.sessionmaker) as db:
                assert svc.write_pending(db, motion_id) == len(VOTERS)
        with w.app.app_context(), session_scope(cy.sessionmaker) as db:
            motion = db.get(Motion, motion_id)
            method = method_for(db, motion)
            statements: list[str] = []
            listen = lambda *a: statements.append(a[2])  # noqa: E731
            event.listen(db.get_bind(), "before_cursor_execute", listen)
            try:
                grouped = svc.compute_result(db, motion, method)
            finally:
                event.remove(db.get_bind(), "before_cursor_execute", listen)
            assert grouped == each_row_tally(db, motion, method), method_key
            assert grouped["turnout"]["ballots"] == len(VOTERS), method_key
            assert any("GROUP BY" in s for s in statements), statements


@pytest.mark.parametrize("secret", [False, True])
def test_the_grouped_tally_equals_the_tally_of_every_ballot_sqlite(tmp_path, secret):
    clock = Clock()
    run_cases(VoteWorld(make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock), clock), secret)


@pytest.mark.postgres
@pytest.mark.parametrize("secret", [False, True])
def test_the_grouped_tally_equals_the_tally_of_every_ballot_postgresql(tmp_path, fresh_postgres, secret):
    clock = Clock()
    app = make_app(tmp_path, DATABASE_URL=fresh_postgres, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock)
    run_cases(VoteWorld(app, clock), secret)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_one_ballot_stored_as_two_json_texts_counts_as_one_ballot(tmp_path, request, backend):
    clock = Clock()
    overrides = {"DATABASE_URL": request.getfixturevalue("fresh_postgres")} if backend == "postgresql" else {}
    w = VoteWorld(make_app(tmp_path, VOTING_CLOCK=clock, DISCUSSION_CLOCK=clock, **overrides), clock)
    motion_id = w.motion(method="score", options=["物业", "城管"])["id"]
    for role in ("admin", "moderator", "host"):
        assert w.vote(role, motion_id, {"scores": {"物业": 3, "城管": 7}}).status_code == 201
    cy = w.app.extensions["courtyard"]
    with w.app.app_context(), session_scope(cy.sessionmaker) as db:
        # the same scores with the keys the other way round (as another writer might store them)
        db.execute(update(Ballot).where(Ballot.motion_id == motion_id, Ballot.member_id == w.ids["host"])
                   .values(choice={"城管": 7, "物业": 3}))
    with w.app.app_context(), session_scope(cy.sessionmaker) as db:
        texts = db.execute(select(Ballot.choice).where(Ballot.motion_id == motion_id)).scalars().all()
        assert len(texts) == 3
        motion = db.get(Motion, motion_id)
        choices, weights = svc.counted_choices(db, motion)
        assert sorted(weights) == [1, 2]  # the database sees two texts …
        result = svc.compute_result(db, motion, method_for(db, motion))
        assert result == each_row_tally(db, motion, method_for(db, motion))
        assert result["totals"] == {"物业": 9, "城管": 21}  # … the tally counts three ballots alike
        assert result["turnout"]["ballots"] == 3
