"""Database work off the gevent hub: one native thread per process, with its own connection.

On the gevent hub a database round trip either blocks the whole process — psycopg's C
wait (the start-up checks import psycopg in the gunicorn master, before gevent patches the
worker) and SQLite's busy wait are both in C — so a vote waiting on a lock another process
holds froze every phone on this one; or, made cooperative, it waits until the hub has run
everything else that is ready: with a thousand phones watching, a tally broadcast wakes a
thousand socket writers, and a vote batch of nine statements took 100–500 ms although the
database answered each in a fraction of a millisecond (``docs/benchmarks.md``, *Vote →
tally latency*; cooperative waits also let transactions interleave and queue on row locks
while holding pooled connections). Work that many people wait for — the vote writer's
batches, the tallies it broadcasts — runs instead on a :class:`DatabaseThread`: a native
thread that blocks on its own connection (psycopg's C wait on PostgreSQL, the ``sqlite3``
module on SQLite, both releasing the GIL), so its round trips take what the database
takes and hold up nobody else. The greenlet that hands the work over waits cooperatively.

Only plain database work runs there: no Socket.IO, no gevent objects, no plugin hooks (the
thread's sessions dispatch no domain events; the work given to it queues none). Under
threading, or on an in-memory SQLite database, :meth:`DatabaseThread.run` simply calls the
function with the application's own sessionmaker.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker
from web.db import session_info

log = logging.getLogger("courtyard.db")

T = TypeVar("T")


def _blocking_connection_class() -> Any:
    """A psycopg connection that waits for the server with psycopg's C wait (blocking the
    calling thread only, GIL released) whatever gevent has patched; ``None`` without
    psycopg's C extension."""
    try:
        import psycopg
        from psycopg import waiting
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    wait_c = getattr(waiting, "wait_c", None)
    if wait_c is None:  # pragma: no cover - the binary or C build is installed
        return None

    class BlockingConnection(psycopg.Connection):  # type: ignore[misc, type-arg]
        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            return wait_c(gen, self.pgconn.socket, interval=interval, timeout=timeout)

    return BlockingConnection


class DatabaseThread:
    """Per application (see :func:`database_thread`): ``run(fn, *args)`` calls
    ``fn(*args)`` on the thread and returns its result (or raises its exception);
    ``sessionmaker`` makes sessions for use inside such functions."""

    def __init__(self, app: Any) -> None:
        cy = app.extensions["courtyard"]
        self.sessionmaker: sessionmaker[Session] = cy.sessionmaker
        self.pool: Any = None
        self.engine: Any = None
        socketio = getattr(cy, "socketio", None)
        if getattr(socketio, "async_mode", None) != "gevent" or not app.config.get("DATABASE_THREAD", True):
            return
        url = make_url(app.config["DATABASE_URL"])
        backend = url.get_backend_name()
        if backend == "sqlite" and url.database in (None, "", ":memory:"):
            return  # a second connection would see another, empty database
        connection_class = _blocking_connection_class() if backend == "postgresql" else None
        if backend == "postgresql" and connection_class is None:  # pragma: no cover
            return
        from gevent.threadpool import ThreadPool

        from web.config import engine_options

        options = {**engine_options(app.config), "pool_size": 1, "max_overflow": 1}
        engine = make_engine(app.config["DATABASE_URL"], **options)
        if connection_class is not None:
            @event.listens_for(engine, "do_connect")
            def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
                return connection_class.connect(*cargs, **cparams)

        self.engine = engine
        self.sessionmaker = make_sessionmaker(engine, session_info(app.config))
        self.pool = ThreadPool(1)

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.pool is None:
            return fn(*args)
        return self.pool.apply(fn, args)


_LOCK = threading.Lock()


def database_thread(app: Any) -> DatabaseThread:
    """The application's database thread, made on first use."""
    found = app.extensions.get("courtyard_database_thread")
    if found is None:
        with _LOCK:
            found = app.extensions.get("courtyard_database_thread")
            if found is None:
                found = app.extensions["courtyard_database_thread"] = DatabaseThread(app)
    return found
