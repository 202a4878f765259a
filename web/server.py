"""A production server for Courtyard: gunicorn, with the worker that matches the async mode.

* threading (the default): gunicorn's ``gthread`` worker; each live connection holds a thread.
* gevent: gunicorn's ``gevent`` worker, for thousands of live connections per process.

One process serves one port. ``courtyard serve --processes N --port P`` starts N of them on
ports P..P+N-1 and supervises them (one that dies is logged and restarted; SIGTERM or
Ctrl-C stops them all; SIGHUP restarts them one at a time). They share Socket.IO rooms
through Redis (``COURTYARD_MESSAGE_QUEUE``) and sit behind nginx hashing the client address, so the
HTTP long-polling requests of one client always reach the same process. Several gunicorn
workers on one port cannot give that guarantee, hence one worker per process.

Settings are checked before anything starts: every problem is listed, one line each,
and the command exits with status 2 (``docs/operations.md``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from web.config import GC_THRESHOLD, ConfigError, instance_path, load_config, problems

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MIN_SECRET_KEY = 32
KEY_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


# --------------------------------------------------------------------------- checks


def is_production(*, host: str, processes: int, public_url: str) -> bool:
    """Reachable by others: bound beyond loopback, several processes, or a public address."""
    from urllib.parse import urlsplit

    public_host = urlsplit(public_url).hostname if public_url else None
    return host not in LOOPBACK or processes > 1 or bool(public_host and public_host not in LOOPBACK)


def _writable_dir(path: Path, *, create: bool) -> str | None:
    """``None`` when files can be created in ``path`` (made if missing and ``create``), else why not."""
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _inside(path: Path, directory: Path) -> bool:
    return directory.resolve() in path.resolve().parents


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def settings_problems(config: dict[str, Any], *, host: str, port: int, processes: int) -> list[str]:
    """What is wrong with the settings themselves, without touching a service."""
    found = problems(config)
    env = os.environ
    sqlite = None
    if not any(p.startswith("COURTYARD_DATABASE_URL") for p in found):
        sqlite = _sqlite_path(config["DATABASE_URL"])
        if processes > 1 and str(config["DATABASE_URL"]).startswith("sqlite"):
            found.append(f"SQLite is for one process; --processes {processes} needs PostgreSQL "
                         "(COURTYARD_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST/DB)")
    if processes < 1:
        found.append("--processes must be 1 or more")
    if processes > 1 and not config.get("MESSAGE_QUEUE"):
        found.append(f"--processes {processes} needs COURTYARD_MESSAGE_QUEUE=redis://HOST:6379/0 so the "
                     "processes share live rooms")
    if is_production(host=host, processes=processes, public_url=config.get("PUBLIC_URL") or ""):
        key = env.get("COURTYARD_SECRET_KEY") or ""
        if not key:
            found.append("COURTYARD_SECRET_KEY is not set; a server others reach needs one key shared by every "
                         f"process and kept across deploys ({KEY_HINT})")
        elif len(key) < MIN_SECRET_KEY:
            found.append(f"COURTYARD_SECRET_KEY is {len(key)} characters; use at least {MIN_SECRET_KEY} random "
                         f"ones ({KEY_HINT})")
    instance = instance_path()
    instance_why = None
    if not env.get("COURTYARD_SECRET_KEY") or (sqlite is not None and _inside(sqlite, instance)):
        instance_why = _writable_dir(instance, create=True)
        if instance_why:
            found.append(f"COURTYARD_INSTANCE_PATH {instance} is not writable ({instance_why}); make it writable "
                         "by this user or point COURTYARD_INSTANCE_PATH elsewhere")
    if sqlite is not None and sqlite.parent.exists() and not (instance_why and _inside(sqlite, instance)):
        why = _writable_dir(sqlite.parent, create=False)
        if why:
            found.append(f"the SQLite database's directory {sqlite.parent} is not writable ({why}); SQLite "
                         "writes its journal beside the file")
    if processes >= 1:
        busy = [p for p in range(port, port + processes) if not _port_free(host, p)]
        if busy:
            found.append(f"port {', '.join(map(str, busy))} on {host} is already in use (another Courtyard "
                         "still running?)")
    return found


def service_problems(config: dict[str, Any], *, database: bool = True, queue: bool = True) -> list[str]:
    """Can the database and Redis be reached, and is the database migrated?"""
    from web.health import first_line, ping_redis, redact_redis

    found = _database_problems(config) if database else []
    url = config.get("MESSAGE_QUEUE")
    if queue and url:
        try:
            ping_redis(url)
        except Exception as exc:
            found.append(f"cannot reach Redis at {redact_redis(url)} ({first_line(exc)}); check "
                         "COURTYARD_MESSAGE_QUEUE and that Redis is running")
    return found


def _database_problems(config: dict[str, Any]) -> list[str]:
    from core.db import make_engine
    from core.plugins import make_plugin_manager
    from web.health import first_line, migration_problems, ping_database, redact_database

    url = config["DATABASE_URL"]
    where = redact_database(url)
    sqlite = _sqlite_path(url)
    if sqlite is not None and not sqlite.exists():
        return [f"the SQLite database {sqlite} does not exist: run `courtyard db upgrade`"]
    engine = None
    try:
        engine = make_engine(url, connect_timeout=config.get("DB_CONNECT_TIMEOUT"))
        ping_database(engine)
    except Exception as exc:
        return [f"cannot reach the database at {where} ({first_line(exc)}); check COURTYARD_DATABASE_URL "
                "and that the database server is running"]
    try:
        pm = make_plugin_manager(entrypoints=config["PLUGIN_ENTRYPOINTS"], blocked=config["BLOCKED_PLUGINS"])
        return migration_problems(engine, url, pm)
    except Exception as exc:
        return [f"cannot read the schema version of {where} ({first_line(exc)})"]
    finally:
        engine.dispose()


def check_services(config: dict[str, Any]) -> None:
    """Fail fast on an unreachable or unmigrated database or an unreachable Redis."""
    found = service_problems(config)
    if found:
        raise ConfigError("\n".join(found))


def preflight(*, host: str, port: int, processes: int) -> dict[str, Any]:
    """The settings, checked: raises ``ConfigError`` with one line per problem."""
    config = load_config(check=False)
    found = settings_problems(config, host=host, port=port, processes=processes)
    found += service_problems(config,
                              database=not any(p.startswith(("COURTYARD_DATABASE_URL", "COURTYARD_DB_CONNECT_TIMEOUT",
                                                             "SQLite is for")) or
                                               (p.startswith("COURTYARD_INSTANCE_PATH") and
                                                str(config["DATABASE_URL"]).startswith("sqlite"))
                                               for p in found),
                              queue=not any(p.startswith("COURTYARD_MESSAGE_QUEUE") for p in found))
    if found:
        raise ConfigError("\n".join(found))
    return config


# --------------------------------------------------------------------------- one process


def gunicorn_options(*, host: str, port: int, workers: int, threads: int, async_mode: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        # gunicorn's control socket sits at one path per user: several masters would fight over it
        "control_socket_disable": True,
    }
    options["post_worker_init"] = _worker_ready
    if async_mode == "gevent":
        options["worker_class"] = "gevent"
        options["worker_connections"] = 10000
    else:
        options["worker_class"] = "gthread"
        options["threads"] = threads
        # each open websocket holds a thread and a connection: gunicorn's default of 1,000
        # connections would refuse the 1,001st resident however many threads there are
        options["worker_connections"] = max(1000, threads + 100)
    return options


def settle_worker(config: Any) -> None:
    """Once the application is loaded in a server process, before it serves anyone: the
    garbage collector's pauses kept short (``docs/operations.md``, *Garbage collection*).

    * Everything alive now — modules, the application, its plugins, ~170,000 objects — is
      moved out of the collector's sight (``gc.freeze``): it lives as long as the process,
      yet every full collection walked all of it, 130–190 ms in which no phone of the
      process got anything (every 2–5 s with 1,000 phones voting).
    * The youngest generation is collected every ``COURTYARD_GC_THRESHOLD`` new objects
      (20,000; Python's own 700 when 0) instead of every 700: at 10,000 messages a second
      the short-lived objects of a message in flight outlived two 700-object collections,
      were promoted to the oldest generation and kept triggering full collections.
    * Under gevent, greenlets do not record the stack that spawned them (a debugging aid:
      34,000 saved frames at 1,000 phones, and a cost on every event handled)."""
    import gc

    if config.get("ASYNC_MODE") == "gevent":
        import gevent

        gevent.config.track_greenlet_tree = False
    young = config.get("GC_THRESHOLD", GC_THRESHOLD)
    if young:
        gc.set_threshold(young, *gc.get_threshold()[1:])
    gc.collect()
    gc.freeze()


def _worker_ready(worker: Any) -> None:  # gunicorn's post_worker_init: the application is loaded
    settle_worker(worker.wsgi.config)


def run_server(*, host: str, port: int, workers: int = 1, threads: int = 200, processes: int = 1) -> int:
    """Check the settings, then serve: one gunicorn process, or ``processes`` supervised ones."""
    if workers != 1:
        raise ConfigError(f"--workers {workers}: several workers on one port would send a client's long-polling "
                          f"requests to different processes; use --processes {workers} (ports {port}.."
                          f"{port + workers - 1}, behind nginx; see docs/operations.md)")
    config = preflight(host=host, port=port, processes=processes)
    if processes > 1:
        return supervise(host=host, port=port, processes=processes, threads=threads, config=config)
    _run_gunicorn(host=host, port=port, threads=threads, async_mode=config["ASYNC_MODE"])
    return 0


def _run_gunicorn(*, host: str, port: int, threads: int, async_mode: str) -> None:
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(host=host, port=port, workers=1, threads=threads, async_mode=async_mode)

    class CourtyardServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # an older gunicorn lacks some
                    self.cfg.set(key, value)

        def load(self):
            from web import create_app

            return create_app()

    print(f"Courtyard serving on http://{host}:{port} ({async_mode}, pid {os.getpid()})", flush=True)
    CourtyardServer().run()


# --------------------------------------------------------------------------- several processes


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if the supervisor itself is killed (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Child:
    """One ``courtyard serve --port P`` process (a gunicorn master and its worker, in a
    process group of their own)."""

    def __init__(self, index: int, port: int, command: list[str]):
        self.index, self.port, self.command = index, port, command
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.restart_at: float | None = None
        self.delay = 0.5  # doubled on each death within 10 s of a start: 1 s, 2 s, 4 s ... 30 s

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, start_new_session=True,
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self.started = time.monotonic()
        self.restart_at = None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    """Keeps ``children`` running: a child that exits is logged and restarted (after 1 s,
    doubling up to 30 s while it keeps dying within 10 s of its start; a child that never
    comes up, e.g. while the database is down, is retried every 30 s); SIGTERM/SIGINT stop
    every child (SIGTERM, then SIGKILL after ``grace`` seconds); SIGHUP restarts them one
    at a time, each waiting until the previous one accepts connections again."""

    def __init__(self, children: list[Child], *, host: str, log: Callable[[str], None] | None = None,
                 grace: float = 20.0):
        self.children, self.host, self.grace = children, host, grace
        self.log = log or (lambda line: print(f"courtyard supervisor: {line}", flush=True))
        self.stopping = False
        self.reload_requested = False

    def _on_stop(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def _on_hup(self, signum: int, frame: Any) -> None:
        self.reload_requested = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        for child in self.children:
            child.start()
            self.log(f"process {child.index} on port {child.port} started (pid {child.proc.pid})")
        try:
            while not self.stopping:
                if self.reload_requested:
                    self.reload_requested = False
                    self._rolling_restart()
                self._tend()
                time.sleep(0.2)
        finally:
            self._stop_all()
        return 0

    def _tend(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at and not self.stopping:
                    child.start()
                    self.log(f"process {child.index} on port {child.port} restarted (pid {child.proc.pid})")
                continue
            if child.proc is not None and not child.alive():
                code = child.proc.returncode
                child.signal_group(signal.SIGKILL)  # a gunicorn worker left behind still holds the port
                child.delay = min(child.delay * 2, 30.0) if now - child.started < 10 else 1.0
                how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
                self.log(f"process {child.index} on port {child.port} (pid {child.proc.pid}) {how}; "
                         f"restarting in {child.delay:.0f} s")
                child.restart_at = now + child.delay

    def _rolling_restart(self) -> None:
        self.log("SIGHUP: restarting the processes one at a time")
        for child in self.children:
            if self.stopping:
                return
            self._stop(child)
            child.start()
            child.delay = 0.5
            self.log(f"process {child.index} on port {child.port} restarted (pid {child.proc.pid})")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.alive() and not self.stopping:
                try:
                    with socket.create_connection((self._connect_host(), child.port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)

    def _connect_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else ("::1" if self.host == "::" else self.host)

    def _stop(self, child: Child) -> None:
        if not child.alive():
            child.signal_group(signal.SIGKILL)
            return
        child.signal_group(signal.SIGTERM)
        try:
            child.proc.wait(self.grace)
        except subprocess.TimeoutExpired:
            child.signal_group(signal.SIGKILL)
            child.proc.wait(5)
        child.signal_group(signal.SIGKILL)

    def _stop_all(self) -> None:
        self.log("stopping every process")
        live = [c for c in self.children if c.alive()]
        for child in live:
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in live:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"process {child.index} on port {child.port} did not stop in {self.grace:.0f} s; killing it")
        for child in self.children:
            child.signal_group(signal.SIGKILL)
            if child.proc is not None:
                try:
                    child.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self.log("stopped")


def supervise(*, host: str, port: int, processes: int, threads: int, config: dict[str, Any]) -> int:
    from web.health import redact_redis

    children = [Child(i + 1, port + i, [sys.executable, "-m", "web.cli", "serve", "--host", host,
                                        "--port", str(port + i), "--threads", str(threads)])
                for i in range(processes)]
    print(f"Courtyard: {processes} processes on http://{host}:{port}..{port + processes - 1} "
          f"({config['ASYNC_MODE']}), sharing live rooms through {redact_redis(config['MESSAGE_QUEUE'])}; "
          f"supervisor pid {os.getpid()}", flush=True)
    return Supervisor(children, host=host).run()
