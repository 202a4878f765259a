"""When the database cannot serve a request — every pooled connection in use, or the
server unreachable — the resident gets a 503 "busy, try again" in their language with a
``Retry-After``, never the 500 "something went wrong", and nothing is half-written."""

from __future__ import annotations

from sqlalchemy import text

from tests.conftest import World, make_app


def busy_app(tmp_path):
    # one connection in the pool and no waiting for it: the test holds it
    return make_app(tmp_path, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=0.2)


def test_a_request_finding_every_connection_in_use_is_answered_busy(tmp_path):
    app = busy_app(tmp_path)
    World(app)
    engine = app.extensions["courtyard"].sessionmaker.kw["bind"]
    client = app.test_client()
    assert client.get("/api/v1/communities/renfu").status_code == 200
    with engine.connect() as held:
        held.execute(text("SELECT 1"))
        r = client.get("/api/v1/communities/renfu", headers={"Accept-Language": "zh-CN"})
        assert r.status_code == 503, r.get_data(as_text=True)
        assert r.headers["Retry-After"] == "2"
        assert r.get_json()["error"]["message"] == "服务器正忙，请稍后再试。"
        page = client.get("/c/renfu")
        assert page.status_code == 503
        assert "服务器正忙，请稍后再试。" in page.get_data(as_text=True)
    # and once a connection is free again, the same request is served
    assert client.get("/api/v1/communities/renfu").status_code == 200


def test_an_unreachable_database_is_answered_busy(tmp_path):
    from sqlalchemy.exc import OperationalError

    app = make_app(tmp_path)
    World(app)

    @app.get("/api/v1/_boom")
    def boom():  # what a request sees when the database server is gone
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    r = app.test_client().get("/api/v1/_boom")
    assert r.status_code == 503 and r.get_json()["error"]["status"] == 503


def test_a_live_message_finding_every_connection_in_use_gets_the_busy_ack(tmp_path):
    """Over /live the same is a 503 error acknowledgement (the phone sends the message
    again with the same cid), not the 500 'something went wrong'."""
    from tests.conftest import Clock
    from tests.plugins.discussion.conftest import FakeScheduler, LiveWorld

    clock = Clock()
    app = make_app(tmp_path, DISCUSSION_CLOCK=clock, DISCUSSION_SCHEDULE=FakeScheduler(clock),
                   DB_POOL_SIZE=3, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=0.2)
    live = LiveWorld(app, clock)
    resident = live.client("resident2")
    resident.join(live.code)
    engine = app.extensions["courtyard"].sessionmaker.kw["bind"]
    held = [engine.connect() for _ in range(3)]  # every connection of the pool
    try:
        ack = resident.op("message", cid="busy-0001", body="有人吗")
    finally:
        for conn in held:
            conn.close()
    assert ack["ok"] is False and ack["error"]["status"] == 503, ack
    again = resident.op("message", cid="busy-0001", body="有人吗")
    assert again["ok"] is True and again.get("duplicate") is not True
