"""A gevent server waits for its database without holding up the other phones: one vote
waiting on a lock held by someone else (a PostgreSQL row lock, a SQLite write lock) holds
up that vote only, never every phone on the process.

The vote writer runs its batches on a native thread of its own (``web.dbthread``): on the
hub, psycopg's wait (the blocking C one: the start-up checks import psycopg in the gunicorn
master, before gevent patches the worker) and SQLite's busy wait, both in C, froze the
whole process for as long as the lock was held."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import pytest
import requests
import socketio
from sqlalchemy import create_engine, text

from tests.e2e.conftest import seed_voters
from tests.plugins.discussion.live_server import LiveServer, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'votes.db'}"
    else:
        yield "postgresql", request.getfixturevalue("fresh_postgres")


class Holder:
    """Someone else holding the lock the vote writer needs for ``motion``."""

    def __init__(self, backend: str, url: str, motion: int):
        self.backend, self.url, self.motion = backend, url, motion

    def __enter__(self) -> "Holder":
        if self.backend == "sqlite":
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")  # SQLite's write lock
        else:
            self.engine = create_engine(self.url)
            self.conn = self.engine.connect()
            self.tx = self.conn.begin()
            self.conn.execute(text("SELECT id FROM motions WHERE id = :m FOR UPDATE"), {"m": self.motion})
        return self

    def writer_waits(self) -> bool:
        if self.backend == "sqlite":
            return True  # not observable from outside: the checks below run while the lock is held
        with self.engine.connect() as watch:  # a new transaction each time: the statistics views are snapshots
            return watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND starts_with(query, 'UPDATE motions')")).scalar() > 0

    def __exit__(self, *exc) -> None:
        if self.backend == "sqlite":
            self.conn.execute("ROLLBACK")
            self.conn.close()
        else:
            self.tx.rollback()
            self.conn.close()
            self.engine.dispose()


def test_a_vote_waiting_on_a_lock_does_not_freeze_the_other_phones(tmp_path, database):
    backend, url = database
    srv = LiveServer(tmp_path, database_url=url, async_mode="gevent")
    srv.cli("db", "upgrade", "--core-only")
    seeded = seed_voters(srv.env, members=1, secret=False)
    motion = seeded["motions"]["open"]
    phone = socketio.Client(reconnection=False)
    acks: list[dict] = []
    try:
        srv.start()
        phone.connect(srv.url, namespaces=["/vote"], transports=["websocket"],
                      headers={"Authorization": f"Bearer {seeded['tokens'][0]}"}, wait_timeout=10)
        with Holder(backend, url, motion) as holder:
            def vote() -> None:
                acks.append(phone.call("vote", {"cid": uuid.uuid4().hex, "motion_id": motion,
                                                "ballot": {"choice": "yes"}}, namespace="/vote", timeout=30))

            voter = threading.Thread(target=vote, daemon=True)
            voter.start()
            wait_for(holder.writer_waits, timeout=15, message="the vote writer waits on the lock")
            # the process must go on serving others while that vote waits
            slowest = 0.0
            for _ in range(5):
                started = time.monotonic()
                try:
                    health = requests.get(srv.url + "/healthz", timeout=5)
                except requests.Timeout:
                    health = None
                assert health is not None and health.status_code == 200, "the whole process froze behind one vote"
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.2)  # spread over a second while the lock is held
            page = requests.get(srv.url + "/", timeout=5)
            assert not acks, "the vote cannot have been stored while the lock is held"
        voter.join(30)
        print(f"\n{backend}: /healthz answered in at most {slowest:.3f} s while a vote waited on a lock")
        assert slowest < 2.0
        assert page.status_code == 200
        # and the waiting vote went through once the lock was released
        assert acks and acks[0].get("ok") is True and acks[0].get("first") is True, acks
    finally:
        if phone.connected:
            phone.disconnect()
        srv.kill()
