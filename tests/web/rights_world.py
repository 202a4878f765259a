"""The world the rights matrix (tests/web/test_rights_matrix.py) runs in: the test world
of tests/conftest.py (community ``renfu`` with a member of every role) plus a building
head and a unit head, a live session that admits guests and one that does not, motions in
every state, issues, a planned courtyard rota with a confirmed talk, and a second
community (``tuxin``) whose admin is the "member of another community".

Everything is made through the services and the JSON API, as a real community would
make it, so the URL parameters of every route point at real rows. Rows that a route
changes for good (an issue merged, a motion closed, a slot cancelled) are made afresh for
that route by :meth:`MatrixWorld.fresh`, so one route's allowed calls cannot change what
the next route's refusals are checked against.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import inspect, select, text

from core.db import session_scope
from core.models import Community, Member
from core.models.member import Role
from tests.conftest import PASSWORD, World, csrf_from

IDENTITIES = ("anonymous", "guest", "resident", "grid_head", "building_head", "unit_head", "host", "moderator",
              "department", "admin", "outsider")

#: tables whose rows change without anyone asking (presence of the live room's process)
UNCHECKED_TABLES = frozenset({"live_processes"})

SATURDAYS = ["2026-03-07", "2026-03-14", "2026-03-21", "2026-03-28"]


class MatrixWorld(World):
    def __init__(self, app: Any, clock: Any):
        super().__init__(app, "renfu")
        from core.services import communities as cs
        from core.services import sessions as ss

        self.clock = clock
        cy = app.extensions["courtyard"]
        self.cy = cy
        with session_scope(cy.sessionmaker) as db:
            c = db.get(Community, self.community_id)
            from core.models import Place

            building = db.get(Place, self.place_ids["building"])
            unit = db.get(Place, self.place_ids["unit"])
            self.ids["building_head"] = cs.add_member(
                db, actor=None, community=c, display_name="楼栋长", username="renfu-building", password=PASSWORD,
                place=building, roles=[(Role.BUILDING_HEAD, building)]).id
            self.ids["unit_head"] = cs.add_member(
                db, actor=None, community=c, display_name="单元长", username="renfu-unit", password=PASSWORD,
                place=unit, roles=[(Role.UNIT_HEAD, unit)]).id
            start = clock.now - timedelta(minutes=5)
            s = ss.create_session(db, actor=None, catalog=cy.catalog, community=c, format_key="golden_microphone",
                                  title="民声金话筒：占道违停怎么管？", starts_at=start, host_id=self.ids["host"],
                                  status="scheduled", now=start, allow_guests=True, agenda=["网格报告", "居民提问"])
            ss.change_status(db, actor=None, session=s, status="live")
            self.session_id, self.code = s.id, s.join_code
            closed = ss.create_session(db, actor=None, catalog=cy.catalog, community=c,
                                       format_key="courtyard_talk", title="members only", starts_at=start,
                                       host_id=self.ids["host"], status="scheduled", now=start, allow_guests=False)
            ss.change_status(db, actor=None, session=closed, status="live")
            self.members_session_id, self.members_code = closed.id, closed.join_code
        self.other = World(app, "tuxin")
        self.clients: dict[str, Any] = {}
        self._fresh: dict[tuple[str, str], dict[str, Any]] = {}
        self._build()

    # -- identities --------------------------------------------------------

    def username(self, role: str) -> str:
        return {"building_head": "building", "unit_head": "unit"}.get(role) or super().username(role)

    def client(self, identity: str) -> tuple[Any, str]:
        """The HTTP test client of ``identity`` (cached) and its CSRF token."""
        if identity not in self.clients:
            self.clients[identity] = self.new_client(identity)
        return self.clients[identity]

    def new_client(self, identity: str) -> tuple[Any, str]:
        c = self.app.test_client()
        if identity == "outsider":
            self.other.login(c, "admin")
        elif identity not in ("anonymous", "guest"):
            self.login(c, identity)
        if identity == "guest":
            self.guest_join(c)
        return c, csrf_from(c.get("/sign-in"))

    def guest_join(self, http: Any) -> Any:
        """A guest of the live session, as plugins/discussion admits one: no sign-in, a name."""
        sc = self.cy.socketio.test_client(self.app, namespace="/live", flask_test_client=http)
        ack = sc.emit("join", {"code": self.code, "guest_name": "过路客"}, namespace="/live", callback=True)
        assert ack["ok"], ack
        return sc

    def socket(self, identity: str, namespace: str, join: bool = True) -> Any:
        """A Socket.IO test client of ``identity`` on ``namespace``; on /live every identity
        but the anonymous one has joined the live session (the other community's member
        as the guest the session lets them be)."""
        http = self.client(identity)[0] if identity != "guest" else self.app.test_client()
        sc = self.cy.socketio.test_client(self.app, namespace=namespace, flask_test_client=http)
        if namespace == "/live" and identity != "anonymous" and join:
            payload = {"code": self.code}
            if identity in ("guest", "outsider"):
                payload["guest_name"] = "过路客"
            ack = sc.emit("join", payload, namespace="/live", callback=True)
            assert ack["ok"], (identity, ack)
        return sc

    # -- API helpers -------------------------------------------------------

    def api(self, identity: str, method: str, path: str, json: Any = None, expect: int | None = None) -> Any:
        c, token = self.client(identity)
        url = path if path.startswith("/") else f"/api/v1/communities/{self.slug}/{path}"
        r = c.open(url, method=method, json=json, headers={"X-CSRFToken": token})
        if expect is not None:
            assert r.status_code == expect, (method, url, r.status_code, r.get_data(as_text=True)[:400])
        return r

    def motion(self, **kw: Any) -> int:
        body = {"title": "先修哪条路？", "method": "majority", "session_id": self.session_id, "open_now": True, **kw}
        return self.api("host", "POST", "motions", body, expect=201).get_json()["id"]

    def issue(self, by: str = "resident", photo: bool = False) -> int:
        body = {"title": "楼道灯坏了", "description": "9栋1单元三楼", "category_key": "livelihood",
                "place_id": self.place_ids["unit"]}
        if not photo:
            return self.api(by, "POST", "issues", body, expect=201).get_json()["id"]
        import io

        from tests.plugins.issues.issues_world import png_bytes

        c, token = self.client(by)
        r = c.post(f"/api/v1/communities/{self.slug}/issues", headers={"X-CSRFToken": token},
                   data={**{k: str(v) for k, v in body.items()}, "photos": (io.BytesIO(png_bytes()), "a.png")},
                   content_type="multipart/form-data")
        assert r.status_code == 201, r.get_data(as_text=True)[:300]
        return r.get_json()["id"]

    def issue_in(self, state: str) -> int:
        """An issue raised by the resident and taken to ``state`` by staff and the department."""
        issue_id = self.issue()
        steps = {"accepted": 1, "assigned": 2, "resolved": 3}[state]
        self.api("admin", "POST", f"issues/{issue_id}/triage", {"decision": "accept"}, expect=200)
        if steps >= 2:
            self.api("admin", "POST", f"issues/{issue_id}/assign", {"department_member_id": self.ids["department"],
                                                                    "due_in_days": 7}, expect=200)
        if steps >= 3:
            self.api("department", "POST", f"issues/{issue_id}/resolve", {}, expect=200)
        return issue_id

    def new_sign_in_token(self) -> str:
        from core.services import auth as auth_service

        with session_scope(self.cy.sessionmaker) as db:
            return auth_service.issue_sign_in_token(db, actor=None, member=db.get(Member, self.ids["resident2"]))

    def series(self, applied: bool = False) -> tuple[int, list[dict[str, Any]]]:
        """A rota of its own, on four days no other rota of the world uses: the resident
        offers the first two, the host the last two, so each day has one possible host."""
        n = self._series_made = getattr(self, "_series_made", 0) + 1
        first = date(2026, 4, 1) + timedelta(days=5 * n)
        days = [(first + timedelta(days=i)).isoformat() for i in range(4)]
        months = sorted({d[:7] for d in days})
        sid = self.api("admin", "POST", "rotation/series", {"title": "矩阵小院", "dates": days, "start_time": "14:00",
                                                             "min_capacity": 5}, expect=201).get_json()["id"]
        if not applied:
            return sid, []
        for role, dates in (("resident", days[:2]), ("host", days[2:])):
            self.api(role, "POST", f"rotation/series/{sid}/applications",
                     {"venue_address": f"人福村 {role} 号", "seats": 10, "topic": "围炉煮茶", "dates": dates},
                     expect=201)
        slots: list[dict[str, Any]] = []
        for month in months:
            slots += self.api("admin", "POST", f"rotation/series/{sid}/plan", {"month": month},
                              expect=200).get_json()["slots"]
        return sid, slots

    def _build(self) -> None:
        # motions: one open (live results hidden), one draft, one closed with a counted ballot
        self.motion_open = self.motion()
        self.motion_draft = self.motion(open_now=False)
        self.motion_closed = self.motion()
        self.api("resident2", "POST", f"motions/{self.motion_closed}/ballots",
                 {"ballot": {"choice": "yes"}, "cid": uuid.uuid4().hex}, expect=201)
        self.api("host", "POST", f"motions/{self.motion_closed}/close", {}, expect=200)
        receipts = self.api("admin", "GET", f"motions/{self.motion_closed}/receipts", expect=200).get_json()
        self.receipt = receipts["ballots"][0]["receipt"]
        # issues: one with a photo, one to merge into; an outside body
        self.issue_id = self.issue(photo=True)
        self.other_issue_id = self.issue()
        self.api("admin", "POST", "outside-bodies", {"name": "供电所"}, expect=201)
        # the courtyard rota: a series, three applicants, March planned, the first talk confirmed
        self.series_id = self.api("admin", "POST", "rotation/series", {
            "title": "海棠小院茶话会", "weekdays": [5], "start_time": "14:00", "min_capacity": 5},
            expect=201).get_json()["id"]
        for role, dates in (("resident2", SATURDAYS), ("host", SATURDAYS[1:]), ("grid_head", SATURDAYS)):
            self.api(role, "POST", f"rotation/series/{self.series_id}/applications",
                     {"venue_address": f"人福村 {role} 号", "seats": 10, "topic": "围炉煮茶", "dates": dates},
                     expect=201)
        self.slots = self.api("admin", "POST", f"rotation/series/{self.series_id}/plan", {"month": "2026-03"},
                              expect=200).get_json()["slots"]
        first = self.slots[0]
        host_role = next(r for r, i in self.ids.items() if i == first["host"]["id"])
        assert host_role == "grid_head", f"the table expects the grid head to host the first talk, not {host_role}"
        self.talk_id = self.api(host_role, "POST", f"rotation/slots/{first['id']}/confirm", {},
                                expect=200).get_json()["session_id"]
        self.api("resident2", "POST", f"rotation/sessions/{self.talk_id}/reservations", {"bringing": "瓜子"},
                 expect=201)
        from core.models import IssuePhoto, LiveMessage, Participant
        from core.services import auth as auth_service
        from core.services import rotation as rs
        from core.services import sessions as ss

        with session_scope(self.cy.sessionmaker) as db:
            resident2 = db.get(Member, self.ids["resident2"])
            self.sign_in_token = auth_service.issue_sign_in_token(db, actor=None, member=resident2)
            self.calendar_token = rs.issue_calendar_token(db, actor=resident2, now=self.clock.now)
            self.photo_id = db.scalar(select(IssuePhoto.id).where(IssuePhoto.issue_id == self.issue_id))
            review = ss.create_session(db, actor=None, catalog=self.cy.catalog,
                                       community=db.get(Community, self.community_id), format_key="review_meeting",
                                       title="月度评议会", starts_at=self.clock.now + timedelta(days=3),
                                       host_id=self.ids["host"], status="scheduled", now=self.clock.now)
            self.review_session_id = review.id
        # in the live room: a message to hide, and a hand raised to give the floor to
        sc = self.socket("resident2", "/live")
        ack = sc.emit("message", {"cid": uuid.uuid4().hex, "body": "路灯什么时候修？"}, namespace="/live",
                      callback=True)
        assert ack["ok"], ack
        sc.emit("raise_hand", {"cid": uuid.uuid4().hex}, namespace="/live", callback=True)
        with session_scope(self.cy.sessionmaker) as db:
            self.live_message_id = db.scalar(select(LiveMessage.id).order_by(LiveMessage.id.desc()))
            self.live_participant_id = db.scalar(select(Participant.id).where(
                Participant.member_id == self.ids["resident2"], Participant.session_id == self.session_id))
        sc.disconnect(namespace="/live")
        # the same in the members-only session: rows an event of the other room must not reach
        sc = self.cy.socketio.test_client(self.app, namespace="/live", flask_test_client=self.client("resident2")[0])
        assert sc.emit("join", {"code": self.members_code}, namespace="/live", callback=True)["ok"]
        assert sc.emit("message", {"cid": uuid.uuid4().hex, "body": "别的房间"}, namespace="/live",
                       callback=True)["ok"]
        sc.emit("raise_hand", {"cid": uuid.uuid4().hex}, namespace="/live", callback=True)
        with session_scope(self.cy.sessionmaker) as db:
            self.elsewhere_message_id = db.scalar(select(LiveMessage.id).order_by(LiveMessage.id.desc()))
            self.elsewhere_participant_id = db.scalar(select(Participant.id).where(
                Participant.member_id == self.ids["resident2"], Participant.session_id == self.members_session_id))
        sc.disconnect(namespace="/live")

    def foreign(self) -> dict[str, int]:
        """Rows of the other community (made once, by its admin): for references in bodies."""
        if getattr(self, "_foreign", None) is None:
            o = self.other

            def api(method: str, path: str, body: Any) -> Any:
                r = self.api("outsider", method, f"/api/v1/communities/{o.slug}/{path}", body)
                assert r.status_code == 201, r.get_data(as_text=True)[:300]
                return r.get_json()["id"]

            self._foreign = {
                "session": api("POST", "sessions", {"format_key": "courtyard_talk", "title": "涂新议事",
                                                    "starts_at": "2026-04-01T06:00:00+00:00"}),
                "issue": api("POST", "issues", {"title": "涂新的诉求", "category_key": "livelihood",
                                                "place_id": o.place_ids["unit"]}),
                "outside_body": api("POST", "outside-bodies", {"name": "涂新物业"}),
                "member": o.ids["resident2"], "department": o.ids["department"], "host": o.ids["host"],
                "place": o.place_ids["grid"],
            }
        return self._foreign

    def fresh(self, kind: str, key: str) -> dict[str, Any]:
        """URL parameters naming rows made for route ``key`` alone (made once; a failure is
        remembered, so the route's other cases fail at once with its reason)."""
        if (kind, key) not in self._fresh:
            try:
                self._fresh[(kind, key)] = self._make(kind)
            except Exception as exc:
                self._fresh[(kind, key)] = {"failed": f"making the {kind} for {key} failed: {exc!r:.400}"}
        values = self._fresh[(kind, key)]
        assert "failed" not in values, values["failed"]
        return values

    def _make(self, kind: str) -> dict[str, Any]:
        if kind == "issue":
            return {"issue_id": self.issue()}
        if kind.startswith("issue_"):
            return {"issue_id": self.issue_in(kind[len("issue_"):])}
        if kind == "series":
            return {"series_id": self.series()[0]}
        if kind == "series_applied":
            return {"series_id": self.series(applied=True)[0]}
        if kind == "motion_open":
            return {"motion_id": self.motion()}
        if kind == "motion_draft":
            return {"motion_id": self.motion(open_now=False)}
        if kind == "slot":
            _, slots = self.series(applied=True)
            hosts = {slot["id"]: (slot["host"] or {}).get("id") for slot in slots}
            mine = [i for i, h in hosts.items() if h == self.ids["resident"]]
            theirs = [i for i, h in hosts.items() if h == self.ids["host"]]
            assert mine and theirs, slots
            self.partner_slot = theirs[0]
            return {"slot_id": mine[0]}
        raise KeyError(kind)

    # -- what is written ---------------------------------------------------

    def checksum(self) -> dict[str, str]:
        """A digest of every table's rows (but the process heartbeat): equal digests, nothing
        written. Read through one DBAPI connection of its own, outside the app's pool."""
        if getattr(self, "_raw", None) is None:
            with self.cy.engine.connect() as conn:
                self._tables = [t for t in sorted(inspect(conn).get_table_names()) if t not in UNCHECKED_TABLES]
            self._raw = self.cy.engine.raw_connection()
            self._sqlite = self.cy.engine.dialect.name == "sqlite"
        out: dict[str, str] = {}
        cur = self._raw.cursor()
        try:
            for table in self._tables:
                cur.execute(f'SELECT * FROM "{table}"')
                rows = list(map(repr, cur.fetchall()))
                if not self._sqlite:  # PostgreSQL promises no order
                    rows.sort()
                out[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        finally:
            cur.close()
            self._raw.rollback()  # no snapshot held between two digests
        return out

    def close(self) -> None:
        if getattr(self, "_raw", None) is not None:
            self._raw.close()
            self._raw = None
