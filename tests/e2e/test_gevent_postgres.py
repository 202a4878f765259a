"""A gevent server on PostgreSQL waits for the database cooperatively: one query waiting
(here on a row lock held by someone else) holds up that request only, never every phone
on the process. psycopg picks its wait function when first imported; the start-up checks
import it in the gunicorn master before gevent patches the worker, which used to leave
the worker with psycopg's blocking C wait (``web.server.cooperative_psycopg``)."""

from __future__ import annotations

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


def test_a_query_waiting_on_postgresql_does_not_freeze_the_other_phones(tmp_path, fresh_postgres):
    srv = LiveServer(tmp_path, database_url=fresh_postgres, async_mode="gevent")
    srv.cli("db", "upgrade", "--core-only")
    seeded = seed_voters(srv.env, members=1, secret=False)
    motion = seeded["motions"]["open"]
    engine = create_engine(fresh_postgres)
    phone = socketio.Client(reconnection=False)
    acks: list[dict] = []
    try:
        srv.start()
        phone.connect(srv.url, namespaces=["/vote"], transports=["websocket"],
                      headers={"Authorization": f"Bearer {seeded['tokens'][0]}"}, wait_timeout=10)
        with engine.connect() as conn:
            tx = conn.begin()
            # someone else holds the motion's row lock: the vote writer's UPDATE will wait for it
            conn.execute(text("SELECT id FROM motions WHERE id = :m FOR UPDATE"), {"m": motion})

            def vote() -> None:
                acks.append(phone.call("vote", {"cid": uuid.uuid4().hex, "motion_id": motion,
                                                "ballot": {"choice": "yes"}}, namespace="/vote", timeout=30))

            voter = threading.Thread(target=vote, daemon=True)
            voter.start()
            def writer_waits() -> bool:  # a new transaction each time: the statistics views are snapshots
                with engine.connect() as watch:
                    return watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND starts_with(query, 'UPDATE motions')")).scalar() > 0

            wait_for(writer_waits, timeout=15, message="the vote writer waits on the row lock")
            # the process must go on serving others while that query waits
            started = time.monotonic()
            try:
                health = requests.get(srv.url + "/healthz", timeout=5)
                answered = time.monotonic() - started
            except requests.Timeout:
                health, answered = None, None
            page = requests.get(srv.url + "/", timeout=5)
            tx.rollback()
        voter.join(30)
        print(f"\nhealthz answered in {answered} s while a vote waited on a row lock")
        assert health is not None and health.status_code == 200, "the whole process froze behind one query"
        assert answered < 2.0
        assert page.status_code == 200
        # and the waiting vote went through once the lock was released
        assert acks and acks[0].get("ok") is True and acks[0].get("first") is True, acks
    finally:
        if phone.connected:
            phone.disconnect()
        srv.kill()
        engine.dispose()
