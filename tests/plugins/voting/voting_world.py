"""Fixtures for voting (imported by the test modules; not a conftest, so it shadows no
other directory's ``conftest``): the test world with a live session, a clock the app reads, and
helpers to put motions on the table and vote through the JSON API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.db import session_scope
from core.services import sessions as ss
from tests.conftest import Clock, World, make_app


class VoteWorld(World):
    def __init__(self, app, clock: Clock):
        super().__init__(app)
        from core.models import Community

        self.clock = clock
        cy = app.extensions["courtyard"]
        with session_scope(cy.sessionmaker) as db:
            community = db.get(Community, self.community_id)
            s = ss.create_session(db, actor=None, catalog=cy.catalog, community=community,
                                  format_key="representative_assembly", title="居民代表会议：年度民生实事项目",
                                  starts_at=clock.now - timedelta(minutes=5), host_id=self.ids["host"],
                                  status="scheduled", now=clock.now - timedelta(minutes=5),
                                  agenda=["项目说明", "代表表决"])
            ss.change_status(db, actor=None, session=s, status="live")
            self.session_id, self.code = s.id, s.join_code
        self.clients: dict[str, Any] = {}

    def http(self, role: str):
        """A signed-in test client for ``role`` (cached) and its CSRF headers."""
        if role not in self.clients:
            c = self.app.test_client()
            self.login(c, role)
            self.clients[role] = (c, self.api_headers(c))
        return self.clients[role]

    def api(self, role: str, method: str, path: str, json: Any = None):
        c, headers = self.http(role)
        return c.open(f"/api/v1/communities/{self.slug}{path}", method=method, json=json, headers=headers)

    def motion(self, role: str = "host", **kw: Any) -> dict[str, Any]:
        body = {"title": "先修哪条路？", "method": "majority", "session_id": self.session_id, "open_now": True}
        body.update(kw)
        r = self.api(role, "POST", "/motions", body)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def check_in(self, motion_id: int, role: str, by: str = "host"):
        """``by`` checks ``role``'s member in at the motion's session (needed for an assisted vote)."""
        return self.api(by, "POST", f"/motions/{motion_id}/check-in", {"member_id": self.ids[role]})

    def vote(self, role: str, motion_id: int, ballot: Any, **kw: Any):
        return self.api(role, "POST", f"/motions/{motion_id}/ballots", {"ballot": ballot, **kw})


@pytest.fixture
def vote_clock() -> Clock:
    return Clock()


@pytest.fixture
def vote_app(tmp_path, vote_clock):
    return make_app(tmp_path, VOTING_CLOCK=vote_clock, DISCUSSION_CLOCK=vote_clock)


@pytest.fixture
def vw(vote_app, vote_clock) -> VoteWorld:
    return VoteWorld(vote_app, vote_clock)
