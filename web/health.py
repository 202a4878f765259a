"""Checks shared by ``courtyard serve`` (refuse to start) and ``/readyz`` (tell the load
balancer): is the database reachable and migrated, is Redis reachable.

Every check returns ``None`` when fine or one line that says what is wrong and how to fix
it; a password in a URL is never part of the line.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.engine import Engine


def redact_redis(url: str) -> str:
    """``redis://:secret@host:6379/0`` → ``redis://:***@host:6379/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def redact_database(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def first_line(exc: BaseException) -> str:
    """The exception's class and the first line of its message (drivers write paragraphs)."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def ping_database(engine: Engine) -> float:
    """``select 1``; returns the milliseconds it took, raises what the driver raised."""
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(text("select 1"))
    return (time.perf_counter() - started) * 1000


_redis_clients: dict[str, Any] = {}


def ping_redis(url: str, timeout: float = 3.0) -> float:
    """PING the Redis at ``url``; returns the milliseconds it took, raises on failure."""
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=timeout,
                                                            socket_timeout=timeout)
    started = time.perf_counter()
    client.ping()
    return (time.perf_counter() - started) * 1000


def migration_problems(engine: Engine, database_url: str, pm: Any) -> list[str]:
    """Lines for Courtyard's chain and each plugin's chain that is not at its head."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from web.cli import alembic_config
    from web.plugin_migrations import migration_dirs, plugin_config, version_table

    chains = [("Courtyard", alembic_config(database_url), "alembic_version")]
    for plugin, path in sorted(migration_dirs(pm).items()):
        chains.append((f"plugin {plugin}", plugin_config(plugin, path, database_url), version_table(plugin)))
    problems = []
    with engine.connect() as conn:
        for name, cfg, table in chains:
            heads = set(ScriptDirectory.from_config(cfg).get_heads())
            current = set(MigrationContext.configure(conn, opts={"version_table": table}).get_current_heads())
            if current == heads:
                continue
            if not current:
                problems.append(f"the database has no {name} schema yet: run `courtyard db upgrade`")
            else:
                script = ScriptDirectory.from_config(cfg)
                known = {rev for rev in current if _known(script, rev)}
                if known != current:
                    problems.append(f"the database's {name} schema is at {', '.join(sorted(current))}, which this "
                                    f"code does not know (newer code ran here?): deploy the matching version")
                else:
                    problems.append(f"the database's {name} schema is at {', '.join(sorted(current))}, this code "
                                    f"needs {', '.join(sorted(heads))}: run `courtyard db upgrade`")
    return problems


def _known(script: Any, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False
