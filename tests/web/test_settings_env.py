"""Settings read from the environment by web/config.py: the database pool and connect
timeout, the voting plugin's settings. A wrong value stops `courtyard serve` with one
`error:` line naming the variable (exit status 2, no traceback); a database host that
never answers makes `/readyz` say 503 within the connect timeout instead of hanging."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.conftest import ROOT, make_app
from tests.web.test_server import env  # noqa: F401  (a fixture: the checked settings)
from web.cli import main
from web.config import SETTINGS, ConfigError, load_config

ALL = [setting.env for setting in SETTINGS]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ALL:
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------ the pool


def hold_and_wait(engine) -> str:
    """Hold one connection and ask for another: the pool's refusal, or "" if it gave one."""
    with engine.connect() as first:
        first.execute(text("select 1"))
        try:
            with engine.connect() as second:
                second.execute(text("select 1"))
        except PoolTimeout as exc:
            return str(exc)
    return ""


def test_the_pool_size_overflow_and_timeout_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DB_POOL_SIZE", "1")
    monkeypatch.setenv("COURTYARD_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("COURTYARD_DB_POOL_TIMEOUT", "0.05")
    engine = make_app(tmp_path).extensions["courtyard"].engine
    try:
        assert "QueuePool limit of size 1 overflow 0 reached" in hold_and_wait(engine)
    finally:
        engine.dispose()


def test_without_pool_settings_the_default_pool_is_kept(tmp_path):
    engine = make_app(tmp_path).extensions["courtyard"].engine
    try:
        assert hold_and_wait(engine) == ""  # 5 + 10: a second connection is there
        assert engine.pool.size() == 5 and engine.pool.timeout() == 30
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_pool_settings_apply_to_postgresql(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DB_POOL_SIZE", "1")
    monkeypatch.setenv("COURTYARD_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("COURTYARD_DB_POOL_TIMEOUT", "0.05")
    engine = make_app(tmp_path, DATABASE_URL=postgres_url, CREATE_TABLES=False).extensions["courtyard"].engine
    try:
        assert "QueuePool limit of size 1 overflow 0 reached" in hold_and_wait(engine)
    finally:
        engine.dispose()


def test_an_in_memory_sqlite_database_ignores_the_pool_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DB_POOL_SIZE", "3")
    monkeypatch.setenv("COURTYARD_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("COURTYARD_DB_POOL_TIMEOUT", "1")
    app = make_app(tmp_path, DATABASE_URL="sqlite://")
    assert app.test_client().get("/readyz").status_code == 200


# ------------------------------------------------------------------ wrong values


BAD = [
    ("COURTYARD_DB_POOL_SIZE", "ten"), ("COURTYARD_DB_POOL_SIZE", "0"), ("COURTYARD_DB_POOL_SIZE", "2.5"),
    ("COURTYARD_DB_MAX_OVERFLOW", "-1"), ("COURTYARD_DB_POOL_TIMEOUT", "0"), ("COURTYARD_DB_POOL_TIMEOUT", "nan"),
    ("COURTYARD_DB_CONNECT_TIMEOUT", "1"), ("COURTYARD_DB_CONNECT_TIMEOUT", "5s"),
    ("COURTYARD_VOTING_BATCH_MAX", "0"), ("COURTYARD_VOTING_ACK_TIMEOUT", "soon"),
    ("COURTYARD_VOTING_WRITER_IDLE", "-3"), ("COURTYARD_VOTING_TALLY_HZ", "0"),
    ("COURTYARD_VOTING_TALLY_HZ", "inf"), ("COURTYARD_VOTING_MOTION_CACHE_SECONDS", "-1"),
    ("COURTYARD_VOTING_GROUP_COMMIT", "maybe"), ("COURTYARD_GC_THRESHOLD", "-1"),
    ("COURTYARD_GC_THRESHOLD", "many"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_wrong_value_is_refused_naming_the_variable(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_config({"SECRET_KEY": "x"})
    assert str(caught.value).startswith(f"{name} must be ") and repr(value) in str(caught.value)


@pytest.fixture
def serve_env(env, monkeypatch):
    """Settings that pass every check of `courtyard serve` (test_server's ``env``), with the
    server itself never started."""

    def refuse(**kwargs):
        raise AssertionError(f"the checks passed and the server would have started: {kwargs}")

    monkeypatch.setattr("web.server._run_gunicorn", refuse)
    return env


def serve_errors() -> tuple[int, list[str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def test_serve_names_each_wrong_setting_on_one_error_line(serve_env, monkeypatch):
    monkeypatch.setenv("COURTYARD_DB_POOL_SIZE", "lots")
    monkeypatch.setenv("COURTYARD_VOTING_GROUP_COMMIT", "sometimes")
    code, lines = serve_errors()
    assert code == 2
    assert lines == [
        "error: COURTYARD_DB_POOL_SIZE must be a whole number of connections, 1 or more, not 'lots'",
        "error: COURTYARD_VOTING_GROUP_COMMIT must be 1 or 0 (also true/false, yes/no, on/off), not 'sometimes'",
    ]


def test_serve_accepts_good_values(serve_env, monkeypatch):
    for name, value in [("COURTYARD_DB_POOL_SIZE", "20"), ("COURTYARD_DB_MAX_OVERFLOW", "0"),
                        ("COURTYARD_DB_POOL_TIMEOUT", "2.5"), ("COURTYARD_DB_CONNECT_TIMEOUT", "3"),
                        ("COURTYARD_VOTING_BATCH_MAX", "200"), ("COURTYARD_VOTING_GROUP_COMMIT", "off"),
                        ("COURTYARD_VOTING_MOTION_CACHE_SECONDS", "0")]:
        monkeypatch.setenv(name, value)
    with pytest.raises(AssertionError, match="the server would have started"):
        CliRunner().invoke(main, ["serve", "--port", "0"], catch_exceptions=False)


# ------------------------------------------------------------------ the voting plugin


def test_the_voting_settings_reach_the_plugin(tmp_path, monkeypatch):
    from plugins.voting.live import broadcaster, motion_cache, vote_writer

    monkeypatch.setenv("COURTYARD_VOTING_BATCH_MAX", "50")
    monkeypatch.setenv("COURTYARD_VOTING_ACK_TIMEOUT", "8")
    monkeypatch.setenv("COURTYARD_VOTING_WRITER_IDLE", "90")
    monkeypatch.setenv("COURTYARD_VOTING_TALLY_HZ", "4")
    monkeypatch.setenv("COURTYARD_VOTING_MOTION_CACHE_SECONDS", "0.5")
    app = make_app(tmp_path)
    writer = vote_writer(app)
    assert (writer.max_batch, writer.timeout, writer.idle) == (50, 8.0, 90.0)
    assert broadcaster(app).coalescer.interval == 0.25
    assert motion_cache(app).ttl == 0.5


@pytest.mark.parametrize(("value", "group_commit"), [("0", False), ("off", False), ("false", False),
                                                      ("1", True), ("yes", True), ("", True)])
def test_group_commit_is_switched_off_by_the_environment(value, group_commit, tmp_path, monkeypatch):
    from plugins.voting.live import vote_writer

    monkeypatch.setenv("COURTYARD_VOTING_GROUP_COMMIT", value)
    assert (vote_writer(make_app(tmp_path)) is not None) is group_commit


def test_unset_voting_settings_keep_the_plugins_defaults(tmp_path):
    from plugins.voting.live import broadcaster, motion_cache, vote_writer

    app = make_app(tmp_path)
    writer = vote_writer(app)
    assert (writer.max_batch, writer.timeout, writer.idle) == (500, 20.0, 30.0)
    assert broadcaster(app).coalescer.interval == 0.1 and motion_cache(app).ttl == 2.0


# ------------------------------------------------------------------ /readyz against a host that never answers


@pytest.fixture
def blackhole():
    """A loopback port whose listen queue is full: a new connection's SYN is dropped and
    never answered, as by a firewall or an unreachable PostgreSQL host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)  # fills the queue (never accepted)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        with pytest.raises(OSError):  # the queue is full: nothing answers
            probe.connect(("127.0.0.1", port))
    finally:
        probe.close()
    yield port
    filler.close()
    listener.close()  # a client still waiting is refused now


def readyz_within(app, seconds: float):
    """GET /readyz on a thread; the response and how long it took, or fail after ``seconds``."""
    answer: dict = {}

    def ask() -> None:
        started = time.monotonic()
        answer["response"] = app.test_client().get("/readyz")
        answer["took"] = time.monotonic() - started

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"/readyz did not answer within {seconds} s"
    return answer["response"], answer["took"]


@pytest.mark.slow
def test_readyz_answers_503_within_the_connect_timeout_of_a_silent_host(blackhole, tmp_path, monkeypatch):
    monkeypatch.setenv("COURTYARD_DB_CONNECT_TIMEOUT", "2")
    app = make_app(tmp_path, CREATE_TABLES=False,
                   DATABASE_URL=f"postgresql+psycopg://me:hunter2@127.0.0.1:{blackhole}/courtyard")
    try:
        response, took = readyz_within(app, 10)
        assert response.status_code == 503
        assert response.get_json()["checks"]["database"] == {"ok": False, "error": "ConnectionTimeout"}
        assert 1.5 < took < 10
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        app.extensions["courtyard"].engine.dispose()


@pytest.mark.slow
def test_readyz_is_bounded_by_default(blackhole, tmp_path):
    app = make_app(tmp_path, CREATE_TABLES=False,
                   DATABASE_URL=f"postgresql+psycopg://me@127.0.0.1:{blackhole}/courtyard")
    try:
        response, took = readyz_within(app, 15)  # 5 s by default; the driver's own is 130 s
        assert response.status_code == 503 and took < 15
    finally:
        app.extensions["courtyard"].engine.dispose()


# ------------------------------------------------------------------ the guides


def test_every_setting_is_documented():
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    table = guide[guide.index("## Settings"):]
    table = table[:table.index("\n## ")]
    assert [name for name in ALL if f"`{name}`" not in table] == []
    voting = (ROOT / "docs" / "voting.md").read_text(encoding="utf-8")
    assert [name for name in ALL if name.startswith("COURTYARD_VOTING_") and f"`{name}`" not in voting] == []


@pytest.mark.parametrize(("value", "seconds"), [("2", 2.0), ("0", 0.0), ("", 0.5)])
def test_the_presence_interval_comes_from_the_environment(value, seconds, tmp_path, monkeypatch):
    from plugins.discussion.state import upkeep_for

    monkeypatch.setenv("COURTYARD_LIVE_PRESENCE_INTERVAL", value)
    upkeep = upkeep_for(make_app(tmp_path), {})
    assert upkeep.presence.interval.total_seconds() == seconds


# ------------------------------------------------------------------ the garbage collector

SETTLED = """
import gc, json, sys
import gevent
from web.config import load_config
from web.server import settle_worker
before = gc.get_threshold()
settle_worker(load_config({"SECRET_KEY": "x", "ASYNC_MODE": sys.argv[1]}))
print(json.dumps({"frozen": gc.get_freeze_count(), "before": before, "after": gc.get_threshold(),
                  "tree": gevent.config.track_greenlet_tree}))
"""


def settled(mode: str, threshold: str | None = None) -> dict:
    """What a server process's collector looks like once its application is loaded (in a
    process of its own: freezing is for the life of a process)."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COURTYARD_GC_THRESHOLD"}
    if threshold is not None:
        env["COURTYARD_GC_THRESHOLD"] = threshold
    out = subprocess.run([sys.executable, "-c", SETTLED, mode], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["gevent", "threading"])
def test_a_server_process_keeps_what_it_loaded_out_of_every_collection(mode):
    """Full collections walked the whole application (130-190 ms pauses for every phone of
    the process at 1,000 phones, docs/operations.md): after start-up it is frozen, and the
    youngest generation is collected every 20,000 new objects instead of every 700."""
    from web.server import _worker_ready, gunicorn_options

    found = settled(mode)
    assert found["frozen"] > 50_000  # the modules, the application and its plugins
    assert found["after"] == [20000, *found["before"][1:]]
    assert found["tree"] is (mode != "gevent")  # gevent's spawn-stack recording off under gevent
    # and served processes get it as soon as gunicorn has loaded the application
    options = gunicorn_options(host="127.0.0.1", port=5000, workers=1, threads=8, async_mode=mode)
    assert options["post_worker_init"] is _worker_ready


def test_the_collector_threshold_comes_from_the_environment():
    assert settled("gevent", "50000")["after"][0] == 50000
    plain = settled("gevent", "0")
    assert plain["after"] == plain["before"]  # 0: Python's own thresholds
