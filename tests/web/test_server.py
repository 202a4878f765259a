"""`courtyard serve` refuses bad settings before anything starts (one line per problem,
exit status 2, no traceback); `/readyz` tells a load balancer whether the database and
Redis answer; `courtyard db backup` copies a database that is being written to."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from tests.conftest import ROOT, make_app
from web.cli import main

STRONG_KEY = "k" * 48
CLOSED_PORT = 1  # nothing listens on port 1 of the loopback


def free_port(count: int = 4) -> int:
    """A port P with P..P+count-1 free (for --processes up to ``count``)."""
    import socket

    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + count <= 65536 and all(_free(p) for p in range(port, port + count)):
            return port
    raise RuntimeError("no free ports")


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(autouse=True)
def never_serve(monkeypatch):
    """A test whose settings all pass must not start gunicorn inside pytest."""
    def refuse(**kwargs):
        raise AssertionError(f"the checks passed and the server would have started: {kwargs}")

    monkeypatch.setattr("web.server._run_gunicorn", refuse)
    monkeypatch.setattr("web.server.supervise", refuse)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A migrated SQLite database and settings that pass every check (the server is never
    started: each test breaks at least one setting)."""
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("COURTYARD_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("COURTYARD_SECRET_KEY", "short-test-key")
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "0")
    for name in ("COURTYARD_MESSAGE_QUEUE", "COURTYARD_ASYNC_MODE", "COURTYARD_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return tmp_path


def serve(*args: str) -> tuple[int, list[str]]:
    """Run `courtyard serve` in-process; the exit status and the error lines."""
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port()), *args])
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), lines
    return result.exit_code, [line[len("error: "):] for line in lines]


def one_problem(*args: str) -> str:
    code, lines = serve(*args)
    assert code == 2 and len(lines) == 1, lines
    return lines[0]


# ------------------------------------------------------------------ the database


def test_a_malformed_database_url(env, monkeypatch):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", "postgresql+psycopg//me:hunter2@db/courtyard")
    line = one_problem()
    assert line.startswith("COURTYARD_DATABASE_URL is not a database URL") and "hunter2" not in line
    monkeypatch.setenv("COURTYARD_DATABASE_URL", "postgres://me@db/courtyard")
    assert "write postgresql+psycopg://" in one_problem()
    monkeypatch.setenv("COURTYARD_DATABASE_URL", "mysql+pymysql://me@db/courtyard")
    assert "names a mysql database; Courtyard runs on SQLite and PostgreSQL" in one_problem()


def test_an_unreachable_database_names_it_without_its_password(env, monkeypatch):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"postgresql+psycopg://me:hunter2@127.0.0.1:{CLOSED_PORT}/courtyard")
    line = one_problem()
    assert line.startswith(f"cannot reach the database at postgresql+psycopg://me:***@127.0.0.1:{CLOSED_PORT}/")
    assert "Connection refused" in line and "hunter2" not in line


def test_a_database_not_migrated_says_run_db_upgrade(env, monkeypatch):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{env / 'never-made.db'}")
    assert one_problem() == f"the SQLite database {env / 'never-made.db'} does not exist: run `courtyard db upgrade`"
    assert not (env / "never-made.db").exists()  # the check did not create an empty file
    old = env / "old.db"
    monkeypatch.setenv("COURTYARD_DATABASE_URL", f"sqlite:///{old}")
    assert CliRunner().invoke(main, ["db", "upgrade", "--revision", "0003", "--core-only"]).exit_code == 0
    line = one_problem()
    assert line.startswith("the database's Courtyard schema is at 0003, this code needs ")
    assert line.endswith("run `courtyard db upgrade`")



def test_a_plugin_chain_not_migrated_says_run_db_upgrade(env, monkeypatch):
    pytest.importorskip("courtyard_volunteer_points", reason="the example plugin is not installed (make setup)")
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "1")
    assert one_problem() == "the database has no plugin volunteer_points schema yet: run `courtyard db upgrade`"
    result = CliRunner().invoke(main, ["db", "upgrade"])  # with installed plugins allowed: theirs too
    assert result.exit_code == 0, result.output
    assert settings_and_services() == []
    with sqlite3.connect(env / "serve.db") as conn:
        conn.execute("DELETE FROM alembic_version_plugin_volunteer_points")
    assert one_problem() == "the database has no plugin volunteer_points schema yet: run `courtyard db upgrade`"
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "0")  # a plugin not loaded is not required
    assert settings_and_services() == []
    monkeypatch.setenv("COURTYARD_PLUGIN_ENTRYPOINTS", "1")
    with sqlite3.connect(env / "serve.db") as conn:
        conn.execute("INSERT INTO alembic_version_plugin_volunteer_points VALUES ('f00d')")
    line = one_problem()
    assert line.startswith("the database's plugin volunteer_points schema is at f00d, which this code does not know")


def settings_and_services() -> list[str]:
    from web.config import load_config
    from web.server import service_problems

    return service_problems(load_config(check=False))


@pytest.mark.postgres
def test_an_empty_postgres_database_says_run_db_upgrade(env, monkeypatch, fresh_postgres):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", fresh_postgres)
    assert one_problem() == "the database has no Courtyard schema yet: run `courtyard db upgrade`"


def test_sqlite_is_for_one_process(env, monkeypatch, redis_url):
    monkeypatch.setenv("COURTYARD_MESSAGE_QUEUE", redis_url)
    monkeypatch.setenv("COURTYARD_SECRET_KEY", STRONG_KEY)
    line = one_problem("--processes", "3")
    assert line.startswith("SQLite is for one process; --processes 3 needs PostgreSQL")


# ------------------------------------------------------------------ Redis and processes


def test_redis_unreachable_or_not_redis(env, monkeypatch):
    monkeypatch.setenv("COURTYARD_MESSAGE_QUEUE", f"redis://:s3cret@127.0.0.1:{CLOSED_PORT}/0")
    line = one_problem()
    assert line.startswith(f"cannot reach Redis at redis://:***@127.0.0.1:{CLOSED_PORT}/0 (ConnectionError")
    assert "s3cret" not in line
    monkeypatch.setenv("COURTYARD_MESSAGE_QUEUE", "amqp://guest@127.0.0.1:5672//")
    assert one_problem() == "COURTYARD_MESSAGE_QUEUE must be a redis://HOST:PORT/DB URL, not amqp:..."


@pytest.mark.postgres
def test_several_processes_need_a_message_queue(env, monkeypatch, postgres_url):
    monkeypatch.setenv("COURTYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("COURTYARD_SECRET_KEY", STRONG_KEY)
    code, lines = serve("--processes", "2")
    assert code == 2
    assert any(line.startswith("--processes 2 needs COURTYARD_MESSAGE_QUEUE=redis://") for line in lines), lines


def test_workers_on_one_port_are_refused_with_the_way_out(env):
    line = one_problem("--workers", "4")
    assert "long-polling" in line and "use --processes 4" in line


def test_an_unknown_async_mode(env, monkeypatch):
    monkeypatch.setenv("COURTYARD_ASYNC_MODE", "eventlet")
    assert one_problem() == "COURTYARD_ASYNC_MODE must be one of threading, gevent, not 'eventlet'"


def test_a_busy_port(env):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 2 and f"port {port} on 127.0.0.1 is already in use" in result.output


# ------------------------------------------------------------------ the secret key and the instance path


def test_a_server_others_reach_needs_a_strong_shared_secret_key(env, monkeypatch):
    # loopback, one process: the demo's short or generated key is fine (checked up to the port)
    monkeypatch.delenv("COURTYARD_SECRET_KEY")
    assert settings_lines(host="127.0.0.1") == []
    line = one_problem("--host", "0.0.0.0")
    assert line.startswith("COURTYARD_SECRET_KEY is not set; a server others reach needs one key")
    assert "secrets.token_urlsafe" in line
    monkeypatch.setenv("COURTYARD_SECRET_KEY", "dev")
    assert one_problem("--host", "0.0.0.0") .startswith("COURTYARD_SECRET_KEY is 3 characters; use at least 32")
    # behind nginx on loopback, the public address says it is production
    monkeypatch.setenv("COURTYARD_PUBLIC_URL", "https://yishi.example.org")
    assert one_problem().startswith("COURTYARD_SECRET_KEY is 3 characters")
    monkeypatch.setenv("COURTYARD_SECRET_KEY", STRONG_KEY)
    assert settings_lines(host="0.0.0.0") == []


def settings_lines(host: str) -> list[str]:
    from web.config import load_config
    from web.server import settings_problems

    return settings_problems(load_config(check=False), host=host, port=free_port(), processes=1)


def test_an_unwritable_instance_path(env, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("COURTYARD_INSTANCE_PATH", str(blocker / "instance"))
    monkeypatch.delenv("COURTYARD_SECRET_KEY")  # the generated key would be kept there
    assert one_problem() == (f"COURTYARD_INSTANCE_PATH {blocker / 'instance'} is not writable (Not a directory); "
                             "make it writable by this user or point COURTYARD_INSTANCE_PATH elsewhere")


def test_every_problem_is_listed_at_once_without_a_traceback(tmp_path):
    """Through the real command: four problems, four lines, status 2, nothing else."""
    env = {**os.environ, "COURTYARD_DATABASE_URL": "sqlite://:nope", "COURTYARD_ASYNC_MODE": "asyncio",
           "COURTYARD_MESSAGE_QUEUE": f"redis://127.0.0.1:{CLOSED_PORT}/0", "COURTYARD_INSTANCE_PATH": str(tmp_path),
           "COURTYARD_PLUGIN_ENTRYPOINTS": "0"}
    env.pop("COURTYARD_SECRET_KEY", None)
    out = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--host", "0.0.0.0", "--port",
                          str(free_port()), "--processes", "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert "Traceback" not in out.stderr
    assert [line.split(" ")[1] for line in lines] == [
        "COURTYARD_DATABASE_URL", "COURTYARD_ASYNC_MODE", "COURTYARD_SECRET_KEY", "cannot"], lines
    assert lines[-1].startswith("error: cannot reach Redis")


# ------------------------------------------------------------------ /readyz


def test_readyz_reports_the_database(tmp_path):
    app = make_app(tmp_path)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready" and body["checks"]["database"]["ok"] is True
    assert "message_queue" not in body["checks"]
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_when_the_database_is_down_while_healthz_stays_up(tmp_path):
    app = make_app(tmp_path, CREATE_TABLES=False,
                   DATABASE_URL=f"postgresql+psycopg://me:hunter2@127.0.0.1:{CLOSED_PORT}/courtyard")
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable",
                                   "checks": {"database": {"ok": False, "error": "OperationalError"}}}
    assert "hunter2" not in response.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # alive: no reason to restart the process


@pytest.mark.redis
def test_readyz_reports_redis(tmp_path, redis_url):
    up = make_app(tmp_path, MESSAGE_QUEUE=redis_url).test_client().get("/readyz")
    assert up.status_code == 200 and up.get_json()["checks"]["message_queue"]["ok"] is True
    down = make_app(tmp_path, MESSAGE_QUEUE=f"redis://127.0.0.1:{CLOSED_PORT}/0").test_client().get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["checks"] == {"database": down.get_json()["checks"]["database"],
                                         "message_queue": {"ok": False, "error": "ConnectionError"}}
    assert down.get_json()["checks"]["database"]["ok"] is True


# ------------------------------------------------------------------ courtyard db backup

WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
i = 0
while True:
    i += 1
    conn.execute("BEGIN")
    conn.execute("INSERT INTO probe (id, body) VALUES (?, ?)", (i, "议事" * 200))
    conn.execute("COMMIT")
    print(i, flush=True)  # committed
"""


def test_a_sqlite_backup_taken_while_writes_go_on(env, tmp_path):
    database = env / "serve.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(database)], stdout=subprocess.PIPE, text=True)
    try:
        committed = 0
        while committed < 300:  # the writer is well under way
            committed = int(writer.stdout.readline())
        result = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "copy.db")])
        after = int(writer.stdout.readline())  # still writing after the backup
    finally:
        writer.kill()
        writer.wait(10)
        writer.stdout.close()
    assert result.exit_code == 0, result.output
    assert "integrity_check ok" in result.output
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = [row[0] for row in copy.execute("SELECT id FROM probe ORDER BY id")]
        communities = copy.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
    finally:
        copy.close()
    assert ids[:committed] == list(range(1, committed + 1))  # every row committed before, none torn
    assert ids == list(range(1, len(ids) + 1))
    assert after > committed and communities == 1
    assert not (tmp_path / ".copy.db.partial").exists() and not (tmp_path / "copy.db-wal").exists()
    again = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "copy.db")])
    assert again.exit_code == 1 and "exists; choose another name or pass --force" in again.output


@pytest.mark.postgres
def test_a_postgres_backup_runs_pg_dump_and_restores(env, monkeypatch, fresh_postgres, tmp_path):
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed (apt-get install postgresql-client)")
    monkeypatch.setenv("COURTYARD_DATABASE_URL", fresh_postgres)
    runner = CliRunner()
    # --core-only: the settings load no installed plugin (COURTYARD_PLUGIN_ENTRYPOINTS=0)
    assert runner.invoke(main, ["db", "upgrade", "--core-only"]).exit_code == 0
    assert runner.invoke(main, ["demo", "--json"]).exit_code == 0
    result = runner.invoke(main, ["db", "backup", str(tmp_path / "courtyard.dump")])
    assert result.exit_code == 0, result.output
    assert "pg_dump custom format" in result.output
    # restore into a database of its own, as after losing the server, and find the demo there
    schema = fresh_postgres.rsplit("%3D", 1)[1]
    restored = f"restore_{schema}"
    base = fresh_postgres.split("?")[0]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{restored}"'))
        target = base.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{restored}"
        out = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", target,
                              str(tmp_path / "courtyard.dump")], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        engine = create_engine(target.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            slugs = conn.execute(text(f'SELECT slug FROM "{schema}".communities ORDER BY slug')).scalars().all()
            tables = conn.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                                  {"s": schema}).scalar()
        engine.dispose()
        assert slugs == ["renfu", "tuxin"] and tables > 10
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'))
        admin.dispose()


def test_backup_refuses_a_missing_directory(env, tmp_path):
    result = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "nowhere" / "copy.db")])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert not Path(tmp_path / "nowhere").exists()


def test_a_threaded_server_admits_as_many_connections_as_it_has_threads():
    """gunicorn's gthread worker refuses connections beyond ``worker_connections`` (1,000 by
    default) however many threads it has: 2,000 residents need both raised."""
    from web.server import gunicorn_options

    options = gunicorn_options(host="127.0.0.1", port=5000, workers=1, threads=2050, async_mode="threading")
    assert options["threads"] == 2050 and options["worker_connections"] >= 2050
