"""Fixtures for the live discussion: an app with an injected clock and scheduler, a live
session and Socket.IO test clients signed in as any role of the test world."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Callable

import pytest

from core.db import session_scope
from core.services import sessions as ss
from tests.conftest import Clock, World, make_app


class FakeScheduler:
    """``DISCUSSION_SCHEDULE`` for tests: a callback runs when the test moves the clock to
    its time and calls :meth:`run_due` (one scheduler per simulated server process, so a
    "killed" process is one whose scheduler is never run again)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[tuple[datetime, int, Callable[[], None]]] = []
        self._n = 0

    def __call__(self, delay: float, fn: Callable[[], None]) -> None:
        self._n += 1
        self.pending.append((self.clock.now + timedelta(seconds=delay), self._n, fn))

    def run_due(self) -> int:
        """Run every callback due by now, in time order (including ones they schedule for now)."""
        ran = 0
        while True:
            due = sorted(p for p in self.pending if p[0] <= self.clock.now)
            if not due:
                return ran
            first = due[0]
            self.pending.remove(first)
            first[2]()
            ran += 1

    def advance(self, **kwargs: Any) -> int:
        self.clock.advance(**kwargs)
        return self.run_due()


@pytest.fixture
def live_clock() -> Clock:
    return Clock()


@pytest.fixture
def live_scheduler(live_clock) -> FakeScheduler:
    return FakeScheduler(live_clock)


@pytest.fixture
def live_app(tmp_path, live_clock, live_scheduler):
    return make_app(tmp_path, DISCUSSION_CLOCK=live_clock, DISCUSSION_JOIN_ATTEMPTS=5,
                    DISCUSSION_SCHEDULE=live_scheduler)


class LiveWorld(World):
    """The test world with two live sessions; :meth:`on` gives the same world seen
    through another application (another server process on the same database)."""

    def __init__(self, app, clock):
        super().__init__(app)
        from core.models import Community

        cy = app.extensions["courtyard"]
        self.clock = clock
        with session_scope(cy.sessionmaker) as db:
            community = db.get(Community, self.community_id)
            s = ss.create_session(db, actor=None, catalog=cy.catalog, community=community,
                                  format_key="golden_microphone", title="民声金话筒：占道违停怎么管？",
                                  starts_at=clock.now - timedelta(minutes=5), host_id=self.ids["host"],
                                  status="scheduled", now=clock.now - timedelta(minutes=5), allow_guests=True,
                                  agenda=["网格报告", "部门回应", "居民提问"])
            ss.change_status(db, actor=None, session=s, status="live")
            self.session_id, self.code = s.id, s.join_code
            other = ss.create_session(db, actor=None, catalog=cy.catalog, community=community,
                                      format_key="courtyard_talk", title="另一场", starts_at=clock.now,
                                      host_id=self.ids["host"], status="scheduled", now=clock.now)
            ss.change_status(db, actor=None, session=other, status="live")
            self.other_id, self.other_code = other.id, other.join_code

    def on(self, app) -> "LiveWorld":
        other = object.__new__(LiveWorld)
        other.__dict__.update(self.__dict__)
        other.app = app
        return other

    def client(self, role: str | None):
        """A Socket.IO test client on /live, signed in as ``role`` (None: not signed in)."""
        http = self.app.test_client()
        if role is not None:
            self.login(http, role)
        sio = self.app.extensions["courtyard"].socketio
        return LiveClient(sio.test_client(self.app, namespace="/live", flask_test_client=http))


class LiveClient:
    def __init__(self, tc):
        self.tc = tc
        self.you: dict[str, Any] | None = None

    def emit(self, event: str, data: Any = None, **kw: Any) -> Any:
        args = () if data is None and not kw else (data if data is not None else {},)
        if kw:
            args = ({**(data or {}), **kw},)
        return self.tc.emit(event, *args, namespace="/live", callback=True)

    def join(self, code: str, **kw: Any) -> dict[str, Any]:
        ack = self.emit("join", {"code": code, **kw})
        assert ack["ok"], ack
        self.you = ack["you"]
        return ack

    def op(self, event: str, **payload: Any) -> dict[str, Any]:
        payload.setdefault("cid", uuid.uuid4().hex)
        return self.emit(event, payload)

    def events(self) -> list[dict[str, Any]]:
        return [r["args"][0] for r in self.tc.get_received("/live") if r["name"] == "event"]

    def disconnect(self) -> None:
        self.tc.disconnect(namespace="/live")


@pytest.fixture
def live(live_app, live_clock) -> LiveWorld:
    return LiveWorld(live_app, live_clock)
