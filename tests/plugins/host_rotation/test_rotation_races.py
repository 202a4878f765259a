"""Seats at a courtyard talk under races, on SQLite and PostgreSQL: residents signing up
at the same moment never get more seats than the home has, and nobody gets a server error."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.db import session_scope
from core.models import Community, SeatReservation
from core.models.member import Role
from core.services import communities as cs
from core.services import sessions as ss
from tests.conftest import PASSWORD, World, csrf_from

API = "/api/v1/communities/renfu/rotation"


def _talk_and_residents(app, clock, *, seats: int, residents: int) -> tuple[int, list[Any]]:
    """A talk in a resident's home with ``seats`` seats, and that many residents signed in."""
    world = World(app)
    cy = app.extensions["courtyard"]
    with session_scope(cy.sessionmaker) as db:
        community = db.get(Community, world.community_id)
        talk = ss.create_session(db, actor=None, catalog=cy.catalog, community=community,
                                 format_key="courtyard_talk", title="海棠小院：垃圾分类", host_id=world.ids["host"],
                                 starts_at=clock.now + timedelta(days=3), status="scheduled", now=clock.now,
                                 capacity=seats, venue="李月昌家小院")
        talk_id = talk.id
        for i in range(residents):
            cs.add_member(db, actor=None, community=community, display_name=f"居民{i}", username=f"renfu-r{i}",
                          password=PASSWORD, roles=[(Role.RESIDENT, None)])
    clients = []
    for i in range(residents):
        client = app.test_client()
        page = client.get("/sign-in")
        response = client.post("/sign-in", data={"csrf_token": csrf_from(page), "username": f"renfu-r{i}",
                                                  "password": PASSWORD})
        assert response.status_code == 302
        clients.append((client, world.api_headers(client)))
    return talk_id, clients


def _post(client: Any, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    """The answer's status and body; an exception escaping the view (the test app
    propagates them) is what a resident sees as a server error, a 500."""
    try:
        response = client.post(url, json=body, headers=headers)
    except Exception as exc:
        return 500, repr(exc)
    return response.status_code, response.get_json()


def test_six_residents_reserving_two_seats_at_once(race_app, clock):
    talk_id, clients = _talk_and_residents(race_app, clock, seats=2, residents=6)
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, Any]] = []

    def sign_up(client: Any, headers: dict[str, str]) -> None:
        barrier.wait(10)
        answers.append(_post(client, f"{API}/sessions/{talk_id}/reservations", {"bringing": "竹椅"}, headers))

    threads = [threading.Thread(target=sign_up, args=c) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = Counter(code for code, _ in answers)
    with session_scope(race_app.extensions["courtyard"].sessionmaker) as db:
        rows = list(db.scalars(select(SeatReservation).where(SeatReservation.session_id == talk_id)
                               .order_by(SeatReservation.position)))
    seats = [r.status for r in rows].count("reserved")
    # the talk's waiting list is the answer when it is full: two seats, four waiting, in order
    assert codes == {201: 6} and seats == 2, f"answers {dict(codes)}, seats taken {seats}: {answers}"
    mine = sorted(body["my_reservation"]["status"] for _, body in answers)
    assert mine == ["reserved"] * 2 + ["waitlisted"] * 4
    assert [r.position for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.status for r in rows] == ["reserved"] * 2 + ["waitlisted"] * 4


def test_one_resident_tapping_reserve_twice_at_once_gets_one_place(race_app, clock):
    talk_id, clients = _talk_and_residents(race_app, clock, seats=2, residents=1)
    client, headers = clients[0]
    barrier = threading.Barrier(4)
    answers: list[tuple[int, Any]] = []

    def tap() -> None:
        barrier.wait(10)
        answers.append(_post(client, f"{API}/sessions/{talk_id}/reservations", {}, headers))

    threads = [threading.Thread(target=tap) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(code for code, _ in answers) == [201, 409, 409, 409], answers
    refused = [body for code, body in answers if code == 409]
    assert all(body["error"]["fields"]["session_id"] for body in refused)
    with session_scope(race_app.extensions["courtyard"].sessionmaker) as db:
        rows = list(db.scalars(select(SeatReservation).where(SeatReservation.session_id == talk_id)))
    assert [r.status for r in rows] == ["reserved"]
