"""Database plumbing: the declarative base, engines, sessions and the clock.

SQLite is the embedded default (WAL mode, foreign keys on); PostgreSQL is the
scale-out. Services ``flush()``; whoever opened the unit of work commits it.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator, TypeVar

from sqlalchemy import DateTime, MetaData, create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.util import identity_key
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Courtyard stores aware UTC timestamps")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, pool_size: int | None = None, max_overflow: int | None = None,
                pool_timeout: float | None = None, connect_timeout: int | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    ``pool_size``, ``max_overflow`` and ``pool_timeout`` (``None``: SQLAlchemy's 5, 10 and
    30 s) size the connection pool where SQLAlchemy keeps one (``QueuePool``: PostgreSQL,
    a SQLite file); they are left out where it does not (an in-memory SQLite database, a
    ``poolclass`` such as ``NullPool``). ``connect_timeout`` (seconds, libpq's minimum
    being 2) bounds how long opening a PostgreSQL connection may wait for the server; SQLite
    ignores it (its busy timeout is 30 s).
    """
    parsed = make_url(url)
    pool_class = kwargs.get("poolclass") or parsed.get_dialect().get_pool_class(parsed)
    if issubclass(pool_class, QueuePool):
        for name, value in (("pool_size", pool_size), ("max_overflow", max_overflow),
                            ("pool_timeout", pool_timeout)):
            if value is not None:
                kwargs.setdefault(name, value)
    if parsed.get_backend_name() == "sqlite":
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 30)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if connect_timeout is not None and parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": connect_timeout, **kwargs.get("connect_args", {})}
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


T = TypeVar("T")


def lock_row(db: Session, entity: type[T], ident: Any) -> T | None:
    """Lock one row for the rest of the transaction and return it freshly read (None if
    there is no such row).

    A decision that depends on what is stored ("is the floor free?", "how many seats are
    taken?") must be read after this, or two writers both read the old state and both act
    on it. PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` (other lockers of the row wait for
    our commit). SQLite has no row locks: the database's write lock is taken instead
    (``BEGIN IMMEDIATE``, or a write that takes it when a transaction is already open), so
    every writer waits; reads made after it see the latest commit."""
    db.flush()
    held = db.identity_map.get(identity_key(entity, ident))
    if held is not None:  # read again below, whatever version this transaction saw before
        db.expire(held)
    table = inspect(entity).local_table
    conn = db.connection()
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:  # a write that changes nothing still takes the write lock
            conn.exec_driver_sql(f'DELETE FROM "{table.name}" WHERE 0')
        return db.get(entity, ident, populate_existing=True)
    # FOR NO KEY UPDATE (the lock an UPDATE of the row takes): lockers wait for each other,
    # but inserting a row that refers to it (a foreign key check) does not wait; OF the
    # entity's table: rows joined in by eager loading are read, not locked
    return db.get(entity, ident, with_for_update={"of": table, "key_share": True}, populate_existing=True)



def make_sessionmaker(engine: Engine, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``info`` is given to every session (``session.info``: e.g.
    the ballot seal of secret votes, ``core.services.ballot_seal``)."""
    return sessionmaker(bind=engine, expire_on_commit=False, info=dict(info or {}))


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    db = factory()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
